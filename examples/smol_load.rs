//! Load test for a WebSocket echo server: many concurrent connections from one smol thread.
//!
//! `cargo run --release --example smol_load -- [URL] [--connections N] [--messages M]
//! [--timeout SECS] [--server-pid PID]` (defaults: `ws://127.0.0.1:9001/`, 1000 connections,
//! 10 messages each, 60 s). Every connection opens, then (once all are open at the same time)
//! sends M messages, alternately text and binary, and checks each echo byte for byte, then
//! (once all have exchanged) closes with 1000 and checks the server's clean close. Prints the
//! figures, the server's peak resident memory from `/proc/PID/status` when given its pid, and
//! exits non-zero if any connection failed or the whole run took longer than the timeout.

#[allow(dead_code)] // each example uses a part of the driver
#[path = "async_ws/mod.rs"]
mod async_ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_ws::{AsyncWebSocket, Transport};
use smol::future::FutureExt;
use smol::lock::{Barrier, Semaphore};
use smol::net::TcpStream;
use wsmachine::drive::Message;
use wsmachine::{ClientRequest, CloseCode, Config, OsEntropy, WsUrl};

/// `smol::net::TcpStream` has no readiness of its own: its reads wait.
impl Transport for TcpStream {}

struct Options {
    url: String,
    connections: usize,
    messages: usize,
    timeout: Duration,
    server_pid: Option<u32>,
}

fn usage() -> ! {
    eprintln!("usage: smol_load [URL] [--connections N] [--messages M] [--timeout SECS] [--server-pid PID]");
    std::process::exit(2);
}

fn parse_args() -> Options {
    let mut options = Options {
        url: "ws://127.0.0.1:9001/".into(),
        connections: 1000,
        messages: 10,
        timeout: Duration::from_secs(60),
        server_pid: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match arg.as_str() {
            "--connections" => options.connections = number() as usize,
            "--messages" => options.messages = number() as usize,
            "--timeout" => options.timeout = Duration::from_secs(number()),
            "--server-pid" => options.server_pid = Some(number() as u32),
            _ if !arg.starts_with("--") => options.url = arg,
            _ => usage(),
        }
    }
    options
}

/// The phases every connection goes through together, so that all of them are open at once.
struct Phases {
    opened: Barrier,
    exchanged: Barrier,
    /// Connection attempts in flight: more than the listen backlog (128 for `std::net`) would
    /// drop SYNs and stall on the kernel's one-second retransmit.
    connecting: Semaphore,
}

