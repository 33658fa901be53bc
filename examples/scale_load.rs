//! Scale test for a WebSocket server: many connections held open at once, and the server's
//! resident memory after each stage.
//!
//! `cargo run --release --example scale_load -- URL --connections N [--processes P]
//! [--sources K] [--server-pid PID] [--echo-rounds R] [--size BYTES] [--broadcasts B]
//! [--hold SECS] [--timeout SECS]`
//!
//! Defaults: 1 process, 1 source address, 1 echo round of 20 bytes, no broadcasts, a 5 s hold,
//! 180 s for the whole run. URL is a `ws://` URL on an address of 127.0.0.0/8.
//!
//! A process holds one descriptor per connection and its descriptor limit may be below N, so
//! the tool runs P worker processes of its own executable (`--worker`, not for direct use),
//! each with its share of the N connections as tasks on one smol thread, and drives them over
//! their stdin and stdout, stage by stage, all in step. Each connection is bound, before it
//! connects, to one of K loopback source addresses, 127.0.0.2 to 127.0.0.(K+1) in turn: each
//! source address has its own ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`),
//! which bounds how many connections it can make to one server. The WebSocket side is the
//! async driver of `async_ws/mod.rs`, RFC 6455 without permessage-deflate.
//!
//! The stages; each ends when every worker has reported it done:
//!
//! 1. `start`: the workers are up, nothing is open;
//! 2. `open`: all N connections open (TCP, then the upgrade), at most 64 opening at once over
//!    all workers, so that no listen backlog overflows;
//! 3. `idle`: all of them held for `--hold` seconds without traffic (a ping or pong from the
//!    server is allowed, anything else fails the connection);
//! 4. `echo`: each connection sends R messages of S bytes, text and binary in turn, at most
//!    64 KiB ahead of their echoes, and checks every echo byte for byte and in order;
//! 5. `broadcast` (unless B is 0): B connections spread evenly over the N each send one
//!    `/all TAG`, with B distinct tags, and every connection must receive every tag as a text
//!    message exactly once, each within 20 s of the one before; anything else fails it (a tag
//!    that arrives again later is caught while closing);
//! 6. `close`: every connection closes with 1000 and expects the server's close with 1000 and
//!    nothing before it, then gives the server 2 s to end the TCP connection;
//! 7. `after`: 2 s later, nothing open.
//!
//! After each stage it prints a row; with `--server-pid` the row has the server's `VmRSS` and
//! `RssAnon` from `/proc/PID/status` and the change of `VmRSS` since `start`, in bytes per open
//! connection. The end reports the resident memory an idle connection costs and what the
//! server kept after they all closed (here `smol_echo_server`):
//!
//! ```text
//! | stage | open | stage s | elapsed s | RSS KiB | RssAnon KiB | RSS change per open connection, B |
//! |---|---|---|---|---|---|---|
//! | start | 0 | 0.001 | 0.001 | 2524 | 244 | - |
//! | open | 19000 | 1.121 | 1.122 | 177588 | 175244 | 9435 |
//! | idle | 19000 | 5.037 | 6.159 | 177588 | 175244 | 9435 |
//! | echo | 19000 | 0.386 | 6.545 | 186276 | 183932 | 9903 |
//! | close | 0 | 0.848 | 7.393 | 175352 | 173008 | - |
//! | after | 0 | 2.002 | 9.394 | 175352 | 173008 | - |
//! idle bytes per connection: 9435
//! after/start RSS: 175352 KiB / 2524 KiB = 69.47
//! passed: 19000 connections opened, held idle, echoed and closed cleanly
//! ```
//!
//! `idle bytes per connection` is (`VmRSS` at the end of `idle` − `VmRSS` at `start`) / N.
//!
//! Every wait is bounded: each stage by its own deadline (`open` 120 s, `idle` the hold and
//! 10 s, `echo` 60 s, `broadcast` 20 s per tag, `close` 60 s), the whole run by `--timeout`.
//! A failed connect or handshake, a missing, wrong, repeated or unexpected message, an unclean
//! close, a worker that exits or misses its deadline, or a server whose `/proc/PID/status` is
//! gone ends the run: it prints what failed (the stage, the worker, and the connections that
//! failed first, as numbers 0 to N−1 with their source address, and what each was waiting
//! for), kills the workers and exits with status 1. A worker reports 1 s after its first
//! failure, without waiting for the deadlines of connections still fine. Bad options exit
//! with status 2. A worker exits as soon as its stdin closes, so the workers end with the
//! parent however it ends.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, BufRead, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::process::{exit, Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_ws::{AsyncWebSocket, Transport};
use futures_lite::{AsyncReadExt, FutureExt};
use smol::channel;
use smol::lock::Semaphore;
use smol::{Async, LocalExecutor, Timer};
use socket2::{Domain, Protocol, Socket, Type};
use wsmachine::drive::Message;
use wsmachine::{ClientRequest, CloseCode, Config, OsEntropy, WsUrl};

