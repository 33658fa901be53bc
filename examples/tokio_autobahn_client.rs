//! Autobahn|Testsuite client driver on tokio: `tokio_autobahn_client [URL]` (default
//! `ws://127.0.0.1:9001`), the twin of `autobahn_client` over the runtime-free driver in
//! `async_ws/mod.rs` through `tokio_util::compat`.
//!
//! Asks the fuzzing server for its case count (`/getCaseCount`), runs every case
//! (`/runCase?case=N&agent=wsmachine-tokio`) echoing each message, then has the reports written
//! (`/updateReports?agent=wsmachine-tokio`). permessage-deflate is offered on every case.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;
#[path = "tokio_io/mod.rs"]
mod tokio_io;

use async_ws::AsyncWebSocket;
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use wsmachine::deflate::DeflateConfig;
use wsmachine::drive::Message;
use wsmachine::{ClientRequest, Config, OsEntropy, WsUrl};

const AGENT: &str = "wsmachine-tokio";

type Ws = AsyncWebSocket<Compat<TcpStream>, OsEntropy>;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/');
    let count = match case_count(base).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("tokio_autobahn_client: cannot get the case count from {base}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("tokio_autobahn_client: {count} cases");
    for case in 1..=count {
        match open(base, &format!("/runCase?case={case}&agent={AGENT}")).await {
            Ok(mut ws) => async_ws::echo(&mut ws, &format!("case {case}")).await,
            Err(e) => eprintln!("case {case}: {e}"),
        }
    }
    match open(base, &format!("/updateReports?agent={AGENT}")).await {
        Ok(mut ws) => drain(&mut ws).await,
        Err(e) => {
            eprintln!("tokio_autobahn_client: cannot update reports: {e}");
            std::process::exit(1);
        }
    }
}

async fn case_count(base: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let mut ws = open(base, "/getCaseCount").await?;
    let text = match ws.read().await? {
        Message::Text(text) => text,
        other => return Err(format!("unexpected {other:?}").into()),
    };
    drain(&mut ws).await;
    Ok(text.trim().parse::<u32>()?)
}

async fn open(base: &str, target: &str) -> Result<Ws, Box<dyn std::error::Error>> {
    let url = WsUrl::parse(base)?;
    let stream = TcpStream::connect((url.host, url.port)).await?;
    stream.set_nodelay(true)?;
    let request = ClientRequest::new(url.host_header, target);
    let mut config = Config::default();
    // Offered on every case: Autobahn's 12.x and 13.x accept it with the parameters they test.
    config.deflate = Some(DeflateConfig::new());
    let (ws, _) =
        AsyncWebSocket::connect_with(stream.compat(), &request, config, OsEntropy::new()).await?;
    Ok(ws)
}

/// Reads until the server closes.
async fn drain(ws: &mut Ws) {
    while let Ok(message) = ws.read().await {
        if matches!(message, Message::Close { .. }) {
            return;
        }
    }
}