fn main() {
    let options = parse_args();
    let baseline = options
        .server_pid
        .and_then(|pid| status_kib(&pid.to_string(), "VmRSS:"));
    let started = Instant::now();
    let run = smol::block_on(run(&options).or(async {
        smol::Timer::after(options.timeout).await;
        Err(format!(
            "timed out after {} s",
            options.timeout.as_secs_f64()
        ))
    }));
    let elapsed = started.elapsed();
    let failed = match run {
        Ok(failures) => failures,
        Err(e) => {
            eprintln!("smol_load: {e}");
            std::process::exit(1);
        }
    };
    let ok = options.connections - failed.len();
    for (id, e) in failed.iter().take(10) {
        eprintln!("smol_load: connection {id}: {e}");
    }
    println!("connections: {ok} of {} ok", options.connections);
    println!(
        "messages: {} sent and echoed ({} per connection)",
        ok * options.messages,
        options.messages
    );
    println!("time: {:.3} s", elapsed.as_secs_f64());
    if let Some(kib) = status_kib("self", "VmHWM:") {
        println!("client peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    if let Some(pid) = options.server_pid {
        match (baseline, status_kib(&pid.to_string(), "VmHWM:")) {
            (Some(before), Some(peak)) => println!(
                "server peak RSS: {:.1} MiB, {:.1} MiB before the run ({:.1} KiB more per connection)",
                peak as f64 / 1024.0,
                before as f64 / 1024.0,
                peak.saturating_sub(before) as f64 / options.connections as f64
            ),
            _ => println!("server peak RSS: unknown (no /proc/{pid}/status)"),
        }
    }
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

/// Runs every connection; returns the ones that failed, with why.
async fn run(options: &Options) -> Result<Vec<(usize, String)>, String> {
    let url = WsUrl::parse(&options.url).map_err(|e| format!("bad URL: {e}"))?;
    let addr = format!("{}:{}", url.host, url.port);
    let host = url.host_header.to_string();
    let target = url.target.to_string();
    let phases = Arc::new(Phases {
        opened: Barrier::new(options.connections),
        exchanged: Barrier::new(options.connections),
        connecting: Semaphore::new(64),
    });
    let mut tasks = Vec::with_capacity(options.connections);
    for id in 0..options.connections {
        let phases = phases.clone();
        let addr = addr.clone();
        let host_header = host.clone();
        let target = target.clone();
        let messages = options.messages;
        tasks.push(smol::spawn(async move {
            let result = connection(id, &addr, &host_header, &target, messages, &phases).await;
            (id, result)
        }));
    }
    let mut failed = Vec::new();
    for task in tasks {
        let (id, result) = task.await;
        if let Err(e) = result {
            failed.push((id, e));
        }
    }
    Ok(failed)
}

/// One connection's life. A failed connection still waits at the barriers it has not passed,
/// so that the others are not left waiting for it.
async fn connection(
    id: usize,
    addr: &str,
    host: &str,
    target: &str,
    messages: usize,
    phases: &Phases,
) -> Result<(), String> {
    let opened = async {
        let _permit = phases.connecting.acquire().await;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let request = ClientRequest::new(host, target);
        let (ws, _) =
            AsyncWebSocket::connect_with(stream, &request, Config::default(), OsEntropy::new())
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        Ok::<_, String>(ws)
    }
    .await;
    phases.opened.wait().await;
    let mut ws = opened?;

    let exchanged = exchange(id, &mut ws, messages).await;
    phases.exchanged.wait().await;
    exchanged?;

    ws.close(None, "")
        .await
        .map_err(|e| format!("close: {e}"))?;
    // Every echo was read, so the next message must be the server's close reply.
    match ws.read().await.map_err(|e| format!("closing: {e}"))? {
        Message::Close { code, clean, .. } if clean && code == Some(CloseCode::NORMAL) => Ok(()),
        Message::Close { code, clean, .. } => {
            Err(format!("unclean close: code {code:?}, clean {clean}"))
        }
        other => Err(format!("unexpected message while closing: {other:?}")),
    }
}

/// Sends every message first, then reads the echoes: the server sees pipelined input.
async fn exchange<T, R>(
    id: usize,
    ws: &mut AsyncWebSocket<T, R>,
    messages: usize,
) -> Result<(), String>
where
    T: Transport,
    R: wsmachine::KeySource,
{
    let payload = |i: usize| -> Message {
        if i % 2 == 0 {
            Message::Text(format!("connection {id} message {i}: héllo"))
        } else {
            // Sizes vary so that some frames need the 16-bit length form.
            let len = 1 + (id * 31 + i * 257) % 1024;
            Message::Binary((0..len).map(|b| (b ^ id ^ i) as u8).collect())
        }
    };
    for i in 0..messages {
        let sent = match payload(i) {
            Message::Text(t) => ws.send_text(&t).await,
            Message::Binary(b) => ws.send_binary(&b).await,
            _ => unreachable!("payload makes text and binary only"),
        };
        sent.map_err(|e| format!("send {i}: {e}"))?;
    }
    for i in 0..messages {
        let got = ws.read().await.map_err(|e| format!("read {i}: {e}"))?;
        if got != payload(i) {
            return Err(format!("echo {i} differs: got {got:?}"));
        }
    }
    Ok(())
}

/// A field of `/proc/PID/status` in KiB: `VmRSS:` (resident now), `VmHWM:` (peak resident).
fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
