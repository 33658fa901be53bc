//! A blocking driver over `std::io::Read + Write`, built only on the public API and the
//! shared step of [`crate::drive`].
//!
//! [`WebSocket`] owns a stream and a connection over growable buffers; it reads until an event
//! is complete, hands out owned [`Message`]s, and writes the connection's output when a send
//! asks, or, for automatic answers and the `queue_*` methods, once before it reads again: one
//! write per batch of input rather than one per message. Before each read the thread yields
//! (`std::thread::yield_now`), so that threads serving many connections on few cores take
//! turns batch by batch. A read timeout set on the stream surfaces as an [`Error::Io`] of kind
//! `WouldBlock` or `TimedOut`, after which reading again resumes where it stopped.
//!
//! [`WebSocket::split`] gives a [`Reader`] and a [`Writer`] over two handles of one stream
//! (`TcpStream::try_clone`), for two threads: one blocks in [`Reader::read`] while the other
//! sends. What the reader's messages oblige the writer to send (a pong, the close reply) comes
//! out of [`Reader::take_owed`] as an [`Owed`] value; carry it to [`Writer::handle_owed`]
//! however the two threads talk (the `client` example uses the channel its writer already
//! waits on).
//!
//! ```no_run
//! use std::net::TcpStream;
//! use std::sync::mpsc;
//! use wsmachine::blocking::{Message, WebSocket};
//! use wsmachine::{ClientRequest, Config};
//!
//! # fn main() -> Result<(), wsmachine::blocking::Error> {
//! let stream = TcpStream::connect("127.0.0.1:9001")?;
//! let request = ClientRequest::new("127.0.0.1:9001", "/");
//! let (ws, _protocol) = WebSocket::connect(stream, &request, Config::default())?;
//! let (mut reader, mut writer) = ws.split()?;
//! let (owed_tx, owed_rx) = mpsc::channel();
//! std::thread::spawn(move || loop {
//!     let message = reader.read();
//!     if let Some(owed) = reader.take_owed() {
//!         let _ = owed_tx.send(owed);
//!     }
//!     match message {
//!         Ok(Message::Text(text)) => println!("{text}"),
//!         Ok(Message::Close { .. }) | Err(_) => break,
//!         Ok(_) => {}
//!     }
//! });
//! writer.send_text("hello")?;
//! while let Ok(owed) = owed_rx.recv() {
//!     writer.handle_owed(owed)?; // pongs, and the close reply at the end
//! }
//! # Ok(()) }
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::string::String;
use std::time::{Duration, Instant};
use std::vec::Vec;

use crate::connection::RecvHalf;
use crate::drive::{Answered, Step, Transfer};
use crate::handshake::{ClientRequest, Request};
use crate::{
    CloseCode, Config, Connection, Entropy, KeySource, NoEntropy, OsEntropy, Owed, Receiver,
    Sender, Storage, UsageError, Version,
};

pub use crate::drive::{Decision, Message};

/// What the driver can fail with.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The stream failed.
    Io(io::Error),
    /// The protocol failed (the connection queued and sent its answer).
    WebSocket(crate::Error),
    /// The application answered the request with this status instead of upgrading (the
    /// response was sent): its own choice, not a failed handshake.
    Refused {
        /// The status answered with.
        status: u16,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::WebSocket(e) => e.fmt(f),
            Error::Refused { status } => write!(f, "request answered with status {status}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::WebSocket(e) => Some(e),
            Error::Refused { .. } => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error::WebSocket(e)
    }
}

impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::WebSocket(e.into())
    }
}

/// A WebSocket over a blocking stream. Its time unit is microseconds since it was created:
/// the round-trip times of [`Message::Pong`] and the connection's timers ([`Config`]) are in
/// microseconds. `Config::handshake_timeout` bounds the whole opening handshake once a read
/// returns (set a read timeout on the stream too, so that a silent peer's read returns).
pub struct WebSocket<T, R: KeySource = NoEntropy> {
    stream: T,
    conn: Connection<Vec<u8>, R>,
    started: Instant,
}

impl<T: Read + Write> WebSocket<T, NoEntropy> {
    /// Reads a request from `stream` and accepts it, whatever its version, with no subprotocol.
    ///
    /// # Errors
    ///
    /// Those of [`WebSocket::accept_with`].
    pub fn accept(stream: T, config: Config) -> Result<Self, Error> {
        Self::accept_with(stream, config, |_| Decision::accept())
    }