/// Connections opening at once over all workers: more than the server's listen backlog (128
/// for `std::net`) would drop SYNs and stall on the kernel's one-second retransmit.
const OPENING_AT_ONCE: usize = 64;
const START_LIMIT: Duration = Duration::from_secs(10);
const OPEN_LIMIT: Duration = Duration::from_secs(120);
/// Time the `idle` stage may take beyond the hold itself.
const IDLE_SLACK: Duration = Duration::from_secs(10);
const ECHO_LIMIT: Duration = Duration::from_secs(60);
/// The longest a connection waits for its next broadcast.
const BROADCAST_WAIT: Duration = Duration::from_secs(20);
const CLOSE_LIMIT: Duration = Duration::from_secs(60);
/// How long the parent waits past a stage's deadline: a worker that reaches the deadline
/// still reports which connections were late and why.
const WORKER_GRACE: Duration = Duration::from_secs(5);
/// How long after the close the `after` row is taken: the server frees what it held for the
/// closed connections in that time.
const AFTER_CLOSE: Duration = Duration::from_secs(2);
/// How long a closed connection waits for the server to end the TCP connection.
const EOF_WAIT: Duration = Duration::from_secs(2);
/// How far a connection's messages may run ahead of their echoes, in bytes: small enough that
/// the socket buffers always hold them, so that neither side blocks the other.
const ECHO_AHEAD_BYTES: usize = 64 * 1024;
/// Descriptors a worker needs besides its connections: standard streams, the reactor's.
const WORKER_DESCRIPTORS: usize = 32;
const MAX_PROCESSES: usize = 64;
const MAX_BROADCASTS: usize = 1000;
const MAX_SIZE: usize = 1 << 20;
/// Failed connections named in a report; the rest are counted.
const FAILURES_SHOWN: usize = 5;
/// How long a worker still collects failures after the first one before it reports.
const FAILURE_LINGER: Duration = Duration::from_secs(1);
/// `connect` on a non-blocking socket: the connection is under way. std has no stable
/// `ErrorKind` for it, and the tool reads `/proc`, so it is Linux's number.
const EINPROGRESS: i32 = 115;

const USAGE: &str = "usage: scale_load URL --connections N [--processes P] [--sources K] \
                     [--server-pid PID] [--echo-rounds R] [--size BYTES] [--broadcasts B] \
                     [--hold SECS] [--timeout SECS]";

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "--worker") {
        args.next();
        worker_main(args.collect());
    }
    let options = match parse_args(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("scale_load: {e}\n{USAGE}");
            exit(2);
        }
    };
    if let Err(e) = check_capacity(&options) {
        eprintln!("scale_load: {e}");
        exit(2);
    }
    let mut workers = match Workers::spawn(&options) {
        Ok(workers) => workers,
        Err(e) => {
            eprintln!("scale_load: {e}");
            exit(1);
        }
    };
    let result = run(&options, &mut workers).and_then(|()| workers.finish());
    if let Err(e) = result {
        eprintln!("scale_load: {e}");
        workers.kill();
        exit(1);
    }
}

struct Options {
    url: String,
    connections: usize,
    processes: usize,
    sources: usize,
    server_pid: Option<u32>,
    rounds: usize,
    size: usize,
    broadcasts: usize,
    hold: Duration,
    timeout: Duration,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut url = None;
    let mut connections = None;
    let mut options = Options {
        url: String::new(),
        connections: 0,
        processes: 1,
        sources: 1,
        server_pid: None,
        rounds: 1,
        size: 20,
        broadcasts: 0,
        hold: Duration::from_secs(5),
        timeout: Duration::from_secs(180),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0);
            }
            "--hold" | "--timeout" => {
                let value = value()?;
                let seconds = value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| (0.0..=86_400.0).contains(s))
                    .ok_or(format!("bad value for {arg}: {value}"))?;
                let seconds = Duration::from_secs_f64(seconds);
                match arg.as_str() {
                    "--hold" => options.hold = seconds,
                    _ => options.timeout = seconds,
                }
            }
            "--connections" | "--processes" | "--sources" | "--server-pid" | "--echo-rounds"
            | "--size" | "--broadcasts" => {
                let value = value()?;
                let n: usize = value
                    .parse()
                    .map_err(|_| format!("bad value for {arg}: {value}"))?;
                match arg.as_str() {
                    "--connections" => connections = Some(n),
                    "--processes" => options.processes = n,
                    "--sources" => options.sources = n,
                    "--server-pid" => {
                        options.server_pid =
                            Some(u32::try_from(n).map_err(|_| format!("bad pid {n}"))?)
                    }
                    "--echo-rounds" => options.rounds = n,
                    "--size" => options.size = n,
                    _ => options.broadcasts = n,
                }
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ if url.is_none() => url = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    options.url = url.ok_or("no URL given")?;
    options.connections = connections.ok_or("--connections is required")?;
    target_of(&options.url)?;
    let n = options.connections;
    if n == 0 {
        return Err("--connections must be at least 1".into());
    }
    if !(1..=MAX_PROCESSES.min(n)).contains(&options.processes) {
        return Err(format!("--processes must be 1 to {}", MAX_PROCESSES.min(n)));
    }
    // 127.0.0.2 to 127.0.0.254: neither the usual server address nor the broadcast one.
    if !(1..=253).contains(&options.sources) {
        return Err("--sources must be 1 to 253".into());
    }
    if options.size > MAX_SIZE {
        return Err(format!("--size must be at most {MAX_SIZE}"));
    }
    if options.broadcasts > n.min(MAX_BROADCASTS) {
        return Err(format!(
            "--broadcasts must be at most {} (one sender per broadcast)",
            n.min(MAX_BROADCASTS)
        ));
    }
    if options.timeout.is_zero() {
        return Err("--timeout must be more than 0".into());
    }
    Ok(options)
}

/// Where the URL points.
struct Target {
    addr: SocketAddrV4,
    host_header: String,
    path: String,
}

