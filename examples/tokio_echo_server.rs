//! Echo server on tokio, every version, over the runtime-free driver in `async_ws/mod.rs`
//! through `tokio_util::compat`.
//!
//! `cargo run --release --example tokio_echo_server -- [ADDR] [--no-deflate] [--cert FILE --key FILE]`
//! (default `127.0.0.1:9001`). Same contract as `echo_server` and `smol_echo_server`: prints
//! `listening on ws://ADDR` (or `wss://`) once it accepts connections, logs each connection's
//! version and path to stderr, echoes every text and binary message unchanged (up to 16 MiB)
//! and answers close; a plain HTTP request gets 426. permessage-deflate is accepted when a
//! client offers it, unless `--no-deflate`; the log line then ends with `extensions: ` and the
//! agreed `Sec-WebSocket-Extensions` value. A client must send its request within 10 s, and one
//! that leaves its echoes unread for 10 s once the socket's buffers are full is dropped.
//!
//! With `--cert` (a PEM certificate chain, the server's first) and `--key` (its PEM private
//! key) it serves `wss://` over TLS (tokio-rustls). The TLS handshake runs in the connection's
//! task, within the same 10 s as the WebSocket handshake; a failed one is logged and drops only
//! that connection.
//!
//! Once open, a connection is two tasks over the two halves of its socket (of its TLS stream,
//! which they share). The reader reads messages and hands the echoes, and what they oblige the
//! writer to send (pongs, the close reply), to the writer over a bounded channel; the writer
//! queues all that is ready and writes it at once, so a batch of input costs one write, and a
//! full channel stops the reader, so a client that does not read its echoes stops being read.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;
#[allow(dead_code)] // the blocking helpers are the std examples'
#[path = "tls/mod.rs"]
mod tls;
#[path = "tokio_io/mod.rs"]
mod tokio_io;

use std::pin::Pin;
use std::time::Duration;

use async_ws::{AsyncReader, AsyncWebSocket, AsyncWriter, Transport, WriteDeadline};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
use wsmachine::blocking::Error;
use wsmachine::deflate::negotiate::accept_offers;
use wsmachine::deflate::DeflateConfig;
use wsmachine::drive::{Decision, Message};
use wsmachine::{Config, Owed, Version};

/// How long a client may take to send its request, its TLS handshake included.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may leave its echoes unread once the socket's send buffer is full.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages the reader may be ahead of the writer: past that, the reader waits, and the
/// client's input stays in the socket's buffers.
const CHANNEL_DEPTH: usize = 64;

#[tokio::main]
async fn main() {
    let tls::ServerArgs { addr, deflate, tls } = tls::server_args("tokio_echo_server");
    let tls = tls.map(TlsAcceptor::from);
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tokio_echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on {}://{}",
        if tls.is_some() { "wss" } else { "ws" },
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, deflate, tls.clone()));
            }
            Err(e) => {
                eprintln!("tokio_echo_server: accept failed: {e}");
                // Out of descriptors, most likely: give connections time to end.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What the reader hands the writer.
enum Out {
    Text(String),
    Binary(Vec<u8>),
    Owed(Owed),
}

type Reader<A> = AsyncReader<Compat<A>>;
/// The write half, failing once it makes no progress for [`WRITE_TIMEOUT`].
type Stalling<B> = WriteDeadline<Compat<B>, Pin<Box<Sleep>>>;
type Writer<B> = AsyncWriter<Stalling<B>>;

/// rustls over tokio has no readiness of its own to offer (the socket's says nothing about
/// plaintext rustls already holds): the driver's read waits.
impl Transport for Compat<TlsStream<TcpStream>> {}

async fn serve(stream: TcpStream, deflate: bool, tls: Option<TlsAcceptor>) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let Some(acceptor) = tls else {
        return echo(
            stream,
            peer,
            deflate,
            false,
            deadline,
            TcpStream::into_split,
        )
        .await;
    };
    // In the connection's task: a slow TLS client holds up no one else.
    let stream = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return eprintln!("{peer}: TLS handshake failed: {e}"),
        Err(_) => return eprintln!("{peer}: TLS handshake timed out"),
    };
    // A TLS session is one state for both directions (records, keys, alerts), so its halves
    // share it behind tokio's lock rather than owning a socket half each.
    echo(stream, peer, deflate, true, deadline, tokio::io::split).await;
}

