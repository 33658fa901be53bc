//! A client and a server of one version, at least one of them split into owned halves
//! (`Connection::into_split`), driven in any interleaving the input chooses: chunks received
//! on the receiving half (by `receive` or `read_buffer`), events polled (keeping what is owed,
//! handing it to the sender at once, or through `step`), owed values taken and handed to the
//! sending half at any later point (several merged in the receiver before they are taken,
//! handed in any order, after sends or again), sends, pings, stamped pings, pongs and closes
//! on the sending half, timeouts (keepalive, close timeout), partial writes, a transport shut
//! down, halves joined back (`Connection::join`) and split again.
//!
//! Checked, besides what [`Watch`] checks of every event and error (the close event at most
//! once and nothing after it, the documented errors only, a correct peer's bytes failing only
//! on a limit or text the harness knows is broken):
//! - memory: each buffer within what its limits imply, a joined side's (input, output,
//!   message) as a split side's (the receiving half's input and message buffers, the sending
//!   half's output), and the bytes queued in them;
//! - every command returns exactly the documented result (the error predicted from the sending
//!   half's state, the version and the output room, or exactly its frame's bytes queued), and
//!   nothing is written once the sending half is closed; the halves' states never go back;
//! - a taken owed value that ends the connection comes only from a closed receiving half, and
//!   handing it closes the sending half;
//! - an owed value handed to the other connection's sender returns `ForeignHalf` and changes
//!   nothing (output bytes, state, timer); polling a receiving half with the other
//!   connection's sender returns `ForeignHalf` and changes nothing; joining halves of different
//!   connections returns an error, gives both halves back unchanged, and they go on working;
//!   `into_split` refuses a connection still in its handshake and gives it back unchanged;
//! - what each side writes is a valid frame stream, read by [`Audit`] (nothing after our
//!   close frame but pongs, one close frame at most, control frames within their limits,
//!   fragments in order), and the other side reads it without a protocol violation;
//! - a stamped ping's pong, read by the other half, reports the stamp's time;
//! - what a side receives is a prefix of the messages the other side sent, unchanged;
//! - at the end, with everything delivered and handed over: when both sides wrote their close
//!   frame, both are closed in both directions; after the ends of both streams, both joined
//!   connections are `Closed` and have delivered their close event.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wsmachine::{
    drive::{Message, Transfer},
    handshake::Accept,
    CloseCode, Config, Connection, Error, KeySource, Owed, Receiver, Role, Sender, State,
    UsageError, Version,
};
use wsmachine_fuzz::{
    check_connection_memory, check_split_memory, client, frame_len, halves::*, limits_from,
    text_is_broken, Answer, Audit, Peer, Stepping, Watch, With, Written, VERSIONS,
};

type Conn<R> = Connection<Vec<u8>, R>;

/// Whether to print each operation and the states after it (`HALVES_TRACE=1` when replaying
/// an input).
fn tracing() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("HALVES_TRACE").is_some())
}

/// A side's connection: joined, or split into owned halves.
enum Parts<R: KeySource> {
    Joined(Conn<R>),
    Split(Receiver<Vec<u8>>, Sender<Vec<u8>, R>),
}

/// One side and what the test knows of it.
struct Side<R: KeySource> {
    parts: Option<Parts<R>>,
    watch: Watch,
    /// The frames this side wrote, read as they are taken from its output.
    audit: Audit,
    /// Owed values taken from the receiving half, not handed over yet.
    held: Vec<Owed>,
    /// The last owed value handed over (`Owed` is `Copy`: it can be handed again).
    last_handed: Option<Owed>,
    /// Bytes in transit to this side.
    inbox: Vec<u8>,
    /// The other side's writing ended: after the inbox, this side's input ends.
    inbox_ends: bool,
    eof_given: bool,
    /// This side closed its transport: what arrives for it is lost.
    input_closed: bool,
    /// This side's writing ended: what it writes goes nowhere.
    output_shut: bool,
    /// The fragmented message being sent: kind and bytes so far.
    sending: Option<(bool, Vec<u8>)>,
    /// The messages sent whole, in order (`None` for text that is not UTF-8, which the peer
    /// fails on and never receives).
    sent: Vec<Option<Message>>,
    /// Bytes written when the sending half was first seen closed: no more may follow.
    closed_at: Option<usize>,
    /// The halves' states so far (0 handshaking, 1 open, 2 closing, 3 closed).
    tx_rank: u8,
    rx_rank: u8,
}

fn rank(state: State) -> u8 {
    match state {
        State::Handshaking => 0,
        State::Open => 1,
        State::Closing => 2,
        State::Closed => 3,
    }
}

