//! permessage-deflate (RFC 7692): a JSON corpus echoed through compression, wsmachine against
//! soketto and ratchet.
//!
//! A client and a server of each engine are connected in memory (no sockets), their handshake
//! done with compression agreed. The client sends the [`common::json_corpus`] messages one at a
//! time as text; the server reads each and echoes it; the client reads the echo before sending
//! the next. Every payload byte is therefore compressed and decompressed twice (once each way):
//! the throughput is JSON payload bytes through the full echo per second. Connections live
//! across iterations, as in a server.
//!
//! The engines and their settings:
//!
//! - `wsmachine`: `DeflateConfig::new()` on both ends: context takeover both ways, 15-bit
//!   windows, level 6 (`miniz_oxide`, pure Rust);
//! - `ratchet` (ratchet_rs with its `deflate` feature): the same settings, context takeover both
//!   ways, 15-bit windows, level 6 (flate2 over zlib);
//! - `soketto` (with its `deflate` feature): what it can do, which is fixed: its client asks for
//!   no context takeover both ways and will not enable compression without it, and it compresses
//!   at `Compression::fast()` (level 1) with a fresh compressor and decompressor per message
//!   (flate2 over zlib);
//! - `wsmachine_no_context_level1`: wsmachine with soketto's settings (no context takeover both
//!   ways, level 1), to compare the engines on equal terms;
//! - `wsmachine_uncompressed`: wsmachine without the extension, the cost of the echo alone.
//!
//! The peers hand a text message over as bytes without checking its UTF-8 (wsmachine's
//! `Event::Text` is a checked `&str`), so `core::str::from_utf8` is added on both of their ends,
//! as their users must to echo or use the text.
//!
//! Before timing, one pass over the corpus on fresh connections checks every echo against what
//! was sent and counts the bytes each direction put on the wire (frame headers and masking keys
//! included): the compression ratio, wire bytes / payload bytes, is printed once per run and
//! kept in `$TARGET/criterion/deflate_ratio.txt` for `benches/report.sh`.

mod common;

use std::hint::black_box;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wsmachine::deflate::DeflateConfig;
use wsmachine::handshake::Accept;
use wsmachine::{ClientRequest, Config, Connection, Event, KeySource, NoEntropy, OsEntropy};

/// One direction of an in-memory stream: what was written and not yet read, and how many
/// bytes were ever written.
#[derive(Default)]
struct Pipe {
    data: Vec<u8>,
    read: usize,
    written: usize,
}

/// One end of an in-memory full-duplex stream, for both the `futures-io` (soketto) and the
/// tokio (ratchet) traits. `Send`, as ratchet requires; the locks are never contended.
struct End {
    rx: Arc<Mutex<Pipe>>,
    tx: Arc<Mutex<Pipe>>,
}

/// Two connected ends (client, server) and the pipes (client to server, server to client),
/// kept to count the bytes written.
fn duplex() -> (End, End, [Arc<Mutex<Pipe>>; 2]) {
    let up = Arc::new(Mutex::new(Pipe::default()));
    let down = Arc::new(Mutex::new(Pipe::default()));
    let client = End {
        rx: down.clone(),
        tx: up.clone(),
    };
    let server = End {
        rx: up.clone(),
        tx: down.clone(),
    };
    (client, server, [up, down])
}

fn written(pipes: &[Arc<Mutex<Pipe>>; 2]) -> [usize; 2] {
    pipes
        .each_ref()
        .map(|pipe| pipe.lock().expect("pipe lock").written)
}

impl End {
    /// Reads what is there; `Pending` when nothing is: the peer has not written yet (only
    /// during a handshake, whose two ends are polled in turn by `common::run`).
    fn read_into(&self, buf: &mut [u8]) -> Poll<usize> {
        let mut pipe = self.rx.lock().expect("pipe lock");
        let Pipe { data, read, .. } = &mut *pipe;
        if *read == data.len() && !buf.is_empty() {
            return Poll::Pending;
        }
        let n = buf.len().min(data.len() - *read);
        buf[..n].copy_from_slice(&data[*read..*read + n]);
        *read += n;
        if *read == data.len() {
            data.clear();
            *read = 0;
        }
        Poll::Ready(n)
    }

    fn write_from(&self, buf: &[u8]) -> usize {
        let mut pipe = self.tx.lock().expect("pipe lock");
        pipe.data.extend_from_slice(buf);
        pipe.written += buf.len();
        buf.len()
    }
}