/// Serves one connection over `stream`, plain or TLS, whose opening handshake must end by
/// `deadline`; `split` gives the reader and writer tasks their halves.
async fn echo<S, A, B>(
    stream: S,
    peer: String,
    deflate: bool,
    secure: bool,
    deadline: Instant,
    split: fn(S) -> (A, B),
) where
    Compat<S>: Transport,
    S: AsyncRead + AsyncWrite,
    A: AsyncRead + Unpin + Send + 'static,
    B: AsyncWrite + Unpin + Send + 'static,
{
    let mut path = String::new();
    let mut agreed = None;
    let mut config = Config::default();
    config.secure = secure;
    if deflate {
        config.deflate = Some(DeflateConfig::new());
    }
    let accept = AsyncWebSocket::accept_with(stream.compat(), config, |request| {
        path = request.target().to_string();
        // The extension the 101 will agree to: what `accept` answers, logged below.
        if let (Some(deflate), Some(version)) = (config.deflate, request.version()) {
            if !version.is_hixie() {
                agreed = accept_offers(request.extensions(), &deflate).map(|a| a.response);
            }
        }
        Decision::websocket_only(request, b"this is a WebSocket echo server\n")
    });
    let ws = match tokio::time::timeout_at(deadline, accept).await {
        Err(_) => {
            eprintln!("{peer}: handshake timed out");
            return;
        }
        Ok(Ok(ws)) => ws,
        // The server's own answer to a plain HTTP request: nothing failed.
        Ok(Err(Error::Refused { status })) => {
            eprintln!("{peer}: http {path} -> {status}");
            return;
        }
        Ok(Err(e)) => {
            eprintln!("{peer}: handshake failed: {e}");
            return;
        }
    };
    let extensions = agreed
        .map(|a| format!(" extensions: {a}"))
        .unwrap_or_default();
    eprintln!(
        "{peer}: {} {path}{extensions}",
        ws.version().map_or("?", Version::as_str)
    );
    let halves = ws
        .into_split(|stream| {
            let (read, write) = split(stream.into_inner());
            let write = WriteDeadline::new(write.compat_write(), WRITE_TIMEOUT, |d| {
                Box::pin(tokio::time::sleep(d))
            });
            (read.compat(), write)
        })
        .await;
    let (reader, writer) = match halves {
        Ok(halves) => halves,
        Err(e) => {
            eprintln!("{peer}: {e}");
            return;
        }
    };
    let (out, echoes) = mpsc::channel(CHANNEL_DEPTH);
    let reading = tokio::spawn(read_half(reader, out, peer.clone()));
    tokio::spawn(write_half(writer, echoes, reading.abort_handle(), peer));
}

/// The reader task: ends after the close, a violation or a failed read, having handed the
/// writer what it owes; dropping the channel then tells the writer to finish.
async fn read_half<A: AsyncRead + Unpin>(
    mut reader: Reader<A>,
    out: mpsc::Sender<Out>,
    peer: String,
) {
    loop {
        let message = reader.read().await;
        // Ahead of the echo: a pong or close reply answers what came before it.
        if let Some(owed) = reader.take_owed() {
            if out.send(Out::Owed(owed)).await.is_err() {
                return;
            }
        }
        let echo = match message {
            Ok(Message::Text(text)) => Out::Text(text),
            Ok(Message::Binary(data)) => Out::Binary(data),
            Ok(Message::Close { code, reason, .. }) => {
                let code = code.map(|c| format!(" {c}")).unwrap_or_default();
                eprintln!("{peer}: closed{code} {reason}");
                return;
            }
            Ok(_) => continue,
            Err(e) => {
                eprintln!("{peer}: {e}");
                return;
            }
        };
        if out.send(echo).await.is_err() {
            // The writer failed and said why.
            return;
        }
    }
}

/// The writer task: applies everything the channel has ready, then writes it in one go.
async fn write_half<B: AsyncWrite + Unpin>(
    mut writer: Writer<B>,
    mut echoes: mpsc::Receiver<Out>,
    reader: tokio::task::AbortHandle,
    peer: String,
) {
    while let Some(first) = echoes.recv().await {
        let mut next = Some(first);
        let mut result = Ok(());
        while let Some(out) = next.take() {
            result = match out {
                Out::Text(text) => writer.queue_text(&text).await,
                Out::Binary(data) => writer.queue_binary(&data).await,
                Out::Owed(owed) => writer.handle_owed(owed),
            };
            if result.is_err() {
                break;
            }
            next = echoes.try_recv().ok();
        }
        if let Err(e) = result.and(writer.flush().await) {
            eprintln!("{peer}: {e}");
            // A reader waiting for a client that neither reads nor writes would hold the
            // socket's other half for ever.
            reader.abort();
            return;
        }
    }
    // The reader is done: after a close, this ends the TCP connection (hixie-75's close).
    let _ = writer.shutdown().await;
}
