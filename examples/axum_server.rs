//! An axum server with a WebSocket echo route beside plain HTTP routes: axum and hyper do the
//! HTTP, wsmachine the WebSocket framing.
//!
//! `cargo run --release --example axum_server -- [ADDR] [--allow-origin ORIGIN]... [--no-deflate]`
//! (default `127.0.0.1:9003`). Prints `listening on http://ADDR` once it accepts connections.
//!
//! - `GET /`: a small HTML page whose script echoes a message over `/ws`.
//! - `GET /health`: `ok`.
//! - `/ws`: the handler checks the upgrade request itself (RFC 6455 §4.2.1; versions 13, 8
//!   and 7) and answers 400 or 426 with a body that says why; refuses with 403 a browser whose
//!   `Origin` is not on the allowlist (by default the server's own `http://ADDR`; requests
//!   without `Origin` come from non-browser clients and are let in); picks the subprotocol
//!   `chat` when offered, and permessage-deflate when offered unless `--no-deflate`. The 101
//!   carries `Sec-WebSocket-Accept` from `wsmachine::handshake::accept_key`. Once hyper hands
//!   over the upgraded connection, wsmachine runs it from the open state
//!   (`Connection::framed_server`) through the runtime-free driver in `async_ws/mod.rs`,
//!   echoing text and binary messages unchanged and answering close. Echoes are queued and
//!   written once per batch of input.
//! - A request head must arrive whole within 10 s, and a WebSocket whose client takes no
//!   bytes for 10 s is dropped: a slow or stuck client cannot hold a connection for ever.
//!
//! Each WebSocket is logged to stderr: peer, version, path, subprotocol and extensions.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_ws::{AsyncWebSocket, Transport, WriteDeadline};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use hyper::body::Incoming;
use hyper::service::{service_fn, Service};
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Sleep;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use wsmachine::deflate::negotiate::accept_offers;
use wsmachine::deflate::{DeflateConfig, DeflateParams};
use wsmachine::handshake::{accept_key, is_valid_key};
use wsmachine::{Config, Connection, Version};

/// The subprotocol this server speaks when a client offers it.
const SUBPROTOCOL: &str = "chat";

/// The versions this server upgrades, as `Sec-WebSocket-Version` lists them in a 426.
const VERSIONS: &str = "13, 8, 7";

/// How long a client may take to send a whole request head: one that trickles it in, or
/// sends none, would otherwise hold its connection for ever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write to a WebSocket may make no progress before the connection is dropped:
/// a client that sends but never reads would otherwise hold its task and its queue for ever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

const USAGE: &str =
    "usage: axum_server [ADDR] [--allow-origin ORIGIN]... [--no-deflate] (default 127.0.0.1:9003)";

struct Settings {
    /// Browser origins allowed to open a WebSocket.
    origins: Vec<String>,
    deflate: bool,
}

/// The upgraded connection as the driver sees it: hyper's `Upgraded` first returns whatever
/// hyper read past the request head, then reads the socket, so no frame a client sent right
/// behind its request is lost.
type Upgrade = Compat<TokioIo<Upgraded>>;

/// Hyper's upgraded stream has no readiness of its own to offer: the driver's read waits.
impl Transport for Upgrade {}

/// What the driver runs on: the upgraded stream, whose writes give up after [`WRITE_TIMEOUT`].
type Deadlined = WriteDeadline<Upgrade, Pin<Box<Sleep>>>;

#[tokio::main]
async fn main() {
    let mut addr = None;
    let mut origins = Vec::new();
    let mut deflate = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--allow-origin" => match args.next() {
                Some(origin) => origins.push(origin),
                None => fail(USAGE),
            },
            "--no-deflate" => deflate = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            _ if arg.starts_with('-') || addr.is_some() => fail(USAGE),
            _ => addr = Some(arg),
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:9003".into());
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => fail(&format!("axum_server: cannot listen on {addr}: {e}")),
    };
    // Port 0 picks a free port: the allowlist and the banner name the one picked.
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    if origins.is_empty() {
        origins.push(format!("http://{local}"));
    }
    let settings = Arc::new(Settings { origins, deflate });
    let app = Router::new()
        .route("/", get(index))
        .route("/health", get(|| async { "ok\n" }))
        .route("/ws", get(websocket).fallback(websocket))
        .with_state(settings);
    println!("listening on http://{local}");
    serve(listener, app).await;
}

