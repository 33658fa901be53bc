//! Echo server over `std::net`, one thread per connection, every version.
//!
//! `cargo run --release --example echo_server -- [ADDR] [--no-deflate]` (default
//! `127.0.0.1:9001`). Prints `listening on ws://ADDR` once it accepts connections; logs each
//! connection's version and path to stderr. Echoes every text and binary message unchanged (up
//! to 16 MiB) and answers close. Echoes are queued and written once per batch of input; a
//! client that leaves them unread for 10 s once the socket's buffers are full is dropped. permessage-deflate is accepted when a client offers it, unless
//! `--no-deflate`; the connection's log line then ends with `extensions: ` and the agreed
//! `Sec-WebSocket-Extensions` value.

use std::net::{TcpListener, TcpStream};

use wsmachine::blocking::{Decision, Error, Message, WebSocket};
use wsmachine::deflate::negotiate::accept_offers;
use wsmachine::deflate::DeflateConfig;
use wsmachine::{Config, Version};

/// How long a client may take to send its request.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a client may leave its echoes unread once the socket's send buffer is full.
const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deflate = !args.iter().any(|a| a == "--no-deflate");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on ws://{}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || serve(stream, deflate));
            }
            Err(e) => eprintln!("echo_server: accept failed: {e}"),
        }
    }
}

fn serve(stream: TcpStream, deflate: bool) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    // The blocking driver waits in the socket's read: the handshake's timeout is the socket's.
    if stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err() {
        return;
    }
    let mut path = String::new();
    let mut agreed = None;
    let mut config = Config::default();
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
        if request.version().is_some() {
            Decision::accept()
        } else {
            Decision::Respond {
                status: 426,
                headers: vec![("Sec-WebSocket-Version".into(), "13, 8, 7".into())],
                body: b"this is a WebSocket echo server\n".to_vec(),
            }
        }
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
    if ws.get_mut().set_read_timeout(None).is_err()
        || ws.get_mut().set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
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
