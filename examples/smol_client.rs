//! Line-oriented WebSocket client on smol, every version.
//!
//! `cargo run --release --example smol_client -- URL [--version V] [--protocol NAME]... [--origin ORIGIN]`
//! Same contract as `client`: sends each line of stdin as a text message and prints each text
//! message received as a line (a binary one as `<binary N bytes>`). At the end of stdin it
//! closes with 1000, waits for the closing handshake (or the TCP close for hixie-75), prints
//! `closed CODE REASON` (`closed` alone where the version has no codes) and exits 0. A failed
//! handshake exits 1.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;

use std::io::{BufRead, Write};

use async_ws::{AsyncWebSocket, Transport};
use smol::future::FutureExt;
use smol::net::TcpStream;
use wsmachine::drive::Message;
use wsmachine::{ClientRequest, Config, OsEntropy, Version, WsUrl};

/// `smol::net::TcpStream` has no readiness of its own: its reads wait.
impl Transport for TcpStream {}

fn usage() -> ! {
    eprintln!("usage: smol_client URL [--version hixie-75|hixie-76|hybi-07|hybi-08|hybi-13] [--protocol NAME]... [--origin ORIGIN]");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut version = Version::Hybi13;
    let mut protocols = Vec::new();
    let mut origin = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--version" => {
                version = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--protocol" => protocols.push(args.next().unwrap_or_else(|| usage())),
            "--origin" => origin = Some(args.next().unwrap_or_else(|| usage())),
            _ if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => usage(),
        }
    }
    let url = url.unwrap_or_else(|| usage());
    if let Err(e) = smol::block_on(run(&url, version, &protocols, origin.as_deref())) {
        eprintln!("smol_client: {e}");
        std::process::exit(1);
    }
}

/// What happened first: a line of stdin (`None` at its end) or a message from the server.
enum Step {
    Line(Option<String>),
    Message(Result<Message, wsmachine::blocking::Error>),
}

async fn run(
    url: &str,
    version: Version,
    protocols: &[String],
    origin: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let parsed = WsUrl::parse(url)?;
    if parsed.secure {
        return Err("wss:// needs TLS, which this example does not do".into());
    }
    let stream = TcpStream::connect((parsed.host, parsed.port)).await?;
    stream.set_nodelay(true)?;
    let protocol_refs: Vec<&str> = protocols.iter().map(String::as_str).collect();
    let mut request = ClientRequest::from_url(&parsed)
        .version(version)
        .protocols(&protocol_refs);
    if let Some(origin) = origin {
        request = request.origin(origin);
    }
    let (mut ws, chosen) =
        AsyncWebSocket::connect_with(stream, &request, Config::default(), OsEntropy::new()).await?;
    if let Some(p) = chosen {
        eprintln!("smol_client: subprotocol {p}");
    }

    // Reading a terminal or pipe blocks in the OS, so it runs on a thread of its own.
    let (lines_tx, lines) = smol::channel::unbounded();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send_blocking(line).is_err() {
                return;
            }
        }
    });

    let mut stdout = std::io::stdout().lock();
    let mut closing = false;
    loop {
        let step = if closing {
            Step::Message(ws.read().await)
        } else {
            // `read` is cancel-safe, so losing the race to a line drops nothing.
            let line = async { Step::Line(lines.recv().await.ok()) };
            let message = async { Step::Message(ws.read().await) };
            line.or(message).await
        };
        match step {
            Step::Line(Some(line)) => ws.send_text(&line).await?,
            Step::Line(None) => {
                ws.close(None, "").await?;
                if ws.version() == Some(Version::Hixie75) {
                    // hixie-75 closes with the transport: our end of stream, then theirs.
                    ws.shutdown_write().await?;
                }
                closing = true;
            }
            Step::Message(Ok(Message::Text(text))) => writeln!(stdout, "{text}")?,
            Step::Message(Ok(Message::Binary(data))) => {
                writeln!(stdout, "<binary {} bytes>", data.len())?
            }
            Step::Message(Ok(Message::Close { code, reason, .. })) => {
                match code {
                    Some(code) if reason.is_empty() => writeln!(stdout, "closed {code}")?,
                    Some(code) => writeln!(stdout, "closed {code} {reason}")?,
                    None => writeln!(stdout, "closed")?,
                }
                stdout.flush()?;
                return Ok(());
            }
            Step::Message(Ok(_)) => {}
            Step::Message(Err(e)) => return Err(e.into()),
        }
        stdout.flush()?;
    }
}
