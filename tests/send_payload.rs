//! Binary messages whose payload the caller writes itself (`send_binary_header`): the header
//! is queued, the payload goes on the wire from the caller's buffer right after it, and what is
//! queued meanwhile (a pong, more messages) waits behind the payload. The wire must be exactly
//! the frames an ordinary send makes, however the writes are cut.

use wsmachine::{Config, Connection, Error, NoEntropy, Role, UsageError, Version};

mod common;

use common::{client_frame, server_frame};

type Server = Connection<Vec<u8>, NoEntropy>;

fn server() -> Server {
    Connection::framed_server(Version::Hybi13, Config::default())
}

/// Writes everything the server owes, header, payload and later output, in writes of at most
/// `cut` bytes, as a transport taking part of each vectored write would.
fn write_out(conn: &mut Server, payload: &[u8], cut: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    for _ in 0..10_000_000 {
        let head = conn.pending_output();
        let left = conn.pending_payload() as usize;
        let tail = &payload[payload.len() - left..];
        if head.is_empty() && tail.is_empty() {
            return wire;
        }
        let from_head = head.len().min(cut);
        let from_tail = tail.len().min(cut - from_head);
        wire.extend_from_slice(&head[..from_head]);
        wire.extend_from_slice(&tail[..from_tail]);
        conn.consume_output(from_head + from_tail);
    }
    panic!("the output never emptied");
}

#[test]
fn the_wire_is_the_frames_an_ordinary_send_makes_however_the_writes_are_cut() {
    for len in [0usize, 1, 125, 126, 65_535, 65_536, 300_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let mut expected = server_frame(0x81, b"before");
        expected.extend(server_frame(0x82, &payload));
        expected.extend(server_frame(0x8A, b"ping!"));
        expected.extend(server_frame(0x81, b"after"));
        for cut in [1usize, 7, 4096, usize::MAX] {
            if cut < 4096 && len > 70_000 {
                continue; // byte-sized writes of the largest payload prove nothing more
            }
            let mut conn = server();
            conn.send_text("before").unwrap();
            conn.send_binary_header(len).unwrap();
            // Queued while the payload is pending: they go after it.
            conn.receive(&client_frame(0x89, b"ping!", [1, 2, 3, 4]));
            assert!(conn.poll_event().unwrap().is_some(), "the ping");
            conn.send_text("after").unwrap();
            // Only the bytes before the payload show until it is written.
            let head_len = 8 + if len < 126 {
                2
            } else if len <= 65_535 {
                4
            } else {
                10
            };
            if len > 0 {
                assert_eq!(conn.pending_output().len(), head_len, "len {len}");
            } else {
                // An empty payload is pending nothing: all the output shows.
                assert_eq!(conn.pending_output().len(), expected.len());
            }
            assert_eq!(conn.pending_payload(), len as u64);
            let wire = write_out(&mut conn, &payload, cut);
            assert!(wire == expected, "len {len}, writes of {cut}: wire differs");
            assert_eq!(conn.pending_payload(), 0);
        }
    }
}

#[test]
fn a_client_reads_the_message_whole() {
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut conn = server();
    conn.send_binary_header(payload.len()).unwrap();
    let wire = write_out(&mut conn, &payload, 65_536);
    let mut client = Connection::framed(
        Role::Client,
        Version::Hybi13,
        Config::default(),
        |d: &mut [u8]| d.fill(3),
    );
    let mut at = 0;
    let mut got = None;
    while got.is_none() {
        at += client.receive(&wire[at..]);
        if let Some(wsmachine::Event::Binary(data)) = client.poll_event().unwrap() {
            got = Some(data.to_vec());
        }
    }
    assert!(got.unwrap() == payload);
    assert_eq!(at, wire.len());
}

