//! Server-side decoding of masked client frames: wsmachine against its peers on the same bytes.
//!
//! What is timed, for every decoder alike: taking the masked wire bytes from a pristine buffer
//! (the one copy a socket read costs), finding the frames, unmasking, validating text, and
//! handing every message to the caller. wsmachine is fed with `Connection::receive` (the copy
//! into its input) on caller-owned slices, the path a user without a read buffer of their own
//! takes; `wsmachine_default` is the path a new user is shown: growable buffers from
//! `Connection::framed_server`, the bytes copied into `read_buffer` (as a socket read would)
//! and marked with `commit_read`. The stream peers read the same bytes through an in-memory
//! `Read`/`AsyncRead`, and embedded-websocket copies (unmasking) from the wire slice into the
//! caller's buffer.
//! Connections live across iterations, as they do in a server.
//!
//! Before timing, every decoder's output is compared byte for byte with the payloads.

mod common;

use std::hint::black_box;

use common::{check_payloads, MemStream, Source, Workload, MIB};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsmachine::{Buffers, Config, Connection, Event, NoEntropy, Storage, Version};

/// How much wsmachine takes per `receive` for small frames: what its blocking driver reads at a
/// time (`read_buffer` sizes a growable input to 16 KiB). With 64 KiB the copied frames leave
/// the 48 KiB L1 cache before they are decoded, and 125-byte binary frames decode about 15%
/// slower.
const SMALL_INPUT: usize = 16 * 1024;

/// The limits of every wsmachine connection here: room for the 1 MiB messages.
fn config() -> Config {
    let mut config = Config::default();
    config.limits.max_frame_payload = 2 * MIB;
    config.limits.max_message_size = 2 * MIB;
    config
}

struct Ours<S: Storage> {
    conn: Connection<S, NoEntropy>,
}

impl<'a> Ours<&'a mut [u8]> {
    fn new(input: &'a mut [u8], output: &'a mut [u8], message: &'a mut [u8]) -> Self {
        Ours {
            conn: Connection::framed_server_with(
                Version::Hybi13,
                config(),
                Buffers {
                    input,
                    output,
                    message,
                },
            ),
        }
    }
}

impl Ours<Vec<u8>> {
    /// Growable buffers from the default constructor, with the same limits.
    fn new_default() -> Self {
        Ours {
            conn: Connection::framed_server(Version::Hybi13, config()),
        }
    }
}

impl<S: Storage> Ours<S> {
    /// Decodes all of `wire`, giving each message to `each`; returns the message count.
    fn decode(&mut self, wire: &[u8], mut each: impl FnMut(&[u8])) -> usize {
        let mut count = 0;
        let mut rest = wire;
        while !rest.is_empty() {
            let n = self.conn.receive(rest);
            rest = &rest[n..];
            self.poll_all(&mut count, &mut each);
            assert!(n > 0 || rest.is_empty(), "wsmachine input stalled");
        }
        count
    }

