//! Chat server over `std::net`: the server API the Node.js servers of 2010-2012 offered, built
//! on the sans-IO core.
//!
//! `cargo run --release --example chat_server -- [ADDR] [--allow-origin ORIGIN]...
//! [--ping-interval SECS] [--shutdown-after SECS]` (default `127.0.0.1:9002`; the default
//! allowlist is the server's own origin `http://ADDR`). Prints `listening on http://ADDR` once
//! it accepts connections.
//!
//! - `GET /` answers the chat page (plain HTTP on the same port); any other path is a 404.
//! - `/chat` is the only WebSocket endpoint (every version); its `Origin` must be on the
//!   allowlist (403 otherwise), and the subprotocol `chat` is chosen when offered.
//! - Each connection gets an id; a registry keeps them and their count. A text message is
//!   broadcast to all; `/msg ID text` goes to connection ID only (and back to its sender).
//! - Each hybi connection is pinged every `--ping-interval` seconds (default 5) and told its
//!   round-trip time.
//! - On SIGINT, SIGTERM or after `--shutdown-after` seconds, every connection is closed with
//!   1001 (going away) and the server exits once they are closed (5 s at most).
//!
//! The server sends JSON objects, each with a `type`: `welcome` (your `id`, the `count`),
//! `join` and `leave` (`id`, `count`), `message` (`from`, `text`), `private` (`from`, `to`,
//! `text`), `error` (`text`) and `rtt` (`ms`).
//!
//! Design: one thread per connection owns its socket and its `Connection`, so no connection is
//! ever shared. Other threads reach it through its command channel, which the registry holds;
//! the thread reads with a short timeout and takes its commands between reads.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use wsmachine::handshake::Accept;
use wsmachine::{CloseCode, Config, Connection, Event, Request, State, Version};

const PAGE: &str = include_str!("chat_page.html");
/// How long a connection thread waits for input before it looks at its commands: the most a
/// broadcast waits before it is sent.
const TICK: Duration = Duration::from_millis(10);
/// How long a handshake may take, and a write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close waits for the peer's answer (microseconds, the connections' time unit).
const CLOSE_TIMEOUT_US: u64 = 3_000_000;
/// How long shutdown waits for every connection to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct Options {
    addr: String,
    origins: Vec<String>,
    ping_interval: Duration,
    shutdown_after: Option<Duration>,
}

fn usage() -> ! {
    eprintln!("usage: chat_server [ADDR] [--allow-origin ORIGIN]... [--ping-interval SECS] [--shutdown-after SECS]");
    std::process::exit(2);
}

fn parse_args() -> Options {
    let mut options = Options {
        addr: "127.0.0.1:9002".into(),
        origins: Vec::new(),
        ping_interval: Duration::from_secs(5),
        shutdown_after: None,
    };
    let mut addr_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut seconds = || {
            args.next()
                .and_then(|v| v.parse::<f64>().ok())
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .filter(|d| !d.is_zero())
                .unwrap_or_else(|| usage())
        };
        match arg.as_str() {
            "--allow-origin" => options.origins.push(args.next().unwrap_or_else(|| usage())),
            "--ping-interval" => options.ping_interval = seconds(),
            "--shutdown-after" => options.shutdown_after = Some(seconds()),
            _ if !addr_given && !arg.starts_with("--") => {
                options.addr = arg;
                addr_given = true;
            }
            _ => usage(),
        }
    }
    options
}

/// A command for a connection's thread.
enum Command {
    Send(Arc<str>),
    Shutdown,
}

/// The registry of open connections: ids, their command channels, the count.
struct Hub {
    clients: Mutex<Clients>,
    next_id: AtomicU64,
}

struct Clients {
    by_id: BTreeMap<u64, Sender<Command>>,
    shutting_down: bool,
}

