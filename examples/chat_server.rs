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
//! Design: each connection is the blocking driver split in two threads. Its reader blocks in
//! the socket's read and turns messages into registry actions; its writer owns the sending
//! half and blocks on the connection's command channel, which the registry holds, and which
//! also carries what the reader owes it (pongs, the close reply). The writer's wait ends at
//! the next timer (keepalive ping, close timeout) at the latest. No connection state is
//! shared, and nothing wakes up while nothing happens.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use wsmachine::blocking::{Decision, Error, Message, Reader, WebSocket, Writer};
use wsmachine::{CloseCode, Config, HandshakeError, Owed, Request, State, Version};

const PAGE: &str = include_str!("chat_page.html");
/// How long a handshake may take, and a write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a close waits for the peer's answer (microseconds, the blocking driver's unit).
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

/// What a connection's writer thread waits for.
enum Command {
    /// A text message to send.
    Send(Arc<str>),
    /// What a message the reader read obliges the writer to send.
    Owed(Owed),
    /// Close with 1001: the server is shutting down.
    Shutdown,
    /// The reader saw the end: nothing more will be owed.
    ReaderDone,
}

/// The registry of open connections: ids, their command channels, the count.
struct Hub {
    clients: Mutex<Clients>,
    /// Signalled when a connection leaves, for shutdown to wait on.
    left: Condvar,
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
            self.left.notify_all();
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