#[test]
fn refusals_change_nothing() {
    let usage = |r: Result<(), Error>| match r {
        Err(Error::Usage(u)) => u,
        other => panic!("expected a usage error, got {other:?}"),
    };
    // A client masks: its payload must go through the output.
    let mut client = Connection::framed(
        Role::Client,
        Version::Hybi13,
        Config::default(),
        |d: &mut [u8]| d.fill(9),
    );
    assert_eq!(
        usage(client.send_binary_header(10)),
        UsageError::MaskedPayload
    );
    assert!(client.pending_output().is_empty());
    // hixie has no binary frames.
    let mut hixie = Connection::framed_server(Version::Hixie76, Config::default());
    assert!(matches!(
        usage(hixie.send_binary_header(10)),
        UsageError::Unsupported { .. }
    ));
    // Before the handshake.
    let mut fresh = Connection::server(Config::default());
    assert_eq!(usage(fresh.send_binary_header(10)), UsageError::NotOpen);
    // One pending payload at a time.
    let mut conn = server();
    conn.send_binary_header(1000).unwrap();
    let before = conn.pending_output().to_vec();
    assert_eq!(
        usage(conn.send_binary_header(5)),
        UsageError::PayloadPending { remaining: 1000 }
    );
    assert_eq!(conn.pending_output(), &before[..]);
    conn.consume_output(before.len() + 999);
    assert_eq!(
        usage(conn.send_binary_header(5)),
        UsageError::PayloadPending { remaining: 1 }
    );
    conn.consume_output(1);
    conn.send_binary_header(5).unwrap();
    // Inside a fragmented message, and after the close.
    let mut conn = server();
    conn.send_fragment(b"a", false, false).unwrap();
    assert_eq!(usage(conn.send_binary_header(5)), UsageError::FragmentOrder);
    let mut conn = server();
    conn.close().unwrap();
    assert_eq!(usage(conn.send_binary_header(5)), UsageError::Closed);
    // A header that does not fit the output limit.
    let mut config = Config::default();
    config.limits.max_queued_output = 4;
    let mut conn = Connection::framed_server(Version::Hybi13, config);
    assert!(matches!(
        usage(conn.send_binary_header(1 << 20)),
        UsageError::OutputFull { required: 10, .. }
    ));
    assert_eq!(conn.pending_payload(), 0);
    // The message text says what happened.
    assert_eq!(
        UsageError::PayloadPending { remaining: 3 }.to_string(),
        "3 bytes of the previous caller-written payload are still to be written"
    );
}

/// The blocking driver writes a server's large binary messages from the caller's buffer: over
/// a real socket, with small messages and a split writer around them, every message arrives
/// whole and in order.
#[test]
fn the_blocking_driver_sends_large_payloads_in_place() {
    use std::net::{TcpListener, TcpStream};
    use wsmachine::blocking::WebSocket;
    use wsmachine::drive::Message;
    use wsmachine::ClientRequest;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sizes = [5usize, 16 * 1024, 16 * 1024 - 1, 3 << 20, 100, 70_000];
    let payload = |size: usize| -> Vec<u8> { (0..size).map(|i| (i * 13 + size) as u8).collect() };
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut ws = WebSocket::accept(stream, Config::default()).unwrap();
        for size in sizes {
            ws.send_binary(&payload(size)).unwrap();
        }
        // The writer half takes the same path.
        let (_reader, mut writer) = ws.split().unwrap();
        writer.send_binary(&payload(1 << 20)).unwrap();
        writer.send_text("done").unwrap();
    });
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let request = ClientRequest::new("127.0.0.1", "/");
    let (mut client, _) = WebSocket::connect(stream, &request, Config::default()).unwrap();
    for size in sizes.into_iter().chain([1 << 20]) {
        match client.read().unwrap() {
            Message::Binary(data) => assert!(data == payload(size), "message of {size} B"),
            other => panic!("expected {size} B, got {other:?}"),
        }
    }
    assert_eq!(client.read().unwrap(), Message::Text("done".into()));
    server.join().unwrap();
}

/// A blocking socket: takes at most `budget` more bytes (then times out, as a socket's write
/// timeout does), and records where every slice it was given lay in memory.
struct Socket {
    input: Vec<u8>,
    wire: Vec<u8>,
    budget: usize,
    slices: Vec<std::ops::Range<usize>>,
}

impl std::io::Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.input.is_empty() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        Ok(n)
    }
}

impl std::io::Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_vectored(&[std::io::IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        if self.budget == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(self.budget - n);
            let at = buf.as_ptr() as usize;
            self.slices.push(at..at + buf.len());
            self.wire.extend_from_slice(&buf[..take]);
            n += take;
        }
        self.budget -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn blocking_server(budget: usize) -> wsmachine::blocking::WebSocket<Socket> {
    let socket = Socket {
        input: common::RFC_REQUEST.to_vec(),
        wire: Vec::new(),
        budget: usize::MAX,
        slices: Vec::new(),
    };
    let mut ws = wsmachine::blocking::WebSocket::accept(socket, Config::default()).unwrap();
    let socket = ws.get_mut();
    socket.wire.clear();
    socket.slices.clear();
    socket.budget = budget;
    ws
}

#[test]
fn the_blocking_driver_writes_a_large_payload_from_the_callers_buffer() {
    let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 241) as u8).collect();
    let mut ws = blocking_server(usize::MAX);
    ws.send_binary(&data).unwrap();
    let at = data.as_ptr() as usize;
    let socket = ws.get_mut();
    assert!(socket.wire == server_frame(0x82, &data), "wire differs");
    // The payload went to the socket from `data` itself, in the write that took the header.
    assert!(
        socket.slices.contains(&(at..at + data.len())),
        "no write was given the caller's buffer: {:?}",
        socket.slices
    );
}

