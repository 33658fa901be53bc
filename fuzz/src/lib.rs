//! The harness the fuzz targets share: the checks of the crate's promises that every event
//! goes through ([`Watch`]), a driver around a joined [`Connection`] that makes them after
//! every call ([`Peer`]), an independent reader of the frames a connection writes
//! ([`Audit`]), and the helpers the targets build inputs with.
//!
//! What [`Watch`] checks on every poll, whatever is polled (a [`Connection`], a [`Receiver`]
//! on its own, or a receiver with its sender):
//! - the close event comes at most once, only for a connection that opened, and nothing (no
//!   event, no error) comes after it; a closed connection that opened has delivered it;
//! - errors are the documented ones: a server's handshake failures carry a status (but the end
//!   of the stream) and never a client's kinds, protocol errors come only after the handshake
//!   (with a close code on hybi, none on hixie), `InvalidCompressedData` only with
//!   permessage-deflate agreed, usage errors never come from a poll, and after any error the
//!   receiving side is closed;
//! - a hybi client opens with a `Sec-WebSocket-Extensions` answer only when it offered
//!   permessage-deflate, and only with one that [`DeflateAnswer`] reads as valid;
//! - events fit their limits and their version (hixie has no binary, ping, pong or codes); a
//!   pong that carries a send time carries it in its payload, the time of the stamped ping it
//!   answers, and its round trip is measured from it;
//! - polling ends: a side never reports forever without consuming input.
//!
//! What [`Peer`] adds on every step:
//! - memory: each buffer stays within the bound its [`Limits`] imply (see [`Bounds`]; the
//!   halves of a split connection: [`check_split_memory`]);
//! - a server answers a `Sec-WebSocket-Extensions` only when configured, never on hixie, with
//!   an answer [`DeflateAnswer`] reads as valid;
//! - input is never refused while nothing can be reported (no livelock on a full buffer).
//!
//! What [`Audit`] checks of the bytes a connection writes once open: every frame is
//! well-formed for the version and the role (reserved bits clear, known opcodes, minimal
//! lengths, masked exactly when a client sends, control frames final and at most 125 bytes,
//! close codes that may be sent), continuations only inside a fragmented message and no new
//! message inside one, at most one close frame and nothing after it but pongs (RFC 6455
//! §5.5.2: pings are answered until the peer's close arrives), and no frame cut short once all
//! the output was taken. With permessage-deflate agreed (RFC 7692), RSV1 only on the first
//! frame of a data message, and each compressed message inflated by a decoder of its own
//! ([`inflate`]): it inflates completely, and every back-reference stays within the window the
//! writer agreed to and within what the reader holds (the messages before it only with context
//! takeover).

use std::collections::HashMap;

pub mod inflate;

use wsmachine::{
    deflate::{DeflateConfig, DeflateParams},
    drive::Message,
    handshake::Accept,
    CloseCode, Connection, Entropy, Error, Event, HandshakeError, KeySource, Limits, NoEntropy,
    ProtocolError, Receiver, Role, Sender, State, UsageError, Version,
};

/// A small deterministic generator: chunk sizes, masking keys and handshake keys.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Never zero, or xorshift stays at zero.
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `1..=max` (`max` at least 1).
    pub fn chunk(&mut self, max: usize) -> usize {
        1 + (self.next_u64() as usize) % max.max(1)
    }
}

impl Entropy for Rng {
    fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
}

/// The entropy every client in the targets uses, so that a seed can carry the exact answer
/// (accept key, hixie-76 challenge answer) that the client expects.
pub fn client_entropy() -> Rng {
    Rng::new(0x5EED)
}

pub const VERSIONS: [Version; 5] = Version::ALL;

/// The limits used where the bytes do not choose them: small, so that they are reached.
pub fn small_limits() -> Limits {
    let mut l = Limits::new();
    l.max_handshake_bytes = 1024;
    l.max_headers = 16;
    l.max_frame_payload = 300;
    l.max_message_size = 600;
    l.max_hixie_frame = 300;
    l.max_queued_output = 2048;
    l
}

/// Limits chosen by one byte: each field picked from a few sizes, some below the size of a
/// frame header or a handshake, so that every limit is reached.
pub fn limits_from(b: u8) -> Limits {
    const SIZES: [usize; 4] = [0, 20, 200, 1200];
    let mut l = Limits::new();
    l.max_handshake_bytes = [160, 400, 1024, 4096][usize::from(b & 3)];
    l.max_headers = [4, 8, 16, 64][usize::from((b >> 2) & 3)];
    l.max_frame_payload = SIZES[usize::from((b >> 4) & 3)].max(8);
    l.max_message_size = SIZES[usize::from((b >> 5) & 3)].max(16);
    l.max_hixie_frame = SIZES[usize::from((b >> 6) & 3)].max(8);
    l.max_queued_output = [64, 300, 1500, 8192][usize::from((b >> 3) & 3)];
    l
}

/// The most bytes each buffer may hold, derived from what the limits document:
/// - input: one handshake head plus hixie-76's 16 answer bytes (the 8 key bytes of a request
///   are fewer), or one hybi frame with its longest header (14 bytes), or one hixie text frame
///   with its two delimiters, whichever is largest;
/// - output: `max_queued_output`;
/// - message reassembly: `max_message_size`.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub input: usize,
    pub output: usize,
    pub message: usize,
}

impl Bounds {
    pub fn of(l: &Limits) -> Self {
        let input = (l.max_handshake_bytes + 16)
            .max(l.max_frame_payload + 14)
            .max(l.max_hixie_frame + 2);
        Bounds {
            input,
            output: l.max_queued_output,
            message: l.max_message_size,
        }
    }

    pub fn total(&self) -> usize {
        self.input + self.output + self.message
    }
}

/// Each buffer of a joined connection within its bound, and their sum within the total.
pub fn check_connection_memory<R: KeySource>(conn: &Connection<Vec<u8>, R>, limits: &Limits) {
    let b = Bounds::of(limits);
    let total = conn.buffered_capacity();
    assert!(
        total <= b.total(),
        "buffers hold {total} bytes, over the {} the limits allow ({limits:?})",
        b.total(),
    );
    #[cfg(fuzzing)]
    {
        let [input, output, message] = conn.buffer_capacities();
        assert!(input <= b.input, "input holds {input} > {}", b.input);
        assert!(output <= b.output, "output holds {output} > {}", b.output);
        assert!(
            message <= b.message,
            "message holds {message} > {}",
            b.message
        );
    }
}

/// The halves of a split connection: each buffer within its bound (the receiving half's input
/// and message buffers, the sending half's output), and what is queued within them.
pub fn check_split_memory<R: KeySource>(
    rx: &Receiver<Vec<u8>>,
    tx: &Sender<Vec<u8>, R>,
    limits: &Limits,
) {
    let b = Bounds::of(limits);
    let input = rx.buffered_input().len();
    assert!(input <= b.input, "receiving half holds {input} bytes");
    let output = tx.pending_output().len();
    assert!(output <= b.output, "sending half holds {output} bytes");
    #[cfg(fuzzing)]
    {
        let [input, message] = rx.buffer_capacities();
        assert!(
            input <= b.input,
            "receiving half's input holds {input} > {}",
            b.input
        );
        assert!(
            message <= b.message,
            "receiving half's message holds {message} > {}",
            b.message
        );
        let output = tx.buffer_capacity();
        assert!(
            output <= b.output,
            "sending half's output holds {output} > {}",
            b.output
        );
    }
}

/// What a connection reported, owned, so that runs can be compared: the handshake events and
/// errors, and every other event as the crate's own owned [`Message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Request {
        version: Option<Version>,
        head: Vec<u8>,
        body: Vec<u8>,
    },
    HttpRequest {
        head: Vec<u8>,
    },
    Accepted {
        status: u16,
        protocol: Option<String>,
        /// The `Sec-WebSocket-Extensions` values, joined with `, `, if any.
        extensions: Option<String>,
    },
    Message(Message),
    Error(Error),
}

