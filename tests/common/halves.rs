//! The scenario of `halves_threads` and `halves_smol`: one connection split into owned halves
//! ([`Connection::into_split`]) over loopback TCP, against a joined [`Connection`] peer on a
//! thread of its own. Only how the halves are driven differs between the two, so everything
//! else lives here: the messages and their checks, the peer, the blocking handshake, the
//! reports, what the halves hand each other, and the assertions on the outcome.
//!
//! Each direction carries 100,000 messages of 1 B to 64 KiB (text and binary, every byte
//! checked). The peer pings every 1,000 messages and waits for each pong before its next ping,
//! so every ping must be answered: the receiving half owes the pong, its driver hands the owed
//! value to the sending half's driver, and the sending half sends it. The sending half pings
//! too, and its receiving half reads the round-trip stamps back. The close completes cleanly,
//! started by either side, in both roles.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use wsmachine::drive::{Step, Transfer};
use wsmachine::{
    Accept, ClientRequest, CloseCode, Config, Connection, Entropy, Event, KeySource, NoEntropy,
    Owed, Receiver, Sender, State,
};

/// Messages each way.
pub const MESSAGES: usize = 100_000;
/// The peer pings (and the split side's sending half pings) before every this many messages.
pub const PING_EVERY: usize = 1_000;
/// Pings each side sends.
pub const PINGS: u64 = (MESSAGES / PING_EVERY) as u64;
/// The largest message.
pub const MAX_LEN: usize = 64 * 1024;
/// Message sequences: what the split side sends, what the peer sends.
pub const SPLIT_TO_PEER: u64 = 1;
pub const PEER_TO_SPLIT: u64 = 2;
/// A test that stops moving for this long fails instead of hanging.
pub const STALL: Duration = Duration::from_secs(20);
/// The sending half writes once this much output is queued, or at once after applying an owed
/// value: the peer waits for each pong before its next ping, so a pong must not sit in the
/// queue until enough small messages pile up behind it.
const FLUSH_AT: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// The messages: a deterministic mix, mostly small, from 1 B to 64 KiB, text and binary.

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Random bytes and random text (ASCII with two-, three- and four-byte characters) that
/// messages are slices of.
struct Corpus {
    bytes: Vec<u8>,
    text: String,
}

/// Where a message may start in the corpus.
const OFFSETS: usize = 128 * 1024;

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let len = OFFSETS + MAX_LEN + 8;
        let mut seed = 0x5EED_u64;
        let mut next = move || {
            seed = mix(seed);
            seed
        };
        let bytes = (0..len).map(|_| next() as u8).collect();
        let chars = ['é', 'ß', '☃', '€', '中', '𝄞', '😀'];
        let mut text = String::with_capacity(len + 4);
        while text.len() < len {
            let r = next();
            if r % 8 == 0 {
                text.push(chars[(r >> 8) as usize % chars.len()]);
            } else {
                text.push((b' ' + (r >> 8) as u8 % 95) as char);
            }
        }
        Corpus { bytes, text }
    })
}

#[derive(Clone, Copy)]
pub enum Msg<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// Message `i` of sequence `seq`.
pub fn message(seq: u64, i: usize) -> Msg<'static> {
    let c = corpus();
    let h = mix((seq << 40) ^ i as u64);
    let r = h >> 32;
    let len = match i % 5_000 {
        // Both ends of the range, exactly, in both kinds.
        1 | 3 => 1,
        2 | 4 => MAX_LEN,
        _ => match (h >> 20) % 1024 {
            0 => MAX_LEN / 2 + (r as usize) % (MAX_LEN / 2 + 1),
            1..=4 => 129 + (r as usize) % (16 * 1024 - 128),
            _ => 1 + (r as usize) % 128,
        },
    };
    let offset = (h as usize >> 8) % OFFSETS;
    let text = match i % 5_000 {
        1 | 2 => false,
        3 | 4 => true,
        _ => h & 1 == 1,
    };
    if text {
        Msg::Text(text_slice(&c.text, offset, len))
    } else {
        Msg::Binary(&c.bytes[offset..offset + len])
    }
}

/// At most `len` bytes of `text` from `offset`, on character boundaries (at least one
/// character).
fn text_slice(text: &str, offset: usize, len: usize) -> &str {
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let mut end = start + len;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end == start {
        end += 1;
        while !text.is_char_boundary(end) {
            end += 1;
        }
    }
    &text[start..end]
}

