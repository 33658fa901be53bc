//! Line-oriented WebSocket client over `std::net`, every version.
//!
//! `cargo run --release --example client -- URL [--version V] [--protocol NAME]... [--origin ORIGIN] [--ca FILE]`
//! (versions: hixie-75, hixie-76, hybi-07, hybi-08, hybi-13; default hybi-13). A `wss://` URL
//! (default port 443) connects over TLS (rustls), trusting only the PEM certificates of
//! `--ca FILE` if given, else the platform's roots; the server name checked is the URL's host
//! (a DNS name or an IP address). Sends each line
//! of stdin as a text message and prints each text message received as a line (a binary one as
//! `<binary N bytes>`). At the end of stdin it closes with 1000, waits for the closing
//! handshake (or the TCP close for hixie-75), prints `closed CODE REASON` (`closed` alone where
//! the version has no codes) and exits 0. A failed handshake exits 1.
//!
//! A reader thread blocks in the socket's read and prints messages as they come; the main
//! thread owns the writer and blocks on one channel that brings it stdin lines and what the
//! reader's messages oblige it to send (pongs, the close reply). Nothing wakes up while
//! nothing happens, and a close started by either side completes. The handshake must complete
//! within 10 s, and a close the server leaves unanswered ends the connection after 5 s (the
//! socket is shut down; the close is reported as 1006, or `closed` on hixie-75, whose close
//! is the end of the stream).
//!
//! Over TLS there is one thread instead: see [`run_tls`].

use std::io::{BufRead, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use wsmachine::blocking::{Error, Message, Reader, WebSocket};
use wsmachine::{ClientRequest, Config, OsEntropy, Owed, State, Version, WsUrl};

#[path = "tls/mod.rs"]
mod tls;

/// How long the opening handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long our close waits for the server's (microseconds, the blocking driver's unit).
const CLOSE_TIMEOUT_US: u64 = 5_000_000;
/// Over TLS, how long the one thread waits for the server before it looks at stdin again.
const TLS_POLL: Duration = Duration::from_millis(20);

fn usage() -> ! {
    eprintln!("usage: client URL [--version hixie-75|hixie-76|hybi-07|hybi-08|hybi-13] [--protocol NAME]... [--origin ORIGIN] [--ca FILE]");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut version = Version::Hybi13;
    let mut protocols = Vec::new();
    let mut origin = None;
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
            "--ca" => ca = Some(args.next().unwrap_or_else(|| usage())),
            _ if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => usage(),
        }
    }
    let url = url.unwrap_or_else(|| usage());
    if let Err(e) = run(&url, version, &protocols, origin.as_deref(), ca.as_deref()) {
        eprintln!("client: {e}");
        std::process::exit(1);
    }
}

/// What the main thread, which owns the writer, waits for: one channel carries it all, so the
/// client sleeps until something happens.
enum Input {
    /// A line of stdin.
    Line(String),
    /// The end of stdin.
    StdinEnd,
    /// What a message the reader read obliges the writer to send (a pong, the close reply).
    Owed(Owed),
    /// The reader printed the close: the connection is over.
    Closed,
    /// The reader failed.
    Failed(Error),
}

fn run(
    url: &str,
    version: Version,
    protocols: &[String],
    origin: Option<&str>,
    ca: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let parsed = WsUrl::parse(url)?;
    // Read before connecting: a missing or empty file is the user's error, not the server's.
    let tls_config = if parsed.secure {
        Some(tls::client_config(ca, tls::HTTP1)?)
    } else {
        None
    };
    let stream = TcpStream::connect((parsed.host, parsed.port))?;
    stream.set_nodelay(true)?;
    let protocol_refs: Vec<&str> = protocols.iter().map(String::as_str).collect();
    let mut request = ClientRequest::from_url(&parsed)
        .version(version)
        .protocols(&protocol_refs);
    if let Some(origin) = origin {
        request = request.origin(origin);
    }
    let mut config = Config::default();
    config.close_timeout = Some(CLOSE_TIMEOUT_US);
    config.secure = parsed.secure;
    // The blocking driver waits in the socket's read: the handshake's timeout is the socket's,
    // and covers the TLS handshake too.
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    if let Some(tls_config) = tls_config {
        let stream = tls::connect(&tls_config, parsed.host, stream)?;
        let (mut ws, chosen) = WebSocket::connect(stream, &request, config)?;
        ws.get_mut().sock.set_read_timeout(Some(TLS_POLL))?;
        if let Some(p) = chosen {
            eprintln!("client: subprotocol {p}");
        }
        return run_tls(ws, &read_stdin().1, version);
    }
    let (mut ws, chosen) = WebSocket::connect(stream, &request, config)?;
    ws.get_mut().set_read_timeout(None)?;
    if let Some(p) = chosen {
        eprintln!("client: subprotocol {p}");
    }
    let (reader, mut writer) = ws.split()?;

    let (inputs_tx, inputs) = read_stdin();
    std::thread::spawn(move || read_messages(reader, &inputs_tx));

    // Only our close's timer runs: until then the wait has no timeout.
    let mut wait = None;
    loop {
        let input = match wait {
            Some(after) => match inputs.recv_timeout(after) {
                Ok(input) => Some(input),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match inputs.recv() {
                Ok(input) => Some(input),
                Err(_) => break,
            },
        };
        match input {
            None => {}
            // Lines that arrive after the server closed have nowhere to go.
            Some(Input::Line(line)) if writer.sender().state() == State::Open => {
                writer.send_text(&line)?
            }
            Some(Input::Line(_)) => {}
            Some(Input::StdinEnd) if writer.sender().state() == State::Open => {
                writer.close(None, "")?;
                if version == Version::Hixie75 {
                    // hixie-75 closes with the transport: our end of stream, then theirs.
                    writer.get_mut().shutdown(Shutdown::Write)?;
                }
            }
            Some(Input::StdinEnd) => {}
            Some(Input::Owed(owed)) => writer.handle_owed(owed)?,
            Some(Input::Closed) => return Ok(()),
            Some(Input::Failed(e)) => return Err(e.into()),
        }
        let timers = writer.handle_timeout()?;
        if timers.close_timed_out {
            // The server never answered our close: the reader sees the end of the stream and
            // reports the close.
            writer.get_mut().shutdown(Shutdown::Both)?;
        }
        wait = timers.next;
    }
    Err("the reader stopped without a close".into())
}

/// The stdin thread: each line, then the end, on the channel returned (its sender too, for
/// the reader thread).
fn read_stdin() -> (mpsc::Sender<Input>, mpsc::Receiver<Input>) {
    let (inputs_tx, inputs) = mpsc::channel();
    let lines_tx = inputs_tx.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(Input::Line(line)).is_err() {
                return;
            }
        }
        let _ = lines_tx.send(Input::StdinEnd);
    });
    (inputs_tx, inputs)
}