/// The payload of a pong message.
pub fn pong_payload(message: &Message) -> Option<&[u8]> {
    match message {
        Message::Pong { payload, .. } => Some(payload),
        _ => None,
    }
}

/// What can be polled for events: a joined connection, a receiving half alone (keeping what
/// it owes), a receiving half handing what it owes to its sender, or either through
/// [`Receiver::step`] / [`Connection::step`].
pub trait Source {
    fn poll(&mut self) -> Result<Option<Event<'_>>, Error>;
    /// The receiving side's state, as the polled thing reports it (`Closed` once nothing more
    /// is delivered).
    fn rx_state(&self) -> State;
    fn buffered_input_len(&self) -> usize;
}

impl<R: KeySource> Source for Connection<Vec<u8>, R> {
    fn poll(&mut self) -> Result<Option<Event<'_>>, Error> {
        self.poll_event()
    }
    fn rx_state(&self) -> State {
        self.state()
    }
    fn buffered_input_len(&self) -> usize {
        self.buffered_input().len()
    }
}

impl Source for Receiver<Vec<u8>> {
    fn poll(&mut self) -> Result<Option<Event<'_>>, Error> {
        self.poll_event()
    }
    fn rx_state(&self) -> State {
        self.state()
    }
    fn buffered_input_len(&self) -> usize {
        self.buffered_input().len()
    }
}

/// A receiving half polled with [`Receiver::poll_event_with`], handing what it owes to its
/// sender at once.
pub struct With<'a, R: KeySource>(
    pub &'a mut Receiver<Vec<u8>>,
    pub &'a mut Sender<Vec<u8>, R>,
);

impl<R: KeySource> Source for With<'_, R> {
    fn poll(&mut self) -> Result<Option<Event<'_>>, Error> {
        self.0.poll_event_with(self.1)
    }
    fn rx_state(&self) -> State {
        self.0.state()
    }
    fn buffered_input_len(&self) -> usize {
        self.0.buffered_input().len()
    }
}

/// Polls through the driver step of [`wsmachine::drive`]: `Step::Read` and `Step::Closed` are
/// "no event", and each is checked against the state.
pub struct Stepping<'a, T>(pub &'a mut T);

/// A step without an event: `Step::Read` while the receiving side reads on, `Step::Closed`
/// once it is closed (`closed` is the state before the step, which decides it).
fn idle_step(step: &wsmachine::drive::Step<'_>, closed: bool) {
    match step {
        wsmachine::drive::Step::Read | wsmachine::drive::Step::Wait => {
            assert!(!closed, "Step::Read on a closed side")
        }
        wsmachine::drive::Step::Closed => assert!(closed, "Step::Closed on an open side"),
        wsmachine::drive::Step::Event(_) => {}
    }
}

impl Source for Stepping<'_, Receiver<Vec<u8>>> {
    fn poll(&mut self) -> Result<Option<Event<'_>>, Error> {
        let closed = self.0.state() == State::Closed;
        let step = self.0.step()?;
        idle_step(&step, closed);
        Ok(match step {
            wsmachine::drive::Step::Event(e) => Some(e),
            _ => None,
        })
    }
    fn rx_state(&self) -> State {
        self.0.state()
    }
    fn buffered_input_len(&self) -> usize {
        self.0.buffered_input().len()
    }
}

impl<R: KeySource> Source for Stepping<'_, Connection<Vec<u8>, R>> {
    fn poll(&mut self) -> Result<Option<Event<'_>>, Error> {
        let closed = self.0.state() == State::Closed;
        let step = self.0.step()?;
        // `Step::Closed` follows the receiving direction, which is closed whenever the
        // connection is but for a sending half closed alone (its close timeout, split): such
        // a connection still reads.
        if let wsmachine::drive::Step::Closed = step {
            assert!(closed, "Step::Closed on an open connection");
        }
        Ok(match step {
            wsmachine::drive::Step::Event(e) => Some(e),
            _ => None,
        })
    }
    fn rx_state(&self) -> State {
        self.0.state()
    }
    fn buffered_input_len(&self) -> usize {
        self.0.buffered_input().len()
    }
}

/// What is known of one connection's receiving side, and the checks every event goes through.
#[derive(Clone, Debug)]
pub struct Watch {
    pub limits: Limits,
    pub role: Role,
    /// The version the connection speaks, if known (a client's from the start).
    pub version: Option<Version>,
    /// Whether it opened (so that a close event is owed).
    pub opened: bool,
    /// Whether the close event was delivered.
    pub closed: bool,
    /// Every event and error, in order.
    pub log: Vec<Ev>,
    /// Whether the peer's bytes may be anything (otherwise they come from a correct peer of
    /// the same limits, and only limit violations and invalid text may fail them).
    pub hostile_input: bool,
    /// Whether the peer may have sent text fragments that are not UTF-8 together.
    pub peer_sent_invalid_text: bool,
    /// The time events are read at (the latest `now` given to this side).
    pub now: u64,
    /// The payloads of the stamped pings this side sent, and the time each was stamped with:
    /// a pong echoing one must report that time.
    pub stamps: HashMap<Vec<u8>, u64>,
    /// permessage-deflate as agreed (by the handshake, read from the 101 answer, or given to
    /// `use_deflate`): only then may a message fail to inflate.
    pub deflate: Option<DeflateParams>,
    /// A client's permessage-deflate offer (its `Config::deflate`): only then may the answer
    /// accept an extension, and the client keeps to what it offered.
    pub offer: Option<DeflateConfig>,
}

impl Watch {
    pub fn new(limits: Limits, role: Role, version: Option<Version>, opened: bool) -> Self {
        Watch {
            limits,
            role,
            version,
            opened,
            closed: false,
            log: Vec::new(),
            hostile_input: true,
            peer_sent_invalid_text: false,
            now: 0,
            stamps: HashMap::new(),
            deflate: None,
            offer: None,
        }
    }

    fn hixie(&self) -> bool {
        self.version.is_some_and(|v| v.is_hixie())
    }

    /// Polls until nothing is left, checking every event and error; returns how many came.
    /// Request events are logged; answering them is the caller's.
    pub fn drain<S: Source>(&mut self, src: &mut S) -> usize {
        let mut count = 0;
        // Each event consumes input or changes state; a side that reports forever without
        // either is stuck.
        let max_polls = src.buffered_input_len() + 16;
        loop {
            assert!(count <= max_polls, "polling never returns None");
            if self.poll_one(src).is_none() {
                break;
            }
            count += 1;
            if matches!(
                self.log.last(),
                Some(Ev::Request { .. } | Ev::HttpRequest { .. })
            ) {
                // The caller answers it before polling on.
                break;
            }
        }
        self.settled(src.rx_state());
        count
    }

    /// After polling found nothing: a side that opened and is closed has delivered its close
    /// event, and one that never opened has not.
    pub fn settled(&self, state: State) {
        if self.opened && state == State::Closed {
            assert!(self.closed, "closed after opening without a close event");
        }
        if !self.opened {
            assert!(!self.closed);
        }
    }

    /// Polls one event or error, checks it and logs it; `None` when there was none.
    pub fn poll_one<S: Source>(&mut self, src: &mut S) -> Option<&Ev> {
        let was_open = self.opened;
        let state_before = src.rx_state();
        let owned = match src.poll() {
            Ok(None) => return None,
            Err(e) => self.error(e, was_open),
            Ok(Some(event)) => self.event(event, was_open, state_before),
        };
        let state = src.rx_state();
        match &owned {
            Ev::Error(e) => assert_eq!(state, State::Closed, "not closed after {e:?}"),
            Ev::Message(Message::Close { .. }) => {
                assert_eq!(state, State::Closed, "close event while not closed")
            }
            _ => {}
        }
        self.log.push(owned);
        self.log.last()
    }

