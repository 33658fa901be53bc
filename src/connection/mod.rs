//! The public [`Connection`]: the state machine `Handshaking -> Open -> Closing -> Closed`.
//!
//! A connection is two halves with separate buffers. The [`Receiver`] owns the input and yields
//! events that borrow it; the [`Sender`] owns the output and the connection's state. Automatic
//! answers (pongs, the close reply, a failed handshake's status) go from one half to the other
//! during [`Receiver::poll_event`], which is handed the sender, not through a shared lock.
//! [`Connection::split`] gives both halves at once, so an event can be answered while it is
//! borrowed:
//!
//! ```
//! # use wsmachine::{Connection, Config, Event};
//! # fn echo(conn: &mut Connection<Vec<u8>>) -> Result<(), wsmachine::Error> {
//! let (rx, tx) = conn.split();
//! while let Some(event) = rx.poll_event(tx)? {
//!     match event {
//!         Event::Text(text) => tx.send_text(text)?,
//!         Event::Binary(data) => tx.send_binary(data)?,
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

mod receiver;
mod sender;

pub use receiver::Receiver;
pub use sender::Sender;

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::buffer::Storage;
use crate::close::CloseCode;
use crate::entropy::{Entropy, NoEntropy};
use crate::error::{Error, UsageError};
use crate::event::Event;
use crate::handshake::{client, server, Accept, ClientRequest, Request};
use crate::limits::Limits;
use crate::version::Version;

/// Which end of the connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Accepts requests; sends unmasked frames and requires masked ones.
    Server,
    /// Sends the request; masks its frames (RFC 6455 §5.3).
    Client,
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// The opening handshake is in progress.
    Handshaking,
    /// Messages flow both ways.
    Open,
    /// This end sent its close and waits for the peer's. On hixie-75, which closes with the
    /// transport, shut the transport's write side down once the output is sent.
    Closing,
    /// Nothing more will be sent or delivered: send the pending output and close the transport.
    Closed,
}

/// How a connection behaves: its limits, timers and delivery mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// The bounds on what the peer can make the connection hold.
    pub limits: Limits,
    /// Deliver the frames of fragmented messages as [`Event::Fragment`]s as they complete,
    /// instead of reassembling them (messages that arrive in one frame still come whole).
    /// Needed without `alloc` unless the connection has message storage.
    pub stream_fragments: bool,
    /// Send a ping when this much time (in the caller's unit of `now`) has passed since the
    /// connection opened or since the last keepalive ping (hybi only).
    pub keepalive_interval: Option<u64>,
    /// After sending a close, wait this long for the peer's answer before reporting the
    /// connection closed (code 1006).
    pub close_timeout: Option<u64>,
    /// Whether the transport is TLS: hixie handshakes name `wss://` in their location header.
    pub secure: bool,
}

impl Config {
    /// Default limits, whole messages, no timers.
    pub const fn new() -> Self {
        Config {
            limits: Limits::new(),
            stream_fragments: false,
            keepalive_interval: None,
            close_timeout: None,
            secure: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`Config`] as a connection keeps it: limits as 32-bit numbers and timers with a sentinel
/// for "none", which saves 40 bytes on every connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    limits: [u32; 6],
    /// `u64::MAX` for none.
    keepalive_interval: u64,
    /// `u64::MAX` for none.
    close_timeout: u64,
    pub(crate) stream_fragments: bool,
    pub(crate) secure: bool,
}

impl Settings {
    pub(crate) fn new(config: Config) -> Self {
        let l = config.limits;
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Settings {
            limits: [
                small(l.max_handshake_bytes),
                small(l.max_headers),
                small(l.max_frame_payload),
                small(l.max_message_size),
                small(l.max_hixie_frame),
                small(l.max_queued_output),
            ],
            keepalive_interval: config.keepalive_interval.unwrap_or(u64::MAX),
            close_timeout: config.close_timeout.unwrap_or(u64::MAX),
            stream_fragments: config.stream_fragments,
            secure: config.secure,
        }
    }

