//! Encoding: unmasked server frames and masked client frames, wsmachine against its peers.
//!
//! Each encoder writes its frames into memory through its most direct API: wsmachine queues
//! them in its output (caller-owned slices; `wsmachine_default`: the growable buffers of
//! `Connection::framed`, the path a new user is shown), tungstenite formats `Frame`s into a
//! `Vec`, fastwebsockets writes each `Frame` into a reused `Vec`, embedded-websocket writes into
//! the caller's slice. Output is handed on as a driver writing to its socket would: once 16 KiB are
//! pending (the `encode_server` and `encode_client` groups), or after every frame (the `_each`
//! groups, fastwebsockets' pattern for all); fastwebsockets' API hands on every frame in both.
//! Masking keys come from the same xorshift generator for everyone (wsmachine's `OsEntropy` is
//! measured separately). tokio-websockets is left out: it encodes only through its `Sink` over
//! an async stream, not into memory.
//!
//! Before timing, every encoder's bytes are parsed back and compared with the payloads.

mod common;

use std::hint::black_box;

use common::{Rng, MIB, SMALL_COUNT};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsmachine::{Buffers, Config, Connection, Entropy, OsEntropy, Role, Storage, Version};

/// Queued output is handed on once it reaches this much, as a driver writes to its socket; the
/// encoders that can queue (all but fastwebsockets, whose API writes one frame into a reused
/// `Vec`) do the same.
const FLUSH_AT: usize = 16 * 1024;

/// The payloads of one encode workload.
struct Workload {
    name: &'static str,
    is_text: bool,
    payloads: Vec<Vec<u8>>,
    /// The payloads as the strings a caller sends (empty for binary).
    texts: Vec<String>,
}

impl Workload {
    fn new(name: &'static str, is_text: bool, payloads: Vec<Vec<u8>>) -> Self {
        let texts = if is_text {
            payloads
                .iter()
                .map(|p| String::from_utf8(p.clone()).expect("text payload"))
                .collect()
        } else {
            Vec::new()
        };
        Workload {
            name,
            is_text,
            payloads,
            texts,
        }
    }

    fn total(&self) -> usize {
        self.payloads.iter().map(|p| p.len() + 14).sum()
    }
}

fn server_workloads() -> Vec<Workload> {
    vec![
        Workload::new(
            "text16",
            true,
            (0..SMALL_COUNT as u64)
                .map(|i| common::ascii_text(16, i + 1).into_bytes())
                .collect(),
        ),
        Workload::new(
            "binary125",
            false,
            (0..SMALL_COUNT as u64)
                .map(|i| common::binary(125, i + 1))
                .collect(),
        ),
        Workload::new("binary_1mib", false, vec![common::binary(MIB, 7)]),
    ]
}

fn client_workloads() -> Vec<Workload> {
    vec![
        Workload::new(
            "text16",
            true,
            (0..SMALL_COUNT as u64)
                .map(|i| common::ascii_text(16, i + 1).into_bytes())
                .collect(),
        ),
        Workload::new("binary_1mib", false, vec![common::binary(MIB, 7)]),
    ]
}

