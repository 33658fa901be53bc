//! Decompression bombs (RFC 7692 §8.1): a small compressed message that inflates far past
//! the limits must fail as soon as the limit is passed, with close 1009, and must never make
//! the connection hold more than the limit.
//!
//! A counting global allocator (this file is its own test binary, like `tests/memory.rs`)
//! keeps per-thread totals, so the tests may run in parallel.

use wsmachine::deflate::DeflateConfig;
use wsmachine::{Config, Connection, Error, Event, NoEntropy, ProtocolError};

#[path = "common/counting.rs"]
mod counting;

use counting::{live, peak, reset_peak, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

type Server = Connection<Vec<u8>, NoEntropy>;

/// A client's request offering plain permessage-deflate (RFC 7692 §5).
const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

/// 16 MiB of zeros as one permessage-deflate message (zlib-rs, level 9, a sync flush, the
/// trailing `00 00 FF FF` removed as RFC 7692 §7.2.1 says): about 16 KiB.
fn bomb() -> Vec<u8> {
    let zeros = vec![0u8; 16 * MIB];
    let mut z = zlib_rs::Deflate::new(9, false, 15);
    let mut out = Vec::new();
    let mut input = &zeros[..];
    let mut buf = vec![0u8; 64 * KIB];
    loop {
        let (in0, out0) = (z.total_in(), z.total_out());
        z.compress(input, &mut buf, zlib_rs::DeflateFlush::SyncFlush)
            .expect("deflate");
        let consumed = (z.total_in() - in0) as usize;
        let produced = (z.total_out() - out0) as usize;
        input = &input[consumed..];
        out.extend_from_slice(&buf[..produced]);
        if input.is_empty() && produced < buf.len() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    // The ratio of DEFLATE is at most 1032:1.
    assert!((15 * KIB..20 * KIB).contains(&out.len()), "{}", out.len());
    out
}

/// A masked client frame.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x13, 0xc7, 0x88];
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The bomb as `pieces` frames: RSV1 on the first only (RFC 7692 §6.1), continuations after.
fn framed(bomb: &[u8], pieces: usize) -> Vec<u8> {
    let size = bomb.len().div_ceil(pieces);
    let chunks: Vec<&[u8]> = bomb.chunks(size).collect();
    assert_eq!(chunks.len(), pieces);
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == pieces;
        let b0 = match (i, last) {
            (0, true) => 0xc2,
            (0, false) => 0x42,
            (_, true) => 0x80,
            (_, false) => 0x00,
        };
        out.extend(client_frame(b0, chunk));
    }
    out
}

/// What a server did with the bomb.
struct Outcome {
    /// Heap held by the open server before the bomb: its buffers and the codecs.
    open_heap: usize,
    /// The most heap held while the bomb was fed, above what was held before the server was
    /// made.
    peak: usize,
    error: Option<Error>,
    /// Inflated bytes handed out (as fragments) before the error.
    delivered: usize,
    close_event: Option<u16>,
    /// The close code the server sent.
    close_sent: Option<u16>,
    /// Heap held once the connection was closed and its events polled, less its buffers'
    /// capacity: the codecs, if they were kept.
    closed_heap: usize,
    /// The buffers' capacity then (a violation leaves the partial message in them until the
    /// connection is dropped, compressed or not).
    closed_buffers: usize,
}

/// Opens a server of `config` with permessage-deflate agreed and feeds it `input` in 4 KiB
/// pieces, polling after each, measuring its heap throughout.
fn feed_bomb(config: Config, input: &[u8]) -> Outcome {
    let before = live();
    reset_peak();
    let mut server: Server = Connection::server(config);
    assert_eq!(server.receive(REQUEST), REQUEST.len());
    match server.poll_event() {
        Ok(Some(Event::Request(r))) => {
            assert_eq!(
                r.header_str("Sec-WebSocket-Extensions"),
                Some("permessage-deflate")
            );
        }
        other => panic!("{other:?}"),
    }
    server.accept(wsmachine::Accept::new()).unwrap();
    let head = server.pending_output().to_vec();
    server.consume_output(head.len());
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"),
        "{head}"
    );
    drop(head);
    let open_heap = live() - before;

    let mut error = None;
    let mut delivered = 0;
    let mut close_event = None;
    let mut sent = Vec::new();
    for piece in input.chunks(4 * KIB) {
        let mut given = 0;
        while given < piece.len() {
            let n = server.receive(&piece[given..]);
            given += n;
            loop {
                match server.poll_event() {
                    Ok(Some(Event::Fragment(f))) => delivered += f.data.len(),
                    Ok(Some(Event::Close(c))) => close_event = c.code.map(|c| c.0),
                    Ok(Some(other)) => panic!("unexpected event {other:?}"),
                    Ok(None) => break,
                    Err(e) => {
                        assert!(error.is_none(), "a second error: {e:?}");
                        error = Some(e);
                    }
                }
            }
            assert!(n > 0 || given == piece.len(), "input stuck");
        }
        sent.extend_from_slice(server.pending_output());
        let n = server.pending_output().len();
        server.consume_output(n);
    }
    let peak = peak() - before;
    let close_sent = match sent.as_slice() {
        [0x88, 0x02, hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
        [] => None,
        other => panic!("unexpected output {other:02x?}"),
    };
    let closed_buffers = server.buffered_capacity();
    let closed_heap = live() - before - closed_buffers;
    drop(server);
    Outcome {
        open_heap,
        peak,
        error,
        delivered,
        close_event,
        close_sent,
        closed_heap,
        closed_buffers,
    }
}

fn limited(max_message: usize, max_frame: usize, stream: bool) -> Config {
    let mut config = Config::default();
    config.deflate = Some(DeflateConfig::new());
    config.limits.max_message_size = max_message;
    config.limits.max_frame_payload = max_frame;
    config.stream_fragments = stream;
    config
}

fn check(name: &str, outcome: &Outcome, error: ProtocolError, limit: usize) {
    println!(
        "{name}: heap {} bytes open (buffers and codecs), peak {} bytes while fed, {} after \
         the close besides {} bytes of buffers; {} bytes delivered before {:?}",
        outcome.open_heap,
        outcome.peak,
        outcome.closed_heap,
        outcome.closed_buffers,
        outcome.delivered,
        outcome.error
    );
    assert_eq!(outcome.error, Some(Error::Protocol(error)), "{name}");
    assert_eq!(outcome.close_sent, Some(1009), "{name}: close code sent");
    assert_eq!(outcome.close_event, Some(1006), "{name}: close event");
    // The inflated bytes never exceed the limit: what was held is the limit and the codecs,
    // and some slack for the input and the buffers' growth.
    let bound = 2 * MIB + outcome.open_heap;
    assert!(
        outcome.peak < bound,
        "{name}: peak {} bytes, bound {bound}",
        outcome.peak
    );
    assert!(
        outcome.delivered <= limit,
        "{name}: {} delivered",
        outcome.delivered
    );
    // The codecs go with the connection.
    assert!(
        outcome.closed_heap < outcome.open_heap / 4,
        "{name}: {} bytes held after the close",
        outcome.closed_heap
    );
}

/// 16 MiB of zeros in about 16 KiB, to a server whose messages may be 1 MiB: whole, in 100
/// fragments, and in 100 fragments streamed.
#[test]
fn a_bomb_fails_at_the_message_limit_within_bounded_heap() {
    let bomb = bomb();
    for (name, pieces, stream) in [
        ("one frame", 1, false),
        ("100 fragments", 100, false),
        ("100 fragments, streamed", 100, true),
        ("one frame, streamed", 1, true),
    ] {
        let input = framed(&bomb, pieces);
        let outcome = feed_bomb(limited(MIB, 16 * MIB, stream), &input);
        check(
            name,
            &outcome,
            ProtocolError::MessageTooLarge { limit: MIB },
            MIB,
        );
        // Streamed, the fragments before the limit were handed out: at most the limit.
        if stream && pieces > 1 {
            assert!(outcome.delivered > 0, "{name}: nothing streamed");
        }
    }
}

/// The frame limit applies to the inflated size of each frame too (the 16 MiB bomb in one
/// frame of 16 KiB, and each of 100 fragments inflating to about 168 KiB).
#[test]
fn a_bomb_fails_at_the_frame_limit() {
    let bomb = bomb();
    for (name, pieces, stream, max_frame) in [
        ("one frame", 1, false, MIB),
        ("100 fragments", 100, false, 64 * KIB),
        ("100 fragments, streamed", 100, true, 64 * KIB),
    ] {
        let input = framed(&bomb, pieces);
        let outcome = feed_bomb(limited(64 * MIB, max_frame, stream), &input);
        check(
            name,
            &outcome,
            ProtocolError::FrameTooLarge { limit: max_frame },
            max_frame,
        );
    }
}

/// The measure can fail: the same zeros, with limits that let the whole message in, make
/// the server hold 16 MiB, above the bound the tests above set.
#[test]
fn the_heap_measure_sees_a_whole_message() {
    let bomb = bomb();
    let before = live();
    reset_peak();
    let mut server: Server = Connection::server(limited(16 * MIB, 16 * MIB, false));
    server.receive(REQUEST);
    assert!(matches!(server.poll_event(), Ok(Some(Event::Request(_)))));
    server.accept(wsmachine::Accept::new()).unwrap();
    let n = server.pending_output().len();
    server.consume_output(n);
    let open_heap = live() - before;
    let input = framed(&bomb, 1);
    assert_eq!(server.receive(&input), input.len());
    match server.poll_event() {
        Ok(Some(Event::Binary(b))) => assert_eq!(b.len(), 16 * MIB),
        other => panic!("{other:?}"),
    }
    let peak = peak() - before;
    println!("a whole 16 MiB message: peak {peak} bytes, open {open_heap}");
    assert!(peak > 16 * MIB, "{peak}");
    assert!(peak >= 2 * MIB + open_heap);
}