/// The payload bytes of a whole sequence.
fn total_bytes(seq: u64) -> usize {
    (0..MESSAGES)
        .map(|i| match message(seq, i) {
            Msg::Text(t) => t.len(),
            Msg::Binary(b) => b.len(),
        })
        .sum()
}

/// Checks that `got` is message `i` of `seq`, byte for byte.
pub fn check(who: &str, seq: u64, i: usize, got: Msg<'_>) {
    assert!(i < MESSAGES, "{who}: more than {MESSAGES} messages");
    match (message(seq, i), got) {
        (Msg::Text(want), Msg::Text(got)) => assert!(
            want == got,
            "{who}: text message {i} differs ({} bytes expected, {} received)",
            want.len(),
            got.len()
        ),
        (Msg::Binary(want), Msg::Binary(got)) => assert!(
            want == got,
            "{who}: binary message {i} differs ({} bytes expected, {} received)",
            want.len(),
            got.len()
        ),
        (Msg::Text(_), Msg::Binary(_)) => panic!("{who}: message {i} should be text"),
        (Msg::Binary(_), Msg::Text(_)) => panic!("{who}: message {i} should be binary"),
    }
}

pub fn send<R: KeySource>(tx: &mut Sender<Vec<u8>, R>, msg: Msg<'_>) {
    match msg {
        Msg::Text(t) => tx.send_text(t).unwrap(),
        Msg::Binary(b) => tx.send_binary(b).unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// Setup.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Server,
    Client,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closer {
    /// The split connection's sending half starts the close.
    Split,
    /// The peer starts it.
    Peer,
}

/// How the split side gets its TCP connection. The listener is bound before either side
/// starts, whichever side accepts, so that connecting never races the bind.
pub enum SplitEnd {
    Accept(TcpListener),
    Connect(SocketAddr),
}

/// Deterministic masking keys for the peer when it is the client.
fn peer_keys() -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut state = 0xC0FF_EE00_u64;
    move |dest: &mut [u8]| {
        for byte in dest {
            state = mix(state);
            *byte = state as u8;
        }
    }
}

/// Both roles and both drivers ask for the same resource.
pub fn request(host: &str) -> ClientRequest<'_> {
    ClientRequest::new(host, "/halves")
}

/// A blocking server connection, open.
pub fn accept_blocking(listener: &TcpListener) -> (TcpStream, Connection<Vec<u8>, NoEntropy>) {
    let (mut stream, _) = listener.accept().unwrap();
    stream.set_nodelay(true).unwrap();
    let mut conn = Connection::server(Config::default());
    handshake(&mut conn, &mut stream);
    (stream, conn)
}

/// A blocking client connection, open.
pub fn connect_blocking<R: Entropy>(
    addr: SocketAddr,
    keys: R,
) -> (TcpStream, Connection<Vec<u8>, R>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let host = addr.to_string();
    let mut conn = Connection::client(&request(&host), Config::default(), keys).unwrap();
    handshake(&mut conn, &mut stream);
    (stream, conn)
}

/// The opening handshake on a joined connection over a blocking stream: a server accepts the
/// request, a client waits for the answer.
pub fn handshake<R: KeySource>(conn: &mut Connection<Vec<u8>, R>, stream: &mut TcpStream) {
    loop {
        flush_joined(conn, stream);
        match conn.step().expect("handshake") {
            Step::Event(Event::Request(_)) | Step::Event(Event::Accepted(_)) => {}
            Step::Event(other) => panic!("unexpected event during the handshake: {other:?}"),
            Step::Read | Step::Wait => {
                let read = Transfer::from_io(stream.read(conn.read_buffer())).expect("read");
                assert_ne!(read, Transfer::End, "the peer left during the handshake");
                conn.handle_read(read);
            }
            Step::Closed => panic!("closed during the handshake"),
        }
        if conn.request().is_some() {
            conn.accept(Accept::new()).expect("accept");
        }
        if conn.state() == State::Open {
            flush_joined(conn, stream);
            return;
        }
    }
}

fn flush_joined<R: KeySource>(conn: &mut Connection<Vec<u8>, R>, stream: &mut TcpStream) {
    while !conn.pending_output().is_empty() {
        let written = Transfer::from_io(stream.write(conn.pending_output())).expect("write");
        assert!(conn.handle_write(written), "the transport took nothing");
    }
}

