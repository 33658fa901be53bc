//! The peers of `scripts/race.sh`: echo servers built on other Rust WebSocket libraries, and
//! the plain TCP echo that bounds them all.
//!
//! `cargo run --release --example race_peers -- PEER [ADDR]` (default `127.0.0.1:9004`; port
//! 0 picks a free one), PEER being one of:
//!
//! - `tokio-tungstenite`: `accept_async`, then the read half forwarded to the write half, text
//!   and binary messages only, as tokio-tungstenite's README and echo server do it.
//! - `fastwebsockets`: hyper serves the HTTP/1.1 upgrade (`fastwebsockets::upgrade`), then a
//!   `FragmentCollector` reads whole messages and writes each back, as fastwebsockets' README
//!   and echo server do it. Its API writes every frame to the stream as it is given (it has no
//!   queue, and its reads cannot say whether more input is buffered), so it makes one write
//!   per message.
//! - `tokio-websockets`: `ServerBuilder::accept`, then the read half forwarded to the write
//!   half (text and binary messages only), so that a batch of input gets one write. (Its
//!   README sends each message with `send`, one write and flush per message.)
//! - `tcp`: the limit. It answers the upgrade request with a proper `101 Switching Protocols`
//!   (its `Sec-WebSocket-Accept` computed from the request's key), then sends back every byte
//!   it reads, unchanged, masked frames included: one read and one write per batch of input,
//!   no WebSocket work at all. `echo_load --raw` is the client that expects that.
//!
//! Each runs on a current-thread tokio runtime, one task per connection, with TCP_NODELAY on
//! every accepted socket. The libraries answer close themselves; text is echoed as text and
//! binary as binary. Prints `listening on ws://ADDR` once it accepts connections; a
//! connection's error goes to stderr and ends only that connection.

use std::future::Future;
use std::io;
use std::time::Duration;

use base64::Engine as _;
use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use futures_util::{future, StreamExt, TryStreamExt};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const USAGE: &str =
    "usage: race_peers tokio-tungstenite|fastwebsockets|tokio-websockets|tcp [ADDR]";

#[derive(Clone, Copy)]
enum Peer {
    TokioTungstenite,
    Fastwebsockets,
    TokioWebsockets,
    Tcp,
}

impl Peer {
    fn parse(name: &str) -> Option<Peer> {
        Some(match name {
            "tokio-tungstenite" => Peer::TokioTungstenite,
            "fastwebsockets" => Peer::Fastwebsockets,
            "tokio-websockets" => Peer::TokioWebsockets,
            "tcp" => Peer::Tcp,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Peer::TokioTungstenite => "tokio-tungstenite",
            Peer::Fastwebsockets => "fastwebsockets",
            Peer::TokioWebsockets => "tokio-websockets",
            Peer::Tcp => "tcp",
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let peer = match args.next() {
        Some(arg) if arg == "-h" || arg == "--help" => {
            println!("{USAGE}");
            return;
        }
        Some(arg) => Peer::parse(&arg).unwrap_or_else(|| usage(&format!("unknown peer {arg}"))),
        None => usage("no peer given"),
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9004".into());
    if let Some(arg) = args.next() {
        usage(&format!("unexpected argument {arg}"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap_or_else(|e| {
            eprintln!("race_peers: cannot start the runtime: {e}");
            std::process::exit(1);
        });
    runtime.block_on(serve(peer, addr));
}

fn usage(error: &str) -> ! {
    eprintln!("race_peers: {error}\n{USAGE}");
    std::process::exit(2);
}

async fn serve(peer: Peer, addr: String) {
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("race_peers: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on ws://{}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: let the connections in progress end first.
                eprintln!("race_peers: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("race_peers: cannot set TCP_NODELAY: {e}");
        }
        match peer {
            Peer::TokioTungstenite => spawn(peer, tokio_tungstenite_echo(stream)),
            Peer::Fastwebsockets => spawn(peer, fastwebsockets_serve(stream)),
            Peer::TokioWebsockets => spawn(peer, tokio_websockets_echo(stream)),
            Peer::Tcp => spawn(peer, tcp_echo(stream)),
        }
    }
}

/// Runs one connection in a task of its own; its error, if any, goes to stderr.
fn spawn<E: std::fmt::Display>(
    peer: Peer,
    connection: impl Future<Output = Result<(), E>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("race_peers {}: {e}", peer.name());
        }
    });
}

async fn tokio_tungstenite_echo(
    stream: TcpStream,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let ws = tokio_tungstenite::accept_async(stream).await?;
    let (write, read) = ws.split();
    read.try_filter(|message| future::ready(message.is_text() || message.is_binary()))
        .forward(write)
        .await
}

async fn fastwebsockets_serve(stream: TcpStream) -> Result<(), hyper::Error> {
    http1::Builder::new()
        .serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            service_fn(fastwebsockets_upgrade),
        )
        .with_upgrades()
        .await
}

async fn fastwebsockets_upgrade(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgraded) = upgrade::upgrade(&mut request)?;
    spawn(Peer::Fastwebsockets, fastwebsockets_echo(upgraded));
    Ok(response)
}

async fn fastwebsockets_echo(upgraded: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(upgraded.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn tokio_websockets_echo(stream: TcpStream) -> Result<(), tokio_websockets::Error> {
    let (_request, ws) = tokio_websockets::ServerBuilder::new()
        .accept(stream)
        .await?;
    // The read half forwarded to the write half, as for tokio-tungstenite: `forward` feeds
    // the sink while messages are ready and flushes when none is, one write per batch.
    let (write, read) = ws.split();
    read.try_filter(|message| future::ready(message.is_text() || message.is_binary()))
        .forward(write)
        .await
}

/// The GUID of RFC 6455 §1.3, appended to the client's key for `Sec-WebSocket-Accept`.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The longest request head taken.
const MAX_HEAD: usize = 16 * 1024;

async fn tcp_echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    let mut head = Vec::with_capacity(1024);
    let head_len = loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head) {
            Ok(httparse::Status::Complete(len)) => {
                let key = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
                    .map(|h| h.value.trim_ascii());
                let Some(key) = key else {
                    stream
                        .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                        .await?;
                    return Err(io::Error::other("no Sec-WebSocket-Key in the request"));
                };
                let mut sha1 = sha1_smol::Sha1::new();
                sha1.update(key);
                sha1.update(GUID.as_bytes());
                let mut accept = [0; 28];
                base64::engine::general_purpose::STANDARD
                    .encode_slice(sha1.digest().bytes(), &mut accept)
                    .map_err(io::Error::other)?;
                let mut answer = Vec::with_capacity(160);
                answer.extend_from_slice(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                      Connection: Upgrade\r\nSec-WebSocket-Accept: ",
                );
                answer.extend_from_slice(&accept);
                answer.extend_from_slice(b"\r\n\r\n");
                stream.write_all(&answer).await?;
                break len;
            }
            Ok(httparse::Status::Partial) if head.len() <= MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(io::Error::other("the request head is longer than 16 KiB"))
            }
            Err(e) => return Err(io::Error::other(format!("bad request: {e}"))),
        }
    };
    // Whatever came after the head is the first of the bytes to echo.
    stream.write_all(&head[head_len..]).await?;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}