impl futures_io::AsyncRead for End {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.read_into(buf).map(Ok)
    }
}

impl futures_io::AsyncWrite for End {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.write_from(buf)))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncRead for End {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.read_into(buf.initialize_unfilled()).map(|n| {
            buf.advance(n);
            Ok(())
        })
    }
}

impl tokio::io::AsyncWrite for End {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.write_from(buf)))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// An echo pair of one engine, open, with compression agreed (unless it is the uncompressed
/// reference).
trait EchoPair {
    /// Sends the messages of `corpus` from the client one at a time, echoes each from the
    /// server, and hands each echo the client read to `seen`.
    fn echo_all(&mut self, corpus: &[String], seen: &mut dyn FnMut(&str));
    /// Bytes written so far, client to server and server to client.
    fn wire(&self) -> [usize; 2];
}

// wsmachine.

struct Ours {
    client: Connection<Vec<u8>, OsEntropy>,
    server: Connection<Vec<u8>, NoEntropy>,
    wire: [usize; 2],
}

/// Moves everything `from` has to send into `to`; returns the number of bytes.
fn pump<A: KeySource, B: KeySource>(
    from: &mut Connection<Vec<u8>, A>,
    to: &mut Connection<Vec<u8>, B>,
) -> usize {
    let mut moved = 0;
    loop {
        let out = from.pending_output();
        if out.is_empty() {
            return moved;
        }
        let n = to.receive(out);
        assert!(n > 0, "wsmachine: the peer's input is full");
        from.consume_output(n);
        moved += n;
    }
}

impl Ours {
    fn new(deflate: Option<DeflateConfig>) -> Self {
        let mut config = Config::default();
        config.deflate = deflate;
        let request = ClientRequest::new("localhost", "/echo");
        let mut client =
            Connection::client(&request, config, OsEntropy::default()).expect("wsmachine client");
        let mut server = Connection::server(config);
        pump(&mut client, &mut server);
        let request = matches!(server.poll_event(), Ok(Some(Event::Request(_))));
        assert!(request, "wsmachine server: no request");
        server.accept(Accept::new()).expect("wsmachine accept");
        pump(&mut server, &mut client);
        match client.poll_event() {
            Ok(Some(Event::Accepted(response))) => {
                let agreed = response
                    .header("Sec-WebSocket-Extensions")
                    .is_some_and(|v| v.starts_with(b"permessage-deflate"));
                assert_eq!(agreed, deflate.is_some(), "wsmachine: deflate agreement");
            }
            other => panic!("wsmachine client: {other:?}"),
        }
        Ours {
            client,
            server,
            wire: [0; 2],
        }
    }
}

impl EchoPair for Ours {
    fn echo_all(&mut self, corpus: &[String], seen: &mut dyn FnMut(&str)) {
        let Ours {
            client,
            server,
            wire,
        } = self;
        for message in corpus {
            client.send_text(message).expect("wsmachine client send");
            wire[0] += pump(client, server);
            match server.poll_event_with_sender() {
                Ok(Some((Event::Text(text), tx))) => tx.send_text(text).expect("wsmachine echo"),
                other => panic!("wsmachine server: {other:?}"),
            }
            wire[1] += pump(server, client);
            match client.poll_event() {
                Ok(Some(Event::Text(text))) => seen(text),
                other => panic!("wsmachine client: {other:?}"),
            }
        }
    }

    fn wire(&self) -> [usize; 2] {
        self.wire
    }
}

// soketto.

type SokettoHalves = (soketto::Sender<End>, soketto::Receiver<End>);

struct Soketto {
    client: SokettoHalves,
    server: SokettoHalves,
    pipes: [Arc<Mutex<Pipe>>; 2],
    at_open: [usize; 2],
    server_buf: Vec<u8>,
    client_buf: Vec<u8>,
}