    fn error(&mut self, e: Error, was_open: bool) -> Ev {
        assert!(!self.closed, "error {e:?} after the close event");
        let role = self.role;
        match e {
            Error::Handshake(h) => {
                assert!(!was_open, "handshake error {h:?} after opening");
                // A server answers every failure but the end of the stream with a status; a
                // client's failures include its own (`Rejected`, `InvalidAccept`, ...), which
                // have none.
                if role == Role::Server && h != HandshakeError::ConnectionClosed {
                    assert!(h.status().is_some(), "server failure {h:?} without status");
                }
                if role == Role::Server {
                    assert!(
                        !matches!(
                            h,
                            HandshakeError::Rejected { .. }
                                | HandshakeError::InvalidAccept
                                | HandshakeError::InvalidAnswer
                                | HandshakeError::UnexpectedProtocol
                                | HandshakeError::UnexpectedExtension
                        ),
                        "server reported a client's failure {h:?}"
                    );
                } else {
                    assert!(
                        !matches!(
                            h,
                            HandshakeError::NotGet
                                | HandshakeError::InvalidKey
                                | HandshakeError::UnsupportedVersion
                        ),
                        "client reported a server's failure {h:?}"
                    );
                }
                // A correct peer's handshake fails only on the limits (either end's) or when
                // the stream ends early.
                let allowed = matches!(
                    h,
                    HandshakeError::ConnectionClosed
                        | HandshakeError::TooLarge
                        | HandshakeError::TooManyHeaders
                        | HandshakeError::Rejected { status: 431 }
                );
                assert!(
                    self.hostile_input || allowed,
                    "a correct peer failed: {h:?}"
                );
            }
            Error::Protocol(p) => {
                assert!(was_open, "protocol error {p:?} before opening");
                if self.hixie() {
                    assert!(
                        matches!(
                            p,
                            ProtocolError::HixieFrameTooLarge { .. }
                                | ProtocolError::HixieLengthTooLong
                                | ProtocolError::InvalidUtf8
                        ),
                        "hixie connection reported {p:?}"
                    );
                } else {
                    assert!(p.close_code().is_some(), "hybi error {p:?} without code");
                }
                if p == ProtocolError::InvalidCompressedData {
                    assert!(self.deflate.is_some(), "{p:?} without permessage-deflate");
                }
                if !self.hostile_input {
                    let allowed = match p {
                        ProtocolError::FrameTooLarge { .. }
                        | ProtocolError::MessageTooLarge { .. }
                        | ProtocolError::HixieFrameTooLarge { .. } => true,
                        ProtocolError::InvalidUtf8 => self.peer_sent_invalid_text,
                        _ => false,
                    };
                    assert!(allowed, "a correct peer's bytes failed with {p:?}");
                }
            }
            Error::Usage(u) => panic!("a poll returned a usage error {u:?}"),
            other => panic!("undocumented error {other:?}"),
        }
        Ev::Error(e)
    }

