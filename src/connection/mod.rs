//! The public [`Connection`] and its two halves, [`Receiver`] and [`Sender`]; every state
//! transition is in `state.rs`. The rules between the halves are in the crate docs
//! ("Two halves").

mod receiver;
mod sender;
mod state;

pub use receiver::Receiver;
pub(crate) use receiver::RecvHalf;
pub use sender::Sender;
pub use state::Owed;
pub(crate) use state::{Extensions, NO_EXTENSIONS};

use sender::Expired;
use state::{RecvState, SendState};

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::buffer::Storage;
use crate::close::CloseCode;
use crate::entropy::{Entropy, KeySource, NoEntropy};
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
    /// Fail the opening handshake if it has not completed this long after the connection's
    /// first [`Connection::handle_timeout`] (call it once when the connection is made: the
    /// connection cannot know the caller's clock before): a server answers
    /// `408 Request Timeout`, and either role reports [`crate::HandshakeError::TimedOut`].
    /// Without it a peer sending one byte at a time holds a connection for as long as its
    /// handshake limit lasts.
    pub handshake_timeout: Option<u64>,
    /// Whether the transport is TLS: hixie handshakes name `wss://` in their location header.
    pub secure: bool,
    /// permessage-deflate (RFC 7692): what a client offers, or a server accepts, on hybi
    /// connections; none (the default) to neither offer nor accept it.
    #[cfg(feature = "deflate")]
    pub deflate: Option<crate::deflate::DeflateConfig>,
}

impl Config {
    /// Default limits, whole messages, no timers.
    pub const fn new() -> Self {
        Config {
            limits: Limits::new(),
            stream_fragments: false,
            keepalive_interval: None,
            close_timeout: None,
            handshake_timeout: None,
            secure: false,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new()
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

/// A WebSocket connection of either role and any version, with no I/O inside: the
/// [`Receiver`] and the [`Sender`] joined, handing what one owes the other over by itself.
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
/// 3. [`poll_event`](Self::poll_event) (or
///    [`poll_event_with_sender`](Self::poll_event_with_sender)) until it returns `None`,
///    acting on each event (answer a request with [`accept`](Self::accept) or
///    [`respond`](Self::respond), send messages);
/// 4. send [`pending_output`](Self::pending_output) and [`consume_output`](Self::consume_output)
///    what was sent;
/// 5. wait for input or until [`poll_timeout`](Self::poll_timeout); before a wait that may be
///    long (the transport had no more bytes), [`shrink_buffers`](Self::shrink_buffers).
///
/// When [`state`](Self::state) is [`State::Closed`] and the close event was polled, send the
/// remaining output and close the transport.
///
/// Pings are answered with pongs automatically, and a peer's close frame with the close reply.
pub struct Connection<S: Storage, R: KeySource = NoEntropy> {
    rx: RecvHalf<S>,
    tx: Sender<S, R>,
}

/// Halves that belong to different connections, given back unchanged by [`Connection::join`].
pub struct JoinError<S: Storage, R: KeySource> {
    /// The receiving half given.
    pub receiver: Receiver<S>,
    /// The sending half given.
    pub sender: Sender<S, R>,
}

impl<S: Storage, R: KeySource> core::fmt::Debug for JoinError<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("JoinError")
    }
}

impl<S: Storage, R: KeySource> core::fmt::Display for JoinError<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the two halves belong to different connections")
    }
}

#[cfg(feature = "alloc")]
impl Connection<Vec<u8>, NoEntropy> {
    /// A server connection over growable buffers, waiting for a request.
    pub fn server(config: Config) -> Self {
        Self::server_with(config, Buffers::default())
    }

    /// A server connection whose HTTP upgrade was done elsewhere (hyper, axum, HTTP/2
    /// extended CONNECT): open from the start, framing only.
    pub fn framed_server(version: Version, config: Config) -> Self {
        Self::framed_server_with(version, config, Buffers::default())
    }
}

#[cfg(feature = "alloc")]
impl<R: Entropy> Connection<Vec<u8>, R> {
    /// A client connection over growable buffers; the request is queued as output.
    ///
    /// # Errors
    ///
    /// [`UsageError::InvalidHeader`] for a request with unsafe header values, and
    /// [`UsageError::OutputFull`] if it does not fit the output.
    pub fn client(request: &ClientRequest<'_>, config: Config, entropy: R) -> Result<Self, Error> {
        Self::client_with(request, config, Buffers::default(), entropy)
    }

