//! The driver step under pipelined input: what one read delivered comes out as events before
//! the step asks for the transport again, [`Step::Wait`] follows a read that emptied the
//! transport, and the blocking driver writes a batch's answers once, before it reads again.

mod common;

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use common::{client_frame, server_frame, RFC_REQUEST};
use wsmachine::blocking::{Message, WebSocket};
use wsmachine::drive::{Answered, Budget, Decision, Step, Transfer};
use wsmachine::{Config, Connection, Event};

/// What the step said, as a word, with the event's payload for messages.
fn say(step: Step<'_>) -> String {
    match step {
        Step::Event(Event::Text(t)) => format!("text {t}"),
        Step::Event(Event::Request(_)) => "request".into(),
        Step::Event(e) => format!("{e:?}"),
        Step::Read => "read".into(),
        Step::Wait => "wait".into(),
        Step::Closed => "closed".into(),
    }
}

/// Steps until the step asks for the transport; everything said, in order.
fn steps(conn: &mut Connection<Vec<u8>>) -> Vec<String> {
    let mut said = Vec::new();
    loop {
        let step = say(conn.step().expect("step"));
        let done = matches!(step.as_str(), "read" | "wait" | "closed");
        said.push(step);
        if done {
            return said;
        }
    }
}

/// An open server connection.
fn open_server() -> Connection<Vec<u8>> {
    let mut conn = Connection::server(Config::default());
    let buf = conn.read_buffer();
    buf[..RFC_REQUEST.len()].copy_from_slice(RFC_REQUEST);
    conn.handle_read(Transfer::Bytes(RFC_REQUEST.len()));
    assert_eq!(steps(&mut conn), ["request", "wait"]);
    conn.accept(wsmachine::Accept::new()).expect("accept");
    let n = conn.pending_output().len();
    assert!(conn.handle_write(Transfer::Bytes(n)));
    conn
}

fn texts(range: std::ops::Range<usize>) -> Vec<u8> {
    range
        .flat_map(|i| client_frame(0x81, format!("m{i}").as_bytes(), [1, 2, 3, 4]))
        .collect()
}

/// Copies as much of `bytes` as the read buffer offers; returns how much went in.
fn read_into(conn: &mut Connection<Vec<u8>>, bytes: &[u8]) -> (usize, usize) {
    let buf = conn.read_buffer();
    let offered = buf.len();
    let n = offered.min(bytes.len());
    buf[..n].copy_from_slice(&bytes[..n]);
    conn.handle_read(Transfer::Bytes(n));
    (n, offered)
}

#[test]
fn a_short_read_is_followed_by_wait_and_a_full_one_by_read() {
    // (what the read returned, what the step says after its events)
    let table: [(&str, Option<Transfer>, &str); 5] = [
        ("fewer bytes than offered", None, "wait"),
        (
            "every byte offered",
            Some(Transfer::Bytes(usize::MAX)),
            "read",
        ),
        ("would block", Some(Transfer::Blocked), "wait"),
        ("interrupted", Some(Transfer::Retry), "read"),
        ("end of stream", Some(Transfer::End), "closed"),
    ];
    for (what, read, expected) in table {
        let mut conn = open_server();
        let said = match read {
            None => {
                let frames = texts(0..3);
                let (n, offered) = read_into(&mut conn, &frames);
                assert!(n < offered, "{what}");
                steps(&mut conn)
            }
            Some(Transfer::Bytes(_)) => {
                // More frames than the buffer holds: the read fills it, the rest stays behind.
                let frames = texts(0..10_000);
                let (n, offered) = read_into(&mut conn, &frames);
                assert_eq!(n, offered, "{what}");
                let said = steps(&mut conn);
                assert!(said.len() > 100, "{what}: {} events", said.len());
                said
            }
            Some(transfer) => {
                let _ = conn.read_buffer();
                conn.handle_read(transfer);
                steps(&mut conn)
            }
        };
        let last = said.last().map(String::as_str);
        assert_eq!(last, Some(expected), "{what}: {said:?}");
        if read.is_none() {
            assert_eq!(said, ["text m0", "text m1", "text m2", "wait"], "{what}");
        }
        if matches!(read, Some(Transfer::End)) {
            assert!(said[0].starts_with("Close"), "{what}: {said:?}");
        }
    }
}

#[test]
fn a_new_connection_reads_before_it_waits() {
    let mut conn = Connection::server(Config::default());
    assert_eq!(steps(&mut conn), ["read"]);
}