#[test]
fn a_write_timeout_half_way_through_a_payload_keeps_the_rest_for_the_next_flush() {
    let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 239) as u8).collect();
    let mut ws = blocking_server(500);
    let err = ws.send_binary(&data).expect_err("the write timed out");
    assert!(err.to_string().contains("write timed out"), "{err}");
    // Nothing is left to the caller's buffer: the rest is the connection's output now.
    assert_eq!(ws.connection().pending_payload(), 0);
    ws.get_mut().budget = usize::MAX;
    ws.flush().unwrap();
    ws.send_text("next").unwrap();
    ws.close(None, "").unwrap();
    let mut expected = server_frame(0x82, &data);
    expected.extend(server_frame(0x81, b"next"));
    // A close without a code says 1000 (normal).
    expected.extend(server_frame(0x88, &1000u16.to_be_bytes()));
    let wire = &ws.get_mut().wire;
    let first = wire.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(
        first,
        None,
        "wire differs; lengths {} {}",
        wire.len(),
        expected.len()
    );
    assert_eq!(wire.len(), expected.len());
}

#[test]
fn a_pending_payload_handed_over_goes_out_before_what_was_queued_behind_it() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 233) as u8).collect();
    let mut conn = server();
    conn.send_binary_header(data.len()).unwrap();
    conn.receive(&client_frame(0x89, b"hi", [1, 2, 3, 4]));
    assert!(conn.poll_event().unwrap().is_some());
    // The header and 100 payload bytes written; the caller lets go of the rest.
    conn.consume_output(4 + 100);
    assert_eq!(conn.unwritten_payload(&data), &data[100..]);
    // A buffer shorter than what is left cannot be the payload: nothing of it is owed.
    assert!(conn.unwritten_payload(&data[..50]).is_empty());
    // Only the rest is taken, exactly.
    assert_eq!(
        conn.queue_pending_payload(&data[99..]),
        Err(UsageError::PayloadPending { remaining: 4900 })
    );
    conn.queue_pending_payload(&data[100..]).unwrap();
    assert_eq!(conn.pending_payload(), 0);
    let mut expected = data[100..].to_vec();
    expected.extend(server_frame(0x8A, b"hi"));
    assert!(conn.pending_output() == &expected[..], "output differs");
    // Nothing pending: nothing to hand over.
    assert_eq!(
        conn.queue_pending_payload(b""),
        Err(UsageError::PayloadPending { remaining: 0 })
    );
}

#[cfg(target_pointer_width = "64")]
#[test]
fn a_length_the_wire_cannot_carry_is_refused() {
    let mut conn = server();
    // RFC 6455 §5.2: a 64-bit length has its most significant bit 0.
    let err = conn.send_binary_header(1usize << 63).unwrap_err();
    assert!(
        matches!(err, Error::Usage(UsageError::Unsupported { .. })),
        "{err:?}"
    );
    assert!(conn.pending_output().is_empty());
    conn.send_binary_header((1usize << 63) - 1).unwrap();
    assert_eq!(
        conn.pending_output(),
        b"\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"
    );
}

/// A driver that finds a payload owed which it was not given (the header queued through
/// `connection()`) reports it instead of passing the output for flushed: what is queued
/// behind the payload cannot go out.
#[test]
fn a_flush_that_cannot_reach_a_pending_payload_is_an_error() {
    let mut ws = blocking_server(usize::MAX);
    ws.connection().send_binary_header(100_000).unwrap();
    ws.connection().send_text("behind").unwrap();
    let err = ws.flush().expect_err("the payload is owed");
    assert!(
        matches!(
            err,
            wsmachine::blocking::Error::WebSocket(Error::Usage(UsageError::PayloadPending {
                remaining: 100_000
            }))
        ),
        "{err:?}"
    );
    // The header went out (a 64-bit length: 100,000 > 65,535); nothing queued behind the
    // payload did.
    let mut header = vec![0x82, 127];
    header.extend(100_000u64.to_be_bytes());
    assert_eq!(ws.get_mut().wire, header);
}
