//! Autobahn|Testsuite client driver: `autobahn_client [URL]` (default `ws://127.0.0.1:9001`).
//!
//! Asks the fuzzing server for its case count (`/getCaseCount`), runs every case
//! (`/runCase?case=N&agent=wsmachine`) echoing each message, then has the reports written
//! (`/updateReports?agent=wsmachine`). Built on the blocking driver.

use std::net::TcpStream;

use wsmachine::blocking::{Error, Message, WebSocket};
use wsmachine::deflate::DeflateConfig;
use wsmachine::{ClientRequest, Config, OsEntropy, WsUrl};

const AGENT: &str = "wsmachine";

fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/');
    let count = match open(base, "/getCaseCount").and_then(|mut ws| {
        let text = match ws.read()? {
            Message::Text(text) => text,
            other => return Err(format!("unexpected {other:?}").into()),
        };
        drain(&mut ws);
        text.trim().parse::<u32>().map_err(|e| e.to_string().into())
    }) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("autobahn_client: cannot get the case count from {base}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("autobahn_client: {count} cases");
    for case in 1..=count {
        match open(base, &format!("/runCase?case={case}&agent={AGENT}")) {
            Ok(mut ws) => echo(&mut ws),
            Err(e) => eprintln!("case {case}: {e}"),
        }
    }
    match open(base, &format!("/updateReports?agent={AGENT}")) {
        Ok(mut ws) => drain(&mut ws),
        Err(e) => {
            eprintln!("autobahn_client: cannot update reports: {e}");
            std::process::exit(1);
        }
    }
}

type Ws = WebSocket<TcpStream, OsEntropy>;

fn open(base: &str, target: &str) -> Result<Ws, Box<dyn std::error::Error>> {
    let url = WsUrl::parse(base)?;
    let stream = TcpStream::connect((url.host, url.port))?;
    stream.set_nodelay(true)?;
    let request = ClientRequest::new(url.host_header, target);
    let mut config = Config::default();
    // Offered on every case: Autobahn's 12.x and 13.x accept it with the parameters they test.
    config.deflate = Some(DeflateConfig::new());
    Ok(WebSocket::connect(stream, &request, config)?.0)
}

fn echo(ws: &mut Ws) {
    loop {
        let sent = match ws.read() {
            Ok(Message::Text(text)) => ws.send_text(&text),
            Ok(Message::Binary(data)) => ws.send_binary(&data),
            Ok(Message::Close { .. }) | Err(_) => return,
            Ok(_) => Ok(()),
        };
        if let Err(Error::Io(_)) = sent {
            return;
        }
    }
}

/// Reads until the server closes.
fn drain(ws: &mut Ws) {
    while let Ok(message) = ws.read() {
        if matches!(message, Message::Close { .. }) {
            return;
        }
    }
}