fn target_of(url: &str) -> Result<Target, String> {
    let parsed = WsUrl::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    if parsed.secure {
        return Err("only ws:// URLs are supported".into());
    }
    let ip: Ipv4Addr = parsed
        .host
        .parse()
        .ok()
        .filter(Ipv4Addr::is_loopback)
        .ok_or(format!(
            "{} is not an address of 127.0.0.0/8, the only network the tool works on",
            parsed.host
        ))?;
    Ok(Target {
        addr: SocketAddrV4::new(ip, parsed.port),
        host_header: parsed.host_header.into(),
        path: parsed.target.into(),
    })
}

/// Refuses a run that the descriptor limit or the ephemeral ports cannot hold, before any
/// connection is made.
fn check_capacity(options: &Options) -> Result<(), String> {
    let share = options.connections.div_ceil(options.processes);
    if let Some(limit) = descriptor_limit("self") {
        let room = limit.saturating_sub(WORKER_DESCRIPTORS).max(1);
        if share > room {
            return Err(format!(
                "a worker would hold {share} connections and a process may open {limit} \
                 descriptors: use at least {} --processes",
                options.connections.div_ceil(room)
            ));
        }
    }
    if let Some(ports) = ephemeral_ports() {
        let per_source = options.connections.div_ceil(options.sources);
        if per_source > ports {
            return Err(format!(
                "{per_source} connections per source address, but a source address has \
                 {ports} ephemeral ports: use at least {} --sources",
                options.connections.div_ceil(ports)
            ));
        }
    }
    if let Some(pid) = options.server_pid {
        // Listener and standard streams besides the connections.
        if let Some(limit) = descriptor_limit(&pid.to_string()) {
            if limit < options.connections + 4 {
                eprintln!(
                    "scale_load: note: the server may open {limit} descriptors, fewer than \
                     {} connections and its own need if each takes one",
                    options.connections
                );
            }
        }
    }
    Ok(())
}

/// The soft `RLIMIT_NOFILE` of a process, from `/proc/PID/limits`.
fn descriptor_limit(pid: &str) -> Option<usize> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn ephemeral_ports() -> Option<usize> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut ends = range.split_whitespace().map(|p| p.parse::<usize>().ok());
    let (low, high) = (ends.next()??, ends.next()??);
    Some(high.checked_sub(low)? + 1)
}

/// The server's resident memory, in KiB.
#[derive(Clone, Copy)]
struct Memory {
    rss: u64,
    anon: u64,
}

fn server_memory(pid: u32) -> Result<Memory, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {path} (has the server exited?): {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or(format!("no {name} in {path} (has the server exited?)"))
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        anon: field("RssAnon:")?,
    })
}

/// The stages, one table row each.
fn run(options: &Options, workers: &mut Workers) -> Result<(), String> {
    let n = options.connections;
    let sources = match options.sources {
        1 => "127.0.0.2".to_string(),
        k => format!("127.0.0.2 to 127.0.0.{}", k + 1),
    };
    let server = options
        .server_pid
        .map(|pid| format!(", server pid {pid}"))
        .unwrap_or_default();
    println!(
        "scale_load: {n} connections to {} from {} processes, source addresses {sources}; \
         echo {} × {} B, {} broadcasts{server}",
        options.url, options.processes, options.rounds, options.size, options.broadcasts
    );
    println!(
        "| stage | open | stage s | elapsed s | RSS KiB | RssAnon KiB | \
         RSS change per open connection, B |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut table = Table {
        pid: options.server_pid,
        started: Instant::now(),
        deadline: Instant::now() + options.timeout,
        timeout: options.timeout,
        start: None,
    };
    let start = table.stage(workers, "start", 0, START_LIMIT, |ms| format!("start {ms}"))?;
    table.start = start;
    table.stage(workers, "open", n, OPEN_LIMIT, |ms| format!("open {ms}"))?;
    if Instant::now() + options.hold > table.deadline {
        let out = table.out_of_time("idle");
        return Err(format!(
            "{out} (a hold of {} s)",
            options.hold.as_secs_f64()
        ));
    }
    let hold = options.hold.as_millis();
    let idle = table.stage(workers, "idle", n, options.hold + IDLE_SLACK, |ms| {
        format!("idle {ms} {hold}")
    })?;
    table.stage(workers, "echo", n, ECHO_LIMIT, |ms| format!("echo {ms}"))?;
    if options.broadcasts > 0 {
        let tags = broadcast_plan(n, options.broadcasts);
        let limit = BROADCAST_WAIT * (options.broadcasts as u32 + 1);
        let wait = BROADCAST_WAIT.as_millis();
        table.stage(workers, "broadcast", n, limit, |ms| {
            format!("broadcast {ms} {wait} {tags}")
        })?;
    }
    table.stage(workers, "close", 0, CLOSE_LIMIT, |ms| format!("close {ms}"))?;
    let begun = Instant::now();
    if begun + AFTER_CLOSE > table.deadline {
        return Err(table.out_of_time("after"));
    }
    std::thread::sleep(AFTER_CLOSE);
    let after = table.row("after", 0, begun)?;
    match (table.start, idle, after) {
        (Some(start), Some(idle), Some(after)) => {
            let grown = (idle.rss as i64 - start.rss as i64) * 1024;
            println!("idle bytes per connection: {}", grown / n as i64);
            println!(
                "after/start RSS: {} KiB / {} KiB = {:.2}",
                after.rss,
                start.rss,
                after.rss as f64 / start.rss.max(1) as f64
            );
        }
        _ => println!("idle bytes per connection: unknown (no --server-pid)"),
    }
    println!(
        "passed: {n} connections opened, held{}, echoed{} and closed cleanly",
        if options.hold.is_zero() { "" } else { " idle" },
        if options.broadcasts > 0 {
            ", broadcast to"
        } else {
            ""
        }
    );
    Ok(())
}

