//! Line-oriented WebSocket client on tokio, every version, over the runtime-free driver in
//! `async_ws/mod.rs` through `tokio_util::compat`.
//!
//! `cargo run --release --example tokio_client -- URL [--version V] [--protocol NAME]... [--origin ORIGIN] [--deflate] [--interop] [--ca FILE]`
//! (versions: hixie-75, hixie-76, hybi-07, hybi-08, hybi-13; default hybi-13). A `wss://` URL
//! (default port 443) connects over TLS (tokio-rustls), trusting only the PEM certificates of
//! `--ca FILE` if given, else the platform's roots; the server name checked is the URL's host
//! (a DNS name or an IP address). The TLS handshake counts towards the opening handshake's
//! 10 s, and a refused certificate fails the handshake.
//!
//! Same contract as `client` and `smol_client`: sends each line of stdin as a text message and
//! prints each text message received as a line (a binary one as `<binary N bytes>`). At the end
//! of stdin it closes with 1000, waits for the closing handshake (or the TCP close for
//! hixie-75), prints `closed CODE REASON` (`closed` alone where the version has no codes) and
//! exits 0. A failed handshake exits 1. The handshake must complete within 10 s; a close the
//! server leaves unanswered for 5 s is reported as `closed 1006` (`closed` on hixie).
//! `--deflate` offers permessage-deflate and logs the server's answer to stderr.
//!
//! `--interop` takes the place of `interop_client` (same checks and output, stdin unused), so
//! that `conformance/interop.sh` can run this client against third-party servers: it sends
//! text messages of several sizes and, where the version has them, binary messages, a
//! fragmented message and a ping, checks every echo byte for byte, closes and checks the close,
//! then prints `tokio_client: VERSION ok: ...`; with `--deflate` it fails unless the server
//! agreed to permessage-deflate and prints `extensions: permessage-deflate; ...`.
//!
//! After the handshake the socket's two halves go to two tasks. The reader task reads
//! messages (printing them, or handing them over in `--interop`) and passes what they oblige
//! the writer to send (pongs, the close reply) over a channel to the main task, which owns the
//! writer and also sends the lines of stdin.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;
#[path = "interop/mod.rs"]
mod interop;
#[allow(dead_code)] // the blocking helpers are the std examples'
#[path = "tls/mod.rs"]
mod tls;

use std::io::{self, BufRead, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use async_ws::{AsyncReader, AsyncWebSocket, AsyncWriter, Transport};
use futures_io::{AsyncRead, AsyncWrite};
use interop::{Checker, Outgoing};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};
use wsmachine::blocking::Error;
use wsmachine::deflate::DeflateConfig;
use wsmachine::drive::Message;
use wsmachine::{ClientRequest, CloseCode, Config, OsEntropy, Owed, State, Version, WsUrl};

/// How long the opening handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long our close waits for the server's.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `--interop` waits for each echo.
const ECHO_TIMEOUT: Duration = Duration::from_secs(20);

/// The socket's halves, plain or TLS, as one type each: the tasks below then need no type
/// parameter, and an indirect call per read or write is nothing next to the system call.
type ReadHalf = Box<dyn tokio::io::AsyncRead + Send + Unpin>;
type WriteHalf = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;
type Reader = AsyncReader<Compat<ReadHalf>>;
type Writer = AsyncWriter<Compat<WriteHalf>, OsEntropy>;
type BoxError = Box<dyn std::error::Error>;

fn usage() -> ! {
    eprintln!("usage: tokio_client URL [--version hixie-75|hixie-76|hybi-07|hybi-08|hybi-13] [--protocol NAME]... [--origin ORIGIN] [--deflate] [--interop] [--ca FILE]");
    std::process::exit(2);
}