impl Hub {
    fn clients(&self) -> MutexGuard<'_, Clients> {
        // A thread that panicked while holding the lock left the map consistent (every
        // operation on it is a single insert, remove or iteration), so keep serving.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a connection; returns its id and the count, or `None` when shutting down.
    fn join(&self, commands: Sender<Command>) -> Option<(u64, usize)> {
        let mut clients = self.clients();
        if clients.shutting_down {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        clients.by_id.insert(id, commands);
        let count = clients.by_id.len();
        let joined = json(&[
            ("type", Json::Str("join")),
            ("id", Json::Num(id)),
            ("count", Json::Num(count as u64)),
        ]);
        broadcast(&clients, &joined, Some(id));
        Some((id, count))
    }

    fn leave(&self, id: u64) {
        let mut clients = self.clients();
        if clients.by_id.remove(&id).is_some() {
            let count = clients.by_id.len() as u64;
            let left = json(&[
                ("type", Json::Str("leave")),
                ("id", Json::Num(id)),
                ("count", Json::Num(count)),
            ]);
            broadcast(&clients, &left, None);
        }
    }

    fn broadcast(&self, text: &str) {
        broadcast(&self.clients(), text, None);
    }

    /// Sends to one connection; false if there is none with that id.
    fn send_to(&self, id: u64, text: &str) -> bool {
        match self.clients().by_id.get(&id) {
            Some(commands) => commands.send(Command::Send(text.into())).is_ok(),
            None => false,
        }
    }

    /// Asks every connection to close, and refuses new ones; returns how many there were.
    fn shut_down(&self) -> usize {
        let mut clients = self.clients();
        clients.shutting_down = true;
        for commands in clients.by_id.values() {
            let _ = commands.send(Command::Shutdown);
        }
        clients.by_id.len()
    }

    fn count(&self) -> usize {
        self.clients().by_id.len()
    }
}

fn broadcast(clients: &Clients, text: &str, except: Option<u64>) {
    let text: Arc<str> = text.into();
    for (id, commands) in &clients.by_id {
        if Some(*id) != except {
            // A connection whose thread has ended is about to leave; nothing to tell it.
            let _ = commands.send(Command::Send(text.clone()));
        }
    }
}

/// What the handshake policy needs, shared by every connection thread.
struct Policy {
    origins: Vec<String>,
    ping_interval_us: u64,
}

fn main() {
    let options = parse_args();
    let listener = match TcpListener::bind(&options.addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("chat_server: cannot listen on {}: {e}", options.addr);
            std::process::exit(1);
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| options.addr.clone());
    let origins = if options.origins.is_empty() {
        vec![format!("http://{local}")]
    } else {
        options.origins.clone()
    };
    eprintln!("chat_server: allowed origins: {}", origins.join(" "));
    let policy = Arc::new(Policy {
        origins,
        ping_interval_us: u64::try_from(options.ping_interval.as_micros()).unwrap_or(u64::MAX),
    });
    let hub = Arc::new(Hub {
        clients: Mutex::new(Clients {
            by_id: BTreeMap::new(),
            shutting_down: false,
        }),
        next_id: AtomicU64::new(1),
    });

    let (stop_tx, stop) = mpsc::channel::<&'static str>();
    match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(mut signals) => {
            let stop_tx = stop_tx.clone();
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    let _ = stop_tx.send("signal");
                }
            });
        }
        Err(e) => eprintln!("chat_server: cannot handle signals: {e}"),
    }
    if let Some(after) = options.shutdown_after {
        let stop_tx = stop_tx.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let _ = stop_tx.send("--shutdown-after");
        });
    }
    {
        let hub = hub.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(stream) => {
                        let hub = hub.clone();
                        let policy = policy.clone();
                        std::thread::spawn(move || serve(stream, &hub, &policy));
                    }
                    Err(e) => {
                        eprintln!("chat_server: accept failed: {e}");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        });
    }
    println!("listening on http://{local}");
    let _ = std::io::stdout().flush();

    let why = stop.recv().unwrap_or("no more shutdown sources");
    let open = hub.shut_down();
    eprintln!("chat_server: shutting down ({why}): closing {open} connections with 1001");
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while hub.count() > 0 && Instant::now() < deadline {
        std::thread::sleep(TICK);
    }
    let left = hub.count();
    if left > 0 {
        eprintln!("chat_server: {left} connections did not close in time");
        std::process::exit(1);
    }
    eprintln!("chat_server: all connections closed");
}

/// One connection from accept to close.
struct Peer {
    stream: TcpStream,
    conn: Connection<Vec<u8>>,
    started: Instant,
    name: String,
}

impl Peer {
    /// The connections' clock: microseconds since the connection was accepted.
    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Writes all queued output; false if the peer is gone.
    fn flush(&mut self) -> bool {
        while !self.conn.pending_output().is_empty() {
            match self.stream.write(self.conn.pending_output()) {
                Ok(0) => return false,
                Ok(n) => self.conn.consume_output(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    eprintln!("{}: write failed: {e}", self.name);
                    return false;
                }
            }
        }
        true
    }

    /// Waits up to [`TICK`] for input and gives it to the connection.
    fn read(&mut self) {
        let buf = self.conn.read_buffer();
        if buf.is_empty() {
            // The limits bound the input to one frame, which Vec storage always holds.
            self.conn.handle_eof();
            return;
        }
        match self.stream.read(buf) {
            Ok(0) => self.conn.handle_eof(),
            Ok(n) => self.conn.commit_read(n),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                eprintln!("{}: read failed: {e}", self.name);
                self.conn.handle_eof();
            }
        }
    }
}

