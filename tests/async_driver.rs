//! The async driver of the smol examples (`examples/async_ws`) under pipelined input: it waits
//! for readiness after a read that emptied its stream and reads at once after one that filled
//! its buffer, and a connection whose stream never runs dry yields to the other tasks after
//! each turn of its budget.

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
use common::{client_frame, RFC_REQUEST};
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
        // Only the read after the short request waited for a read's sake; the rest end the
        // turns of the default budget (256 events each).
        let readiness = log.iter().filter(|op| **op == "ready").count();
        assert_eq!(readiness, 1 + 10_000 / 256, "{log:?}");
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
        read_hellos(&mut ws, 2560).await;
        done.set(true);
        let readiness = ws.get_mut().log.iter().filter(|op| **op == "ready").count();
        (others.get() - before, readiness)
    });
    let (turns, readiness) = smol::block_on(executor.run(async {
        let turns = busy.await;
        counter.await;
        turns
    }));
    // Each turn ends by asking for the stream's readiness (the reactor's, on a real socket),
    // besides the one wait after the short request.
    assert!(readiness >= 10, "readiness asked {readiness} times");
    // 2,560 messages are ten turns of the default budget (256 events).
    assert!(
        (9..=11).contains(&turns),
        "the other task ran {turns} times while 2,560 messages were read"
    );
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