/// Serves `app` until [`shutdown`], then waits for the HTTP connections in progress.
///
/// Not `axum::serve`: it builds hyper's connections itself and offers no way to set the
/// header read timeout.
async fn serve(listener: TcpListener, app: Router) {
    // Every connection holds a receiver: the sender learns when the last one is gone.
    let (stop, stopping) = watch::channel(());
    let mut signal = std::pin::pin!(shutdown());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, mostly: retrying at once would spin.
                    eprintln!("axum_server: accept: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            _ = &mut signal => break,
        };
        tokio::spawn(connection(stream, peer, app.clone(), stopping.clone()));
    }
    drop(listener);
    drop(stopping);
    let _ = stop.send(());
    stop.closed().await;
}

/// One HTTP/1.1 connection: its requests go to `app`, which finds the peer in `ConnectInfo`
/// as it would under `axum::serve`.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    mut stopping: watch::Receiver<()>,
) {
    let app = TowerToHyperService::new(app);
    let service = service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        app.call(req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut stopped = false;
    let served = loop {
        tokio::select! {
            served = conn.as_mut() => break served,
            _ = stopping.changed(), if !stopped => {
                stopped = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    };
    match served {
        Err(e) if e.is_timeout() => eprintln!(
            "{peer}: no complete request head within {} s: closed",
            HEADER_TIMEOUT.as_secs()
        ),
        Err(e) => eprintln!("{peer}: http: {e}"),
        Ok(()) => {}
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2);
}

/// Ctrl-C or SIGTERM: stop accepting and let HTTP connections finish their requests.
/// Upgraded connections are detached from the server and end with the process.
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

async fn index() -> Html<&'static str> {
    Html(INDEX)
}

/// Served from the allowed origin, so its WebSocket passes the `Origin` check.
const INDEX: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>wsmachine on axum</title>
<h1>wsmachine on axum</h1>
<p>WebSocket echo at <code>/ws</code> (subprotocol <code>chat</code>), health at <code>/health</code>.</p>
<pre id="log"></pre>
<script>
const log = (line) => (document.getElementById("log").textContent += line + "\n");
const ws = new WebSocket(new URL("/ws", location.href.replace(/^http/, "ws")), ["chat"]);
ws.onopen = () => { log("open, protocol " + ws.protocol + ", extensions " + ws.extensions); ws.send("hello"); };
ws.onmessage = (e) => { log("echo: " + e.data); ws.close(1000, "bye"); };
ws.onclose = (e) => log("closed " + e.code);
</script>
"#;

/// What the 101 agrees to.
struct Upgrading {
    version: Version,
    protocol: Option<&'static str>,
    deflate: Option<(DeflateParams, String)>,
}

async fn websocket(
    State(settings): State<Arc<Settings>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
) -> Response {
    let upgrading = match check_upgrade(&req, &settings) {
        Ok(upgrading) => upgrading,
        Err(refusal) => {
            let refusal = refusal.into_response();
            let origins: Vec<_> = req.headers().get_all(header::ORIGIN).iter().collect();
            let origin = match origins.as_slice() {
                [] => String::new(),
                [o] => format!(" (origin {o:?})"),
                all => format!(" (origins {all:?})"),
            };
            eprintln!(
                "{peer}: {} {}{origin} -> {}",
                req.method(),
                req.uri(),
                refusal.status()
            );
            return refusal;
        }
    };
    let Some(key) = req.headers().get("sec-websocket-key") else {
        // `check_upgrade` required it.
        return StatusCode::BAD_REQUEST.into_response();
    };
    let accept = accept_key(key.as_bytes());
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    // 28 base64 characters: always a valid header value.
    if let Ok(accept) = HeaderValue::from_bytes(&accept) {
        headers.insert("sec-websocket-accept", accept);
    }
    if let Some(protocol) = upgrading.protocol {
        headers.insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
    }
    if let Some((_, answer)) = &upgrading.deflate {
        if let Ok(answer) = HeaderValue::from_str(answer) {
            headers.insert("sec-websocket-extensions", answer);
        }
    }
    // Resolves once hyper has written the 101 and let go of the connection.
    let on_upgrade = hyper::upgrade::on(&mut req);
    let path = req.uri().path().to_owned();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = WriteDeadline::new(TokioIo::new(upgraded).compat(), WRITE_TIMEOUT, |d| {
                    Box::pin(tokio::time::sleep(d))
                });
                echo(io, upgrading, peer, path).await
            }
            Err(e) => eprintln!("{peer}: upgrade failed: {e}"),
        }
    });
    response
}