// ---------------------------------------------------------------------------------------------
// The split side's halves, apart from their I/O and how they reach each other.

/// The halves of the open connection, open.
pub fn split_open<R: KeySource>(
    conn: Connection<Vec<u8>, R>,
) -> (Receiver<Vec<u8>>, Sender<Vec<u8>, R>) {
    let (rx, tx) = conn.into_split().expect("an open connection splits");
    assert_eq!((rx.state(), tx.state()), (State::Open, State::Open));
    (rx, tx)
}

/// Checks that the halves each closed, and that they still join into one closed connection.
pub fn join_closed<R: KeySource>(rx: Receiver<Vec<u8>>, tx: Sender<Vec<u8>, R>) {
    assert_eq!(rx.state(), State::Closed, "receiving half");
    assert_eq!(tx.state(), State::Closed, "sending half");
    let conn = Connection::join(rx, tx).expect("the halves of one connection join");
    assert_eq!(conn.state(), State::Closed, "joined connection");
}

/// What the receiving half's driver tells the sending half's driver.
pub enum ToWriter {
    /// What the receiving half owes the sending half.
    Owed(Owed),
    /// A pong answering the sending half's ping stamped with this number arrived.
    Pong(u64),
    /// All the peer's messages arrived (the split side may close once its own are sent).
    ReceivedAll,
}

/// What the receiving half's driver does after [`ReaderReport::step`].
pub enum Then {
    Step,
    /// Read into [`read_buffer`], then step.
    Read,
    /// Stop, then [`check_reader_end`].
    Closed,
}

#[derive(Debug, Default)]
pub struct ReaderReport {
    pub received: usize,
    /// Payload bytes of the messages received.
    pub bytes: usize,
    /// The peer's pings seen.
    pub pings: u64,
    /// The stamps of the pongs that answered the sending half's pings, in order.
    pub pong_stamps: Vec<u64>,
    /// Owed values handed to the sending half's driver.
    pub owed: usize,
    pub close: Option<(Option<CloseCode>, String, bool)>,
}

impl ReaderReport {
    /// One step of the receiving half, checked and counted, with what its driver must hand the
    /// sending half's driver, in order.
    pub fn step(&mut self, rx: &mut Receiver<Vec<u8>>) -> (Then, Vec<ToWriter>) {
        let mut then = Then::Step;
        let mut pong_seen = None;
        let before = self.received;
        match rx.step().expect("split receiver") {
            Step::Event(Event::Text(t)) => {
                check("split receiver", PEER_TO_SPLIT, self.received, Msg::Text(t));
                self.received += 1;
                self.bytes += t.len();
            }
            Step::Event(Event::Binary(b)) => {
                check(
                    "split receiver",
                    PEER_TO_SPLIT,
                    self.received,
                    Msg::Binary(b),
                );
                self.received += 1;
                self.bytes += b.len();
            }
            Step::Event(Event::Ping(_)) => self.pings += 1,
            Step::Event(Event::Pong(pong)) => {
                let stamp = pong.sent_at.expect("a pong answering a stamped ping");
                self.pong_stamps.push(stamp);
                pong_seen = Some(stamp);
            }
            Step::Event(Event::Close(close)) => {
                assert!(self.close.is_none(), "a second close event");
                self.close = Some((close.code, close.reason.to_owned(), close.clean));
            }
            Step::Event(other) => panic!("split receiver: unexpected event {other:?}"),
            Step::Read | Step::Wait => then = Then::Read,
            // Whatever is still owed now is left behind: `check_reader_end` catches it.
            Step::Closed => return (Then::Closed, Vec::new()),
        }
        let mut for_writer = Vec::new();
        if let Some(owed) = rx.take_owed() {
            self.owed += 1;
            for_writer.push(ToWriter::Owed(owed));
        }
        if let Some(stamp) = pong_seen {
            for_writer.push(ToWriter::Pong(stamp));
        }
        if self.received == MESSAGES && before < MESSAGES {
            for_writer.push(ToWriter::ReceivedAll);
        }
        (then, for_writer)
    }
}

/// After [`Then::Closed`]: nothing may be left owed that the sending half never got.
pub fn check_reader_end(rx: &mut Receiver<Vec<u8>>) {
    assert_eq!(rx.state(), State::Closed);
    assert!(rx.take_owed().is_none(), "owed value left behind");
}

