//! A WebSocket echo server over HTTP/2 (RFC 8441 extended CONNECT) and HTTP/1.1 on one TLS
//! port: the h2 crate does HTTP/2, wsmachine the WebSocket framing on each stream.
//!
//! `cargo run --example h2_server -- [ADDR] --cert FILE --key FILE [--no-connect-protocol]`
//! (default `127.0.0.1:9004`; `cargo run --example test_cert -- DIR` makes a certificate and
//! key for localhost). Prints `listening on https://ADDR` once it accepts connections.
//! `--no-connect-protocol` leaves SETTINGS_ENABLE_CONNECT_PROTOCOL out, as a server without
//! RFC 8441 would: clients then have to open their WebSockets over HTTP/1.1.
//!
//! TLS offers ALPN `h2` and `http/1.1`. A connection that chose `h2` gets
//! SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 with the server's first SETTINGS, which is what tells
//! a client (a browser among them) that it may open WebSockets as streams of it:
//!
//! - `GET /`: a small HTML page whose script opens two WebSockets to `/ws` at once and echoes
//!   a message on each, so a browser opens them over the HTTP/2 connection that loaded it.
//! - `CONNECT` with `:protocol websocket` on `/ws` and `sec-websocket-version: 13`: 200 (with
//!   `sec-websocket-protocol: chat` when the client offered `chat`; no key and no accept
//!   header, RFC 8441 §5), then an echo of text and binary messages on that stream and an
//!   answer to close. Up to [`MAX_STREAMS`] of them share the connection at once.
//!
//! A connection that chose `http/1.1`, or no ALPN protocol at all, gets the RFC 6455 upgrade
//! on `/ws` (wsmachine's own server handshake) and the same page on `/`.
//!
//! What one HTTP/2 connection tolerates:
//!
//! - SETTINGS_MAX_CONCURRENT_STREAMS is [`MAX_STREAMS`] (100): a client that opens more
//!   streams than that has them refused (RST_STREAM REFUSED_STREAM), and the WebSockets
//!   already open are unaffected.
//! - The connection window is 1 MiB and each stream's 256 KiB: that much WebSocket data may
//!   be in flight unread, after which the client waits for WINDOW_UPDATE.
//! - h2 also counts DATA frames that carry fewer than 256 bytes and have been received but
//!   not yet read by their stream, each as 256 bytes minus its payload, against a budget of
//!   [`DATA_FRAME_BUDGET`] (1 MiB): about 4,000 such frames at once over all the
//!   connection's streams. Beyond that h2 sends GOAWAY ENHANCE_YOUR_CALM and the connection
//!   and every WebSocket on it end. Streams are read as soon as frames arrive, so this is
//!   reached only by a burst of thousands of tiny frames faster than the server takes them,
//!   or by a client that keeps sending tiny frames on streams whose echoes it does not read
//!   (such a stream stops reading while its writes wait, until [`IO_TIMEOUT`] drops it).
//!   A burst of 1,000 one-message DATA frames on one stream, or one message on each of 100
//!   streams, is within it.
//! - A WebSocket whose peer takes no bytes for [`IO_TIMEOUT`] (10 s) while the server has
//!   output for it is dropped, over HTTP/2 as over HTTP/1.1; on HTTP/2 its stream is reset
//!   after up to [`DRAIN_TIMEOUT`] more for the peer to end its side. A WebSocket
//!   that is merely idle is kept: there is no idle timeout, nor one for an HTTP/2 connection
//!   with no streams.
//!
//! On the HTTP/1.1 path the request must be complete and answered within
//! [`REQUEST_TIMEOUT`] (10 s).
//!
//! Each WebSocket is logged to stderr: `h2 connection N stream M: websocket /ws`, where N
//! counts TCP connections and M is the HTTP/2 stream identifier, or `http/1.1: websocket /ws`.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;
#[path = "h2_ws/mod.rs"]
mod h2_ws;
#[path = "tls/mod.rs"]
mod tls;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_ws::{AsyncWebSocket, Transport, WriteDeadline};
use bytes::Bytes;
use h2::ext::Protocol;
use h2::server::SendResponse;
use h2::RecvStream;
use h2_ws::H2Stream;
use http::{Method, Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use wsmachine::drive::Decision;
use wsmachine::{Config, Connection, Version};

/// The subprotocol this server speaks when a client offers it.
const SUBPROTOCOL: &str = "chat";

/// How long a client may take over its TLS handshake, and a closed WebSocket's peer over
/// ending its side of the stream.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an HTTP/1.1 client may take to send its request and take the answer: a request
/// that never completes would otherwise hold its connection and task for good.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a WebSocket's write may wait for a peer that takes no bytes before the WebSocket
/// is dropped, so that a peer that stops reading cannot hold its task and buffers for ever.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// SETTINGS_MAX_CONCURRENT_STREAMS: each stream is a task and buffers, so one connection
/// may not open WebSockets without bound.
const MAX_STREAMS: u32 = 100;

/// The windows the server grants: larger than HTTP/2's 65,535-byte default so that many
/// WebSockets, or one busy one, are not held to a few round trips' worth of data.
const CONNECTION_WINDOW: u32 = 1 << 20;
const STREAM_WINDOW: u32 = 256 << 10;

/// h2's allowance for the overhead of small DATA frames buffered but not yet read (each
/// counts as 256 bytes less its payload). Its default, half the connection window with a
/// floor of 25,600 bytes, admits only about 130 tiny frames with the default window (about
/// 2,000 with [`CONNECTION_WINDOW`]): a burst of small WebSocket messages, one per DATA
/// frame, on a single stream would end the connection and every WebSocket on it.
const DATA_FRAME_BUDGET: usize = 1 << 20;

const USAGE: &str =
    "usage: h2_server [ADDR] --cert FILE --key FILE [--no-connect-protocol] (default 127.0.0.1:9004)";

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>wsmachine over HTTP/2</title></head>
<body>
<h1>WebSocket over HTTP/2</h1>
<pre id="log"></pre>
<script>
const log = (line) => { document.getElementById("log").textContent += line + "\n"; };
// Resolves with a line for one WebSocket: a text and a binary echo, then a close.
function echo(n) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://${location.host}/ws`, ["chat"]);
    ws.binaryType = "arraybuffer";
    const text = `hello ${n}`;
    const bytes = new Uint8Array([n, 0, 255, 128]);
    let step = 0;
    ws.onopen = () => ws.send(text);
    ws.onmessage = (e) => {
      if (step === 0 && e.data === text) {
        step = 1;
        ws.send(bytes);
      } else if (step === 1 && e.data instanceof ArrayBuffer &&
                 new Uint8Array(e.data).join() === bytes.join()) {
        step = 2;
        ws.close(1000, "done");
      } else {
        ws.close(4000, "bad echo");
      }
    };
    ws.onclose = (e) => resolve(`ws ${n}: protocol ${ws.protocol}, echoes ${step === 2 ? "ok" : "FAILED"}, closed ${e.code} clean ${e.wasClean}`);
  });
}
async function run(count) {
  const lines = await Promise.all(Array.from({ length: count }, (_, i) => echo(i + 1)));
  lines.forEach(log);
  log("done");
}
run(2);
</script>
</body></html>
"#;