    /// Waits until every connection left, or `grace` passed; returns how many are left.
    fn wait_empty(&self, grace: Duration) -> usize {
        let clients = self.clients();
        let waited = self
            .left
            .wait_timeout_while(clients, grace, |c| !c.by_id.is_empty());
        let (clients, _) = waited.unwrap_or_else(|e| e.into_inner());
        clients.by_id.len()
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
        // At least 1 µs: a zero interval would ping at every wake-up.
        ping_interval_us: u64::try_from(options.ping_interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1),
    });
    let hub = Arc::new(Hub {
        clients: Mutex::new(Clients {
            by_id: BTreeMap::new(),
            shutting_down: false,
        }),
        left: Condvar::new(),
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
    let left = hub.wait_empty(SHUTDOWN_GRACE);
    if left > 0 {
        eprintln!("chat_server: {left} connections did not close in time");
        std::process::exit(1);
    }
    eprintln!("chat_server: all connections closed");
}

/// One connection from accept to close.
fn serve(stream: TcpStream, hub: &Hub, policy: &Policy) {
    let name = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    // A client that never completes its request, or a peer that stops reading, must not hold
    // a thread for ever.
    if stream.set_read_timeout(Some(IO_TIMEOUT)).is_err()
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
    let accepted = WebSocket::accept_with(stream, config, |request| {
        let decision = decide(request, policy);
        let status = match &decision {
            Decision::Accept { .. } => 101,
            Decision::Respond { status, .. } => *status,
        };
        eprintln!(
            "{name}: {} {} {} -> {status}",
            request.method(),
            request.target(),
            request.version().map_or("http", Version::as_str),
        );
        decision
    });
    let mut ws = match accepted {
        Ok(ws) => ws,
        // The policy's own answer, logged with the request above.
        Err(Error::Refused { .. }) => return,
        // Closed before a whole request came: a browser's spare connection, say.
        Err(Error::WebSocket(wsmachine::Error::Handshake(HandshakeError::ConnectionClosed))) => {
            return
        }
        // A malformed request: its 400 (or 431) answer was sent.
        Err(Error::WebSocket(e)) => {
            eprintln!("{name}: bad request: {e}");
            return;
        }
        Err(e) => {
            eprintln!("{name}: handshake failed: {e}");
            return;
        }
    };
    // From now on the reader waits for messages for as long as the connection lives.
    let _ = ws.get_mut().set_read_timeout(None);
    let version = ws.version().map_or("", Version::as_str);
    let (reader, mut writer) = match ws.split() {
        Ok(halves) => halves,
        Err(e) => {
            eprintln!("{name}: {e}");
            return;
        }
    };
    let (commands_tx, commands) = mpsc::channel();
    let joined = hub.join(commands_tx.clone());
    let name = match joined {
        Some((id, count)) => {
            let name = format!("#{id} {name}");
            eprintln!("{name}: joined ({count} connected)");
            let welcome = json(&[
                ("type", Json::Str("welcome")),
                ("id", Json::Num(id)),
                ("count", Json::Num(count as u64)),
                ("version", Json::Str(version)),
            ]);
            // Written before the writer takes its first command: the welcome comes first.
            if let Err(e) = writer.send_text(&welcome) {
                eprintln!("{name}: write failed: {e}");
                // The reader then sees the end of the stream, and both threads finish.
                let _ = writer.get_mut().shutdown(Shutdown::Both);
            }
            name
        }
        None => {
            let _ = commands_tx.send(Command::Shutdown);
            name
        }
    };
    let id = joined.map(|(id, _)| id);
    std::thread::scope(|threads| {
        threads.spawn(|| read(reader, hub, id, &commands_tx, &name));
        write(writer, &commands, &name);
    });
    if let Some(id) = id {
        hub.leave(id);
        eprintln!("{name}: left");
    }
}

/// The reader thread: messages in, registry actions and owed values out, until the close.
fn read(
    mut reader: Reader<TcpStream>,
    hub: &Hub,
    id: Option<u64>,
    commands: &Sender<Command>,
    name: &str,
) {
    loop {
        let message = reader.read();
        if let Some(owed) = reader.take_owed() {
            let _ = commands.send(Command::Owed(owed));
        }
        match message {
            Ok(Message::Text(text)) => {
                if let Some(error) = id.and_then(|id| on_text(hub, id, &text)) {
                    let _ = commands.send(Command::Send(error.into()));
                }
            }
            Ok(Message::Pong {
                round_trip: Some(us),
                ..
            }) => {
                let rtt = json(&[("type", Json::Str("rtt")), ("ms", Json::Millis(us))]);
                let _ = commands.send(Command::Send(rtt.into()));
            }
            Ok(Message::Close { code, reason, .. }) => {
                let code = code.map(|c| format!(" {c}")).unwrap_or_default();
                eprintln!("{name}: closed{code} {reason}");
                break;
            }
            Ok(_) => {}
            // A violation: its close frame is owed to the writer, and the close follows.
            Err(Error::WebSocket(e @ wsmachine::Error::Protocol(_))) => eprintln!("{name}: {e}"),
            Err(e) => {
                eprintln!("{name}: read failed: {e}");
                break;
            }
        }
    }
    let _ = commands.send(Command::ReaderDone);
}

/// The writer thread: commands, owed values and timers, until nothing more will be sent;
/// then the socket is shut down, which also ends the reader's wait if it still waits (its
/// close is then 1006).
fn write(mut writer: Writer<TcpStream>, commands: &mpsc::Receiver<Command>, name: &str) {
    if let Err(e) = write_commands(&mut writer, commands) {
        eprintln!("{name}: write failed: {e}");
    }
    let _ = writer.get_mut().shutdown(Shutdown::Both);
}

fn write_commands(
    writer: &mut Writer<TcpStream>,
    commands: &mpsc::Receiver<Command>,
) -> Result<(), Error> {
    let mut wait = writer.handle_timeout()?.next;
    loop {
        let command = match wait {
            Some(after) => match commands.recv_timeout(after) {
                Ok(command) => Some(command),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            },
            None => match commands.recv() {
                Ok(command) => Some(command),
                Err(_) => return Ok(()),
            },
        };
        match command {
            Some(Command::Send(text)) if writer.sender().state() == State::Open => {
                writer.send_text(&text)?
            }
            Some(Command::Send(_)) | None => {}
            Some(Command::Owed(owed)) => writer.handle_owed(owed)?,
            Some(Command::Shutdown) => close_going_away(writer)?,
            Some(Command::ReaderDone) => return Ok(()),
        }
        let timers = writer.handle_timeout()?;
        wait = timers.next;
        if timers.close_timed_out || writer.sender().state() == State::Closed {
            // The close reply went out, or our close timed out: nothing more to send.
            return Ok(());
        }
    }
}

/// The handshake policy: which paths exist, which origins may connect.
fn decide(request: &Request<'_>, policy: &Policy) -> Decision {
    let respond = |status, content_type: &str, body: String| Decision::Respond {
        status,
        headers: vec![("Content-Type".into(), content_type.into())],
        body: body.into_bytes(),
    };
    let text =
        |status, body: &str| respond(status, "text/plain; charset=utf-8", format!("{body}\n"));
    if request.version().is_none() {
        return match (request.method(), request.path()) {
            ("GET", "/") => respond(200, "text/html; charset=utf-8", PAGE.into()),
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
    Decision::Accept {
        protocol: request
            .protocols()
            .any(|p| p == "chat")
            .then(|| "chat".into()),
        headers: Vec::new(),
    }
}

/// Closes with 1001, or as a hixie connection can (it has no codes).
fn close_going_away(writer: &mut Writer<TcpStream>) -> Result<(), Error> {
    if writer.sender().state() != State::Open {
        return Ok(());
    }
    match writer.sender().version() {
        Some(v) if v.is_hixie() => writer.close(None, "")?,
        _ => writer.close(Some(CloseCode::GOING_AWAY), "server shutting down")?,
    }
    if writer.sender().version() == Some(Version::Hixie75) {
        // hixie-75 closes with the transport: our end of stream, then the peer's.
        writer.get_mut().shutdown(Shutdown::Write)?;
    }
    Ok(())
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