struct Options {
    url: String,
    version: Version,
    protocols: Vec<String>,
    origin: Option<String>,
    deflate: bool,
    interop: bool,
    ca: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut version = Version::Hybi13;
    let mut protocols = Vec::new();
    let mut origin = None;
    let mut deflate = false;
    let mut interop = false;
    let mut ca = None;
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
            "--deflate" => deflate = true,
            "--interop" => interop = true,
            "--ca" => ca = Some(args.next().unwrap_or_else(|| usage())),
            _ if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => usage(),
        }
    }
    let options = Options {
        url: url.unwrap_or_else(|| usage()),
        version,
        protocols,
        origin,
        deflate,
        interop,
        ca,
    };
    if let Err(e) = run(&options).await {
        if interop {
            eprintln!("tokio_client: {version}: {e}");
        } else {
            eprintln!("tokio_client: {e}");
        }
        std::process::exit(1);
    }
}

/// What the reader task tells the main task, which owns the writer.
enum FromReader {
    /// What a message obliges the writer to send (a pong, the close reply).
    Owed(Owed),
    /// A message, in `--interop`, where the main task checks them.
    Message(Message),
    /// The reader printed the close: the connection is over.
    Closed,
    /// The reader failed.
    Failed(Error),
}

async fn run(options: &Options) -> Result<(), BoxError> {
    let parsed = WsUrl::parse(&options.url)?;
    // Read before connecting: a missing or empty file is the user's error, not the server's.
    let tls = if parsed.secure {
        let config = tls::client_config(options.ca.as_deref(), tls::HTTP1)?;
        let name = ServerName::try_from(parsed.host.to_string())
            .map_err(|_| format!("{}: not a valid TLS server name", parsed.host))?;
        Some((TlsConnector::from(config), name))
    } else {
        None
    };
    let protocol_refs: Vec<&str> = options.protocols.iter().map(String::as_str).collect();
    let mut request = ClientRequest::from_url(&parsed)
        .version(options.version)
        .protocols(&protocol_refs);
    if let Some(origin) = options.origin.as_deref() {
        request = request.origin(origin);
    }
    let mut config = Config::default();
    config.secure = parsed.secure;
    if options.deflate {
        config.deflate = Some(DeflateConfig::new());
    }
    let connect = async {
        let stream = TcpStream::connect((parsed.host, parsed.port)).await?;
        stream.set_nodelay(true)?;
        let Some((connector, name)) = tls else {
            return open(stream, &request, config, |stream| {
                let (read, write) = stream.into_split();
                (Box::new(read), Box::new(write))
            })
            .await;
        };
        let stream = connector
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        open(stream, &request, config, |stream| {
            // A TLS session is one state for both directions (records, keys, alerts), so its
            // halves share it behind tokio's lock rather than owning a socket half each.
            let (read, write) = tokio::io::split(stream);
            (Box::new(read), Box::new(write))
        })
        .await
    };
    let Opened {
        reader,
        writer,
        chosen,
        head,
    } = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect)
        .await
        .map_err(|_| "the opening handshake timed out")??;
    if let Some(p) = chosen {
        eprintln!("tokio_client: subprotocol {p}");
    }
    let agreed = interop::extensions(&head);
    if options.deflate && options.interop {
        interop::require_deflate(agreed.as_deref())?;
    } else if options.deflate {
        match agreed {
            Some(agreed) if agreed.starts_with("permessage-deflate") => {
                eprintln!("tokio_client: extensions: {agreed}");
            }
            // A server may decline; only the interop check insists.
            _ => eprintln!("tokio_client: permessage-deflate declined"),
        }
    }

    // Unbounded: the reader never waits for the main task, which may itself be waiting for
    // the server to take a line while the server waits for us to take its echoes.
    let (to_main, from_reader) = mpsc::unbounded_channel();
    let reading = tokio::spawn(read_messages(reader, to_main, !options.interop));
    let result = if options.interop {
        match interop_checks(writer, from_reader, options.version, options.deflate).await {
            Ok(summary) => {
                println!("tokio_client: {} ok: {summary}", options.version);
                Ok(())
            }
            Err(e) => Err(e),
        }
    } else {
        lines(writer, from_reader).await
    };
    reading.abort();
    result
}