    #[inline]
    pub(crate) fn limits(&self) -> Limits {
        let [handshake, headers, frame, message, hixie, output] = self.limits.map(|n| n as usize);
        Limits {
            max_handshake_bytes: handshake,
            max_headers: headers,
            max_frame_payload: frame,
            max_message_size: message,
            max_hixie_frame: hixie,
            max_queued_output: output,
        }
    }

    /// [`Limits::max_queued_output`] alone: every send reads it, and building the whole
    /// [`Limits`] for one field is left to the optimiser otherwise.
    #[inline(always)]
    pub(crate) fn max_queued_output(&self) -> usize {
        self.limits[5] as usize
    }

    pub(crate) fn keepalive_interval(&self) -> Option<u64> {
        (self.keepalive_interval != u64::MAX).then_some(self.keepalive_interval)
    }

    pub(crate) fn close_timeout(&self) -> Option<u64> {
        (self.close_timeout != u64::MAX).then_some(self.close_timeout)
    }

    pub(crate) fn config(&self) -> Config {
        Config {
            limits: self.limits(),
            stream_fragments: self.stream_fragments,
            keepalive_interval: self.keepalive_interval(),
            close_timeout: self.close_timeout(),
            secure: self.secure,
        }
    }
}

/// The storage of a connection: input, output, and message reassembly.
#[derive(Debug)]
pub struct Buffers<S> {
    /// Received bytes; must hold the largest frame accepted.
    pub input: S,
    /// Bytes to send.
    pub output: S,
    /// Reassembled fragmented messages (unused when fragments are streamed).
    pub message: S,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Phase {
    ServerReading,
    ServerDeciding(server::Parsed),
    ClientWaiting(client::Expectation),
    Open,
    Closed,
}

/// The close event still to be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CloseReport {
    pub(crate) code: Option<CloseCode>,
    pub(crate) clean: bool,
}

/// A WebSocket connection of either role and any version, with no I/O inside.
///
/// # Call order
///
/// Drive it with whatever I/O you have, in this order, every time something happens:
///
/// 1. [`handle_timeout(now)`](Self::handle_timeout) when time has advanced (at least when the
///    deadline from step 5 has passed);
/// 2. give it the bytes that arrived: [`receive`](Self::receive), or
///    [`read_buffer`](Self::read_buffer) then [`commit_read`](Self::commit_read); at the end of
///    the stream, [`handle_eof`](Self::handle_eof);
/// 3. [`poll_event`](Self::poll_event) until it returns `None`, acting on each event (answer a
///    request with [`accept`](Self::accept) or [`respond`](Self::respond), send messages);
/// 4. send [`pending_output`](Self::pending_output) and [`consume_output`](Self::consume_output)
///    what was sent;
/// 5. wait for input or until [`poll_timeout`](Self::poll_timeout).
///
/// When [`state`](Self::state) is [`State::Closed`] and the close event was polled, send the
/// remaining output and close the transport.
///
/// Pings are answered with pongs automatically, and a peer's close frame with the close reply.
pub struct Connection<S: Storage, R: Entropy = NoEntropy> {
    rx: Receiver<S>,
    tx: Sender<S, R>,
}

#[cfg(feature = "alloc")]
impl Connection<Vec<u8>, NoEntropy> {
    /// A server connection over growable buffers, waiting for a request.
    pub fn server(config: Config) -> Self {
        Self::server_with(config, Buffers::default())
    }
}

#[cfg(feature = "alloc")]
impl<R: Entropy> Connection<Vec<u8>, R> {
    /// A client connection over growable buffers; the request is queued as output.
    pub fn client(request: &ClientRequest<'_>, config: Config, entropy: R) -> Result<Self, Error> {
        Self::client_with(request, config, Buffers::default(), entropy)
    }

