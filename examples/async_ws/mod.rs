//! An async driver over `futures-io`'s `AsyncRead + AsyncWrite`, a thin layer on the step
//! every driver shares ([`wsmachine::drive`]).
//!
//! The smol examples use it, and so can any runtime whose streams implement those two traits
//! (async-std directly, tokio through `tokio-util`'s `compat` adapters): nothing here names a
//! runtime, a timer or an executor. It owns a stream and a connection over growable buffers
//! and hands out the shared owned [`Message`]s.
//!
//! [`AsyncWebSocket::read`] is cancel-safe: a message taken from the connection is kept until
//! it is returned, and bytes count as read or written only once the stream said so. That is
//! what lets a caller race `read` against its own input (stdin lines, a channel, a timer)
//! without losing anything. A caller that uses the connection's timers (keepalive, close
//! timeout) races `read` against a timer set for [`AsyncWebSocket::next_deadline`].
//!
//! Under load it follows the shared step: everything one read delivered is handed out before
//! the stream is touched again, automatic answers and [`AsyncWebSocket::queue_text`] output
//! go out in one write when more input is needed, a stream that was emptied is waited on
//! ([`Transport::poll_readable`]) rather than read again at once, and after a
//! [`Budget`]'s worth of events or bytes the turn ends at the next read boundary (so it may
//! overshoot by one read's events): the task waits for its stream's readiness, or yields, so
//! that other connections on the same executor get their turn. Ending a turn only there, with
//! every event read handed out and answered, is what keeps that wait from holding up a peer
//! that waits for answers.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use wsmachine::blocking::Error;
use wsmachine::drive::{Answered, Budget, Decision, Message, Step, Transfer};
use wsmachine::{
    ClientRequest, CloseCode, Config, Connection, Entropy, Event, KeySource, NoEntropy, Owed,
    Receiver, Request, Role, Sender, UsageError, Version,
};

/// Queued output at which the driver writes at once (bytes): a bound on what a connection
/// holds for a peer that sends faster than it reads.
const QUEUE_LIMIT: usize = 64 * 1024;

/// The stream under a WebSocket: an async byte stream that may also say when it is readable.
///
/// A stream that can (a reactor-registered socket such as `async_io::Async<TcpStream>`, or
/// tokio's `TcpStream` through its `poll_read_ready`) lets the driver wait for bytes instead
/// of making a read that finds none after every batch. The default is ready at once: the read
/// itself then waits.
pub trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// Ready when a read would find bytes, the end of the stream, or an error.
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }
}

/// A stream whose writes fail once they have made no progress for a while: a peer that stops
/// reading then cannot hold its task and buffers for ever (the async counterpart of a
/// blocking socket's write timeout). The timer is the runtime's: `sleep` makes one future
/// that ends after the given time (`smol::Timer::after`, or `tokio::time::sleep` boxed).
pub struct WriteDeadline<T, S> {
    io: T,
    timeout: Duration,
    sleep: fn(Duration) -> S,
    /// Running while a write waits for the peer to take bytes.
    stalled: Option<S>,
}

