//! Writes the seed corpus under `seeds/<target>/`: handshakes of every version made by the
//! crate's own client and server (with the targets' fixed client entropy, so that a client seed
//! carries the exact answer it expects), the framing examples of RFC 6455 §5.7 and
//! hixie-76 §4.2, operation scripts for the `halves` target, and for the `deflate` target RFC
//! 7692 §7.2.3's compressed messages, operation scripts (compressed messages, bombs, corrupt
//! data) and round trips of several configurations.
//!
//! Run from `fuzz/`: `cargo run --example make_seeds`.

use std::fs;
use std::path::Path;

use wsmachine::{handshake::Accept, Config, Connection, Event, Version};
use wsmachine_fuzz::halves::*;
use wsmachine_fuzz::{client, small_limits, VERSIONS};

fn config() -> Config {
    let mut c = Config::default();
    c.limits = small_limits();
    c
}

/// A client's request (with hixie-76's 8 key bytes), the server's answer, a frame the client
/// sends once open and one the server sends.
struct Exchange {
    request: Vec<u8>,
    response: Vec<u8>,
    client_frame: Vec<u8>,
    server_frame: Vec<u8>,
}

fn exchange(version: Version, protocols: &[&str]) -> Exchange {
    let mut c = client(version, protocols, config()).expect("request");
    let request = c.pending_output().to_vec();
    c.consume_output(request.len());
    let mut s = Connection::server(config());
    assert_eq!(s.receive(&request), request.len());
    match s.poll_event() {
        Ok(Some(Event::Request(_))) => {}
        other => panic!("no request: {other:?}"),
    }
    let accept = match protocols.first() {
        Some(p) => Accept::new().protocol(p),
        None => Accept::new(),
    };
    s.accept(accept).expect("accept");
    let response = s.pending_output().to_vec();
    s.consume_output(response.len());
    c.receive(&response);
    match c.poll_event() {
        Ok(Some(Event::Accepted(_))) => {}
        other => panic!("not accepted: {other:?}"),
    }
    c.send_text("Hello").unwrap();
    s.send_text("Hello").unwrap();
    Exchange {
        request,
        response,
        client_frame: c.pending_output().to_vec(),
        server_frame: s.pending_output().to_vec(),
    }
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("seeds").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn with(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// Frames a peer of `role` sends (RFC 6455 §5.7 for hybi; hixie-76 §4.2 for hixie).
fn frames(version: Version, from_client: bool) -> Vec<(&'static str, Vec<u8>)> {
    if version.is_hixie() {
        let mut v = vec![
            ("text", b"\x00Hello\xFF".to_vec()),
            (
                "two_texts",
                b"\x00Hello\xFF\x00\xC3\xA9t\xC3\xA9\xFF".to_vec(),
            ),
            ("length_prefixed", b"\x80\x05Hello\x00ok\xFF".to_vec()),
            ("long_length", b"\x81\x01X\x00ok\xFF".to_vec()),
            ("other_type", b"\x01skip\xFF\x00ok\xFF".to_vec()),
        ];
        if version == Version::Hixie76 {
            v.push(("close", b"\x00bye\xFF\xFF\x00".to_vec()));
        }
        return v;
    }
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let frame = |b0: u8, payload: &[u8]| -> Vec<u8> {
        let mut f = vec![b0];
        let len = payload.len();
        let m = if from_client { 0x80 } else { 0 };
        if len < 126 {
            f.push(m | len as u8);
        } else {
            f.push(m | 126);
            f.extend_from_slice(&(len as u16).to_be_bytes());
        }
        if from_client {
            f.extend_from_slice(&mask);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            f.extend_from_slice(payload);
        }
        f
    };
    let cat = |fs: &[Vec<u8>]| fs.concat();
    vec![
        ("text", frame(0x81, b"Hello")),
        (
            "fragmented",
            cat(&[frame(0x01, b"Hel"), frame(0x80, b"lo")]),
        ),
        (
            "fragmented_ping",
            cat(&[frame(0x01, b"Hel"), frame(0x89, b"p"), frame(0x80, b"lo")]),
        ),
        (
            "utf8_split",
            cat(&[frame(0x01, b"\xCE\xBA\xE1"), frame(0x80, b"\xBD\xB9")]),
        ),
        ("ping", frame(0x89, b"Hello")),
        ("pong", frame(0x8A, b"Hello")),
        ("binary_256", frame(0x82, &[0xAB; 256])),
        (
            "binary_fragments",
            cat(&[
                frame(0x02, &[1; 100]),
                frame(0x00, &[2; 100]),
                frame(0x80, &[3; 100]),
            ]),
        ),
        ("close", frame(0x88, b"\x03\xE8bye")),
        ("close_empty", frame(0x88, b"")),
        (
            "text_then_close",
            cat(&[frame(0x81, b"Hello"), frame(0x88, b"\x03\xE8")]),
        ),
    ]
}

/// Scripts for the `halves` target (see `wsmachine_fuzz::halves` for the format): the name,
/// the header bits besides the version, and the operations.
#[rustfmt::skip]
fn halves_scripts() -> Vec<(&'static str, u8, u8, Vec<u8>)> {
    const C: u8 = CLIENT;
    const S: u8 = SERVER;
    let all = 0x7F; // DELIVER: 512 bytes
    let events = 7; // POLL: up to 8 events
    // The client split, the server joined: messages both ways, a ping answered late (after a
    // message), handed to the wrong connection first, a stamped ping, fragments with a ping
    // between them, foreign joins and polls, a keepalive, a join and a split, the server's
    // close answered through a held owed value.
    let exchange = vec![
        op(C, TEXT), 20,
        op(S, DELIVER), all,
        op(S, TEXT), 30,
        op(C, DELIVER), all,
        op(C, POLL), events,
        op(S, PING), 5,
        op(C, DELIVER), all,
        op(C, POLL), events,
        op(C, TAKE_OWED),
        op(C, TEXT), 10,
        op(C, HAND_FOREIGN), 0,
        op(C, HAND_OWED), 0,
        op(S, DELIVER), all,
        op(C, PING_AT),
        op(S, DELIVER), all,
        op(C, DELIVER), all | 0x80,
        op(C, POLL), events | POLL_WITH,
        op(C, FRAGMENT), 10, 1,
        op(S, PING), 3,
        op(C, DELIVER), all,
        op(C, POLL), events,
        op(C, TAKE_OWED),
        op(C, FRAGMENT), 7, 3,
        op(C, HAND_OWED), 0,
        op(S, DELIVER), all,
        op(C, JOIN_FOREIGN),
        op(C, POLL_FOREIGN),
        op(C, TIMEOUT), 20,
        op(C, JOIN),
        op(C, SPLIT),
        op(S, CLOSE),
        op(C, DELIVER), all,
        op(C, POLL), events | POLL_STEP,
        op(C, TAKE_OWED),
        op(C, PONG), 4,
        op(C, HAND_OWED), 0,
        op(C, HAND_AGAIN),
        op(S, DELIVER), all,
        op(C, FLUSH),
    ];
    // Both split: the client closes with a code; the server reads it, keeps the owed close
    // reply, sends a message first, then hands the reply over.
    let peer_closes = vec![
        op(C, BINARY), 40,
        op(C, CLOSE_WITH), 3 | 5 << 3,
        op(S, DELIVER), all,
        op(S, POLL), events,
        op(S, TAKE_OWED),
        op(S, TEXT), 12,
        op(S, HAND_OWED), 0,
        op(S, WRITE), 4,
        op(C, DELIVER), all,
        op(C, POLL), events | POLL_WITH,
        op(S, JOIN),
    ];
    // The client split: its close goes unanswered (the server never reads) until the close
    // timeout shuts its transport down.
    let close_timeout = vec![
        op(C, TEXT), 5,
        op(C, CLOSE),
        op(C, TIMEOUT), 2,
        op(C, TIMEOUT), 8,
        op(S, DELIVER), all,
        op(C, POLL), events,
        op(S, POLL), events,
    ];
    // Both split: pings merged in the receiver before one owed value is taken, a shut write
    // side, sends after it.
    let merged = vec![
        op(S, PING), 1,
        op(S, PING), 2,
        op(S, PING_AT),
        op(C, DELIVER), all,
        op(C, POLL), events,
        op(C, TAKE_OWED),
        op(C, HAND_OWED), 0,
        op(S, DELIVER), all,
        op(S, POLL), events | POLL_STEP,
        op(C, SHUT),
        op(C, TEXT), 3,
        op(S, DELIVER), all,
        op(S, POLL), events,
        op(S, TAKE_OWED),
        op(S, HAND_OWED), 0,
    ];
    vec![
        ("exchange", SPLIT_CLIENT, 0x21, exchange),
        ("peer_closes", SPLIT_CLIENT | SPLIT_SERVER | FRAMED, 0, peer_closes),
        ("close_timeout", SPLIT_CLIENT | STREAM, 0x02, close_timeout),
        ("merged", SPLIT_CLIENT | SPLIT_SERVER | FRAMED, 0x10, merged),
    ]
}

/// A client's frame with the masking key of RFC 6455 §5.7's examples.
fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    assert!(payload.len() < 126);
    let mut f = vec![b0, 0x80 | payload.len() as u8];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Inputs of the `deflate` target (see `wsmachine_fuzz::deflate_input` for the format).
#[rustfmt::skip]
fn deflate_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use wsmachine_fuzz::deflate_input::{content::*, inflate as inf, round_trip as rt, ROUND_TRIP};
    const HYBI13: u8 = 2 << 5;
    const ROOMY: u8 = 0xFE; // limits_from: 1200-byte frames and messages, 8192 bytes of output
    const TINY: u8 = 0x00; // 8-byte frames, 16-byte messages, 64 bytes of output
    const MIDDLE: u8 = 0x6E; // 200-byte frames, 1200-byte messages, 300 bytes of output
    let words = |seed: u8| WORDS | seed << 2;
    // RFC 7692 §7.2.3: "Hello" compressed (§7.2.3.1), again with context takeover
    // (§7.2.3.2), in a stored block (§7.2.3.3), with BFINAL set (§7.2.3.4), in two blocks
    // (§7.2.3.5), and the first one cut into two frames (§7.2.3.1).
    let rfc = [
        masked(0xC1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]),
        masked(0xC1, &[0xf2, 0x00, 0x11, 0x00, 0x00]),
        masked(0xC1, &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]),
        masked(0xC1, &[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00]),
        masked(0x41, &[0xf2, 0x48, 0xcd]),
        masked(0x80, &[0xc9, 0xc9, 0x07, 0x00]),
        masked(0xC1, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]),
    ]
    .concat();
    // RSV1 where it may not be: on a ping, on a continuation.
    let misplaced = [
        masked(0xC9, b"hi"),
        masked(0x41, &[0xf2, 0x48]),
        masked(0xC0, &[0xcd, 0xc9, 0xc9, 0x07, 0x00]),
    ]
    .concat();
    let exchange = vec![
        inf::op(inf::DEFLATED, 5), inf::TEXT, 0, 200, words(1),
        inf::op(inf::DEFLATED, 5), inf::TEXT | inf::KEEP_CONTEXT, 0, 200, words(1),
        inf::op(inf::DEFLATED, 0), 2 << 1 | inf::PING_BETWEEN, 1, 0, PATTERN | 3 << 2, b'a', b'b', b'c', b'd',
        inf::op(inf::PLAIN, 0), inf::TEXT | 1 << 1, 0, 50, words(2),
        inf::op(inf::PING, 0), 4, b'p', b'i', b'n', b'g',
        inf::op(inf::SEND, 0), inf::TEXT, 0, 100, words(0),
        inf::op(inf::SEND, 0), inf::UNCOMPRESSED, 0, 60, RANDOM,
        inf::op(inf::SEND, 0), 0, 0, 200, PATTERN, b'x',
        inf::op(inf::DEFLATED, 1 | 1 << 3), 0, 0, 150, RANDOM | 1 << 2,
        inf::op(inf::DEFLATED, 2 | 2 << 3), inf::TEXT, 0, 150, words(3),
        inf::op(inf::DEFLATED, 7 | 3 << 3), 3 << 1, 0, 150, LITERAL, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        inf::op(inf::CLOSE, 0),
    ];
    let bomb = vec![inf::op(inf::DEFLATED, 7), 0, 0xFF, 0xFF, PATTERN, b'A'];
    let bomb_in_frames = vec![inf::op(inf::DEFLATED, 7), 3 << 1, 0xFF, 0xFF, PATTERN | 1 << 2, b'A', b'B'];
    let broken = vec![
        inf::op(inf::DEFLATED, 5), inf::TEXT, 0, 100, words(1),
        inf::op(inf::DEFLATED, 5), inf::TEXT | inf::CORRUPT, 0, 100, words(1), 128, 0x55,
        inf::op(inf::DEFLATED, 5), inf::TEXT | inf::FINAL_BLOCK, 0, 40, words(2),
        inf::op(inf::FRAME, 0), 0xC1, 3, 0xFF, 0xFF, 0xFF,
        inf::op(inf::BYTES, 0), 2, 0x81, 0x80,
    ];
    let no_takeover = vec![
        inf::op(inf::DEFLATED, 5), inf::TEXT, 0, 120, words(4),
        inf::op(inf::DEFLATED, 5), inf::TEXT | inf::KEEP_CONTEXT, 0, 120, words(4),
        inf::op(inf::SEND, 0), inf::TEXT, 1, 0, words(4),
        inf::op(inf::SEND, 0), inf::TEXT, 1, 0, words(4),
    ];
    // A message ending with a final block, then one more (a new stream), context kept asked.
    let final_block = vec![
        inf::op(inf::DEFLATED, 5), inf::TEXT | inf::FINAL_BLOCK, 0, 40, words(2),
        inf::op(inf::DEFLATED, 5), inf::TEXT | inf::KEEP_CONTEXT, 0, 40, words(2),
        inf::op(inf::DEFLATED, 5), inf::TEXT | inf::KEEP_CONTEXT | 1 << 1, 0, 40, words(2),
    ];
    let mut seeds = vec![
        ("inflate_final_block", with(&[HYBI13, ROOMY, 0, 9], &[&final_block])),
        ("inflate_rfc7692", with(&[HYBI13 | inf::RAW, ROOMY, 0, 0], &[&rfc])),
        ("inflate_rfc7692_chunked_stream", with(&[HYBI13 | inf::RAW | inf::CHUNKED | inf::STREAM, ROOMY, 0, 1], &[&rfc])),
        ("inflate_rsv1_misplaced", with(&[HYBI13 | inf::RAW, ROOMY, 0, 0], &[&misplaced])),
        ("inflate_exchange", with(&[HYBI13 | inf::CHUNKED, ROOMY, 0, 2], &[&exchange])),
        ("inflate_exchange_hybi07_stream", with(&[inf::STREAM | inf::EOF, MIDDLE, 0x0D, 3], &[&exchange])),
        ("inflate_bomb", with(&[HYBI13, TINY, 0, 4], &[&bomb])),
        ("inflate_bomb_roomy", with(&[HYBI13 | inf::CHUNKED, ROOMY, 0, 5], &[&bomb])),
        ("inflate_bomb_in_frames", with(&[HYBI13 | inf::STREAM, MIDDLE, 0, 6], &[&bomb_in_frames])),
        ("inflate_broken", with(&[1 << 5, ROOMY, 0, 7], &[&broken])),
        ("inflate_no_context_takeover", with(&[HYBI13, ROOMY, 0xE7, 8], &[&no_takeover])),
    ];

    const C: u8 = 0;
    const S: u8 = 1;
    let exchange = vec![
        rt::op(C, rt::TEXT), 0x01, 0x2C, words(1),
        rt::op(S, rt::TEXT), 0x01, 0x2C, words(1),
        rt::op(C, rt::REPEAT),
        rt::op(S, rt::BINARY), 0x07, 0xD0, PATTERN | 2 << 2, 1, 2, 3,
        rt::op(C, rt::BINARY), 0x01, 0xF4, RANDOM | 5 << 2,
        rt::op(C, rt::TEXT_PLAIN), 0, 100, words(2),
        rt::op(S, rt::BINARY_PLAIN), 0, 100, PATTERN, b'z',
        rt::op(C, rt::FRAGMENTS), 1 | 2 << 1 | rt::PING_BETWEEN, 0x01, 0x00, words(3),
        rt::op(S, rt::FRAGMENTS), 3 << 1 | rt::FLUSH_BETWEEN, 0x02, 0x00, RANDOM,
        rt::op(C, rt::PING), 10,
        rt::op(S, rt::FLUSH),
        rt::op(S, rt::TEXT), 0xCE, 0x20, words(4),
        rt::op(S, rt::REPEAT),
        rt::op(C, rt::TEXT), 0, 10, words(5),
        rt::op(C, rt::BINARY), 0, 0, RANDOM,
    ];
    // Under small limits: messages that fit, one too large to queue even compressed (dropped,
    // and the compressor starts afresh), one more, then a bomb the receiver refuses.
    let limits = vec![
        rt::op(C, rt::TEXT), 0, 200, words(1),
        rt::op(S, rt::TEXT), 0, 250, words(1),
        rt::op(S, rt::BINARY), 0x8B, 0xB8, RANDOM | 1 << 2,
        rt::op(S, rt::TEXT), 0, 250, words(1),
        rt::op(C, rt::BINARY), 1, 0x1E, RANDOM | 2 << 2,
        rt::op(C, rt::FLUSH),
        rt::op(C, rt::BINARY), 0x93, 0x88, PATTERN, b'q',
    ];
    let default = [rt::PRESENT | 5 << 4, 0x00, 16];
    // Every parameter: both context takeovers off, windows of 10 and 9 bits asked, a fallback
    // offer, level 9 and no threshold; the server at level 1 asks for a 12-bit client window.
    let client_all = [rt::PRESENT | rt::SERVER_NO_CONTEXT_TAKEOVER | rt::CLIENT_NO_CONTEXT_TAKEOVER | rt::FALLBACK_OFFER | 8 << 4, 0x9A, 0];
    let server_level1 = [rt::PRESENT, 0xC0, 1];
    let windows_8 = [rt::PRESENT | rt::SERVER_NO_CONTEXT_TAKEOVER, 0x88, 4];
    let clamped = [rt::PRESENT | 2 << 4, 0x31, 8];
    let none = [0, 0, 0];
    // Name, version byte, client and server configuration bytes, operations.
    type RoundTrip<'a> = (&'a str, u8, [u8; 3], [u8; 3], &'a [u8]);
    let round_trips: [RoundTrip<'_>; 9] = [
        ("default", 4, default, default, &exchange),
        ("all_parameters", 4, client_all, server_level1, &exchange),
        ("windows_8_hybi08_stream", 3 | rt::STREAM, default, windows_8, &exchange),
        ("clamped_windows_hybi07", 2 | rt::CLIENT_CLOSES, clamped, clamped, &exchange),
        ("client_only", 4, default, none, &exchange),
        ("server_only", 4 | rt::CLIENT_CLOSES, none, default, &exchange),
        ("hixie76_configured", 1, default, default, &exchange),
        ("tight_limits", 4 | rt::TIGHT, default, default, &limits),
        ("tight_limits_no_takeover", 4 | rt::TIGHT | rt::STREAM, client_all, windows_8, &limits),
    ];
    for (name, options, client, server, ops) in round_trips {
        let version = options & 7;
        let header = [
            ROUND_TRIP | version << 1 | (options & !7),
            client[0], client[1], client[2],
            server[0], server[1], server[2],
            7, 40,
        ];
        let name: &'static str = Box::leak(format!("round_trip_{name}").into_boxed_str());
        seeds.push((name, with(&header, &[ops])));
    }
    seeds
}