#[test]
fn pipelined_input_gives_the_same_events_whole_and_byte_by_byte() {
    let frames = texts(0..16);
    let mut whole = open_server();
    read_into(&mut whole, &frames);
    let whole_said = steps(&mut whole);
    assert_eq!(whole_said.len(), 17, "{whole_said:?}");

    let mut bytewise = open_server();
    let mut said = Vec::new();
    for byte in &frames {
        let buf = bytewise.read_buffer();
        buf[0] = *byte;
        bytewise.handle_read(Transfer::Bytes(1));
        said.extend(steps(&mut bytewise).into_iter().filter(|s| s != "wait"));
    }
    said.push("wait".into());
    assert_eq!(said, whole_said);
}

#[test]
fn a_budget_is_spent_by_events_or_bytes_and_renewed() {
    let mut budget = Budget::new(3, 100);
    assert!(!budget.spend_event());
    assert!(!budget.spend_bytes(99));
    assert!(budget.spend_bytes(1), "100 bytes spend the turn");
    budget.renew();
    assert!(!budget.is_spent());
    assert!(!budget.spend_event());
    assert!(!budget.spend_event());
    assert!(budget.spend_event(), "the third event spends the turn");
    assert!(budget.is_spent());
    budget.renew();
    assert!(!budget.is_spent());
    // A zero budget still allows one unit of work per turn.
    let mut tiny = Budget::new(0, 0);
    assert!(!tiny.is_spent());
    assert!(tiny.spend_event());
    assert_eq!(Budget::default(), Budget::new(256, 256 * 1024));
}

/// A stream whose reads return the chunks given, one per read, and then would block; every
/// read and write is logged.
struct Scripted {
    chunks: VecDeque<Vec<u8>>,
    log: Vec<Op>,
    /// Writes fail as a socket's write timeout does.
    full: bool,
}

#[derive(Debug, PartialEq)]
enum Op {
    Read(usize),
    Write(Vec<u8>),
}

impl Scripted {
    fn new(chunks: Vec<Vec<u8>>) -> Self {
        Scripted {
            chunks: chunks.into(),
            log: Vec::new(),
            full: false,
        }
    }

