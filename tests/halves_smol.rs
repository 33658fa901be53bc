//! Core v2: one connection split into owned halves ([`Connection::into_split`]) in two smol
//! tasks on one executor, over `smol::net::TcpStream` clones, driven by the shared step of
//! [`wsmachine::drive`], against a joined [`Connection`] peer on a thread of its own.
//!
//! Each direction carries 100,000 messages of 1 B to 64 KiB (text and binary, every byte
//! checked). The peer pings every 1,000 messages and waits for each pong before its next ping,
//! so every ping must be answered: the receiving task takes what its half owes and sends it
//! over a `smol::channel` to the sending task, which hands it to its half between sends. The
//! sending half pings too, and its receiving half reads the round-trip stamps back. The close
//! completes cleanly, started by either side, in both roles.
//!
//! Self-contained: no `tests/common`.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};

use wsmachine::drive::{Step, Transfer};
use wsmachine::{
    Accept, ClientRequest, CloseCode, Config, Connection, Event, KeySource, OsEntropy, Owed,
    Receiver, Sender, State,
};

/// Messages each way.
const MESSAGES: usize = 100_000;
/// The peer pings (and the split side's sending half pings) before every this many messages.
const PING_EVERY: usize = 1_000;
/// Pings each side sends.
const PINGS: u64 = (MESSAGES / PING_EVERY) as u64;
/// The largest message.
const MAX_LEN: usize = 64 * 1024;
/// Message sequences: what the split side sends, what the peer sends.
const SPLIT_TO_PEER: u64 = 1;
const PEER_TO_SPLIT: u64 = 2;
/// A test that stops moving for this long fails instead of hanging.
const STALL: Duration = Duration::from_secs(20);

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
enum Msg<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