    /// A connection whose HTTP upgrade was done elsewhere (hyper, axum, HTTP/2 extended
    /// CONNECT): open from the start, framing only.
    pub fn framed(role: Role, version: Version, config: Config, entropy: R) -> Self {
        Self::framed_with(role, version, config, Buffers::default(), entropy)
    }
}

#[cfg(feature = "alloc")]
impl Default for Buffers<Vec<u8>> {
    fn default() -> Self {
        Buffers {
            input: Vec::new(),
            output: Vec::new(),
            message: Vec::new(),
        }
    }
}

impl<S: Storage> Connection<S, NoEntropy> {
    /// A server connection over the given storage, waiting for a request.
    pub fn server_with(config: Config, buffers: Buffers<S>) -> Self {
        Connection {
            rx: Receiver::new(buffers.input, buffers.message),
            tx: Sender::new(
                buffers.output,
                NoEntropy,
                config,
                Role::Server,
                Phase::ServerReading,
            ),
        }
    }
}

impl<S: Storage, R: Entropy> Connection<S, R> {
    /// A client connection over the given storage; the request is queued as output. Fails if
    /// the request has unsafe header values or does not fit the output.
    pub fn client_with(
        request: &ClientRequest<'_>,
        config: Config,
        buffers: Buffers<S>,
        entropy: R,
    ) -> Result<Self, Error> {
        // Closed until the request is queued: a request that does not fit yields no connection.
        let mut tx = Sender::new(buffers.output, entropy, config, Role::Client, Phase::Closed);
        let max = tx.config.max_queued_output();
        let expect = client::write_request(&mut tx.output, max, request, &mut tx.entropy)?;
        tx.await_answer(expect, request.version);
        Ok(Connection {
            rx: Receiver::new(buffers.input, buffers.message),
            tx,
        })
    }

    /// A connection of `role` speaking `version` over the given storage, open from the start.
    pub fn framed_with(
        role: Role,
        version: Version,
        config: Config,
        buffers: Buffers<S>,
        entropy: R,
    ) -> Self {
        let mut tx = Sender::new(buffers.output, entropy, config, role, Phase::Open);
        let decoder = tx.open(version);
        let mut rx = Receiver::new(buffers.input, buffers.message);
        rx.decoder = Some(decoder);
        Connection { rx, tx }
    }

    /// Both halves at once: events from the receiving half can be answered on the sending half
    /// while they are borrowed.
    pub fn split(&mut self) -> (&mut Receiver<S>, &mut Sender<S, R>) {
        (&mut self.rx, &mut self.tx)
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut Sender<S, R> {
        &mut self.tx
    }

    // Input.

    /// Takes bytes from the peer; see [`Receiver::receive`].
    pub fn receive(&mut self, data: &[u8]) -> usize {
        self.rx.receive(data, &self.tx)
    }

    /// Free input space to read into; see [`Receiver::read_buffer`].
    pub fn read_buffer(&mut self) -> &mut [u8] {
        self.rx.read_buffer(&self.tx)
    }

    /// Marks `n` bytes of [`Connection::read_buffer`] as received.
    pub fn commit_read(&mut self, n: usize) {
        self.rx.commit_read(n, &self.tx)
    }

    /// The transport ended: no more input will come.
    pub fn handle_eof(&mut self) {
        self.rx.handle_eof()
    }

    /// Time is now `now` (in a unit the caller chooses, used for every timer): runs the close
    /// timeout and the keepalive ping, and stamps pings for round-trip times.
    pub fn handle_timeout(&mut self, now: u64) {
        self.tx.advance(now)
    }

    // Events.

    /// The next event; see [`Receiver::poll_event`].
    #[must_use = "events must be handled, and polling drives automatic answers"]
    #[inline]
    pub fn poll_event(&mut self) -> Result<Option<Event<'_>>, Error> {
        self.rx.poll_event(&mut self.tx)
    }

    // Handshake answers (server).

    /// The request awaiting [`accept`](Self::accept) or [`respond`](Self::respond).
    pub fn request(&self) -> Option<Request<'_>> {
        match self.tx.phase {
            Phase::ServerDeciding(parsed) => Some(server::view(self.rx.input.data(), parsed)),
            _ => None,
        }
    }