    fn event(&mut self, ev: Event<'_>, was_open: bool, state_before: State) -> Ev {
        assert!(!self.closed, "event after the close event");
        let role = self.role;
        let limits = self.limits;
        let hixie = self.hixie();
        match &ev {
            Event::Request(req) => {
                assert_eq!(role, Role::Server);
                assert!(!was_open && state_before == State::Handshaking);
                assert!(req.head().len() <= limits.max_handshake_bytes);
                assert!(req.headers().count() <= limits.max_headers);
                let version = req.version();
                assert!(version.is_some());
                assert_eq!(
                    req.body().len(),
                    if version == Some(Version::Hixie76) {
                        8
                    } else {
                        0
                    }
                );
                self.version = version;
                return Ev::Request {
                    version,
                    head: req.head().to_vec(),
                    body: req.body().to_vec(),
                };
            }
            Event::HttpRequest(req) => {
                assert_eq!(role, Role::Server);
                assert!(req.version().is_none());
                assert!(req.head().len() <= limits.max_handshake_bytes);
                return Ev::HttpRequest {
                    head: req.head().to_vec(),
                };
            }
            Event::Accepted(res) => {
                assert_eq!(role, Role::Client);
                assert!(!was_open);
                assert_eq!(res.status(), 101);
                assert_eq!(Some(res.version()), self.version);
                assert!(res.head().len() <= limits.max_handshake_bytes);
                self.opened = true;
                let values: Vec<&[u8]> = res
                    .headers()
                    .filter(|(name, _)| name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
                    .map(|(_, value)| value)
                    .collect();
                let extensions = (!values.is_empty()).then(|| {
                    let values: Vec<&str> = values
                        .iter()
                        .map(|v| std::str::from_utf8(v).expect("extensions accepted not UTF-8"))
                        .collect();
                    values.join(", ")
                });
                // RFC 6455 §4.1: a client fails the connection on an extension it did not
                // offer; RFC 7692 §7.1: and on a permessage-deflate answer to none of its
                // offers. Hixie has no extensions: such a field means nothing there.
                let offer = self.offer;
                self.deflate = match (&extensions, offer) {
                    _ if res.version().is_hixie() => None,
                    (None, _) => None,
                    (Some(text), None) => panic!("opened with extensions not offered: {text}"),
                    (Some(text), Some(offer)) => {
                        let answer = DeflateAnswer::parse(text)
                            .unwrap_or_else(|e| panic!("opened with {text:?}: {e}"));
                        Some(answer.client_params(&offer))
                    }
                };
                return Ev::Accepted {
                    status: res.status(),
                    protocol: res.protocol().map(str::to_owned),
                    extensions,
                };
            }
            Event::Text(t) => {
                assert!(was_open);
                assert!(t.len() <= limits.max_message_size || hixie);
                if hixie {
                    assert!(t.len() <= limits.max_hixie_frame);
                }
            }
            Event::Binary(b) => {
                assert!(was_open && !hixie, "binary event on {:?}", self.version);
                assert!(b.len() <= limits.max_message_size);
            }
            Event::Fragment(f) => {
                assert!(was_open && !hixie);
                assert!(f.data.len() <= limits.max_frame_payload);
            }
            Event::Ping(p) => {
                assert!(was_open && !hixie);
                assert!(p.len() <= 125);
            }
            Event::Pong(p) => {
                assert!(was_open && !hixie);
                assert!(p.payload.len() <= 125);
                // The send time travels in the payload (no state is shared between halves).
                if let Some(sent) = p.sent_at {
                    assert_eq!(p.payload.len(), 12, "stamped pong of {:?}", p.payload);
                    assert_eq!(p.payload[..8], sent.to_be_bytes(), "stamp of another time");
                }
                if let Some(&stamped) = self.stamps.get(p.payload) {
                    assert_eq!(p.sent_at, Some(stamped), "pong of a stamped ping");
                }
                assert_eq!(
                    p.round_trip(self.now),
                    p.sent_at.map(|sent| self.now.saturating_sub(sent))
                );
            }
            Event::Close(c) => {
                assert!(was_open, "close event for a connection that never opened");
                if hixie {
                    assert!(c.code.is_none(), "hixie close with a code");
                } else {
                    let code = c.code.expect("hybi close without a code");
                    if code == CloseCode::ABNORMAL {
                        assert!(!c.clean, "1006 reported as clean");
                    } else {
                        assert!(
                            code.is_sendable() || code == CloseCode::NO_STATUS,
                            "peer's close code {code:?} accepted"
                        );
                    }
                    if code == CloseCode::NO_STATUS {
                        assert!(c.reason.is_empty());
                    }
                }
                assert!(c.reason.len() <= 123);
                self.closed = true;
            }
            other => panic!("undocumented event {other:?}"),
        }
        Ev::Message(Message::from_event(ev, self.now).expect("a message event"))
    }

    /// The events that carry data, for comparing what was received with what was sent:
    /// fragments are joined into messages.
    pub fn messages(&self) -> Vec<Message> {
        let mut out = Vec::new();
        let mut partial: Option<(bool, Vec<u8>)> = None;
        for ev in &self.log {
            let Ev::Message(m) = ev else { continue };
            match m {
                Message::Text(_) | Message::Binary(_) | Message::Ping(_) => out.push(m.clone()),
                Message::Fragment {
                    data,
                    is_text,
                    is_final,
                } => {
                    let (_, buf) = partial.get_or_insert_with(|| (*is_text, Vec::new()));
                    buf.extend_from_slice(data);
                    if *is_final {
                        let (text, buf) = partial.take().unwrap_or_default();
                        out.push(if text {
                            Message::Text(String::from_utf8(buf).expect("fragments not UTF-8"))
                        } else {
                            Message::Binary(buf)
                        });
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// The payloads of the pongs received, in order.
    pub fn pongs(&self) -> Vec<Vec<u8>> {
        self.log
            .iter()
            .filter_map(|ev| match ev {
                Ev::Message(m) => pong_payload(m).map(<[u8]>::to_vec),
                _ => None,
            })
            .collect()
    }
}

/// How a server answers the requests it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Accept upgrades (choosing the first offered subprotocol), answer plain HTTP with 404.
    Accept,
    /// Refuse upgrades with 403.
    Refuse,
    /// Leave requests unanswered.
    Ignore,
}

/// A joined connection under test, with everything needed to check it.
pub struct Peer<R: KeySource> {
    pub conn: Connection<Vec<u8>, R>,
    pub watch: Watch,
    pub answer: Answer,
    /// Every output byte taken, in order (when kept).
    pub sent: Vec<u8>,
    pub keep_output: bool,
    /// Input that could not be given because a request waits for an answer.
    pub stalled: bool,
    /// The frames written once open, read as they are taken (see [`Audit`]).
    pub audit: Option<Audit>,
    /// Output bytes taken so far.
    pub taken: usize,
    /// Where the frames start in the output: after the client's request, or after the
    /// server's 101 answer.
    frames_from: Option<usize>,
}

impl Peer<NoEntropy> {
    pub fn server(config: wsmachine::Config, answer: Answer) -> Self {
        Peer::wrap(Connection::server(config), None, answer, false)
    }
}

impl<R: KeySource> Peer<R> {
    pub fn wrap(
        conn: Connection<Vec<u8>, R>,
        version: Option<Version>,
        answer: Answer,
        opened: bool,
    ) -> Self {
        let limits = conn.config().limits;
        // Nothing but the request is written before a client opens; a server's frames start
        // after its answer.
        let frames_from = match conn.role() {
            _ if opened => Some(0),
            Role::Client => Some(conn.pending_output().len()),
            Role::Server => None,
        };
        let mut watch = Watch::new(limits, conn.role(), version, opened);
        if conn.role() == Role::Client && !opened {
            watch.offer = conn.config().deflate;
        }
        let peer = Peer {
            watch,
            conn,
            answer,
            sent: Vec::new(),
            keep_output: true,
            stalled: false,
            audit: None,
            taken: 0,
            frames_from,
        };
        peer.check_memory();
        peer
    }

    pub fn role(&self) -> Role {
        self.conn.role()
    }

    pub fn log(&self) -> &[Ev] {
        &self.watch.log
    }

    /// Each buffer within its bound, and their sum within the total.
    pub fn check_memory(&self) {
        check_connection_memory(&self.conn, &self.watch.limits);
    }

    /// Gives `data` to the connection, polling events whenever the input is full, then polls
    /// until nothing is left. Returns the number of events and errors logged.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let before = self.watch.log.len();
        let mut rest = data;
        while !rest.is_empty() {
            let n = self.conn.receive(rest);
            assert!(n <= rest.len(), "receive took more than it was given");
            self.check_memory();
            rest = &rest[n..];
            let events = self.drain();
            if n == 0 && events == 0 {
                // Only an unanswered request may hold input up: the application must act.
                assert!(
                    self.conn.request().is_some(),
                    "input refused with nothing to report, state {:?}, {} bytes buffered",
                    self.conn.state(),
                    self.conn.buffered_input().len()
                );
                self.stalled = true;
                break;
            }
        }
        self.drain();
        self.watch.log.len() - before
    }

    /// The end of the stream, and the events it brings.
    pub fn eof(&mut self) -> usize {
        self.conn.handle_eof();
        self.drain()
    }

    /// Time advances, and the events it brings.
    pub fn timeout(&mut self, now: u64) -> usize {
        let state = self.conn.state();
        self.watch.now = self.watch.now.max(now);
        self.conn.handle_timeout(now);
        self.check_memory();
        if state == State::Closed {
            assert_eq!(
                self.conn.state(),
                State::Closed,
                "a closed connection reopened"
            );
        }
        self.drain()
    }

    /// Takes all pending output (keeping it if asked), and reads the frames in it.
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = self.conn.pending_output().to_vec();
        self.conn.consume_output(out.len());
        assert!(self.conn.pending_output().is_empty());
        if self.keep_output {
            self.sent.extend_from_slice(&out);
        }
        let start = self.taken;
        self.taken += out.len();
        if let (Some(from), true, Some(version)) =
            (self.frames_from, self.watch.opened, self.watch.version)
        {
            let deflate = self.watch.deflate;
            let audit = self.audit.get_or_insert_with(|| {
                let mut audit = Audit::new(version, self.watch.role);
                audit.set_deflate(deflate);
                audit
            });
            audit.feed(&out[from.saturating_sub(start).min(out.len())..]);
            audit.assert_whole();
        }
        self.check_memory();
        out
    }

    /// Polls until nothing is left, answering requests as [`Answer`] says; returns how many
    /// events and errors came.
    pub fn drain(&mut self) -> usize {
        let mut count = 0;
        loop {
            let n = self.watch.drain(&mut self.conn);
            count += n;
            if matches!(
                self.watch.log.last(),
                Some(Ev::Request { .. } | Ev::HttpRequest { .. })
            ) && self.conn.request().is_some()
                && n > 0
            {
                self.answer_request();
                continue;
            }
            break;
        }
        self.check_memory();
        count
    }

    /// Answers the pending request as [`Answer`] says, checking the result.
    fn answer_request(&mut self) {
        let req = self
            .conn
            .request()
            .expect("request event without a pending request");
        let upgrade = req.version().is_some();
        let protocol = req.protocols().next().map(str::to_owned);
        let pending = self.conn.pending_output().len();
        let result = match (self.answer, upgrade) {
            (Answer::Ignore, _) => return,
            (Answer::Accept, true) => {
                let accept = match protocol.as_deref() {
                    Some(p) => Accept::new().protocol(p),
                    None => Accept::new(),
                };
                let r = self.conn.accept(accept);
                if r.is_ok() {
                    assert_eq!(self.conn.state(), State::Open);
                    self.watch.opened = true;
                    let out = self.conn.pending_output();
                    assert!(
                        out[pending..].starts_with(b"HTTP/1.1 101 "),
                        "accept wrote {out:?}"
                    );
                    self.frames_from = Some(self.taken + out.len());
                    // What the answer agreed of permessage-deflate, read from it.
                    let answer = response_extensions(&out[pending..]);
                    if let Some(text) = &answer {
                        let version = self.conn.version().expect("open");
                        assert!(!version.is_hixie(), "{version} answered extensions {text}");
                        let config = self.conn.config().deflate;
                        assert!(config.is_some(), "extensions {text} accepted unconfigured");
                        let answer = DeflateAnswer::parse(text)
                            .unwrap_or_else(|e| panic!("the server answered {text:?}: {e}"));
                        self.watch.deflate = Some(answer.server_params());
                    }
                }
                r
            }
            (Answer::Accept, false) => self.conn.respond(404, &[], b"not found"),
            (Answer::Refuse, _) => self.conn.respond(403, &[("X-Reason", "refused")], b""),
        };
        match result {
            Ok(()) => {}
            Err(Error::Usage(UsageError::OutputFull {
                required,
                available,
            })) => {
                assert!(required > available);
                assert_eq!(
                    self.conn.pending_output().len(),
                    pending,
                    "a failed answer queued bytes"
                );
                assert_eq!(self.conn.state(), State::Handshaking);
            }
            Err(e) => panic!("answering a request failed with {e:?}"),
        }
        self.check_memory();
    }

    /// The events that carry data; see [`Watch::messages`].
    pub fn messages(&self) -> Vec<Message> {
        self.watch.messages()
    }
}

/// Whether `bytes`, a text message so far, already cannot be UTF-8 whatever follows.
pub fn text_is_broken(bytes: &[u8], complete: bool) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => false,
        Err(e) => complete || e.error_len().is_some(),
    }
}

/// The bytes a frame of `len` payload bytes takes, independently of the crate's encoder.
pub fn frame_len(version: Version, client: bool, len: usize) -> usize {
    if version.is_hixie() {
        return len + 2;
    }
    let extended = if len < 126 {
        0
    } else if len <= 0xFFFF {
        2
    } else {
        8
    };
    2 + extended + if client { 4 } else { 0 } + len
}

/// A client connection for `version` with the fixed entropy, and the request it queued.
pub fn client(
    version: Version,
    protocols: &[&str],
    config: wsmachine::Config,
) -> Result<Connection<Vec<u8>, Rng>, Error> {
    let request = wsmachine::ClientRequest::new("example.com", "/chat")
        .version(version)
        .protocols(protocols)
        .origin("http://example.com");
    Connection::client(&request, config, client_entropy())
}

/// Splits `data` into chunks whose sizes come from `rng` (at most `max` each).
pub fn chunks<'a>(data: &'a [u8], rng: &mut Rng, max: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.chunk(max).min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

/// A frame read by [`Audit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// A data frame: opcode (hybi 0, 1, 2; hixie text is 1), final bit, RSV1 (the first frame
    /// of a compressed message), payload as written (unmasked, not inflated).
    Data {
        opcode: u8,
        fin: bool,
        compressed: bool,
        payload: Vec<u8>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame (hybi: its code, if any; hixie-76's closing frame: none).
    Close(Option<u16>),
}

/// A whole data message read by [`Audit`]: what the peer receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenMessage {
    pub is_text: bool,
    /// Sent compressed: RSV1 on its first frame.
    pub compressed: bool,
    /// The payload length of each of its frames, as written.
    pub frames: Vec<usize>,
    /// Its content, inflated if it was compressed.
    pub data: Vec<u8>,
}

/// How a message fares at a receiver, from its size and the receiver's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Within every limit: delivered unchanged.
    Fits,
    /// Over a limit: refused with `FrameTooLarge`, `MessageTooLarge` or `HixieFrameTooLarge`.
    Exceeds,
    /// Either, depending on how its inflated bytes fall into its frames.
    Either,
}

