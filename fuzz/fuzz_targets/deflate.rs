//! permessage-deflate (RFC 7692), in two parts chosen by the first byte (format in
//! `src/lib.rs`, `mod deflate_input`).
//!
//! Inflating arbitrary input: a framed hybi server with compression on (`use_deflate`, the
//! parameters from the bytes), under small limits, fed a peer's bytes: as they are, or written
//! by operations: frames of any first byte (RSV1 anywhere), compressed messages made by a
//! compressor of our own (levels, strategies, context kept or not, cut into frames, pings
//! between them, a byte corrupted, a final block (BFINAL, RFC 7692 §7.2.3.4) instead of a sync
//! flush; long patterns are bombs), uncompressed messages, pings, stray bytes, a close; and
//! messages the server sends.
//! Checked, besides what the harness checks of every event and error (memory within the limits
//! after every call, the message buffer included whatever a message inflates to; the close
//! event at most once and nothing after it; the documented errors only, `InvalidCompressedData`
//! only with compression on):
//! - `use_deflate` is refused on hixie and once compression is on;
//! - while the peer's bytes are those of a correct peer (no stray frame or byte, nothing
//!   corrupted), what the server delivers is exactly what the peer's frames carry, read by
//!   the harness's own inflater: every message within the limits unchanged, the first over a
//!   limit (inflated size) refused with a limit error, nothing else;
//! - what the server writes passes `Audit` (RSV1 only on a compressed message's first frame,
//!   every compressed message inflating within the server's agreed window), and a client with
//!   the same parameters reads it without a violation, receiving exactly the messages the
//!   server sent (or a limit error).
//!
//! Round trips: a client and a server of one version, each configured with permessage-deflate
//! or not (windows, context takeover, fallback offer, threshold, level from the bytes), through
//! a real handshake, then messages both ways (text and binary, compressible or not, of sizes
//! from the bytes, compressed, sent uncompressed, fragmented with pings or deliveries between
//! the fragments, sent again), through a pipe of random chunk sizes. Checked:
//! - the handshake opens both sides, and the client's `Accepted` carries a permessage-deflate
//!   answer exactly when both sides configured it on hybi, one that honours both
//!   configurations (context takeover asked by either, windows no larger than either asked);
//! - every send returns the documented result (unsupported on hixie, the output full only when
//!   the frame cannot fit);
//! - what each side writes passes `Audit`: every message the application sent, in order,
//!   compressed exactly when compression was agreed, the message goes by a compressing send
//!   and is at least the threshold long, and every compressed message inflates to what was
//!   sent, within the writer's agreed window, referring to earlier messages only with context
//!   takeover;
//! - what each side delivers is what the other wrote (within the receiver's limits, the first
//!   message over them refused with a limit error); pings arrive;
//! - the closing handshake then ends both sides cleanly, or, after a limit error, both sides
//!   end closed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::deflate::stream::deflate;
use miniz_oxide::{MZFlush, MZStatus};
use wsmachine::{
    deflate::{DeflateConfig, DeflateParams},
    drive::Message,
    CloseCode, Config, Connection, Error, KeySource, Limits, Role, State, UsageError, Version,
};
use wsmachine_fuzz::deflate_input::{self, content, inflate as inf, round_trip as rt};
use wsmachine_fuzz::{
    check_delivery, chunks, client, frame_len, limits_from, small_limits, Answer, Audit,
    DeflateAnswer, Ev, Peer, Rng, Watch, VERSIONS,
};

/// Whether to print what a run did (`DEFLATE_TRACE=1` when replaying an input).
fn tracing() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("DEFLATE_TRACE").is_some())
}