/// The broadcasts as the workers are told them: `SENDER=TAG` for each, senders spread evenly
/// over the connections (and so over the workers), tags distinct and unlike any echo.
fn broadcast_plan(connections: usize, broadcasts: usize) -> String {
    let run = std::process::id();
    (0..broadcasts)
        .map(|i| format!("{}=tag{i}-{run}", i * connections / broadcasts))
        .collect::<Vec<_>>()
        .join(" ")
}

struct Table {
    pid: Option<u32>,
    started: Instant,
    /// The end of the whole run (`--timeout`).
    deadline: Instant,
    timeout: Duration,
    start: Option<Memory>,
}

impl Table {
    /// Runs a stage in every worker, which must end with `open` connections open; `command`
    /// makes the workers' command from the milliseconds they have.
    fn stage(
        &mut self,
        workers: &mut Workers,
        name: &str,
        open: usize,
        limit: Duration,
        command: impl FnOnce(u128) -> String,
    ) -> Result<Option<Memory>, String> {
        let begun = Instant::now();
        let until = (begun + limit).min(self.deadline);
        if until <= begun {
            return Err(self.out_of_time(name));
        }
        let command = command(until.duration_since(begun).as_millis());
        let reported = workers.command(name, &command, until + WORKER_GRACE)?;
        if reported != open {
            return Err(format!(
                "stage {name}: the workers hold {reported} connections, not {open}"
            ));
        }
        self.row(name, open, begun)
    }

    fn row(&self, name: &str, open: usize, begun: Instant) -> Result<Option<Memory>, String> {
        let memory = self.pid.map(server_memory).transpose()?;
        let kib = |f: fn(&Memory) -> u64| memory.as_ref().map_or("-".into(), |m| f(m).to_string());
        let per_connection = match (memory, self.start) {
            (Some(now), Some(start)) if open > 0 => {
                ((now.rss as i64 - start.rss as i64) * 1024 / open as i64).to_string()
            }
            _ => "-".into(),
        };
        println!(
            "| {name} | {open} | {:.3} | {:.3} | {} | {} | {per_connection} |",
            begun.elapsed().as_secs_f64(),
            self.started.elapsed().as_secs_f64(),
            kib(|m| m.rss),
            kib(|m| m.anon),
        );
        Ok(memory)
    }

    fn out_of_time(&self, stage: &str) -> String {
        format!(
            "the run's --timeout of {} s ran out before stage {stage}",
            self.timeout.as_secs_f64()
        )
    }
}

/// The worker processes, as the parent sees them.
struct Workers {
    children: Vec<Child>,
    inputs: Vec<ChildStdin>,
    /// Each worker's lines, `None` once its stdout ends.
    replies: mpsc::Receiver<(usize, Option<String>)>,
    /// First connection number and count of each.
    shares: Vec<(usize, usize)>,
}

