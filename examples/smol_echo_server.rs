//! Echo server on smol: many connections as tasks on one thread pool, every version.
//!
//! `cargo run --release --example smol_echo_server -- [ADDR]` (default `127.0.0.1:9001`).
//! Same contract as `echo_server`: prints `listening on ws://ADDR` once it accepts
//! connections, logs each connection's version and path to stderr, echoes every text and binary
//! message unchanged (up to 16 MiB) and answers close. The pool has one thread per core
//! (`SMOL_THREADS` overrides it); the WebSocket work is the runtime-free driver in
//! `async_ws/mod.rs`.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;

use std::sync::Arc;

use async_ws::AsyncWebSocket;
use smol::net::{TcpListener, TcpStream};
use smol::Executor;
use wsmachine::blocking::Error;
use wsmachine::drive::{Decision, Message};
use wsmachine::{Config, Version};

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".into());
    let threads = std::env::var("SMOL_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .max(1);
    let executor: Arc<Executor<'static>> = Arc::new(Executor::new());
    // The calling thread is one of the pool's threads: it runs the accept loop too.
    for _ in 1..threads {
        let executor = executor.clone();
        std::thread::spawn(move || smol::block_on(executor.run(smol::future::pending::<()>())));
    }
    smol::block_on(executor.run(listen(executor.clone(), addr)));
}

async fn listen(executor: Arc<Executor<'static>>, addr: String) {
    let listener = match TcpListener::bind(addr.as_str()).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("smol_echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on ws://{}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );
    loop {
        match listener.accept().await {
            Ok((stream, _)) => executor.spawn(serve(stream)).detach(),
            Err(e) => {
                eprintln!("smol_echo_server: accept failed: {e}");
                // Out of descriptors, most likely: give connections time to end.
                smol::Timer::after(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// How long a client may take to send its request.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn serve(stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let mut path = String::new();
    let accept = AsyncWebSocket::accept_with(stream, Config::default(), |request| {
        path = request.target().to_string();
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
    // The handshake may take 10 s; a client that has not sent its request by then is dropped.
    let timeout = async {
        smol::Timer::after(HANDSHAKE_TIMEOUT).await;
        None
    };
    let Some(ws) = smol::future::or(async { Some(accept.await) }, timeout).await else {
        eprintln!("{peer}: handshake timed out");
        return;
    };
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
    eprintln!(
        "{peer}: {} {path}",
        ws.version().map_or("?", Version::as_str)
    );
    loop {
        let result = match ws.read().await {
            Ok(Message::Text(text)) => ws.send_text(&text).await,
            Ok(Message::Binary(data)) => ws.send_binary(&data).await,
            Ok(Message::Close { code, reason, .. }) => {
                let code = code.map(|c| format!(" {c}")).unwrap_or_default();
                eprintln!("{peer}: closed{code} {reason}");
                let _ = ws.shutdown_write().await;
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