/// The bytes payloads are cut from: text of 1- to 4-byte characters, whole characters to its
/// end, so that a message cut from its start is UTF-8 when it ends on a character boundary.
fn pool() -> &'static str {
    static POOL: OnceLock<String> = OnceLock::new();
    POOL.get_or_init(|| "wsmachine é ☃ 𝄞 ".repeat(64))
}

/// The longest prefix of the pool of at most `len` bytes that is whole characters.
fn text(len: usize) -> &'static str {
    let pool = pool();
    let mut end = len.min(pool.len());
    while !pool.is_char_boundary(end) {
        end -= 1;
    }
    &pool[..end]
}

/// `len` bytes of the pool from `start`, wrapping around.
fn bytes(start: usize, len: usize) -> Vec<u8> {
    let pool = pool().as_bytes();
    (start..start + len).map(|i| pool[i % pool.len()]).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
    Fragment { is_text: bool, is_final: bool },
    Ping,
    PingAt,
    Pong,
    Close,
    CloseWith(u16, usize),
}

/// Close codes `CLOSE_WITH` chooses from: sendable ones and ones that may not be sent.
const CLOSE_CODES: [u16; 8] = [1000, 1001, 1011, 3000, 4999, 1005, 999, 1015];

impl<R: KeySource> Side<R> {
    fn new(parts: Parts<R>, watch: Watch, version: Version, role: Role) -> Self {
        let mut side = Side {
            parts: Some(parts),
            watch,
            audit: Audit::new(version, role),
            held: Vec::new(),
            last_handed: None,
            inbox: Vec::new(),
            inbox_ends: false,
            eof_given: false,
            input_closed: false,
            output_shut: false,
            sending: None,
            sent: Vec::new(),
            closed_at: None,
            tx_rank: 1,
            rx_rank: 1,
        };
        side.check();
        side
    }

    fn parts(&mut self) -> &mut Parts<R> {
        self.parts.as_mut().expect("parts in place")
    }

    fn is_split(&self) -> bool {
        matches!(self.parts, Some(Parts::Split(..)))
    }

    fn tx(&mut self) -> &mut Sender<Vec<u8>, R> {
        match self.parts() {
            Parts::Joined(conn) => conn.sender(),
            Parts::Split(_, tx) => tx,
        }
    }

    /// The receiving side's state as the polled thing reports it.
    fn rx_state(&mut self) -> State {
        match self.parts() {
            Parts::Joined(conn) => conn.state(),
            Parts::Split(rx, _) => rx.state(),
        }
    }

    /// Bytes written so far: taken and pending.
    fn written(&mut self) -> usize {
        self.audit.total + self.tx().pending_output().len()
    }

    /// Checks what must hold after every operation.
    fn check(&mut self) {
        let limits = self.watch.limits;
        match self.parts() {
            Parts::Joined(conn) => check_connection_memory(conn, &limits),
            Parts::Split(rx, tx) => check_split_memory(rx, tx, &limits),
        }
        let written = self.written();
        let tx_state = self.tx().state();
        if tx_state == State::Closed {
            let at = *self.closed_at.get_or_insert(written);
            assert_eq!(written, at, "bytes written after the sending half closed");
        }
        let tx_rank = rank(tx_state);
        assert!(
            tx_rank >= self.tx_rank,
            "the sending half went back to {tx_state:?}"
        );
        self.tx_rank = tx_rank;
        if let Parts::Split(rx, _) = self.parts() {
            let rx_state = rx.state();
            assert!(
                matches!(rx_state, State::Open | State::Closed),
                "receiving half {rx_state:?}"
            );
            let rx_rank = rank(rx_state);
            assert!(rx_rank >= self.rx_rank, "the receiving half reopened");
            self.rx_rank = rx_rank;
        }
    }

    /// Gives `data` to the receiving side; returns how many bytes it took.
    fn receive(&mut self, data: &[u8], via_read_buffer: bool) -> usize {
        if !via_read_buffer {
            let n = match self.parts() {
                Parts::Joined(conn) => conn.receive(data),
                Parts::Split(rx, _) => rx.receive(data),
            };
            assert!(n <= data.len(), "receive took more than it was given");
            return n;
        }
        let buf = match self.parts() {
            Parts::Joined(conn) => conn.read_buffer(),
            Parts::Split(rx, _) => rx.read_buffer(),
        };
        let n = buf.len().min(data.len());
        if n == 0 {
            // No room (events wait to be polled) or a closed side: `receive` says which.
            return self.receive(data, false);
        }
        buf[..n].copy_from_slice(&data[..n]);
        match self.parts() {
            Parts::Joined(conn) => conn.handle_read(Transfer::Bytes(n)),
            Parts::Split(rx, _) => rx.handle_read(Transfer::Bytes(n)),
        }
        n
    }

