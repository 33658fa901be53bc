//! The async driver of the smol examples (`examples/async_ws`) under pipelined input: it waits
//! for readiness after a read that emptied its stream and reads at once after one that filled
//! its buffer, a connection whose stream never runs dry yields to the other tasks after each
//! turn of its budget, and a turn that ends with input still undecoded never waits on a peer
//! that is itself waiting for the answers.

#[allow(dead_code)] // the tests use a part of the driver
#[path = "../examples/async_ws/mod.rs"]
mod async_ws;

mod common;

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use async_ws::{AsyncWebSocket, Transport};
use common::{client_frame, server_frame, RFC_REQUEST};
use futures_io::{AsyncRead, AsyncWrite};
use wsmachine::blocking::WebSocket;
use wsmachine::drive::{Decision, Message};
use wsmachine::Config;
use wsmachine::{ClientRequest, CloseCode, OsEntropy, Owed};

/// A stream that gives the request, then text frames: one frame per read (`short`), or as
/// many as the read buffer holds, forever. Reads and readiness waits are logged.
struct Frames {
    request: Option<Vec<u8>>,
    frame: Vec<u8>,
    /// Position in the endless run of frames.
    at: usize,
    short: bool,
    log: Vec<&'static str>,
}

impl Frames {
    fn new(short: bool) -> Self {
        Frames {
            request: Some(RFC_REQUEST.to_vec()),
            frame: client_frame(0x81, b"hello", [1, 2, 3, 4]),
            at: 0,
            short,
            log: Vec::new(),
        }
    }
}

impl AsyncRead for Frames {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.log.push("read");
        if let Some(request) = self.request.take() {
            buf[..request.len()].copy_from_slice(&request);
            return Poll::Ready(Ok(request.len()));
        }
        let want = if self.short {
            self.frame.len()
        } else {
            buf.len()
        };
        for b in &mut buf[..want] {
            *b = self.frame[self.at % self.frame.len()];
            self.at += 1;
        }
        Poll::Ready(Ok(want))
    }
}