impl Soketto {
    fn new() -> Self {
        use soketto::extension::deflate::Deflate;
        use soketto::handshake::{server::Response, Client, Server, ServerResponse};
        use soketto::Mode;

        let (client_end, server_end, pipes) = duplex();
        let client = async move {
            let mut client = Client::new(client_end, "localhost", "/echo");
            client.add_extension(Box::new(Deflate::new(Mode::Client)));
            match client.handshake().await.expect("soketto handshake") {
                ServerResponse::Accepted { .. } => {}
                _ => panic!("soketto: the server did not accept"),
            }
            client.into_builder().finish()
        };
        let server = async move {
            let mut server = Server::new(server_end);
            server.add_extension(Box::new(Deflate::new(Mode::Server)));
            let key = server
                .receive_request()
                .await
                .expect("soketto request")
                .key();
            let accept = Response::Accept {
                key,
                protocol: None,
            };
            server
                .send_response(&accept)
                .await
                .expect("soketto response");
            server.into_builder().finish()
        };
        let (client, server) = common::run(futures_lite::future::zip(client, server));
        let at_open = written(&pipes);
        Soketto {
            client,
            server,
            pipes,
            at_open,
            server_buf: Vec::new(),
            client_buf: Vec::new(),
        }
    }
}

impl EchoPair for Soketto {
    fn echo_all(&mut self, corpus: &[String], seen: &mut dyn FnMut(&str)) {
        use soketto::Data;
        let Soketto {
            client: (client_tx, client_rx),
            server: (server_tx, server_rx),
            server_buf,
            client_buf,
            ..
        } = self;
        common::run(async {
            for message in corpus {
                client_tx.send_text(message).await.expect("soketto send");
                client_tx.flush().await.expect("soketto flush");
                server_buf.clear();
                let data = server_rx.receive_data(server_buf).await;
                assert!(
                    matches!(data, Ok(Data::Text(_))),
                    "soketto server: {data:?}"
                );
                let text = std::str::from_utf8(server_buf).expect("soketto: UTF-8");
                server_tx.send_text(text).await.expect("soketto echo");
                server_tx.flush().await.expect("soketto flush");
                client_buf.clear();
                let data = client_rx.receive_data(client_buf).await;
                assert!(
                    matches!(data, Ok(Data::Text(_))),
                    "soketto client: {data:?}"
                );
                seen(std::str::from_utf8(client_buf).expect("soketto: UTF-8"));
            }
        });
    }

    fn wire(&self) -> [usize; 2] {
        let now = written(&self.pipes);
        [now[0] - self.at_open[0], now[1] - self.at_open[1]]
    }
}

// ratchet.

type RatchetSocket = ratchet_rs::WebSocket<End, ratchet_rs::deflate::Deflate>;

struct Ratchet {
    client: RatchetSocket,
    server: RatchetSocket,
    pipes: [Arc<Mutex<Pipe>>; 2],
    at_open: [usize; 2],
    server_buf: bytes::BytesMut,
    client_buf: bytes::BytesMut,
}

impl Ratchet {
    fn new() -> Self {
        use ratchet_rs::deflate::{Compression, DeflateConfig, DeflateExtProvider};
        use ratchet_rs::{SubprotocolRegistry, WebSocketConfig};

        // Context takeover both ways (ratchet's default asks for none), full windows, level 6.
        // Its server resets its compressor after every message whenever it would accept
        // `server_no_context_takeover`, asked for or not, hence `accept_no_context_takeover`
        // off (on the client, it would only accept a server's request for its reset).
        let deflate = DeflateConfig {
            request_server_no_context_takeover: false,
            request_client_no_context_takeover: false,
            accept_no_context_takeover: false,
            compression_level: Compression::new(6),
            ..DeflateConfig::default()
        };
        let (client_end, server_end, pipes) = duplex();
        let client = async move {
            ratchet_rs::subscribe_with(
                WebSocketConfig::default(),
                client_end,
                "ws://localhost/echo",
                DeflateExtProvider::with_config(deflate),
                SubprotocolRegistry::default(),
            )
            .await
            .expect("ratchet handshake")
            .into_websocket()
        };
        let server = async move {
            ratchet_rs::accept_with(
                server_end,
                WebSocketConfig::default(),
                DeflateExtProvider::with_config(deflate),
                SubprotocolRegistry::default(),
            )
            .await
            .expect("ratchet request")
            .upgrade()
            .await
            .expect("ratchet upgrade")
            .into_websocket()
        };
        let (client, server) = common::run(futures_lite::future::zip(client, server));
        let at_open = written(&pipes);
        Ratchet {
            client,
            server,
            pipes,
            at_open,
            server_buf: bytes::BytesMut::new(),
            client_buf: bytes::BytesMut::new(),
        }
    }
}