/// Parses frames back (unmasking them) and compares them with the payloads.
fn check(who: &str, w: &Workload, masked: bool, mut wire: &[u8]) {
    let mut count = 0;
    while !wire.is_empty() {
        let expected = w
            .payloads
            .get(count)
            .unwrap_or_else(|| panic!("{who} wrote more frames than {}", w.payloads.len()));
        let opcode = if w.is_text { 0x81 } else { 0x82 };
        assert_eq!(wire[0], opcode, "{who}: frame {count} has the wrong opcode");
        assert_eq!(wire[1] & 0x80 != 0, masked, "{who}: frame {count} masking");
        let (len, mut at) = match wire[1] & 0x7F {
            126 => (usize::from(u16::from_be_bytes([wire[2], wire[3]])), 4),
            127 => (
                u64::from_be_bytes(wire[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (usize::from(n), 2),
        };
        let key = if masked {
            at += 4;
            Some([wire[at - 4], wire[at - 3], wire[at - 2], wire[at - 1]])
        } else {
            None
        };
        let payload: Vec<u8> = wire[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, b)| key.map_or(*b, |k| b ^ k[i & 3]))
            .collect();
        assert!(&payload == expected, "{who}: frame {count} payload differs");
        wire = &wire[at + len..];
        count += 1;
    }
    assert_eq!(count, w.payloads.len(), "{who} wrote too few frames");
}

/// The shared cheap key source.
struct Keys(Rng);

impl Entropy for Keys {
    fn fill(&mut self, dest: &mut [u8]) {
        self.0.fill(dest)
    }
}

impl rand_core::RngCore for Keys {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.0.next_u32()) << 32 | u64::from(self.0.next_u32())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

fn ours_encode<S: Storage, R: Entropy>(
    conn: &mut Connection<S, R>,
    w: &Workload,
    flush_at: usize,
    mut drain: impl FnMut(&[u8]),
) {
    let mut flush = |conn: &mut Connection<S, R>, at_least: usize| {
        let out = conn.pending_output();
        if out.len() >= at_least {
            drain(out);
            let n = out.len();
            conn.consume_output(n);
        }
    };
    if w.is_text {
        for text in &w.texts {
            conn.send_text(text).expect("wsmachine send");
            flush(conn, flush_at);
        }
    } else {
        for payload in &w.payloads {
            conn.send_binary(payload).expect("wsmachine send");
            flush(conn, flush_at);
        }
    }
    flush(conn, 0);
}

fn ours<'a, R: Entropy>(
    role: Role,
    output: &'a mut [u8],
    input: &'a mut [u8],
    message: &'a mut [u8],
    entropy: R,
) -> Connection<&'a mut [u8], R> {
    let mut config = Config::default();
    config.limits.max_queued_output = output.len();
    Connection::framed_with(
        role,
        Version::Hybi13,
        config,
        Buffers {
            input,
            output,
            message,
        },
        entropy,
    )
}

/// [`ours`] over the growable buffers of the default constructor, with the same limit on
/// queued output.
fn ours_default<R: Entropy>(
    role: Role,
    max_queued_output: usize,
    entropy: R,
) -> Connection<Vec<u8>, R> {
    let mut config = Config::default();
    config.limits.max_queued_output = max_queued_output;
    Connection::framed(role, Version::Hybi13, config, entropy)
}

fn tungstenite_encode(
    w: &Workload,
    key: Option<&mut Rng>,
    out: &mut Vec<u8>,
    flush_at: usize,
    mut drain: impl FnMut(&[u8]),
) {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    let opcode = OpCode::Data(if w.is_text { Data::Text } else { Data::Binary });
    out.clear();
    let mut key = key;
    for payload in &w.payloads {
        // Frames own their payload: a caller holding a slice copies it into `Bytes`.
        let mut frame = Frame::message(tungstenite::Bytes::copy_from_slice(payload), opcode, true);
        if let Some(rng) = key.as_deref_mut() {
            frame.header_mut().mask = Some(rng.next_u32().to_le_bytes());
        }
        frame.format(out).expect("tungstenite format");
        if out.len() >= flush_at {
            drain(out);
            out.clear();
        }
    }
    drain(out);
}

fn fastwebsockets_encode(
    w: &Workload,
    key: Option<&mut Rng>,
    buf: &mut Vec<u8>,
    mut drain: impl FnMut(&[u8]),
) {
    use fastwebsockets::{Frame, OpCode, Payload};
    let opcode = if w.is_text {
        OpCode::Text
    } else {
        OpCode::Binary
    };
    let mut key = key;
    for payload in &w.payloads {
        let mask = key.as_deref_mut().map(|rng| rng.next_u32().to_le_bytes());
        let mut frame = Frame::new(true, opcode, mask, Payload::Borrowed(payload));
        if mask.is_some() {
            frame.mask();
        }
        drain(frame.write(buf));
    }
}

fn embedded_encode<T: rand_core::RngCore, S: embedded_websocket::WebSocketType>(
    ws: &mut embedded_websocket::WebSocket<T, S>,
    w: &Workload,
    out: &mut [u8],
    flush_at: usize,
    mut drain: impl FnMut(&[u8]),
) {
    let kind = if w.is_text {
        embedded_websocket::WebSocketSendMessageType::Text
    } else {
        embedded_websocket::WebSocketSendMessageType::Binary
    };
    let mut at = 0;
    for payload in &w.payloads {
        at += ws
            .write(kind, true, payload, &mut out[at..])
            .expect("embedded-websocket write");
        if at >= flush_at {
            drain(&out[..at]);
            at = 0;
        }
    }
    drain(&out[..at]);
}

