//! permessage-deflate (RFC 7692) end to end: negotiation, compression on the wire, the
//! receiving half's limits and checks, and what an independent inflater (zlib-rs, a port of
//! zlib) makes of every compressed message we send.
//!
//! The expected values come from RFC 7692: the worked examples of §7.2.3 (bytes on the wire),
//! the negotiation rules of §5 and §7.1, the framing rules of §6.1 (RSV1 on the first frame of
//! a compressed message only), the tail removed and restored in §7.2.1 and §7.2.2, and the
//! window sizes of §7.1.2.

mod common;

use common::*;
use wsmachine::deflate::DeflateConfig;
use wsmachine::{
    handshake::accept_key, Accept, ClientRequest, CloseCode, Config, Connection, Error, Event,
    HandshakeError, KeySource, ProtocolError, UsageError, Version,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// The bytes a sync flush ends with, removed by the sender and restored by the receiver
/// (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The hybi versions, all of which carry extensions.
const HYBI: [Version; 3] = [Version::Hybi13, Version::Hybi08, Version::Hybi07];

/// RFC 7692 §7.2.3.1: "Hello" compressed in one DEFLATE block.
const HELLO: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// RFC 7692 §7.2.3.2: the second "Hello", referring to the first through the shared window.
const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];

// ---------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------

/// A config with permessage-deflate, adjusted by `f`.
fn with_deflate(f: impl FnOnce(&mut DeflateConfig)) -> Config {
    let mut deflate = DeflateConfig::new();
    f(&mut deflate);
    let mut config = Config::default();
    config.deflate = Some(deflate);
    config
}

fn deflate_default() -> Config {
    with_deflate(|_| {})
}

/// Binary data that compresses, though not to nothing.
fn binary_of(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ ((i / 1000) as u8).wrapping_mul(17))
        .collect()
}

/// Bytes no compressor can shrink (xorshift).
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Letters no compressor can shrink much: valid text with no repeats to refer back to.
fn random_text(len: usize, seed: u64) -> String {
    random_bytes(len, seed)
        .into_iter()
        .map(|b| char::from(b'a' + b % 26))
        .collect()
}

/// A frame as it went over the wire, unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
struct WireFrame {
    b0: u8,
    masked: bool,
    payload: Vec<u8>,
}

/// Splits bytes of hybi frames into frames (whole frames only).
fn frames(mut bytes: &[u8]) -> Vec<WireFrame> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (b0, b1) = (bytes[0], bytes[1]);
        let (len, mut at) = match b1 & 0x7F {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (usize::from(n), 2),
        };
        let masked = b1 & 0x80 != 0;
        let mask = if masked {
            let key = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            at += 4;
            Some(key)
        } else {
            None
        };
        let mut payload = bytes[at..at + len].to_vec();
        if let Some(key) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        out.push(WireFrame {
            b0,
            masked,
            payload,
        });
        bytes = &bytes[at + len..];
    }
    out
}

/// The frame a peer of `to_server`'s direction would send: masked toward a server.
fn frame_toward(to_server: bool, b0: u8, payload: &[u8]) -> Vec<u8> {
    if to_server {
        client_frame(b0, payload, [0x37, 0xfa, 0x21, 0x3d])
    } else {
        server_frame(b0, payload)
    }
}

/// Takes everything `conn` has queued, as frames.
fn take_frames<R: KeySource>(conn: &mut Connection<Vec<u8>, R>) -> Vec<WireFrame> {
    let out = conn.pending_output().to_vec();
    conn.consume_output(out.len());
    frames(&out)
}

/// The close code of the last frame of `frames`, which must be a close frame.
fn close_code_of(frames: &[WireFrame]) -> u16 {
    let last = frames.last().expect("a close frame");
    assert_eq!(last.b0, 0x88, "last frame is not a close: {frames:?}");
    u16::from_be_bytes([last.payload[0], last.payload[1]])
}

/// An independent raw-DEFLATE inflater (zlib-rs, a port of zlib), fed one message at a time
/// with the tail restored (RFC 7692 §7.2.2), keeping its window from message to message
/// unless `reset_each`.
///
/// zlib-rs 0.6 keeps a 32 KiB window whatever `window_bits` it is given (its window buffer is
/// always `1 << 15` bytes), so it does not refuse a distance beyond a smaller window: window
/// sizes are checked by [`Strict`] instead.
struct Zinflate {
    z: zlib_rs::Inflate,
    reset_each: bool,
}

impl Zinflate {
    fn new(bits: u8, reset_each: bool) -> Self {
        assert_eq!(
            bits, 15,
            "zlib-rs does not keep smaller windows; use Strict"
        );
        Zinflate {
            z: zlib_rs::Inflate::new(false, bits),
            reset_each,
        }
    }

    /// Inflates one message's payload, as sent (without the tail).
    fn message(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        if self.reset_each {
            self.z = zlib_rs::Inflate::new(false, 15);
        }
        let mut input = payload.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * KIB];
        let mut at = 0;
        loop {
            let (in0, out0) = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(&input[at..], &mut buf, zlib_rs::InflateFlush::SyncFlush)
                .map_err(|e| format!("{e:?}: {:?}", self.z.error_message()))?;
            let consumed = (self.z.total_in() - in0) as usize;
            let produced = (self.z.total_out() - out0) as usize;
            at += consumed;
            out.extend_from_slice(&buf[..produced]);
            if at == input.len() && produced < buf.len() {
                return Ok(out);
            }
            if consumed == 0 && produced == 0 {
                return Err(format!(
                    "stuck at input byte {at} of {} ({status:?})",
                    input.len()
                ));
            }
        }
    }
}

/// A strict RFC 1951 inflater, after zlib's `puff.c`: every back-reference must lie within a
/// window of `2^bits` bytes (RFC 7692 §7.1.2) and within what was inflated since the last
/// reset (RFC 1951 §3.2.5: a distance never reaches before the start of the stream), and each
/// message, with the tail restored, must end exactly at the end of its input.
struct Strict {
    /// Everything inflated since the last reset: the window, and more.
    history: Vec<u8>,
    window: usize,
    reset_each: bool,
    /// The longest distance used so far.
    max_distance: usize,
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u32,
    cnt: u32,
}

impl Bits<'_> {
    fn need(&mut self, n: u32) -> Result<u32, String> {
        let mut val = self.buf;
        while self.cnt < n {
            let byte = *self.data.get(self.pos).ok_or("input ends inside a block")?;
            self.pos += 1;
            val |= u32::from(byte) << self.cnt;
            self.cnt += 8;
        }
        self.buf = if n == 32 { 0 } else { val >> n };
        self.cnt -= n;
        Ok(val & ((1u32 << n) - 1))
    }
}

struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Huffman, String> {
        let mut count = [0u16; 16];
        for &len in lengths {
            count[usize::from(len)] += 1;
        }
        let mut left = 1i32;
        for &n in &count[1..] {
            left = (left << 1) - i32::from(n);
            if left < 0 {
                return Err("over-subscribed code".into());
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (sym, &len) in lengths.iter().enumerate() {
            if len != 0 {
                symbol[usize::from(offsets[usize::from(len)])] = sym as u16;
                offsets[usize::from(len)] += 1;
            }
        }
        Ok(Huffman { count, symbol })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<usize, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.need(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return Ok(usize::from(self.symbol[(index + (code - first)) as usize]));
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("no such code".into())
    }
}

const LENGTH_BASE: [usize; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [usize; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u32; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

impl Strict {
    fn new(bits: u8, reset_each: bool) -> Self {
        Strict {
            history: Vec::new(),
            window: 1 << bits,
            reset_each,
            max_distance: 0,
        }
    }

    /// Inflates one message's payload, as sent (without the tail).
    fn message(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        if self.reset_each {
            self.history.clear();
        }
        let start = self.history.len();
        let mut input = payload.to_vec();
        input.extend_from_slice(&TAIL);
        let mut bits = Bits {
            data: &input,
            pos: 0,
            buf: 0,
            cnt: 0,
        };
        // Blocks until the input ends on a block boundary (the restored empty stored block
        // leaves it byte-aligned at the very end), or a block with BFINAL (RFC 7692 §7.2.3.4).
        while !(bits.pos == input.len() && bits.cnt == 0) {
            let last = bits.need(1)?;
            match bits.need(2)? {
                0 => self.stored(&mut bits)?,
                1 => {
                    let mut lengths = [8u8; 288];
                    lengths[144..256].fill(9);
                    lengths[256..280].fill(7);
                    self.codes(
                        &mut bits,
                        &Huffman::new(&lengths)?,
                        &Huffman::new(&[5; 30])?,
                    )?;
                }
                2 => self.dynamic(&mut bits)?,
                _ => return Err("reserved block type".into()),
            }
            if last == 1 {
                break;
            }
        }
        Ok(self.history[start..].to_vec())
    }

    fn stored(&mut self, bits: &mut Bits<'_>) -> Result<(), String> {
        bits.buf = 0;
        bits.cnt = 0;
        let head = bits
            .data
            .get(bits.pos..bits.pos + 4)
            .ok_or("stored block header cut")?;
        let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
        if u16::from_le_bytes([head[2], head[3]]) != !(len as u16) {
            return Err("stored block length check".into());
        }
        bits.pos += 4;
        let data = bits
            .data
            .get(bits.pos..bits.pos + len)
            .ok_or("stored block cut")?;
        self.history.extend_from_slice(data);
        bits.pos += len;
        Ok(())
    }

    fn dynamic(&mut self, bits: &mut Bits<'_>) -> Result<(), String> {
        const ORDER: [usize; 19] = [
            16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
        ];
        let nlen = bits.need(5)? as usize + 257;
        let ndist = bits.need(5)? as usize + 1;
        let ncode = bits.need(4)? as usize + 4;
        if nlen > 286 || ndist > 30 {
            return Err("too many codes".into());
        }
        let mut code_lengths = [0u8; 19];
        for &at in &ORDER[..ncode] {
            code_lengths[at] = bits.need(3)? as u8;
        }
        let lencode = Huffman::new(&code_lengths)?;
        let mut lengths = vec![0u8; nlen + ndist];
        let mut i = 0;
        while i < nlen + ndist {
            let sym = lencode.decode(bits)?;
            if sym < 16 {
                lengths[i] = sym as u8;
                i += 1;
                continue;
            }
            let (value, repeat) = match sym {
                16 => {
                    let prev = *lengths[..i].last().ok_or("repeat with no length before")?;
                    (prev, 3 + bits.need(2)? as usize)
                }
                17 => (0, 3 + bits.need(3)? as usize),
                _ => (0, 11 + bits.need(7)? as usize),
            };
            if i + repeat > nlen + ndist {
                return Err("too many lengths".into());
            }
            lengths[i..i + repeat].fill(value);
            i += repeat;
        }
        if lengths[256] == 0 {
            return Err("no end-of-block code".into());
        }
        let lencode = Huffman::new(&lengths[..nlen])?;
        let distcode = Huffman::new(&lengths[nlen..])?;
        self.codes(bits, &lencode, &distcode)
    }

    fn codes(
        &mut self,
        bits: &mut Bits<'_>,
        lencode: &Huffman,
        distcode: &Huffman,
    ) -> Result<(), String> {
        loop {
            let sym = lencode.decode(bits)?;
            if sym < 256 {
                self.history.push(sym as u8);
                continue;
            }
            if sym == 256 {
                return Ok(());
            }
            let sym = sym - 257;
            if sym >= 29 {
                return Err("invalid length symbol".into());
            }
            let len = LENGTH_BASE[sym] + bits.need(LENGTH_EXTRA[sym])? as usize;
            let dsym = distcode.decode(bits)?;
            if dsym >= 30 {
                return Err("invalid distance symbol".into());
            }
            let dist = DIST_BASE[dsym] + bits.need(DIST_EXTRA[dsym])? as usize;
            if dist > self.window {
                return Err(format!(
                    "distance {dist} beyond the window of {} bytes",
                    self.window
                ));
            }
            if dist > self.history.len() {
                return Err(format!("distance {dist} before the start of the stream"));
            }
            self.max_distance = self.max_distance.max(dist);
            for _ in 0..len {
                let byte = self.history[self.history.len() - dist];
                self.history.push(byte);
            }
        }
    }
}

/// Compresses like a permessage-deflate sender (RFC 7692 §7.2.1), with zlib-rs: a sync
/// flush, then the tail removed.
fn zlib_message(z: &mut zlib_rs::Deflate, data: &[u8]) -> Vec<u8> {
    let mut out = zlib_flush(z, data);
    assert!(out.ends_with(&TAIL), "a sync flush ends with 00 00 FF FF");
    out.truncate(out.len() - TAIL.len());
    out
}

/// Compresses `data` with a sync flush, tail kept (the middle of a message).
fn zlib_flush(z: &mut zlib_rs::Deflate, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut input = data;
    let mut buf = vec![0u8; 64 * KIB];
    loop {
        let (in0, out0) = (z.total_in(), z.total_out());
        z.compress(input, &mut buf, zlib_rs::DeflateFlush::SyncFlush)
            .expect("zlib-rs deflate");
        let consumed = (z.total_in() - in0) as usize;
        let produced = (z.total_out() - out0) as usize;
        input = &input[consumed..];
        out.extend_from_slice(&buf[..produced]);
        if input.is_empty() && produced < buf.len() {
            return out;
        }
    }
}

/// A client and a server after the handshake, with the extension header of the request and
/// of the 101.
struct Opened {
    pair: Pair,
    offer: Option<String>,
    answer: Option<String>,
}

fn open(version: Version, client_config: Config, server_config: Config) -> Opened {
    let request = ClientRequest::new("example.com", "/chat").version(version);
    let mut client: Client =
        Connection::client(&request, client_config, Seeded(0x1234_5678_9ABC_DEF1)).unwrap();
    let mut server: Server = Connection::server(server_config);
    transfer(&mut client, &mut server);
    let offer = match server.poll_event() {
        Ok(Some(Event::Request(r))) => r.header_str("Sec-WebSocket-Extensions").map(String::from),
        other => panic!("expected a request, got {other:?}"),
    };
    server.accept(Accept::new()).expect("accept");
    transfer(&mut server, &mut client);
    let answer = match client.poll_event() {
        Ok(Some(Event::Accepted(r))) => r
            .header("Sec-WebSocket-Extensions")
            .map(|v| String::from_utf8(v.to_vec()).unwrap()),
        other => panic!("expected the 101, got {other:?}"),
    };
    assert!(client.poll_event().unwrap().is_none());
    assert!(server.poll_event().unwrap().is_none());
    Opened {
        pair: Pair {
            client,
            server,
            client_seen: Vec::new(),
            server_seen: Vec::new(),
        },
        offer,
        answer,
    }
}

/// Sends `message` from one end of the pair (`text` or binary), returns the frames that
/// went over the wire and checks that the other end got the message.
fn send_one(pair: &mut Pair, from_client: bool, message: &Message) -> Vec<WireFrame> {
    let sent = if from_client {
        send_message(&mut pair.client, message)
    } else {
        send_message(&mut pair.server, message)
    };
    pair.pump();
    let seen = if from_client {
        pair.take_server_seen()
    } else {
        pair.take_client_seen()
    };
    assert_eq!(
        seen,
        [Seen::Message(message.clone())],
        "from the {}",
        if from_client { "client" } else { "server" }
    );
    sent
}

fn send_message<R: KeySource>(
    conn: &mut Connection<Vec<u8>, R>,
    message: &Message,
) -> Vec<WireFrame> {
    match message {
        Message::Text(t) => conn.send_text(t).unwrap(),
        Message::Binary(b) => conn.send_binary(b).unwrap(),
        other => panic!("not a data message: {other:?}"),
    }
    frames(conn.pending_output())
}

fn short(message: &Message) -> String {
    match message {
        Message::Text(t) => format!("text of {}", t.len()),
        Message::Binary(b) => format!("binary of {}", b.len()),
        other => format!("{other:?}"),
    }
}

fn bytes_of(message: &Message) -> &[u8] {
    match message {
        Message::Text(t) => t.as_bytes(),
        Message::Binary(b) => b,
        other => panic!("not a data message: {other:?}"),
    }
}

const SIZES: [usize; 9] = [0, 1, 31, 32, 125, 126, 65535, 65536, MIB];

// ---------------------------------------------------------------------------------------
// 1. Round trips.
// ---------------------------------------------------------------------------------------

/// Every size, text and binary, both directions, every hybi version: the message arrives;
/// RSV1 is set exactly on messages of at least the threshold (32 by default); every
/// compressed one inflates with an independent inflater, in order, context kept (§7.2.2).
#[test]
fn round_trips_in_every_version_and_direction() {
    for version in HYBI {
        let Opened {
            mut pair, answer, ..
        } = open(version, deflate_default(), deflate_default());
        assert_eq!(answer.as_deref(), Some("permessage-deflate"), "{version}");
        for from_client in [true, false] {
            let mut independent = Zinflate::new(15, false);
            for len in SIZES {
                let text = Message::Text(text_of(len));
                let binary = Message::Binary(binary_of(len));
                for (message, opcode) in [(text, 0x1), (binary, 0x2)] {
                    let name = format!("{version}, {}, from client {from_client}", short(&message));
                    let wire = send_one(&mut pair, from_client, &message);
                    assert_eq!(wire.len(), 1, "{name}: one frame");
                    let compressed = len >= 32;
                    let rsv1 = if compressed { 0x40 } else { 0 };
                    assert_eq!(wire[0].b0, 0x80 | rsv1 | opcode, "{name}: first byte");
                    assert_eq!(wire[0].masked, from_client, "{name}: masking");
                    if compressed {
                        let inflated = independent.message(&wire[0].payload).unwrap_or_else(|e| {
                            panic!("{name}: zlib cannot inflate what we sent: {e}")
                        });
                        assert_eq!(
                            inflated,
                            bytes_of(&message),
                            "{name}: zlib inflates another message"
                        );
                        if len >= 1000 {
                            assert!(
                                wire[0].payload.len() < len / 4,
                                "{name}: {} bytes compressed to {}",
                                len,
                                wire[0].payload.len()
                            );
                        }
                    } else {
                        assert_eq!(wire[0].payload, bytes_of(&message), "{name}: sent as is");
                    }
                }
            }
        }
        fragments_and_uncompressed_sends(&mut pair, version);
    }
}

/// Fragmented sends and `send_*_uncompressed` go without RSV1 (RFC 7692 §6: each message
/// chooses; our fragments are not compressed) and arrive whole.
fn fragments_and_uncompressed_sends(pair: &mut Pair, version: Version) {
    let text = text_of(5000);
    let bytes = text.as_bytes();
    for from_client in [true, false] {
        let name = format!("{version}, from client {from_client}");
        let wire = {
            let (a, b, c) = (&bytes[..1001], &bytes[1001..3000], &bytes[3000..]);
            if from_client {
                let c2 = &mut pair.client;
                c2.send_fragment(a, true, false).unwrap();
                c2.ping(b"between").unwrap();
                c2.send_fragment(b, true, false).unwrap();
                c2.send_fragment(c, true, true).unwrap();
                frames(c2.pending_output())
            } else {
                let s = &mut pair.server;
                s.send_fragment(a, true, false).unwrap();
                s.ping(b"between").unwrap();
                s.send_fragment(b, true, false).unwrap();
                s.send_fragment(c, true, true).unwrap();
                frames(s.pending_output())
            }
        };
        let firsts: Vec<u8> = wire.iter().map(|f| f.b0).collect();
        assert_eq!(
            firsts,
            [0x01, 0x89, 0x00, 0x80],
            "{name}: fragments carry no RSV1"
        );
        pair.pump();
        let (got, pong_side) = if from_client {
            (pair.take_server_seen(), pair.take_client_seen())
        } else {
            (pair.take_client_seen(), pair.take_server_seen())
        };
        assert_eq!(
            got,
            [
                Seen::Message(Message::Ping(b"between".to_vec())),
                Seen::Message(Message::Text(text.clone()))
            ],
            "{name}"
        );
        assert_eq!(pong_side.len(), 1, "{name}: the pong");

        for (message, b0) in [
            (Message::Text(text.clone()), 0x81),
            (Message::Binary(binary_of(5000)), 0x82),
        ] {
            let wire = if from_client {
                uncompressed(&mut pair.client, &message)
            } else {
                uncompressed(&mut pair.server, &message)
            };
            assert_eq!(wire.len(), 1);
            assert_eq!(wire[0].b0, b0, "{name}: uncompressed send has RSV1 clear");
            assert_eq!(wire[0].payload, bytes_of(&message));
            pair.pump();
            let got = if from_client {
                pair.take_server_seen()
            } else {
                pair.take_client_seen()
            };
            assert_eq!(got, [Seen::Message(message)], "{name}");
        }
    }
}

fn uncompressed<R: KeySource>(
    conn: &mut Connection<Vec<u8>, R>,
    message: &Message,
) -> Vec<WireFrame> {
    match message {
        Message::Text(t) => conn.sender().send_text_uncompressed(t).unwrap(),
        Message::Binary(b) => conn.sender().send_binary_uncompressed(b).unwrap(),
        other => panic!("{other:?}"),
    }
    frames(conn.pending_output())
}

/// The threshold decides, byte for byte: below it RSV1 is clear, from it on RSV1 is set;
/// threshold 0 compresses even the empty message, whose payload must still inflate (with the
/// tail restored) to nothing and leave the stream where the next message can follow.
#[test]
fn threshold_decides_compression() {
    for threshold in [0, 1, 100, 1000] {
        let config = with_deflate(|d| d.threshold = threshold);
        let Opened { mut pair, .. } = open(Version::Hybi13, config, config);
        for from_client in [true, false] {
            let mut independent = Zinflate::new(15, false);
            let sizes = [0, 1, 2, 99, 100, 101, 999, 1000, 1001];
            for len in sizes {
                for message in [Message::Text(text_of(len)), Message::Binary(binary_of(len))] {
                    let name = format!(
                        "threshold {threshold}, {}, from client {from_client}",
                        short(&message)
                    );
                    let wire = send_one(&mut pair, from_client, &message);
                    assert_eq!(wire.len(), 1);
                    let compressed = len >= threshold;
                    assert_eq!(wire[0].b0 & 0x40 != 0, compressed, "{name}: RSV1");
                    if compressed {
                        let inflated = independent
                            .message(&wire[0].payload)
                            .unwrap_or_else(|e| panic!("{name}: zlib: {e}"));
                        assert_eq!(inflated, bytes_of(&message), "{name}: zlib");
                    }
                }
            }
        }
    }
}

/// RFC 7692 §7.2.3's worked examples, received by either role.
#[test]
fn rfc7692_examples_are_received() {
    type Example<'a> = (&'a str, &'a [(u8, &'a [u8])], &'a [&'a str]);
    let examples: &[Example] = &[
        // §7.2.3.1: one compressed DEFLATE block.
        ("7.2.3.1", &[(0xc1, &HELLO)], &["Hello"]),
        // §7.2.3.1: the same, fragmented.
        (
            "7.2.3.1 fragmented",
            &[
                (0x41, &[0xf2, 0x48, 0xcd]),
                (0x80, &[0xc9, 0xc9, 0x07, 0x00]),
            ],
            &["Hello"],
        ),
        // §7.2.3.2: two messages sharing the LZ77 window.
        (
            "7.2.3.2",
            &[(0xc1, &HELLO), (0xc1, &HELLO_AGAIN)],
            &["Hello", "Hello"],
        ),
        // §7.2.3.3: a DEFLATE block with no compression.
        (
            "7.2.3.3",
            &[(
                0xc1,
                &[
                    0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
                ],
            )],
            &["Hello"],
        ),
        // §7.2.3.4: a DEFLATE block with BFINAL set to 1.
        (
            "7.2.3.4",
            &[(0xc1, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00])],
            &["Hello"],
        ),
        // §7.2.3.5: two DEFLATE blocks in one message.
        (
            "7.2.3.5",
            &[(
                0xc1,
                &[
                    0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
                ],
            )],
            &["Hello"],
        ),
    ];
    let mut failures = Vec::new();
    for (section, wire, expected) in examples {
        for to_server in [true, false] {
            let Opened { mut pair, .. } =
                open(Version::Hybi13, deflate_default(), deflate_default());
            let mut input = Vec::new();
            for (b0, payload) in *wire {
                input.extend(frame_toward(to_server, *b0, payload));
            }
            let seen = if to_server {
                assert_eq!(pair.server.receive(&input), input.len());
                let mut seen = Vec::new();
                drain(&mut pair.server, &mut seen);
                seen
            } else {
                assert_eq!(pair.client.receive(&input), input.len());
                let mut seen = Vec::new();
                drain(&mut pair.client, &mut seen);
                seen
            };
            let expected: Vec<Seen> = expected
                .iter()
                .map(|t| Seen::Message(Message::Text(t.to_string())))
                .collect();
            if seen != expected {
                let by = if to_server { "server" } else { "client" };
                failures.push(format!(
                    "RFC 7692 §{section}, received by the {by}: {seen:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// 2. Context takeover.
// ---------------------------------------------------------------------------------------

/// The four combinations of `server_no_context_takeover` and `client_no_context_takeover`,
/// asked for by the client (§7.1.1.1, §7.1.1.2) or imposed by the server: with takeover the
/// second of two identical messages refers to the first and is shorter on the wire; without,
/// it is the same. "Hello" at threshold 0 must give RFC 7692 §7.2.3.2's exact bytes.
#[test]
fn context_takeover_on_and_off_in_each_direction() {
    for server_asks in [false, true] {
        for snct in [false, true] {
            for cnct in [false, true] {
                let set = |d: &mut DeflateConfig| {
                    d.server_no_context_takeover = snct;
                    d.client_no_context_takeover = cnct;
                    d.threshold = 0;
                };
                let plain = with_deflate(|d| d.threshold = 0);
                let asking = with_deflate(set);
                let (client_config, server_config) = if server_asks {
                    (plain, asking)
                } else {
                    (asking, plain)
                };
                let Opened {
                    mut pair, answer, ..
                } = open(Version::Hybi13, client_config, server_config);
                let name = format!("server_no_context_takeover {snct}, client_no_context_takeover {cnct}, set by the {}", if server_asks { "server" } else { "client" });
                let answer = answer.expect("agreed");
                // §7.1.1.1: a server that accepts an offer with server_no_context_takeover
                // answers with it; one that sets it itself says so.
                assert_eq!(
                    answer.contains("server_no_context_takeover"),
                    snct,
                    "{name}: {answer}"
                );
                if server_asks {
                    // §7.1.1.2: the client learns of it only from the answer.
                    assert_eq!(
                        answer.contains("client_no_context_takeover"),
                        cnct,
                        "{name}: {answer}"
                    );
                }
                for from_client in [true, false] {
                    let reset = if from_client { cnct } else { snct };
                    let mut independent = Zinflate::new(15, reset);
                    for message in [
                        Message::Text("Hello".into()),
                        Message::Text(text_of(300)),
                        Message::Binary(binary_of(3000)),
                    ] {
                        let first = send_one(&mut pair, from_client, &message);
                        let second = send_one(&mut pair, from_client, &message);
                        let (a, b) = (&first[0].payload, &second[0].payload);
                        let what =
                            format!("{name}, from client {from_client}, {}", short(&message));
                        assert_eq!(first[0].b0 & 0x40, 0x40, "{what}");
                        assert_eq!(second[0].b0 & 0x40, 0x40, "{what}");
                        if reset {
                            assert_eq!(
                                a.len(),
                                b.len(),
                                "{what}: without takeover the second is the same length"
                            );
                            assert_eq!(a, b, "{what}: and the same bytes");
                        } else {
                            assert!(
                                b.len() < a.len(),
                                "{what}: with takeover the second is shorter ({} then {})",
                                a.len(),
                                b.len()
                            );
                        }
                        for wire in [a, b] {
                            assert_eq!(
                                independent.message(wire).as_deref(),
                                Ok(bytes_of(&message)),
                                "{what}: zlib"
                            );
                        }
                        if matches!(&message, Message::Text(t) if t == "Hello") {
                            assert_eq!(a.as_slice(), HELLO, "{what}: RFC 7692 §7.2.3.1");
                            let expected: &[u8] = if reset { &HELLO } else { &HELLO_AGAIN };
                            assert_eq!(b.as_slice(), expected, "{what}: RFC 7692 §7.2.3.2");
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. Context drift.
// ---------------------------------------------------------------------------------------

/// An uncompressed message between compressed ones is in neither window (RFC 7692 §6: only
/// a compressed message's data passes the compressor and the decompressor): with takeover,
/// the compressed messages after it still decode, here and in an independent inflater.
#[test]
fn uncompressed_messages_do_not_enter_the_window() {
    // From the RFC's bytes: "Hello", an uncompressed "World", then the second "Hello" of
    // §7.2.3.2 (distance 5): a receiver that put "World" in its window reads "World".
    for to_server in [true, false] {
        let Opened { mut pair, .. } = open(Version::Hybi13, deflate_default(), deflate_default());
        let mut input = frame_toward(to_server, 0xc1, &HELLO);
        input.extend(frame_toward(to_server, 0x81, b"World"));
        input.extend(frame_toward(to_server, 0xc1, &HELLO_AGAIN));
        let mut seen = Vec::new();
        if to_server {
            pair.server.receive(&input);
            drain(&mut pair.server, &mut seen);
        } else {
            pair.client.receive(&input);
            drain(&mut pair.client, &mut seen);
        }
        let text = |t: &str| Seen::Message(Message::Text(t.into()));
        assert_eq!(
            seen,
            [text("Hello"), text("World"), text("Hello")],
            "received by the server {to_server}"
        );
    }
    // Our sender: A compressed, B uncompressed, B again compressed (a sender that put B in
    // its window refers back to it, which the peer never inflated), then A again (whose
    // distance a receiver that put B in its window gets wrong).
    let a = Message::Text(text_of(3000));
    let b = random_text(2000, 7);
    for from_client in [true, false] {
        let Opened { mut pair, .. } = open(Version::Hybi13, deflate_default(), deflate_default());
        let mut independent = Zinflate::new(15, false);
        let first = send_one(&mut pair, from_client, &a);
        let plain = {
            let wire = if from_client {
                uncompressed(&mut pair.client, &Message::Text(b.clone()))
            } else {
                uncompressed(&mut pair.server, &Message::Text(b.clone()))
            };
            pair.pump();
            let got = if from_client {
                pair.take_server_seen()
            } else {
                pair.take_client_seen()
            };
            assert_eq!(got, [Seen::Message(Message::Text(b.clone()))]);
            wire
        };
        assert_eq!(plain[0].b0, 0x81);
        let third = send_one(&mut pair, from_client, &Message::Text(b.clone()));
        let fourth = send_one(&mut pair, from_client, &a);
        assert!(
            third[0].payload.len() > 1000,
            "B, random, cannot refer to anything: {} bytes",
            third[0].payload.len()
        );
        assert!(
            fourth[0].payload.len() < 100,
            "A again refers to the first A: {} bytes",
            fourth[0].payload.len()
        );
        for (wire, message) in [
            (&first, &a),
            (&third, &Message::Text(b.clone())),
            (&fourth, &a),
        ] {
            assert_eq!(wire[0].b0, 0xc1);
            assert_eq!(
                independent.message(&wire[0].payload).as_deref(),
                Ok(bytes_of(message)),
                "from client {from_client}"
            );
        }
    }
}

/// A compressed send that fails with `OutputFull` queues nothing, and what follows does not
/// refer to it: the peer, which never saw it, decodes every later message.
#[test]
fn output_full_does_not_leave_the_windows_apart() {
    for from_client in [true, false] {
        let mut small = deflate_default();
        small.limits.max_queued_output = 4096;
        let (client_config, server_config) = if from_client {
            (small, deflate_default())
        } else {
            (deflate_default(), small)
        };
        let Opened { mut pair, .. } = open(Version::Hybi13, client_config, server_config);
        let mut independent = Zinflate::new(15, false);
        let name = format!("from client {from_client}");
        let a = Message::Text(text_of(1000));
        let first = send_one(&mut pair, from_client, &a);
        independent.message(&first[0].payload).unwrap();
        // 8 KiB that do not compress: more than the output may hold.
        let big = random_bytes(8 * KIB, 99);
        let queued_before = if from_client {
            pair.client.pending_output().len()
        } else {
            pair.server.pending_output().len()
        };
        let result = if from_client {
            pair.client.send_binary(&big)
        } else {
            pair.server.send_binary(&big)
        };
        assert!(
            matches!(result, Err(Error::Usage(UsageError::OutputFull { .. }))),
            "{name}: {result:?}"
        );
        let queued_after = if from_client {
            pair.client.pending_output().len()
        } else {
            pair.server.pending_output().len()
        };
        assert_eq!(queued_before, queued_after, "{name}: nothing queued");
        // Its first 3000 bytes: a compressor that kept the failed message in its window sends
        // a few bytes of back-reference the peer cannot follow.
        let messages = [
            Message::Binary(big[..3000].to_vec()),
            Message::Binary(big[3000..6000].to_vec()),
            a.clone(),
            Message::Text(text_of(1500)),
            a.clone(),
        ];
        for message in &messages {
            let wire = send_one(&mut pair, from_client, message);
            assert_eq!(wire[0].b0 & 0x40, 0x40, "{name}: compressed");
            assert_eq!(
                independent.message(&wire[0].payload).as_deref(),
                Ok(bytes_of(message)),
                "{name}: zlib, {}",
                short(message)
            );
        }
        // And once more after a second failure in a row.
        let result = if from_client {
            pair.client.send_text(&random_text(8 * KIB, 5))
        } else {
            pair.server.send_text(&random_text(8 * KIB, 5))
        };
        assert!(
            matches!(result, Err(Error::Usage(UsageError::OutputFull { .. }))),
            "{name}"
        );
        let result = if from_client {
            pair.client.send_binary(&big)
        } else {
            pair.server.send_binary(&big)
        };
        assert!(
            matches!(result, Err(Error::Usage(UsageError::OutputFull { .. }))),
            "{name}"
        );
        for message in &messages {
            let wire = send_one(&mut pair, from_client, message);
            assert_eq!(
                independent.message(&wire[0].payload).as_deref(),
                Ok(bytes_of(message)),
                "{name}: zlib after two failures"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. Window sizes.
// ---------------------------------------------------------------------------------------

/// Messages whose repeats lie at distances from 1 to 30,000 bytes, and repeat across
/// messages: a compressor that ignores its window refers beyond any small one.
fn window_messages() -> Vec<Message> {
    let block = random_bytes(1500, 3);
    let mut far = block.clone();
    far.extend(random_bytes(28_000, 4));
    far.extend_from_slice(&block);
    let mut near = Vec::new();
    for i in 0..40 {
        near.extend_from_slice(&block[i * 7..i * 7 + 300]);
        near.extend_from_slice(
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        );
    }
    vec![
        Message::Text(text_of(20_000)),
        Message::Binary(far),
        Message::Binary(near.clone()),
        Message::Binary(near),
        Message::Text("x".repeat(5000)),
        Message::Binary(block),
    ]
}

/// Sends `messages` from one end and checks each compressed one with the strict inflater of
/// a `bits` window, and with zlib-rs; the first failure, if any.
fn check_window(
    pair: &mut Pair,
    from_client: bool,
    bits: u8,
    messages: &[Message],
    name: &str,
) -> Result<(), String> {
    let mut strict = Strict::new(bits, false);
    let mut zlib = Zinflate::new(15, false);
    for message in messages {
        let wire = send_one(pair, from_client, message);
        let what = format!("{name}, from the client {from_client}, {}", short(message));
        assert_eq!(wire[0].b0 & 0x40, 0x40, "{what}: compressed");
        let inflated = strict
            .message(&wire[0].payload)
            .map_err(|e| format!("{what}: does not inflate within a window of {bits} bits: {e}"))?;
        assert_eq!(inflated, bytes_of(message), "{what}");
        assert_eq!(
            zlib.message(&wire[0].payload).as_deref(),
            Ok(bytes_of(message)),
            "{what}: zlib-rs"
        );
    }
    assert!(strict.max_distance <= 1 << bits);
    Ok(())
}

/// `server_max_window_bits` 8 to 15 asked by the client (§7.1.2.1) and
/// `client_max_window_bits` 8 to 15, imposed by the server on a client that offered the
/// parameter bare, or set by the client on itself (§7.1.2.2): agreed as asked, and every
/// compressed message inflates with an inflater that keeps no more than that window, at every
/// compression level. Every combination is tried before the failures are reported.
#[test]
fn window_sizes_are_agreed_and_kept() {
    let messages = window_messages();
    let mut failures = Vec::new();
    let mut check = |pair: &mut Pair, from_client: bool, bits: u8, name: &str| {
        if let Err(e) = check_window(pair, from_client, bits, &messages, name) {
            failures.push(e);
        }
    };
    for bits in 8..=15u8 {
        // The server's window, asked by the client.
        let asking = with_deflate(|d| d.server_max_window_bits = Some(bits));
        let Opened {
            mut pair,
            offer,
            answer,
        } = open(Version::Hybi13, asking, deflate_default());
        assert_eq!(
            offer.as_deref(),
            Some(
                format!(
                    "permessage-deflate; server_max_window_bits={bits}; client_max_window_bits"
                )
                .as_str()
            )
        );
        assert_eq!(
            answer.as_deref(),
            Some(format!("permessage-deflate; server_max_window_bits={bits}").as_str())
        );
        let name = format!("server_max_window_bits={bits}");
        check(&mut pair, false, bits, &name);
        // The client's own stays 15.
        check(&mut pair, true, 15, &name);

        // The client's window, asked by the server of a client that offered the bare
        // parameter.
        let imposing = with_deflate(|d| d.client_max_window_bits = Some(bits));
        let Opened {
            mut pair,
            offer,
            answer,
        } = open(Version::Hybi13, deflate_default(), imposing);
        assert_eq!(
            offer.as_deref(),
            Some("permessage-deflate; client_max_window_bits")
        );
        assert_eq!(
            answer.as_deref(),
            Some(format!("permessage-deflate; client_max_window_bits={bits}").as_str())
        );
        let name = format!("client_max_window_bits={bits}, asked by the server");
        check(&mut pair, true, bits, &name);
        check(&mut pair, false, 15, &name);

        // The client's window, set by the client itself: the server need not answer it, the
        // client keeps to it all the same (§7.1.2.2).
        let limiting = with_deflate(|d| d.client_max_window_bits = Some(bits));
        let Opened {
            mut pair,
            offer,
            answer,
        } = open(Version::Hybi13, limiting, deflate_default());
        assert_eq!(
            offer.as_deref(),
            Some(format!("permessage-deflate; client_max_window_bits={bits}").as_str())
        );
        assert_eq!(answer.as_deref(), Some("permessage-deflate"));
        let name = format!("client_max_window_bits={bits}, set by the client");
        check(&mut pair, true, bits, &name);

        // Both, the server answering the client's window too, at every level.
        for level in 1..=9 {
            let both = with_deflate(|d| {
                d.server_max_window_bits = Some(bits);
                d.client_max_window_bits = Some(bits);
                d.level = level;
            });
            let Opened {
                mut pair, answer, ..
            } = open(Version::Hybi13, both, both);
            assert_eq!(answer.as_deref(), Some(format!("permessage-deflate; server_max_window_bits={bits}; client_max_window_bits={bits}").as_str()));
            let name = format!("both windows {bits}, level {level}");
            check(&mut pair, true, bits, &name);
            check(&mut pair, false, bits, &name);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The check above can fail: a 15-bit stream of repetitive text does not inflate with the
/// strict 8-bit inflater (its matches lie beyond 256 bytes), while it does with a 15-bit one;
/// a distance of 256 fits 8 bits and one of 257 does not; a distance before the start of the
/// stream fails in any window.
#[test]
fn the_strict_inflater_refuses_distances_beyond_its_window() {
    // Text whose repeats are 1,000 bytes apart, compressed by zlib-rs with a 15-bit window.
    let unit = random_text(1000, 11);
    let text = unit.repeat(8);
    let wire = zlib_message(&mut zlib_rs::Deflate::new(6, false, 15), text.as_bytes());
    assert!(wire.len() < 2000);
    assert_eq!(
        Zinflate::new(15, false).message(&wire).as_deref(),
        Ok(text.as_bytes())
    );
    let mut fifteen = Strict::new(15, false);
    assert_eq!(fifteen.message(&wire).as_deref(), Ok(text.as_bytes()));
    assert!(fifteen.max_distance >= 1000, "{}", fifteen.max_distance);
    for bits in 8..=9 {
        let refused = Strict::new(bits, false).message(&wire);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("beyond the window")),
            "{bits} bits: {refused:?}"
        );
    }
    // The text is 8,000 bytes: no distance exceeds 13 bits.
    assert_eq!(
        Strict::new(13, false).message(&wire).as_deref(),
        Ok(text.as_bytes())
    );
    // Distance 256 exactly is within 8 bits; 257 is not.
    for (len, fits) in [(256, true), (257, false)] {
        let unit = random_bytes(len, 12);
        let data = [unit.clone(), unit].concat();
        let wire = zlib_message(&mut zlib_rs::Deflate::new(9, false, 15), &data);
        assert!(wire.len() < len + 100, "the repeat was found");
        assert_eq!(
            Strict::new(8, false).message(&wire).is_ok(),
            fits,
            "distance {len}"
        );
        assert_eq!(
            Strict::new(9, false).message(&wire).as_deref(),
            Ok(&data[..])
        );
    }
    // RFC 7692 §7.2.3.2's second "Hello" refers to the first: alone, or after a reset, it
    // refers before the start of the stream.
    assert!(Strict::new(15, false).message(&HELLO_AGAIN).is_err());
    let mut kept = Strict::new(15, false);
    assert_eq!(kept.message(&HELLO).as_deref(), Ok(&b"Hello"[..]));
    assert_eq!(kept.message(&HELLO_AGAIN).as_deref(), Ok(&b"Hello"[..]));
    let mut reset = Strict::new(15, true);
    assert_eq!(reset.message(&HELLO).as_deref(), Ok(&b"Hello"[..]));
    assert!(reset.message(&HELLO_AGAIN).is_err());
    // Our server's stream at the default window of 15 bits, likewise.
    let Opened { mut pair, .. } = open(Version::Hybi13, deflate_default(), deflate_default());
    let wire = send_one(&mut pair, false, &Message::Text(text.clone()));
    assert_eq!(wire[0].b0, 0xc1);
    assert!(
        wire[0].payload.len() < 2000,
        "our compressor found the repeats"
    );
    assert_eq!(
        Strict::new(15, false).message(&wire[0].payload).as_deref(),
        Ok(text.as_bytes())
    );
    assert!(Strict::new(8, false).message(&wire[0].payload).is_err());
}

// ---------------------------------------------------------------------------------------
// 6. RSV1 rules, invalid data.
// ---------------------------------------------------------------------------------------

/// Feeds `input` to one end of an opened pair; returns its events and the frames it sent.
fn feed(pair: &mut Pair, to_server: bool, input: &[u8]) -> (Vec<Seen>, Vec<WireFrame>) {
    let mut seen = Vec::new();
    if to_server {
        pair.server.receive(input);
        drain(&mut pair.server, &mut seen);
        (seen, take_frames(&mut pair.server))
    } else {
        pair.client.receive(input);
        drain(&mut pair.client, &mut seen);
        (seen, take_frames(&mut pair.client))
    }
}

/// Checks that `seen` is the violation `error` and then the close, and that the close frame
/// sent carries `code`.
fn assert_violation(
    seen: &[Seen],
    sent: &[WireFrame],
    error: ProtocolError,
    code: u16,
    name: &str,
) {
    let position = seen
        .iter()
        .position(|s| matches!(s, Seen::Error(_)))
        .unwrap_or_else(|| panic!("{name}: no error in {seen:?}"));
    assert_eq!(
        seen[position],
        Seen::Error(Error::Protocol(error)),
        "{name}: {seen:?}"
    );
    assert!(
        matches!(
            &seen[position + 1..],
            [Seen::Message(Message::Close { clean: false, .. })]
        ),
        "{name}: {seen:?}"
    );
    assert_eq!(close_code_of(sent), code, "{name}: close code on the wire");
}

/// RFC 7692 §6.1: RSV1 only on the first frame of a data message; RFC 6455 §5.2: without an
/// extension that gives them a meaning, RSV1 to RSV3 fail the connection (1002).
#[test]
fn reserved_bits_where_permessage_deflate_does_not_allow_them() {
    let mut z = zlib_rs::Deflate::new(6, false, 15);
    let hello = zlib_message(&mut z, b"Hello, Hello, Hello");
    let (part1, part2) = hello.split_at(4);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("RSV1 on a continuation", vec![vec![0x41], vec![0xc0]]),
        (
            "RSV1 on a continuation of an uncompressed message",
            vec![vec![0x02], vec![0xc0]],
        ),
        ("RSV1 on a ping", vec![vec![0xc9]]),
        ("RSV1 on a pong", vec![vec![0xca]]),
        ("RSV1 on a close", vec![vec![0xc8]]),
        ("RSV2", vec![vec![0xa1]]),
        ("RSV3", vec![vec![0x91]]),
        ("RSV1 and RSV2", vec![vec![0xe1]]),
        ("RSV2 on a continuation", vec![vec![0x41], vec![0xa0]]),
    ];
    for to_server in [true, false] {
        for (name, bytes) in &cases {
            let Opened { mut pair, .. } =
                open(Version::Hybi13, deflate_default(), deflate_default());
            let mut input = Vec::new();
            match bytes.as_slice() {
                [first, second] => {
                    input.extend(frame_toward(to_server, first[0], part1));
                    input.extend(frame_toward(to_server, second[0], part2));
                }
                [only] if only[0] & 0x08 != 0 => {
                    let payload: &[u8] = if only[0] & 0x0f == 0x8 {
                        &[0x03, 0xe8]
                    } else {
                        b"p"
                    };
                    input.extend(frame_toward(to_server, only[0], payload));
                }
                [only] => input.extend(frame_toward(to_server, only[0], &hello)),
                _ => unreachable!(),
            }
            let (seen, sent) = feed(&mut pair, to_server, &input);
            let name = format!("{name}, to the server {to_server}");
            assert_violation(&seen, &sent, ProtocolError::ReservedBits, 1002, &name);
        }
    }
}

/// RSV1 when the extension was not agreed: neither configured, only one side configured,
/// or the server's offer declined.
#[test]
fn rsv1_without_the_extension_is_refused() {
    let mut z = zlib_rs::Deflate::new(6, false, 15);
    let hello = zlib_message(&mut z, b"Hello");
    let setups = [
        ("neither configured", Config::default(), Config::default()),
        ("client only", deflate_default(), Config::default()),
        ("server only", Config::default(), deflate_default()),
    ];
    for (name, client_config, server_config) in setups {
        for version in HYBI {
            for to_server in [true, false] {
                let Opened {
                    mut pair, answer, ..
                } = open(version, client_config, server_config);
                assert_eq!(answer, None, "{name}");
                let (seen, sent) =
                    feed(&mut pair, to_server, &frame_toward(to_server, 0xc1, &hello));
                let name = format!("{name}, {version}, to the server {to_server}");
                assert_violation(&seen, &sent, ProtocolError::ReservedBits, 1002, &name);
            }
        }
    }
}

/// RFC 7692 §7.2.2: data that does not inflate fails the connection; RFC 6455 §7.4.1 gives
/// it 1007, as the code for data inconsistent with the message's type.
#[test]
fn data_that_does_not_inflate_is_refused() {
    let cases: &[(&str, &[u8])] = &[
        ("reserved block type", &[0xff; 8]),
        (
            "stored block with a bad length check",
            &[0x00, 0x05, 0x00, 0x00, 0x00, b'h', b'e', b'l', b'l', b'o'],
        ),
        (
            "over-subscribed code lengths",
            &[
                0x04, 0xc0, 0x81, 0x08, 0x00, 0x00, 0x00, 0x00, 0x20, 0x7f, 0xeb, 0x0b, 0x00, 0x00,
            ],
        ),
    ];
    let mut failures = Vec::new();
    for to_server in [true, false] {
        for (name, payload) in cases {
            // The strict reference inflater refuses each of them too.
            assert!(Strict::new(15, false).message(payload).is_err(), "{name}");
            for b0 in [0xc1, 0xc2] {
                let Opened { mut pair, .. } =
                    open(Version::Hybi13, deflate_default(), deflate_default());
                let (seen, sent) =
                    feed(&mut pair, to_server, &frame_toward(to_server, b0, payload));
                let name = format!("{name}, first byte {b0:#x}, to the server {to_server}");
                let refused = [
                    Seen::Error(Error::Protocol(ProtocolError::InvalidCompressedData)),
                    Seen::Message(Message::Close {
                        code: Some(CloseCode(1006)),
                        reason: String::new(),
                        clean: false,
                    }),
                ];
                if seen == refused {
                    assert_eq!(close_code_of(&sent), 1007, "{name}");
                } else {
                    failures.push(format!("{name}: {seen:?}"));
                }
            }
        }
    }
    // A distance reaching back before the start of the stream (RFC 1951 §3.2.5 allows
    // distances into the output only): the decompressor reads zeros there rather than refusing
    // it (a documented limit of `miniz_oxide`'s streaming window), but never an earlier
    // message's bytes. RFC 7692 §7.2.3.2's second "Hello", sent after a context reset (no
    // context takeover), which forgets the first, twice.
    assert!(Strict::new(15, false).message(&HELLO_AGAIN).is_err());
    for to_server in [true, false] {
        let fresh = with_deflate(|d| {
            d.server_no_context_takeover = true;
            d.client_no_context_takeover = true;
        });
        let Opened { mut pair, .. } = open(Version::Hybi13, fresh, fresh);
        let (seen, _) = feed(&mut pair, to_server, &frame_toward(to_server, 0xc1, &HELLO));
        assert_eq!(seen, [Seen::Message(Message::Text("Hello".into()))]);
        for _ in 0..2 {
            let (seen, _) = feed(
                &mut pair,
                to_server,
                &frame_toward(to_server, 0xc1, &HELLO_AGAIN),
            );
            match seen.first() {
                Some(Seen::Message(Message::Text(text))) => {
                    assert_eq!(text, "H\0\0\0\0", "to the server {to_server}")
                }
                Some(Seen::Error(Error::Protocol(ProtocolError::InvalidCompressedData))) => {}
                other => failures.push(format!(
                    "second Hello after a context reset, to the server {to_server}: {other:?}"
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Invalid UTF-8 inside a compressed text message: 1007 (RFC 6455 §8.1), and for a
/// fragmented message as soon as the inflated bytes show it, before the last frame was
/// given (fail fast).
#[test]
fn invalid_utf8_inside_compressed_text() {
    for to_server in [true, false] {
        // Whole, in one frame.
        for bad in [
            &b"abc\xff"[..],
            b"caf\xc3",
            b"\xed\xa0\x80 surrogate",
            b"ok \xf4\x90\x80\x80",
        ] {
            let Opened { mut pair, .. } =
                open(Version::Hybi13, deflate_default(), deflate_default());
            let mut z = zlib_rs::Deflate::new(6, false, 15);
            let payload = zlib_message(&mut z, bad);
            let (seen, sent) = feed(
                &mut pair,
                to_server,
                &frame_toward(to_server, 0xc1, &payload),
            );
            assert_violation(
                &seen,
                &sent,
                ProtocolError::InvalidUtf8,
                1007,
                &format!("{bad:?}"),
            );
        }
        // The same bytes as a compressed binary message are fine.
        let Opened { mut pair, .. } = open(Version::Hybi13, deflate_default(), deflate_default());
        let mut z = zlib_rs::Deflate::new(6, false, 15);
        let payload = zlib_message(&mut z, b"abc\xff");
        let (seen, _) = feed(
            &mut pair,
            to_server,
            &frame_toward(to_server, 0xc2, &payload),
        );
        assert_eq!(seen, [Seen::Message(Message::Binary(b"abc\xff".to_vec()))]);

        // Fragmented: the first frame inflates to text with an invalid byte; the rest of the
        // message is never given.
        for stream in [false, true] {
            let mut config = deflate_default();
            config.stream_fragments = stream;
            let Opened { mut pair, .. } = open(Version::Hybi13, config, config);
            let mut z = zlib_rs::Deflate::new(6, false, 15);
            let first = zlib_flush(&mut z, b"valid text, then \xc0\xaf, an overlong slash");
            let rest = zlib_message(&mut z, text_of(10_000).as_bytes());
            let (seen, sent) = feed(&mut pair, to_server, &frame_toward(to_server, 0x41, &first));
            let name = format!("fragmented, stream {stream}, to the server {to_server}");
            assert_violation(&seen, &sent, ProtocolError::InvalidUtf8, 1007, &name);
            // What comes after changes nothing.
            let (seen, _) = feed(&mut pair, to_server, &frame_toward(to_server, 0x80, &rest));
            assert_eq!(seen, [], "{name}");
        }
        // A character cut by the end of the message: found at the last frame.
        let Opened { mut pair, .. } = open(Version::Hybi13, deflate_default(), deflate_default());
        let mut z = zlib_rs::Deflate::new(6, false, 15);
        let first = zlib_flush(&mut z, "snow ☃".as_bytes());
        let last = zlib_message(&mut z, &"☃".as_bytes()[..2]);
        let (seen, _) = feed(&mut pair, to_server, &frame_toward(to_server, 0x41, &first));
        assert_eq!(seen, [], "a valid beginning");
        let (seen, sent) = feed(&mut pair, to_server, &frame_toward(to_server, 0x80, &last));
        assert_violation(
            &seen,
            &sent,
            ProtocolError::InvalidUtf8,
            1007,
            "cut character",
        );
    }
}

// ---------------------------------------------------------------------------------------
// 7. Negotiation at the connection level.
// ---------------------------------------------------------------------------------------

fn request_offering(offers: &[&str]) -> Vec<u8> {
    let mut request = String::from(
        "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n",
    );
    for offer in offers {
        request.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// A server given `request`: its 101 head and the open server.
fn server_answer(config: Config, request: &[u8]) -> (String, Server) {
    let mut server: Server = Connection::server(config);
    assert_eq!(server.receive(request), request.len());
    let mut seen = Vec::new();
    drain(&mut server, &mut seen);
    assert!(
        matches!(seen.as_slice(), [Seen::Request { .. }]),
        "{seen:?}"
    );
    let head = String::from_utf8(server.pending_output().to_vec()).unwrap();
    let n = server.pending_output().len();
    server.consume_output(n);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    (head, server)
}

fn extension_line(head: &str) -> Option<&str> {
    let lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-extensions:")
        })
        .collect();
    assert!(lines.len() <= 1, "{head}");
    lines
        .first()
        .map(|l| l["sec-websocket-extensions:".len()..].trim())
}

/// The one frame `server` sends for `text`.
fn server_sends(server: &mut Server, text: &str) -> WireFrame {
    server.send_text(text).unwrap();
    let mut wire = take_frames(server);
    assert_eq!(wire.len(), 1);
    wire.remove(0)
}

/// A server with deflate on takes the first offer it can honour (RFC 7692 §5: offers in
/// order of preference; §7.1: an invalid offer is declined, not fatal); one with deflate off
/// never answers the extension.
#[test]
fn server_chooses_among_offers() {
    let cases: &[(&[&str], Option<&str>)] = &[
        // An invalid offer first (a window of 16 bits does not exist), a valid one second.
        (
            &["permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=10"],
            Some("permessage-deflate; server_max_window_bits=10"),
        ),
        // The same in two header fields.
        (
            &["permessage-deflate; foo", "permessage-deflate; client_max_window_bits"],
            Some("permessage-deflate"),
        ),
        // Another extension first.
        (
            &["x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover"],
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        // Offers that cannot be accepted alone: no extension at all.
        (&["permessage-deflate; server_max_window_bits=7"], None),
        (&["permessage-deflate; server_max_window_bits"], None),
        (&["permessage-deflate; client_max_window_bits=0"], None),
        (&["permessage-deflate; server_no_context_takeover=yes"], None),
        (&["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], None),
        (&["permessage-deflate; unknown_parameter"], None),
        (&["permessage-deflate; client_max_window_bits=09"], None),
        (&["x-webkit-deflate-frame"], None),
        (&[], None),
    ];
    for (offers, expected) in cases {
        let request = request_offering(offers);
        let (head, mut server) = server_answer(deflate_default(), &request);
        assert_eq!(extension_line(&head), *expected, "offers {offers:?}");
        let first = server_sends(&mut server, &text_of(1000));
        assert_eq!(first.b0 == 0xc1, expected.is_some(), "offers {offers:?}");
        if let Some(answer) = expected {
            // What the server sends keeps to what it answered.
            let bits = answer
                .strip_prefix("permessage-deflate; server_max_window_bits=")
                .map_or(15, |b| b.parse().unwrap());
            let reset = answer.contains("server_no_context_takeover");
            let second = server_sends(&mut server, &window_text());
            let mut strict = Strict::new(bits, reset);
            assert_eq!(
                strict.message(&first.payload).as_deref(),
                Ok(text_of(1000).as_bytes())
            );
            assert_eq!(
                strict.message(&second.payload).as_deref(),
                Ok(window_text().as_bytes())
            );
        } else {
            // Not agreed: RSV1 from the client is a reserved bit.
            let mut z = zlib_rs::Deflate::new(6, false, 15);
            let frame = client_frame(0xc1, &zlib_message(&mut z, b"Hello"), [1, 2, 3, 4]);
            server.receive(&frame);
            let mut seen = Vec::new();
            drain(&mut server, &mut seen);
            assert_violation(
                &seen,
                &take_frames(&mut server),
                ProtocolError::ReservedBits,
                1002,
                &format!("{offers:?}"),
            );
        }
        // Deflate off: never answered, whatever is offered.
        let (head, mut server) = server_answer(Config::default(), &request);
        assert_eq!(
            extension_line(&head),
            None,
            "deflate off, offers {offers:?}"
        );
        assert_eq!(server_sends(&mut server, &text_of(1000)).b0, 0x81);
    }
}

fn window_text() -> String {
    random_text(600, 21).repeat(5)
}

/// A client of `config` given a 101 with these `Sec-WebSocket-Extensions` fields: its events.
fn client_given(config: Config, extensions: &[&str]) -> (Vec<Seen>, Client) {
    let request = ClientRequest::new("example.com", "/chat");
    let mut client: Client = Connection::client(&request, config, Seeded(77)).unwrap();
    let head = String::from_utf8(take_output(&mut client)).unwrap();
    let key = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("a key");
    let accept = accept_key(key.as_bytes());
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        std::str::from_utf8(&accept).unwrap()
    );
    for e in extensions {
        response.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    response.push_str("\r\n");
    assert_eq!(client.receive(response.as_bytes()), response.len());
    let mut seen = Vec::new();
    drain(&mut client, &mut seen);
    (seen, client)
}

fn take_output<R: KeySource>(conn: &mut Connection<Vec<u8>, R>) -> Vec<u8> {
    let out = conn.pending_output().to_vec();
    conn.consume_output(out.len());
    out
}

/// RFC 6455 §4.1 and RFC 7692 §7.1: a client fails the connection on an answer that accepts
/// no offer it made: an extension it did not offer, permessage-deflate twice, a parameter
/// it did not offer or cannot take, a window above the one it asked for, a parameter it
/// asked for left out.
#[test]
fn client_checks_the_answer() {
    let plain = deflate_default();
    let server_window_10 = with_deflate(|d| d.server_max_window_bits = Some(10));
    let client_window_10 = with_deflate(|d| d.client_max_window_bits = Some(10));
    let server_fresh = with_deflate(|d| d.server_no_context_takeover = true);
    let off = Config::default();
    let refused = Err(HandshakeError::UnexpectedExtension);
    type Case<'a> = (&'a str, Config, &'a [&'a str], Result<bool, HandshakeError>);
    let cases: &[Case] = &[
        // Ok(whether messages are compressed).
        ("off, nothing answered", off, &[], Ok(false)),
        ("off, deflate answered", off, &["permessage-deflate"], refused),
        ("nothing answered", plain, &[], Ok(false)),
        ("accepted", plain, &["permessage-deflate"], Ok(true)),
        ("server adds its own parameters", plain, &["permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9"], Ok(true)),
        ("unknown parameter", plain, &["permessage-deflate; foo"], refused),
        ("parameter with a value it has none", plain, &["permessage-deflate; server_no_context_takeover=1"], refused),
        ("client_max_window_bits without a value", plain, &["permessage-deflate; client_max_window_bits"], refused),
        ("window of 16", plain, &["permessage-deflate; server_max_window_bits=16"], refused),
        ("second extension", plain, &["permessage-deflate, x-foo"], refused),
        ("second extension in a second field", plain, &["permessage-deflate", "x-foo"], refused),
        ("another extension only", plain, &["x-webkit-deflate-frame"], refused),
        ("deflate twice", plain, &["permessage-deflate, permessage-deflate"], refused),
        ("deflate twice in two fields", plain, &["permessage-deflate", "permessage-deflate; server_no_context_takeover"], refused),
        ("server window as asked", server_window_10, &["permessage-deflate; server_max_window_bits=10"], Ok(true)),
        ("server window below the one asked", server_window_10, &["permessage-deflate; server_max_window_bits=8"], Ok(true)),
        ("server window above the one asked", server_window_10, &["permessage-deflate; server_max_window_bits=11"], refused),
        ("server window asked, not answered", server_window_10, &["permessage-deflate"], refused),
        ("client window as offered", client_window_10, &["permessage-deflate; client_max_window_bits=10"], Ok(true)),
        ("client window below the one offered", client_window_10, &["permessage-deflate; client_max_window_bits=9"], Ok(true)),
        ("client window above the one offered", client_window_10, &["permessage-deflate; client_max_window_bits=12"], refused),
        ("no context takeover asked, not answered", server_fresh, &["permessage-deflate"], refused),
        ("no context takeover asked and answered", server_fresh, &["permessage-deflate; server_no_context_takeover"], Ok(true)),
    ];
    for (name, config, answer, expected) in cases {
        let (seen, mut client) = client_given(*config, answer);
        match expected {
            Ok(compressed) => {
                assert!(
                    matches!(seen.as_slice(), [Seen::Accepted { .. }]),
                    "{name}: {seen:?}"
                );
                client.send_text(&text_of(1000)).unwrap();
                let wire = take_frames(&mut client);
                assert_eq!(
                    wire[0].b0 == 0xc1,
                    *compressed,
                    "{name}: first byte {:#x}",
                    wire[0].b0
                );
                assert_eq!(wire[0].b0 & 0xbf, 0x81, "{name}");
            }
            Err(error) => {
                assert_eq!(
                    seen.first(),
                    Some(&Seen::Error(Error::Handshake(*error))),
                    "{name}: {seen:?}"
                );
                assert!(
                    !seen.iter().any(|s| matches!(s, Seen::Accepted { .. })),
                    "{name}"
                );
                assert!(client.send_text("no").is_err(), "{name}: not open");
            }
        }
    }
    // The window the client was given is the one it keeps.
    let (_, mut client) = client_given(plain, &["permessage-deflate; client_max_window_bits=9"]);
    let mut strict = Strict::new(9, false);
    for message in window_messages() {
        let sent = send_message(&mut client, &message);
        client.consume_output(client.pending_output().len());
        assert_eq!(
            strict.message(&sent[0].payload).as_deref(),
            Ok(bytes_of(&message))
        );
    }
}

// ---------------------------------------------------------------------------------------
// 8. Chunking.
// ---------------------------------------------------------------------------------------

/// Re-sends a compressed message our client queued as `pieces` frames (RSV1 on the first
/// only, RFC 7692 §6.1), with a ping after each of the first frames and an empty
/// continuation in the middle (§7.2.3.6: a fragment may carry no data).
fn refragment(frame: &WireFrame, pieces: usize, to_server: bool) -> Vec<u8> {
    assert_eq!(frame.b0 & 0xf0, 0xc0, "a whole compressed message");
    let opcode = frame.b0 & 0x0f;
    let size = frame.payload.len().div_ceil(pieces);
    let chunks: Vec<&[u8]> = frame.payload.chunks(size).collect();
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let b0 = match (i, last) {
            (0, true) => 0xc0 | opcode,
            (0, false) => 0x40 | opcode,
            (_, true) => 0x80,
            (_, false) => 0x00,
        };
        out.extend(frame_toward(to_server, b0, chunk));
        if !last {
            out.extend(frame_toward(
                to_server,
                0x89,
                format!("ping {i}").as_bytes(),
            ));
            if i == 0 {
                out.extend(frame_toward(to_server, 0x00, b""));
            }
        }
    }
    out
}

/// The client→server bytes of a compressed conversation: the request, short (uncompressed)
/// and long (compressed) messages, compressed messages in fragments with pings between,
/// uncompressed sends and fragments, a message referring back to an earlier one, the close.
/// Returns the bytes and the messages the server must see.
fn record_compressed_session() -> (Vec<u8>, Vec<Message>) {
    let request = ClientRequest::new("example.com", "/chat");
    let mut client: Client = Connection::client(&request, deflate_default(), Seeded(5)).unwrap();
    let mut server: Server = Connection::server(deflate_default());
    let mut recorded = client.pending_output().to_vec();
    transfer(&mut client, &mut server);
    let mut sink = Vec::new();
    drain(&mut server, &mut sink);
    transfer(&mut server, &mut client);
    drain(&mut client, &mut sink);
    assert!(matches!(
        sink.as_slice(),
        [Seen::Request { .. }, Seen::Accepted { .. }]
    ));
    let mut expected = Vec::new();
    let mut whole =
        |client: &mut Client, recorded: &mut Vec<u8>, message: Message, pieces: usize| {
            let wire = send_message(client, &message);
            client.consume_output(client.pending_output().len());
            if pieces > 1 {
                recorded.extend(refragment(&wire[0], pieces, true));
                for i in 0..pieces - 1 {
                    expected.push(Message::Ping(format!("ping {i}").into_bytes()));
                }
            } else {
                for f in &wire {
                    recorded.extend(client_frame(f.b0, &f.payload, [9, 8, 7, 6]));
                }
            }
            expected.push(message);
        };
    whole(&mut client, &mut recorded, Message::Text("Hello".into()), 1);
    whole(&mut client, &mut recorded, Message::Text(text_of(5000)), 1);
    whole(
        &mut client,
        &mut recorded,
        Message::Binary(binary_of(70_000)),
        1,
    );
    whole(
        &mut client,
        &mut recorded,
        Message::Text(text_of(20_000)),
        4,
    );
    whole(
        &mut client,
        &mut recorded,
        Message::Binary(random_bytes(3000, 8)),
        3,
    );
    whole(&mut client, &mut recorded, Message::Text(text_of(5000)), 2);
    // Uncompressed, whole and in fragments.
    client
        .sender()
        .send_text_uncompressed(&text_of(300))
        .unwrap();
    client.send_fragment(b"frag", true, false).unwrap();
    client.ping(b"p").unwrap();
    client
        .send_fragment("ment ☃".as_bytes(), true, true)
        .unwrap();
    recorded.extend(take_output(&mut client));
    whole(
        &mut client,
        &mut recorded,
        Message::Text(text_of(20_000)),
        1,
    );
    client.close_with(CloseCode(4001), "done").unwrap();
    recorded.extend(take_output(&mut client));
    let mut messages = expected;
    let at = messages.len() - 1;
    messages.splice(
        at..at,
        [
            Message::Text(text_of(300)),
            Message::Ping(b"p".to_vec()),
            Message::Text("fragment ☃".into()),
        ],
    );
    (recorded, messages)
}

const CHUNKINGS: [&[usize]; 5] = [
    &[usize::MAX],
    &[1],
    &[3, 1, 7, 2, 13, 5, 64, 1, 2],
    &[4096, 11],
    &[40_000, 1, 2],
];

/// A compressed session fed to a server whole, byte by byte and in uneven chunks gives the
/// same events and the same output bytes, reassembled or streamed.
#[test]
fn compressed_sessions_give_the_same_events_in_any_chunking() {
    let (input, messages) = record_compressed_session();
    for stream in [false, true] {
        let mut config = deflate_default();
        config.stream_fragments = stream;
        let mut runs = CHUNKINGS
            .iter()
            .map(|chunks| run_in_chunks(Connection::server(config), &input, chunks, true));
        let (events, output) = runs.next().unwrap();
        for (i, (e, o)) in runs.enumerate() {
            assert_eq!(
                e,
                events,
                "stream {stream}: events differ with chunking {:?}",
                CHUNKINGS[i + 1]
            );
            assert_eq!(
                o,
                output,
                "stream {stream}: output differs with chunking {:?}",
                CHUNKINGS[i + 1]
            );
        }
        assert!(matches!(events.first(), Some(Seen::Request { .. })));
        assert!(
            matches!(
                events.last(),
                Some(Seen::Message(Message::Close {
                    code: Some(CloseCode(4001)),
                    ..
                }))
            ),
            "{events:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, Seen::Error(_))),
            "{events:?}"
        );
        let got: Vec<Message> = events[1..events.len() - 1]
            .iter()
            .map(|e| match e {
                Seen::Message(m) => m.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        if stream {
            // Fragments concatenate to the messages; whole frames come whole.
            assert_eq!(joined(&got), messages, "stream {stream}");
        } else {
            assert_eq!(got, messages, "stream {stream}");
        }
        // The 101 (with the extension), the pongs, the close reply.
        let head_end = output.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = std::str::from_utf8(&output[..head_end]).unwrap();
        assert_eq!(extension_line(head), Some("permessage-deflate"));
        let sent = frames(&output[head_end..]);
        let pings = messages
            .iter()
            .filter(|m| matches!(m, Message::Ping(_)))
            .count();
        assert_eq!(pings, 7);
        assert_eq!(
            sent.iter().filter(|f| f.b0 == 0x8a).count(),
            pings,
            "one pong per ping"
        );
        assert_eq!(close_code_of(&sent), 4001);
    }
}

/// Joins streamed fragments back into messages.
fn joined(events: &[Message]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut pending: Option<(bool, Vec<u8>)> = None;
    for event in events {
        match event {
            Message::Fragment {
                data,
                is_text,
                is_final,
            } => {
                let (kind, buf) = pending.get_or_insert_with(|| (*is_text, Vec::new()));
                assert_eq!(kind, is_text);
                buf.extend_from_slice(data);
                if *is_final {
                    let (is_text, buf) = pending.take().unwrap();
                    out.push(if is_text {
                        Message::Text(String::from_utf8(buf).expect("valid text"))
                    } else {
                        Message::Binary(buf)
                    });
                }
            }
            other => out.push(other.clone()),
        }
    }
    assert!(pending.is_none());
    out
}

// ---------------------------------------------------------------------------------------
// 9. Streaming.
// ---------------------------------------------------------------------------------------

/// `stream_fragments`: each frame of a fragmented compressed message comes as a `Fragment`
/// of its inflated bytes, in order, the last one final, and they join into the message; a
/// compressed message of one frame still comes whole.
#[test]
fn streamed_fragments_of_a_compressed_message() {
    let mut config = deflate_default();
    config.stream_fragments = true;
    for to_server in [true, false] {
        let Opened { mut pair, .. } = open(Version::Hybi13, config, config);
        for (message, pieces) in [
            (Message::Text(text_of(50_000)), 5),
            (Message::Binary(binary_of(200_000)), 7),
            (Message::Text(text_of(40)), 2),
            (Message::Text(random_text(3000, 1)), 3),
        ] {
            let name = format!("{}, to the server {to_server}", short(&message));
            let wire = if to_server {
                let w = send_message(&mut pair.client, &message);
                pair.client
                    .consume_output(pair.client.pending_output().len());
                w
            } else {
                let w = send_message(&mut pair.server, &message);
                pair.server
                    .consume_output(pair.server.pending_output().len());
                w
            };
            let input = refragment(&wire[0], pieces, to_server);
            let (seen, _) = feed(&mut pair, to_server, &input);
            let fragments: Vec<&Message> = seen
                .iter()
                .filter_map(|s| match s {
                    Seen::Message(m @ Message::Fragment { .. }) => Some(m),
                    _ => None,
                })
                .collect();
            // One per frame: the pieces and the empty continuation.
            assert_eq!(fragments.len(), pieces + 1, "{name}: {seen:?}");
            for (i, f) in fragments.iter().enumerate() {
                let Message::Fragment {
                    is_text, is_final, ..
                } = f
                else {
                    unreachable!()
                };
                assert_eq!(*is_text, matches!(message, Message::Text(_)), "{name}");
                assert_eq!(*is_final, i + 1 == fragments.len(), "{name}");
            }
            let messages: Vec<Message> = seen
                .iter()
                .map(|s| match s {
                    Seen::Message(m) => m.clone(),
                    other => panic!("{name}: {other:?}"),
                })
                .filter(|m| !matches!(m, Message::Ping(_)))
                .collect();
            assert_eq!(joined(&messages), std::slice::from_ref(&message), "{name}");
            // Delivered as inflated, not all at the end: the first fragment carries data.
            if bytes_of(&message).len() > 10_000 {
                let Message::Fragment { data, .. } = fragments[0] else {
                    unreachable!()
                };
                assert!(
                    !data.is_empty(),
                    "{name}: the first frame inflated to nothing"
                );
            }
        }
        // A compressed message in one frame, and RFC 7692 §7.2.3.1 in two.
        let (seen, _) = feed(&mut pair, to_server, &frame_toward(to_server, 0xc1, &HELLO));
        assert_eq!(seen, [Seen::Message(Message::Text("Hello".into()))]);
        let mut input = frame_toward(to_server, 0x41, &[0xf2, 0x48, 0xcd]);
        input.extend(frame_toward(to_server, 0x80, &[0xc9, 0xc9, 0x07, 0x00]));
        let (seen, _) = feed(&mut pair, to_server, &input);
        let messages: Vec<Message> = seen
            .iter()
            .map(|s| match s {
                Seen::Message(m) => m.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(joined(&messages), [Message::Text("Hello".into())]);
    }
}

/// The message limit counts what a compressed message inflates to, never its compressed
/// length: 18 random bytes (21 or more compressed) fit a 20-byte limit, and a 600-byte message
/// fits a 600-byte limit when its last fragment only ends the DEFLATE stream. A limit one byte
/// below the inflated size still fails the message with 1009, in both directions.
#[test]
fn the_message_limit_counts_inflated_bytes() {
    let random = random_bytes(18, 5);
    let random_wire = zlib_message(&mut zlib_rs::Deflate::new(6, false, 15), &random);
    assert!(random_wire.len() > 20, "{} bytes", random_wire.len());
    let text = random_text(600, 9);
    let mut z = zlib_rs::Deflate::new(6, false, 15);
    let head = zlib_flush(&mut z, text.as_bytes());
    // An empty stored block (BFINAL 0, BTYPE 00), its LEN and NLEN being the tail that the
    // receiver restores (RFC 7692 §7.2.2).
    let end = [0x00];
    type Case<'a> = (&'a str, usize, Vec<(u8, &'a [u8])>, Message);
    let cases: [Case; 2] = [
        (
            "random",
            20,
            vec![(0xc2, &random_wire)],
            Message::Binary(random.clone()),
        ),
        (
            "empty last fragment",
            600,
            vec![(0x41, &head), (0x80, &end)],
            Message::Text(text.clone()),
        ),
    ];
    for (name, limit, wire, message) in cases {
        for to_server in [true, false] {
            let len = message_len(&message);
            for limit in [limit, len, len - 1] {
                let mut config = deflate_default();
                config.limits.max_message_size = limit;
                let (client_config, server_config) = if to_server {
                    (deflate_default(), config)
                } else {
                    (config, deflate_default())
                };
                let Opened { mut pair, .. } = open(Version::Hybi13, client_config, server_config);
                let mut input = Vec::new();
                for (b0, payload) in &wire {
                    input.extend(frame_toward(to_server, *b0, payload));
                }
                let (seen, sent) = if to_server {
                    assert_eq!(pair.server.receive(&input), input.len());
                    let mut seen = Vec::new();
                    drain(&mut pair.server, &mut seen);
                    (seen, take_frames(&mut pair.server))
                } else {
                    assert_eq!(pair.client.receive(&input), input.len());
                    let mut seen = Vec::new();
                    drain(&mut pair.client, &mut seen);
                    (seen, take_frames(&mut pair.client))
                };
                let by = if to_server { "server" } else { "client" };
                if limit >= len {
                    assert_eq!(seen, [Seen::Message(message.clone())], "{name}, {by}");
                    assert!(sent.is_empty(), "{name}, {by}: {sent:?}");
                } else {
                    assert_violation(
                        &seen,
                        &sent,
                        ProtocolError::MessageTooLarge { limit },
                        1009,
                        &format!("{name}, {by}, limit {limit}"),
                    );
                }
            }
        }
    }
}

fn message_len(message: &Message) -> usize {
    bytes_of(message).len()
}
