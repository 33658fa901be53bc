//! Line-oriented WebSocket client over `std::net`, every version.
//!
//! `cargo run --release --example client -- URL [--version V] [--protocol NAME]... [--origin ORIGIN]`
//! (versions: hixie-75, hixie-76, hybi-07, hybi-08, hybi-13; default hybi-13). Sends each line
//! of stdin as a text message and prints each text message received as a line (a binary one as
//! `<binary N bytes>`). At the end of stdin it closes with 1000, waits for the closing
//! handshake (or the TCP close for hixie-75), prints `closed CODE REASON` (`closed` alone where
//! the version has no codes) and exits 0. A failed handshake exits 1.

use std::io::{BufRead, ErrorKind, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use wsmachine::blocking::{Error, Message, WebSocket};
use wsmachine::{ClientRequest, Config, Version, WsUrl};

fn usage() -> ! {
    eprintln!("usage: client URL [--version hixie-75|hixie-76|hybi-07|hybi-08|hybi-13] [--protocol NAME]... [--origin ORIGIN]");
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
    if let Err(e) = run(&url, version, &protocols, origin.as_deref()) {
        eprintln!("client: {e}");
        std::process::exit(1);
    }
}

fn run(
    url: &str,
    version: Version,
    protocols: &[String],
    origin: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let parsed = WsUrl::parse(url)?;
    if parsed.secure {
        return Err("wss:// needs TLS, which this example does not do".into());
    }
    let stream = TcpStream::connect((parsed.host, parsed.port))?;
    stream.set_nodelay(true)?;
    let protocol_refs: Vec<&str> = protocols.iter().map(String::as_str).collect();
    let mut request = ClientRequest::from_url(&parsed)
        .version(version)
        .protocols(&protocol_refs);
    if let Some(origin) = origin {
        request = request.origin(origin);
    }
    let (mut ws, chosen) = WebSocket::connect(stream, &request, Config::default())?;
    if let Some(p) = chosen {
        eprintln!("client: subprotocol {p}");
    }
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_millis(20)))?;

    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) => {
                    if lines_tx.send(Some(line)).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = lines_tx.send(None);
    });

    let mut stdout = std::io::stdout().lock();
    let mut closing = false;
    loop {
        while !closing {
            match lines.try_recv() {
                Ok(Some(line)) => ws.send_text(&line)?,
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => {
                    ws.close(None, "")?;
                    if ws.version() == Version::Hixie75 {
                        // hixie-75 closes with the transport: our end of stream, then theirs.
                        ws.get_mut().shutdown(std::net::Shutdown::Write)?;
                    }
                    closing = true;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        match ws.read() {
            Ok(Message::Text(text)) => writeln!(stdout, "{text}")?,
            Ok(Message::Binary(data)) => writeln!(stdout, "<binary {} bytes>", data.len())?,
            Ok(Message::Close { code, reason, .. }) => {
                match code {
                    Some(code) if reason.is_empty() => writeln!(stdout, "closed {code}")?,
                    Some(code) => writeln!(stdout, "closed {code} {reason}")?,
                    None => writeln!(stdout, "closed")?,
                }
                return Ok(());
            }
            Ok(_) => {}
            Err(Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.into()),
        }
        stdout.flush()?;
    }
}