impl WrittenMessage {
    /// The message as a receiver delivers it; `None` for text that is not UTF-8.
    pub fn message(&self) -> Option<Message> {
        if self.is_text {
            String::from_utf8(self.data.clone()).ok().map(Message::Text)
        } else {
            Some(Message::Binary(self.data.clone()))
        }
    }

    /// How a receiver of `version` with `limits` takes this message:
    /// - a frame's payload as written over `max_frame_payload` (or a hixie frame over
    ///   `max_hixie_frame`), or an uncompressed message over `max_message_size`: refused;
    /// - a compressed message: refused when it inflates to more than `max_message_size`, or,
    ///   in one frame, to more than `max_frame_payload` (the inflated size of each frame is
    ///   held to it); in several frames and inflating to more than `max_frame_payload`, refused
    ///   or not depending on how much each frame inflates to.
    ///
    /// A compressed message is never held to `max_message_size` by its compressed length: one
    /// whose frames outweigh what they inflate to must still be delivered.
    pub fn fit(&self, version: Version, limits: &Limits) -> Fit {
        let largest = self.frames.iter().copied().max().unwrap_or(0);
        if version.is_hixie() {
            return if largest > limits.max_hixie_frame {
                Fit::Exceeds
            } else {
                Fit::Fits
            };
        }
        if largest > limits.max_frame_payload {
            return Fit::Exceeds;
        }
        let inflated = self.data.len();
        if !self.compressed {
            let written: usize = self.frames.iter().sum();
            return if written > limits.max_message_size {
                Fit::Exceeds
            } else {
                Fit::Fits
            };
        }
        if inflated > limits.max_message_size
            || (self.frames.len() == 1 && inflated > limits.max_frame_payload)
        {
            return Fit::Exceeds;
        }
        if inflated > limits.max_frame_payload {
            Fit::Either
        } else {
            Fit::Fits
        }
    }
}

/// The error that refuses a message over a limit.
pub fn is_limit_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Protocol(
            ProtocolError::FrameTooLarge { .. }
                | ProtocolError::MessageTooLarge { .. }
                | ProtocolError::HixieFrameTooLarge { .. }
        )
    )
}

/// What a receiver (`watch`, of `version`) delivered of the data messages a correct peer
/// wrote (`written`, read by the peer's [`Audit`], everything delivered): each message that
/// fits its limits arrives unchanged and in order; the first that does not ends the delivery
/// with a limit error (or, [`Fit::Either`], arrives unchanged); text that is not UTF-8 ends it
/// with an error; and nothing else comes, nor any error while everything fitted, but a limit
/// error for the fragmented message the peer left `unfinished` when one of its frames so far
/// is over a limit (or it is compressed).
pub fn check_delivery(
    written: &[WrittenMessage],
    unfinished: Option<&WrittenMessage>,
    watch: &Watch,
    version: Version,
) {
    let received: Vec<Message> = watch
        .messages()
        .into_iter()
        .filter(|m| matches!(m, Message::Text(_) | Message::Binary(_)))
        .collect();
    let error = watch.log.iter().find_map(|ev| match ev {
        Ev::Error(e) => Some(e),
        _ => None,
    });
    let mut got = received.iter();
    for (i, m) in written.iter().enumerate() {
        let fit = m.fit(version, &watch.limits);
        let Some(expected) = m.message() else {
            // Text that is not UTF-8: refused, whichever check comes first.
            assert!(
                error.is_some(),
                "message {i}, invalid text, was not refused"
            );
            assert_eq!(got.next(), None, "a message delivered after invalid text");
            return;
        };
        let delivered = got.next();
        match (fit, delivered) {
            (Fit::Fits, Some(d)) | (Fit::Either, Some(d)) => {
                assert!(
                    *d == expected,
                    "message {i} ({fit:?}, {} frames, compressed {}) delivered changed: \
                     {} bytes for {}",
                    m.frames.len(),
                    m.compressed,
                    message_len(d),
                    m.data.len()
                );
            }
            (Fit::Exceeds, None) | (Fit::Either, None) => {
                assert!(
                    error.is_some_and(is_limit_error),
                    "message {i} ({fit:?}, frames {:?}, {} bytes, compressed {}) refused with \
                     {error:?} (limits {:?})",
                    m.frames,
                    m.data.len(),
                    m.compressed,
                    watch.limits
                );
                return;
            }
            (Fit::Fits, None) => panic!(
                "message {i} (frames {:?}, {} bytes, compressed {}) fits (limits {:?}) and was \
                 not delivered; error {error:?}",
                m.frames,
                m.data.len(),
                m.compressed,
                watch.limits
            ),
            (Fit::Exceeds, Some(d)) => panic!(
                "message {i} (frames {:?}, {} bytes, compressed {}) is over the limits {:?} \
                 and was delivered ({} bytes)",
                m.frames,
                m.data.len(),
                m.compressed,
                watch.limits,
                message_len(d)
            ),
        }
    }
    assert_eq!(got.next(), None, "more messages delivered than written");
    let Some(error) = error else { return };
    let over =
        unfinished.is_some_and(|m| m.compressed || m.fit(version, &watch.limits) == Fit::Exceeds);
    assert!(
        over && is_limit_error(error),
        "every message fitted, yet {error:?} (limits {:?}, unfinished {:?})",
        watch.limits,
        unfinished.map(|m| &m.frames)
    );
}