    /// A connection of either role whose HTTP upgrade was done elsewhere: open from the start,
    /// framing only. A client masks its frames with keys from `entropy`.
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
        Self::new(
            Role::Server,
            RecvState::ServerReading,
            config,
            buffers,
            NoEntropy,
        )
    }

    /// `Connection::framed_server` over the given storage.
    pub fn framed_server_with(version: Version, config: Config, buffers: Buffers<S>) -> Self {
        Self::opened(Role::Server, version, config, buffers, NoEntropy)
    }
}

impl<S: Storage, R: Entropy> Connection<S, R> {
    /// A client connection over the given storage; the request is queued as output.
    ///
    /// # Errors
    ///
    /// Those of `Connection::client`: [`UsageError::InvalidHeader`] for a request with unsafe
    /// header values, and [`UsageError::OutputFull`] if it does not fit the output.
    pub fn client_with(
        request: &ClientRequest<'_>,
        config: Config,
        buffers: Buffers<S>,
        entropy: R,
    ) -> Result<Self, Error> {
        // Closed until the request is queued: a request that does not fit yields no connection.
        let closed = RecvState::Closed {
            version: None,
            report: None,
            timed_out: false,
        };
        let mut conn = Self::new(Role::Client, closed, config, buffers, entropy);
        let tx = &mut conn.tx;
        let max = tx.settings.max_queued_output as usize;
        #[cfg(feature = "deflate")]
        let offer = config
            .deflate
            .filter(|_| !request.version.is_hixie())
            .map(|deflate| {
                let mut offer = alloc::string::String::new();
                crate::deflate::negotiate::write_offer(&deflate, &mut offer);
                offer
            });
        #[cfg(feature = "deflate")]
        let offer = offer.as_deref();
        #[cfg(not(feature = "deflate"))]
        let offer = None;
        let expect = client::write_request(&mut tx.output, max, request, offer, &mut tx.entropy)?;
        conn.rx.state = RecvState::ClientWaiting {
            version: request.version,
            expect,
        };
        Ok(conn)
    }

    /// `Connection::framed` over the given storage.
    pub fn framed_with(
        role: Role,
        version: Version,
        config: Config,
        buffers: Buffers<S>,
        entropy: R,
    ) -> Self {
        Self::opened(role, version, config, buffers, entropy)
    }
}

impl<S: Storage, R: KeySource> Connection<S, R> {
    fn new(role: Role, state: RecvState, config: Config, buffers: Buffers<S>, entropy: R) -> Self {
        let pair = state::next_pair();
        Connection {
            rx: RecvHalf::new(buffers.input, buffers.message, &config, role, state, pair),
            tx: Sender::new(buffers.output, entropy, &config, role, pair),
        }
    }

    fn opened(
        role: Role,
        version: Version,
        config: Config,
        buffers: Buffers<S>,
        entropy: R,
    ) -> Self {
        let state = RecvState::Open {
            version,
            decoder: crate::framing::Decoder::for_version(version),
        };
        let mut conn = Self::new(role, state, config, buffers, entropy);
        conn.tx.open(version, state::NO_EXTENSIONS);
        conn
    }

    /// The two halves, owned, to go to two threads or tasks (see the module docs for the
    /// rules between them). Anything owed is handed over first.
    ///
    /// # Errors
    ///
    /// The connection itself, unchanged, while the handshake is in progress: the handshake
    /// reads and writes in turn, so it runs on the joined connection.
    // The connection is given back whole, unboxed: no allocation without `alloc`.
    #[allow(clippy::result_large_err)]
    pub fn into_split(self) -> Result<(Receiver<S>, Sender<S, R>), Self> {
        if self.rx.state.is_handshaking() || self.tx.state == SendState::Handshaking {
            return Err(self);
        }
        let owed = state::Owed::none(self.rx.pair);
        Ok((
            Receiver {
                half: self.rx,
                owed,
            },
            self.tx,
        ))
    }