fn main() {
    // limits_from(0xFE): 1024-byte handshakes, 1200-byte frames, messages and hixie frames.
    const ROOMY: u8 = 0xFE;
    for (vi, &version) in VERSIONS.iter().enumerate() {
        let name = version.as_str();
        let plain = exchange(version, &[]);
        let chat = exchange(version, &["chat", "superchat"]);

        // server_handshake: options, limits, request (and a first frame).
        write("server_handshake", name, &with(&[0, 0], &[&plain.request]));
        write(
            "server_handshake",
            &format!("{name}_chat_frame_chunked"),
            &with(&[0x20, 0], &[&chat.request, &chat.client_frame]),
        );
        write(
            "server_handshake",
            &format!("{name}_refused"),
            &with(&[1, 0], &[&plain.request]),
        );

        // client_handshake: options (version, protocols), limits, answer (and a frame).
        let v = vi as u8;
        write("client_handshake", name, &with(&[v, 0], &[&plain.response]));
        write(
            "client_handshake",
            &format!("{name}_chat_frame"),
            &with(&[v | 8, 0], &[&chat.response, &chat.server_frame]),
        );

        // frames: options (role, version), limits, frames.
        for (role_bit, from_client) in [(0u8, true), (1u8, false)] {
            for (frame_name, bytes) in frames(version, from_client) {
                let role = if role_bit == 0 { "server" } else { "client" };
                write(
                    "frames",
                    &format!("{name}_{role}_{frame_name}"),
                    &with(&[role_bit | (v << 1), ROOMY], &[&bytes]),
                );
            }
        }

        // chunking: kind, limits, chunk seed, input. Kind: 0 server, 1 client (version in
        // bits 2..), 2/3 framed server/client.
        write(
            "chunking",
            &format!("{name}_server"),
            &with(&[0, 0, 7], &[&plain.request, &plain.client_frame]),
        );
        let client_chat = exchange(version, &["chat"]);
        write(
            "chunking",
            &format!("{name}_client"),
            &with(
                &[1 | (v << 2), 0, 9],
                &[&client_chat.response, &client_chat.server_frame],
            ),
        );
        for (kind, from_client) in [(2u8, true), (3u8, false)] {
            let all: Vec<u8> = frames(version, from_client)
                .into_iter()
                .flat_map(|f| f.1)
                .collect();
            write(
                "chunking",
                &format!("{name}_framed_{kind}"),
                &with(&[kind | (v << 2), 0, 3], &[&all]),
            );
        }
    }
    // halves: mode (version and options), limits, timers, operations.
    for (vi, &version) in VERSIONS.iter().enumerate() {
        for (name, options, timers, ops) in halves_scripts() {
            write(
                "halves",
                &format!("{}_{name}", version.as_str()),
                &with(&[vi as u8 | options, 0xFE, timers], &[&ops]),
            );
        }
    }
    write(
        "server_handshake",
        "plain_http",
        b"\x00\x00GET /index.html HTTP/1.1\r\nHost: example.com\r\nCookie: a=b\r\n\r\n",
    );
    write(
        "server_handshake",
        "unknown_version",
        b"\x00\x00GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 9\r\n\r\n",
    );
    // RFC 6455 §1.3's request, whose answer carries s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
    write(
        "server_handshake",
        "rfc6455_1_3",
        b"\x00\x00GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    // hixie-76 §1.3's request, key3 "Tm[K T2u".
    write(
        "server_handshake",
        "hixie76_1_3",
        b"\x00\x00GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: sample\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://example.com\r\n\r\n^n:ds[4U",
    );
    for (name, bytes) in deflate_seeds() {
        write("deflate", name, &bytes);
    }
    println!("seeds written under seeds/");
}