fn message_len(m: &Message) -> usize {
    match m {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

/// The `Sec-WebSocket-Extensions` values of an HTTP response head at the start of `bytes`,
/// joined with `, `, if it has any.
pub fn response_extensions(bytes: &[u8]) -> Option<String> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    // Other fields may echo bytes of the request that are not UTF-8 (hixie's origin and
    // location): only the extension fields are read as text.
    let name = b"sec-websocket-extensions:";
    let values: Vec<&str> = bytes[..end]
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|line| line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name))
        .map(|line| {
            std::str::from_utf8(&line[name.len()..])
                .expect("an extensions answer not UTF-8")
                .trim()
        })
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// A permessage-deflate answer (RFC 7692 §7.1), read independently of the crate's negotiation:
/// exactly one `permessage-deflate` element, each parameter known, at most once, with a value
/// exactly when it takes one (a window of 8 to 15, token or quoted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateAnswer {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: Option<u8>,
}

impl DeflateAnswer {
    pub fn parse(text: &str) -> Result<Self, String> {
        let elements: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let [element] = elements[..] else {
            return Err(format!("{} extensions accepted", elements.len()));
        };
        let mut params = element.split(';').map(str::trim);
        let name = params.next().unwrap_or("");
        if !name.eq_ignore_ascii_case("permessage-deflate") {
            return Err(format!("extension {name:?} accepted"));
        }
        let mut answer = DeflateAnswer::default();
        let mut seen = Vec::new();
        for param in params {
            let (key, value) = match param.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(unquote(v.trim())?)),
                None => (param.to_ascii_lowercase(), None),
            };
            if seen.contains(&key) {
                return Err(format!("{key} repeated"));
            }
            seen.push(key.clone());
            let bits = |value: Option<String>| -> Result<u8, String> {
                let v = value.ok_or(format!("{key} without a value"))?;
                let ok = !v.is_empty() && v.len() <= 2 && v.bytes().all(|b| b.is_ascii_digit());
                match v.parse::<u8>() {
                    Ok(b) if ok && !v.starts_with('0') && (8..=15).contains(&b) => Ok(b),
                    _ => Err(format!("{key}={v}")),
                }
            };
            match key.as_str() {
                "server_no_context_takeover" | "client_no_context_takeover" => {
                    if value.is_some() {
                        return Err(format!("{key} with a value"));
                    }
                    if key.starts_with("server") {
                        answer.server_no_context_takeover = true;
                    } else {
                        answer.client_no_context_takeover = true;
                    }
                }
                "server_max_window_bits" => answer.server_max_window_bits = Some(bits(value)?),
                "client_max_window_bits" => answer.client_max_window_bits = Some(bits(value)?),
                other => return Err(format!("unknown parameter {other:?}")),
            }
        }
        Ok(answer)
    }

    /// What the server runs: its window and context as it answered them; the client's
    /// window as answered (15 if not), its context reset as answered.
    pub fn server_params(&self) -> DeflateParams {
        let mut p = DeflateParams::new();
        p.server_no_context_takeover = self.server_no_context_takeover;
        p.client_no_context_takeover = self.client_no_context_takeover;
        p.server_max_window_bits = self.server_max_window_bits.unwrap_or(15);
        p.client_max_window_bits = self.client_max_window_bits.unwrap_or(15);
        p
    }

    /// What a client that offered `offer` runs: besides the answer, it keeps to what its first
    /// offer said of its own compressor (RFC 7692 §7.1.1.2, §7.1.2.2: a context reset and a
    /// window no larger than offered).
    pub fn client_params(&self, offer: &DeflateConfig) -> DeflateParams {
        let mut p = self.server_params();
        p.client_no_context_takeover |= offer.client_no_context_takeover;
        if let Some(bits) = offer.client_max_window_bits {
            p.client_max_window_bits = p.client_max_window_bits.min(bits.clamp(8, 15));
        }
        p
    }
}

/// A parameter value: a token, or a quoted-string (backslash escapes removed).
fn unquote(v: &str) -> Result<String, String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Ok(v.to_owned());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or(format!("unterminated quoted value {v}"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' {
            chars.next().ok_or("a value ending in a backslash")?
        } else {
            c
        });
    }
    Ok(out)
}

/// The `00 00 FF FF` a sender removes from each compressed message (RFC 7692 §7.2.1).
const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The window of a compressor of 15 bits, the most a reader keeps of earlier messages.
const MAX_WINDOW: usize = 1 << 15;

/// Reads the frames one connection writes once open, independently of the crate's decoder, and
/// checks that each is one a correct endpoint may send (see the module docs).
#[derive(Clone, Debug)]
pub struct Audit {
    version: Version,
    /// Frames must be masked: the writer is a client.
    masked: bool,
    /// Bytes of a frame not complete yet.
    pending: Vec<u8>,
    /// A fragmented message being written, and whether it is text.
    fragmenting: Option<bool>,
    /// permessage-deflate agreed: this writer's window in bytes, and whether it resets its
    /// context after each message.
    deflate: Option<(usize, bool)>,
    /// The data message being written, its payload as written so far.
    current: Option<WrittenMessage>,
    /// What a reader holds of the compressed messages before (context takeover).
    history: Vec<u8>,
    /// Bytes read in all.
    pub total: usize,
    /// Whether the close frame was written.
    pub closed: bool,
    /// Every frame read, in order.
    pub frames: Vec<Written>,
    /// Every whole data message read, in order, inflated.
    pub messages: Vec<WrittenMessage>,
}