    fn handle_eof(&mut self) {
        if self.eof_given {
            return;
        }
        self.eof_given = true;
        match self.parts() {
            Parts::Joined(conn) => conn.handle_read(Transfer::End),
            Parts::Split(rx, _) => rx.handle_eof(),
        }
    }

    /// Polls up to `max` events in the way `mode` says; returns how many came.
    fn poll(&mut self, max: usize, mode: u8) -> usize {
        fn some<S: wsmachine_fuzz::Source>(watch: &mut Watch, src: &mut S, max: usize) -> usize {
            for n in 0..max {
                if watch.poll_one(src).is_none() {
                    watch.settled(src.rx_state());
                    return n;
                }
            }
            max
        }
        let Side { parts, watch, .. } = self;
        match (parts.as_mut().unwrap(), mode) {
            (Parts::Joined(conn), POLL_STEP) => some(watch, &mut Stepping(conn), max),
            (Parts::Joined(conn), _) => some(watch, conn, max),
            (Parts::Split(rx, _), POLL_STEP) => some(watch, &mut Stepping(rx), max),
            (Parts::Split(rx, tx), POLL_WITH) => some(watch, &mut With(rx, tx), max),
            (Parts::Split(rx, _), _) => some(watch, rx, max),
        }
    }

    /// Polls until nothing is left; a split side hands what it owes at once if `hand`.
    fn drain(&mut self, hand: bool) -> usize {
        let Side { parts, watch, .. } = self;
        match parts.as_mut().unwrap() {
            Parts::Joined(conn) => watch.drain(conn),
            Parts::Split(rx, tx) if hand => watch.drain(&mut With(rx, tx)),
            Parts::Split(rx, _) => watch.drain(rx),
        }
    }

    /// Hands `owed` to this side's sender, which must take it.
    fn hand(&mut self, owed: Owed) {
        let tx = self.tx();
        assert_eq!(tx.handle_owed(owed), Ok(()), "own owed value refused");
        if owed.ends_connection() {
            assert_eq!(tx.state(), State::Closed, "{owed:?} left the sender open");
        }
        self.last_handed = Some(owed);
    }

    fn take_owed(&mut self) {
        if let Parts::Split(rx, _) = self.parts() {
            if let Some(owed) = rx.take_owed() {
                if owed.ends_connection() {
                    assert_eq!(rx.state(), State::Closed, "{owed:?} from an open receiver");
                }
                self.held.push(owed);
            }
        }
    }

    /// Hands over every held value in the order taken, and what the receiver still owes.
    fn hand_all(&mut self) {
        self.take_owed();
        for owed in std::mem::take(&mut self.held) {
            self.hand(owed);
        }
    }

    /// Takes up to `max` bytes of output, reading the frames in them; returns them unless the
    /// writing side is shut.
    fn take(&mut self, max: usize) -> Vec<u8> {
        let tx = self.tx();
        let n = max.min(tx.pending_output().len());
        let out = tx.pending_output()[..n].to_vec();
        if n > 0 {
            assert!(tx.handle_write(Transfer::Bytes(n)));
        }
        let whole = tx.pending_output().is_empty();
        self.audit.feed(&out);
        if whole {
            self.audit.assert_whole();
        }
        if self.output_shut {
            Vec::new()
        } else {
            out
        }
    }

    /// The stamped pings in the bytes written since `from` (a frame boundary of the pending
    /// output), stamped at `now`.
    fn note_stamps(&mut self, from: usize, now: u64) {
        let version = self.audit_version();
        let role = self.tx().role();
        let mut fresh = Audit::new(version, role);
        fresh.feed(&self.tx().pending_output()[from..]);
        for frame in fresh.frames {
            if let Written::Ping(payload) = frame {
                self.watch.stamps.insert(payload, now);
            }
        }
    }

    /// The states, what is held and what was written, for tracing.
    fn describe(&mut self) -> String {
        let split = if self.is_split() { "split" } else { "joined" };
        let (rx, tx) = (self.rx_state(), self.tx().state());
        let pending = self.tx().pending_output().len();
        format!(
            "{split} rx {rx:?} tx {tx:?} held {:?} pending {pending} inbox {} | written {:?} | \
             events {:?}",
            self.held,
            self.inbox.len(),
            self.audit.frames,
            self.watch.log.iter().skip(1).collect::<Vec<_>>(),
        )
    }

    fn audit_version(&mut self) -> Version {
        self.tx().version().expect("open")
    }
}