/// A line per event: its kind and size.
fn summary(log: &[Ev]) -> Vec<String> {
    log.iter()
        .map(|ev| match ev {
            Ev::Message(Message::Text(t)) => format!("text {}", t.len()),
            Ev::Message(Message::Binary(b)) => format!("binary {}", b.len()),
            Ev::Message(Message::Fragment { data, is_final, .. }) => {
                format!("fragment {} final {is_final}", data.len())
            }
            Ev::Request { version, .. } => format!("request {version:?}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// The messages an audit read: size, compressed, frames.
fn written_summary(audit: Option<&Audit>) -> Vec<String> {
    audit.map_or(Vec::new(), |a| {
        a.messages
            .iter()
            .map(|m| {
                format!(
                    "{} z{} {:?}",
                    m.data.len(),
                    u8::from(m.compressed),
                    m.frames
                )
            })
            .collect()
    })
}

/// The input, read from the front; past its end every byte is 0.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> usize {
        usize::from(self.byte()) << 8 | usize::from(self.byte())
    }

    /// A length of two bytes: below 0x8000 modulo 2048 (most messages are short, and a run
    /// stays fast), else the low 15 bits times `scale`, modulo `max + 1`.
    fn length(&mut self, scale: usize, max: usize) -> usize {
        let v = self.u16();
        if v & 0x8000 == 0 {
            v % 2048
        } else {
            ((v & 0x7FFF) * scale) % (max + 1)
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const WORDS: [&str; 12] = [
    "the ",
    "websocket ",
    "message ",
    "deflate ",
    "é",
    "☃ ",
    "𝄞",
    "window ",
    "aaaa",
    "0123 ",
    "\n",
    "context ",
];

/// A message's content (see `deflate_input::content`), valid UTF-8 when `text`.
fn make_content(input: &mut Bytes<'_>, len: usize, text: bool) -> Vec<u8> {
    let kind = input.byte();
    let arg = kind >> 2;
    let mut data = match kind & 3 {
        content::PATTERN => {
            let seed = input.take(usize::from(arg) + 1);
            let seed: &[u8] = if seed.is_empty() { b"a" } else { seed };
            seed.iter().copied().cycle().take(len).collect()
        }
        content::RANDOM => {
            let mut rng = Rng::new(u64::from(arg) << 32 | len as u64);
            (0..len).map(|_| rng.next_u64() as u8).collect()
        }
        content::WORDS => {
            let mut rng = Rng::new(u64::from(arg));
            let mut s = Vec::with_capacity(len + 8);
            while s.len() < len {
                s.extend_from_slice(WORDS[rng.chunk(WORDS.len()) - 1].as_bytes());
            }
            s
        }
        _ => input.take(len).to_vec(),
    };
    if text {
        let mut s = String::from_utf8_lossy(&data).into_owned();
        let mut end = len.min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        data = s.into_bytes();
    } else {
        data.truncate(len);
    }
    data
}

/// A client's frame (masked with a fixed key) of any first byte.
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
    let len = payload.len();
    let mut f = vec![b0];
    if len < 126 {
        f.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(len as u64).to_be_bytes());
    }
    f.extend_from_slice(&KEY);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    f
}

/// Compresses one message: a sync flush with its `00 00 FF FF` removed (RFC 7692 §7.2.1), or
/// a final block.
fn compress(c: &mut CompressorOxide, data: &[u8], final_block: bool) -> Vec<u8> {
    let flush = if final_block {
        MZFlush::Finish
    } else {
        MZFlush::Sync
    };
    let mut out = Vec::new();
    let mut input = data;
    loop {
        let len = out.len();
        let room = input.len() + 1024;
        out.resize(len + room, 0);
        let r = deflate(c, input, &mut out[len..], flush);
        input = &input[r.bytes_consumed..];
        out.truncate(len + r.bytes_written);
        let ended = r.status == Ok(MZStatus::StreamEnd);
        if input.is_empty() && (ended || (!final_block && r.bytes_written < room)) {
            break;
        }
        assert!(r.status.is_ok(), "our compressor failed: {:?}", r.status);
    }
    if !final_block {
        assert!(
            out.ends_with(&[0, 0, 0xFF, 0xFF]),
            "a sync flush without its tail"
        );
        out.truncate(out.len() - 4);
    }
    out
}

/// Cuts `data` into `parts` pieces at offsets from `rng` (empty pieces allowed).
fn cut<'a>(data: &'a [u8], parts: usize, rng: &mut Rng) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = (1..parts)
        .map(|_| rng.next_u64() as usize % (data.len() + 1))
        .collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for end in at {
        out.push(&data[start..end]);
        start = end;
    }
    out.push(&data[start..]);
    out
}

fn params_from(b: u8) -> DeflateParams {
    let mut p = DeflateParams::new();
    p.server_no_context_takeover = b & inf::SERVER_NO_CONTEXT_TAKEOVER != 0;
    p.client_no_context_takeover = b & inf::CLIENT_NO_CONTEXT_TAKEOVER != 0;
    p.server_max_window_bits = 8 + ((b >> 2) & 7);
    p.client_max_window_bits = 8 + ((b >> 5) & 7);
    p
}

/// Whether `OutputFull` may refuse a message of `len` bytes (sent compressed if `compressing`)
/// when `pending` bytes are queued: only when its frame, or its compressed form's at worst
/// (stored blocks and the flush), cannot fit.
fn may_be_full(
    version: Version,
    client: bool,
    len: usize,
    compressing: bool,
    pending: usize,
    max: usize,
) -> bool {
    let payload = if compressing {
        len + len / 64 + 32
    } else {
        len
    };
    pending + frame_len(version, client, payload) > max
}

/// Inflating arbitrary input.
fn inflate_part(data: &[u8]) {
    let mut input = Bytes(data);
    let options = input.byte();
    let limits_byte = input.byte();
    let params = params_from(input.byte());
    let seed = input.byte();
    let version =
        [Version::Hybi07, Version::Hybi08, Version::Hybi13][usize::from(options >> 5) % 3];
    let mut config = Config::default();
    config.limits = limits_from(limits_byte);
    config.stream_fragments = options & inf::STREAM != 0;
    let mut hixie = Connection::framed_server(Version::Hixie76, config);
    assert!(matches!(
        hixie.use_deflate(params),
        Err(UsageError::Unsupported { .. })
    ));
    let mut conn = Connection::framed_server(version, config);
    assert_eq!(conn.use_deflate(params), Ok(()));
    assert_eq!(conn.use_deflate(params), Err(UsageError::NotOpen));
    let mut peer = Peer::wrap(conn, Some(version), Answer::Accept, true);
    peer.watch.deflate = Some(params);

    let mut rng = Rng::new(u64::from(seed) << 8 | u64::from(options));
    let chunked = options & inf::CHUNKED != 0;
    // Every byte the peer wrote, and whether a correct peer wrote them all.
    let mut wire = Vec::new();
    let mut correct = true;
    let mut compressor: Option<CompressorOxide> = None;
    let feed = |peer: &mut Peer<_>, bytes: &[u8], rng: &mut Rng, wire: &mut Vec<u8>| {
        wire.extend_from_slice(bytes);
        if chunked {
            for chunk in chunks(bytes, rng, 64) {
                peer.feed(chunk);
            }
        } else {
            peer.feed(bytes);
        }
        peer.take_output();
    };

    if options & inf::RAW != 0 {
        let rest = input.take(usize::MAX);
        feed(&mut peer, rest, &mut rng, &mut wire);
        correct = false;
    }
    let mut ops = 0;
    while !input.is_empty() && ops < 64 {
        ops += 1;
        let op = input.byte();
        let extra = op >> 3;
        let mut bytes = Vec::new();
        match op & 7 {
            inf::DEFLATED | inf::PLAIN => {
                let flags = input.byte();
                let len = input.length(2, 0xFFFF);
                let text = flags & inf::TEXT != 0;
                let message = make_content(&mut input, len, text);
                let parts = 1 + usize::from((flags >> 1) & 7);
                let opcode = if text { 0x01 } else { 0x02 };
                let payload = if op & 7 == inf::DEFLATED {
                    let final_block = flags & inf::FINAL_BLOCK != 0;
                    let keep = flags & inf::KEEP_CONTEXT != 0 && !params.client_no_context_takeover;
                    if !keep || compressor.is_none() {
                        let level = 1 + i32::from(extra & 7);
                        let strategy = [0, 2, 3, 4][usize::from(extra >> 3)];
                        let flags = create_comp_flags_from_zip_params(level, -15, strategy);
                        compressor = Some(CompressorOxide::new(flags));
                    }
                    let c = compressor.as_mut().expect("a compressor");
                    let mut payload = compress(c, &message, final_block);
                    if final_block {
                        // A finished stream cannot go on: the next compressed message starts a
                        // new one, referring to nothing before it (RFC 7692 §7.2.3.4).
                        compressor = None;
                    }
                    if flags & inf::CORRUPT != 0 {
                        let (at, xor) = (usize::from(input.byte()), input.byte());
                        if !payload.is_empty() {
                            let at = at * payload.len() / 256;
                            payload[at] ^= xor.max(1);
                        }
                        correct = false;
                    }
                    payload
                } else {
                    message
                };
                let compressed = op & 7 == inf::DEFLATED;
                let pieces = cut(&payload, parts, &mut rng);
                let last = pieces.len() - 1;
                for (i, piece) in pieces.into_iter().enumerate() {
                    let mut b0 = if i == 0 { opcode } else { 0 };
                    if i == 0 && compressed {
                        b0 |= 0x40;
                    }
                    if i == last {
                        b0 |= 0x80;
                    }
                    bytes.extend(client_frame(b0, piece));
                    if i < last && flags & inf::PING_BETWEEN != 0 {
                        bytes.extend(client_frame(0x89, b"between"));
                    }
                }
            }
            inf::PING => {
                let len = usize::from(input.byte()) % 126;
                let payload = input.take(len).to_vec();
                // A ping over the frame limit is refused like any frame; the delivery is then
                // not predicted.
                if payload.len() > config.limits.max_frame_payload {
                    correct = false;
                }
                bytes = client_frame(0x89, &payload);
            }
            inf::BYTES => {
                let len = usize::from(input.byte());
                bytes = input.take(len).to_vec();
                correct = false;
            }
            inf::CLOSE => {
                bytes = client_frame(0x88, &1000u16.to_be_bytes());
                feed(&mut peer, &bytes, &mut rng, &mut wire);
                break;
            }
            inf::SEND => {
                let flags = input.byte();
                let len = input.u16() % 4097;
                let text = flags & inf::TEXT != 0;
                let message = make_content(&mut input, len, text);
                server_send(&mut peer, &message, text, flags & inf::UNCOMPRESSED != 0);
            }
            _ => {
                let b0 = input.byte();
                let len = usize::from(input.byte());
                let payload = input.take(len).to_vec();
                bytes = client_frame(b0, &payload);
                correct = false;
            }
        }
        if !bytes.is_empty() {
            feed(&mut peer, &bytes, &mut rng, &mut wire);
        }
    }
    if options & inf::EOF != 0 {
        peer.eof();
        assert_eq!(
            peer.conn.state(),
            State::Closed,
            "end of stream left it open"
        );
    }
    peer.take_output();

    if tracing() {
        eprintln!(
            "{version} {params:?} {:?}, correct {correct}",
            config.limits
        );
        eprintln!("server events: {:?}", summary(peer.log()));
        eprintln!("server wrote: {:?}", written_summary(peer.audit.as_ref()));
    }
    if correct {
        // What a correct peer wrote, read by the harness's own reader and inflater: our
        // compressor always uses the full window, whatever client_max_window_bits says (the
        // server's inflater keeps the full window whatever was agreed).
        let mut ours = params;
        ours.client_max_window_bits = 15;
        let mut audit = Audit::new(version, Role::Client);
        audit.set_deflate(Some(ours));
        audit.feed(&wire);
        audit.assert_whole();
        if tracing() {
            eprintln!("peer wrote: {:?}", written_summary(Some(&audit)));
        }
        check_delivery(&audit.messages, audit.unfinished(), &peer.watch, version);
    }

    // A client of the same parameters reads what the server wrote without a violation, and
    // gets the messages the server sent.
    let mut mirror = Peer::wrap(
        Connection::framed(Role::Client, version, config, Rng::new(8)),
        Some(version),
        Answer::Accept,
        true,
    );
    assert_eq!(mirror.conn.use_deflate(params), Ok(()));
    mirror.watch.deflate = Some(params);
    mirror.watch.hostile_input = false;
    mirror.feed(&peer.sent);
    mirror.take_output();
    let written = peer.audit.as_ref().map_or(&[][..], |a| &a.messages[..]);
    let unfinished = peer.audit.as_ref().and_then(Audit::unfinished);
    check_delivery(written, unfinished, &mirror.watch, version);
}

/// The server sends `message`; checks the result.
fn server_send<R: KeySource>(peer: &mut Peer<R>, message: &[u8], text: bool, plain: bool) {
    let version = peer.conn.version().expect("framed");
    let state = peer.conn.state();
    let pending = peer.conn.pending_output().len();
    let max = peer.watch.limits.max_queued_output;
    let threshold = peer.conn.config().deflate.unwrap_or_default().threshold;
    let compressing = !plain && message.len() >= threshold;
    let text_str = std::str::from_utf8(message);
    let result = match (text, plain) {
        (true, false) => peer.conn.send_text(text_str.expect("text content")),
        (true, true) => peer
            .conn
            .sender()
            .send_text_uncompressed(text_str.expect("text content")),
        (false, false) => peer.conn.send_binary(message),
        (false, true) => peer.conn.sender().send_binary_uncompressed(message),
    };
    check_send(
        result,
        state,
        version,
        false,
        message.len(),
        compressing,
        pending,
        max,
        peer.conn.pending_output().len(),
    );
    peer.check_memory();
}

/// A send's result: queued while open (`OutputFull` only when it cannot fit, queuing nothing),
/// `Closed` otherwise.
#[allow(clippy::too_many_arguments)]
fn check_send(
    result: Result<(), Error>,
    state: State,
    version: Version,
    client: bool,
    len: usize,
    compressing: bool,
    pending: usize,
    max: usize,
    pending_after: usize,
) {
    match result {
        Ok(()) => assert_eq!(state, State::Open, "sent while {state:?}"),
        Err(Error::Usage(UsageError::OutputFull { .. })) => {
            assert_eq!(state, State::Open, "OutputFull while {state:?}");
            assert!(
                may_be_full(version, client, len, compressing, pending, max),
                "OutputFull for {len} bytes (compressing {compressing}) with {pending} of {max} \
                 queued"
            );
            assert_eq!(pending_after, pending, "a refused send queued bytes");
        }
        Err(Error::Usage(UsageError::Closed)) => {
            assert_ne!(state, State::Open, "Closed while open");
            assert_eq!(pending_after, pending, "a refused send queued bytes");
        }
        Err(e) => panic!("a send failed with {e:?} ({state:?})"),
    }
}

/// The configuration three bytes give (see `deflate_input::round_trip`).
fn config_from(b: [u8; 3]) -> Option<DeflateConfig> {
    if b[0] & rt::PRESENT == 0 {
        return None;
    }
    let window = |nibble: u8| (nibble != 0).then_some(nibble);
    let mut c = DeflateConfig::new();
    c.server_no_context_takeover = b[0] & rt::SERVER_NO_CONTEXT_TAKEOVER != 0;
    c.client_no_context_takeover = b[0] & rt::CLIENT_NO_CONTEXT_TAKEOVER != 0;
    c.fallback_offer = b[0] & rt::FALLBACK_OFFER != 0;
    c.level = 1 + (b[0] >> 4) % 9;
    c.server_max_window_bits = window(b[1] & 0x0F);
    c.client_max_window_bits = window(b[1] >> 4);
    c.threshold = usize::from(b[2]) * 2;
    Some(c)
}

struct Pipe {
    rng: Rng,
    max_chunk: usize,
}

impl Pipe {
    /// Moves all output both ways, in chunks, until none is left.
    fn flush<A: KeySource, B: KeySource>(&mut self, c: &mut Peer<A>, s: &mut Peer<B>) {
        for _ in 0..64 {
            let to_server = c.take_output();
            let to_client = s.take_output();
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            for chunk in chunks(&to_server, &mut self.rng, self.max_chunk) {
                s.feed(chunk);
            }
            for chunk in chunks(&to_client, &mut self.rng, self.max_chunk) {
                c.feed(chunk);
            }
        }
        panic!("the pipe never emptied");
    }
}

/// What one side of a round trip sent.
#[derive(Default)]
struct Sent {
    /// Every data message queued: text or not, its bytes, and whether it must have gone
    /// compressed.
    messages: Vec<(bool, Vec<u8>, bool)>,
    pings: Vec<Vec<u8>>,
    /// The last message's kind and content, for `REPEAT`.
    last: Option<(bool, Vec<u8>)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum How {
    Compressing,
    Plain,
}

/// One side of a round trip.
struct End<R: KeySource> {
    peer: Peer<R>,
    sent: Sent,
    config: Option<DeflateConfig>,
}

/// Sends a whole message from `x`; when the output is full, delivers everything and tries
/// once more. Records what went.
fn send_message<A: KeySource, B: KeySource>(
    x: &mut End<A>,
    y: &mut End<B>,
    pipe: &mut Pipe,
    text: bool,
    data: Vec<u8>,
    how: How,
) {
    let version = x.peer.conn.version().expect("open");
    if version.is_hixie() && !text {
        let state = x.peer.conn.state();
        let result = match how {
            How::Compressing => x.peer.conn.send_binary(&data),
            How::Plain => x.peer.conn.sender().send_binary_uncompressed(&data),
        };
        unsupported(result, state, version);
        return;
    }
    let agreed = x.peer.watch.deflate.is_some();
    let threshold = x.config.map_or(usize::MAX, |c| c.threshold);
    let compressing = agreed && how == How::Compressing && data.len() >= threshold;
    let client = x.peer.role() == Role::Client;
    let max = x.peer.watch.limits.max_queued_output;
    for attempt in 0..2 {
        let state = x.peer.conn.state();
        let pending = x.peer.conn.pending_output().len();
        let result = match (text, how) {
            (true, How::Compressing) => x
                .peer
                .conn
                .send_text(std::str::from_utf8(&data).expect("text content")),
            (true, How::Plain) => x
                .peer
                .conn
                .sender()
                .send_text_uncompressed(std::str::from_utf8(&data).expect("text content")),
            (false, How::Compressing) => x.peer.conn.send_binary(&data),
            (false, How::Plain) => x.peer.conn.sender().send_binary_uncompressed(&data),
        };
        let full = matches!(result, Err(Error::Usage(UsageError::OutputFull { .. })));
        let ok = result.is_ok();
        check_send(
            result,
            state,
            version,
            client,
            data.len(),
            compressing,
            pending,
            max,
            x.peer.conn.pending_output().len(),
        );
        x.peer.check_memory();
        if ok {
            x.sent.messages.push((text, data.clone(), compressing));
            x.sent.last = Some((text, data));
            return;
        }
        if !full || attempt == 1 {
            return;
        }
        pipe.flush_ends(x, y);
    }
}

impl Pipe {
    fn flush_ends<A: KeySource, B: KeySource>(&mut self, x: &mut End<A>, y: &mut End<B>) {
        if x.peer.role() == Role::Client {
            self.flush(&mut x.peer, &mut y.peer);
        } else {
            self.flush(&mut y.peer, &mut x.peer);
        }
    }
}

/// What hixie answers a send it cannot make: `Unsupported`, or `Closed` once closed.
fn unsupported(result: Result<(), Error>, state: State, version: Version) {
    match result {
        Err(Error::Usage(UsageError::Unsupported { .. })) => {}
        Err(Error::Usage(UsageError::Closed)) if state != State::Open => {}
        other => panic!("{version} while {state:?}: {other:?}"),
    }
}

/// Sends a ping from `x` (delivering everything first if the output is full).
fn send_ping<A: KeySource, B: KeySource>(
    x: &mut End<A>,
    y: &mut End<B>,
    pipe: &mut Pipe,
    payload: &[u8],
) {
    let version = x.peer.conn.version().expect("open");
    for attempt in 0..2 {
        let state = x.peer.conn.state();
        let result = x.peer.conn.ping(payload);
        match result {
            Ok(()) => {
                x.sent.pings.push(payload.to_vec());
                return;
            }
            Err(Error::Usage(UsageError::Unsupported { .. })) if version.is_hixie() => return,
            Err(Error::Usage(UsageError::Closed)) if state != State::Open => return,
            Err(Error::Usage(UsageError::OutputFull { .. })) if attempt == 0 => {
                pipe.flush_ends(x, y)
            }
            Err(e) => panic!("ping failed with {e:?} ({state:?})"),
        }
    }
}

/// Sends `data` as fragments from `x`, cut into `parts` (pings or deliveries between them as
/// `flags` say); a part the output cannot take even after a delivery ends the message there
/// with an empty final fragment.
fn send_fragments<A: KeySource, B: KeySource>(
    x: &mut End<A>,
    y: &mut End<B>,
    pipe: &mut Pipe,
    flags: u8,
    data: &[u8],
) {
    let text = flags & 1 != 0;
    let version = x.peer.conn.version().expect("open");
    let parts = 1 + usize::from((flags >> 1) & 7);
    let pieces = cut(data, parts, &mut pipe.rng.clone());
    if version.is_hixie() {
        let state = x.peer.conn.state();
        let result = x.peer.conn.send_fragment(data, text, true);
        unsupported(result, state, version);
        return;
    }
    let mut sent = Vec::new();
    let last = pieces.len() - 1;
    for (i, piece) in pieces.into_iter().enumerate() {
        let mut done = false;
        for attempt in 0..2 {
            let state = x.peer.conn.state();
            match x.peer.conn.send_fragment(piece, text, i == last) {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(Error::Usage(UsageError::Closed)) if state != State::Open => {
                    // Closed: nothing of the message counts (the peer never completes it).
                    return;
                }
                Err(Error::Usage(UsageError::OutputFull { .. })) if attempt == 0 => {
                    pipe.flush_ends(x, y)
                }
                Err(Error::Usage(UsageError::OutputFull { .. })) => {}
                Err(e) => panic!("a fragment failed with {e:?} ({state:?})"),
            }
        }
        if !done {
            // This part cannot fit: end the message with an empty final fragment, if any part
            // went.
            if i == 0 {
                return;
            }
            pipe.flush_ends(x, y);
            let state = x.peer.conn.state();
            match x.peer.conn.send_fragment(&[], text, true) {
                Ok(()) => break,
                Err(Error::Usage(UsageError::Closed)) if state != State::Open => return,
                Err(e) => panic!("an empty final fragment failed with {e:?}"),
            }
        }
        sent.extend_from_slice(piece);
        if i < last {
            if flags & rt::PING_BETWEEN != 0 {
                send_ping(x, y, pipe, b"between");
            }
            if flags & rt::FLUSH_BETWEEN != 0 {
                pipe.flush_ends(x, y);
            }
        }
    }
    x.sent.messages.push((text, sent.clone(), false));
    if text && std::str::from_utf8(&sent).is_err() {
        // Ended early inside a character: the peer fails it (1007), as it must.
        y.peer.watch.peer_sent_invalid_text = true;
    } else {
        x.sent.last = Some((text, sent));
    }
}

/// What `x` wrote (read by its `Audit`) is what it sent: every message, in order, compressed
/// exactly when it had to be.
fn check_written<R: KeySource>(x: &End<R>) {
    let written = x.peer.audit.as_ref().map_or(&[][..], |a| &a.messages[..]);
    assert_eq!(
        written.len(),
        x.sent.messages.len(),
        "{:?} wrote {} messages, sent {}",
        x.peer.role(),
        written.len(),
        x.sent.messages.len()
    );
    for (i, (w, (text, sent, compressed))) in written.iter().zip(&x.sent.messages).enumerate() {
        assert_eq!(
            w.compressed,
            *compressed,
            "{:?}'s message {i} ({} bytes): compressed {} (threshold {:?})",
            x.peer.role(),
            w.data.len(),
            w.compressed,
            x.config.map(|c| c.threshold)
        );
        assert!(
            w.is_text == *text && w.data == *sent,
            "{:?}'s message {i} written as {} bytes (text {}), not the {} sent (text {text})",
            x.peer.role(),
            w.data.len(),
            w.is_text,
            sent.len()
        );
    }
}

/// The answer honours both configurations (RFC 7692 §7.1; the crate's server answers the
/// client's first offer).
fn check_answer(answer: &DeflateAnswer, client: &DeflateConfig, server: &DeflateConfig) {
    let clamp = |b: u8| b.clamp(8, 15);
    if client.server_no_context_takeover || server.server_no_context_takeover {
        assert!(answer.server_no_context_takeover, "{answer:?}");
    }
    if client.client_no_context_takeover || server.client_no_context_takeover {
        assert!(answer.client_no_context_takeover, "{answer:?}");
    }
    for asked in [client.server_max_window_bits, server.server_max_window_bits]
        .into_iter()
        .flatten()
    {
        assert!(
            answer
                .server_max_window_bits
                .is_some_and(|b| b <= clamp(asked)),
            "server window {answer:?}, asked {asked}"
        );
    }
    // The first offer always has client_max_window_bits: the server states its own.
    assert_eq!(
        answer.client_max_window_bits.is_some(),
        server.client_max_window_bits.is_some(),
        "{answer:?}"
    );
    if let Some(bits) = answer.client_max_window_bits {
        for asked in [client.client_max_window_bits, server.client_max_window_bits]
            .into_iter()
            .flatten()
        {
            assert!(
                bits <= clamp(asked),
                "client window {answer:?}, asked {asked}"
            );
        }
    }
}

fn round_trip_part(data: &[u8]) {
    let mut input = Bytes(data);
    let options = input.byte();
    let client_config = config_from([input.byte(), input.byte(), input.byte()]);
    let server_config = config_from([input.byte(), input.byte(), input.byte()]);
    let seed = input.byte();
    let max_chunk = usize::from(input.byte()).max(1);
    let version = VERSIONS[usize::from((options >> 1) & 7) % VERSIONS.len()];
    let mut config = Config::default();
    config.limits = if options & rt::TIGHT != 0 {
        small_limits()
    } else {
        let mut l = Limits::new();
        l.max_queued_output = 1 << 20;
        l
    };
    config.stream_fragments = options & rt::STREAM != 0;
    let (mut c_config, mut s_config) = (config, config);
    c_config.deflate = client_config;
    s_config.deflate = server_config;

    let mut c = End {
        peer: Peer::wrap(
            client(version, &["chat"], c_config).expect("a valid request"),
            Some(version),
            Answer::Accept,
            false,
        ),
        sent: Sent::default(),
        config: client_config,
    };
    let mut s = End {
        peer: Peer::server(s_config, Answer::Accept),
        sent: Sent::default(),
        config: server_config,
    };
    c.peer.watch.hostile_input = false;
    s.peer.watch.hostile_input = false;
    let mut pipe = Pipe {
        rng: Rng::new(u64::from(seed)),
        max_chunk: max_chunk.max(64),
    };
    pipe.flush(&mut c.peer, &mut s.peer);
    pipe.max_chunk = max_chunk;
    assert_eq!(
        c.peer.conn.state(),
        State::Open,
        "client: {:?}",
        c.peer.log()
    );
    assert_eq!(
        s.peer.conn.state(),
        State::Open,
        "server: {:?}",
        s.peer.log()
    );

    let both = !version.is_hixie() && client_config.is_some() && server_config.is_some();
    let (protocol, extensions) = match c.peer.log().first() {
        Some(Ev::Accepted {
            status: 101,
            protocol,
            extensions,
        }) => (protocol.clone(), extensions.clone()),
        _ => panic!("client log {:?}", c.peer.log()),
    };
    assert_eq!(protocol.as_deref(), Some("chat"));
    assert_eq!(
        extensions.is_some(),
        both,
        "answer {extensions:?} ({version}, client {client_config:?}, server {server_config:?})"
    );
    assert_eq!(c.peer.watch.deflate.is_some(), both);
    assert_eq!(s.peer.watch.deflate.is_some(), both);
    if let (Some(text), Some(cc), Some(sc)) = (&extensions, client_config, server_config) {
        let answer = DeflateAnswer::parse(text).expect("checked by the harness");
        check_answer(&answer, &cc, &sc);
    }

    let mut ops = 0;
    while !input.is_empty() && ops < 48 {
        ops += 1;
        let op = input.byte();
        let from_client = op & 1 == 0;
        let code = (op >> 1) & 7;
        macro_rules! with_sides {
            ($f:ident $(, $arg:expr)*) => {
                if from_client {
                    $f(&mut c, &mut s, &mut pipe $(, $arg)*)
                } else {
                    $f(&mut s, &mut c, &mut pipe $(, $arg)*)
                }
            };
        }
        match code {
            rt::TEXT | rt::BINARY | rt::TEXT_PLAIN | rt::BINARY_PLAIN => {
                let len = input.length(1, 20000);
                let text = matches!(code, rt::TEXT | rt::TEXT_PLAIN);
                let data = make_content(&mut input, len, text);
                let how = if matches!(code, rt::TEXT | rt::BINARY) {
                    How::Compressing
                } else {
                    How::Plain
                };
                with_sides!(send_message, text, data, how);
            }
            rt::FRAGMENTS => {
                let flags = input.byte();
                let len = input.length(1, 20000);
                let data = make_content(&mut input, len, flags & 1 != 0);
                with_sides!(send_fragments, flags, &data);
            }
            rt::PING => {
                let len = usize::from(input.byte()) % 126;
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                with_sides!(send_ping, &payload);
            }
            rt::FLUSH => pipe.flush(&mut c.peer, &mut s.peer),
            _ => {
                let last = if from_client {
                    c.sent.last.clone()
                } else {
                    s.sent.last.clone()
                };
                if let Some((text, data)) = last {
                    with_sides!(send_message, text, data, How::Compressing);
                }
            }
        }
    }
    pipe.flush(&mut c.peer, &mut s.peer);

    if tracing() {
        eprintln!("{version} {:?}, answer {extensions:?}", config.limits);
        eprintln!("client wrote: {:?}", written_summary(c.peer.audit.as_ref()));
        eprintln!("client events: {:?}", summary(c.peer.log()));
        eprintln!("server wrote: {:?}", written_summary(s.peer.audit.as_ref()));
        eprintln!("server events: {:?}", summary(s.peer.log()));
    }
    check_written(&c);
    check_written(&s);
    for (from, to) in [
        (c.peer.audit.as_ref(), &s.peer.watch),
        (s.peer.audit.as_ref(), &c.peer.watch),
    ] {
        let written = from.map_or(&[][..], |a| &a.messages[..]);
        check_delivery(written, from.and_then(Audit::unfinished), to, version);
    }
    let failed = |log: &[Ev]| log.iter().any(|e| matches!(e, Ev::Error(_)));
    let any_failed = failed(c.peer.log()) || failed(s.peer.log());
    check_pings(&c.sent, &s.peer.watch, any_failed);
    check_pings(&s.sent, &c.peer.watch, any_failed);

    if any_failed {
        // A limit error closed one side; its close closed the other (on hixie-75, which has
        // none, the end of the stream does).
        c.peer.end();
        s.peer.end();
        pipe.flush(&mut c.peer, &mut s.peer);
        assert_eq!(c.peer.conn.state(), State::Closed);
        assert_eq!(s.peer.conn.state(), State::Closed);
        return;
    }

    // The closing handshake.
    let client_closes = options & rt::CLIENT_CLOSES != 0;
    let result = if client_closes {
        c.peer.conn.close()
    } else {
        s.peer.conn.close()
    };
    if let Err(Error::Usage(UsageError::OutputFull { .. })) = result {
        pipe.flush(&mut c.peer, &mut s.peer);
        let again = if client_closes {
            c.peer.conn.close()
        } else {
            s.peer.conn.close()
        };
        assert_eq!(again, Ok(()));
    } else {
        assert_eq!(result, Ok(()));
    }
    pipe.flush(&mut c.peer, &mut s.peer);
    if version == Version::Hixie75 {
        // Its only close is the transport's.
        if client_closes {
            s.peer.eof();
            c.peer.eof();
        } else {
            c.peer.eof();
            s.peer.eof();
        }
    }
    let code = (!version.is_hixie()).then_some(CloseCode::NORMAL);
    for peer in [&c.peer.watch, &s.peer.watch] {
        let closes: Vec<&Ev> = peer
            .log
            .iter()
            .filter(|e| matches!(e, Ev::Message(Message::Close { .. })))
            .collect();
        assert_eq!(
            closes,
            [&Ev::Message(Message::Close {
                code,
                reason: String::new(),
                clean: true
            })],
            "{:?}'s close events",
            peer.role
        );
    }
    assert_eq!(c.peer.conn.state(), State::Closed);
    assert_eq!(s.peer.conn.state(), State::Closed);
}

/// The pings `sent` arrived at `watch`: all of them, or, once a side failed, the first ones.
fn check_pings(sent: &Sent, watch: &Watch, any_failed: bool) {
    let pings: Vec<Vec<u8>> = watch
        .messages()
        .into_iter()
        .filter_map(|m| match m {
            Message::Ping(p) => Some(p),
            _ => None,
        })
        .collect();
    if any_failed {
        assert!(
            sent.pings.starts_with(&pings),
            "pings not a prefix of those sent"
        );
    } else {
        assert_eq!(pings, sent.pings, "pings received");
    }
}

/// The end of the stream for a side not closed yet.
trait Eof {
    fn end(&mut self);
}

impl<R: KeySource> Eof for Peer<R> {
    fn end(&mut self) {
        if self.conn.state() != State::Closed {
            self.take_output();
            self.eof();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match data.first() {
        Some(b) if b & deflate_input::ROUND_TRIP != 0 => round_trip_part(data),
        Some(_) => inflate_part(data),
        None => {}
    }
});