impl<T, S> WriteDeadline<T, S> {
    /// `io`, whose writes fail after `timeout` without progress.
    pub fn new(io: T, timeout: Duration, sleep: fn(Duration) -> S) -> Self {
        WriteDeadline {
            io,
            timeout,
            sleep,
            stalled: None,
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncRead + Unpin, S: Unpin> AsyncRead for WriteDeadline<T, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin, S: Future + Unpin> AsyncWrite for WriteDeadline<T, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progress(cx, written)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progress(cx, written)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

impl<T, S: Future + Unpin> WriteDeadline<T, S> {
    /// A write's outcome: progress stops the timer; no progress starts it, and fails the write
    /// once it has run out.
    fn progress(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let this = self;
        if let Poll::Ready(result) = written {
            this.stalled = None;
            return Poll::Ready(result);
        }
        let (sleep, timeout) = (this.sleep, this.timeout);
        let timer = this.stalled.get_or_insert_with(|| sleep(timeout));
        match Pin::new(timer).poll(cx) {
            // Not `TimedOut`: the driver reads that as "try again later".
            Poll::Ready(_) => Poll::Ready(Err(io::Error::other(format!(
                "the peer took no bytes for {} ms",
                timeout.as_millis()
            )))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: Transport, S: Future + Unpin> Transport for WriteDeadline<T, S> {
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_readable(cx)
    }
}

/// A WebSocket over an async stream.
pub struct AsyncWebSocket<T, R: KeySource = NoEntropy> {
    stream: T,
    conn: Connection<Vec<u8>, R>,
    started: Instant,
    /// A message taken from the connection and not yet returned: a cancelled flush before it
    /// is handed out must not lose it.
    ready: Option<Message>,
    /// This connection's turn on the executor.
    budget: Budget,
}

impl<T: Transport> AsyncWebSocket<T, NoEntropy> {
    /// Reads a request from `stream` and answers it as `decide` says. A plain HTTP request (no
    /// upgrade) is passed to `decide` too, and can only be answered with
    /// [`Decision::Respond`]. The answer is sent before this returns.
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] when `decide` answered with a response (the stream is then closed),
    /// [`Error::WebSocket`] for a failed handshake (its answer sent), [`Error::Io`].
    pub async fn accept_with(
        stream: T,
        config: Config,
        decide: impl FnOnce(&Request<'_>) -> Decision,
    ) -> Result<Self, Error> {
        let mut ws = AsyncWebSocket {
            stream,
            conn: Connection::server(config),
            started: Instant::now(),
            ready: None,
            budget: Budget::default(),
        };
        let decision = loop {
            match ws.conn.step() {
                Ok(Step::Event(_)) => {}
                Ok(step @ (Step::Read | Step::Wait)) => {
                    let wait = matches!(step, Step::Wait);
                    ws.read_more(wait).await?;
                    continue;
                }
                Ok(Step::Closed) => return Err(wsmachine::Error::from(UsageError::Closed).into()),
                Err(e) => {
                    // A bad request: its HTTP answer is queued.
                    let _ = ws.flush().await;
                    return Err(e.into());
                }
            }
            if let Some(request) = ws.conn.request() {
                break decide(&request);
            }
        };
        let answered = decision.apply(&mut ws.conn);
        ws.flush().await?;
        match answered? {
            Answered::Upgraded => Ok(ws),
            Answered::Responded { status } => {
                // The response ends the connection.
                let _ = ws.stream.close().await;
                Err(Error::Refused { status })
            }
        }
    }
}

impl<T: Transport, R: Entropy> AsyncWebSocket<T, R> {
    /// Sends `request` over `stream` and waits for the answer; returns the socket and the
    /// subprotocol the server chose.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] for a failed handshake, [`Error::Io`].
    pub async fn connect_with(
        stream: T,
        request: &ClientRequest<'_>,
        config: Config,
        entropy: R,
    ) -> Result<(Self, Option<String>), Error> {
        let mut ws = AsyncWebSocket {
            stream,
            conn: Connection::client(request, config, entropy)?,
            started: Instant::now(),
            ready: None,
            budget: Budget::default(),
        };
        ws.flush().await?;
        loop {
            match ws.conn.step()? {
                Step::Event(Event::Accepted(response)) => {
                    let protocol = response.protocol().map(String::from);
                    return Ok((ws, protocol));
                }
                Step::Event(_) => {}
                Step::Read => ws.read_more(false).await?,
                Step::Wait => ws.read_more(true).await?,
                Step::Closed => return Err(wsmachine::Error::from(UsageError::Closed).into()),
            }
        }
    }
}

impl<T: Transport, R: KeySource> AsyncWebSocket<T, R> {
    /// The next message. Pings are answered and queued output is written before the stream
    /// is read again, so a batch of input gets one write; the close reply is written before
    /// [`Message::Close`] returns. After it, reading fails with `UsageError::Closed`.
    /// Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] for a peer's violation (the close frame was sent; the close message
    /// follows), [`Error::Io`].
    pub async fn read(&mut self) -> Result<Message, Error> {
        loop {
            if self.ready.is_some() {
                // The close reply goes before the last message, after which the stream may
                // be dropped; other answers wait for the rest of the batch.
                if matches!(self.ready, Some(Message::Close { .. }))
                    || self.conn.pending_output().len() >= QUEUE_LIMIT
                {
                    self.flush().await?;
                }
                if let Some(message) = self.ready.take() {
                    return Ok(message);
                }
            }
            let now = self.now();
            self.conn.handle_timeout(now);
            match self.conn.step() {
                Ok(Step::Event(event)) => {
                    self.ready = Message::from_event(event, now);
                    let _ = self.budget.spend_event();
                }
                Ok(step @ (Step::Read | Step::Wait)) => {
                    let wait = matches!(step, Step::Wait);
                    self.flush().await?;
                    if self.budget.is_spent() {
                        self.end_turn().await?;
                        self.read_more(false).await?;
                    } else {
                        self.read_more(wait).await?;
                    }
                }
                Ok(Step::Closed) => {
                    self.flush().await?;
                    return Err(wsmachine::Error::from(UsageError::Closed).into());
                }
                Err(e) => {
                    let _ = self.flush().await;
                    return Err(e.into());
                }
            }
        }
    }

    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::send_text`], and [`Error::Io`].
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        self.flush().await
    }

    /// Sends a binary message. A server writes a payload of 16 KiB or more (uncompressed)
    /// from `data` itself, after its header, never copying it into the output; a send that
    /// fails or is dropped half-way copies the rest into the output, where the next flush
    /// finds it, as it finds a copied message's.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::send_binary`], and [`Error::Io`].
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        send_binary(&mut self.stream, self.conn.sender(), data).await
    }

    /// Queues a text message without writing it: it goes out with everything queued by the
    /// next [`AsyncWebSocket::flush`], send, or read that needs more input, whichever comes
    /// first, and at once when 64 KiB or more are queued. A handler that answers with
    /// `queue_text` makes one write per batch of input instead of one per message.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::send_text`], and [`Error::Io`].
    pub async fn queue_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        self.flush_over_limit().await
    }

    /// Queues a binary message without writing it; see [`AsyncWebSocket::queue_text`].
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::send_binary`], and [`Error::Io`].
    pub async fn queue_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.send_binary(data)?;
        self.flush_over_limit().await
    }

    async fn flush_over_limit(&mut self) -> Result<(), Error> {
        if self.conn.pending_output().len() >= QUEUE_LIMIT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends a ping stamped with the time; its pong's round-trip time is in milliseconds.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::ping`], and [`Error::Io`].
    pub async fn ping(&mut self) -> Result<(), Error> {
        let now = self.now();
        self.conn.handle_timeout(now);
        self.conn.ping_at(now)?;
        self.flush().await
    }

    /// Starts the closing handshake with `code` (1000 if `None`; hixie connections have no
    /// codes). Keep reading until [`Message::Close`]. On hixie-75, which closes with the
    /// transport, follow with [`AsyncWebSocket::shutdown_write`].
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::close_with`], and [`Error::Io`].
    pub async fn close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        // The close timeout counts from now, not from the last time the timers ran.
        self.conn.handle_timeout(self.now());
        match code {
            Some(code) => self.conn.close_with(code, reason)?,
            None => self.conn.close()?,
        }
        self.flush().await
    }

    /// Ends this side of the transport (`AsyncWrite::poll_close`: a TCP stream's write-side
    /// shutdown): how a hixie-75 connection closes, and the last step once closed.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub async fn shutdown_write(&mut self) -> Result<(), Error> {
        self.flush().await?;
        self.stream.close().await?;
        Ok(())
    }

    /// A WebSocket over a stream whose opening handshake was done elsewhere: an HTTP upgrade
    /// that hyper or axum answered, or an HTTP/2 stream opened with extended CONNECT
    /// (RFC 8441). `conn` comes from [`Connection::framed_server`] or [`Connection::framed`].
    pub fn from_open(stream: T, conn: Connection<Vec<u8>, R>) -> Self {
        AsyncWebSocket {
            stream,
            conn,
            started: Instant::now(),
            ready: None,
            budget: Budget::default(),
        }
    }

    /// The two halves, for two tasks: `split` divides the stream into a reading and a writing
    /// part (tokio's `TcpStream::into_split`, say). Queued output is written first, and a
    /// message read but not yet returned stays with the reader.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] from writing the queued output.
    pub async fn into_split<A, B>(
        mut self,
        split: impl FnOnce(T) -> (A, B),
    ) -> Result<(AsyncReader<A>, AsyncWriter<B, R>), Error> {
        self.flush().await?;
        let Ok((rx, tx)) = self.conn.into_split() else {
            // `accept_with`, `connect_with` and `from_open` return open connections only.
            return Err(wsmachine::Error::from(UsageError::NotOpen).into());
        };
        let (read, write) = split(self.stream);
        Ok((
            AsyncReader {
                stream: read,
                rx,
                started: self.started,
                ready: self.ready,
                budget: self.budget,
            },
            AsyncWriter {
                stream: write,
                tx,
                started: self.started,
            },
        ))
    }

    /// When the connection's timers need [`AsyncWebSocket::read`] to run again, if one runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conn
            .poll_timeout()
            .map(|ms| self.started + Duration::from_millis(ms))
    }

    /// The version spoken.
    pub fn version(&self) -> Option<Version> {
        self.conn.version()
    }

    /// The connection, for what this driver does not wrap. Its time unit is milliseconds
    /// since the socket was created.
    pub fn connection(&mut self) -> &mut Connection<Vec<u8>, R> {
        &mut self.conn
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.stream
    }

    /// Writes all queued output. Cancel-safe: output leaves the queue only once written.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], `WriteZero` when the stream takes no bytes.
    pub async fn flush(&mut self) -> Result<(), Error> {
        write_all(&mut self.stream, &mut self.conn).await
    }

    fn now(&self) -> u64 {
        elapsed_ms(self.started)
    }

    /// Ends this connection's turn, at a read boundary: every event read so far has been
    /// handed out and its answers written, so waiting for the stream's readiness keeps no peer
    /// waiting on us. (A turn that ended between events could: the peer may send nothing more
    /// until it has the answers to the events still undecoded.) The wait goes through the
    /// reactor that every connection's readiness comes from, so the connections that became
    /// ready meanwhile are served before this one again; a bare yield would not reach the
    /// reactor while this task stays runnable (smol's executor polls it only every 200 task
    /// runs). A stream that is ready at once, or has no readiness of its own, yields.
    async fn end_turn(&mut self) -> Result<(), Error> {
        let waited = Readable {
            stream: &mut self.stream,
            pended: false,
        }
        .await?;
        if !waited {
            futures_lite::future::yield_now().await;
        }
        self.budget.renew();
        Ok(())
    }

    /// Reads once into the connection, first waiting until the stream is readable when `wait`
    /// (the last read emptied it). Cancel-safe: a read that did not complete took nothing.
    async fn read_more(&mut self, wait: bool) -> Result<(), Error> {
        if wait {
            // The wait may be long: an idle connection holds no buffer memory.
            self.conn.shrink_buffers();
            let waited = Readable {
                stream: &mut self.stream,
                pended: false,
            }
            .await?;
            if waited {
                // The other tasks ran meanwhile: this is a new turn.
                self.budget.renew();
            }
        }
        read_once(&mut self.stream, &mut self.conn, &mut self.budget).await
    }
}

/// Waits for [`Transport::poll_readable`]; its output says whether it had to wait.
struct Readable<'a, T> {
    stream: &'a mut T,
    pended: bool,
}

impl<T: Transport> Future for Readable<'_, T> {
    type Output = io::Result<bool>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.stream.poll_readable(cx) {
            Poll::Ready(result) => Poll::Ready(result.map(|()| self.pended)),
            Poll::Pending => {
                self.pended = true;
                Poll::Pending
            }
        }
    }
}

/// What the example echo servers do with a connection: every text and binary message goes
/// back unchanged (queued, so that a batch of input gets one write) until the close, then the
/// stream is ended. The close, or what failed, is logged to stderr after `peer`.
pub async fn echo<T: Transport, R: KeySource>(ws: &mut AsyncWebSocket<T, R>, peer: &str) {
    loop {
        let result = match ws.read().await {
            Ok(Message::Text(text)) => ws.queue_text(&text).await,
            Ok(Message::Binary(data)) => ws.queue_binary(&data).await,
            Ok(Message::Close { code, reason, .. }) => {
                let code = code.map(|c| format!(" {c}")).unwrap_or_default();
                eprintln!("{peer}: closed{code} {reason}");
                let _ = ws.shutdown_write().await;
                return;
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            eprintln!("{peer}: {e}");
            return;
        }
    }
}

/// The reading half of a split [`AsyncWebSocket`]: messages in. What they oblige the writer
/// to send (a pong, the close reply) comes out of [`AsyncReader::take_owed`]; carry it to
/// [`AsyncWriter::handle_owed`] over whatever the two tasks share (a channel).
pub struct AsyncReader<T> {
    stream: T,
    rx: Receiver<Vec<u8>>,
    started: Instant,
    ready: Option<Message>,
    budget: Budget,
}

impl<T: AsyncRead + Unpin> AsyncReader<T> {
    /// The next message; after [`Message::Close`] it fails with `UsageError::Closed`.
    /// Cancel-safe. The stream has no readiness of its own here: after [`Step::Wait`] the read
    /// itself waits.
    ///
    /// # Errors
    ///
    /// [`Error::WebSocket`] for a peer's violation (its close frame is owed to the writer; the
    /// close message follows), [`Error::Io`].
    pub async fn read(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(message) = self.ready.take() {
                return Ok(message);
            }
            if self.budget.is_spent() {
                futures_lite::future::yield_now().await;
                self.budget.renew();
            }
            let now = elapsed_ms(self.started);
            match self.rx.step()? {
                Step::Event(event) => {
                    self.ready = Message::from_event(event, now);
                    let _ = self.budget.spend_event();
                }
                step @ (Step::Read | Step::Wait) => {
                    if matches!(step, Step::Wait) {
                        // The last read emptied the stream: the next may wait long.
                        self.rx.shrink_buffers();
                    }
                    read_once(&mut self.stream, &mut self.rx, &mut self.budget).await?
                }
                Step::Closed => return Err(wsmachine::Error::from(UsageError::Closed).into()),
            }
        }
    }

    /// What the writer is owed since the last call: give it to [`AsyncWriter::handle_owed`].
    pub fn take_owed(&mut self) -> Option<Owed> {
        self.rx.take_owed()
    }

    /// The receiving half, for what this driver does not wrap.
    pub fn receiver(&mut self) -> &mut Receiver<Vec<u8>> {
        &mut self.rx
    }
}

/// The writing half of a split [`AsyncWebSocket`]: messages out. Its time unit (pings, the
/// close timeout) is milliseconds since the socket was created.
pub struct AsyncWriter<T, R: KeySource = NoEntropy> {
    stream: T,
    tx: Sender<Vec<u8>, R>,
    started: Instant,
}

impl<T: AsyncWrite + Unpin, R: KeySource> AsyncWriter<T, R> {
    /// Sends a text message.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::send_text`], and [`Error::Io`].
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.tx.send_text(text)?;
        self.flush().await
    }