/// The error a command must fail with, or `None` if it must be queued (output permitting).
fn expected_error<R: KeySource>(x: &mut Side<R>, kind: Kind, len: usize) -> Option<UsageError> {
    let state = x.tx().state();
    let version = x.audit_version();
    let closed = matches!(state, State::Closing | State::Closed);
    let hixie = version
        .is_hixie()
        .then_some(UsageError::Unsupported { what: "", version });
    let fragmenting = x.sending.as_ref().map(|s| s.0);
    let checked = || {
        if closed {
            Some(UsageError::Closed)
        } else {
            hixie
        }
    };
    match kind {
        Kind::Text | Kind::Close if closed => Some(UsageError::Closed),
        Kind::Text => fragmenting.map(|_| UsageError::FragmentOrder),
        Kind::Close => None,
        Kind::Binary => checked().or(fragmenting.map(|_| UsageError::FragmentOrder)),
        Kind::Fragment { is_text, .. } => checked().or(fragmenting
            .filter(|&t| t != is_text)
            .map(|_| UsageError::FragmentOrder)),
        // A pong may follow our close (RFC 6455 §5.5.2), until the peer's close arrives.
        Kind::Pong if state == State::Closing && !version.is_hixie() => {
            (len > 125).then_some(UsageError::ControlTooLong)
        }
        Kind::Ping | Kind::Pong | Kind::PingAt => {
            checked().or((len > 125).then_some(UsageError::ControlTooLong))
        }
        Kind::CloseWith(code, reason) => checked()
            .or((!CloseCode(code).is_sendable()).then_some(UsageError::InvalidCloseCode(code)))
            .or((reason > 123).then_some(UsageError::ReasonTooLong)),
    }
}

/// Runs one command on `x`'s sending half and checks its result exactly.
fn command<A: KeySource, B: KeySource>(x: &mut Side<A>, y: &mut Side<B>, kind: Kind, len: usize) {
    let limits = x.watch.limits;
    // Payloads within the peer's limits (the same as ours): the limits are the `frames`
    // target's; here the other side must read everything.
    let cap = limits
        .max_frame_payload
        .min(limits.max_message_size)
        .min(limits.max_hixie_frame);
    let now = x.watch.now;
    let start = match (x.sending.as_ref(), kind) {
        (Some((t, sent)), Kind::Fragment { is_text, .. }) if *t == is_text => sent.len(),
        _ => 0,
    };
    let data: Vec<u8> = match kind {
        Kind::Text => text(len.min(cap)).as_bytes().to_vec(),
        Kind::Binary => bytes(0, len.min(cap)),
        Kind::Fragment { .. } => bytes(start, len.min(cap)),
        Kind::Ping | Kind::Pong => bytes(0, len % 128),
        Kind::PingAt => vec![0; 12],
        Kind::Close => Vec::new(),
        Kind::CloseWith(_, reason) => vec![b'r'; reason],
    };
    let expected = expected_error(x, kind, data.len());
    let version = x.audit_version();
    let client = x.tx().role() == Role::Client;
    let before = x.tx().pending_output().to_vec();
    let tx = x.tx();
    let result = match kind {
        Kind::Text => tx.send_text(std::str::from_utf8(&data).expect("text")),
        Kind::Binary => tx.send_binary(&data),
        Kind::Fragment { is_text, is_final } => tx.send_fragment(&data, is_text, is_final),
        Kind::Ping => tx.ping(&data),
        Kind::PingAt => tx.ping_at(now),
        Kind::Pong => tx.pong(&data),
        Kind::Close => tx.close(),
        Kind::CloseWith(code, _) => {
            tx.close_with(CloseCode(code), std::str::from_utf8(&data).unwrap())
        }
    };
    let after = tx.pending_output();
    if let Some(expected) = expected {
        match (result, expected) {
            (
                Err(Error::Usage(UsageError::Unsupported { version: got, .. })),
                UsageError::Unsupported { version: want, .. },
            ) => assert_eq!(got, want),
            (Err(Error::Usage(got)), want) => assert_eq!(got, want, "{kind:?}"),
            (got, want) => panic!("{kind:?} gave {got:?}, expected {want:?}"),
        }
        assert_eq!(after, &before[..], "a failed command changed the output");
        return;
    }
    let required = match kind {
        Kind::Close if version == Version::Hixie75 => 0,
        Kind::Close if version == Version::Hixie76 => 2,
        Kind::Close => frame_len(version, client, 2),
        Kind::CloseWith(_, reason) => frame_len(version, client, 2 + reason),
        _ => frame_len(version, client, data.len()),
    };
    let max = limits.max_queued_output;
    if before.len() + required > max {
        match result {
            Err(Error::Usage(UsageError::OutputFull {
                required: r,
                available,
            })) => {
                assert_eq!(r, required, "{kind:?}");
                assert_eq!(available, max - before.len());
            }
            other => panic!("{kind:?} of {required} bytes over the limit gave {other:?}"),
        }
        assert_eq!(after, &before[..], "a failed command changed the output");
        return;
    }
    assert_eq!(result, Ok(()), "{kind:?}");
    assert_eq!(
        after.len(),
        before.len() + required,
        "{kind:?} queued a wrong length"
    );
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "{kind:?} changed queued output"
    );
    match kind {
        Kind::Text => x
            .sent
            .push(Some(Message::Text(String::from_utf8(data).expect("text")))),
        Kind::Binary => x.sent.push(Some(Message::Binary(data))),
        Kind::Fragment { is_text, is_final } => {
            let (_, buf) = x.sending.get_or_insert_with(|| (is_text, Vec::new()));
            buf.extend_from_slice(&data);
            if is_text && text_is_broken(buf, is_final) {
                y.watch.peer_sent_invalid_text = true;
            }
            if is_final {
                let (text, buf) = x.sending.take().unwrap();
                x.sent.push(match (text, String::from_utf8(buf.clone())) {
                    (true, Ok(s)) => Some(Message::Text(s)),
                    (true, Err(_)) => None,
                    (false, _) => Some(Message::Binary(buf)),
                });
            }
        }
        Kind::PingAt => x.note_stamps(before.len(), now),
        Kind::Close | Kind::CloseWith(..) => {
            assert_eq!(x.tx().state(), State::Closing, "{kind:?} sent");
        }
        Kind::Ping | Kind::Pong => {}
    }
}

