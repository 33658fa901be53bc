//! The server's opening handshake: parse a browser's request and build the answer, per version.
//!
//! wsmachine runs a fresh connection on caller-owned slices per handshake (receive, the request
//! event, accept, the answer in its output). The peers do the same through their server
//! handshake APIs on an in-memory stream (tungstenite, tokio-websockets) or on the request bytes
//! (embedded-websocket, after `httparse`, as its docs show); they speak RFC 6455 only.
//!
//! Before timing, every answer is checked against the accept keys given in the specifications.

mod common;

use std::hint::black_box;

use common::{MemStream, Source};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wsmachine::handshake::Accept;
use wsmachine::{Buffers, Config, Connection, Event};

/// A request as a current browser sends it, with the RFC 6455 §1.3 sample key.
const HYBI13: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: session=7f3a9c; theme=dark\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

const HYBI08: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Version: 8\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:7.0) Gecko/20100101 Firefox/7.0\r\n\
\r\n";

const HYBI07: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Version: 7\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:6.0) Gecko/20100101 Firefox/6.0\r\n\
\r\n";

/// The example of draft-hixie-thewebsocketprotocol-76 §1.3, with its 8 key bytes.
const HIXIE76: &[u8] = b"GET /demo HTTP/1.1\r\n\
Host: example.com\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
Sec-WebSocket-Protocol: sample\r\n\
Upgrade: WebSocket\r\n\
Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
Origin: http://example.com\r\n\
\r\n\
^n:ds[4U";

const HIXIE75: &[u8] = b"GET /demo HTTP/1.1\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Host: example.com\r\n\
Origin: http://example.com\r\n\
\r\n";

/// What each answer must contain, from the specifications' examples.
const RFC6455_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const HIXIE76_ANSWER: &str = "8jKS'y:G*Co,Wxa-";
const HIXIE75_LOCATION: &str = "WebSocket-Location: ws://example.com/demo";

/// Runs one handshake; returns the answer's length.
fn ours(request: &[u8], mem: &mut [u8], check: Option<&str>) -> usize {
    let (input, rest) = mem.split_at_mut(4096);
    let (output, message) = rest.split_at_mut(4096);
    let mut conn = Connection::server_with(
        Config::default(),
        Buffers {
            input,
            output,
            message,
        },
    );
    assert_eq!(conn.receive(request), request.len());
    match conn.poll_event() {
        Ok(Some(Event::Request(request))) => {
            black_box(request.path());
        }
        other => panic!("expected a request, got {other:?}"),
    }
    conn.accept(Accept::new()).expect("accept");
    let answer = conn.pending_output();
    if let Some(needle) = check {
        let text = String::from_utf8_lossy(answer);
        assert!(
            text.starts_with("HTTP/1.1 101"),
            "wsmachine answered {text}"
        );
        assert!(
            text.contains(needle),
            "wsmachine's answer lacks {needle}: {text}"
        );
    }
    answer.len()
}

fn tungstenite_accept(source: &Source, keep: bool) -> MemStream {
    source.rewind();
    let mut stream = MemStream::new(source.clone());
    stream.keep = keep;
    let ws = tungstenite::accept(stream).expect("tungstenite accept");
    ws.into_inner()
}

fn tokio_websockets_accept(source: &Source, keep: bool) -> MemStream {
    source.rewind();
    let mut stream = MemStream::new(source.clone());
    stream.keep = keep;
    let (request, ws) = common::run(tokio_websockets::ServerBuilder::new().accept(stream))
        .expect("tokio-websockets accept");
    black_box(request.uri());
    ws.into_inner()
}

fn embedded_accept(request: &[u8], out: &mut [u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    assert!(parsed.parse(request).expect("httparse").is_complete());
    black_box(parsed.path);
    let context =
        embedded_websocket::read_http_header(parsed.headers.iter().map(|h| (h.name, h.value)))
            .expect("embedded-websocket header")
            .expect("embedded-websocket: not a websocket request");
    let mut ws = embedded_websocket::WebSocketServer::new_server();
    ws.server_accept(&context.sec_websocket_key, None, out)
        .expect("embedded-websocket accept")
}

fn check_answer(who: &str, answer: &[u8]) {
    let text = String::from_utf8_lossy(answer);
    assert!(text.starts_with("HTTP/1.1 101"), "{who} answered {text}");
    assert!(
        text.contains(RFC6455_ACCEPT),
        "{who}'s answer lacks the key: {text}"
    );
}

fn handshakes(c: &mut Criterion) {
    let mut mem = vec![0u8; 3 * 4096];
    let versions: [(&str, &[u8], &str); 5] = [
        ("hybi13", HYBI13, RFC6455_ACCEPT),
        ("hybi08", HYBI08, RFC6455_ACCEPT),
        ("hybi07", HYBI07, RFC6455_ACCEPT),
        ("hixie76", HIXIE76, HIXIE76_ANSWER),
        ("hixie75", HIXIE75, HIXIE75_LOCATION),
    ];
    let source = Source::new(HYBI13);
    let mut out = [0u8; 1024];

    for (_, request, needle) in versions {
        ours(request, &mut mem, Some(needle));
    }
    check_answer("tungstenite", &tungstenite_accept(&source, true).kept);
    check_answer(
        "tokio-websockets",
        &tokio_websockets_accept(&source, true).kept,
    );
    let n = embedded_accept(HYBI13, &mut out);
    check_answer("embedded-websocket", &out[..n]);

    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Elements(1));
    for (name, request, _) in versions {
        group.bench_function(BenchmarkId::new("wsmachine", name), |b| {
            b.iter(|| ours(black_box(request), &mut mem, None))
        });
    }
    group.bench_function(BenchmarkId::new("tungstenite", "hybi13"), |b| {
        b.iter(|| tungstenite_accept(&source, false).written)
    });
    group.bench_function(BenchmarkId::new("tokio-websockets", "hybi13"), |b| {
        b.iter(|| tokio_websockets_accept(&source, false).written)
    });
    group.bench_function(BenchmarkId::new("embedded-websocket", "hybi13"), |b| {
        b.iter(|| embedded_accept(black_box(HYBI13), &mut out))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = handshakes
}
criterion_main!(benches);