/// Message `i` of sequence `seq`.
fn message(seq: u64, i: usize) -> Msg<'static> {
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
fn check(who: &str, seq: u64, i: usize, got: Msg<'_>) {
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

fn send<R: KeySource>(tx: &mut Sender<Vec<u8>, R>, msg: Msg<'_>) {
    match msg {
        Msg::Text(t) => tx.send_text(t).unwrap(),
        Msg::Binary(b) => tx.send_binary(b).unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// Setup.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closer {
    /// The split connection's sending half starts the close.
    Split,
    /// The peer starts it.
    Peer,
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

/// The peer's opening handshake on a joined connection over a blocking stream: a server accepts the
/// request, a client waits for the answer.
fn handshake<R: KeySource>(conn: &mut Connection<Vec<u8>, R>, stream: &mut TcpStream) {
    loop {
        flush_joined(conn, stream);
        match conn.step().expect("handshake") {
            Step::Event(Event::Request(_)) | Step::Event(Event::Accepted(_)) => {}
            Step::Event(other) => panic!("unexpected event during the handshake: {other:?}"),
            Step::Read => {
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
// The split side: a receiving task and a sending task on one executor.

/// `io` or a timeout error after [`STALL`], so that a test that stops moving fails.
async fn or_stall<T>(what: &str, io: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    io.or(async {
        smol::Timer::after(STALL).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what} stalled"),
        ))
    })
    .await
}

/// The opening handshake on the split side's joined connection, asynchronously.
async fn handshake_async<R: KeySource>(
    conn: &mut Connection<Vec<u8>, R>,
    stream: &mut smol::net::TcpStream,
) {
    loop {
        flush_joined_async(conn, stream).await;
        let mut read = false;
        match conn.step().expect("handshake") {
            Step::Event(Event::Request(_)) | Step::Event(Event::Accepted(_)) => {}
            Step::Event(other) => panic!("unexpected event during the handshake: {other:?}"),
            Step::Read => read = true,
            Step::Closed => panic!("closed during the handshake"),
        }
        if read {
            let outcome = or_stall("handshake read", stream.read(conn.read_buffer())).await;
            let outcome = Transfer::from_io(outcome).expect("read");
            assert_ne!(outcome, Transfer::End, "the peer left during the handshake");
            conn.handle_read(outcome);
        }
        if conn.request().is_some() {
            conn.accept(Accept::new()).expect("accept");
        }
        if conn.state() == State::Open {
            flush_joined_async(conn, stream).await;
            return;
        }
    }
}

async fn flush_joined_async<R: KeySource>(
    conn: &mut Connection<Vec<u8>, R>,
    stream: &mut smol::net::TcpStream,
) {
    while !conn.pending_output().is_empty() {
        let written = or_stall("write", stream.write(conn.pending_output())).await;
        let written = Transfer::from_io(written).expect("write");
        assert!(conn.handle_write(written), "the transport took nothing");
    }
}

/// Writes a sending half's output.
async fn flush_half<R: KeySource>(tx: &mut Sender<Vec<u8>, R>, stream: &mut smol::net::TcpStream) {
    while !tx.pending_output().is_empty() {
        let written = or_stall("split sender: write", stream.write(tx.pending_output())).await;
        let written = Transfer::from_io(written).expect("split sender: write");
        assert!(tx.handle_write(written), "the transport took nothing");
    }
}

/// What the receiving task tells the sending task.
enum ToWriter {
    /// What the receiving half owes the sending half.
    Owed(Owed),
    /// A pong answering the sending half's ping stamped with this number arrived.
    Pong(u64),
    /// All the peer's messages arrived (the split side may close once its own are sent).
    ReceivedAll,
}

#[derive(Debug, Default)]
struct ReaderReport {
    received: usize,
    /// Payload bytes of the messages received.
    bytes: usize,
    /// The peer's pings seen.
    pings: u64,
    /// The stamps of the pongs that answered the sending half's pings, in order.
    pong_stamps: Vec<u64>,
    /// Owed values handed to the sending task.
    owed: usize,
    close: Option<(Option<CloseCode>, String, bool)>,
}

async fn run_reader(
    mut rx: Receiver<Vec<u8>>,
    mut stream: smol::net::TcpStream,
    to_writer: smol::channel::Sender<ToWriter>,
) -> (Receiver<Vec<u8>>, ReaderReport) {
    let mut report = ReaderReport::default();
    loop {
        let mut read = false;
        let mut pong_seen = None;
        let before = report.received;
        match rx.step().expect("split receiver") {
            Step::Event(Event::Text(t)) => {
                check(
                    "split receiver",
                    PEER_TO_SPLIT,
                    report.received,
                    Msg::Text(t),
                );
                report.received += 1;
                report.bytes += t.len();
            }
            Step::Event(Event::Binary(b)) => {
                check(
                    "split receiver",
                    PEER_TO_SPLIT,
                    report.received,
                    Msg::Binary(b),
                );
                report.received += 1;
                report.bytes += b.len();
            }
            Step::Event(Event::Ping(_)) => report.pings += 1,
            Step::Event(Event::Pong(pong)) => {
                let stamp = pong.sent_at.expect("a pong answering a stamped ping");
                report.pong_stamps.push(stamp);
                pong_seen = Some(stamp);
            }
            Step::Event(Event::Close(close)) => {
                assert!(report.close.is_none(), "a second close event");
                report.close = Some((close.code, close.reason.to_owned(), close.clean));
            }
            Step::Event(other) => panic!("split receiver: unexpected event {other:?}"),
            Step::Read => read = true,
            Step::Closed => break,
        }
        if let Some(owed) = rx.take_owed() {
            report.owed += 1;
            let _ = owed; // SABOTAGE
        }
        if let Some(stamp) = pong_seen {
            to_writer
                .send(ToWriter::Pong(stamp))
                .await
                .expect("the sending task is gone");
        }
        if report.received == MESSAGES && before < MESSAGES {
            to_writer
                .send(ToWriter::ReceivedAll)
                .await
                .expect("the sending task is gone");
        }
        if read {
            let buffer = rx.read_buffer();
            assert!(
                !buffer.is_empty(),
                "no room to read after all events were polled"
            );
            let outcome = or_stall("split receiver: read", stream.read(buffer)).await;
            rx.handle_read(Transfer::from_io(outcome).expect("split receiver: read"));
        }
    }
    assert_eq!(rx.state(), State::Closed);
    assert!(rx.take_owed().is_none(), "owed value left behind");
    (rx, report)
}

#[derive(Debug, Default)]
struct WriterReport {
    /// Owed values applied.
    owed: usize,
    /// Pongs to this half's pings, as the receiving side reported them.
    pongs: u64,
    /// The receiving side has all the peer's messages.
    received_all: bool,
    /// Owed values applied while the messages were being sent (the rest came after).
    owed_during_sends: usize,
}

/// Applies what the receiving task sent.
fn apply<R: KeySource>(tx: &mut Sender<Vec<u8>, R>, item: ToWriter, report: &mut WriterReport) {
    match item {
        ToWriter::Owed(owed) => {
            tx.handle_owed(owed).expect("owed value of this connection");
            report.owed += 1;
        }
        ToWriter::Pong(stamp) => {
            assert_eq!(stamp, report.pongs, "pong out of order");
            report.pongs += 1;
        }
        ToWriter::ReceivedAll => report.received_all = true,
    }
}

/// The next item from the receiving task.
async fn wait(from_reader: &smol::channel::Receiver<ToWriter>) -> ToWriter {
    or_stall("the sending task's wait for the receiving task", async {
        from_reader
            .recv()
            .await
            .map_err(|_| io::Error::other("the receiving task ended first"))
    })
    .await
    .expect("the sending half waited in vain for the receiving half")
}

async fn run_writer<R: KeySource>(
    mut tx: Sender<Vec<u8>, R>,
    mut stream: smol::net::TcpStream,
    from_reader: smol::channel::Receiver<ToWriter>,
    closer: Closer,
) -> (Sender<Vec<u8>, R>, WriterReport) {
    let mut report = WriterReport::default();
    for i in 0..MESSAGES {
        let owed_before = report.owed;
        while let Ok(item) = from_reader.try_recv() {
            apply(&mut tx, item, &mut report);
        }
        if i % PING_EVERY == 0 {
            // Like the peer, one ping outstanding: wait (handling what is owed) for the pong
            // of the previous one, which the receiving task reports.
            let k = (i / PING_EVERY) as u64;
            while report.pongs < k {
                flush_half(&mut tx, &mut stream).await;
                let item = wait(&from_reader).await;
                apply(&mut tx, item, &mut report);
            }
            tx.ping_at(k).unwrap();
        }
        let owed = report.owed > owed_before;
        send(&mut tx, message(SPLIT_TO_PEER, i));
        if owed || tx.pending_output().len() >= 16 * 1024 {
            flush_half(&mut tx, &mut stream).await;
            // A write the socket took at once did not yield: let the receiving task run.
            smol::future::yield_now().await;
        }
    }
    report.owed_during_sends = report.owed;
    flush_half(&mut tx, &mut stream).await;
    // The pongs still owed, the close, and the close's answer.
    while tx.state() != State::Closed {
        if closer == Closer::Split && report.received_all && tx.state() == State::Open {
            tx.close().unwrap();
            assert_eq!(tx.state(), State::Closing);
        }
        flush_half(&mut tx, &mut stream).await;
        let item = wait(&from_reader).await;
        apply(&mut tx, item, &mut report);
    }
    flush_half(&mut tx, &mut stream).await;
    (tx, report)
}

/// The split side, to the end, as two tasks of one executor: returns the reports, after
/// checking the halves' states and joining them.
fn run_split<R: KeySource + Send + 'static>(
    stream: smol::net::TcpStream,
    conn: Connection<Vec<u8>, R>,
    closer: Closer,
) -> (ReaderReport, WriterReport) {
    let (rx, tx) = conn.into_split().expect("an open connection splits");
    assert_eq!((rx.state(), tx.state()), (State::Open, State::Open));
    let ex = smol::Executor::new();
    let (to_writer, from_reader) = smol::channel::unbounded();
    let writer_stream = stream.clone();
    smol::block_on(ex.run(async {
        let reader = ex.spawn(run_reader(rx, stream, to_writer));
        let writer = ex.spawn(run_writer(tx, writer_stream, from_reader, closer));
        let ((rx, reader_report), (tx, writer_report)) = smol::future::zip(reader, writer).await;
        assert_eq!(rx.state(), State::Closed, "receiving half");
        assert_eq!(tx.state(), State::Closed, "sending half");
        let joined = Connection::join(rx, tx).expect("the halves of one connection join");
        assert_eq!(joined.state(), State::Closed, "joined connection");
        (reader_report, writer_report)
    }))
}

fn split_server(listener: smol::net::TcpListener, closer: Closer) -> (ReaderReport, WriterReport) {
    let (stream, conn) = smol::block_on(async {
        let (mut stream, _) = or_stall("accept", listener.accept()).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut conn = Connection::server(Config::default());
        handshake_async(&mut conn, &mut stream).await;
        (stream, conn)
    });
    run_split(stream, conn, closer)
}

fn split_client(addr: std::net::SocketAddr, closer: Closer) -> (ReaderReport, WriterReport) {
    let (stream, conn) = smol::block_on(async {
        let mut stream = smol::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let host = addr.to_string();
        let request = ClientRequest::new(&host, "/halves");
        let mut conn = Connection::client(&request, Config::default(), OsEntropy::new()).unwrap();
        handshake_async(&mut conn, &mut stream).await;
        (stream, conn)
    });
    run_split(stream, conn, closer)
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
                    Step::Read => break,
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

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn scenario(side: Side, closer: Closer) {
    let started = Instant::now();
    corpus();
    let (split_listener, peer_listener, addr) = match side {
        Side::Server => {
            let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).unwrap();
            let addr = listener.local_addr().unwrap();
            (Some(listener), None, addr)
        }
        Side::Client => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            (None, Some(listener), addr)
        }
    };

    // The peer: the other role, joined, on its own thread.
    let peer = thread::Builder::new()
        .name("peer".into())
        .spawn(move || match peer_listener {
            None => {
                let mut stream = TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let host = addr.to_string();
                let request = ClientRequest::new(&host, "/halves");
                let mut conn =
                    Connection::client(&request, Config::default(), peer_keys()).unwrap();
                handshake(&mut conn, &mut stream);
                let (conn, report) = run_peer(conn, stream, closer);
                (conn.state(), report)
            }
            Some(listener) => {
                let (mut stream, _) = listener.accept().unwrap();
                stream.set_nodelay(true).unwrap();
                let mut conn = Connection::server(Config::default());
                handshake(&mut conn, &mut stream);
                let (conn, report) = run_peer(conn, stream, closer);
                (conn.state(), report)
            }
        })
        .unwrap();

    // The split side: the handshake on the joined connection, then two tasks.
    let split = panic::catch_unwind(AssertUnwindSafe(|| match split_listener {
        Some(listener) => split_server(listener, closer),
        None => split_client(addr, closer),
    }));
    let peer = peer.join();
    let mut failures = Vec::new();
    if let Err(panic) = &split {
        failures.push(format!("split side: {}", panic_message(&**panic)));
    }
    if let Err(panic) = &peer {
        failures.push(format!("peer thread: {}", panic_message(&**panic)));
    }
    assert!(
        failures.is_empty(),
        "{side:?}, {closer:?} closes: {failures:#?}"
    );
    let (reader, writer) = split.unwrap();
    let (peer_state, peer) = peer.unwrap();

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

#[test]
fn split_server_closes_first() {
    scenario(Side::Server, Closer::Split);
}

#[test]
fn split_server_peer_closes_first() {
    scenario(Side::Server, Closer::Peer);
}

#[test]
fn split_client_closes_first() {
    scenario(Side::Client, Closer::Split);
}

#[test]
fn split_client_peer_closes_first() {
    scenario(Side::Client, Closer::Peer);
}