    /// The writes since the handshake's answer, each as the server frames it held.
    fn writes(&self) -> Vec<&[u8]> {
        self.log
            .iter()
            .filter_map(|op| match op {
                Op::Write(w) if !w.starts_with(b"HTTP/1.1") => Some(w.as_slice()),
                _ => None,
            })
            .collect()
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(mut chunk) = self.chunks.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            self.chunks.push_front(chunk.split_off(n));
        }
        self.log.push(Op::Read(n));
        Ok(n)
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.full {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.log.push(Op::Write(buf.to_vec()));
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Echoes with `queue_text` until the close, as an echo server does.
fn echo(chunks: Vec<Vec<u8>>) -> Scripted {
    let mut ws = WebSocket::accept(Scripted::new(chunks), Config::default()).expect("accept");
    loop {
        match ws.read().expect("read") {
            Message::Text(t) => ws.queue_text(&t).expect("queue"),
            // Answered by the driver.
            Message::Ping(_) => {}
            Message::Close { .. } => {
                // The close reply was written before the close was handed out.
                let last = ws.get_mut().log.last();
                assert!(
                    matches!(last, Some(Op::Write(w)) if w[0] == 0x88),
                    "close reply not written: {last:?}"
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    std::mem::replace(ws.get_mut(), Scripted::new(Vec::new()))
}

fn echoes(range: std::ops::Range<usize>) -> Vec<u8> {
    range
        .flat_map(|i| server_frame(0x81, format!("m{i}").as_bytes()))
        .collect()
}

#[test]
fn the_blocking_driver_writes_a_batch_of_echoes_once() {
    let close = client_frame(0x88, &1000u16.to_be_bytes(), [9, 9, 9, 9]);
    let stream = echo(vec![
        RFC_REQUEST.to_vec(),
        texts(0..16),
        texts(16..48),
        close,
    ]);
    let writes = stream.writes();
    assert_eq!(writes.len(), 3, "one write per batch, then the close reply");
    assert_eq!(writes[0], echoes(0..16).as_slice());
    assert_eq!(writes[1], echoes(16..48).as_slice());
    assert_eq!(
        writes[2],
        server_frame(0x88, &1000u16.to_be_bytes()).as_slice()
    );
    // Each batch's write comes before the next read.
    let order: Vec<&str> = stream
        .log
        .iter()
        .map(|op| match op {
            Op::Read(_) => "r",
            Op::Write(_) => "w",
        })
        .collect();
    assert_eq!(order, ["r", "w", "r", "w", "r", "w", "r", "w"]);
}

#[test]
fn a_pong_rides_with_its_batch_and_goes_before_the_next_read() {
    let mut batch = texts(0..2);
    batch.extend(client_frame(0x89, b"hi", [5, 6, 7, 8]));
    batch.extend(texts(2..4));
    let close = client_frame(0x88, &1000u16.to_be_bytes(), [9, 9, 9, 9]);
    let stream = echo(vec![RFC_REQUEST.to_vec(), batch, close]);
    let mut expected = echoes(0..2);
    expected.extend(server_frame(0x8A, b"hi"));
    expected.extend(echoes(2..4));
    assert_eq!(stream.writes()[0], expected.as_slice());
}

#[test]
fn queued_output_is_written_at_once_past_64_kib() {
    let big = "x".repeat(40 * 1024);
    let mut ws = WebSocket::accept(Scripted::new(vec![RFC_REQUEST.to_vec()]), Config::default())
        .expect("accept");
    ws.queue_text(&big).expect("queue");
    assert!(ws.get_mut().writes().is_empty(), "40 KiB stays queued");
    ws.queue_text(&big).expect("queue");
    let writes = ws.get_mut().writes();
    assert_eq!(writes.len(), 1, "80 KiB queued is written");
    assert_eq!(writes[0].len(), 2 * (big.len() + 4));
    // A send still writes at once.
    ws.send_text("now").expect("send");
    assert_eq!(ws.get_mut().writes().len(), 2);
}

#[test]
fn a_peer_that_takes_nothing_until_the_write_timeout_is_an_error_with_the_output_kept() {
    let mut ws = WebSocket::accept(Scripted::new(vec![RFC_REQUEST.to_vec()]), Config::default())
        .expect("accept");
    ws.get_mut().full = true;
    let err = ws.send_text("stuck").expect_err("the write timed out");
    match err {
        wsmachine::blocking::Error::Io(e) => {
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            assert!(e.to_string().contains("write timed out"), "{e}");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Nothing was lost: once the peer takes bytes, the message goes out.
    ws.get_mut().full = false;
    ws.flush().expect("flush");
    assert_eq!(
        ws.get_mut().writes(),
        [server_frame(0x81, b"stuck").as_slice()]
    );
}

#[test]
fn a_websocket_only_server_accepts_upgrades_and_answers_plain_requests_with_426() {
    // (request, expected answer's first line, whether the connection opens)
    let table: [(&[u8], &str, bool); 2] = [
        (RFC_REQUEST, "HTTP/1.1 101 Switching Protocols", true),
        (
            b"GET /page HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "HTTP/1.1 426 Upgrade Required",
            false,
        ),
    ];
    for (request, status_line, opens) in table {
        let mut conn = Connection::server(Config::default());
        let n = conn.receive(request);
        assert_eq!(n, request.len());
        // A plain HTTP request is an event of its own kind; either way the request is held.
        let _ = steps(&mut conn);
        let decision = Decision::websocket_only(&conn.request().expect("request"), b"ws only\n");
        let answered = decision.apply(&mut conn).expect("apply");
        let out = String::from_utf8(conn.pending_output().to_vec()).expect("ascii");
        assert!(out.starts_with(status_line), "{out}");
        if opens {
            assert_eq!(answered, Answered::Upgraded);
        } else {
            assert_eq!(answered, Answered::Responded { status: 426 });
            assert!(
                out.contains("\r\nSec-WebSocket-Version: 13, 8, 7\r\n"),
                "{out}"
            );
            assert!(out.ends_with("\r\n\r\nws only\n"), "{out}");
        }
    }
}

/// A stream that gives its bytes one per read, each read taking `pause`.
struct Trickle {
    bytes: VecDeque<u8>,
    pause: std::time::Duration,
    written: Vec<u8>,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::thread::sleep(self.pause);
        match self.bytes.pop_front() {
            Some(b) => {
                buf[0] = b;
                Ok(1)
            }
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_handshake_timeout_bounds_a_request_sent_a_byte_at_a_time() {
    // Each byte takes 5 ms and the whole request may take 2 ms (the driver counts in
    // microseconds): the request cannot be done in time, whatever the machine's speed.
    let stream = Trickle {
        bytes: RFC_REQUEST.iter().copied().collect(),
        pause: std::time::Duration::from_millis(5),
        written: Vec::new(),
    };
    let mut config = Config::default();
    config.handshake_timeout = Some(2_000);
    let err = match WebSocket::accept(stream, config) {
        Ok(_) => panic!("a request this slow was accepted"),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            wsmachine::blocking::Error::WebSocket(wsmachine::Error::Handshake(
                wsmachine::HandshakeError::TimedOut
            ))
        ),
        "{err:?}"
    );
}