fn serve(stream: TcpStream, hub: &Hub, policy: &Policy) {
    let name = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    if stream.set_read_timeout(Some(TICK)).is_err()
        || stream.set_write_timeout(Some(IO_TIMEOUT)).is_err()
    {
        return;
    }
    let mut config = Config::default();
    config.keepalive_interval = Some(policy.ping_interval_us);
    config.close_timeout = Some(CLOSE_TIMEOUT_US);
    // Chat lines are short: no reason to let a peer make us buffer 16 MiB.
    config.limits.max_frame_payload = 64 * 1024;
    config.limits.max_message_size = 64 * 1024;
    config.limits.max_hixie_frame = 64 * 1024;
    let mut peer = Peer {
        stream,
        conn: Connection::server(config),
        started: Instant::now(),
        name,
    };
    if !handshake(&mut peer, policy) {
        return;
    }
    let (commands_tx, commands) = mpsc::channel();
    let Some((id, count)) = hub.join(commands_tx) else {
        let _ = close_going_away(&mut peer.conn);
        run(&mut peer, hub, None, &commands);
        return;
    };
    peer.name = format!("#{id} {}", peer.name);
    let version = peer
        .conn
        .version()
        .map(|v| v.to_string())
        .unwrap_or_default();
    eprintln!("{}: joined ({count} connected)", peer.name);
    let welcome = json(&[
        ("type", Json::Str("welcome")),
        ("id", Json::Num(id)),
        ("count", Json::Num(count as u64)),
        ("version", Json::Str(&version)),
    ]);
    if peer.conn.send_text(&welcome).is_ok() {
        run(&mut peer, hub, Some(id), &commands);
    }
    hub.leave(id);
    eprintln!("{}: left", peer.name);
}

/// Reads the request and answers it: the page, a refusal, or the upgrade. True if the
/// connection is open.
fn handshake(peer: &mut Peer, policy: &Policy) -> bool {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match peer.conn.poll_event() {
            Ok(Some(Event::Request(_) | Event::HttpRequest(_))) => break,
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => {
                // A malformed request: the connection queued its 400 (or 431) answer.
                eprintln!("{}: bad request: {e}", peer.name);
                peer.flush();
                return false;
            }
        }
        if Instant::now() > deadline {
            return false;
        }
        peer.read();
    }
    let Some(request) = peer.conn.request() else {
        return false;
    };
    let answer = decide(&request, policy);
    let log = format!(
        "{}: {} {} {} -> {}",
        peer.name,
        request.method(),
        request.target(),
        request
            .version()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "http".into()),
        match &answer {
            Answer::Upgrade { .. } => "101".to_string(),
            Answer::Respond { status, .. } => status.to_string(),
        }
    );
    eprintln!("{log}");
    let result = match answer {
        Answer::Upgrade { chat } => {
            let accept = if chat {
                Accept::new().protocol("chat")
            } else {
                Accept::new()
            };
            peer.conn.accept(accept)
        }
        Answer::Respond {
            status,
            content_type,
            body,
        } => peer
            .conn
            .respond(status, &[("Content-Type", content_type)], body.as_bytes()),
    };
    if let Err(e) = result {
        eprintln!("{}: cannot answer: {e}", peer.name);
        return false;
    }
    peer.flush() && peer.conn.state() == State::Open
}

enum Answer {
    Upgrade {
        chat: bool,
    },
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
}

/// The handshake policy: which paths exist, which origins may connect.
fn decide(request: &Request<'_>, policy: &Policy) -> Answer {
    let text = |status, body: &str| Answer::Respond {
        status,
        content_type: "text/plain; charset=utf-8",
        body: format!("{body}\n"),
    };
    if request.version().is_none() {
        return match (request.method(), request.path()) {
            ("GET", "/") => Answer::Respond {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: PAGE.into(),
            },
            ("GET", "/chat") => text(426, "upgrade to WebSocket here"),
            (_, "/" | "/chat") => text(405, "method not allowed"),
            _ => text(404, "not found"),
        };
    }
    if request.path() != "/chat" {
        return text(404, "not found");
    }
    match request.origin() {
        Some(origin)
            if policy
                .origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin)) => {}
        Some(origin) => return text(403, &format!("origin {origin} is not allowed")),
        None => return text(403, "an Origin header is required"),
    }
    Answer::Upgrade {
        chat: request.protocols().any(|p| p == "chat"),
    }
}

