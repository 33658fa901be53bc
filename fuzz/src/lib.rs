//! The harness the fuzz targets share: a driver around a [`Connection`] that checks the
//! crate's promises after every call, and the helpers the targets build inputs with.
//!
//! What [`Peer`] checks on every step:
//! - memory: each buffer stays within the bound its [`Limits`] imply (see [`Bounds`]);
//! - the close event comes at most once, only for a connection that opened, and nothing (no
//!   event, no error) comes after it; a closed connection that opened has delivered it;
//! - errors are the documented ones: a server's handshake failures carry a status (but the end
//!   of the stream) and never a client's kinds, protocol errors come only after the handshake
//!   (with a close code on hybi, none on hixie), usage errors never come from `poll_event`, and
//!   after any error the connection is closed;
//! - events fit their limits and their version (hixie has no binary, ping, pong or codes);
//! - input is never refused while nothing can be reported (no livelock on a full buffer).

use wsmachine::{
    handshake::Accept, CloseCode, Connection, Entropy, Error, Event, HandshakeError, Limits,
    ProtocolError, Role, State, UsageError, Version,
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

/// An event, owned, so that runs can be compared.
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
    },
    Text(String),
    Binary(Vec<u8>),
    Fragment {
        data: Vec<u8>,
        is_text: bool,
        is_final: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close {
        code: Option<CloseCode>,
        reason: String,
        clean: bool,
    },
    Error(Error),
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

/// A connection under test, with everything needed to check it.
pub struct Peer<R: Entropy> {
    pub conn: Connection<Vec<u8>, R>,
    pub limits: Limits,
    pub answer: Answer,
    /// The version the connection speaks, if known (a client's from the start).
    pub version: Option<Version>,
    /// Whether it opened (so that a close event is owed).
    pub opened: bool,
    /// Whether the close event was delivered.
    pub closed: bool,
    /// Every event and error, in order.
    pub log: Vec<Ev>,
    /// Every output byte taken, in order (when kept).
    pub sent: Vec<u8>,
    pub keep_output: bool,
    /// Whether the peer's bytes may be anything (otherwise they come from a correct peer of
    /// the same limits, and only limit violations and invalid text may fail them).
    pub hostile_input: bool,
    /// Whether the peer may have sent text fragments that are not UTF-8 together.
    pub peer_sent_invalid_text: bool,
    /// Input that could not be given because a request waits for an answer.
    pub stalled: bool,
}

impl Peer<wsmachine::NoEntropy> {
    pub fn server(config: wsmachine::Config, answer: Answer) -> Self {
        Peer::wrap(Connection::server(config), None, answer, false)
    }
}

impl<R: Entropy> Peer<R> {
    pub fn wrap(
        conn: Connection<Vec<u8>, R>,
        version: Option<Version>,
        answer: Answer,
        opened: bool,
    ) -> Self {
        let limits = conn.config().limits;
        let peer = Peer {
            conn,
            limits,
            answer,
            version,
            opened,
            closed: false,
            log: Vec::new(),
            sent: Vec::new(),
            keep_output: true,
            hostile_input: true,
            peer_sent_invalid_text: false,
            stalled: false,
        };
        peer.check_memory();
        peer
    }

    pub fn role(&self) -> Role {
        self.conn.role()
    }

    /// Each buffer within its bound, and their sum within the total.
    pub fn check_memory(&self) {
        let b = Bounds::of(&self.limits);
        let total = self.conn.buffered_capacity();
        assert!(
            total <= b.total(),
            "buffers hold {total} bytes, over the {} the limits allow ({:?})",
            b.total(),
            self.limits
        );
        #[cfg(fuzzing)]
        {
            let [input, output, message] = self.conn.buffer_capacities();
            assert!(input <= b.input, "input holds {input} > {}", b.input);
            assert!(output <= b.output, "output holds {output} > {}", b.output);
            assert!(
                message <= b.message,
                "message holds {message} > {}",
                b.message
            );
        }
    }

    /// Gives `data` to the connection, polling events whenever the input is full, then polls
    /// until nothing is left. Returns the number of events and errors logged.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let before = self.log.len();
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
        self.log.len() - before
    }

    /// The end of the stream, and the events it brings.
    pub fn eof(&mut self) -> usize {
        self.conn.handle_eof();
        self.drain()
    }

    /// Time advances, and the events it brings.
    pub fn timeout(&mut self, now: u64) -> usize {
        let state = self.conn.state();
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

    /// Takes all pending output (keeping it if asked).
    pub fn take_output(&mut self) -> Vec<u8> {
        let out = self.conn.pending_output().to_vec();
        self.conn.consume_output(out.len());
        assert!(self.conn.pending_output().is_empty());
        if self.keep_output {
            self.sent.extend_from_slice(&out);
        }
        self.check_memory();
        out
    }

    /// Polls until nothing is left, checking every event and error; returns how many came.
    pub fn drain(&mut self) -> usize {
        let mut count = 0;
        // Each event consumes input or changes state; a connection that reports forever
        // without either is stuck.
        let max_polls = self.conn.buffered_input().len() + 16;
        loop {
            assert!(count <= max_polls, "poll_event never returns None");
            if !self.poll_one() {
                break;
            }
            count += 1;
        }
        if self.opened && self.conn.state() == State::Closed {
            assert!(self.closed, "closed after opening without a close event");
        }
        if !self.opened {
            assert!(!self.closed);
        }
        self.check_memory();
        count
    }

    /// Polls one event; false when there was none.
    fn poll_one(&mut self) -> bool {
        let role = self.role();
        let was_open = self.opened;
        let state_before = self.conn.state();
        let limits = self.limits;
        let result = self.conn.poll_event();
        let ev = match result {
            Ok(None) => return false,
            Err(e) => {
                assert!(!self.closed, "error {e:?} after the close event");
                match e {
                    Error::Handshake(h) => {
                        assert!(!was_open, "handshake error {h:?} after opening");
                        // A server answers every failure but the end of the stream with a
                        // status; a client's failures include its own (`Rejected`,
                        // `InvalidAccept`, ...), which have none.
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
                        // A correct peer's handshake fails only on the limits (either
                        // end's) or when the stream ends early.
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
                        let hixie = self.version.is_some_and(|v| v.is_hixie());
                        if hixie {
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
                    Error::Usage(u) => panic!("poll_event returned a usage error {u:?}"),
                    other => panic!("undocumented error {other:?}"),
                }
                assert_eq!(self.conn.state(), State::Closed, "not closed after {e:?}");
                self.log.push(Ev::Error(e));
                return true;
            }
            Ok(Some(event)) => event,
        };
        assert!(!self.closed, "event after the close event");
        let hixie = self.version.is_some_and(|v| v.is_hixie());
        let owned = match ev {
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
                Ev::Request {
                    version,
                    head: req.head().to_vec(),
                    body: req.body().to_vec(),
                }
            }
            Event::HttpRequest(req) => {
                assert_eq!(role, Role::Server);
                assert!(req.version().is_none());
                assert!(req.head().len() <= limits.max_handshake_bytes);
                Ev::HttpRequest {
                    head: req.head().to_vec(),
                }
            }
            Event::Accepted(res) => {
                assert_eq!(role, Role::Client);
                assert!(!was_open);
                assert_eq!(res.status(), 101);
                assert_eq!(Some(res.version()), self.version);
                assert!(res.head().len() <= limits.max_handshake_bytes);
                self.opened = true;
                Ev::Accepted {
                    status: res.status(),
                    protocol: res.protocol().map(str::to_owned),
                }
            }
            Event::Text(t) => {
                assert!(was_open);
                assert!(t.len() <= limits.max_message_size || hixie);
                if hixie {
                    assert!(t.len() <= limits.max_hixie_frame);
                }
                Ev::Text(t.to_owned())
            }
            Event::Binary(b) => {
                assert!(was_open && !hixie, "binary event on {:?}", self.version);
                assert!(b.len() <= limits.max_message_size);
                Ev::Binary(b.to_vec())
            }
            Event::Fragment(f) => {
                assert!(was_open && !hixie);
                assert!(f.data.len() <= limits.max_frame_payload);
                Ev::Fragment {
                    data: f.data.to_vec(),
                    is_text: f.is_text,
                    is_final: f.is_final,
                }
            }
            Event::Ping(p) => {
                assert!(was_open && !hixie);
                assert!(p.len() <= 125);
                Ev::Ping(p.to_vec())
            }
            Event::Pong(p) => {
                assert!(was_open && !hixie);
                assert!(p.payload.len() <= 125);
                Ev::Pong(p.payload.to_vec())
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
                Ev::Close {
                    code: c.code,
                    reason: c.reason.to_owned(),
                    clean: c.clean,
                }
            }
            other => panic!("undocumented event {other:?}"),
        };
        if let Ev::Close { .. } = owned {
            assert_eq!(
                self.conn.state(),
                State::Closed,
                "close event while not closed"
            );
        }
        let request = matches!(owned, Ev::Request { .. } | Ev::HttpRequest { .. });
        if let Ev::Request { version, .. } = &owned {
            self.version = *version;
        }
        self.log.push(owned);
        if request {
            self.answer_request();
        }
        true
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
                    self.opened = true;
                    let out = self.conn.pending_output();
                    assert!(out.starts_with(b"HTTP/1.1 101 "), "accept wrote {out:?}");
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

    /// The events that carry data, for comparing what was received with what was sent:
    /// fragments are joined into messages.
    pub fn messages(&self) -> Vec<Ev> {
        let mut out = Vec::new();
        let mut partial: Option<(bool, Vec<u8>)> = None;
        for ev in &self.log {
            match ev {
                Ev::Text(_) | Ev::Binary(_) | Ev::Ping(_) => out.push(ev.clone()),
                Ev::Fragment {
                    data,
                    is_text,
                    is_final,
                } => {
                    let (_, buf) = partial.get_or_insert_with(|| (*is_text, Vec::new()));
                    buf.extend_from_slice(data);
                    if *is_final {
                        let (text, buf) = partial.take().unwrap_or_default();
                        out.push(if text {
                            Ev::Text(String::from_utf8(buf).expect("fragments not UTF-8"))
                        } else {
                            Ev::Binary(buf)
                        });
                    }
                }
                _ => {}
            }
        }
        out
    }
}

/// Whether `bytes`, a text message so far, already cannot be UTF-8 whatever follows.
pub fn text_is_broken(bytes: &[u8], complete: bool) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => false,
        Err(e) => complete || e.error_len().is_some(),
    }
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