impl Workers {
    fn spawn(options: &Options) -> Result<Workers, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program's executable: {e}"))?;
        let (replies_to, replies) = mpsc::channel();
        let mut workers = Workers {
            children: Vec::new(),
            inputs: Vec::new(),
            replies,
            shares: Vec::new(),
        };
        let p = options.processes;
        let opening = (OPENING_AT_ONCE / p).max(1);
        let mut first = 0;
        for w in 0..p {
            let count = options.connections / p + usize::from(w < options.connections % p);
            let numbers = [
                first,
                count,
                options.sources,
                options.size,
                options.rounds,
                opening,
            ];
            let mut child = Command::new(&exe)
                .arg("--worker")
                .arg(&options.url)
                .args(numbers.map(|n| n.to_string()))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start worker {w}: {e}"))?;
            let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
                return Err(format!("worker {w} has no pipes"));
            };
            workers.children.push(child);
            workers.inputs.push(input);
            workers.shares.push((first, count));
            let replies_to = replies_to.clone();
            std::thread::spawn(move || {
                for line in io::BufReader::new(output).lines() {
                    let Ok(line) = line else { break };
                    if replies_to.send((w, Some(line))).is_err() {
                        return;
                    }
                }
                let _ = replies_to.send((w, None));
            });
            first += count;
        }
        Ok(workers)
    }

    /// Sends `line` to every worker and waits until `until` for each one's answer; returns
    /// the connections they hold.
    fn command(&mut self, stage: &str, line: &str, until: Instant) -> Result<usize, String> {
        for w in 0..self.inputs.len() {
            let input = &mut self.inputs[w];
            if let Err(e) = writeln!(input, "{line}").and_then(|()| input.flush()) {
                return Err(format!("stage {stage}: cannot reach {}: {e}", self.name(w)));
            }
        }
        let mut waiting = vec![true; self.inputs.len()];
        let mut open = 0;
        while waiting.contains(&true) {
            let left = until.saturating_duration_since(Instant::now());
            let Ok((w, reply)) = self.replies.recv_timeout(left) else {
                let late: Vec<String> = (0..waiting.len())
                    .filter(|&w| waiting[w])
                    .map(|w| self.name(w))
                    .collect();
                return Err(format!(
                    "stage {stage}: {} did not finish by the deadline",
                    late.join(", ")
                ));
            };
            let Some(reply) = reply else {
                return Err(format!(
                    "stage {stage}: {} exited{}",
                    self.name(w),
                    self.exit_status(w)
                ));
            };
            if let Some(n) = reply
                .strip_prefix("done ")
                .and_then(|n| n.parse::<usize>().ok())
            {
                open += n;
                waiting[w] = false;
            } else if let Some(why) = reply.strip_prefix("failed ") {
                return Err(format!("stage {stage}: {}: {why}", self.name(w)));
            } else {
                return Err(format!(
                    "stage {stage}: {} answered {reply:?}",
                    self.name(w)
                ));
            }
        }
        Ok(open)
    }

    fn name(&self, w: usize) -> String {
        let (first, count) = self.shares[w];
        format!("worker {w} (connections {first} to {})", first + count - 1)
    }

    /// How worker `w` ended, if it has within a moment.
    fn exit_status(&mut self, w: usize) -> String {
        for _ in 0..20 {
            if let Ok(Some(status)) = self.children[w].try_wait() {
                return format!(" ({status})");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        String::new()
    }

    /// Ends the workers after a successful run.
    fn finish(&mut self) -> Result<(), String> {
        for input in &mut self.inputs {
            let _ = writeln!(input, "exit").and_then(|()| input.flush());
        }
        self.inputs.clear();
        let until = Instant::now() + Duration::from_secs(5);
        for w in 0..self.children.len() {
            loop {
                match self.children[w].try_wait() {
                    Ok(Some(status)) if status.success() => break,
                    Ok(Some(status)) => {
                        return Err(format!("{} ended with {status}", self.name(w)))
                    }
                    Ok(None) if Instant::now() < until => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    _ => return Err(format!("{} did not exit", self.name(w))),
                }
            }
        }
        Ok(())
    }

    fn kill(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.kill();
    }
}

// The worker: its share of the connections on one thread, one stage per command.
//
// Commands, one line each, the first number being the milliseconds the stage may take:
// `start MS`, `open MS`, `idle MS HOLD_MS`, `echo MS`, `broadcast MS WAIT_MS ID=TAG...`,
// `close MS`, then `exit`. Answers: `done OPEN` (the connections it holds) or
// `failed WHY`, after which it exits.

/// What a worker is given on its command line.
struct Setup {
    target: Target,
    first: usize,
    count: usize,
    sources: usize,
    size: usize,
    rounds: usize,
    /// Connections it opens at once.
    opening: usize,
}

fn worker_main(args: Vec<String>) -> ! {
    let setup = match parse_setup(&args) {
        Ok(setup) => setup,
        Err(e) => {
            eprintln!("scale_load worker: {e}");
            exit(2);
        }
    };
    let commands = commands();
    let executor = LocalExecutor::new();
    let code = smol::block_on(executor.run(serve_stages(&executor, setup, commands)));
    exit(code);
}

fn parse_setup(args: &[String]) -> Result<Setup, String> {
    let [url, numbers @ ..] = args else {
        return Err("no URL".into());
    };
    let numbers: Vec<usize> = numbers
        .iter()
        .map(|n| n.parse().map_err(|_| format!("bad number {n}")))
        .collect::<Result<_, _>>()?;
    let &[first, count, sources, size, rounds, opening] = numbers.as_slice() else {
        return Err("expected FIRST COUNT SOURCES SIZE ROUNDS OPENING".into());
    };
    Ok(Setup {
        target: target_of(url)?,
        first,
        count,
        sources,
        size,
        rounds,
        opening,
    })
}

/// The parent's commands. A pipe that closes before `exit` means the parent has gone: the
/// worker ends at once, whatever it is doing.
fn commands() -> channel::Receiver<String> {
    let (send, commands) = channel::unbounded();
    std::thread::spawn(move || {
        for line in io::stdin().lines() {
            let Ok(line) = line else { break };
            let last = line == "exit";
            if send.send_blocking(line).is_err() || last {
                return;
            }
        }
        exit(3);
    });
    commands
}

/// `smol::Async` knows when the socket is readable: the driver waits for that instead of
/// reading again after a read that emptied it.
impl Transport for Async<TcpStream> {
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Async::poll_readable(self, cx)
    }
}

struct Conn {
    /// Its number among all the workers' connections.
    id: usize,
    from: SocketAddr,
    ws: AsyncWebSocket<Async<TcpStream>, OsEntropy>,
}

/// The broadcasts of the run.
struct Plan {
    tags: Vec<String>,
    senders: Vec<usize>,
    index: HashMap<String, usize>,
    wait: Duration,
}