    /// Accepts the upgrade request: queues the version's 101 answer and opens the connection.
    pub fn accept(&mut self, accept: Accept<'_>) -> Result<(), Error> {
        let Phase::ServerDeciding(parsed) = self.tx.phase else {
            return Err(UsageError::NoPendingRequest.into());
        };
        let Some(version) = parsed.version else {
            return Err(UsageError::NoPendingRequest.into());
        };
        let request = server::view(self.rx.input.data(), parsed);
        let secure = self.tx.config.secure;
        let max = self.tx.config.max_queued_output();
        server::write_accept(&mut self.tx.output, max, &request, &accept, secure)?;
        self.rx.input.consume(parsed.head_len + parsed.body_len);
        self.rx.decoder = Some(self.tx.open(version));
        Ok(())
    }

    /// Answers the pending request (an upgrade to refuse, or a plain HTTP request) with a
    /// complete HTTP response, `Connection: close`; the connection is then closed.
    pub fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Error> {
        let Phase::ServerDeciding(parsed) = self.tx.phase else {
            return Err(UsageError::NoPendingRequest.into());
        };
        let max = self.tx.config.max_queued_output();
        server::write_response(&mut self.tx.output, max, status, headers, body)?;
        self.rx.input.consume(parsed.head_len + parsed.body_len);
        self.tx.shut();
        Ok(())
    }

    /// Bytes received and not consumed, the pending request's included: what a server that
    /// takes a plain HTTP request's stream back must read first.
    pub fn buffered_input(&self) -> &[u8] {
        self.rx.buffered_input()
    }

    // Commands.

    /// Sends a text message; see [`Sender::send_text`].
    #[inline(always)]
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.tx.send_text(text)
    }

    /// Sends a binary message; see [`Sender::send_binary`].
    #[inline(always)]
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.tx.send_binary(data)
    }

    /// Sends a fragment; see [`Sender::send_fragment`].
    pub fn send_fragment(
        &mut self,
        data: &[u8],
        is_text: bool,
        is_final: bool,
    ) -> Result<(), Error> {
        self.tx.send_fragment(data, is_text, is_final)
    }

    /// Sends a ping; see [`Sender::ping`].
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.tx.ping(payload)
    }

    /// Closes with 1000; see [`Sender::close`].
    pub fn close(&mut self) -> Result<(), Error> {
        self.tx.close()
    }

    /// Closes with a code and reason; see [`Sender::close_with`].
    pub fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.tx.close_with(code, reason)
    }

    // Output and timers.

    /// The bytes to send.
    pub fn pending_output(&self) -> &[u8] {
        self.tx.pending_output()
    }

    /// Drops the first `n` bytes of the output, once sent.
    pub fn consume_output(&mut self, n: usize) {
        self.tx.consume_output(n)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if a timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        match (self.tx.keepalive_at.get(), self.tx.close_deadline.get()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // Getters.

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.tx.state()
    }

    /// The version spoken, once known (a server learns it from the request).
    pub fn version(&self) -> Option<Version> {
        self.tx.version()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.tx.role()
    }

    /// The configuration (limits above 4 GiB - 1 read back as 4 GiB - 1).
    pub fn config(&self) -> Config {
        self.tx.config.config()
    }

    /// Bytes of storage the connection holds now (input, output and message buffers).
    pub fn buffered_capacity(&self) -> usize {
        self.rx.input.capacity() + self.tx.output.capacity() + self.rx.assembly.capacity()
    }
}

impl<S: Storage, R: Entropy> core::fmt::Debug for Connection<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("tx", &self.tx)
            .field("rx", &self.rx)
            .finish()
    }
}

// What only the fuzz targets (fuzz/) use: built with `--cfg fuzzing`, never in the public API.
mod fuzzing {
    #[cfg(fuzzing)]
    impl<S: super::Storage, R: super::Entropy> super::Connection<S, R> {
        /// Bytes held by the input, output and message buffers, in that order, so that each
        /// can be checked against its own limit.
        #[doc(hidden)]
        pub fn buffer_capacities(&self) -> [usize; 3] {
            [
                self.rx.input.capacity(),
                self.tx.output.capacity(),
                self.rx.assembly.capacity(),
            ]
        }
    }
}