/// Moves all of `from`'s output towards `to`.
fn transmit<A: KeySource, B: KeySource>(from: &mut Side<A>, to: &mut Side<B>, max: usize) -> bool {
    let out = from.take(max);
    let moved = !out.is_empty();
    if !to.input_closed {
        to.inbox.extend_from_slice(&out);
    }
    moved
}

/// `from` shuts its writing down: what it wrote so far arrives, then the end of the stream.
fn shut<A: KeySource, B: KeySource>(from: &mut Side<A>, to: &mut Side<B>) {
    transmit(from, to, usize::MAX);
    from.output_shut = true;
    to.inbox_ends = true;
}

/// `x` closes its transport: its input ends now, what it wrote so far arrives, then the end of
/// the stream.
fn close_transport<A: KeySource, B: KeySource>(x: &mut Side<A>, y: &mut Side<B>) {
    shut(x, y);
    x.input_closed = true;
    x.inbox.clear();
    x.handle_eof();
}

/// Gives up to `max` bytes of `to`'s inbox to its receiving half (a joined side is polled as
/// an application drives it; a split side is not), then the end of the stream if it came.
fn deliver<A: KeySource, B: KeySource>(
    from: &mut Side<A>,
    to: &mut Side<B>,
    max: usize,
    via_read_buffer: bool,
) {
    transmit(from, to, usize::MAX);
    let n = max.min(to.inbox.len());
    let chunk: Vec<u8> = to.inbox[..n].to_vec();
    let mut given = 0;
    while given < n {
        let taken = to.receive(&chunk[given..], via_read_buffer);
        given += taken;
        if !to.is_split() {
            let events = to.drain(true);
            assert!(
                taken > 0 || events > 0,
                "input refused with nothing to report"
            );
        } else if taken == 0 {
            break;
        }
    }
    to.inbox.drain(..given);
    if to.inbox.is_empty() && to.inbox_ends {
        to.handle_eof();
        if !to.is_split() {
            to.drain(true);
        }
    }
}

/// Moves everything from `from` to `to` and polls `to` until nothing is left (handing what it
/// owes if `hand`); returns whether anything moved or happened.
fn transfer<A: KeySource, B: KeySource>(from: &mut Side<A>, to: &mut Side<B>, hand: bool) -> bool {
    let mut moved = transmit(from, to, usize::MAX);
    while !to.inbox.is_empty() {
        let chunk = to.inbox.clone();
        let taken = to.receive(&chunk, false);
        to.inbox.drain(..taken);
        let events = to.drain(hand);
        assert!(
            taken > 0 || events > 0,
            "input refused with nothing to report"
        );
        moved = true;
    }
    if to.inbox_ends && !to.eof_given {
        to.handle_eof();
        moved = true;
    }
    moved |= to.drain(hand) > 0;
    if hand {
        let held = to.held.len();
        to.hand_all();
        moved |= held > 0;
    }
    moved
}

/// Moves and polls both ways until nothing changes.
fn settle<A: KeySource, B: KeySource>(c: &mut Side<A>, s: &mut Side<B>, hand: bool) {
    for _ in 0..64 {
        if hand {
            c.hand_all();
            s.hand_all();
        }
        let moved = transfer(c, s, hand) | transfer(s, c, hand);
        c.check();
        s.check();
        if !moved {
            return;
        }
    }
    panic!("the two sides never settled");
}