impl AsyncWrite for Frames {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for Frames {
    fn poll_readable(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.log.push("ready");
        Poll::Ready(Ok(()))
    }
}

async fn accept(short: bool) -> AsyncWebSocket<Frames> {
    AsyncWebSocket::accept_with(Frames::new(short), Config::default(), |_| {
        Decision::accept()
    })
    .await
    .expect("accept")
}

async fn read_hellos(ws: &mut AsyncWebSocket<Frames>, n: usize) {
    for _ in 0..n {
        let message = ws.read().await.expect("read");
        assert_eq!(message, Message::Text("hello".into()));
    }
}

#[test]
fn a_read_that_emptied_the_stream_waits_for_readiness_and_a_full_one_does_not() {
    smol::block_on(async {
        let mut ws = accept(true).await;
        read_hellos(&mut ws, 100).await;
        let log = &ws.get_mut().log;
        // The request's read was short too: every later read waits for readiness first.
        let reads = log.iter().filter(|op| **op == "read").count();
        assert_eq!(reads, 101, "one read per frame");
        for (i, pair) in log.windows(2).enumerate() {
            if pair[1] == "read" {
                assert_eq!(pair[0], "ready", "read {i} without readiness: {log:?}");
            }
        }

        let mut ws = accept(false).await;
        read_hellos(&mut ws, 10_000).await;
        let log = &ws.get_mut().log;
        assert!(log.iter().filter(|op| **op == "read").count() > 2);
        // Besides the read after the short request, only the ends of the budget's turns ask
        // for readiness: at the first read boundary after 256 events, so at most one per 256.
        let reads = log.iter().filter(|op| **op == "read").count();
        let readiness = log.iter().filter(|op| **op == "ready").count();
        assert!(
            readiness > 1 && readiness <= 1 + 10_000 / 256 && readiness <= reads,
            "{readiness} readiness waits in {reads} reads"
        );
    });
}

#[test]
fn a_stream_that_never_runs_dry_yields_to_the_other_tasks() {
    let executor = smol::LocalExecutor::new();
    let others = Rc::new(Cell::new(0u32));
    let done = Rc::new(Cell::new(false));
    let counter = {
        let (others, done) = (others.clone(), done.clone());
        executor.spawn(async move {
            while !done.get() {
                others.set(others.get() + 1);
                futures_lite::future::yield_now().await;
            }
        })
    };
    let busy = executor.spawn(async move {
        let mut ws = accept(false).await;
        let before = others.get();
        read_hellos(&mut ws, 16_000).await;
        done.set(true);
        let readiness = ws.get_mut().log.iter().filter(|op| **op == "ready").count();
        (others.get() - before, readiness)
    });
    let (turns, readiness) = smol::block_on(executor.run(async {
        let turns = busy.await;
        counter.await;
        turns
    }));
    // Each turn ends by asking for the stream's readiness (the reactor's, on a real socket;
    // this one is ready at once, so the task yields), besides the one wait after the short
    // request; the other task runs once a turn.
    assert_eq!(
        readiness,
        turns as usize + 1,
        "readiness asked {readiness} times in {turns} turns"
    );
    // A turn ends at the first read boundary after 256 events: at most one per 256, and here
    // one per 16 KiB read (about 1,500 of these 11-byte frames).
    assert!(
        (5..=16_000 / 256).contains(&turns),
        "the other task ran {turns} times while 16,000 messages were read"
    );
}

/// A peer that sends a burst of frames at once and then nothing until it has every echo back,
/// like a load tool with messages in flight: readable while its burst lasts, then pending
/// until the echoes are all written, when it sends a close.
struct Burst {
    input: Vec<u8>,
    at: usize,
    written: Vec<u8>,
    /// The echoes the peer waits for.
    expected: Vec<u8>,
    closed: bool,
}

impl AsyncRead for Burst {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let left = &this.input[this.at..];
        if left.is_empty() {
            // Nothing wakes this: only the driver's own writes bring more input.
            return Poll::Pending;
        }
        let n = left.len().min(buf.len());
        buf[..n].copy_from_slice(&left[..n]);
        this.at += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Burst {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.written.extend_from_slice(b);
        if !this.closed && this.written.len() >= this.expected.len() {
            this.closed = true;
            let close = client_frame(0x88, &[0x03, 0xE8], [9, 8, 7, 6]);
            this.input.extend_from_slice(&close);
        }
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for Burst {
    fn poll_readable(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.at < self.input.len() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn a_turn_that_ends_mid_burst_never_waits_on_a_peer_waiting_for_its_echoes() {
    // Bursts around the event budget (256 per turn) and past the byte budget (256 KiB), each
    // arriving before the server reads: the turn ends with frames undecoded and echoes
    // queued, and the peer sends nothing more until it has them all.
    let bursts: [(usize, usize); 7] = [
        (255, 20),
        (256, 20),
        (257, 20),
        (300, 20),
        (1000, 20),
        (40, 16 * 1024),
        (70, 8 * 1024),
    ];
    for (count, size) in bursts {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for i in 0..count {
            let payload: Vec<u8> = (0..size).map(|j| (i + j) as u8).collect();
            input.extend(client_frame(0x82, &payload, [1, 2, 3, (i % 251) as u8]));
            expected.extend(server_frame(0x82, &payload));
        }
        let burst = Burst {
            input: RFC_REQUEST.to_vec(),
            at: 0,
            written: Vec::new(),
            expected: Vec::new(),
            closed: true,
        };
        let served = smol::block_on(smol::future::or(
            async {
                let mut ws =
                    AsyncWebSocket::accept_with(burst, Config::default(), |_| Decision::accept())
                        .await
                        .expect("accept");
                let peer = ws.get_mut();
                peer.written.clear();
                peer.input = input;
                peer.at = 0;
                peer.expected = expected.clone();
                peer.closed = false;
                async_ws::echo(&mut ws, "burst").await;
                Some(std::mem::take(&mut ws.get_mut().written))
            },
            async {
                smol::Timer::after(std::time::Duration::from_secs(10)).await;
                None
            },
        ));
        let written = served.unwrap_or_else(|| {
            panic!("{count} × {size} B: the server stopped with echoes owed to a waiting peer")
        });
        let close_reply = server_frame(0x88, &[0x03, 0xE8]);
        assert_eq!(
            written.len(),
            expected.len() + close_reply.len(),
            "{count} × {size} B"
        );
        assert!(
            written.starts_with(&expected),
            "{count} × {size} B: echoes differ"
        );
        assert!(
            written.ends_with(&close_reply),
            "{count} × {size} B: no close reply"
        );
    }
}

/// A smol socket has no readiness of its own: its reads wait.
impl Transport for smol::net::TcpStream {}

enum ToWriter {
    Echo(Message),
    Owed(Owed),
}

#[test]
fn split_halves_in_two_tasks_echo_answer_pings_and_close() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let client = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout");
        let request = ClientRequest::new("127.0.0.1", "/");
        let (mut ws, _) =
            WebSocket::connect_with(stream, &request, Config::default(), OsEntropy::new())
                .expect("handshake");
        ws.connection().ping(b"are you there").expect("ping");
        for i in 0..50 {
            ws.queue_text(&format!("text {i}")).expect("queue");
        }
        ws.send_binary(&[0, 1, 2, 255]).expect("send");
        let mut got = Vec::new();
        while got.len() < 52 {
            got.push(ws.read().expect("read"));
        }
        ws.close(Some(CloseCode::NORMAL), "done").expect("close");
        let end = ws.read().expect("close reply");
        (got, end)
    });
    let (stream, _) = listener.accept().expect("accept");
    let stream = smol::net::TcpStream::try_from(stream).expect("async");
    smol::block_on(async {
        let ws = AsyncWebSocket::accept_with(stream, Config::default(), |_| Decision::accept())
            .await
            .expect("accept");
        let (mut reader, mut writer) = ws.into_split(|s| (s.clone(), s)).await.expect("split");
        let (to_writer, from_reader) = smol::channel::unbounded();
        let reading = smol::spawn(async move {
            loop {
                let message = reader.read().await;
                if let Some(owed) = reader.take_owed() {
                    to_writer
                        .send(ToWriter::Owed(owed))
                        .await
                        .expect("writer gone");
                }
                match message.expect("read") {
                    m @ (Message::Text(_) | Message::Binary(_)) => to_writer
                        .send(ToWriter::Echo(m))
                        .await
                        .expect("writer gone"),
                    Message::Close { code, .. } => return code,
                    _ => {}
                }
            }
        });
        while let Ok(next) = from_reader.recv().await {
            match next {
                ToWriter::Echo(Message::Text(t)) => writer.queue_text(&t).await.expect("queue"),
                ToWriter::Echo(Message::Binary(b)) => writer.queue_binary(&b).await.expect("queue"),
                ToWriter::Echo(_) => unreachable!("only messages are echoed"),
                ToWriter::Owed(owed) => writer.handle_owed(owed).expect("owed"),
            }
            if from_reader.is_empty() {
                writer.flush().await.expect("flush");
            }
        }
        assert_eq!(reading.await, Some(CloseCode::NORMAL));
    });
    let (got, end) = client.join().expect("client");
    assert!(
        matches!(&got[0], Message::Pong { payload, .. } if payload == b"are you there"),
        "{:?}",
        got[0]
    );
    for (i, message) in got[1..51].iter().enumerate() {
        assert_eq!(message, &Message::Text(format!("text {i}")));
    }
    assert_eq!(got[51], Message::Binary(vec![0, 1, 2, 255]));
    assert!(
        matches!(
            end,
            Message::Close {
                code: Some(CloseCode::NORMAL),
                clean: true,
                ..
            }
        ),
        "{end:?}"
    );
}

/// A stream that takes no bytes: every write waits for ever.
struct Stuck;

impl AsyncRead for Stuck {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Pending
    }
}

impl AsyncWrite for Stuck {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Pending
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for Stuck {}

#[test]
fn a_write_without_progress_fails_at_its_deadline_and_keeps_the_output() {
    smol::block_on(async {
        let stream = async_ws::WriteDeadline::new(
            Stuck,
            std::time::Duration::from_millis(20),
            smol::Timer::after,
        );
        let conn =
            wsmachine::Connection::framed_server(wsmachine::Version::Hybi13, Config::default());
        let mut ws = AsyncWebSocket::from_open(stream, conn);
        let started = std::time::Instant::now();
        let err = ws
            .send_text("never taken")
            .await
            .expect_err("the deadline passed");
        assert!(started.elapsed() >= std::time::Duration::from_millis(20));
        match err {
            wsmachine::blocking::Error::Io(e) => {
                assert_eq!(e.kind(), io::ErrorKind::Other);
                assert!(e.to_string().contains("took no bytes for 20 ms"), "{e}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // Nothing left the queue: the message is still there to send.
        assert!(!ws.connection().pending_output().is_empty());
    });
}

/// A server's large binary messages go out from the caller's buffer (vectored writes after
/// the header): over a real socket, beside small messages and from the split writer too,
/// every message arrives whole and in order.
#[test]
fn large_binary_messages_are_written_in_place_and_arrive_whole() {
    let sizes = [5usize, 16 * 1024, 16 * 1024 - 1, 3 << 20, 100, 70_000];
    let payload = |size: usize| -> Vec<u8> { (0..size).map(|i| (i * 13 + size) as u8).collect() };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let client = std::thread::spawn(move || {
        let stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .expect("timeout");
        let request = ClientRequest::new("127.0.0.1", "/");
        let (mut ws, _) =
            WebSocket::connect_with(stream, &request, Config::default(), OsEntropy::new())
                .expect("handshake");
        (0..sizes.len() + 2)
            .map(|_| ws.read().expect("read"))
            .collect::<Vec<_>>()
    });
    let (stream, _) = listener.accept().expect("accept");
    let stream = smol::net::TcpStream::try_from(stream).expect("async");
    smol::block_on(async {
        let mut ws = AsyncWebSocket::accept_with(stream, Config::default(), |_| Decision::accept())
            .await
            .expect("accept");
        for size in sizes {
            ws.send_binary(&payload(size)).await.expect("send");
        }
        let (_reader, mut writer) = ws.into_split(|s| (s.clone(), s)).await.expect("split");
        writer.send_binary(&payload(1 << 20)).await.expect("send");
        writer.send_text("done").await.expect("send");
    });
    let got = client.join().expect("client");
    for (size, message) in sizes.into_iter().chain([1 << 20]).zip(&got) {
        assert!(
            *message == Message::Binary(payload(size)),
            "message of {size} B differs"
        );
    }
    assert_eq!(got.last(), Some(&Message::Text("done".into())));
}

/// Takes `budget` bytes, then never makes progress again; records every byte it took.
struct Clogged {
    budget: usize,
    wire: Vec<u8>,
}

impl AsyncRead for Clogged {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Pending
    }
}

impl AsyncWrite for Clogged {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.budget == 0 {
            return Poll::Pending;
        }
        let n = b.len().min(self.budget);
        self.budget -= n;
        self.wire.extend_from_slice(&b[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for Clogged {}

/// A large send dropped half-way (a timeout around it, a task cancelled) leaves the rest of
/// its payload in the output: the next flush finishes the message, and what follows it is
/// framed as usual.
#[test]
fn a_large_send_dropped_half_way_leaves_the_rest_for_the_next_flush() {
    let data: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 227) as u8).collect();
    let conn = wsmachine::Connection::framed_server(wsmachine::Version::Hybi13, Config::default());
    let mut ws = AsyncWebSocket::from_open(
        Clogged {
            budget: 700,
            wire: Vec::new(),
        },
        conn,
    );
    smol::block_on(async {
        let send = ws.send_binary(&data);
        // One poll: 700 bytes go out, then the stream makes no progress; the send is dropped.
        assert!(futures_lite::future::poll_once(send).await.is_none());
    });
    assert_eq!(ws.connection().pending_payload(), 0);
    ws.get_mut().budget = usize::MAX;
    smol::block_on(async {
        ws.flush().await.expect("flush");
        ws.send_text("next").await.expect("send");
    });
    let mut expected = server_frame(0x82, &data);
    expected.extend(server_frame(0x81, b"next"));
    assert!(ws.get_mut().wire == expected, "wire differs");
}