impl Audit {
    pub fn new(version: Version, role: Role) -> Self {
        Audit {
            version,
            masked: role == Role::Client,
            pending: Vec::new(),
            fragmenting: None,
            deflate: None,
            current: None,
            history: Vec::new(),
            total: 0,
            closed: false,
            frames: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// permessage-deflate as agreed (or none): the writer's window and context reset are the
    /// client's parameters for a client, the server's for a server. Before anything is read.
    pub fn set_deflate(&mut self, params: Option<DeflateParams>) {
        assert_eq!(self.total, 0, "compression set once frames were read");
        self.deflate = params.map(|p| {
            let (bits, reset) = if self.masked {
                (p.client_max_window_bits, p.client_no_context_takeover)
            } else {
                (p.server_max_window_bits, p.server_no_context_takeover)
            };
            assert!((8..=15).contains(&bits), "a window of {bits} bits agreed");
            (1usize << bits, reset)
        });
    }

    /// Reads written bytes, in order.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        self.pending.extend_from_slice(bytes);
        loop {
            let parsed = if self.version.is_hixie() {
                self.hixie_frame()
            } else {
                self.hybi_frame()
            };
            let Some((used, frame)) = parsed else { break };
            self.pending.drain(..used);
            // RFC 6455 §5.5.2: a ping is answered until the peer's close was received, so
            // pongs may follow our close frame; nothing else may (§5.5.1).
            let owed_pong = matches!(frame, Written::Pong(_)) && !self.version.is_hixie();
            assert!(
                !self.closed || owed_pong,
                "{frame:?} written after the close frame ({:?})",
                self.version
            );
            if let Written::Close(_) = frame {
                self.closed = true;
            }
            if let Written::Data {
                opcode,
                fin,
                compressed,
                payload,
            } = &frame
            {
                self.data_frame(*opcode, *fin, *compressed, payload);
            }
            self.frames.push(frame);
        }
    }

    /// A data frame in a valid place: added to its message, which is inflated once whole.
    fn data_frame(&mut self, opcode: u8, fin: bool, compressed: bool, payload: &[u8]) {
        if opcode != 0 {
            self.current = Some(WrittenMessage {
                is_text: opcode == 1,
                compressed,
                frames: Vec::new(),
                data: Vec::new(),
            });
        }
        let m = self.current.as_mut().expect("a continuation in a message");
        m.frames.push(payload.len());
        m.data.extend_from_slice(payload);
        if !fin {
            return;
        }
        let mut m = self.current.take().expect("a message");
        if m.compressed {
            let (window, reset) = self.deflate.expect("RSV1 only with permessage-deflate");
            let mut input = std::mem::take(&mut m.data);
            input.extend_from_slice(&DEFLATE_TAIL);
            let history: &[u8] = if reset { &[] } else { &self.history };
            let ended = match inflate::inflate(&input, history, window, 64 << 20) {
                Ok(inflated) => {
                    m.data = inflated.data;
                    inflated.final_block
                }
                Err(e) => panic!(
                    "a compressed message written does not inflate ({e}): {} bytes, reset {reset}, \
                     window {window}, {} bytes held",
                    input.len(),
                    history.len()
                ),
            };
            // A stream that ended with a final block (RFC 7692 §7.2.3.4) cannot go on: the next
            // message is a new stream, which refers to nothing before it.
            if reset || ended {
                self.history.clear();
            } else {
                self.history.extend_from_slice(&m.data);
                let excess = self.history.len().saturating_sub(MAX_WINDOW);
                self.history.drain(..excess);
            }
        }
        self.messages.push(m);
    }

    /// The fragmented message being written, its frames so far (as written, not inflated).
    pub fn unfinished(&self) -> Option<&WrittenMessage> {
        self.current.as_ref()
    }

    /// No frame is cut short: to check once all the output was taken (frames are queued whole).
    pub fn assert_whole(&self) {
        assert!(
            self.pending.is_empty(),
            "output ends inside a frame: {:?}",
            self.pending
        );
    }

    fn hixie_frame(&mut self) -> Option<(usize, Written)> {
        let data = &self.pending;
        let first = *data.first()?;
        match first {
            0x00 => {
                let end = data.iter().position(|&b| b == 0xFF)?;
                let payload = data[1..end].to_vec();
                Some((
                    end + 1,
                    Written::Data {
                        opcode: 1,
                        fin: true,
                        compressed: false,
                        payload,
                    },
                ))
            }
            0xFF if self.version == Version::Hixie76 => {
                let second = *data.get(1)?;
                assert_eq!(second, 0x00, "hixie-76 closing frame 0xFF {second:#04x}");
                Some((2, Written::Close(None)))
            }
            other => panic!("{:?} wrote a frame of type {other:#04x}", self.version),
        }
    }

    fn hybi_frame(&mut self) -> Option<(usize, Written)> {
        let data = &self.pending;
        let (&b0, &b1) = (data.first()?, data.get(1)?);
        let fin = b0 & 0x80 != 0;
        // RFC 7692 §6: RSV1 marks a compressed message, on its first frame only, and only
        // once permessage-deflate was agreed; RSV2 and RSV3 are never ours to set.
        let rsv1 = b0 & 0x40 != 0;
        assert_eq!(b0 & 0x30, 0, "reserved bits written: {b0:#04x}");
        let opcode = b0 & 0x0F;
        assert!(
            matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10),
            "opcode {opcode:#x} written"
        );
        if rsv1 {
            assert!(
                self.deflate.is_some(),
                "RSV1 written without permessage-deflate: {b0:#04x}"
            );
            assert!(
                matches!(opcode, 1 | 2),
                "RSV1 written on a frame of opcode {opcode:#x}, not a message's first"
            );
        }
        let masked = b1 & 0x80 != 0;
        assert_eq!(
            masked, self.masked,
            "mask bit {masked} written by the wrong role"
        );
        let (len, mut at) = match b1 & 0x7F {
            126 => {
                let ext = data.get(2..4)?;
                let len = u64::from(u16::from_be_bytes([ext[0], ext[1]]));
                assert!(len >= 126, "length {len} not in its shortest form");
                (len, 4)
            }
            127 => {
                let ext = data.get(2..10)?;
                let len = u64::from_be_bytes(ext.try_into().unwrap());
                assert!(len > 0xFFFF, "length {len} not in its shortest form");
                assert!(len >> 63 == 0, "length with its top bit set");
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        let key = if masked {
            let key: [u8; 4] = data.get(at..at + 4)?.try_into().unwrap();
            at += 4;
            Some(key)
        } else {
            None
        };
        let len = usize::try_from(len).expect("a frame longer than memory");
        let end = at.checked_add(len)?;
        let mut payload = data.get(at..end)?.to_vec();
        if let Some(key) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        let frame = if opcode >= 8 {
            assert!(fin, "control frame {opcode:#x} not final");
            assert!(len <= 125, "control frame {opcode:#x} of {len} bytes");
            match opcode {
                8 => {
                    let code = match payload.len() {
                        0 => None,
                        1 => panic!("close frame with a 1-byte payload"),
                        _ => {
                            let code = u16::from_be_bytes([payload[0], payload[1]]);
                            assert!(CloseCode(code).is_sendable(), "close code {code} written");
                            assert!(
                                std::str::from_utf8(&payload[2..]).is_ok(),
                                "close reason not UTF-8"
                            );
                            Some(code)
                        }
                    };
                    Written::Close(code)
                }
                9 => Written::Ping(payload),
                _ => Written::Pong(payload),
            }
        } else {
            match (opcode, self.fragmenting) {
                (0, None) => panic!("continuation frame outside a fragmented message"),
                (0, Some(_)) => {}
                (_, Some(text)) => {
                    panic!("new message (opcode {opcode}) inside a fragmented one (text {text})")
                }
                (_, None) => self.fragmenting = Some(opcode == 1),
            }
            if fin {
                self.fragmenting = None;
            }
            Written::Data {
                opcode,
                fin,
                compressed: rsv1,
                payload,
            }
        };
        Some((end, frame))
    }
}

/// The byte format of the `halves` target, shared with `make_seeds`: three header bytes, then
/// operations, each an opcode byte (`side | code << 1`, side 0 the client, 1 the server)
/// followed by the argument bytes its code takes.
pub mod halves {
    /// Header byte 0: the version (bits 0-2, modulo 5).
    pub const VERSION_MASK: u8 = 0x07;
    /// Header byte 0: the client starts split (when neither starts split, the client does).
    pub const SPLIT_CLIENT: u8 = 0x08;
    /// Header byte 0: the server starts split.
    pub const SPLIT_SERVER: u8 = 0x10;
    /// Header byte 0: fragments are streamed.
    pub const STREAM: u8 = 0x20;
    /// Header byte 0: no HTTP handshake, both framed from the start.
    pub const FRAMED: u8 = 0x40;
    // Header byte 1: limits (see `limits_from`). Header byte 2: the close timeout (low
    // nibble, times 4; 0 for none) and the keepalive interval (high nibble, times 8).

    /// The client's side bit; the server's is 1.
    pub const CLIENT: u8 = 0;
    pub const SERVER: u8 = 1;

    /// Each code and the argument bytes it takes.
    pub const DELIVER: u8 = 0; // 1: bit 7 through read_buffer, (low 7 bits + 1) * 4 bytes
    pub const POLL: u8 = 1; // 1: events (low 3 bits + 1); bits 3-4: keep, with sender, step
    pub const TAKE_OWED: u8 = 2; // 0
    pub const HAND_OWED: u8 = 3; // 1: which held value
    pub const HAND_AGAIN: u8 = 4; // 0
    pub const HAND_FOREIGN: u8 = 5; // 1: which held value
    pub const TEXT: u8 = 6; // 1: length
    pub const BINARY: u8 = 7; // 1: length
    pub const FRAGMENT: u8 = 8; // 2: length, flags (bit 0 text, bit 1 final)
    pub const PING: u8 = 9; // 1: length (modulo 128)
    pub const PING_AT: u8 = 10; // 0
    pub const PONG: u8 = 11; // 1: length (modulo 128)
    pub const CLOSE: u8 = 12; // 0
    pub const CLOSE_WITH: u8 = 13; // 1: code (low 3 bits), reason length (high 5 bits, * 4)
    pub const TIMEOUT: u8 = 14; // 1: time advanced
    pub const JOIN: u8 = 15; // 0
    pub const SPLIT: u8 = 16; // 0
    pub const JOIN_FOREIGN: u8 = 17; // 0
    pub const POLL_FOREIGN: u8 = 18; // 0
    pub const SHUT: u8 = 19; // 0
    pub const WRITE: u8 = 20; // 1: bytes * 4
    pub const FLUSH: u8 = 21; // 0
    pub const CODES: u8 = 22;

    /// The argument bytes a code takes.
    pub fn arguments(code: u8) -> usize {
        match code {
            FRAGMENT => 2,
            DELIVER | POLL | HAND_OWED | HAND_FOREIGN | TEXT | BINARY | PING | PONG
            | CLOSE_WITH | TIMEOUT | WRITE => 1,
            _ => 0,
        }
    }

    /// The opcode byte of `code` on `side`.
    pub fn op(side: u8, code: u8) -> u8 {
        side | code << 1
    }

    /// `POLL`'s argument bits 3-4.
    pub const POLL_KEEP: u8 = 0;
    pub const POLL_WITH: u8 = 1 << 3;
    pub const POLL_STEP: u8 = 2 << 3;
}

/// The byte format of the `deflate` target, shared with `make_seeds`. Byte 0, bit 0 chooses the
/// part: [`deflate_input::ROUND_TRIP`] set for the round trips, clear for inflating arbitrary
/// input.
pub mod deflate_input {
    pub const ROUND_TRIP: u8 = 0x01;

    /// A content, as the operations that carry a message give it: one byte, its kind in bits
    /// 0-1, then what that kind takes.
    pub mod content {
        /// Bits 2-7 + 1 bytes follow, repeated to the length: compresses well (a bomb when
        /// long).
        pub const PATTERN: u8 = 0;
        /// Bytes of a generator seeded by bits 2-7: does not compress.
        pub const RANDOM: u8 = 1;
        /// Words, some of several-byte characters, drawn by a generator seeded by bits 2-7.
        pub const WORDS: u8 = 2;
        /// The bytes that follow, up to the length.
        pub const LITERAL: u8 = 3;
    }

    /// Inflating arbitrary input: a framed server with permessage-deflate (`use_deflate`) fed a
    /// peer's frames. Four header bytes, then the peer's bytes as they are (`RAW`) or
    /// operations that write them.
    pub mod inflate {
        // Byte 0 (bit 0 clear): options, and the version in bits 5-7 (hybi-07, hybi-08,
        // hybi-13, modulo 3).
        pub const STREAM: u8 = 0x02;
        /// Fed in chunks of 1 to 64 bytes.
        pub const CHUNKED: u8 = 0x04;
        /// The end of the stream after the input.
        pub const EOF: u8 = 0x08;
        /// The rest of the input is the peer's bytes, as they are.
        pub const RAW: u8 = 0x10;
        // Byte 1: limits (`limits_from`). Byte 2: the parameters: bit 0
        // server_no_context_takeover, bit 1 client_no_context_takeover, bits 2-4 the server's
        // window - 8, bits 5-7 the client's window - 8. Byte 3: the chunking seed.
        pub const SERVER_NO_CONTEXT_TAKEOVER: u8 = 0x01;
        pub const CLIENT_NO_CONTEXT_TAKEOVER: u8 = 0x02;

        /// The operations, by their code (bits 0-2 of the operation byte) and their arguments.
        /// A frame of any first byte: first byte, length, payload (masked with a fixed key).
        pub const FRAME: u8 = 0;
        /// A compressed message by a compressor of our own: flags, length (2 bytes, big
        /// endian: below 0x8000 modulo 2048, else twice the low 15 bits), content. Bits 3-5 of the operation byte: the level - 1; bits 6-7: the
        /// strategy (default, Huffman only, run lengths, fixed codes).
        pub const DEFLATED: u8 = 1;
        /// An uncompressed message: flags (`TEXT`, frames), length (2 bytes, as `DEFLATED`'s),
        /// content.
        pub const PLAIN: u8 = 2;
        /// A ping: length (modulo 126), payload.
        pub const PING: u8 = 3;
        /// Bytes as they are: length, bytes.
        pub const BYTES: u8 = 4;
        /// A close frame (1000); the operations after it are not read.
        pub const CLOSE: u8 = 5;
        /// The server sends a message: flags (`TEXT`, `UNCOMPRESSED`), length (2 bytes, at
        /// most 4096 used), content.
        pub const SEND: u8 = 6;

        /// Flags of `DEFLATED` and `PLAIN`: text (else binary); bits 1-3, the frames - 1.
        pub const TEXT: u8 = 0x01;
        /// `DEFLATED`: two more bytes (position / 256 of the length, xor value) corrupt one
        /// byte of the compressed data.
        pub const CORRUPT: u8 = 0x10;
        /// `DEFLATED`: the compressor keeps its context from the previous compressed message
        /// (unless client_no_context_takeover).
        pub const KEEP_CONTEXT: u8 = 0x20;
        /// `DEFLATED`, `PLAIN`: a ping between frames.
        pub const PING_BETWEEN: u8 = 0x40;
        /// `DEFLATED`: ends with a block with BFINAL set instead of a sync flush (RFC 7692
        /// §7.2.3.4); the compressor starts a new stream for the next message.
        pub const FINAL_BLOCK: u8 = 0x80;
        /// `SEND`: by `send_*_uncompressed`.
        pub const UNCOMPRESSED: u8 = 0x02;

        /// The operation byte of `code` (with `extra` in bits 3-7).
        pub fn op(code: u8, extra: u8) -> u8 {
            code | extra << 3
        }
    }

    /// Round trips: a client and a server of one version, each with the permessage-deflate
    /// configuration the bytes give, through a real handshake, then operations.
    pub mod round_trip {
        // Byte 0 (bit 0 set): the version in bits 1-3 (modulo 5), and options.
        pub const STREAM: u8 = 0x10;
        /// Small limits (`small_limits`: 300-byte frames, 600-byte messages, 2048 bytes of
        /// output), so that messages go over them and sends find the output full.
        pub const TIGHT: u8 = 0x20;
        /// The client starts the closing handshake (else the server).
        pub const CLIENT_CLOSES: u8 = 0x40;
        // Bytes 1-3: the client's configuration; bytes 4-6: the server's; byte 7: the
        // chunking seed; byte 8: the largest chunk.
        // A configuration: byte 0: bit 0 present (else no permessage-deflate), then the flags
        // below, bits 4-7 the level - 1 (modulo 9); byte 1: server_max_window_bits in the low
        // nibble, client_max_window_bits in the high one (0 for none, 1-7 clamped to 8);
        // byte 2: the threshold / 2.
        pub const PRESENT: u8 = 0x01;
        pub const SERVER_NO_CONTEXT_TAKEOVER: u8 = 0x02;
        pub const CLIENT_NO_CONTEXT_TAKEOVER: u8 = 0x04;
        pub const FALLBACK_OFFER: u8 = 0x08;

        /// The operations: the side in bit 0 (0 the client, 1 the server), the code in bits
        /// 1-3. `send_text`: length (2 bytes, big endian: below 0x8000 modulo 2048, else the low
        /// 15 bits modulo 20001), content.
        pub const TEXT: u8 = 0;
        /// `send_binary`: length (2 bytes), content.
        pub const BINARY: u8 = 1;
        /// `send_text_uncompressed`: length (2 bytes), content.
        pub const TEXT_PLAIN: u8 = 2;
        /// `send_binary_uncompressed`: length (2 bytes), content.
        pub const BINARY_PLAIN: u8 = 3;
        /// `send_fragment`: flags (bit 0 text, bits 1-3 the parts - 1, `FLUSH_BETWEEN`,
        /// `PING_BETWEEN`), length (2 bytes), content.
        pub const FRAGMENTS: u8 = 4;
        /// A ping: length (modulo 126).
        pub const PING: u8 = 5;
        /// Everything in transit delivered, in chunks.
        pub const FLUSH: u8 = 6;
        /// The side's last message sent again, compressed if it can be (context takeover
        /// finds it in the window).
        pub const REPEAT: u8 = 7;

        /// `FRAGMENTS` flags.
        pub const FLUSH_BETWEEN: u8 = 0x10;
        pub const PING_BETWEEN: u8 = 0x20;

        /// The operation byte of `code` on `side`.
        pub fn op(side: u8, code: u8) -> u8 {
            side | code << 1
        }
    }
}