/// What the receiving half and the sending half look like from outside, to compare before and
/// after a call that must change nothing.
fn snapshot<R: KeySource>(x: &mut Side<R>) -> (Vec<u8>, Vec<u8>, State, State, Option<u64>) {
    let tx = x.tx();
    let (output, tx_state, timer) = (tx.pending_output().to_vec(), tx.state(), tx.poll_timeout());
    let (input, rx_state) = match x.parts() {
        Parts::Joined(conn) => (conn.buffered_input().to_vec(), conn.state()),
        Parts::Split(rx, _) => (rx.buffered_input().to_vec(), rx.state()),
    };
    (output, input, rx_state, tx_state, timer)
}

fn split<R: KeySource>(x: &mut Side<R>) {
    if x.is_split() {
        return;
    }
    if let Some(Parts::Joined(conn)) = x.parts.take() {
        match conn.into_split() {
            Ok((rx, tx)) => x.parts = Some(Parts::Split(rx, tx)),
            Err(conn) => panic!("an opened connection refused to split: {conn:?}"),
        }
    }
}

fn join<R: KeySource>(x: &mut Side<R>) {
    if !x.is_split() {
        return;
    }
    if let Some(Parts::Split(rx, tx)) = x.parts.take() {
        match Connection::join(rx, tx) {
            Ok(conn) => {
                check_connection_memory(&conn, &x.watch.limits);
                x.parts = Some(Parts::Joined(conn));
            }
            Err(e) => panic!("halves of one connection not joined: {e}"),
        }
    }
}

/// Joins each side's receiving half with the other's sending half: refused, both given back.
fn join_foreign<A: KeySource, B: KeySource>(x: &mut Side<A>, y: &mut Side<B>) {
    let (x_joined, y_joined) = (!x.is_split(), !y.is_split());
    split(x);
    split(y);
    let (x_before, y_before) = (snapshot(x), snapshot(y));
    let (Some(Parts::Split(x_rx, x_tx)), Some(Parts::Split(y_rx, y_tx))) =
        (x.parts.take(), y.parts.take())
    else {
        unreachable!()
    };
    let (x_rx, y_tx) = match Connection::join(x_rx, y_tx) {
        Ok(_) => panic!("joined halves of different connections"),
        Err(e) => (e.receiver, e.sender),
    };
    let (y_rx, x_tx) = match Connection::join(y_rx, x_tx) {
        Ok(_) => panic!("joined halves of different connections"),
        Err(e) => (e.receiver, e.sender),
    };
    x.parts = Some(Parts::Split(x_rx, x_tx));
    y.parts = Some(Parts::Split(y_rx, y_tx));
    assert_eq!(snapshot(x), x_before, "a refused join changed a half");
    assert_eq!(snapshot(y), y_before, "a refused join changed a half");
    if x_joined {
        join(x);
    }
    if y_joined {
        join(y);
    }
}

/// Hands one of `x`'s owed values to `y`'s sender: refused, nothing changed.
fn hand_foreign<A: KeySource, B: KeySource>(x: &mut Side<A>, y: &mut Side<B>, which: usize) {
    let owed = match x.held.len() {
        0 => x.last_handed,
        n => Some(x.held[which % n]),
    };
    let Some(owed) = owed else { return };
    let before = snapshot(y);
    assert_eq!(
        y.tx().handle_owed(owed),
        Err(UsageError::ForeignHalf),
        "another connection's owed value taken"
    );
    assert_eq!(
        snapshot(y),
        before,
        "a foreign owed value changed the sender"
    );
}

/// Polls `x`'s receiving half with `y`'s sender: refused, nothing changed.
fn poll_foreign<A: KeySource, B: KeySource>(x: &mut Side<A>, y: &mut Side<B>) {
    if !x.is_split() {
        return;
    }
    let (x_before, y_before) = (snapshot(x), snapshot(y));
    let y_tx = y.tx();
    let Some(Parts::Split(rx, _)) = x.parts.as_mut() else {
        unreachable!()
    };
    match rx.poll_event_with(y_tx) {
        Err(Error::Usage(UsageError::ForeignHalf)) => {}
        other => panic!("polled with another connection's sender: {other:?}"),
    }
    assert_eq!(snapshot(x), x_before, "a refused poll changed the receiver");
    assert_eq!(snapshot(y), y_before, "a refused poll changed the sender");
}

