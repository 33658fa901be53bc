//! Chat server over `std::net`: the server API the Node.js servers of 2010-2012 offered, built
//! on the sans-IO core.
//!
//! `cargo run --release --example chat_server -- [ADDR] [--allow-origin ORIGIN]...
//! [--ping-interval SECS] [--shutdown-after SECS] [--redis URL]` (default `127.0.0.1:9002`; the
//! default allowlist is the server's own origin `http://ADDR`). Prints `listening on
//! http://ADDR` once it accepts connections.
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
//! - With `--redis URL` (`redis://HOST:PORT/`), every server started with the same Redis is
//!   one chat: see "Several servers" below.
//!
//! The server sends JSON objects, each with a `type`: `welcome` (your `id`, the `count`),
//! `join` and `leave` (`id`, `count`), `message` (`from`, `text`), `private` (`from`, `to`,
//! `text`), `error` (`text`), `rtt` (`ms`) and, with `--redis`, `notice` (`text`, `count`)
//! when the other servers become unreachable or reachable again.
//!
//! Design: each connection is the blocking driver split in two threads. Its reader blocks in
//! the socket's read and turns messages into registry actions; its writer owns the sending
//! half and blocks on the connection's command channel, which the registry holds, and which
//! also carries what the reader owes it (pongs, the close reply). The writer's wait ends at
//! the next timer (keepalive ping, close timeout) at the latest. No connection state is
//! shared, and nothing wakes up while nothing happens. What waits in a command channel is
//! bounded (1 MiB, counted when queued and given back once written): a peer that reads slower
//! than the chat talks would otherwise make the server hold everything said meanwhile. A
//! connection over the bound is dropped, its socket shut down without a close frame (which
//! would wait behind all the rest), and nobody else ever waits for it.
//!
//! Several servers (`--redis`): two threads own the two Redis connections, one publishing and
//! one subscribed. Connection threads never touch Redis: they deliver to this server's clients
//! themselves and put what the other servers need in a bounded queue, without waiting (when it
//! is full, that much does not leave this server).
//!
//! - Ids: a server takes a node number N from Redis once (`INCR wsmachine:chat:node`) and
//!   numbers its connections N × 1,000,000 + 1, + 2, ... (node 3's first is 3000001), so ids
//!   need no Redis once the number is known, and ids stay below 2^53 for the page's
//!   JavaScript. A server that has used half a million ids takes a spare number in advance.
//!   Until it has its first number, `/chat` is answered 503. Each server raises the counter
//!   back to its own numbers on reconnecting and with every heartbeat (2 s), so once Redis
//!   lost it (restarted empty, `FLUSHALL`, eviction, a failover), a server started afterwards
//!   gets a new number; one started within those 2 s could get a number in use.
//! - Broadcasts (messages, joins, leaves) are published on `wsmachine:chat:all`, tagged with a
//!   random token of this process; each server delivers what it receives there to its clients,
//!   except what carries its own token, which it delivered when it was sent. Redis delivers a
//!   publication once to each subscription, and a server holds one subscription at a time: a
//!   message reaches each client once.
//! - `/msg ID text` for an id of another node number is published on that node's channel
//!   `wsmachine:chat:node:N`; the server holding ID delivers it and routes the copy for its
//!   sender back the same way (or an error when ID has left). A channel nobody listens to means
//!   no such connection.
//! - `count` adds the other servers' counts, which each reports with every join and leave and
//!   every 2 s; a server not heard from for 6 s counts for nothing.
//! - Losing Redis: the server says `redis unavailable: ...` on stderr and sends its clients a
//!   `notice`; broadcasts and `/msg` among its own clients go on, a `/msg` to another server's
//!   id is answered with an error, and both threads reconnect with backoff (0.25 s doubling to
//!   5 s; every Redis command has 1 s). Once both are back it says `redis available again` and
//!   sends another `notice`. Nothing published while Redis was lost is replayed, and a failed
//!   publication is not repeated: cross-server delivery is at most once, never twice.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
/// How long shutdown waits for the last joins and leaves to reach Redis.
const REDIS_FLUSH: Duration = Duration::from_secs(1);
/// 1013 (try again later, in the IANA registry): the server has no id to give yet.
const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
/// How many bytes of commands a connection may have waiting for its writer. Everything sent
/// to a peer that reads slower than the chat talks waits here, so without a bound one slow
/// reader holds every message of everybody for as long as it stays.
const BACKLOG_LIMIT: usize = 1024 * 1024;

struct Options {
    addr: String,
    origins: Vec<String>,
    ping_interval: Duration,
    shutdown_after: Option<Duration>,
    redis: Option<String>,
}

fn usage() -> ! {
    eprintln!("usage: chat_server [ADDR] [--allow-origin ORIGIN]... [--ping-interval SECS] [--shutdown-after SECS] [--redis URL]");
    std::process::exit(2);
}