    /// Joins the halves of one connection again, handing over what the receiving half owes.
    ///
    /// # Errors
    ///
    /// [`JoinError`], with both halves unchanged, when they belong to different connections.
    // The halves are given back whole, unboxed: no allocation without `alloc`.
    #[allow(clippy::result_large_err)]
    pub fn join(receiver: Receiver<S>, sender: Sender<S, R>) -> Result<Self, JoinError<S, R>> {
        if receiver.half.pair != sender.pair {
            return Err(JoinError { receiver, sender });
        }
        let Receiver { half, owed } = receiver;
        let mut conn = Connection {
            rx: half,
            tx: sender,
        };
        // The halves are of this connection.
        let _ = conn.tx.handle_owed(owed);
        // A sending half closed by its close timeout while apart: what a joined connection's
        // own timeout does to its receiving half, done now.
        if conn.tx.state() == State::Closed && conn.rx.state() == State::Open {
            conn.rx.abort(&mut conn.tx);
        }
        Ok(conn)
    }

    /// Runs permessage-deflate with parameters agreed by a handshake done elsewhere (hyper,
    /// axum, an HTTP/2 extended CONNECT stream), for a connection made with
    /// [`Connection::framed`] or [`Connection::framed_server`]: the server side of that
    /// handshake is [`crate::deflate::negotiate::accept_offers`], whose response goes in the
    /// 101's `Sec-WebSocket-Extensions`. The level and threshold are [`Config::deflate`]'s
    /// ([`crate::deflate::DeflateConfig::new`] when it has none). Call it before any message.
    ///
    /// # Errors
    ///
    /// [`UsageError::Unsupported`] on hixie, which has no extensions;
    /// [`UsageError::NotOpen`] once a message was sent or received, or when compression is
    /// already on.
    #[cfg(feature = "deflate")]
    pub fn use_deflate(&mut self, params: crate::deflate::DeflateParams) -> Result<(), UsageError> {
        let Some(version) = self.rx.version() else {
            return Err(UsageError::NotOpen);
        };
        if version.is_hixie() {
            return Err(UsageError::Unsupported {
                what: "extensions",
                version,
            });
        }
        let untouched = self.rx.inflater.is_none()
            && self.rx.input.is_empty()
            && self.rx.assembly.in_progress().is_none()
            && self.tx.output.is_empty()
            && matches!(self.tx.state, SendState::Open { .. });
        if !untouched || !matches!(self.rx.state, RecvState::Open { .. }) {
            return Err(UsageError::NotOpen);
        }
        let config = self.rx.settings.deflate.unwrap_or_default();
        let extensions = Some((params, config));
        self.rx.start_extensions(extensions);
        self.tx.start_extensions(extensions);
        Ok(())
    }

    /// The sending half, for what only it does ([`Sender::pong`], [`Sender::ping_at`]).
    pub fn sender(&mut self) -> &mut Sender<S, R> {
        &mut self.tx
    }

    /// Both halves, borrowed.
    pub(crate) fn halves(&mut self) -> (&mut RecvHalf<S>, &mut Sender<S, R>) {
        (&mut self.rx, &mut self.tx)
    }

    // Input.

    /// Takes bytes from the peer; see [`Receiver::receive`].
    pub fn receive(&mut self, data: &[u8]) -> usize {
        self.rx.receive(data)
    }

    /// Free input space to read into; see [`Receiver::read_buffer`].
    pub fn read_buffer(&mut self) -> &mut [u8] {
        self.rx.read_buffer()
    }

    /// Marks `n` bytes of [`Connection::read_buffer`] as received.
    pub fn commit_read(&mut self, n: usize) {
        self.rx.commit_read(n)
    }

    /// Gives back the memory of every buffer that holds nothing: input, output and message
    /// reassembly (growable storage only; fixed buffers keep theirs). Buffers keep their
    /// memory between reads and sends, so that a busy connection allocates (and zero-fills) a
    /// buffer once, not once per batch; call this when the connection goes idle, before
    /// waiting for the transport to become readable after it had no more bytes. Then an idle
    /// connection over `Vec<u8>` holds no heap memory (`buffered_capacity()` is 0). It ends the
    /// borrow of the last event polled, as the next poll would. Costs one check per buffer
    /// when there is nothing to give back.
    pub fn shrink_buffers(&mut self) {
        self.rx.shrink_buffers();
        self.tx.shrink_buffers();
    }

    /// The transport ended: no more input will come; see [`Receiver::handle_eof`].
    pub fn handle_eof(&mut self) {
        self.rx.handle_eof()
    }