fn timeout<A: KeySource, B: KeySource>(x: &mut Side<A>, y: &mut Side<B>, advance: u8) {
    x.watch.now += u64::from(advance);
    let now = x.watch.now;
    let before = x.tx().state();
    let pending = x.tx().pending_output().len();
    let timed_out = match x.parts() {
        Parts::Joined(conn) => {
            conn.handle_timeout(now);
            before == State::Closing && conn.sender().state() == State::Closed
        }
        Parts::Split(_, tx) => tx.handle_timeout(now),
    };
    let after = x.tx().state();
    if timed_out {
        assert_eq!(before, State::Closing, "close timeout while {before:?}");
        assert_eq!(
            after,
            State::Closed,
            "close timeout left the sender {after:?}"
        );
    } else {
        assert_eq!(after, before, "a timeout changed the sender");
    }
    // Keepalive pings are stamped with the time.
    x.note_stamps(pending, now);
    if !x.is_split() {
        x.drain(true);
    }
    if timed_out {
        // As the docs say: shut the transport down; the receiving half reports 1006 at the
        // end of its input.
        close_transport(x, y);
        if !x.is_split() {
            x.drain(true);
        }
    }
}

fn check_prefix<A: KeySource, B: KeySource>(sender: &Side<A>, receiver: &Side<B>) {
    let got: Vec<Option<Message>> = receiver
        .watch
        .messages()
        .into_iter()
        .filter(|m| !matches!(m, Message::Ping(_)))
        .map(Some)
        .collect();
    assert!(
        got.len() <= sender.sent.len(),
        "received more messages than were sent"
    );
    assert_eq!(
        got[..],
        sender.sent[..got.len()],
        "messages changed in transit"
    );
}

/// One operation with `x` the side it names and `y` the other.
fn operate<A: KeySource, B: KeySource>(x: &mut Side<A>, y: &mut Side<B>, code: u8, args: [u8; 2]) {
    let [a, b] = args;
    let len = usize::from(a);
    match code {
        DELIVER => deliver(y, x, (usize::from(a & 0x7F) + 1) * 4, a & 0x80 != 0),
        POLL => {
            x.poll(usize::from(a & 7) + 1, a & 0x18);
        }
        TAKE_OWED => x.take_owed(),
        HAND_OWED if !x.held.is_empty() => {
            let owed = x.held.remove(len % x.held.len());
            x.hand(owed);
        }
        HAND_OWED => {}
        HAND_AGAIN => {
            if let Some(owed) = x.last_handed {
                x.hand(owed);
            }
        }
        HAND_FOREIGN => hand_foreign(x, y, len),
        TEXT => command(x, y, Kind::Text, len),
        BINARY => command(x, y, Kind::Binary, len),
        FRAGMENT => {
            let kind = Kind::Fragment {
                is_text: b & 1 != 0,
                is_final: b & 2 != 0,
            };
            command(x, y, kind, len)
        }
        PING => command(x, y, Kind::Ping, len),
        PING_AT => command(x, y, Kind::PingAt, 12),
        PONG => command(x, y, Kind::Pong, len),
        CLOSE => command(x, y, Kind::Close, 0),
        CLOSE_WITH => {
            let code = CLOSE_CODES[usize::from(a & 7)];
            command(x, y, Kind::CloseWith(code, usize::from(a >> 3) * 4), 0)
        }
        TIMEOUT => timeout(x, y, a),
        JOIN => join(x),
        SPLIT => split(x),
        JOIN_FOREIGN => join_foreign(x, y),
        POLL_FOREIGN => poll_foreign(x, y),
        SHUT => shut(x, y),
        WRITE => {
            transmit(x, y, len * 4);
        }
        _ => {}
    }
}

/// The opening handshake on joined connections (the halves exist only once open), checking
/// that `into_split` refuses each side until then. `None` when the limits leave no room for
/// it.
fn handshake(
    version: Version,
    config: Config,
) -> Option<(
    Conn<wsmachine_fuzz::Rng>,
    Watch,
    Conn<wsmachine::NoEntropy>,
    Watch,
)> {
    let conn = client(version, &["chat", "superchat"], config).ok()?;
    let request = conn.pending_output().to_vec();
    let conn = match conn.into_split() {
        Err(conn) => conn,
        Ok(_) => panic!("a client split before its answer"),
    };
    assert_eq!(
        conn.pending_output(),
        &request[..],
        "a refused split changed it"
    );
    let mut c = Peer::wrap(conn, Some(version), Answer::Accept, false);
    c.watch.hostile_input = false;
    let server = match Connection::server(config).into_split() {
        Err(conn) => conn,
        Ok(_) => panic!("a server split before its request"),
    };
    let mut s = Peer::wrap(server, None, Answer::Ignore, false);
    s.watch.hostile_input = false;
    s.feed(&c.take_output());
    // The request waits for its answer: still no split.
    let Peer {
        conn: server,
        watch: mut s_watch,
        ..
    } = s;
    let protocol = server.request()?.protocols().next().map(str::to_owned);
    let mut server = match server.into_split() {
        Err(conn) => conn,
        Ok(_) => panic!("a server split before answering its request"),
    };
    let accept = match protocol.as_deref() {
        Some(p) => Accept::new().protocol(p),
        None => Accept::new(),
    };
    match server.accept(accept) {
        Ok(()) => s_watch.opened = true,
        Err(Error::Usage(UsageError::OutputFull { .. })) => return None,
        Err(e) => panic!("accepting failed: {e:?}"),
    }
    let answer = server.pending_output().to_vec();
    server.consume_output(answer.len());
    c.feed(&answer);
    assert!(c.watch.opened, "a correct answer did not open the client");
    let Peer {
        conn: client,
        watch: c_watch,
        ..
    } = c;
    assert!(client.pending_output().is_empty());
    Some((client, c_watch, server, s_watch))
}