/// The RFC 6455 §4.2.1 checks, the origin policy and the choices of the 101, or the response
/// that refuses the request.
fn check_upgrade(req: &Request, settings: &Settings) -> Result<Upgrading, Refusal> {
    let headers = req.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::UPGRADE, "websocket") {
        return Err(refuse(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: send a GET with `Upgrade: websocket`\n",
        ));
    }
    // An HTTP/1.0 connection cannot be taken over: hyper upgrades HTTP/1.1 only.
    if req.version() != http::Version::HTTP_11 {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade needs HTTP/1.1\n",
        ));
    }
    if req.method() != Method::GET {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade must be a GET request\n",
        ));
    }
    if !has_token(header::CONNECTION, "upgrade") {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "`Connection` must carry the `upgrade` token\n",
        ));
    }
    // RFC 6455 §4.1: one version. With two, which one the client speaks is anyone's guess.
    if headers.get_all("sec-websocket-version").iter().count() > 1 {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Version` must be one value\n",
        ));
    }
    let version =
        match text("sec-websocket-version").map(str::trim) {
            Some("13") => Version::Hybi13,
            Some("8") => Version::Hybi08,
            Some("7") => Version::Hybi07,
            _ => return Err(refuse(
                StatusCode::UPGRADE_REQUIRED,
                "unsupported or missing `Sec-WebSocket-Version`: this server speaks 13, 8 and 7\n",
            )),
        };
    let keys = headers.get_all("sec-websocket-key").iter().count();
    match headers.get("sec-websocket-key") {
        Some(key) if keys == 1 && is_valid_key(key.as_bytes()) => {}
        _ => {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Key` must be one value of 16 bytes in base64\n",
            ))
        }
    }
    // Hybi-07/08 browsers sent their origin as `Sec-WebSocket-Origin`. A browser sends one
    // origin (RFC 6455 §4.1, RFC 6454 §7): a request with more is forged, and judging it by
    // any one of its values would let the others through. So every value present must pass.
    for name in ["origin", "sec-websocket-origin"] {
        let mut values = headers.get_all(name).iter();
        let (Some(origin), None) = (values.next(), values.next()) else {
            if headers.contains_key(name) {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "`Origin` must be one value\n",
                ));
            }
            continue;
        };
        let Ok(origin) = origin.to_str() else {
            return Err(refuse(StatusCode::FORBIDDEN, "unreadable `Origin`\n"));
        };
        if !settings.origins.iter().any(|o| o == origin) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "this origin may not open a WebSocket here\n",
            ));
        }
    }
    let offered = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v: &HeaderValue| v.to_str().ok())
            .collect::<Vec<_>>()
    };
    let protocol = offered("sec-websocket-protocol")
        .into_iter()
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL)
        .then_some(SUBPROTOCOL);
    let deflate = if settings.deflate {
        accept_offers(offered("sec-websocket-extensions"), &DeflateConfig::new())
            .map(|agreed| (agreed.params, agreed.response))
    } else {
        None
    };
    Ok(Upgrading {
        version,
        protocol,
        deflate,
    })
}

/// Why a request gets no upgrade: its status and the body that says why.
struct Refusal {
    status: StatusCode,
    body: &'static str,
}

fn refuse(status: StatusCode, body: &'static str) -> Refusal {
    Refusal { status, body }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        if self.status == StatusCode::UPGRADE_REQUIRED {
            // RFC 9110 §15.5.22: a 426 names the protocols to upgrade to.
            let headers = response.headers_mut();
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert("sec-websocket-version", HeaderValue::from_static(VERSIONS));
        }
        response
    }
}

async fn echo(io: Deadlined, upgrading: Upgrading, peer: SocketAddr, path: String) {
    let mut conn = Connection::framed_server(upgrading.version, Config::default());
    let mut extensions = String::new();
    if let Some((params, answer)) = upgrading.deflate {
        if let Err(e) = conn.use_deflate(params) {
            eprintln!("{peer}: permessage-deflate: {e}");
            return;
        }
        extensions = format!(" extensions: {answer}");
    }
    eprintln!(
        "{peer}: {} {path} protocol: {}{extensions}",
        upgrading.version.as_str(),
        upgrading.protocol.unwrap_or("-"),
    );
    let mut ws = AsyncWebSocket::from_open(io, conn);
    async_ws::echo(&mut ws, &peer.to_string()).await;
}
