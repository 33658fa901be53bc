//! Echo server on smol: many connections as tasks on one thread pool, every version.
//!
//! `cargo run --release --example smol_echo_server -- [ADDR] [--no-deflate]` (default
//! `127.0.0.1:9001`). Same contract as `echo_server`: prints `listening on ws://ADDR` once it
//! accepts connections, logs each connection's version and path to stderr, echoes every text
//! and binary message unchanged (up to 16 MiB) and answers close; permessage-deflate is
//! accepted when a client offers it, unless `--no-deflate`. The pool has one thread per core
//! (`SMOL_THREADS` overrides it); the WebSocket work is the runtime-free driver in
//! `async_ws/mod.rs`. Echoes are queued and written once per batch of input, a connection is
//! read again only once its socket is readable, and a connection whose client floods it yields
//! to the others after each turn of its budget (see `async_ws`). A client that leaves its echoes
//! unread for 10 s once the socket's buffers are full is dropped.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;

use std::io;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_ws::{AsyncWebSocket, Transport, WriteDeadline};
use smol::{Async, Executor, Timer};
use wsmachine::blocking::Error;
use wsmachine::deflate::DeflateConfig;
use wsmachine::drive::Decision;
use wsmachine::{Config, Version};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deflate = !args.iter().any(|a| a == "--no-deflate");
    let addr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
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
    let mut config = Config::default();
    if deflate {
        config.deflate = Some(DeflateConfig::new());
    }
    smol::block_on(executor.run(listen(executor.clone(), addr, config)));
}

/// How long a client may leave its echoes unread once the socket's send buffer is full.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The reactor's registration says when the socket is readable, so the driver waits for that
/// instead of reading again after a read that emptied it.
impl Transport for Async<TcpStream> {
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Async::poll_readable(self, cx)
    }
}

async fn listen(executor: Arc<Executor<'static>>, addr: String, config: Config) {
    let bound = addr
        .to_socket_addrs()
        .and_then(|mut a| a.next().ok_or_else(|| io::Error::other("no address")))
        .and_then(Async::<TcpListener>::bind);
    let listener = match bound {
        Ok(l) => l,
        Err(e) => {
            eprintln!("smol_echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on ws://{}",
        listener
            .get_ref()
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or(addr)
    );
    loop {
        match listener.accept().await {
            Ok((stream, _)) => executor.spawn(serve(stream, config)).detach(),
            Err(e) => {
                eprintln!("smol_echo_server: accept failed: {e}");
                // Out of descriptors, most likely: give connections time to end.
                Timer::after(Duration::from_millis(50)).await;
            }
        }
    }
}

/// How long a client may take to send its request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve(io: Async<TcpStream>, config: Config) {
    let peer = io
        .get_ref()
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = io.get_ref().set_nodelay(true);
    let stream = WriteDeadline::new(io, WRITE_TIMEOUT, Timer::after);
    let mut path = String::new();
    let accept = AsyncWebSocket::accept_with(stream, config, |request| {
        path = request.target().to_string();
        Decision::websocket_only(request, b"this is a WebSocket echo server\n")
    });
    // The handshake may take 10 s; a client that has not sent its request by then is dropped.
    let timeout = async {
        Timer::after(HANDSHAKE_TIMEOUT).await;
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
    async_ws::echo(&mut ws, &peer).await;
}