/// Closes with 1001, or as a hixie connection can (it has no codes).
fn close_going_away(conn: &mut Connection<Vec<u8>>) -> Result<(), wsmachine::Error> {
    if conn.state() != State::Open {
        return Ok(());
    }
    match conn.version() {
        Some(v) if v.is_hixie() => conn.close(),
        _ => conn.close_with(CloseCode::GOING_AWAY, "server shutting down"),
    }
}

/// The open connection's loop: commands, timers, events, output, input; until closed.
fn run(peer: &mut Peer, hub: &Hub, id: Option<u64>, commands: &Receiver<Command>) {
    let mut write_shut = false;
    loop {
        while let Ok(command) = commands.try_recv() {
            let sent = match command {
                Command::Send(text) if peer.conn.state() == State::Open => {
                    peer.conn.send_text(&text)
                }
                Command::Send(_) => Ok(()),
                Command::Shutdown => close_going_away(&mut peer.conn),
            };
            if let Err(e) = sent {
                // Output full: the peer does not read. Drop it rather than buffer without end.
                eprintln!("{}: dropped: {e}", peer.name);
                return;
            }
        }
        let now = peer.now();
        peer.conn.handle_timeout(now);
        let mut closed = false;
        let (rx, tx) = peer.conn.split();
        loop {
            match rx.poll_event(tx) {
                Ok(Some(Event::Text(text))) => {
                    if let Some(id) = id {
                        if let Some(error) = on_text(hub, id, text) {
                            let _ = tx.send_text(&error);
                        }
                    }
                }
                Ok(Some(Event::Pong(pong))) => {
                    if let Some(us) = pong.round_trip {
                        let rtt = json(&[("type", Json::Str("rtt")), ("ms", Json::Millis(us))]);
                        let _ = tx.send_text(&rtt);
                    }
                }
                Ok(Some(Event::Close(close))) => {
                    let code = close.code.map(|c| format!(" {c}")).unwrap_or_default();
                    eprintln!("{}: closed{code} {}", peer.name, close.reason);
                    closed = true;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                // The close frame is queued; the close event follows.
                Err(e) => eprintln!("{}: {e}", peer.name),
            }
        }
        if !peer.flush() {
            return;
        }
        if closed || peer.conn.state() == State::Closed {
            let _ = peer.stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        if peer.conn.state() == State::Closing
            && peer.conn.version() == Some(Version::Hixie75)
            && !write_shut
        {
            // hixie-75 closes with the transport: our end of stream, then the peer's.
            let _ = peer.stream.shutdown(std::net::Shutdown::Write);
            write_shut = true;
        }
        peer.read();
    }
}

/// Acts on a chat line from connection `id`; returns an error to send back, if any.
fn on_text(hub: &Hub, id: u64, text: &str) -> Option<String> {
    let Some(rest) = text.strip_prefix("/msg ") else {
        hub.broadcast(&json(&[
            ("type", Json::Str("message")),
            ("from", Json::Num(id)),
            ("text", Json::Str(text)),
        ]));
        return None;
    };
    let (to, body) = rest
        .trim_start()
        .split_once(' ')
        .unwrap_or((rest.trim(), ""));
    let Ok(to) = to.trim_start_matches('#').parse::<u64>() else {
        return Some(error_json("usage: /msg ID text"));
    };
    let private = json(&[
        ("type", Json::Str("private")),
        ("from", Json::Num(id)),
        ("to", Json::Num(to)),
        ("text", Json::Str(body)),
    ]);
    if !hub.send_to(to, &private) {
        return Some(error_json(&format!("no connection #{to}")));
    }
    if to != id {
        hub.send_to(id, &private);
    }
    None
}

fn error_json(text: &str) -> String {
    json(&[("type", Json::Str("error")), ("text", Json::Str(text))])
}

/// A JSON value as this server sends them.
enum Json<'a> {
    Str(&'a str),
    Num(u64),
    /// Microseconds, written as milliseconds with three decimals.
    Millis(u64),
}

/// One flat JSON object; the page parses what the server sends with `JSON.parse`.
fn json(fields: &[(&str, Json<'_>)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(&mut out, name);
        out.push(':');
        match value {
            Json::Str(s) => push_json_str(&mut out, s),
            Json::Num(n) => out.push_str(&n.to_string()),
            Json::Millis(us) => out.push_str(&format!("{}.{:03}", us / 1000, us % 1000)),
        }
    }
    out.push('}');
    out
}

fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters, and the two line separators JavaScript once rejected.
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