fn parse_args() -> Options {
    let mut options = Options {
        addr: "127.0.0.1:9002".into(),
        origins: Vec::new(),
        ping_interval: Duration::from_secs(5),
        shutdown_after: None,
        redis: None,
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
            "--redis" => options.redis = Some(args.next().unwrap_or_else(|| usage())),
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
    /// Close with this code and reason: the server is shutting down, or has no id to give.
    Close(CloseCode, &'static str),
    /// The reader saw the end: nothing more will be owed.
    ReaderDone,
}

impl Command {
    /// What it holds while it waits, as counted against `BACKLOG_LIMIT`. A close and the
    /// reader's end cost nothing: they come once, and must get through to end the connection.
    fn cost(&self) -> usize {
        match self {
            Command::Send(text) => std::mem::size_of::<Command>() + text.len(),
            Command::Owed(_) => std::mem::size_of::<Command>(),
            Command::Close(..) | Command::ReaderDone => 0,
        }
    }
}

/// A connection's command channel, as the registry and its reader hold it: what may wait in
/// it is bounded, and a connection over the bound is dropped rather than anybody waiting.
#[derive(Clone)]
struct Outbox {
    commands: Sender<Command>,
    backlog: Arc<Backlog>,
}

struct Backlog {
    /// Queued and not yet written, by `Command::cost`.
    bytes: AtomicUsize,
    /// Set once the connection went over `BACKLOG_LIMIT`: it is being dropped.
    over: AtomicBool,
    /// Its socket, to shut down from whichever thread found it over: its writer may be
    /// stuck in a write that the peer lets progress just often enough never to time out.
    socket: TcpStream,
}

impl Outbox {
    /// Queues `command`; false if the connection is gone or is being dropped for having too
    /// much waiting.
    fn push(&self, command: Command) -> bool {
        let cost = command.cost();
        if cost > 0 {
            let backlog = &self.backlog;
            let before = backlog.bytes.fetch_add(cost, Ordering::Relaxed);
            if backlog.over.load(Ordering::Relaxed) || before + cost > BACKLOG_LIMIT {
                backlog.bytes.fetch_sub(cost, Ordering::Relaxed);
                if !backlog.over.swap(true, Ordering::Relaxed) {
                    // No close frame: it would wait behind all the rest. The writer's write
                    // fails, the reader sees the end, and the connection leaves as usual.
                    let _ = backlog.socket.shutdown(Shutdown::Both);
                }
                return false;
            }
        }
        if self.commands.send(command).is_ok() {
            return true;
        }
        self.release(cost);
        false
    }

    /// Gives back what a command held, once the writer is done with it.
    fn release(&self, cost: usize) {
        self.backlog.bytes.fetch_sub(cost, Ordering::Relaxed);
    }

    /// Whether the connection is being dropped for having too much waiting.
    fn over(&self) -> bool {
        self.backlog.over.load(Ordering::Relaxed)
    }
}

/// The registry of open connections: ids, their command channels, the count.
struct Hub {
    clients: Mutex<Clients>,
    /// Signalled when a connection leaves, for shutdown to wait on.
    left: Condvar,
    /// The other servers of the chat, with `--redis`.
    cluster: Option<cluster::Link>,
}

struct Clients {
    by_id: BTreeMap<u64, Outbox>,
    shutting_down: bool,
    /// The next id, when the server is on its own.
    next_id: u64,
}

/// Why a connection got no id.
#[derive(Clone, Copy)]
enum Refused {
    ShuttingDown,
    /// With `--redis`: no node number from Redis yet, or none with ids left.
    NoIds,
}

impl Hub {
    fn clients(&self) -> MutexGuard<'_, Clients> {
        // A thread that panicked while holding the lock left the map consistent (every
        // operation on it is a single insert, remove or iteration), so keep serving.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a connection accepted now would get an id.
    fn has_ids(&self) -> bool {
        self.cluster.as_ref().is_none_or(cluster::Link::has_ids)
    }

    /// How many are connected here and, with `--redis`, on the servers heard from lately.
    fn count(&self, clients: &Clients) -> u64 {
        let others = self.cluster.as_ref().map_or(0, cluster::Link::others);
        (clients.by_id.len() as u64).saturating_add(others)
    }

    /// How many are connected here.
    fn here(&self) -> u64 {
        self.clients().by_id.len() as u64
    }

    /// Adds a connection; returns its id and the count.
    fn join(&self, commands: Outbox) -> Result<(u64, u64), Refused> {
        let mut clients = self.clients();
        if clients.shutting_down {
            return Err(Refused::ShuttingDown);
        }
        let id = match &self.cluster {
            None => {
                let id = clients.next_id;
                clients.next_id += 1;
                id
            }
            Some(cluster) => cluster.next_id().ok_or(Refused::NoIds)?,
        };
        clients.by_id.insert(id, commands);
        let count = self.count(&clients);
        broadcast(&clients, &presence_json("join", id, count), Some(id));
        if let Some(cluster) = &self.cluster {
            cluster.presence("join", id, clients.by_id.len() as u64);
        }
        Ok((id, count))
    }

    fn leave(&self, id: u64) {
        let mut clients = self.clients();
        if clients.by_id.remove(&id).is_some() {
            let count = self.count(&clients);
            broadcast(&clients, &presence_json("leave", id, count), None);
            if let Some(cluster) = &self.cluster {
                cluster.presence("leave", id, clients.by_id.len() as u64);
            }
            self.left.notify_all();
        }
    }

    /// A message from one of this server's connections, for everyone.
    fn broadcast(&self, text: &str) {
        broadcast(&self.clients(), text, None);
        if let Some(cluster) = &self.cluster {
            cluster.message(text);
        }
    }

    /// What another server broadcast, for this server's connections.
    fn relay(&self, text: &str) {
        broadcast(&self.clients(), text, None);
    }

    /// A join or leave on another server, told with the count as this server knows it.
    fn relay_presence(&self, kind: &str, id: u64) {
        let clients = self.clients();
        let count = self.count(&clients);
        broadcast(&clients, &presence_json(kind, id, count), None);
    }

    /// Tells every connection here how the other servers can be reached.
    fn notice(&self, text: &str) {
        let clients = self.clients();
        let notice = json(&[
            ("type", Json::Str("notice")),
            ("text", Json::Str(text)),
            ("count", Json::Num(self.count(&clients))),
        ]);
        broadcast(&clients, &notice, None);
    }

    /// Sends to one connection of this server; false if there is none with that id.
    fn send_to(&self, id: u64, text: &str) -> bool {
        match self.clients().by_id.get(&id) {
            Some(commands) => commands.push(Command::Send(text.into())),
            None => false,
        }
    }

    /// A private message for `to`, wherever it is connected; once it is delivered, a copy
    /// goes to `echo_to` (its sender), or an error when `to` cannot be reached.
    fn deliver_private(&self, to: u64, text: &str, echo_to: Option<u64>) {
        match &self.cluster {
            Some(cluster) if !cluster.holds(to) => {
                // The other servers answer through Redis; only a full queue is known now.
                if !cluster.private(to, text, echo_to) {
                    if let Some(from) = echo_to {
                        let busy = format!("#{to} cannot be reached now: too many messages");
                        self.deliver_here(from, &error_json(&busy), None);
                    }
                }
            }
            _ => self.deliver_here(to, text, echo_to),
        }
    }

    /// As `deliver_private`, for a `to` of this server; never sends `text` on to another.
    fn deliver_here(&self, to: u64, text: &str, echo_to: Option<u64>) {
        if self.send_to(to, text) {
            if let Some(from) = echo_to.filter(|&from| from != to) {
                self.deliver_private(from, text, None);
            }
        } else if let Some(from) = echo_to {
            self.deliver_private(from, &error_json(&format!("no connection #{to}")), None);
        }
    }

    /// Asks every connection to close, and refuses new ones; returns how many there were.
    fn shut_down(&self) -> usize {
        let mut clients = self.clients();
        clients.shutting_down = true;
        for commands in clients.by_id.values() {
            commands.push(Command::Close(
                CloseCode::GOING_AWAY,
                "server shutting down",
            ));
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
            // A connection whose thread has ended is about to leave, and one with too much
            // waiting is being dropped: nothing to tell either.
            commands.push(Command::Send(text.clone()));
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
    let (cluster, redis_threads) = match &options.redis {
        Some(url) => match cluster::Link::new(url) {
            Ok((link, threads)) => (Some(link), Some(threads)),
            Err(e) => {
                eprintln!("chat_server: --redis {url}: {e}");
                std::process::exit(2);
            }
        },
        None => (None, None),
    };
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
            next_id: 1,
        }),
        left: Condvar::new(),
        cluster,
    });
    if let Some(threads) = redis_threads {
        threads.start(hub.clone());
    }

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
                        // Out of threads (memory, mappings): this connection is dropped, not
                        // every other with the whole process.
                        let started =
                            std::thread::Builder::new().spawn(move || serve(stream, &hub, &policy));
                        if let Err(e) = started {
                            eprintln!("chat_server: no thread for a connection, dropped: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                        }
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
    if let Some(cluster) = &hub.cluster {
        cluster.flush(REDIS_FLUSH);
    }
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
        let decision = decide(request, policy, hub);
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
    let socket = match writer.get_mut().try_clone() {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("{name}: no handle on its socket, dropped: {e}");
            return;
        }
    };
    let (commands_tx, commands) = mpsc::channel();
    let commands_tx = Outbox {
        commands: commands_tx,
        backlog: Arc::new(Backlog {
            bytes: AtomicUsize::new(0),
            over: AtomicBool::new(false),
            socket,
        }),
    };
    let joined = hub.join(commands_tx.clone());
    let name = match joined {
        Ok((id, count)) => {
            let name = format!("#{id} {name}");
            eprintln!("{name}: joined ({count} connected)");
            let welcome = json(&[
                ("type", Json::Str("welcome")),
                ("id", Json::Num(id)),
                ("count", Json::Num(count)),
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
        Err(refused) => {
            let (code, reason) = match refused {
                Refused::ShuttingDown => (CloseCode::GOING_AWAY, "server shutting down"),
                Refused::NoIds => {
                    eprintln!("{name}: refused: no connection ids (Redis unavailable)");
                    (TRY_AGAIN_LATER, "no connection ids yet")
                }
            };
            commands_tx.push(Command::Close(code, reason));
            name
        }
    };
    let id = joined.ok().map(|(id, _)| id);
    std::thread::scope(|threads| {
        let reading = std::thread::Builder::new()
            .spawn_scoped(threads, || read(reader, hub, id, &commands_tx, &name));
        match reading {
            Ok(_) => write(writer, &commands, &commands_tx, &name),
            // Without its reader the connection cannot go on: it ends here, dropped.
            Err(e) => eprintln!("{name}: no thread for its reader, dropped: {e}"),
        }
    });
    if let Some(id) = id {
        hub.leave(id);
        eprintln!("{name}: left");
    }
}

/// The reader thread: messages in, registry actions and owed values out, until the close.
fn read(mut reader: Reader<TcpStream>, hub: &Hub, id: Option<u64>, commands: &Outbox, name: &str) {
    loop {
        let message = reader.read();
        if let Some(owed) = reader.take_owed() {
            commands.push(Command::Owed(owed));
        }
        match message {
            Ok(Message::Text(text)) => {
                if let Some(error) = id.and_then(|id| on_text(hub, id, &text)) {
                    commands.push(Command::Send(error.into()));
                }
            }
            Ok(Message::Pong {
                round_trip: Some(us),
                ..
            }) => {
                let rtt = json(&[("type", Json::Str("rtt")), ("ms", Json::Millis(us))]);
                commands.push(Command::Send(rtt.into()));
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
    commands.push(Command::ReaderDone);
}

/// The writer thread: commands, owed values and timers, until nothing more will be sent;
/// then the socket is shut down, which also ends the reader's wait if it still waits (its
/// close is then 1006).
fn write(
    mut writer: Writer<TcpStream>,
    commands: &mpsc::Receiver<Command>,
    outbox: &Outbox,
    name: &str,
) {
    let written = write_commands(&mut writer, commands, outbox);
    if outbox.over() {
        eprintln!(
            "{name}: dropped: more than {} MiB waiting to be sent, the peer reads too slowly",
            BACKLOG_LIMIT >> 20
        );
    } else if let Err(e) = written {
        eprintln!("{name}: write failed: {e}");
    }
    let _ = writer.get_mut().shutdown(Shutdown::Both);
}

fn write_commands(
    writer: &mut Writer<TcpStream>,
    commands: &mpsc::Receiver<Command>,
    outbox: &Outbox,
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
        let cost = command.as_ref().map_or(0, Command::cost);
        match command {
            Some(Command::Send(text)) if writer.sender().state() == State::Open => {
                writer.send_text(&text)?
            }
            Some(Command::Send(_)) | None => {}
            Some(Command::Owed(owed)) => writer.handle_owed(owed)?,
            Some(Command::Close(code, reason)) => close(writer, code, reason)?,
            Some(Command::ReaderDone) => return Ok(()),
        }
        outbox.release(cost);
        let timers = writer.handle_timeout()?;
        wait = timers.next;
        if timers.close_timed_out || writer.sender().state() == State::Closed {
            // The close reply went out, or our close timed out: nothing more to send.
            return Ok(());
        }
    }
}

/// The handshake policy: which paths exist, which origins may connect.
fn decide(request: &Request<'_>, policy: &Policy, hub: &Hub) -> Decision {
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
    if !hub.has_ids() {
        return text(503, "no connection ids yet: waiting for Redis");
    }
    Decision::Accept {
        protocol: request
            .protocols()
            .any(|p| p == "chat")
            .then(|| "chat".into()),
        headers: Vec::new(),
    }
}

/// Closes with `code`, or as a hixie connection can (it has no codes).
fn close(writer: &mut Writer<TcpStream>, code: CloseCode, reason: &str) -> Result<(), Error> {
    if writer.sender().state() != State::Open {
        return Ok(());
    }
    match writer.sender().version() {
        Some(v) if v.is_hixie() => writer.close(None, "")?,
        _ => writer.close(Some(code), reason)?,
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
    // An error for the sender comes through the registry like the copy of the message.
    hub.deliver_private(to, &private, Some(id));
    None
}

fn error_json(text: &str) -> String {
    json(&[("type", Json::Str("error")), ("text", Json::Str(text))])
}

/// A `join` or `leave`.
fn presence_json(kind: &str, id: u64, count: u64) -> String {
    json(&[
        ("type", Json::Str(kind)),
        ("id", Json::Num(id)),
        ("count", Json::Num(count)),
    ])
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

/// Several servers as one chat, through Redis (`--redis`): the module docs say what goes where.
mod cluster {
    use std::collections::HashMap;
    use std::convert::Infallible;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::time::{Duration, Instant, SystemTime};

    use redis::{Client, Connection, RedisError, RedisResult};

    use super::{error_json, Hub};

    /// A connection's id is its node number times this, plus its rank under that number.
    const NODE_STRIDE: u64 = 1_000_000;
    /// The largest integer a JavaScript number holds exactly: the page compares ids.
    const MAX_ID: u64 = (1 << 53) - 1;
    /// The counter node numbers come from.
    const NODE_KEY: &str = "wsmachine:chat:node";
    /// Broadcasts, joins, leaves and counts, for every server.
    const ALL: &str = "wsmachine:chat:all";
    /// Followed by a node number: private messages for that number's ids.
    const NODE_CHANNEL: &str = "wsmachine:chat:node:";
    /// Sets the node counter to at least `ARGV[1]`, in one step, so that a server joining at the
    /// same moment cannot take a number between the read and the write.
    const RAISE: &str = "if (tonumber(redis.call('GET', KEYS[1])) or 0) < tonumber(ARGV[1]) then \
                         redis.call('SET', KEYS[1], ARGV[1]) end return 0";

    /// Bounds connecting to Redis, and every command after.
    const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
    const FIRST_RETRY: Duration = Duration::from_millis(250);
    const LAST_RETRY: Duration = Duration::from_secs(5);
    /// How often a server reports its count, which also shows it is alive.
    const HEARTBEAT: Duration = Duration::from_secs(2);
    /// A server silent for this long has stopped, or cannot be reached: its count is dropped.
    const FORGET_AFTER: Duration = Duration::from_secs(6);
    /// How long the subscription may stay silent before it is pinged: a link can die without
    /// a word, and the subscriber would otherwise wait on it for ever.
    const SILENCE: Duration = Duration::from_secs(5);
    /// How often the subscriber looks for node numbers to listen to: often while it has none,
    /// rarely after (a spare number is taken long before it is used).
    const TICK_WAITING: Duration = Duration::from_millis(50);
    const TICK: Duration = Duration::from_secs(1);
    /// Messages waiting for the publisher, at most.
    const QUEUE: usize = 4096;

    /// What connection threads hand to the publisher.
    enum Out {
        /// A rendered `message`, for the other servers' clients.
        Message(Arc<str>),
        /// A `join` or `leave`, with how many are connected here after it.
        Presence {
            kind: &'static str,
            id: u64,
            here: u64,
        },
        /// A private message for another node number's id; `echo_to` is a sender here.
        Private {
            to: u64,
            text: Arc<str>,
            echo_to: Option<u64>,
        },
        /// Answered once everything queued before it went out, or could not.
        Flush(SyncSender<()>),
    }

    /// The registry's side: it queues and reads shared state, and never waits for Redis.
    pub struct Link {
        outbox: SyncSender<Out>,
        shared: Arc<Shared>,
    }

    /// The two Redis threads, before they start.
    pub struct Threads {
        client: Client,
        outbox: Receiver<Out>,
        shared: Arc<Shared>,
    }

    struct Shared {
        url: String,
        /// Marks this process's broadcasts, which it delivered itself when it sent them.
        token: u64,
        state: Mutex<State>,
        /// Messages for the other servers that found the queue full, not yet reported.
        dropped: AtomicU64,
    }

    #[derive(Default)]
    struct State {
        /// Every node number this server holds, oldest first: their channels come here.
        numbers: Vec<u64>,
        /// The number ids are taken from now, and the next rank under it.
        current: Option<u64>,
        next: u64,
        /// Taken in advance, for when `current` has no rank left.
        spare: Option<u64>,
        publishing: bool,
        subscribed: bool,
        said: Said,
        /// Whether both sides were connected at least once.
        connected_once: bool,
        /// Per token of another server: its count, and when it said so.
        others: HashMap<u64, (u64, Instant)>,
    }

    /// What stderr and the clients were last told.
    #[derive(Clone, Copy, Default, PartialEq)]
    enum Said {
        #[default]
        Nothing,
        Available,
        Unavailable,
    }

    #[derive(Clone, Copy)]
    enum Side {
        Publisher,
        Subscriber,
    }

    impl State {
        fn next_id(&mut self) -> Option<u64> {
            let mut current = self.current?;
            if self.next >= NODE_STRIDE {
                current = self.spare.take()?;
                self.current = Some(current);
                self.next = 1;
            }
            let id = current * NODE_STRIDE + self.next;
            self.next += 1;
            Some(id)
        }

        fn has_ids(&self) -> bool {
            self.current.is_some() && (self.next < NODE_STRIDE || self.spare.is_some())
        }

        fn wants_spare(&self) -> bool {
            self.current.is_some() && self.spare.is_none() && self.next > NODE_STRIDE / 2
        }

        fn adopt(&mut self, number: u64) {
            self.numbers.push(number);
            if self.current.is_none() {
                self.current = Some(number);
                self.next = 1;
            } else {
                self.spare = Some(number);
            }
        }

        fn others(&self) -> u64 {
            let now = Instant::now();
            self.others
                .values()
                .filter(|(_, seen)| now.duration_since(*seen) < FORGET_AFTER)
                // Counts come from Redis: whatever they say must not overflow.
                .fold(0, |sum, (count, _)| sum.saturating_add(*count))
        }
    }

    impl Link {
        /// Checks the URL; nothing is connected before `Threads::start`.
        pub fn new(url: &str) -> RedisResult<(Link, Threads)> {
            let client = Client::open(url)?;
            let (outbox_tx, outbox) = mpsc::sync_channel(QUEUE);
            let shared = Arc::new(Shared {
                url: url.to_owned(),
                token: token(),
                state: Mutex::default(),
                dropped: AtomicU64::new(0),
            });
            let link = Link {
                outbox: outbox_tx,
                shared: shared.clone(),
            };
            Ok((
                link,
                Threads {
                    client,
                    outbox,
                    shared,
                },
            ))
        }

        pub fn has_ids(&self) -> bool {
            self.shared.state().has_ids()
        }

        pub fn next_id(&self) -> Option<u64> {
            self.shared.state().next_id()
        }

        /// Whether `id` is one of this server's ids (connected or not).
        pub fn holds(&self, id: u64) -> bool {
            self.shared.state().numbers.contains(&(id / NODE_STRIDE))
        }

        /// How many are connected on the other servers heard from lately.
        pub fn others(&self) -> u64 {
            self.shared.state().others()
        }

        pub fn presence(&self, kind: &'static str, id: u64, here: u64) {
            self.queue(Out::Presence { kind, id, here });
        }

        pub fn message(&self, text: &str) {
            self.queue(Out::Message(text.into()));
        }

        /// Queues a private message for another server; false if the queue is full.
        pub fn private(&self, to: u64, text: &str, echo_to: Option<u64>) -> bool {
            self.queue(Out::Private {
                to,
                text: text.into(),
                echo_to,
            })
        }

        /// Waits, `within` at most, for what was queued so far to be published.
        pub fn flush(&self, within: Duration) {
            let (done_tx, done) = mpsc::sync_channel(1);
            if self.outbox.try_send(Out::Flush(done_tx)).is_ok() {
                let _ = done.recv_timeout(within);
            }
        }

        fn queue(&self, out: Out) -> bool {
            match self.outbox.try_send(out) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        }
    }

    impl Threads {
        pub fn start(self, hub: Arc<Hub>) {
            let Threads {
                client,
                outbox,
                shared,
            } = self;
            {
                let (client, shared, hub) = (client.clone(), shared.clone(), hub.clone());
                std::thread::spawn(move || subscribe(&client, &shared, &hub));
            }
            std::thread::spawn(move || {
                let mut publisher = Publisher {
                    client,
                    shared,
                    hub,
                    con: None,
                    retry: Backoff::default(),
                    retry_at: Instant::now(),
                };
                publisher.serve(&outbox);
            });
        }
    }

    impl Shared {
        fn state(&self) -> MutexGuard<'_, State> {
            // Every update of the state is a single assignment or push: keep it after a panic.
            self.state.lock().unwrap_or_else(|e| e.into_inner())
        }

        /// Another server's count.
        fn heard(&self, token: u64, count: u64) {
            let now = Instant::now();
            let mut state = self.state();
            // A restarted server comes back with a new token: the old one would stay for ever.
            state
                .others
                .retain(|_, (_, seen)| now.duration_since(*seen) < FORGET_AFTER);
            state.others.insert(token, (count, now));
        }

        /// Records whether one side reaches Redis, and says so when the whole changed.
        fn report(&self, hub: &Hub, side: Side, result: Result<(), &RedisError>) {
            let (before, now, first, numbers) = {
                let mut state = self.state();
                let up = result.is_ok();
                match side {
                    Side::Publisher => state.publishing = up,
                    Side::Subscriber => {
                        state.subscribed = up;
                        // The subscription sees a lost Redis at once, the publisher only at its
                        // next command: until that succeeds, its connection is suspect too.
                        state.publishing &= up;
                    }
                }
                let before = state.said;
                let now = if !up {
                    Said::Unavailable
                } else if state.publishing && state.subscribed {
                    Said::Available
                } else {
                    before
                };
                if now == before {
                    return;
                }
                state.said = now;
                if now == Said::Unavailable {
                    // Their counts can no longer be heard, nor their clients reached.
                    state.others.clear();
                }
                let first = now == Said::Available && !state.connected_once;
                state.connected_once |= now == Said::Available;
                (before, now, first, state.numbers.clone())
            };
            let numbers: Vec<String> = numbers.iter().map(u64::to_string).collect();
            let numbers = numbers.join(", ");
            match (now, result) {
                (Said::Unavailable, Err(e)) if numbers.is_empty() => eprintln!(
                    "chat_server: redis unavailable: {e}; no chat connections before Redis \
                     gives this server a node number, reconnecting"
                ),
                (Said::Unavailable, Err(e)) => {
                    eprintln!(
                        "chat_server: redis unavailable: {e}; serving this server's clients \
                         only, reconnecting"
                    );
                    if before == Said::Available {
                        hub.notice(
                            "the other servers cannot be reached (Redis unavailable): \
                             messages reach this server's users only",
                        );
                    }
                }
                _ if first => {
                    eprintln!(
                        "chat_server: redis: connected to {} as node {numbers}",
                        self.url
                    )
                }
                _ => {
                    eprintln!(
                        "chat_server: redis available again ({}): node {numbers}, the other \
                         servers can be reached",
                        self.url
                    );
                    hub.notice("the other servers can be reached again");
                }
            }
        }
    }

    /// A random token per process (the standard hasher's keys are random), mixed with the
    /// process id and the time so that two processes never share one.
    fn token() -> u64 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
        hasher.write_u128(since.map_or(0, |d| d.as_nanos()));
        hasher.finish()
    }

    fn node_channel(number: u64) -> String {
        format!("{NODE_CHANNEL}{number}")
    }

    #[derive(Clone, Copy)]
    struct Backoff(Duration);

    impl Default for Backoff {
        fn default() -> Self {
            Backoff(FIRST_RETRY)
        }
    }

    impl Backoff {
        fn next(&mut self) -> Duration {
            let wait = self.0;
            self.0 = (wait * 2).min(LAST_RETRY);
            wait
        }
    }

    fn connect(client: &Client) -> RedisResult<Connection> {
        let con = client.get_connection_with_timeout(REDIS_TIMEOUT)?;
        con.set_read_timeout(Some(REDIS_TIMEOUT))?;
        con.set_write_timeout(Some(REDIS_TIMEOUT))?;
        Ok(con)
    }

    /// A first node number, or, after a reconnection, the counter raised back to ours.
    fn register(con: &mut Connection, shared: &Shared) -> RedisResult<()> {
        if shared.state().numbers.is_empty() {
            take_number(con, shared)
        } else {
            raise(con, shared)
        }
    }

    /// Raises the node counter to at least our highest number, so that a server starting now
    /// cannot be given a number we hold; nothing before we have one.
    fn raise(con: &mut Connection, shared: &Shared) -> RedisResult<()> {
        let Some(highest) = shared.state().numbers.iter().max().copied() else {
            return Ok(());
        };
        redis::cmd("EVAL")
            .arg(RAISE)
            .arg(1)
            .arg(NODE_KEY)
            .arg(highest)
            .query(con)
    }

    fn take_number(con: &mut Connection, shared: &Shared) -> RedisResult<()> {
        let number: u64 = redis::cmd("INCR").arg(NODE_KEY).query(con)?;
        let usable = number
            .checked_mul(NODE_STRIDE)
            .and_then(|first| first.checked_add(NODE_STRIDE - 1))
            .is_some_and(|last| last <= MAX_ID);
        if number == 0 || !usable {
            let why = format!("{NODE_KEY} gave node number {number}, out of range");
            return Err(std::io::Error::other(why).into());
        }
        shared.state().adopt(number);
        eprintln!(
            "chat_server: redis: node number {number}, ids from {}",
            number * NODE_STRIDE + 1
        );
        Ok(())
    }

    fn publish(con: &mut Connection, channel: &str, payload: &str) -> RedisResult<u64> {
        redis::cmd("PUBLISH").arg(channel).arg(payload).query(con)
    }

    /// The publishing thread: the queue, the heartbeat, node numbers.
    struct Publisher {
        client: Client,
        shared: Arc<Shared>,
        hub: Arc<Hub>,
        con: Option<Connection>,
        retry: Backoff,
        retry_at: Instant,
    }

    impl Publisher {
        fn serve(&mut self, outbox: &Receiver<Out>) {
            let mut beat_at = Instant::now();
            loop {
                let now = Instant::now();
                if self.con.is_none() && now >= self.retry_at {
                    self.run(|_, _| Ok(()));
                }
                if now >= beat_at {
                    beat_at = now + HEARTBEAT;
                    let beat = format!("{:016x} count {}", self.shared.token, self.hub.here());
                    // Redis can lose the counter without dropping the connection (FLUSHALL,
                    // eviction, a failover to a replica that never had it): raising it on
                    // reconnecting only would leave it lost until then.
                    self.run(|con, shared| {
                        raise(con, shared)?;
                        publish(con, ALL, &beat)
                    });
                    let dropped = self.shared.dropped.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        eprintln!(
                            "chat_server: redis: {dropped} messages for the other servers \
                             dropped, the queue was full"
                        );
                    }
                }
                if self.shared.state().wants_spare() {
                    self.run(take_number);
                }
                let mut until = beat_at;
                if self.con.is_none() {
                    until = until.min(self.retry_at);
                }
                match outbox.recv_timeout(until.saturating_duration_since(Instant::now())) {
                    Ok(out) => self.send(out),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }

        /// Runs `command`, connecting first if the connection was lost and it is time to try
        /// again; `None` when Redis could not be reached or failed.
        fn run<T>(
            &mut self,
            command: impl FnOnce(&mut Connection, &Shared) -> RedisResult<T>,
        ) -> Option<T> {
            if self.con.is_none() {
                if Instant::now() < self.retry_at {
                    return None;
                }
                let connected = connect(&self.client).and_then(|mut con| {
                    register(&mut con, &self.shared)?;
                    Ok(con)
                });
                match connected {
                    Ok(con) => {
                        self.con = Some(con);
                        self.retry = Backoff::default();
                    }
                    Err(e) => {
                        self.lost(&e);
                        return None;
                    }
                }
            }
            let con = self.con.as_mut()?;
            match command(con, &self.shared) {
                Ok(value) => {
                    self.shared.report(&self.hub, Side::Publisher, Ok(()));
                    Some(value)
                }
                Err(e) => {
                    self.lost(&e);
                    None
                }
            }
        }

        /// A failed command is not sent again: Redis may have published it before failing,
        /// and a message must not arrive twice.
        fn lost(&mut self, e: &RedisError) {
            self.con = None;
            self.retry_at = Instant::now() + self.retry.next();
            self.shared.report(&self.hub, Side::Publisher, Err(e));
        }

        fn send(&mut self, out: Out) {
            let token = self.shared.token;
            match out {
                Out::Message(text) => {
                    let payload = format!("{token:016x} msg {text}");
                    self.run(|con, _| publish(con, ALL, &payload));
                }
                Out::Presence { kind, id, here } => {
                    let payload = format!("{token:016x} {kind} {id} {here}");
                    self.run(|con, _| publish(con, ALL, &payload));
                }
                Out::Private { to, text, echo_to } => {
                    let channel = node_channel(to / NODE_STRIDE);
                    let payload = format!("private {to} {} {text}", echo_to.unwrap_or(0));
                    let listeners = self.run(|con, _| publish(con, &channel, &payload));
                    let why = match listeners {
                        Some(0) => format!("no connection #{to}"),
                        Some(_) => return,
                        None => format!(
                            "#{to} cannot be reached: Redis is unavailable, only this \
                             server's users can be"
                        ),
                    };
                    if let Some(from) = echo_to {
                        self.hub.deliver_here(from, &error_json(&why), None);
                    }
                }
                Out::Flush(done) => {
                    let _ = done.try_send(());
                }
            }
        }
    }

    /// The subscribed thread: for ever, connect, listen until the link fails, wait, again.
    fn subscribe(client: &Client, shared: &Shared, hub: &Hub) {
        let mut retry = Backoff::default();
        loop {
            let lost = match connect(client) {
                Ok(mut con) => {
                    let Err(e) = listen(&mut con, shared, hub, &mut retry);
                    e
                }
                Err(e) => e,
            };
            shared.report(hub, Side::Subscriber, Err(&lost));
            std::thread::sleep(retry.next());
        }
    }

    fn listen(
        con: &mut Connection,
        shared: &Shared,
        hub: &Hub,
        retry: &mut Backoff,
    ) -> RedisResult<Infallible> {
        let mut pubsub = con.as_pubsub();
        pubsub.subscribe(ALL)?;
        let mut listening: Vec<u64> = Vec::new();
        let mut tick = REDIS_TIMEOUT;
        let mut heard = Instant::now();
        loop {
            let numbers = shared.state().numbers.clone();
            let mut added = false;
            for number in numbers {
                if !listening.contains(&number) {
                    pubsub.subscribe(node_channel(number))?;
                    listening.push(number);
                    added = true;
                }
            }
            if added {
                *retry = Backoff::default();
                shared.report(hub, Side::Subscriber, Ok(()));
            }
            let wanted = if listening.is_empty() {
                TICK_WAITING
            } else {
                TICK
            };
            if wanted != tick {
                pubsub.set_read_timeout(Some(wanted))?;
                tick = wanted;
            }
            match pubsub.get_message() {
                Ok(message) => {
                    heard = Instant::now();
                    receive(
                        shared,
                        hub,
                        message.get_channel_name(),
                        message.get_payload_bytes(),
                    );
                }
                Err(e) if e.is_timeout() => {
                    if heard.elapsed() >= SILENCE {
                        pubsub.set_read_timeout(Some(REDIS_TIMEOUT))?;
                        tick = REDIS_TIMEOUT;
                        pubsub.ping::<redis::Value>()?;
                        heard = Instant::now();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// What another server published. Anything malformed is dropped: whoever can publish on
    /// Redis must not be able to stop this thread.
    fn receive(shared: &Shared, hub: &Hub, channel: &str, payload: &[u8]) {
        let Ok(payload) = std::str::from_utf8(payload) else {
            return;
        };
        if channel == ALL {
            let mut fields = payload.splitn(3, ' ');
            let (Some(token), Some(kind), Some(rest)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return;
            };
            let Ok(token) = u64::from_str_radix(token, 16) else {
                return;
            };
            if token == shared.token {
                return;
            }
            match kind {
                "msg" => hub.relay(rest),
                "join" | "leave" => {
                    let mut numbers = rest.split(' ').map(str::parse::<u64>);
                    if let (Some(Ok(id)), Some(Ok(here)), None) =
                        (numbers.next(), numbers.next(), numbers.next())
                    {
                        shared.heard(token, here);
                        hub.relay_presence(kind, id);
                    }
                }
                "count" => {
                    if let Ok(here) = rest.parse() {
                        shared.heard(token, here);
                    }
                }
                _ => {}
            }
        } else if channel.starts_with(NODE_CHANNEL) {
            let mut fields = payload.splitn(4, ' ');
            let (Some("private"), Some(to), Some(echo_to), Some(text)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return;
            };
            let (Ok(to), Ok(echo_to)) = (to.parse(), echo_to.parse::<u64>()) else {
                return;
            };
            hub.deliver_here(to, text, (echo_to != 0).then_some(echo_to));
        }
    }
}
