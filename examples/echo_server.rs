//! Echo server over `std::net`, one thread per connection, every version.
//!
//! `cargo run --release --example echo_server -- [ADDR] [--no-deflate] [--cert FILE --key FILE]`
//! (default `127.0.0.1:9001`). With `--cert` (a PEM certificate chain, the server's first) and
//! `--key` (its PEM private key) it serves `wss://` over TLS (rustls); a failed TLS handshake
//! is logged and drops only that connection. Prints `listening on ws://ADDR` (or `wss://`)
//! once it accepts connections; logs each
//! connection's version and path to stderr. Echoes every text and binary message unchanged (up
//! to 16 MiB) and answers close. Echoes are queued and written once per batch of input; a
//! client that leaves them unread for 10 s once the socket's buffers are full is dropped. permessage-deflate is accepted when a client offers it, unless
//! `--no-deflate`; the connection's log line then ends with `extensions: ` and the agreed
//! `Sec-WebSocket-Extensions` value.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use wsmachine::blocking::{Decision, Error, Message, WebSocket};
use wsmachine::deflate::negotiate::accept_offers;
use wsmachine::deflate::DeflateConfig;
use wsmachine::{Config, Version};

#[path = "tls/mod.rs"]
mod tls;
use tls::Tcp;

/// How long a client may take to send its request.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a client may leave its echoes unread once the socket's send buffer is full.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn main() {
    let tls::ServerArgs { addr, deflate, tls } = tls::server_args("echo_server");
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on {}://{}",
        if tls.is_some() { "wss" } else { "ws" },
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let tls = tls.clone();
                // Out of threads (memory, mappings): this connection is dropped, not the
                // others with the whole process.
                let started =
                    std::thread::Builder::new().spawn(move || serve(stream, deflate, tls));
                if let Err(e) = started {
                    eprintln!("echo_server: no thread for a connection, dropped: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
            Err(e) => eprintln!("echo_server: accept failed: {e}"),
        }
    }
}

fn serve(stream: TcpStream, deflate: bool, tls: Option<Arc<rustls::ServerConfig>>) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    // The blocking driver waits in the socket's read: a silent client's read returns after
    // the timeout (the TLS handshake's too), and the connection's handshake timeout bounds a
    // request that trickles in.
    if stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err() {
        return;
    }
    match tls {
        None => echo(stream, &peer, deflate, false),
        // In the connection's thread: a slow TLS client holds up no one else.
        Some(config) => match tls::accept(&config, stream) {
            Ok(stream) => echo(stream, &peer, deflate, true),
            Err(e) => eprintln!("{peer}: {e}"),
        },
    }
}

/// Serves one connection; its timeouts are set on the TCP socket, under TLS if any: rustls
/// reports a timed-out socket read or write as its own.
fn echo<S: Read + Write + Tcp>(stream: S, peer: &str, deflate: bool, secure: bool) {
    let mut path = String::new();
    let mut agreed = None;
    let mut config = Config::default();
    config.secure = secure;
    // In the blocking driver's unit, microseconds.
    config.handshake_timeout = Some(HANDSHAKE_TIMEOUT.as_micros() as u64);
    if deflate {
        config.deflate = Some(DeflateConfig::new());
    }
    let ws = WebSocket::accept_with(stream, config, |request| {
        path = request.target().to_string();
        // The extension the 101 will agree to: what `accept` answers, logged below.
        if let (Some(deflate), Some(version)) = (config.deflate, request.version()) {
            if !version.is_hixie() {
                agreed = accept_offers(request.extensions(), &deflate).map(|a| a.response);
            }
        }
        Decision::websocket_only(request, b"this is a WebSocket echo server\n")
    });
    let mut ws = match ws {
        Ok(ws) => ws,
        // The server's own answer to a plain HTTP request: nothing failed.
        Err(Error::Refused { status }) => {
            eprintln!("{peer}: http {path} -> {status}");
            return;
        }
        Err(e) => {
            eprintln!("{peer}: handshake failed: {e}");
            return;
        }
    };
    // Open: a quiet client may stay as long as it likes, but one that takes none of its
    // echoes for the write timeout is dropped rather than holding this thread.
    if ws.get_mut().tcp().set_read_timeout(None).is_err()
        || ws
            .get_mut()
            .tcp()
            .set_write_timeout(Some(WRITE_TIMEOUT))
            .is_err()
    {
        return;
    }
    let extensions = agreed
        .map(|a| format!(" extensions: {a}"))
        .unwrap_or_default();
    eprintln!(
        "{peer}: {} {path}{extensions}",
        ws.version().map_or("?", Version::as_str)
    );
    echo_messages(&mut ws, peer);
    ws.get_mut().close_notify();
}

/// Echoes until the close or an error.
fn echo_messages<S: Read + Write>(ws: &mut WebSocket<S>, peer: &str) {
    loop {
        let result = match ws.read() {
            Ok(Message::Text(text)) => ws.queue_text(&text),
            Ok(Message::Binary(data)) => ws.queue_binary(&data),
            Ok(Message::Close { code, reason, .. }) => {
                let code = code.map(|c| format!(" {c}")).unwrap_or_default();
                eprintln!("{peer}: closed{code} {reason}");
                return;
            }
            Ok(_) => Ok(()),
            Err(e) => {
                eprintln!("{peer}: {e}");
                return;
            }
        };
        if let Err(e) = result {
            eprintln!("{peer}: {e}");
            return;
        }
    }
}