    /// Sends a binary message.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::send_binary`], and [`Error::Io`].
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        send_binary(&mut self.stream, &mut self.tx, data).await?;
        self.tx.shrink_buffers();
        Ok(())
    }

    /// Queues a text message without writing it: it goes out with the next send or
    /// [`AsyncWriter::flush`], and at once when 64 KiB or more are queued.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::send_text`], and [`Error::Io`].
    pub async fn queue_text(&mut self, text: &str) -> Result<(), Error> {
        self.tx.send_text(text)?;
        self.flush_over_limit().await
    }

    /// Queues a binary message without writing it; see [`AsyncWriter::queue_text`].
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::send_binary`], and [`Error::Io`].
    pub async fn queue_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.tx.send_binary(data)?;
        self.flush_over_limit().await
    }

    /// Sends a ping stamped with the time; the reader reports its pong's round-trip time.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::ping`], and [`Error::Io`].
    pub async fn ping(&mut self) -> Result<(), Error> {
        let now = elapsed_ms(self.started);
        self.tx.handle_timeout(now);
        self.tx.ping_at(now)?;
        self.flush().await
    }

    /// Starts the closing handshake with `code` (1000 if `None`). The reader reads on until
    /// [`Message::Close`]; its owed ending then closes this half.
    ///
    /// # Errors
    ///
    /// Those of [`wsmachine::Sender::close_with`], and [`Error::Io`].
    pub async fn close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        self.tx.handle_timeout(elapsed_ms(self.started));
        match code {
            Some(code) => self.tx.close_with(code, reason)?,
            None => self.tx.close()?,
        }
        self.flush().await
    }

    /// Queues what the reader owes (see [`AsyncReader::take_owed`]); it is written by the
    /// next flush or send. Answer a batch of owed values, then flush once.
    ///
    /// # Errors
    ///
    /// `UsageError::ForeignHalf` for another connection's owed value.
    pub fn handle_owed(&mut self, owed: Owed) -> Result<(), Error> {
        self.tx.handle_owed(owed)?;
        Ok(())
    }

    /// Ends this side of the stream (`AsyncWrite::poll_close`), after the queued output.
    ///
    /// # Errors
    ///
    /// [`Error::Io`].
    pub async fn shutdown(&mut self) -> Result<(), Error> {
        self.flush().await?;
        self.stream.close().await?;
        Ok(())
    }

    /// The sending half, for what this driver does not wrap.
    pub fn sender(&mut self) -> &mut Sender<Vec<u8>, R> {
        &mut self.tx
    }

    /// Writes all queued output. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], `WriteZero` when the stream takes no bytes.
    pub async fn flush(&mut self) -> Result<(), Error> {
        write_all(&mut self.stream, &mut self.tx).await?;
        // The writer cannot tell when its connection goes idle: it gives its buffer back
        // whenever it is emptied.
        self.tx.shrink_buffers();
        Ok(())
    }

    async fn flush_over_limit(&mut self) -> Result<(), Error> {
        if self.tx.pending_output().len() >= QUEUE_LIMIT {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Output a driver writes: a whole connection's, or a sending half's.
trait Output {
    fn pending_output(&self) -> &[u8];
    fn unwritten_payload<'a>(&self, payload: &'a [u8]) -> &'a [u8];
    fn pending_payload(&self) -> u64;
    fn handle_write(&mut self, write: Transfer) -> bool;
}

impl<R: KeySource> Output for Connection<Vec<u8>, R> {
    fn pending_output(&self) -> &[u8] {
        Connection::pending_output(self)
    }
    fn unwritten_payload<'a>(&self, payload: &'a [u8]) -> &'a [u8] {
        Connection::unwritten_payload(self, payload)
    }
    fn pending_payload(&self) -> u64 {
        Connection::pending_payload(self)
    }
    fn handle_write(&mut self, write: Transfer) -> bool {
        Connection::handle_write(self, write)
    }
}