/// A stream whose writes fail after [`IO_TIMEOUT`] without progress.
type Deadline<T> = WriteDeadline<T, Pin<Box<Sleep>>>;

fn with_deadline<T>(io: T) -> Deadline<T> {
    WriteDeadline::new(io, IO_TIMEOUT, |d| Box::pin(tokio::time::sleep(d)))
}

/// The TLS stream on the HTTP/1.1 path, as the driver sees it.
type Tls = Compat<TlsStream<TcpStream>>;

/// rustls over tokio has no readiness of its own to offer: the driver's read waits.
impl Transport for Tls {}

#[tokio::main]
async fn main() {
    let mut addr = None;
    let mut cert = None;
    let mut key = None;
    let mut connect_protocol = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cert" => cert = Some(args.next().unwrap_or_else(|| fail(USAGE))),
            "--key" => key = Some(args.next().unwrap_or_else(|| fail(USAGE))),
            "--no-connect-protocol" => connect_protocol = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            a if a.starts_with('-') || addr.is_some() => fail(USAGE),
            a => addr = Some(a.to_string()),
        }
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        fail(USAGE)
    };
    let addr = addr.unwrap_or_else(|| "127.0.0.1:9004".to_string());
    let config = tls::server_config(&cert, &key, &[b"h2", b"http/1.1"])
        .unwrap_or_else(|e| fail(&format!("h2_server: {e}")));
    let acceptor = TlsAcceptor::from(config);
    let listener = TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| fail(&format!("h2_server: {addr}: {e}")));
    let local = listener
        .local_addr()
        .unwrap_or_else(|e| fail(&format!("h2_server: {e}")));
    println!("listening on https://{local}");
    let counter = Arc::new(AtomicU64::new(0));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("h2_server: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return eprintln!("{peer}: TLS: {e}"),
                Err(_) => return eprintln!("{peer}: TLS handshake timed out"),
            };
            if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                if let Err(e) = serve_h2(tls, n, connect_protocol).await {
                    eprintln!("h2 connection {n}: {e}");
                }
            } else {
                serve_http1(with_deadline(tls.compat())).await;
            }
        });
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}