fn parts<R: KeySource>(conn: Conn<R>, split: bool) -> Parts<R> {
    if !split {
        return Parts::Joined(conn);
    }
    match conn.into_split() {
        Ok((rx, tx)) => Parts::Split(rx, tx),
        Err(conn) => panic!("an opened connection refused to split: {conn:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, limits, timers, ops @ ..] = data else {
        return;
    };
    let version = VERSIONS[usize::from(mode & VERSION_MASK) % VERSIONS.len()];
    let framed = mode & FRAMED != 0;
    let mut config = Config::default();
    config.limits = limits_from(*limits);
    config.limits.max_handshake_bytes = 1024;
    config.limits.max_headers = 16;
    if !framed {
        config.limits.max_queued_output = config.limits.max_queued_output.max(300);
    }
    config.stream_fragments = mode & STREAM != 0;
    config.close_timeout = Some(u64::from(timers & 0x0F) * 4).filter(|&t| t > 0);
    config.keepalive_interval = Some(u64::from(timers >> 4) * 8).filter(|&t| t > 0);

    let (client_conn, c_watch, server_conn, s_watch) = if framed {
        let c = wsmachine_fuzz::Rng::new(11);
        let client_conn = Connection::framed(Role::Client, version, config, c);
        let server_conn = Connection::framed_server(version, config);
        let watch = |role| {
            let mut w = Watch::new(config.limits, role, Some(version), true);
            w.hostile_input = false;
            w
        };
        (
            client_conn,
            watch(Role::Client),
            server_conn,
            watch(Role::Server),
        )
    } else {
        let Some(opened) = handshake(version, config) else {
            return;
        };
        opened
    };
    let split_server = mode & SPLIT_SERVER != 0;
    let split_client = mode & SPLIT_CLIENT != 0 || !split_server;
    let mut c = Side::new(
        parts(client_conn, split_client),
        c_watch,
        version,
        Role::Client,
    );
    let mut s = Side::new(
        parts(server_conn, split_server),
        s_watch,
        version,
        Role::Server,
    );

    let mut rest = ops;
    let mut count = 0;
    while let [op, tail @ ..] = rest {
        count += 1;
        if count > 300 {
            break;
        }
        let side = op & 1;
        let code = (op >> 1) % CODES;
        let n = arguments(code);
        if tail.len() < n {
            break;
        }
        let mut args = [0u8; 2];
        args[..n].copy_from_slice(&tail[..n]);
        rest = &tail[n..];
        if tracing() {
            let name = ["client", "server"][usize::from(side)];
            eprintln!("{name} {code} {:?}", &args[..n]);
        }
        match (code, side) {
            (FLUSH, _) => settle(&mut c, &mut s, false),
            (_, CLIENT) => operate(&mut c, &mut s, code, args),
            _ => operate(&mut s, &mut c, code, args),
        }
        c.check();
        s.check();
        check_prefix(&c, &s);
        check_prefix(&s, &c);
        if tracing() {
            eprintln!("  client {}\n  server {}", c.describe(), s.describe());
        }
    }

    // Everything delivered and handed over: sides that both wrote their close frame are
    // closed in both directions.
    settle(&mut c, &mut s, true);
    check_prefix(&c, &s);
    check_prefix(&s, &c);
    if c.audit.closed && s.audit.closed {
        for (rx, tx) in [
            (c.rx_state(), c.tx().state()),
            (s.rx_state(), s.tx().state()),
        ] {
            assert_eq!(
                (rx, tx),
                (State::Closed, State::Closed),
                "closing handshake done"
            );
        }
    }
    // Then both streams end: both joined connections are closed, their close event delivered.
    shut(&mut c, &mut s);
    shut(&mut s, &mut c);
    settle(&mut c, &mut s, true);
    finish(&mut c);
    finish(&mut s);
});

fn finish<R: KeySource>(x: &mut Side<R>) {
    x.hand_all();
    join(x);
    x.drain(true);
    x.check();
    assert_eq!(x.rx_state(), State::Closed, "open after both streams ended");
    assert_eq!(
        x.tx().state(),
        State::Closed,
        "sender open after both streams ended"
    );
    assert!(x.watch.closed, "no close event");
}