impl<R: KeySource> Output for Sender<Vec<u8>, R> {
    fn pending_output(&self) -> &[u8] {
        Sender::pending_output(self)
    }
    fn unwritten_payload<'a>(&self, payload: &'a [u8]) -> &'a [u8] {
        Sender::unwritten_payload(self, payload)
    }
    fn pending_payload(&self) -> u64 {
        Sender::pending_payload(self)
    }
    fn handle_write(&mut self, write: Transfer) -> bool {
        Sender::handle_write(self, write)
    }
}

/// Input a driver reads into: a whole connection's, or a receiving half's.
trait Input {
    fn read_buffer(&mut self) -> &mut [u8];
    fn handle_read(&mut self, read: Transfer);
}

impl<R: KeySource> Input for Connection<Vec<u8>, R> {
    fn read_buffer(&mut self) -> &mut [u8] {
        Connection::read_buffer(self)
    }
    fn handle_read(&mut self, read: Transfer) {
        Connection::handle_read(self, read)
    }
}

impl Input for Receiver<Vec<u8>> {
    fn read_buffer(&mut self) -> &mut [u8] {
        Receiver::read_buffer(self)
    }
    fn handle_read(&mut self, read: Transfer) {
        Receiver::handle_read(self, read)
    }
}

/// Payloads from this size up (bytes) that a server sends uncompressed are written from the
/// caller's buffer with vectored writes, never copied into the output.
const IN_PLACE_MIN: usize = 16 * 1024;