/// The reader task: prints each message as it arrives (or hands it over, when `print` is
/// false) and passes on what it owes the writer.
async fn read_messages(
    mut reader: Reader,
    to_main: mpsc::UnboundedSender<FromReader>,
    print: bool,
) {
    let stdout = io::stdout();
    loop {
        let message = reader.read().await;
        // Ahead of `Closed`: the close reply must go out before the main task returns.
        if let Some(owed) = reader.take_owed() {
            let _ = to_main.send(FromReader::Owed(owed));
        }
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                let _ = to_main.send(FromReader::Failed(e));
                return;
            }
        };
        let last = matches!(message, Message::Close { .. });
        if !print {
            let _ = to_main.send(FromReader::Message(message));
            if last {
                return;
            }
            continue;
        }
        let mut out = stdout.lock();
        let printed = match message {
            Message::Text(text) => writeln!(out, "{text}"),
            Message::Binary(data) => writeln!(out, "<binary {} bytes>", data.len()),
            Message::Close { code, reason, .. } => print_close(&mut out, code, &reason),
            _ => Ok(()),
        }
        .and_then(|()| out.flush());
        drop(out);
        let next = match printed {
            Err(e) => FromReader::Failed(e.into()),
            Ok(()) if last => FromReader::Closed,
            Ok(()) => continue,
        };
        let _ = to_main.send(next);
        return;
    }
}

fn print_close(out: &mut impl Write, code: Option<CloseCode>, reason: &str) -> io::Result<()> {
    match code {
        Some(code) if reason.is_empty() => writeln!(out, "closed {code}"),
        Some(code) => writeln!(out, "closed {code} {reason}"),
        None => writeln!(out, "closed"),
    }
}

/// The line mode's writer side: stdin lines out, owed answers out, until the reader reports
/// the close.
async fn lines(
    mut writer: Writer,
    mut from_reader: mpsc::UnboundedReceiver<FromReader>,
) -> Result<(), BoxError> {
    // Reading a terminal or pipe blocks in the OS, so it runs on a thread of its own (tokio's
    // stdin would too, but its thread would hold up the runtime's exit).
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let hixie75 = writer.sender().version() == Some(Version::Hixie75);
    let mut stdin_open = true;
    let mut close_deadline: Option<Instant> = None;
    loop {
        let deadline = close_deadline.unwrap_or_else(Instant::now);
        tokio::select! {
            line = lines.recv(), if stdin_open => match line {
                // Lines that arrive after the server closed have nowhere to go.
                Some(line) if writer.sender().state() == State::Open => {
                    writer.send_text(&line).await?
                }
                Some(_) => {}
                None => {
                    stdin_open = false;
                    if writer.sender().state() == State::Open {
                        writer.close(None, "").await?;
                        if hixie75 {
                            // hixie-75 closes with the transport: our end of stream, then
                            // theirs.
                            writer.shutdown().await?;
                        }
                        close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                    }
                }
            },
            input = from_reader.recv() => match input {
                Some(FromReader::Owed(owed)) => {
                    writer.handle_owed(owed)?;
                    writer.flush().await?;
                }
                Some(FromReader::Closed) => return Ok(()),
                Some(FromReader::Failed(e)) => return Err(e.into()),
                Some(FromReader::Message(_)) => {}
                None => return Err("the reader stopped without a close".into()),
            },
            () = tokio::time::sleep_until(deadline), if close_deadline.is_some() => {
                // The server never answered our close: the connection ends here, abnormally.
                let _ = writer.shutdown().await;
                let mut out = io::stdout().lock();
                let code = (!writer.sender().version().is_some_and(Version::is_hixie))
                    .then_some(CloseCode::ABNORMAL);
                print_close(&mut out, code, "")?;
                out.flush()?;
                return Ok(());
            }
        }
    }
}