/// Where the receiving half's driver reads to after [`Then::Read`].
pub fn read_buffer(rx: &mut Receiver<Vec<u8>>) -> &mut [u8] {
    let buffer = rx.read_buffer();
    assert!(
        !buffer.is_empty(),
        "no room to read after all events were polled"
    );
    buffer
}

#[derive(Debug, Default)]
pub struct WriterReport {
    /// Owed values applied.
    pub owed: usize,
    /// Owed values applied while the messages were being sent (the rest came after).
    pub owed_during_sends: usize,
    /// Pongs to this half's pings, as the receiving side reported them.
    pub pongs: u64,
    /// The receiving side has all the peer's messages.
    pub received_all: bool,
}

/// What the sending half's driver does after [`Writer::next`].
pub enum Next {
    /// Write all of the sending half's output, then ask again.
    Flush,
    /// Write all output, wait for the receiving half's driver, [`Writer::apply`] what it
    /// hands over, then ask again. The output goes first because what the sending half waits
    /// for (a pong, the close's answer) only comes once the peer has what was queued.
    Wait,
    /// The sending half is closed and its output written.
    Done,
}

/// The sending half's part of the scenario (the messages, its pings, the close) apart from
/// I/O, so that each driver only writes and waits where it is told to.
pub struct Writer<R: KeySource> {
    pub tx: Sender<Vec<u8>, R>,
    pub report: WriterReport,
    closer: Closer,
    /// Messages sent.
    sent: usize,
    /// `report.owed` before the items that arrived ahead of the next message were applied;
    /// `None` until they are.
    owed_before: Option<usize>,
}

impl<R: KeySource> Writer<R> {
    pub fn new(tx: Sender<Vec<u8>, R>, closer: Closer) -> Self {
        Writer {
            tx,
            report: WriterReport::default(),
            closer,
            sent: 0,
            owed_before: None,
        }
    }

    /// Applies what the receiving half's driver handed over.
    pub fn apply(&mut self, item: ToWriter) {
        match item {
            ToWriter::Owed(owed) => {
                self.tx
                    .handle_owed(owed)
                    .expect("owed value of this connection");
                self.report.owed += 1;
            }
            ToWriter::Pong(stamp) => {
                assert_eq!(stamp, self.report.pongs, "pong out of order");
                self.report.pongs += 1;
            }
            ToWriter::ReceivedAll => self.report.received_all = true,
        }
    }