/// Prints a message as a line; `true` for the close, the last.
fn print_message(stdout: &mut impl Write, message: &Message) -> std::io::Result<bool> {
    match message {
        Message::Text(text) => writeln!(stdout, "{text}")?,
        Message::Binary(data) => writeln!(stdout, "<binary {} bytes>", data.len())?,
        Message::Close { code, reason, .. } => {
            match code {
                Some(code) if reason.is_empty() => writeln!(stdout, "closed {code}")?,
                Some(code) => writeln!(stdout, "closed {code} {reason}")?,
                None => writeln!(stdout, "closed")?,
            }
            stdout.flush()?;
            return Ok(true);
        }
        _ => return Ok(false),
    }
    stdout.flush()?;
    Ok(false)
}

/// The reader thread: prints each message as it arrives and sends what it owes the writer.
fn read_messages(mut reader: Reader<TcpStream>, inputs: &mpsc::Sender<Input>) {
    let mut stdout = std::io::stdout().lock();
    loop {
        let message = reader.read();
        // Sent ahead of `Closed`: the close reply must go out before the main thread exits.
        if let Some(owed) = reader.take_owed() {
            let _ = inputs.send(Input::Owed(owed));
        }
        let input = match message.map(|m| print_message(&mut stdout, &m)) {
            Ok(Ok(false)) => continue,
            Ok(Ok(true)) => Input::Closed,
            Ok(Err(e)) => Input::Failed(e.into()),
            Err(e) => Input::Failed(e),
        };
        let _ = inputs.send(input);
        return;
    }
}

/// The client over TLS, on one thread. A TLS session is one state machine: its records are
/// numbered and its reads may have to write (a key update, an alert), so unlike a
/// `TcpStream` it cannot be cloned into a reader blocked in `read` and a writer beside it.
/// Sharing it behind a lock would have the writer wait for the blocked reader, and a wrapper
/// that reads the socket outside the lock would be a TLS driver of its own. So the thread
/// alternates: it reads with the socket's read timeout ([`TLS_POLL`]; the driver resumes a
/// read that timed out, and rustls keeps a record it got part of), then sends what stdin
/// brought meanwhile. Lines wait at most that long, at the cost of a wakeup per interval
/// while nothing happens. The close timeout is the driver's: it reports 1006 from `read`.
fn run_tls(
    mut ws: WebSocket<tls::ClientStream, OsEntropy>,
    inputs: &mpsc::Receiver<Input>,
    version: Version,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut stdout = std::io::stdout().lock();
    loop {
        loop {
            let open = ws.connection().state() == State::Open;
            match inputs.try_recv() {
                Ok(Input::Line(line)) if open => ws.send_text(&line)?,
                Ok(Input::StdinEnd) if open => {
                    ws.close(None, "")?;
                    if version == Version::Hixie75 {
                        // hixie-75 closes with the transport: TLS's end of stream, then TCP's.
                        let stream = ws.get_mut();
                        stream.conn.send_close_notify();
                        stream.flush()?;
                        stream.sock.shutdown(Shutdown::Write)?;
                    }
                }
                Ok(_) => {}
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        match ws.read() {
            Ok(message) => {
                if print_message(&mut stdout, &message)? {
                    return Ok(());
                }
            }
            Err(Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