    /// Reads a request from `stream` and answers it as `decide` says. A plain HTTP request (no
    /// upgrade) is passed to `decide` too; accepting it fails with `NoPendingRequest`.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] when `decide` answered with a response (sent), [`Error::WebSocket`]
    /// for a failed handshake (its answer sent), [`Error::Io`].
    pub fn accept_with(
        stream: T,
        config: Config,
        decide: impl FnOnce(&Request<'_>) -> Decision,
    ) -> Result<Self, Error> {
        let mut ws = WebSocket {
            stream,
            conn: Connection::server(config),
            started: Instant::now(),
        };
        let decision = loop {
            // `Config::handshake_timeout` counts in this driver's unit, microseconds.
            ws.conn.handle_timeout(elapsed_us(ws.started));
            let step = ws.conn.step();
            match step {
                Ok(Step::Event(_)) => {}
                Ok(Step::Read | Step::Wait) => {
                    ws.read_more()?;
                    continue;
                }
                Ok(Step::Closed) => return Err(crate::Error::from(UsageError::Closed).into()),
                Err(e) => {
                    ws.flush()?;
                    return Err(e.into());
                }
            }
            if let Some(request) = ws.conn.request() {
                break decide(&request);
            }
        };
        let answered = decision.apply(&mut ws.conn);
        ws.flush()?;
        match answered? {
            Answered::Upgraded => Ok(ws),
            Answered::Responded { status } => Err(Error::Refused { status }),
        }
    }
}

impl<T: Read + Write> WebSocket<T, OsEntropy> {
    /// Sends `request` over `stream` and waits for the answer; returns the socket and the
    /// subprotocol the server chose.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] for a failed handshake, [`Error::Io`].
    pub fn connect(
        stream: T,
        request: &ClientRequest<'_>,
        config: Config,
    ) -> Result<(Self, Option<String>), Error> {
        Self::connect_with(stream, request, config, OsEntropy::new())
    }
}

impl<T: Read + Write, R: Entropy> WebSocket<T, R> {
    /// [`WebSocket::connect`] with a chosen source of randomness.
    ///
    /// # Errors
    ///
    /// Those of [`WebSocket::connect`].
    pub fn connect_with(
        stream: T,
        request: &ClientRequest<'_>,
        config: Config,
        entropy: R,
    ) -> Result<(Self, Option<String>), Error> {
        let mut ws = WebSocket {
            stream,
            conn: Connection::client(request, config, entropy)?,
            started: Instant::now(),
        };
        ws.flush()?;
        loop {
            ws.conn.handle_timeout(elapsed_us(ws.started));
            match ws.conn.step()? {
                Step::Event(crate::Event::Accepted(response)) => {
                    let protocol = response.protocol().map(String::from);
                    return Ok((ws, protocol));
                }
                Step::Event(_) => {}
                Step::Read | Step::Wait => ws.read_more()?,
                Step::Closed => return Err(crate::Error::from(UsageError::Closed).into()),
            }
        }
    }
}

impl<T: Read + Write, R: KeySource> WebSocket<T, R> {
    /// The next message. Pings are answered and queued output is written before the stream
    /// is read again, so a batch of input gets one write; the close reply is written before
    /// [`Message::Close`] returns. After it, reading fails with `UsageError::Closed`.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] for a peer's violation (the close frame was sent; the close message
    /// follows), [`Error::Io`].
    pub fn read(&mut self) -> Result<Message, Error> {
        loop {
            let now = elapsed_us(self.started);
            self.conn.handle_timeout(now);
            let message = match self.conn.step() {
                Ok(Step::Event(event)) => Message::from_event(event, now),
                Ok(step @ (Step::Read | Step::Wait)) => {
                    let wait = matches!(step, Step::Wait);
                    self.flush()?;
                    if wait {
                        // The last read emptied the stream, so this one may wait long: an
                        // idle connection holds no buffer memory.
                        self.conn.shrink_buffers();
                    }
                    self.read_more()?;
                    continue;
                }
                Ok(Step::Closed) => {
                    self.flush()?;
                    return Err(crate::Error::from(UsageError::Closed).into());
                }
                Err(e) => {
                    let _ = self.flush();
                    return Err(e.into());
                }
            };
            // Answers wait for the rest of the batch, so that one write carries them all; the
            // close reply goes before the last message, after which the stream may be dropped.
            if matches!(message, Some(Message::Close { .. }))
                || self.conn.pending_output().len() >= QUEUE_LIMIT
            {
                self.flush()?;
            }
            if let Some(message) = message {
                return Ok(message);
            }
        }
    }