async fn serve_stages(
    executor: &LocalExecutor<'static>,
    setup: Setup,
    commands: channel::Receiver<String>,
) -> i32 {
    let setup = Rc::new(setup);
    let mut conns = Vec::new();
    let mut plan: Option<Rc<Plan>> = None;
    while let Ok(line) = commands.recv().await {
        let words: Vec<&str> = line.split(' ').collect();
        let millis = |i: usize| -> Option<Duration> {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .map(Duration::from_millis)
        };
        let Some(deadline) = millis(1).map(|ms| Instant::now() + ms) else {
            if words[0] == "exit" {
                return 0;
            }
            println!("failed unknown command {line:?}");
            return 1;
        };
        let result = match words[0] {
            "start" => Ok(()),
            "open" => open_all(executor, &setup, deadline)
                .await
                .map(|c| conns = c),
            "idle" => match millis(2) {
                Some(hold) => {
                    let until = Instant::now() + hold;
                    let run = each(
                        executor,
                        std::mem::take(&mut conns),
                        move |mut c| async move {
                            let result = idle(&mut c, until).await;
                            (c, result)
                        },
                    );
                    run.await.map(|c| conns = c)
                }
                None => Err(format!("no hold in {line:?}")),
            },
            "echo" => {
                let (rounds, size) = (setup.rounds, setup.size);
                let run = each(
                    executor,
                    std::mem::take(&mut conns),
                    move |mut c| async move {
                        let result = echo(&mut c, rounds, size, deadline).await;
                        (c, result)
                    },
                );
                run.await.map(|c| conns = c)
            }
            "broadcast" => match parse_plan(words.get(3..).unwrap_or_default(), millis(2)) {
                Ok(parsed) => {
                    let parsed = Rc::new(parsed);
                    plan = Some(parsed.clone());
                    let run = each(executor, std::mem::take(&mut conns), move |mut c| {
                        let plan = parsed.clone();
                        async move {
                            let result = broadcast(&mut c, &plan, deadline).await;
                            (c, result)
                        }
                    });
                    run.await.map(|c| conns = c)
                }
                Err(e) => Err(e),
            },
            "close" => {
                let plan = plan.clone();
                let run = each(executor, std::mem::take(&mut conns), move |mut c| {
                    let plan = plan.clone();
                    async move {
                        let result = close(&mut c, plan.as_deref(), deadline).await;
                        (c, result)
                    }
                });
                // Dropping them is what closes their sockets.
                run.await.map(drop)
            }
            _ => Err(format!("unknown command {line:?}")),
        };
        match result {
            Ok(()) => println!("done {}", conns.len()),
            Err(e) => {
                println!("failed {}", e.replace('\n', " "));
                return 1;
            }
        }
    }
    1
}

fn parse_plan(words: &[&str], wait: Option<Duration>) -> Result<Plan, String> {
    let wait = wait.ok_or("no wait in the broadcast command")?;
    let mut plan = Plan {
        tags: Vec::new(),
        senders: Vec::new(),
        index: HashMap::new(),
        wait,
    };
    for word in words {
        let (sender, tag) = word
            .split_once('=')
            .and_then(|(s, t)| Some((s.parse().ok()?, t)))
            .ok_or(format!("bad broadcast {word:?}"))?;
        if plan
            .index
            .insert(tag.to_string(), plan.tags.len())
            .is_some()
        {
            return Err(format!("tag {tag} given twice"));
        }
        plan.tags.push(tag.to_string());
        plan.senders.push(sender);
    }
    Ok(plan)
}

/// `work`, unless `deadline` passes first.
async fn by<T>(deadline: Instant, work: impl Future<Output = T>) -> Option<T> {
    async { Some(work.await) }
        .or(async {
            Timer::at(deadline).await;
            None
        })
        .await
}

/// Opens this worker's connections, each a task.
async fn open_all(
    executor: &LocalExecutor<'static>,
    setup: &Rc<Setup>,
    deadline: Instant,
) -> Result<Vec<Conn>, String> {
    let gate = Rc::new(Semaphore::new(setup.opening));
    let work = (setup.first..setup.first + setup.count)
        .map(|id| {
            let (setup, gate) = (setup.clone(), gate.clone());
            async move { open(id, &setup, &gate, deadline).await.map_err(|e| (id, e)) }
        })
        .collect();
    gather(executor, work).await
}

async fn open(
    id: usize,
    setup: &Setup,
    gate: &Semaphore,
    deadline: Instant,
) -> Result<Conn, String> {
    // 127.0.0.2 onwards, one source after the other.
    let source = Ipv4Addr::new(127, 0, 0, 2 + (id % setup.sources) as u8);
    let late = |what: &str| format!("from {source}: {what} by the stage deadline");
    let _turn = by(deadline, gate.acquire())
        .await
        .ok_or_else(|| late("its turn to connect had not come"))?;
    let stream = by(deadline, connect_from(source, setup.target.addr))
        .await
        .ok_or_else(|| late("not connected"))?
        .map_err(|e| format!("from {source}: connect: {e}"))?;
    let from = stream
        .get_ref()
        .local_addr()
        .map_err(|e| format!("from {source}: {e}"))?;
    let request = ClientRequest::new(&setup.target.host_header, &setup.target.path);
    let connect =
        AsyncWebSocket::connect_with(stream, &request, Config::default(), OsEntropy::new());
    let (ws, _) = by(deadline, connect)
        .await
        .ok_or_else(|| format!("from {from}: no upgrade answer by the stage deadline"))?
        .map_err(|e| format!("from {from}: handshake: {e}"))?;
    Ok(Conn { id, from, ws })
}

/// A TCP connection to `server` from `source`, made on the reactor.
async fn connect_from(source: Ipv4Addr, server: SocketAddrV4) -> io::Result<Async<TcpStream>> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    // Lets the kernel give a port whose last connection from this address is still in
    // TIME_WAIT, should no other be left.
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((source, 0)).into())?;
    socket.set_nonblocking(true)?;
    match socket.connect(&SocketAddr::V4(server).into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = Async::new_nonblocking(TcpStream::from(socket))?;
    // Writable once connected, or failed.
    stream.writable().await?;
    if let Some(e) = stream.get_ref().take_error()? {
        return Err(e);
    }
    stream.get_ref().set_nodelay(true)?;
    Ok(stream)
}

