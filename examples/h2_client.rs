//! Several WebSockets over one HTTP/2 connection (RFC 8441 extended CONNECT): the h2 crate
//! does HTTP/2, wsmachine the WebSocket framing on each stream.
//!
//! `cargo run --example h2_client -- https://HOST:PORT/ws --ca FILE [--count N]` makes one
//! TLS connection (ALPN `h2`, trusting only the authority in FILE), waits for the server's
//! SETTINGS_ENABLE_CONNECT_PROTOCOL, then opens N (default 3) WebSockets on it at once with
//! `:method CONNECT` and `:protocol websocket`, offering the subprotocol `chat`. On each it
//! sends a text and a binary message, checks their echoes, and closes with 1000. Prints
//! `h2: N websockets over one connection ok`, or says what failed and exits 1. The whole
//! run is bounded by 30 seconds.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;
#[path = "h2_ws/mod.rs"]
mod h2_ws;
#[path = "tls/mod.rs"]
mod tls;

use std::time::Duration;

use async_ws::AsyncWebSocket;
use bytes::Bytes;
use h2::client::SendRequest;
use h2::ext::Protocol;
use h2_ws::H2Stream;
use http::{Method, Request, StatusCode, Uri};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use wsmachine::drive::Message;
use wsmachine::{CloseCode, Config, Connection, OsEntropy, Role, Version};

const USAGE: &str = "usage: h2_client https://HOST:PORT/PATH --ca FILE [--count N]";

/// The whole run, connection to last close.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server's first SETTINGS may take to arrive.
const SETTINGS_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() {
    let mut url = None;
    let mut ca = None;
    let mut count = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ca" => ca = Some(args.next().unwrap_or_else(|| fail(USAGE))),
            "--count" => {
                count = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| fail(USAGE))
            }
            a if a.starts_with('-') || url.is_some() => fail(USAGE),
            a => url = Some(a.to_string()),
        }
    }
    let (Some(url), Some(ca)) = (url, ca) else {
        fail(USAGE)
    };
    match tokio::time::timeout(RUN_TIMEOUT, run(&url, &ca, count)).await {
        Ok(Ok(())) => println!("h2: {count} websockets over one connection ok"),
        Ok(Err(e)) => {
            eprintln!("h2_client: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("h2_client: not done within {RUN_TIMEOUT:?}");
            std::process::exit(1);
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}

async fn run(url: &str, ca: &str, count: usize) -> Result<(), String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("{url}: not an https URL"));
    }
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
    let port = uri.port_u16().unwrap_or(443);
    // The bracketed form of an IPv6 literal is the URL's, not the address's.
    let bare = host.trim_start_matches('[').trim_end_matches(']');

    let config = tls::client_config(Some(ca), &[b"h2"])?;
    let tcp = TcpStream::connect((bare, port))
        .await
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(bare.to_string())
        .map_err(|_| format!("{host}: not a valid TLS server name"))?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
        return Err("the server did not choose ALPN h2".to_string());
    }
    let (send_request, connection) = h2::client::handshake(tls)
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("h2_client: connection: {e}");
        }
    });

    wait_for_settings(&send_request).await?;

    // Every WebSocket is opened before any is used, so that they are all streams of the
    // connection at the same time.
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        sockets.push(open(&send_request, &uri).await?);
    }
    let mut tasks = JoinSet::new();
    for (i, (id, ws)) in sockets.into_iter().enumerate() {
        tasks.spawn(async move {
            exchange(ws, i)
                .await
                .map(|()| id)
                .map_err(|e| format!("stream {id}: {e}"))
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(done) = tasks.join_next().await {
        ids.push(done.map_err(|e| e.to_string())??);
    }
    ids.sort_unstable();
    eprintln!("h2_client: streams {ids:?} echoed and closed");
    drop(send_request);
    driver.abort();
    Ok(())
}

/// The server's SETTINGS_ENABLE_CONNECT_PROTOCOL arrives with its first SETTINGS frame, which
/// the connection task reads some time after the handshake returned.
async fn wait_for_settings(send_request: &SendRequest<Bytes>) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + SETTINGS_TIMEOUT;
    while !send_request.is_extended_connect_protocol_enabled() {
        if tokio::time::Instant::now() >= deadline {
            return Err(
                "the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (RFC 8441 §3)"
                    .to_string(),
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

type Socket = AsyncWebSocket<H2Stream, OsEntropy>;

/// Opens one WebSocket with an extended CONNECT; returns its stream identifier and socket.
async fn open(send_request: &SendRequest<Bytes>, uri: &Uri) -> Result<(u32, Socket), String> {
    let request = Request::builder()
        .method(Method::CONNECT)
        .uri(uri.clone())
        .header("sec-websocket-version", "13")
        .header("sec-websocket-protocol", "chat")
        .extension(Protocol::from_static("websocket"))
        .body(())
        .map_err(|e| e.to_string())?;
    let mut sender = send_request
        .clone()
        .ready()
        .await
        .map_err(|e| format!("HTTP/2: {e}"))?;
    let (response, send) = sender
        .send_request(request, false)
        .map_err(|e| format!("CONNECT: {e}"))?;
    let id = send.stream_id().as_u32();
    let response = response
        .await
        .map_err(|e| format!("stream {id}: CONNECT: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!(
            "stream {id}: CONNECT answered {}",
            response.status()
        ));
    }
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok());
    if protocol != Some("chat") {
        return Err(format!(
            "stream {id}: subprotocol {protocol:?}, expected \"chat\""
        ));
    }
    let stream = H2Stream::new(response.into_body(), send);
    let conn = Connection::framed(
        Role::Client,
        Version::Hybi13,
        Config::default(),
        OsEntropy::new(),
    );
    Ok((id, AsyncWebSocket::from_open(stream, conn)))
}

/// The next data or close message, skipping pings and pongs.
async fn next(ws: &mut Socket) -> Result<Message, String> {
    loop {
        match ws.read().await.map_err(|e| e.to_string())? {
            Message::Ping(_) | Message::Pong { .. } => {}
            message => return Ok(message),
        }
    }
}

async fn exchange(mut ws: Socket, i: usize) -> Result<(), String> {
    let text = format!("hello over HTTP/2, socket {i}");
    ws.send_text(&text).await.map_err(|e| e.to_string())?;
    match next(&mut ws).await? {
        Message::Text(echo) if echo == text => {}
        other => return Err(format!("text echo: got {other:?}")),
    }
    // Larger than one DATA frame's default, so flow control and several frames are involved.
    let data: Vec<u8> = (0..40_000u32).map(|b| (b * 7 + i as u32) as u8).collect();
    ws.send_binary(&data).await.map_err(|e| e.to_string())?;
    match next(&mut ws).await? {
        Message::Binary(echo) if echo == data => {}
        Message::Binary(echo) => return Err(format!("binary echo: {} bytes differ", echo.len())),
        other => return Err(format!("binary echo: got {other:?}")),
    }
    ws.close(Some(CloseCode::NORMAL), "bye")
        .await
        .map_err(|e| e.to_string())?;
    match next(&mut ws).await? {
        Message::Close {
            code, clean: true, ..
        } if code == Some(CloseCode::NORMAL) => {}
        other => return Err(format!("close: got {other:?}")),
    }
    ws.shutdown_write().await.map_err(|e| e.to_string())?;
    // The server ends its side after its close reply; waiting for that keeps the stream from
    // being reset by dropping it early.
    let _ = tokio::time::timeout(Duration::from_secs(5), ws.get_mut().drain()).await;
    Ok(())
}