async fn serve_h2(
    tls: TlsStream<TcpStream>,
    n: u64,
    connect_protocol: bool,
) -> Result<(), h2::Error> {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(MAX_STREAMS)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_window_size(STREAM_WINDOW)
        .data_frame_budget(DATA_FRAME_BUDGET);
    if connect_protocol {
        builder.enable_connect_protocol();
    }
    let mut conn = builder.handshake::<_, Bytes>(tls).await?;
    // Accepting is what drives the connection: streams already handed out make progress only
    // while this loop runs.
    while let Some(accepted) = conn.accept().await {
        let (request, respond) = accepted?;
        tokio::spawn(handle_h2(request, respond, n));
    }
    Ok(())
}

fn response(status: StatusCode) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = status;
    response
}

/// Answers with `status` and a short body.
fn respond_body(
    mut respond: SendResponse<Bytes>,
    status: StatusCode,
    content_type: &str,
    body: &'static str,
) {
    let mut head = response(status);
    if let Ok(value) = content_type.parse() {
        head.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    if let Ok(mut send) = respond.send_response(head, false) {
        let _ = send.send_data(Bytes::from_static(body.as_bytes()), true);
    }
}

async fn handle_h2(request: Request<RecvStream>, respond: SendResponse<Bytes>, n: u64) {
    let stream_id = respond.stream_id().as_u32();
    let path = request.uri().path().to_string();
    let protocol = request.extensions().get::<Protocol>().cloned();
    if request.method() != Method::CONNECT {
        match (request.method(), path.as_str()) {
            (&Method::GET, "/") => {
                respond_body(respond, StatusCode::OK, "text/html; charset=utf-8", PAGE)
            }
            _ => respond_body(respond, StatusCode::NOT_FOUND, "text/plain", "not found\n"),
        }
        return;
    }
    let Some(protocol) = protocol else {
        // A plain CONNECT asks for a tunnel, which this server does not offer.
        return respond_body(
            respond,
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "no tunnels\n",
        );
    };
    if !protocol.as_str().eq_ignore_ascii_case("websocket") {
        return respond_body(
            respond,
            StatusCode::BAD_REQUEST,
            "text/plain",
            "unknown :protocol\n",
        );
    }
    if path != "/ws" {
        return respond_body(respond, StatusCode::NOT_FOUND, "text/plain", "not found\n");
    }
    let headers = request.headers();
    if headers
        .get("sec-websocket-version")
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        // RFC 6455 §4.4, which RFC 8441 keeps: say which version is spoken.
        let mut respond = respond;
        let mut head = response(StatusCode::BAD_REQUEST);
        head.headers_mut().insert(
            "sec-websocket-version",
            http::HeaderValue::from_static("13"),
        );
        let _ = respond.send_response(head, true);
        return;
    }
    let chat = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    let mut head = response(StatusCode::OK);
    if chat {
        head.headers_mut().insert(
            "sec-websocket-protocol",
            http::HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    let mut respond = respond;
    let send = match respond.send_response(head, false) {
        Ok(send) => send,
        Err(e) => return eprintln!("h2 connection {n} stream {stream_id}: {e}"),
    };
    eprintln!("h2 connection {n} stream {stream_id}: websocket {path}");
    let stream = with_deadline(H2Stream::new(request.into_body(), send));
    let conn = Connection::framed_server(Version::Hybi13, Config::default());
    let label = format!("h2 connection {n} stream {stream_id}");
    let mut ws = AsyncWebSocket::from_open(stream, conn);
    async_ws::echo(&mut ws, &label).await;
    // The stream is dropped once the peer has ended its side too, so that it closes rather
    // than being reset.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, h2_ws::drain(ws.get_mut())).await;
}

async fn serve_http1(tls: Deadline<Tls>) {
    let accept = AsyncWebSocket::accept_with(tls, Config::default(), |request| {
        match (request.version(), request.path()) {
            (Some(_), "/ws") => {
                let chat = request.protocols().any(|p| p == SUBPROTOCOL);
                Decision::Accept {
                    protocol: chat.then(|| SUBPROTOCOL.to_string()),
                    headers: Vec::new(),
                }
            }
            (None, "/") => Decision::Respond {
                status: 200,
                headers: vec![(
                    "Content-Type".to_string(),
                    "text/html; charset=utf-8".to_string(),
                )],
                body: PAGE.as_bytes().to_vec(),
            },
            _ => Decision::Respond {
                status: 404,
                headers: vec![("Content-Type".to_string(), "text/plain".to_string())],
                body: b"not found\n".to_vec(),
            },
        }
    });
    let Ok(result) = tokio::time::timeout(REQUEST_TIMEOUT, accept).await else {
        return eprintln!("http/1.1: no complete request within {REQUEST_TIMEOUT:?}");
    };
    match result {
        Ok(mut ws) => {
            eprintln!("http/1.1: websocket /ws");
            async_ws::echo(&mut ws, "http/1.1").await;
        }
        Err(wsmachine::blocking::Error::Refused { .. }) => {}
        Err(e) => eprintln!("http/1.1: {e}"),
    }
}