    /// Queues a text message without writing it: it goes out with everything queued by the
    /// next [`WebSocket::flush`], send, or read that needs more input, whichever comes first,
    /// and at once when 64 KiB or more are queued. An echo or request handler that answers
    /// with `queue_text` makes one write per batch of input instead of one per message.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::send_text`], and [`Error::Io`].
    pub fn queue_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        self.flush_over_limit()
    }

    /// Queues a binary message without writing it; see [`WebSocket::queue_text`].
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::send_binary`], and [`Error::Io`].
    pub fn queue_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.send_binary(data)?;
        self.flush_over_limit()
    }

    fn flush_over_limit(&mut self) -> Result<(), Error> {
        if self.conn.pending_output().len() >= QUEUE_LIMIT {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::send_text`], and [`Error::Io`].
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        self.flush()
    }

    /// Sends a binary message.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::send_binary`], and [`Error::Io`].
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        let (_, tx) = self.conn.halves();
        send_binary(&mut self.stream, tx, data)
    }

    /// Sends a ping stamped with the time; its pong's round-trip time is in microseconds.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::ping`], and [`Error::Io`].
    pub fn ping(&mut self) -> Result<(), Error> {
        self.conn.ping_at(elapsed_us(self.started))?;
        self.flush()
    }

    /// Starts the closing handshake with `code` (1000 if `None`; hixie connections have no
    /// codes). Keep reading until [`Message::Close`].
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::close_with`], and [`Error::Io`].
    pub fn close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        // The close timeout counts from now.
        self.conn.handle_timeout(elapsed_us(self.started));
        match code {
            Some(code) => self.conn.close_with(code, reason)?,
            None => self.conn.close()?,
        }
        self.flush()
    }

    /// The version spoken.
    pub fn version(&self) -> Option<Version> {
        self.conn.version()
    }

    /// The connection, for what this driver does not wrap.
    pub fn connection(&mut self) -> &mut Connection<Vec<u8>, R> {
        &mut self.conn
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.stream
    }

    /// Writes all queued output.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], `WriteZero` when the stream takes no bytes.
    pub fn flush(&mut self) -> Result<(), Error> {
        let (_, tx) = self.conn.halves();
        write_all(&mut self.stream, tx)
    }

    /// Reads once into the connection.
    fn read_more(&mut self) -> Result<(), Error> {
        let (rx, _) = self.conn.halves();
        read_once(&mut self.stream, rx)
    }

    /// The halves over two handles of one stream: `writer` is the second (for a `TcpStream`,
    /// [`WebSocket::split`] makes it). Queued output is written first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] from writing the queued output; `UsageError::NotOpen` before the
    /// handshake completed (cannot happen once `accept` or `connect` returned).
    pub fn split_with<W: Write>(mut self, writer: W) -> Result<(Reader<T>, Writer<W, R>), Error> {
        self.flush()?;
        let (rx, tx) = self
            .conn
            .into_split()
            .map_err(|_| Error::from(UsageError::NotOpen))?;
        let started = self.started;
        Ok((
            Reader {
                stream: self.stream,
                rx,
                started,
            },
            Writer {
                stream: writer,
                tx,
                started,
            },
        ))
    }

    /// Joins a reader and a writer of one connection again (the reader's stream is kept).
    ///
    /// # Errors
    ///
    /// [`UsageError::ForeignHalf`] (both halves dropped) when they belong to different
    /// connections.
    pub fn join<W>(reader: Reader<T>, writer: Writer<W, R>) -> Result<Self, Error> {
        let conn = Connection::join(reader.rx, writer.tx)
            .map_err(|_| Error::from(UsageError::ForeignHalf))?;
        Ok(WebSocket {
            stream: reader.stream,
            conn,
            started: reader.started,
        })
    }
}

impl<R: KeySource> WebSocket<TcpStream, R> {
    /// [`WebSocket::split_with`] over a clone of the socket (`TcpStream::try_clone`).
    ///
    /// # Errors
    ///
    /// Those of [`WebSocket::split_with`], and the clone's.
    pub fn split(self) -> Result<(Reader<TcpStream>, Writer<TcpStream, R>), Error> {
        let writer = self.stream.try_clone()?;
        self.split_with(writer)
    }
}

/// What [`Writer::handle_timeout`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timers {
    /// Our close went unanswered for the close timeout: the writer is closed; shut the stream
    /// down, and the reader reports the close (1006) at the end of its input.
    pub close_timed_out: bool,
    /// How long until the timers want to run again, if one runs.
    pub next: Option<Duration>,
}

/// The reading half of a split [`WebSocket`]: messages in.
pub struct Reader<T> {
    stream: T,
    rx: Receiver<Vec<u8>>,
    started: Instant,
}

impl<T: Read> Reader<T> {
    /// The next message. What it obliges the writer to send is kept for
    /// [`Reader::take_owed`]. After [`Message::Close`] it fails with `UsageError::Closed`.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] for a peer's violation (its close frame is owed to the writer; the
    /// close message follows), [`Error::Io`].
    pub fn read(&mut self) -> Result<Message, Error> {
        loop {
            let now = elapsed_us(self.started);
            match self.rx.step()? {
                Step::Event(event) => {
                    if let Some(message) = Message::from_event(event, now) {
                        return Ok(message);
                    }
                }
                step @ (Step::Read | Step::Wait) => {
                    if matches!(step, Step::Wait) {
                        // The last read emptied the stream: the next may wait long.
                        self.rx.half.shrink_buffers();
                    }
                    read_once(&mut self.stream, &mut self.rx.half)?
                }
                Step::Closed => return Err(crate::Error::from(UsageError::Closed).into()),
            }
        }
    }

    /// What the writer is owed since the last call: give it to [`Writer::handle_owed`].
    pub fn take_owed(&mut self) -> Option<Owed> {
        self.rx.take_owed()
    }

    /// The receiving half, for what this driver does not wrap.
    pub fn receiver(&mut self) -> &mut Receiver<Vec<u8>> {
        &mut self.rx
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.stream
    }
}

/// The writing half of a split [`WebSocket`]: messages out, written as they are sent.
pub struct Writer<T, R: KeySource = NoEntropy> {
    stream: T,
    tx: Sender<Vec<u8>, R>,
    started: Instant,
}

impl<T: Write, R: KeySource> Writer<T, R> {
    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::send_text`], and [`Error::Io`].
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.tx.send_text(text)?;
        self.flush()
    }

    /// Sends a binary message.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::send_binary`], and [`Error::Io`].
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        send_binary(&mut self.stream, &mut self.tx, data)?;
        self.tx.shrink_buffers();
        Ok(())
    }

    /// Sends a ping stamped with the time (microseconds since the socket was created); the
    /// reader reports its pong's round-trip time.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::ping`], and [`Error::Io`].
    pub fn ping(&mut self) -> Result<(), Error> {
        self.tx.ping_at(elapsed_us(self.started))?;
        self.flush()
    }

    /// Queues a text message without writing it: it goes out with the next send or
    /// [`Writer::flush`], and at once when 64 KiB or more are queued.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::send_text`], and [`Error::Io`].
    pub fn queue_text(&mut self, text: &str) -> Result<(), Error> {
        self.tx.send_text(text)?;
        self.flush_over_limit()
    }

    /// Queues a binary message without writing it; see [`Writer::queue_text`].
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::send_binary`], and [`Error::Io`].
    pub fn queue_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.tx.send_binary(data)?;
        self.flush_over_limit()
    }

    fn flush_over_limit(&mut self) -> Result<(), Error> {
        if self.tx.pending_output().len() >= QUEUE_LIMIT {
            self.flush()?;
        }
        Ok(())
    }

    /// Starts the closing handshake with `code` (1000 if `None`). The reader reads on until
    /// [`Message::Close`]; its owed ending then closes this half.
    ///
    /// # Errors
    ///
    /// Those of [`crate::Sender::close_with`], and [`Error::Io`].
    pub fn close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        // The close timeout counts from now.
        self.tx.handle_timeout(elapsed_us(self.started));
        match code {
            Some(code) => self.tx.close_with(code, reason)?,
            None => self.tx.close()?,
        }
        self.flush()
    }

    /// Sends what the reader owes (see [`Reader::take_owed`]) and writes it out.
    ///
    /// # Errors
    ///
    /// [`UsageError::ForeignHalf`] for another connection's owed value, [`Error::Io`].
    pub fn handle_owed(&mut self, owed: Owed) -> Result<(), Error> {
        self.tx.handle_owed(owed)?;
        self.flush()
    }

    /// Runs the sending half's timers (keepalive ping, close timeout) at the current time and
    /// writes what they queued.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub fn handle_timeout(&mut self) -> Result<Timers, Error> {
        let now = elapsed_us(self.started);
        let close_timed_out = self.tx.handle_timeout(now);
        self.flush()?;
        let next = self
            .tx
            .poll_timeout()
            .map(|at| Duration::from_micros(at.saturating_sub(now)));
        Ok(Timers {
            close_timed_out,
            next,
        })
    }

    /// The sending half, for what this driver does not wrap.
    pub fn sender(&mut self) -> &mut Sender<Vec<u8>, R> {
        &mut self.tx
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.stream
    }

    /// Writes all queued output.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], `WriteZero` when the stream takes no bytes.
    pub fn flush(&mut self) -> Result<(), Error> {
        write_all(&mut self.stream, &mut self.tx)?;
        // The writer cannot tell when its connection goes idle: it gives its buffer back
        // whenever it is emptied.
        self.tx.shrink_buffers();
        Ok(())
    }
}

/// Queued output at which the `queue_*` methods write at once (bytes): a bound on what a
/// connection holds for a peer that sends faster than it reads.
const QUEUE_LIMIT: usize = 64 * 1024;

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Payloads from this size up (bytes) that a server sends uncompressed are written from the
/// caller's buffer, after their header, with vectored writes: never copied into the output.
const IN_PLACE_MIN: usize = 16 * 1024;

/// Sends a binary message and writes it with everything queued before it. A large payload of
/// a server goes from `data` to the stream with no copy ([`Sender::send_binary_header`]); a
/// write that fails or times out half-way leaves the rest in the output, as for any message.
fn send_binary<T: Write, S: Storage, R: KeySource>(
    stream: &mut T,
    tx: &mut Sender<S, R>,
    data: &[u8],
) -> Result<(), Error> {
    if data.len() < IN_PLACE_MIN || tx.role() == crate::Role::Client || tx.compresses() {
        tx.send_binary(data)?;
        return write_all(stream, tx);
    }
    tx.send_binary_header(data.len())?;
    let result = write_out(stream, tx, data);
    let rest = tx.unwritten_payload(data);
    if !rest.is_empty() {
        // The write failed or timed out half-way: the rest of the payload is kept in the
        // output, as a copied message's would be, so that a later flush finishes it.
        tx.queue_pending_payload(rest)?;
    }
    result
}

/// Writes a sending half's whole output to a blocking stream.
fn write_all<T: Write, S: Storage, R: KeySource>(
    stream: &mut T,
    tx: &mut Sender<S, R>,
) -> Result<(), Error> {
    write_out(stream, tx, &[])
}

/// [`write_all`], with the end of `payload` written right after the output before it when a
/// payload the caller writes itself is pending ([`Sender::send_binary_header`]): both in one
/// vectored write.
fn write_out<T: Write, S: Storage, R: KeySource>(
    stream: &mut T,
    tx: &mut Sender<S, R>,
    payload: &[u8],
) -> Result<(), Error> {
    loop {
        let head = tx.pending_output();
        let tail = tx.unwritten_payload(payload);
        let result = if tail.is_empty() {
            if head.is_empty() {
                if tx.pending_payload() > 0 {
                    // A payload the caller writes itself is owed and this is not it: what
                    // is queued behind it cannot go out, which must not pass for flushed.
                    return Err(crate::Error::from(crate::UsageError::PayloadPending {
                        remaining: tx.pending_payload(),
                    })
                    .into());
                }
                break;
            }
            stream.write(head)
        } else {
            stream.write_vectored(&[io::IoSlice::new(head), io::IoSlice::new(tail)])
        };
        let written = Transfer::from_io(result)?;
        if !tx.handle_write(written) {
            return Err(io::Error::from(io::ErrorKind::WriteZero).into());
        }
        if written == Transfer::Blocked {
            // A write timeout: report it rather than spin.
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "write timed out: the peer took no bytes",
            )
            .into());
        }
    }
    stream.flush()?;
    Ok(())
}

/// Reads once from a blocking stream into a receiving half. A read timeout is reported as an
/// `Error::Io` of kind `WouldBlock`, after which reading again resumes.
///
/// The thread yields before each read: with a thread per connection sharing a core, the
/// threads then take turns batch by batch instead of in scheduler slices, and a connection's
/// next read finds a larger batch. With nothing else runnable the yield returns at once.
fn read_once<T: Read, S: Storage>(stream: &mut T, rx: &mut RecvHalf<S>) -> Result<(), Error> {
    std::thread::yield_now();
    let read = Transfer::from_io(stream.read(rx.read_buffer()))?;
    rx.handle_read(read);
    if read == Transfer::Blocked {
        return Err(io::Error::from(io::ErrorKind::WouldBlock).into());
    }
    Ok(())
}