/// The next message the reader hands over, answering what it owes meanwhile.
async fn next_message(
    writer: &mut Writer,
    from_reader: &mut mpsc::UnboundedReceiver<FromReader>,
) -> Result<Message, BoxError> {
    let wait = async {
        loop {
            match from_reader.recv().await {
                Some(FromReader::Owed(owed)) => {
                    writer.handle_owed(owed)?;
                    writer.flush().await?;
                }
                Some(FromReader::Message(message)) => return Ok(message),
                Some(FromReader::Failed(e)) => return Err(e.into()),
                Some(FromReader::Closed) | None => {
                    return Err("the reader stopped without a close".into())
                }
            }
        }
    };
    tokio::time::timeout(ECHO_TIMEOUT, wait)
        .await
        .map_err(|_| format!("no message within {} s", ECHO_TIMEOUT.as_secs()))?
}

/// `--interop`: the checks of `interop_client`, returning its summary.
async fn interop_checks(
    mut writer: Writer,
    mut from_reader: mpsc::UnboundedReceiver<FromReader>,
    version: Version,
    deflate: bool,
) -> Result<String, BoxError> {
    let rx = &mut from_reader;
    let mut check = Checker::new(version, deflate);
    for step in check.plan() {
        match &step.send {
            Outgoing::Text(text) => writer.send_text(text).await?,
            Outgoing::Binary(data) => writer.send_binary(data).await?,
            Outgoing::TextFrames(frames) => {
                for (frame, last) in frames {
                    writer.sender().send_fragment(frame, true, *last)?;
                }
                writer.flush().await?;
            }
            Outgoing::Ping(payload) => {
                writer.sender().ping(payload)?;
                writer.flush().await?;
            }
        }
        while !check.answer(&step, &next_message(&mut writer, rx).await?)? {}
    }
    writer.close(None, "").await?;
    if version == Version::Hixie75 {
        writer.shutdown().await?;
    }
    loop {
        if let Some(summary) = check.close(&next_message(&mut writer, rx).await?)? {
            return Ok(summary);
        }
    }
}

/// An open connection, in halves for the two tasks.
struct Opened {
    reader: Reader,
    writer: Writer,
    /// The subprotocol the server chose.
    chosen: Option<String>,
    /// The server's HTTP head, for the extensions it agreed to.
    head: Vec<u8>,
}

/// Runs the opening handshake over `stream`, plain or TLS, then splits it with `split`.
async fn open<S>(
    stream: S,
    request: &ClientRequest<'_>,
    config: Config,
    split: fn(S) -> (ReadHalf, WriteHalf),
) -> Result<Opened, BoxError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    HeadTap<S>: Transport,
{
    let tap = HeadTap {
        stream: stream.compat(),
        head: Vec::new(),
    };
    let (mut ws, chosen) =
        AsyncWebSocket::connect_with(tap, request, config, OsEntropy::new()).await?;
    let head = std::mem::take(&mut ws.get_mut().head);
    let (reader, writer) = ws
        .into_split(|tap| {
            let (read, write) = split(tap.stream.into_inner());
            (read.compat(), write.compat_write())
        })
        .await?;
    Ok(Opened {
        reader,
        writer,
        chosen,
        head,
    })
}

/// The socket during the handshake, keeping a copy of what is read until the end of the
/// server's HTTP head: the driver checks the 101 but hands out only the subprotocol, and the
/// agreed extensions are worth reporting.
struct HeadTap<S> {
    stream: Compat<S>,
    head: Vec<u8>,
}

impl<S: tokio::io::AsyncRead + Unpin> AsyncRead for HeadTap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let n = ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if interop::head_end(&this.head).is_none() {
            this.head.extend_from_slice(&buf[..n]);
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> AsyncWrite for HeadTap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}

/// tokio's readiness lets the driver wait for the 101 rather than read again after a read
/// that emptied the socket.
impl Transport for HeadTap<TcpStream> {
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream.get_ref().poll_read_ready(cx)
    }
}

/// rustls over tokio has no readiness of its own to offer (the socket's says nothing about
/// plaintext rustls already holds): the driver's read waits.
impl Transport for HeadTap<TlsStream<TcpStream>> {}