    /// Sends up to the next write or wait its driver must do; `arrived` yields, without
    /// waiting, what the receiving half's driver has handed over so far.
    pub fn next(&mut self, mut arrived: impl FnMut() -> Option<ToWriter>) -> Next {
        while self.sent < MESSAGES {
            let i = self.sent;
            if self.owed_before.is_none() {
                self.owed_before = Some(self.report.owed);
                while let Some(item) = arrived() {
                    self.apply(item);
                }
            }
            if i % PING_EVERY == 0 {
                // Like the peer, one ping outstanding: the previous one's pong first.
                let k = (i / PING_EVERY) as u64;
                if self.report.pongs < k {
                    return Next::Wait;
                }
                self.tx.ping_at(k).unwrap();
            }
            let owed = self
                .owed_before
                .take()
                .is_some_and(|before| self.report.owed > before);
            send(&mut self.tx, message(SPLIT_TO_PEER, i));
            self.sent += 1;
            if self.sent == MESSAGES {
                self.report.owed_during_sends = self.report.owed;
            }
            if owed || self.tx.pending_output().len() >= FLUSH_AT {
                return Next::Flush;
            }
        }
        // The pongs still owed, the close, and the close's answer.
        if self.tx.state() != State::Closed {
            // Not before every message arrived, so that the peer's messages are not cut short.
            if self.closer == Closer::Split
                && self.report.received_all
                && self.tx.state() == State::Open
            {
                self.tx.close().unwrap();
                assert_eq!(self.tx.state(), State::Closing);
            }
            return Next::Wait;
        }
        if self.tx.pending_output().is_empty() {
            Next::Done
        } else {
            Next::Flush
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The peer: a joined connection, one thread, a non-blocking socket.

#[derive(Debug, Default)]
struct PeerReport {
    received: usize,
    /// Payload bytes of the messages received.
    bytes: usize,
    /// The pings the split side's sending half sent.
    pings: u64,
    /// Pongs that answered the peer's own pings.
    pongs: u64,
    close: Option<(Option<CloseCode>, String, bool)>,
}

/// The other role, joined, on its own thread; returns its final state and report.
fn spawn_peer(
    listener: Option<TcpListener>,
    addr: SocketAddr,
    closer: Closer,
) -> thread::JoinHandle<(State, PeerReport)> {
    thread::Builder::new()
        .name("peer".into())
        .spawn(move || match listener {
            None => {
                let (stream, conn) = connect_blocking(addr, peer_keys());
                let (conn, report) = run_peer(conn, stream, closer);
                (conn.state(), report)
            }
            Some(listener) => {
                let (stream, conn) = accept_blocking(&listener);
                let (conn, report) = run_peer(conn, stream, closer);
                (conn.state(), report)
            }
        })
        .unwrap()
}

fn run_peer<R: KeySource>(
    mut conn: Connection<Vec<u8>, R>,
    mut stream: TcpStream,
    closer: Closer,
) -> (Connection<Vec<u8>, R>, PeerReport) {
    stream.set_nonblocking(true).unwrap();
    let mut report = PeerReport::default();
    let mut sent = 0;
    let mut pinged = 0u64;
    let mut done = false;
    let mut last_progress = Instant::now();
    loop {
        let mut progress = false;
        // Queue messages (a bounded backlog), pinging every PING_EVERY messages once the
        // previous ping was answered.
        while sent < MESSAGES && conn.state() == State::Open {
            if conn.pending_output().len() >= 256 * 1024 {
                break;
            }
            if sent % PING_EVERY == 0 && pinged == (sent / PING_EVERY) as u64 {
                if report.pongs < pinged {
                    break; // wait for the pong of the previous ping
                }
                conn.ping_at(pinged).unwrap();
                pinged += 1;
            }
            send(conn.sender(), message(PEER_TO_SPLIT, sent));
            sent += 1;
            progress = true;
        }
        if closer == Closer::Peer
            && conn.state() == State::Open
            && sent == MESSAGES
            && report.received == MESSAGES
            && report.pongs == PINGS
        {
            conn.close().unwrap();
            progress = true;
        }
        // Write what the socket takes.
        while !conn.pending_output().is_empty() {
            match Transfer::from_io(stream.write(conn.pending_output())).expect("peer write") {
                Transfer::Bytes(n) => {
                    conn.consume_output(n);
                    progress = true;
                }
                Transfer::Retry => {}
                Transfer::Blocked => break,
                Transfer::End => panic!("peer: the transport took nothing"),
            }
        }
        if done && conn.pending_output().is_empty() {
            break;
        }
        // Read what arrived, and handle it.
        for _ in 0..8 {
            if done {
                break;
            }
            let buffer = conn.read_buffer();
            assert!(!buffer.is_empty(), "peer: no room to read");
            let read = Transfer::from_io(stream.read(buffer)).expect("peer read");
            conn.handle_read(read);
            match read {
                Transfer::Bytes(_) | Transfer::End => progress = true,
                Transfer::Retry => continue,
                Transfer::Blocked => break,
            }
            loop {
                match conn.step().expect("peer") {
                    Step::Event(Event::Text(t)) => {
                        check("peer", SPLIT_TO_PEER, report.received, Msg::Text(t));
                        report.received += 1;
                        report.bytes += t.len();
                    }
                    Step::Event(Event::Binary(b)) => {
                        check("peer", SPLIT_TO_PEER, report.received, Msg::Binary(b));
                        report.received += 1;
                        report.bytes += b.len();
                    }
                    Step::Event(Event::Ping(_)) => report.pings += 1,
                    Step::Event(Event::Pong(pong)) => {
                        // One ping outstanding at a time: each must be answered, in order.
                        assert_eq!(pong.sent_at, Some(report.pongs), "peer: pong out of order");
                        report.pongs += 1;
                    }
                    Step::Event(Event::Close(close)) => {
                        assert!(report.close.is_none(), "peer: a second close event");
                        report.close = Some((close.code, close.reason.to_owned(), close.clean));
                    }
                    Step::Event(other) => panic!("peer: unexpected event {other:?}"),
                    Step::Read | Step::Wait => break,
                    Step::Closed => {
                        done = true;
                        break;
                    }
                }
            }
        }
        if progress {
            last_progress = Instant::now();
        } else {
            assert!(
                last_progress.elapsed() < STALL,
                "peer stalled: sent {sent}, pinged {pinged}, {report:?}"
            );
            thread::sleep(Duration::from_micros(50));
        }
    }
    (conn, report)
}

// ---------------------------------------------------------------------------------------------
// The scenario.

/// The value, or `None` with the panic's message added to `failures` under `name`.
pub fn joined<T>(name: &str, result: thread::Result<T>, failures: &mut Vec<String>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {message}"));
            None
        }
    }
}

/// Runs the scenario with `split_side` driving the split connection: it opens the connection
/// from `SplitEnd`, splits it, drives the halves to the end, checks that they closed and join
/// again, and returns their reports. A panic there is reported together with the peer's, so
/// that a failure on one side is not hidden behind the other side's stall.
pub fn scenario(
    side: Side,
    closer: Closer,
    split_side: impl FnOnce(SplitEnd, Closer) -> (ReaderReport, WriterReport),
) {
    let started = Instant::now();
    corpus();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (split_end, peer_listener) = match side {
        Side::Server => (SplitEnd::Accept(listener), None),
        Side::Client => (SplitEnd::Connect(addr), Some(listener)),
    };
    let peer = spawn_peer(peer_listener, addr, closer);
    let mut failures = Vec::new();
    let split = panic::catch_unwind(AssertUnwindSafe(|| split_side(split_end, closer)));
    let split = joined("split side", split, &mut failures);
    let peer = joined("peer thread", peer.join(), &mut failures);
    let (Some((reader, writer)), Some((peer_state, peer))) = (split, peer) else {
        panic!("{side:?}, {closer:?} closes: {failures:#?}");
    };

    // Every message, each way, byte for byte (checked as they arrived).
    assert_eq!(reader.received, MESSAGES);
    assert_eq!(peer.received, MESSAGES);
    assert_eq!(reader.bytes, total_bytes(PEER_TO_SPLIT));
    assert_eq!(peer.bytes, total_bytes(SPLIT_TO_PEER));
    // Every ping of the peer's was answered (it waited for each pong before the next ping),
    // and the split side saw them all.
    assert_eq!(peer.pongs, PINGS);
    assert_eq!(reader.pings, PINGS);
    // The split side's own pings (also one outstanding at a time): each answered, its stamp
    // read back by the receiving half and reported to the sending half.
    assert_eq!(peer.pings, PINGS);
    assert_eq!(reader.pong_stamps, (0..PINGS).collect::<Vec<_>>());
    assert_eq!(writer.pongs, PINGS);
    assert!(writer.received_all);
    // Owed values: one per ping, and the close's; all applied by the sending half.
    assert_eq!(reader.owed, PINGS as usize + 1);
    assert_eq!(writer.owed, reader.owed);
    // The close: clean on both sides, code 1000 (the reply echoes it).
    let normal = Some(CloseCode::NORMAL);
    assert_eq!(
        reader.close,
        Some((normal, String::new(), true)),
        "split side's close"
    );
    assert_eq!(
        peer.close,
        Some((normal, String::new(), true)),
        "peer's close"
    );
    assert_eq!(peer_state, State::Closed);
    eprintln!(
        "{side:?} split side, {closer:?} closes: {MESSAGES} messages each way ({} and {} bytes), \
         {} of {} owed values applied while sending, in {:?}",
        peer.bytes,
        reader.bytes,
        writer.owed_during_sends,
        writer.owed,
        started.elapsed()
    );
}

/// The eight tests are the four cases under each driver: `$split_side` is the driver's
/// argument to [`scenario`].
// The other test files include `common` without running this scenario.
#[allow(unused_macros)]
macro_rules! scenario_tests {
    ($split_side:path) => {
        $crate::common::halves::scenario_tests! {
            $split_side;
            split_server_closes_first: Server, Split;
            split_server_peer_closes_first: Server, Peer;
            split_client_closes_first: Client, Split;
            split_client_peer_closes_first: Client, Peer;
        }
    };
    ($split_side:path; $($test:ident: $side:ident, $closer:ident;)*) => {
        $(
            #[test]
            fn $test() {
                $crate::common::halves::scenario(
                    $crate::common::halves::Side::$side,
                    $crate::common::halves::Closer::$closer,
                    $split_side,
                );
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use scenario_tests;