    /// [`Ours::decode`] through `read_buffer` and `commit_read`: each time, as much of `wire`
    /// as the input offers (at most `chunk` bytes) is copied in, as a socket read would.
    fn decode_read(&mut self, wire: &[u8], chunk: usize, mut each: impl FnMut(&[u8])) -> usize {
        let mut count = 0;
        let mut rest = wire;
        while !rest.is_empty() {
            let buf = self.conn.read_buffer();
            let n = buf.len().min(chunk).min(rest.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.conn.commit_read(n);
            rest = &rest[n..];
            self.poll_all(&mut count, &mut each);
            assert!(n > 0 || rest.is_empty(), "wsmachine read_buffer stalled");
        }
        count
    }

    /// Polls every event the input holds, giving each message to `each`.
    #[inline(always)]
    fn poll_all(&mut self, count: &mut usize, each: &mut impl FnMut(&[u8])) {
        loop {
            match self.conn.poll_event() {
                Ok(Some(Event::Text(text))) => {
                    each(text.as_bytes());
                    *count += 1;
                }
                Ok(Some(Event::Binary(data))) => {
                    each(data);
                    *count += 1;
                }
                Ok(Some(other)) => panic!("unexpected event {other:?}"),
                Ok(None) => break,
                Err(e) => panic!("wsmachine failed: {e}"),
            }
        }
    }
}

fn tungstenite_socket(source: &Source) -> tungstenite::WebSocket<MemStream> {
    tungstenite::WebSocket::from_raw_socket(
        MemStream::new(source.clone()),
        tungstenite::protocol::Role::Server,
        None,
    )
}

fn tungstenite_decode(
    ws: &mut tungstenite::WebSocket<MemStream>,
    count: usize,
    mut each: impl FnMut(&[u8]),
) {
    for _ in 0..count {
        match ws.read().expect("tungstenite failed") {
            tungstenite::Message::Text(text) => each(text.as_bytes()),
            tungstenite::Message::Binary(data) => each(&data),
            other => panic!("unexpected message {other:?}"),
        }
    }
}

fn fastwebsockets_decode(
    ws: &mut fastwebsockets::WebSocket<MemStream>,
    count: usize,
    mut each: impl FnMut(&[u8]),
) {
    common::run(async {
        for _ in 0..count {
            let frame = ws.read_frame().await.expect("fastwebsockets failed");
            each(&frame.payload);
        }
    })
}

fn tokio_websockets_decode(
    ws: &mut tokio_websockets::WebSocketStream<MemStream>,
    count: usize,
    mut each: impl FnMut(&[u8]),
) {
    use futures_lite::StreamExt;
    common::run(async {
        for _ in 0..count {
            let message = ws
                .next()
                .await
                .expect("tokio-websockets ended")
                .expect("tokio-websockets failed");
            each(message.as_payload());
        }
    })
}

/// embedded-websocket does not validate text; a user must, so text is checked with
/// `core::str::from_utf8` after each message.
fn embedded_decode(
    ws: &mut embedded_websocket::WebSocketServer,
    wire: &[u8],
    to: &mut [u8],
    is_text: bool,
    mut each: impl FnMut(&[u8]),
) -> usize {
    let mut count = 0;
    let mut at = 0;
    while at < wire.len() {
        let result = ws.read(&wire[at..], to).expect("embedded-websocket failed");
        at += result.len_from;
        assert!(result.end_of_message, "embedded-websocket split a frame");
        let payload = &to[..result.len_to];
        if is_text {
            core::str::from_utf8(payload).expect("embedded-websocket: invalid text");
        }
        each(payload);
        count += 1;
    }
    count
}

fn embedded_server() -> embedded_websocket::WebSocketServer {
    let mut ws = embedded_websocket::WebSocketServer::new_server();
    ws.state = embedded_websocket::WebSocketState::Open;
    ws
}

/// The minimal codec ([`common::minimal`]) fed as wsmachine is: the wire copied into its
/// buffer `buf.len()` bytes at a time (the socket read), a partial frame moved to the front.
fn minimal_decode(buf: &mut [u8], wire: &[u8], mut each: impl FnMut(&[u8])) -> usize {
    let (mut count, mut filled, mut rest) = (0, 0, wire);
    while !rest.is_empty() {
        let n = rest.len().min(buf.len() - filled);
        buf[filled..filled + n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
        filled += n;
        let used = common::minimal::decode(&mut buf[..filled], |p| {
            count += 1;
            each(p)
        });
        buf.copy_within(used..filled, 0);
        filled -= used;
        assert!(n > 0 || used > 0, "minimal: input stalled");
    }
    count
}

fn collect(decode: impl FnOnce(&mut dyn FnMut(&[u8]))) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    decode(&mut |p: &[u8]| got.push(p.to_vec()));
    got
}

fn bench_workload(c: &mut Criterion, group_name: &str, w: &Workload, input_len: usize) {
    let count = w.payloads.len();
    let source = Source::new(&w.wire);
    let mut input = vec![0u8; input_len];
    let mut output = vec![0u8; 4096];
    let mut message = vec![0u8; 0];
    let mut ours = Ours::new(&mut input, &mut output, &mut message);
    let mut ours_default = Ours::new_default();
    // Caller-owned buffers again, read into through `read_buffer` as the default path is: what
    // the read path costs, apart from the storage.
    let (mut input_r, mut output_r, mut message_r) =
        (vec![0u8; input_len], vec![0u8; 4096], vec![]);
    let mut ours_read = Ours::new(&mut input_r, &mut output_r, &mut message_r);
    let mut tung = tungstenite_socket(&source);
    let mut fast = fastwebsockets::WebSocket::after_handshake(
        MemStream::new(source.clone()),
        fastwebsockets::Role::Server,
    );
    let mut tws = tokio_websockets::ServerBuilder::new()
        .limits(tokio_websockets::Limits::default().max_payload_len(Some(4 * MIB)))
        .serve(MemStream::new(source.clone()));
    let mut emb = embedded_server();
    let mut emb_to = vec![0u8; w.payloads.iter().map(Vec::len).max().unwrap_or(0)];

    // Correctness first, outside any timing.
    check_payloads(
        "wsmachine",
        w,
        &collect(|f| {
            ours.decode(&w.wire, f);
        }),
    );
    check_payloads(
        "wsmachine_default",
        w,
        &collect(|f| {
            ours_default.decode_read(&w.wire, input_len, f);
        }),
    );
    check_payloads(
        "wsmachine_read",
        w,
        &collect(|f| {
            ours_read.decode_read(&w.wire, input_len, f);
        }),
    );
    let mut minimal_buf = vec![0u8; input_len];
    check_payloads(
        "minimal",
        w,
        &collect(|f| {
            minimal_decode(&mut minimal_buf, &w.wire, f);
        }),
    );
    source.rewind();
    check_payloads(
        "tungstenite",
        w,
        &collect(|f| tungstenite_decode(&mut tung, count, f)),
    );
    source.rewind();
    check_payloads(
        "fastwebsockets",
        w,
        &collect(|f| fastwebsockets_decode(&mut fast, count, f)),
    );
    source.rewind();
    check_payloads(
        "tokio-websockets",
        w,
        &collect(|f| tokio_websockets_decode(&mut tws, count, f)),
    );
    check_payloads(
        "embedded-websocket",
        w,
        &collect(|f| {
            embedded_decode(&mut emb, &w.wire, &mut emb_to, w.is_text, f);
        }),
    );

    let mut group = c.benchmark_group(group_name);
    if count > 1 {
        group.throughput(Throughput::Elements(count as u64));
    } else {
        group.throughput(Throughput::Bytes(w.payload_bytes()));
    }
    let sink = |p: &[u8]| {
        black_box(p);
    };
    group.bench_function(BenchmarkId::new("wsmachine", w.name), |b| {
        b.iter(|| ours.decode(black_box(&w.wire), sink))
    });
    group.bench_function(BenchmarkId::new("wsmachine_default", w.name), |b| {
        b.iter(|| ours_default.decode_read(black_box(&w.wire), input_len, sink))
    });
    group.bench_function(BenchmarkId::new("wsmachine_read", w.name), |b| {
        b.iter(|| ours_read.decode_read(black_box(&w.wire), input_len, sink))
    });
    group.bench_function(BenchmarkId::new("minimal", w.name), |b| {
        b.iter(|| minimal_decode(&mut minimal_buf, black_box(&w.wire), sink))
    });
    group.bench_function(BenchmarkId::new("tungstenite", w.name), |b| {
        b.iter(|| {
            source.rewind();
            tungstenite_decode(&mut tung, count, sink)
        })
    });
    group.bench_function(BenchmarkId::new("fastwebsockets", w.name), |b| {
        b.iter(|| {
            source.rewind();
            fastwebsockets_decode(&mut fast, count, sink)
        })
    });
    group.bench_function(BenchmarkId::new("tokio-websockets", w.name), |b| {
        b.iter(|| {
            source.rewind();
            tokio_websockets_decode(&mut tws, count, sink)
        })
    });
    group.bench_function(BenchmarkId::new("embedded-websocket", w.name), |b| {
        b.iter(|| embedded_decode(&mut emb, black_box(&w.wire), &mut emb_to, w.is_text, sink))
    });
    if count == 1 {
        // The limit, measured in the same group so that the ratio compares like with like
        // on a machine whose load varies: one plain copy of the same wire bytes.
        let mut copy = vec![0u8; w.wire.len()];
        group.bench_function(BenchmarkId::new("memcpy", w.name), |b| {
            b.iter(|| {
                copy.copy_from_slice(black_box(&w.wire));
                black_box(&copy);
            })
        });
    }
    group.finish();
}

fn small_frames(c: &mut Criterion) {
    for w in common::small_workloads() {
        bench_workload(c, "decode_small", &w, SMALL_INPUT);
    }
}

fn large_messages(c: &mut Criterion) {
    for w in common::large_workloads() {
        bench_workload(c, "decode_1mib", &w, MIB + 64);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = small_frames, large_messages
}
criterion_main!(benches);