/// Sends a binary message and writes it with everything queued before it; a server's large
/// payload goes from `data` to the stream with no copy
/// ([`wsmachine::Sender::send_binary_header`]).
async fn send_binary<W: AsyncWrite + Unpin, R: KeySource>(
    stream: &mut W,
    tx: &mut Sender<Vec<u8>, R>,
    data: &[u8],
) -> Result<(), Error> {
    if data.len() < IN_PLACE_MIN || tx.role() == Role::Client || tx.compresses() {
        tx.send_binary(data)?;
        return write_all(stream, tx).await;
    }
    tx.send_binary_header(data.len())?;
    // Kept until the payload is written: a write that fails half-way, or a send dropped
    // half-way, leaves the rest in the output, as a copied message's would be.
    let guard = PayloadGuard { tx, data };
    write_out(stream, &mut *guard.tx, data).await
}

/// A payload written from the caller's buffer, being written: dropped with bytes of it not
/// yet written, it copies them into the output.
struct PayloadGuard<'a, R: KeySource> {
    tx: &'a mut Sender<Vec<u8>, R>,
    data: &'a [u8],
}

impl<R: KeySource> Drop for PayloadGuard<'_, R> {
    fn drop(&mut self) {
        let rest = self.tx.unwritten_payload(self.data);
        if !rest.is_empty() {
            // Growable storage takes it unless it is 4 GiB or more; the connection is then
            // left with the payload pending, and its later sends say so.
            let _ = self.tx.queue_pending_payload(rest);
        }
    }
}