/// The minimal codec's encoder ([`common::minimal`], server frames only) with the same rule
/// for handing output on.
fn minimal_encode(w: &Workload, out: &mut Vec<u8>, flush_at: usize, mut drain: impl FnMut(&[u8])) {
    let opcode = if w.is_text { 1 } else { 2 };
    out.clear();
    for payload in &w.payloads {
        common::minimal::encode(out, opcode, payload);
        if out.len() >= flush_at {
            drain(out);
            out.clear();
        }
    }
    drain(out);
}

/// A server's one large message through [`Connection::send_binary_header`]: the header is
/// queued, the payload is never copied into the output, and both are handed on as one
/// vectored write hands them to a socket, which copies them into its buffer: `sink` stands
/// for that buffer, so the one copy that remains is the transport's.
/// Returns the bytes handed on.
fn ours_in_place<S: Storage, R: Entropy>(
    conn: &mut Connection<S, R>,
    w: &Workload,
    sink: &mut [u8],
) -> usize {
    let mut at = 0;
    for payload in &w.payloads {
        conn.send_binary_header(payload.len())
            .expect("wsmachine header");
        let head = conn.pending_output();
        let (h, n) = (head.len(), payload.len());
        sink[at..at + h].copy_from_slice(head);
        sink[at + h..at + h + n].copy_from_slice(payload);
        assert_eq!(conn.pending_payload(), n as u64);
        conn.consume_output(h + n);
        at += h + n;
    }
    at
}