    /// Time is now `now` (in a unit the caller chooses, used for every timer): runs the
    /// handshake timeout (after which the next poll reports
    /// [`crate::HandshakeError::TimedOut`]), the keepalive ping and the close timeout (after
    /// which the close event reports 1006). The handshake is timed from the first call.
    pub fn handle_timeout(&mut self, now: u64) {
        match self.tx.advance(now) {
            Expired::Nothing => {}
            Expired::Close => self.rx.abort(&mut self.tx),
            Expired::Handshake => self.rx.handshake_timed_out(&mut self.tx),
        }
    }

    // Events.

    /// The next event, or `None` until more input arrives; automatic answers (pongs, the
    /// close reply, a bad request's status) are queued on the way. See
    /// [`Receiver::poll_event`].
    ///
    /// # Errors
    ///
    /// Those of [`Receiver::poll_event`].
    #[must_use = "events must be handled, and polling drives automatic answers"]
    #[inline(always)]
    pub fn poll_event(&mut self) -> Result<Option<Event<'_>>, Error> {
        self.rx.poll(&mut self.tx)
    }

    /// [`Connection::poll_event`], with the sending half beside the event: a message can be
    /// answered (echoed, say) while it is still borrowed, without a copy.
    ///
    /// # Errors
    ///
    /// Those of [`Receiver::poll_event`].
    #[allow(clippy::type_complexity)]
    #[inline(always)]
    pub fn poll_event_with_sender(
        &mut self,
    ) -> Result<Option<(Event<'_>, &mut Sender<S, R>)>, Error> {
        let tx = &mut self.tx;
        match self.rx.poll(tx) {
            Ok(Some(event)) => Ok(Some((event, tx))),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // Handshake answers (server).

    /// The request awaiting [`accept`](Self::accept) or [`respond`](Self::respond).
    pub fn request(&self) -> Option<Request<'_>> {
        match self.rx.state {
            RecvState::ServerDeciding(parsed) => Some(parsed.request(self.rx.input.data())),
            _ => None,
        }
    }

    /// Accepts the upgrade request: queues the version's 101 answer and opens the connection.
    ///
    /// # Errors
    ///
    /// [`UsageError::NoPendingRequest`] without an upgrade request to answer,
    /// [`UsageError::ProtocolNotOffered`], [`UsageError::InvalidHeader`],
    /// [`UsageError::OutputFull`]; nothing changes then.
    pub fn accept(&mut self, accept: Accept<'_>) -> Result<(), Error> {
        let RecvState::ServerDeciding(parsed) = self.rx.state else {
            return Err(UsageError::NoPendingRequest.into());
        };
        let secure = self.tx.settings.secure;
        let max = self.tx.settings.max_queued_output as usize;
        let input = self.rx.input.data();
        // permessage-deflate, when configured and offered (RFC 7692 §5): the first offer we
        // can honour.
        #[cfg(feature = "deflate")]
        let agreement = match (self.rx.settings.deflate, parsed.version) {
            (Some(config), Some(version)) if !version.is_hixie() => {
                let offers = parsed.request(input).extensions();
                crate::deflate::negotiate::accept_offers(offers, &config)
                    .map(|agreement| (agreement, config))
            }
            _ => None,
        };
        #[cfg(feature = "deflate")]
        let (response, extensions) = match &agreement {
            Some((agreement, config)) => (
                Some(agreement.response.as_str()),
                Some((agreement.params, *config)),
            ),
            None => (None, None),
        };
        #[cfg(not(feature = "deflate"))]
        let (response, extensions) = (None, Extensions);
        server::write_accept(
            &mut self.tx.output,
            max,
            input,
            parsed,
            &accept,
            response,
            secure,
        )?;
        self.rx
            .input
            .consume(parsed.head_len as usize + usize::from(parsed.body_len));
        if let Some(version) = self.rx.state.open() {
            self.rx.start_extensions(extensions);
            self.tx.open(version, extensions);
        }
        Ok(())
    }

    /// Answers the pending request (an upgrade to refuse, or a plain HTTP request) with a
    /// complete HTTP response, `Connection: close`; the connection is then closed.
    ///
    /// # Errors
    ///
    /// [`UsageError::NoPendingRequest`], [`UsageError::InvalidHeader`] (also for a status
    /// outside 100-999), [`UsageError::OutputFull`]; nothing changes then.
    pub fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), Error> {
        let RecvState::ServerDeciding(parsed) = self.rx.state else {
            return Err(UsageError::NoPendingRequest.into());
        };
        let max = self.tx.settings.max_queued_output as usize;
        server::write_response(&mut self.tx.output, max, status, headers, body)?;
        self.rx
            .input
            .consume(parsed.head_len as usize + usize::from(parsed.body_len));
        if let Some(end) = self.rx.state.handshake_ended(None) {
            self.tx.end(end);
        }
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

    /// Sends a binary message whose payload the caller writes itself; see
    /// [`Sender::send_binary_header`].
    pub fn send_binary_header(&mut self, len: usize) -> Result<(), Error> {
        self.tx.send_binary_header(len)
    }

    /// Bytes of the caller-written payload still to be written; see
    /// [`Sender::pending_payload`].
    pub fn pending_payload(&self) -> u64 {
        self.tx.pending_payload()
    }

    /// The end of a caller-written payload still to be written; see
    /// [`Sender::unwritten_payload`].
    pub fn unwritten_payload<'a>(&self, payload: &'a [u8]) -> &'a [u8] {
        self.tx.unwritten_payload(payload)
    }

    /// Copies the rest of a caller-written payload into the output; see
    /// [`Sender::queue_pending_payload`].
    pub fn queue_pending_payload(&mut self, rest: &[u8]) -> Result<(), UsageError> {
        self.tx.queue_pending_payload(rest)
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

    /// Sends a ping stamped with `now`, whose pong reports its round-trip time; see
    /// [`Sender::ping_at`].
    pub fn ping_at(&mut self, now: u64) -> Result<(), Error> {
        self.tx.ping_at(now)
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
        self.tx.poll_timeout()
    }

    // Getters.

    /// Where the connection is in its life: handshaking until both directions opened,
    /// `Closing` once our close was sent, `Closed` once the receiving direction ended.
    pub fn state(&self) -> State {
        match (self.rx.state(), self.tx.state()) {
            (State::Handshaking, _) | (_, State::Handshaking) => State::Handshaking,
            (State::Closed, _) | (_, State::Closed) => State::Closed,
            (_, State::Closing) => State::Closing,
            _ => State::Open,
        }
    }

    /// The version spoken, once known (a server learns it from the request).
    pub fn version(&self) -> Option<Version> {
        self.rx.version()
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.tx.role()
    }

    /// The configuration (limits above 4 GiB - 1 read back as 4 GiB - 1).
    pub fn config(&self) -> Config {
        let tx = &self.tx.settings;
        let mut limits = self.rx.settings.limits();
        limits.max_queued_output = tx.max_queued_output as usize;
        Config {
            limits,
            stream_fragments: self.rx.settings.stream_fragments,
            keepalive_interval: tx.keepalive_interval(),
            close_timeout: tx.close_timeout(),
            handshake_timeout: tx.handshake_timeout(),
            secure: tx.secure,
            #[cfg(feature = "deflate")]
            deflate: self.rx.settings.deflate,
        }
    }

    /// Bytes of storage the connection holds now (input, output and message buffers).
    pub fn buffered_capacity(&self) -> usize {
        self.rx.input.capacity() + self.tx.output.capacity() + self.rx.assembly.capacity()
    }
}

impl<S: Storage, R: KeySource> core::fmt::Debug for Connection<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("rx", &self.rx)
            .field("tx", &self.tx)
            .finish()
    }
}

// What only the fuzz targets (fuzz/) use: built with `--cfg fuzzing`, never in the public API.
mod fuzzing {
    #[cfg(fuzzing)]
    impl<S: super::Storage, R: super::KeySource> super::Connection<S, R> {
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

    #[cfg(fuzzing)]
    impl<S: super::Storage> super::Receiver<S> {
        /// Bytes held by the input and message buffers, in that order.
        #[doc(hidden)]
        pub fn buffer_capacities(&self) -> [usize; 2] {
            [self.half.input.capacity(), self.half.assembly.capacity()]
        }
    }

    #[cfg(fuzzing)]
    impl<S: super::Storage, R: super::KeySource> super::Sender<S, R> {
        /// Bytes held by the output buffer.
        #[doc(hidden)]
        pub fn buffer_capacity(&self) -> usize {
            self.output.capacity()
        }
    }
}