impl EchoPair for Ratchet {
    fn echo_all(&mut self, corpus: &[String], seen: &mut dyn FnMut(&str)) {
        use ratchet_rs::Message;
        let Ratchet {
            client,
            server,
            server_buf,
            client_buf,
            ..
        } = self;
        common::run(async {
            for message in corpus {
                client.write_text(message).await.expect("ratchet send");
                server_buf.clear();
                let read = server.read(server_buf).await;
                assert!(
                    matches!(read, Ok(Message::Text)),
                    "ratchet server: {read:?}"
                );
                let text = std::str::from_utf8(server_buf).expect("ratchet: UTF-8");
                server.write_text(text).await.expect("ratchet echo");
                client_buf.clear();
                let read = client.read(client_buf).await;
                assert!(
                    matches!(read, Ok(Message::Text)),
                    "ratchet client: {read:?}"
                );
                seen(std::str::from_utf8(client_buf).expect("ratchet: UTF-8"));
            }
        });
    }

    fn wire(&self) -> [usize; 2] {
        let now = written(&self.pipes);
        [now[0] - self.at_open[0], now[1] - self.at_open[1]]
    }
}

/// Makes a fresh open pair of one engine.
type NewPair = fn() -> Box<dyn EchoPair>;

/// The engines in the order of the table.
fn engines() -> Vec<(&'static str, NewPair)> {
    vec![
        ("wsmachine", || {
            Box::new(Ours::new(Some(DeflateConfig::new())))
        }),
        ("ratchet", || Box::new(Ratchet::new())),
        ("wsmachine_no_context_level1", || {
            let mut deflate = DeflateConfig::new();
            deflate.server_no_context_takeover = true;
            deflate.client_no_context_takeover = true;
            deflate.level = 1;
            Box::new(Ours::new(Some(deflate)))
        }),
        ("soketto", || Box::new(Soketto::new())),
        ("wsmachine_uncompressed", || Box::new(Ours::new(None))),
    ]
}

/// One pass on a fresh pair: every echo compared with what was sent; the wire bytes of each
/// direction.
fn check(name: &str, pair: &mut dyn EchoPair, corpus: &[String]) -> [usize; 2] {
    let mut echoes = Vec::with_capacity(corpus.len());
    pair.echo_all(corpus, &mut |text| echoes.push(text.to_owned()));
    assert_eq!(echoes.len(), corpus.len(), "{name}: echo count");
    for (i, (echo, sent)) in echoes.iter().zip(corpus).enumerate() {
        assert!(
            echo == sent,
            "{name}: echo {i} differs ({} bytes, sent {})",
            echo.len(),
            sent.len()
        );
    }
    pair.wire()
}

/// Where criterion keeps its results: `$CRITERION_HOME`, `$CARGO_TARGET_DIR/criterion`, or
/// `criterion` in the target directory this bench was built in (`target/release/deps/..`).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

fn deflate_echo(c: &mut Criterion) {
    let corpus = common::json_corpus();
    let payload: usize = corpus.iter().map(String::len).sum();
    eprintln!(
        "deflate_echo: {} JSON messages, {payload} bytes ({} to {} bytes each)",
        corpus.len(),
        corpus.iter().map(String::len).min().unwrap_or(0),
        corpus.iter().map(String::len).max().unwrap_or(0),
    );

    let mut ratios = String::new();
    for (name, new) in engines() {
        let [up, down] = check(name, &mut *new(), &corpus);
        if name != "wsmachine_uncompressed" {
            assert!(
                up + down < payload * 2 * 9 / 10,
                "{name}: {up} + {down} wire bytes for 2 x {payload}: not compressed"
            );
        }
        eprintln!(
            "deflate_echo: {name:<28} ratio {:.3} (wire bytes / payload bytes; client to server \
             {:.3}, server to client {:.3})",
            (up + down) as f64 / (2 * payload) as f64,
            up as f64 / payload as f64,
            down as f64 / payload as f64,
        );
        ratios.push_str(&format!("{name} {up} {down} {payload}\n"));
    }
    let dir = criterion_dir();
    let kept = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("deflate_ratio.txt"), &ratios));
    if let Err(e) = kept {
        eprintln!(
            "deflate_echo: could not keep the ratios in {}: {e}",
            dir.display()
        );
    }

    let mut group = c.benchmark_group("deflate_echo");
    group.throughput(Throughput::Bytes(payload as u64));
    for (name, new) in engines() {
        let mut pair = new();
        group.bench_function(name, |b| {
            b.iter(|| {
                pair.echo_all(&corpus, &mut |text| {
                    black_box(text);
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = deflate_echo
}
criterion_main!(benches);