/// Writes all of `out`'s queued output. Cancel-safe: output leaves the queue only once written.
async fn write_all<W: AsyncWrite + Unpin>(
    stream: &mut W,
    out: &mut impl Output,
) -> Result<(), Error> {
    write_out(stream, out, &[]).await
}

/// [`write_all`], with the end of `payload` written right after the output before it when a
/// payload the caller writes itself is pending ([`wsmachine::Sender::send_binary_header`]):
/// both in one vectored write.
async fn write_out<W: AsyncWrite + Unpin>(
    stream: &mut W,
    out: &mut impl Output,
    payload: &[u8],
) -> Result<(), Error> {
    loop {
        let head = out.pending_output();
        let tail = out.unwritten_payload(payload);
        let result = if tail.is_empty() {
            if head.is_empty() {
                if out.pending_payload() > 0 {
                    // A payload the caller writes itself is owed and this is not it: what
                    // is queued behind it cannot go out, which must not pass for flushed.
                    return Err(wsmachine::Error::from(UsageError::PayloadPending {
                        remaining: out.pending_payload(),
                    })
                    .into());
                }
                break;
            }
            stream.write(head).await
        } else {
            let parts = [io::IoSlice::new(head), io::IoSlice::new(tail)];
            stream.write_vectored(&parts).await
        };
        let written = Transfer::from_io(result)?;
        if !out.handle_write(written) {
            return Err(io::Error::from(io::ErrorKind::WriteZero).into());
        }
        if written == Transfer::Blocked {
            // An async stream waits instead; one that reports it would make this spin.
            return Err(io::Error::from(io::ErrorKind::WouldBlock).into());
        }
    }
    stream.flush().await?;
    Ok(())
}

/// Reads once into `input`, counting the bytes against `budget`. Cancel-safe: a read that did
/// not complete took nothing.
async fn read_once<Rd: AsyncRead + Unpin>(
    stream: &mut Rd,
    input: &mut impl Input,
    budget: &mut Budget,
) -> Result<(), Error> {
    let buf = input.read_buffer();
    if buf.is_empty() {
        // The limits bound the input to the largest frame, which always fits; an empty
        // buffer means a connection built over storage smaller than its limits.
        return Err(io::Error::other("input buffer full").into());
    }
    let read = Transfer::from_io(stream.read(buf).await)?;
    input.handle_read(read);
    if let Transfer::Bytes(n) = read {
        let _ = budget.spend_bytes(n);
    }
    if read == Transfer::Blocked {
        return Err(io::Error::from(io::ErrorKind::WouldBlock).into());
    }
    Ok(())
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