/// One group: every encoder on the same frames, handing its output on once `flush_at` bytes
/// are pending (0: every frame as it is written).
fn bench_role(c: &mut Criterion, group_name: &str, role: Role, w: &Workload, flush_at: usize) {
    let masked = role == Role::Client;
    let mut output = vec![0u8; w.total() + 64];
    let (mut input, mut message) = (vec![0u8; 64], vec![0u8; 0]);
    let mut conn = ours(
        role,
        &mut output,
        &mut input,
        &mut message,
        Keys(Rng::new(3)),
    );
    let mut conn_default = ours_default(role, w.total() + 64, Keys(Rng::new(3)));
    // Room for what is queued before a flush, plus one frame.
    let room = w.total().min(flush_at + 2 * w.payloads[0].len() + 64);
    let mut vec_out = Vec::with_capacity(room);
    let mut slice_out = vec![0u8; room];
    let mut rng = Rng::new(3);
    let mut fast_buf = Vec::new();

    // Correctness first, outside any timing.
    let mut all = Vec::new();
    ours_encode(&mut conn, w, flush_at, |out| all.extend_from_slice(out));
    check("wsmachine", w, masked, &all);
    all.clear();
    ours_encode(&mut conn_default, w, flush_at, |out| {
        all.extend_from_slice(out)
    });
    check("wsmachine_default", w, masked, &all);
    all.clear();
    let mut minimal_out = Vec::with_capacity(room);
    if !masked {
        minimal_encode(w, &mut minimal_out, flush_at, |out| {
            all.extend_from_slice(out)
        });
        check("minimal", w, masked, &all);
        all.clear();
    }
    // The in-place send is a server's, for large binary payloads.
    let in_place = !masked && !w.is_text && w.payloads[0].len() >= 64 * 1024;
    let mut sink = vec![0u8; if in_place { w.total() + 64 } else { 0 }];
    if in_place {
        let n = ours_in_place(&mut conn, w, &mut sink);
        check("wsmachine_in_place", w, masked, &sink[..n]);
    }
    tungstenite_encode(
        w,
        masked.then_some(&mut rng),
        &mut vec_out,
        flush_at,
        |out| all.extend_from_slice(out),
    );
    check("tungstenite", w, masked, &all);
    let mut fast_all = Vec::new();
    fastwebsockets_encode(w, masked.then_some(&mut rng), &mut fast_buf, |f| {
        fast_all.extend_from_slice(f)
    });
    check("fastwebsockets", w, masked, &fast_all);
    let mut emb_server = embedded_websocket::WebSocketServer::new_server();
    emb_server.state = embedded_websocket::WebSocketState::Open;
    let mut emb_client = embedded_websocket::WebSocketClient::new_client(Keys(Rng::new(3)));
    emb_client.state = embedded_websocket::WebSocketState::Open;
    all.clear();
    if masked {
        embedded_encode(&mut emb_client, w, &mut slice_out, flush_at, |out| {
            all.extend_from_slice(out)
        });
    } else {
        embedded_encode(&mut emb_server, w, &mut slice_out, flush_at, |out| {
            all.extend_from_slice(out)
        });
    }
    check("embedded-websocket", w, masked, &all);

    let mut group = c.benchmark_group(group_name);
    if w.payloads.len() > 1 {
        group.throughput(Throughput::Elements(w.payloads.len() as u64));
    } else {
        group.throughput(Throughput::Bytes(w.payloads[0].len() as u64));
    }
    group.bench_function(BenchmarkId::new("wsmachine", w.name), |b| {
        b.iter(|| {
            ours_encode(&mut conn, w, flush_at, |out| {
                black_box(out);
            })
        })
    });
    group.bench_function(BenchmarkId::new("wsmachine_default", w.name), |b| {
        b.iter(|| {
            ours_encode(&mut conn_default, w, flush_at, |out| {
                black_box(out);
            })
        })
    });
    if masked && flush_at > 0 {
        let (mut o, mut i, mut m) = (vec![0u8; w.total() + 64], vec![0u8; 64], vec![]);
        let mut os = ours(role, &mut o, &mut i, &mut m, OsEntropy::new());
        let mut all = Vec::new();
        ours_encode(&mut os, w, flush_at, |out| all.extend_from_slice(out));
        check("wsmachine with OsEntropy", w, masked, &all);
        group.bench_function(BenchmarkId::new("wsmachine_os_entropy", w.name), |b| {
            b.iter(|| {
                ours_encode(&mut os, w, flush_at, |out| {
                    black_box(out);
                })
            })
        });
    }
    if !masked {
        group.bench_function(BenchmarkId::new("minimal", w.name), |b| {
            b.iter(|| {
                minimal_encode(w, &mut minimal_out, flush_at, |out| {
                    black_box(out);
                })
            })
        });
    }
    if in_place {
        group.bench_function(BenchmarkId::new("wsmachine_in_place", w.name), |b| {
            b.iter(|| {
                ours_in_place(&mut conn, w, &mut sink);
                black_box(&sink);
            })
        });
    }
    group.bench_function(BenchmarkId::new("tungstenite", w.name), |b| {
        b.iter(|| {
            tungstenite_encode(
                w,
                masked.then_some(&mut rng),
                &mut vec_out,
                flush_at,
                |out| {
                    black_box(out);
                },
            )
        })
    });
    group.bench_function(BenchmarkId::new("fastwebsockets", w.name), |b| {
        b.iter(|| {
            fastwebsockets_encode(w, masked.then_some(&mut rng), &mut fast_buf, |f| {
                black_box(f);
            })
        })
    });
    group.bench_function(BenchmarkId::new("embedded-websocket", w.name), |b| {
        b.iter(|| {
            let drain = |out: &[u8]| {
                black_box(out);
            };
            if masked {
                embedded_encode(&mut emb_client, w, &mut slice_out, flush_at, drain)
            } else {
                embedded_encode(&mut emb_server, w, &mut slice_out, flush_at, drain)
            }
        })
    });
    if w.payloads.len() == 1 {
        // The limit, in the same group: one plain copy of the payload.
        let mut copy = vec![0u8; w.payloads[0].len()];
        group.bench_function(BenchmarkId::new("memcpy", w.name), |b| {
            b.iter(|| {
                copy.copy_from_slice(black_box(&w.payloads[0]));
                black_box(&copy);
            })
        });
    }
    group.finish();
}

fn server_frames(c: &mut Criterion) {
    for w in server_workloads() {
        bench_role(c, "encode_server", Role::Server, &w, FLUSH_AT);
    }
    for w in server_workloads().iter().filter(|w| w.payloads.len() > 1) {
        bench_role(c, "encode_server_each", Role::Server, w, 0);
    }
}

fn client_frames(c: &mut Criterion) {
    for w in client_workloads() {
        bench_role(c, "encode_client", Role::Client, &w, FLUSH_AT);
    }
    for w in client_workloads().iter().filter(|w| w.payloads.len() > 1) {
        bench_role(c, "encode_client_each", Role::Client, w, 0);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = server_frames, client_frames
}
criterion_main!(benches);