/// Runs `work` on every connection, each a task, and gives them back; fails with the
/// connections that failed.
async fn each<F, Fut>(
    executor: &LocalExecutor<'static>,
    conns: Vec<Conn>,
    work: F,
) -> Result<Vec<Conn>, String>
where
    F: Fn(Conn) -> Fut,
    Fut: Future<Output = (Conn, Result<(), String>)> + 'static,
{
    let work = conns
        .into_iter()
        .map(|c| {
            let run = work(c);
            async move {
                match run.await {
                    (conn, Ok(())) => Ok(conn),
                    (conn, Err(e)) => Err((conn.id, format!("from {}: {e}", conn.from))),
                }
            }
        })
        .collect();
    gather(executor, work).await
}

/// Runs every future as a task and collects their connections. After the first failure it
/// waits [`FAILURE_LINGER`] for others, then reports them in the order they failed and stops
/// the tasks left: what failed first comes first, and connections that are still fine do
/// not hold the report until the stage deadline.
async fn gather<Fut>(executor: &LocalExecutor<'static>, work: Vec<Fut>) -> Result<Vec<Conn>, String>
where
    Fut: Future<Output = Result<Conn, (usize, String)>> + 'static,
{
    let total = work.len();
    let (finished, results) = channel::unbounded();
    let _tasks: Vec<_> = work
        .into_iter()
        .map(|run| {
            let finished = finished.clone();
            executor.spawn(async move {
                let _ = finished.send(run.await).await;
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(total);
    let mut failed = Vec::new();
    let mut linger = None;
    while conns.len() + failed.len() < total {
        let result = match linger {
            None => results.recv().await.ok(),
            Some(until) => by(until, results.recv()).await.and_then(Result::ok),
        };
        match result {
            Some(Ok(conn)) => conns.push(conn),
            Some(Err(failure)) => {
                failed.push(failure);
                linger.get_or_insert(Instant::now() + FAILURE_LINGER);
            }
            None => break,
        }
    }
    if failed.is_empty() {
        return Ok(conns);
    }
    let running = total - conns.len() - failed.len();
    let shown: Vec<String> = failed
        .iter()
        .take(FAILURES_SHOWN)
        .map(|(id, why)| format!("connection {id} {why}"))
        .collect();
    let more = failed.len().saturating_sub(FAILURES_SHOWN);
    Err(format!(
        "{} of {total} connections failed{}, in the order they failed: {}{}",
        failed.len(),
        if running > 0 {
            format!(" ({running} others were stopped unfinished)")
        } else {
            String::new()
        },
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    ))
}

impl Conn {
    /// The next message other than a ping or pong (the driver answers pings), or `None` once
    /// `deadline` has passed.
    async fn next(&mut self, deadline: Instant) -> Result<Option<Message>, String> {
        loop {
            match by(deadline, self.ws.read()).await {
                None => return Ok(None),
                Some(Ok(Message::Ping(_) | Message::Pong { .. })) => {}
                Some(Ok(message)) => return Ok(Some(message)),
                Some(Err(e)) => return Err(format!("reading: {e}")),
            }
        }
    }

    /// Queues a message, written by [`Conn::flush`] (or once 64 KiB are queued).
    async fn queue(&mut self, message: &Message, deadline: Instant) -> Result<(), String> {
        let queued = by(deadline, async {
            match message {
                Message::Text(text) => self.ws.queue_text(text).await,
                Message::Binary(data) => self.ws.queue_binary(data).await,
                _ => unreachable!("only text and binary messages are sent"),
            }
        });
        queued
            .await
            .ok_or("the server took no bytes by the stage deadline")?
            .map_err(|e| format!("sending: {e}"))
    }

    async fn flush(&mut self, deadline: Instant) -> Result<(), String> {
        by(deadline, self.ws.flush())
            .await
            .ok_or("the server took no bytes by the stage deadline")?
            .map_err(|e| format!("sending: {e}"))
    }
}

/// Holds the connection until `until`, expecting nothing.
async fn idle(c: &mut Conn, until: Instant) -> Result<(), String> {
    match c.next(until).await? {
        None => Ok(()),
        Some(message) => Err(format!("{} while idle", describe(&message))),
    }
}

/// Message `round` of connection `id`: text and binary in turn (from one connection to the
/// next too, so that one round has both), `size` bytes, starting with its numbers so that no
/// two are alike when there is room for them.
fn payload(id: usize, round: usize, size: usize) -> Message {
    let turn = id + round;
    if turn % 2 == 0 {
        // ASCII, so that any length is valid UTF-8.
        let mut text = format!("{id}.{round}.");
        text.extend((0..size).map(|i| char::from(b'a' + ((turn + i) % 26) as u8)));
        text.truncate(size);
        Message::Text(text)
    } else {
        let mut data = Vec::with_capacity(size + 8);
        data.extend_from_slice(&(id as u32).to_le_bytes());
        data.extend_from_slice(&(round as u32).to_le_bytes());
        // Every byte value, not only those of text.
        data.extend((0..size).map(|i| (i * 151 + turn * 7) as u8));
        data.truncate(size);
        Message::Binary(data)
    }
}

/// Sends `rounds` messages and checks their echoes as they come back.
async fn echo(c: &mut Conn, rounds: usize, size: usize, deadline: Instant) -> Result<(), String> {
    let ahead = (ECHO_AHEAD_BYTES / size.max(1)).clamp(1, rounds.max(1));
    let (mut sent, mut checked) = (0, 0);
    while checked < rounds {
        while sent < rounds && sent - checked < ahead {
            c.queue(&payload(c.id, sent, size), deadline)
                .await
                .map_err(|e| format!("message {sent}: {e}"))?;
            sent += 1;
        }
        c.flush(deadline)
            .await
            .map_err(|e| format!("messages up to {}: {e}", sent - 1))?;
        let Some(got) = c.next(deadline).await? else {
            return Err(format!(
                "no echo of message {checked} by the stage deadline ({checked} of {rounds} \
                 echoed)"
            ));
        };
        compare(&payload(c.id, checked, size), &got)
            .map_err(|e| format!("the echo of message {checked} of {rounds}: {e}"))?;
        checked += 1;
    }
    Ok(())
}

fn compare(sent: &Message, got: &Message) -> Result<(), String> {
    let (want_kind, want) = kind_and_bytes(sent).expect("only text and binary are sent");
    let Some((kind, bytes)) = kind_and_bytes(got) else {
        return Err(format!("got {}", describe(got)));
    };
    if kind != want_kind {
        return Err(format!("got a {kind} message, sent a {want_kind} one"));
    }
    if bytes.len() != want.len() {
        return Err(format!("{} bytes, sent {}", bytes.len(), want.len()));
    }
    match bytes.iter().zip(want).position(|(a, b)| a != b) {
        Some(at) => Err(format!(
            "byte {at} is {:#04x}, sent {:#04x}",
            bytes[at], want[at]
        )),
        None => Ok(()),
    }
}

fn kind_and_bytes(message: &Message) -> Option<(&'static str, &[u8])> {
    match message {
        Message::Text(text) => Some(("text", text.as_bytes())),
        Message::Binary(data) => Some(("binary", data)),
        _ => None,
    }
}

/// Sends this connection's broadcasts, if it has any, and expects every tag once.
async fn broadcast(c: &mut Conn, plan: &Plan, deadline: Instant) -> Result<(), String> {
    for (tag, &sender) in plan.tags.iter().zip(&plan.senders) {
        if sender == c.id {
            c.queue(&Message::Text(format!("/all {tag}")), deadline)
                .await
                .map_err(|e| format!("/all {tag}: {e}"))?;
        }
    }
    c.flush(deadline).await?;
    let mut seen = vec![false; plan.tags.len()];
    let mut missing = plan.tags.len();
    while missing > 0 {
        let until = deadline.min(Instant::now() + plan.wait);
        let Some(message) = c.next(until).await? else {
            let tags: Vec<&str> = (0..seen.len())
                .filter(|&i| !seen[i])
                .take(FAILURES_SHOWN)
                .map(|i| plan.tags[i].as_str())
                .collect();
            let waited = if until == deadline {
                "by the stage deadline".into()
            } else {
                format!("within {} s", plan.wait.as_secs_f64())
            };
            return Err(format!(
                "{missing} of {} broadcasts did not arrive {waited}: {}{}",
                seen.len(),
                tags.join(", "),
                if missing > tags.len() { ", ..." } else { "" }
            ));
        };
        match &message {
            Message::Text(text) => match plan.index.get(text) {
                Some(&i) if seen[i] => return Err(format!("broadcast {text} arrived twice")),
                Some(&i) => {
                    seen[i] = true;
                    missing -= 1;
                }
                None => return Err(format!("{} instead of a broadcast", describe(&message))),
            },
            _ => return Err(format!("{} instead of a broadcast", describe(&message))),
        }
    }
    Ok(())
}

/// Closes with 1000 and expects the server's 1000, then its end of the TCP connection.
async fn close(c: &mut Conn, plan: Option<&Plan>, deadline: Instant) -> Result<(), String> {
    by(deadline, c.ws.close(Some(CloseCode::NORMAL), ""))
        .await
        .ok_or("the server took no bytes by the stage deadline")?
        .map_err(|e| format!("sending the close: {e}"))?;
    // Every echo and broadcast was read: the server's close must come next.
    match c.next(deadline).await? {
        None => return Err("no close from the server by the stage deadline".into()),
        Some(Message::Close { code, clean, .. }) if clean && code == Some(CloseCode::NORMAL) => {}
        Some(Message::Close {
            code,
            reason,
            clean,
        }) => {
            let code = code.map_or("no code".into(), |c| format!("code {c}"));
            return Err(format!(
                "closed with {code}, reason {reason:?}, {}",
                if clean { "clean" } else { "not clean" }
            ));
        }
        Some(Message::Text(text)) if plan.is_some_and(|p| p.index.contains_key(&text)) => {
            return Err(format!("broadcast {text} arrived again, while closing"))
        }
        Some(message) => return Err(format!("{} while closing", describe(&message))),
    }
    // The server ends the TCP connection first (RFC 6455 §7.1.1): waiting for that leaves
    // TIME_WAIT on its side, not on source ports that later runs need. Not waiting is no
    // failure.
    let mut rest = [0; 64];
    let until = deadline.min(Instant::now() + EOF_WAIT);
    let _ = by(until, c.ws.get_mut().read(&mut rest)).await;
    Ok(())
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => {
            let shown: String = text.chars().take(40).collect();
            let more = if shown.len() < text.len() { "..." } else { "" };
            format!("a text message ({} B) {shown:?}{more}", text.len())
        }
        Message::Binary(data) => format!("a binary message ({} B)", data.len()),
        Message::Fragment { data, .. } => format!("a fragment ({} B)", data.len()),
        Message::Ping(_) => "a ping".into(),
        Message::Pong { .. } => "a pong".into(),
        Message::Close { code, reason, .. } => {
            let code = code.map_or("no code".into(), |c| c.to_string());
            format!("a close ({code}, {reason:?})")
        }
    }
}
