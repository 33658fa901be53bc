//! The small-frame loops of `benches/decode.rs` and `benches/encode.rs`, without criterion, for
//! instruction counts under `valgrind --tool=callgrind` (where there are no hardware counters):
//!
//! ```sh
//! cargo build --release --example small_frames_profile
//! valgrind --tool=callgrind target/release/examples/small_frames_profile ascii 20
//! ```
//!
//! `ascii`, `mixed`, `binary`: decodes 10,000 masked client frames (16 B ASCII text, 16 B of
//! one- to three-byte characters, 125 B binary) `repeats` times, 16 KiB of input per `receive`.
//! `send-text`, `send-binary`: a server sends 10,000 frames of 16 B text or 125 B binary
//! `repeats` times, handing its output on every 16 KiB. Prints the messages and bytes seen;
//! subtract a run with 0 repeats and divide the instructions by the messages.

use std::hint::black_box;

use wsmachine::{Buffers, Config, Connection, Event, Version};

fn main() {
    let kind = std::env::args().nth(1).unwrap_or_else(|| "ascii".into());
    let repeats: usize = std::env::args()
        .nth(2)
        .map_or(20, |n| n.parse().expect("repeats: a number"));
    match kind.as_str() {
        "send-text" => return send(true, repeats),
        "send-binary" => return send(false, repeats),
        _ => {}
    }
    let (opcode, payload): (u8, Vec<u8>) = match kind.as_str() {
        "ascii" => (0x81, b"sixteen bytes ok".to_vec()),
        "mixed" => (0x81, "hélo wörld ☃".as_bytes().to_vec()),
        "binary" => (0x82, (0..125u8).collect()),
        other => panic!("unknown kind {other}: ascii, mixed, binary, send-text or send-binary"),
    };
    let mut wire = Vec::new();
    let mut seed = 12345u32;
    for _ in 0..10_000 {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let key = seed.to_le_bytes();
        wire.extend_from_slice(&[opcode, 0x80 | payload.len() as u8]);
        wire.extend_from_slice(&key);
        wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    }
    let (mut input, mut output, mut message) = (vec![0u8; 16 * 1024], vec![0u8; 4096], vec![]);
    let mut conn = Connection::framed_server_with(
        Version::Hybi13,
        Config::default(),
        Buffers {
            input: &mut input[..],
            output: &mut output[..],
            message: &mut message[..],
        },
    );
    let (mut messages, mut bytes) = (0usize, 0usize);
    for _ in 0..repeats {
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = conn.receive(rest);
            rest = &rest[n..];
            while let Some(event) = conn.poll_event().expect("valid frames") {
                match event {
                    Event::Text(text) => bytes += text.len(),
                    Event::Binary(data) => bytes += data.len(),
                    other => panic!("unexpected event {other:?}"),
                }
                messages += 1;
            }
        }
    }
    assert_eq!(bytes, messages * payload.len(), "every payload seen whole");
    println!("{messages} messages, {bytes} bytes");
}

fn send(is_text: bool, repeats: usize) {
    let text = "sixteen bytes ok";
    let data: Vec<u8> = (0..125u8).collect();
    let (mut input, mut output, mut message) = (vec![0u8; 64], vec![0u8; 32 * 1024], vec![]);
    let mut conn = Connection::framed_server_with(
        Version::Hybi13,
        Config::default(),
        Buffers {
            input: &mut input[..],
            output: &mut output[..],
            message: &mut message[..],
        },
    );
    let (mut messages, mut bytes) = (0usize, 0usize);
    for _ in 0..repeats {
        for _ in 0..10_000 {
            if is_text {
                conn.send_text(text).expect("room for the frame");
            } else {
                conn.send_binary(&data).expect("room for the frame");
            }
            messages += 1;
            if conn.pending_output().len() >= 16 * 1024 {
                let n = black_box(conn.pending_output()).len();
                bytes += n;
                conn.consume_output(n);
            }
        }
    }
    bytes += conn.pending_output().len();
    let frame = if is_text {
        2 + text.len()
    } else {
        2 + data.len()
    };
    assert_eq!(bytes, messages * frame, "every frame queued whole");
    println!("{messages} messages, {bytes} bytes");
}
