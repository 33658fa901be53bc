//! Pipelined load generator for any WebSocket echo server. It speaks RFC 6455 with frames it
//! builds and parses itself, independent of this crate, so that it measures every server the
//! same way.
//!
//! `cargo run --release --example echo_load -- ws://HOST:PORT/PATH [--connections N]
//! [--depth D] [--size S] [--seconds T] [--binary] [--raw]`
//!
//! Defaults: 100 connections, depth 16, 20 bytes, 5 s, text frames. `--window` is another name
//! for `--depth`. Ranges: connections 1–20000, depth 1–4096, size 1–65535, seconds 0.1–600.
//!
//! Everything runs on one thread (one task per connection on a `LocalExecutor`), so that the
//! tool can be pinned to one core with `taskset` and leave the others to the server. Every
//! connection is opened (TCP_NODELAY, HTTP/1.1 upgrade) before the clock starts. Then each
//! connection keeps exactly D messages in flight: it sends D masked frames in one write, and
//! whenever k echoes arrive it sends k new frames in one write. Every payload carries the
//! connection number and the message's sequence number (ASCII, padded with letters), and every
//! frame has its own masking key, so each echo is checked against the message it must be
//! (echoes on one connection come back in order). A wrong echo, an unexpected frame, a close
//! or an I/O error ends the run with exit status 1 and the connection's number on stderr.
//!
//! At the end of the run the connections stop sending, wait for the echoes still in flight,
//! check them, send a close frame (1000) and wait for the close reply. It prints:
//!
//! ```text
//! connections: 100, depth: 16, size: 20 B, seconds: 5.00
//! echoes: 1234567
//! latency ms: p50 0.412 p99 1.234 p99.9 2.345 max 5.678
//! per connection: min 12000 max 13000 ratio 1.08
//! messages/s: 246913
//! ```
//!
//! `echoes` counts the echoes received during the run (all connections), `messages/s` is that
//! count over the run's length, and `ratio` is the busiest connection's count over the least
//! busy one's (`inf` when one got none). The latency of a message runs from its send to the
//! arrival of its echo, over every message sent during the run.
//!
//! Connections that got no close reply are counted in a note on stderr; that alone is no
//! failure. Bad options exit with status 2.
//!
//! `--raw` measures a plain TCP echo behind a WebSocket upgrade, the bound of every WebSocket
//! echo server on the same machine (`race_peers tcp`). The upgrade is the same, but after it
//! the server must send back every byte it gets, unchanged: each echo must be the very frame
//! that was sent, masked, with the masking key it was sent with, its payload checked after
//! unmasking as above. The close frame's echo counts as the close reply.
//!
//! Every wait and every loop is bounded in time: all connections must be open within 8 s
//! (`OPEN_TIMEOUT`), the echoes still in flight at the end must arrive within 5 s
//! (`DRAIN_TIMEOUT`), the close reply is awaited for 500 ms (`CLOSE_TIMEOUT`). So the whole
//! run ends by itself within T + 14 s; a server that stops answering or reading makes it fail
//! with the stalled connection's number, it never hangs it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::exit;
use std::time::{Duration, Instant};

use futures_lite::future;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::channel;
use smol::lock::Semaphore;
use smol::{Async, LocalExecutor, Timer};

/// Time allowed for opening every connection (connect and upgrade).
const OPEN_TIMEOUT: Duration = Duration::from_secs(8);
/// Time allowed after the end of the run for the echoes still in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the server's close reply.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
/// Connection attempts in flight at once: more than the server's listen backlog (often 128)
/// would drop SYNs and stall on the kernel's one-second retransmit.
const CONNECTING_AT_ONCE: usize = 64;
/// Upper bound on what all connections together keep in flight (frames and send times), so
/// that a careless combination of options fails at once instead of exhausting memory.
const MAX_IN_FLIGHT_BYTES: u64 = 2 << 30;
/// Reads in a row without waiting before a connection lets the others run, so that one busy
/// connection cannot starve the rest.
const READS_BEFORE_YIELD: u32 = 16;

const USAGE: &str = "usage: echo_load ws://HOST:PORT/PATH [--connections N] [--depth D] \
                     [--size S] [--seconds T] [--binary] [--raw]";

struct Options {
    /// `HOST:PORT` as written in the URL, for the `Host` header.
    authority: String,
    addr: SocketAddr,
    path: String,
    connections: usize,
    depth: usize,
    size: usize,
    seconds: f64,
    binary: bool,
    /// The echo is the frame sent, masked, byte for byte (a TCP echo after the upgrade).
    raw: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut url = None;
    let mut connections = 100;
    let mut depth = 16;
    let mut size = 20;
    let mut seconds = 5.0;
    let mut binary = false;
    let mut raw = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0);
            }
            "--binary" => binary = true,
            "--raw" => raw = true,
            "--connections" | "--depth" | "--window" | "--size" | "--seconds" => {
                let value = args.next().ok_or(format!("{arg} needs a value"))?;
                let bad = || format!("bad value for {arg}: {value}");
                match arg.as_str() {
                    "--connections" => connections = value.parse().map_err(|_| bad())?,
                    "--depth" | "--window" => depth = value.parse().map_err(|_| bad())?,
                    "--size" => size = value.parse().map_err(|_| bad())?,
                    _ => seconds = value.parse().map_err(|_| bad())?,
                }
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}")),
            _ if url.is_none() => url = Some(arg),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    if !(1..=20_000).contains(&connections) {
        return Err("--connections must be 1 to 20000".into());
    }
    if !(1..=4096).contains(&depth) {
        return Err("--depth must be 1 to 4096".into());
    }
    if !(1..=65_535).contains(&size) {
        return Err("--size must be 1 to 65535".into());
    }
    if !(0.1..=600.0).contains(&seconds) {
        return Err("--seconds must be 0.1 to 600".into());
    }
    let in_flight = (connections * depth) as u64 * (size as u64 + 8 + 16);
    if in_flight > MAX_IN_FLIGHT_BYTES {
        return Err(format!(
            "{connections} connections × depth {depth} × {size} B would keep {} MiB in flight; \
             lower one of them",
            in_flight >> 20
        ));
    }

    let url = url.ok_or("no URL given")?;
    let rest = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() {
        return Err(format!("no host in {url}"));
    }
    // A port follows the last colon, unless that colon is inside an IPv6 literal.
    let has_port = authority
        .rfind(':')
        .is_some_and(|i| !authority[i..].contains(']'));
    let with_port = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {with_port}: {e}"))?
        .next()
        .ok_or(format!("no address for {with_port}"))?;
    Ok(Options {
        authority: authority.to_string(),
        addr,
        path,
        connections,
        depth,
        size,
        seconds,
        binary,
        raw,
    })
}

/// Latencies in microseconds: one counter per microsecond below `FINE_US`, the rare slower
/// ones kept singly, so that memory stays fixed however long the run.
struct Latencies {
    counts: Vec<u64>,
    slow: Vec<u32>,
    total: u64,
    max: u32,
}

const FINE_US: usize = 1 << 20;

impl Latencies {
    fn new() -> Self {
        Latencies {
            counts: vec![0; FINE_US],
            slow: Vec::new(),
            total: 0,
            max: 0,
        }
    }

    fn record(&mut self, us: u32) {
        match self.counts.get_mut(us as usize) {
            Some(count) => *count += 1,
            None => self.slow.push(us),
        }
        self.total += 1;
        self.max = self.max.max(us);
    }

    /// The nearest-rank percentile `p` (0 < p ≤ 1), in microseconds.
    fn percentile(&mut self, p: f64) -> u32 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (us, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return us as u32;
            }
        }
        self.slow.sort_unstable();
        self.slow[(rank - seen - 1) as usize]
    }
}

/// The messages of one connection: what to send next and what the next echo must be.
struct Messages<'a> {
    conn: u32,
    size: usize,
    /// FIN and the opcode, the first byte of every frame both ways.
    first_byte: u8,
    /// `a` to `z` repeated, `size + 26` bytes: padding is a slice of it, so that building and
    /// checking a payload is a copy and a comparison.
    letters: &'a [u8],
    rng: u32,
    /// With `--raw` the echo is the masked frame sent. `check_rng` starts from the same seed as
    /// `rng` and moves on once per echo checked, so it gives the key each echo must carry;
    /// `unmasked` holds the echo's payload once unmasked with it.
    raw: bool,
    check_rng: u32,
    unmasked: Vec<u8>,
    next_sent: u64,
    next_checked: u64,
}

impl Messages<'_> {
    /// Writes `CONN:SEQ` at the end of `out`, returns where it starts.
    fn label(&self, seq: u64, out: &mut [u8; 32]) -> usize {
        let end = out.len();
        let at = digits_before(out, end, seq) - 1;
        out[at] = b':';
        digits_before(out, at, u64::from(self.conn))
    }

    /// The label when it fits; otherwise its last `size` bytes, the low digits of the
    /// sequence number, which still change from one message to the next.
    fn payload_parts(&self, seq: u64, label: &mut [u8; 32]) -> (usize, usize) {
        let start = self.label(seq, label);
        let label_len = label.len() - start;
        if self.size <= label_len {
            (label.len() - self.size, 0)
        } else {
            (start, self.size - label_len)
        }
    }

    fn padding(&self, seq: u64, len: usize) -> &[u8] {
        let from = (seq % 26) as usize;
        &self.letters[from..from + len]
    }

    fn next_key(&mut self) -> [u8; 4] {
        xorshift(&mut self.rng)
    }

    /// Appends the next message's masked frame to `out`.
    fn push_frame(&mut self, out: &mut Vec<u8>) {
        let seq = self.next_sent;
        self.next_sent += 1;
        let key = self.next_key();
        out.push(self.first_byte);
        if self.size < 126 {
            out.push(0x80 | self.size as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(self.size as u16).to_be_bytes());
        }
        out.extend_from_slice(&key);
        let payload_at = out.len();
        let mut label = [0; 32];
        let (start, pad) = self.payload_parts(seq, &mut label);
        out.extend_from_slice(&label[start..]);
        out.extend_from_slice(self.padding(seq, pad));
        mask(&mut out[payload_at..], key);
    }

    /// Describes where `payload` differs from message `seq`.
    fn mismatch(&self, seq: u64, payload: &[u8]) -> String {
        let mut label = [0; 32];
        let (start, pad) = self.payload_parts(seq, &mut label);
        let expected = [&label[start..], self.padding(seq, pad)].concat();
        let at = expected
            .iter()
            .zip(payload)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let shown = at.saturating_sub(8)..(at + 24).min(expected.len());
        format!(
            "the echo of message {seq} differs from the message sent at byte {at}: bytes \
             {shown:?} are {:?}, expected {:?}",
            String::from_utf8_lossy(&payload[shown.clone()]),
            String::from_utf8_lossy(&expected[shown.clone()])
        )
    }

    /// Whether `payload` is the echo of message `seq`.
    fn is_echo(&self, seq: u64, payload: &[u8]) -> bool {
        let mut label = [0; 32];
        let (start, pad) = self.payload_parts(seq, &mut label);
        let label = &label[start..];
        payload.len() == label.len() + pad
            && payload[..label.len()] == *label
            && payload[label.len()..] == *self.padding(seq, pad)
    }
}

/// The next masking key from `state`: xorshift32, cheap, and never stuck at zero from a
/// non-zero seed.
fn xorshift(state: &mut u32) -> [u8; 4] {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    x.to_le_bytes()
}

/// Writes `n` in decimal just before `end` in `out`, returns where it starts.
fn digits_before(out: &mut [u8], mut end: usize, mut n: u64) -> usize {
    loop {
        end -= 1;
        out[end] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return end;
        }
    }
}

fn mask(data: &mut [u8], key: [u8; 4]) {
    let key4 = u32::from_ne_bytes(key);
    let key8 = u64::from(key4) | u64::from(key4) << 32;
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap()) ^ key8;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// Connects and upgrades; returns the stream and any bytes that came after the answer's head.
/// `stage` says what it is waiting for, should the wait be cut short.
async fn open(
    options: &Options,
    gate: &Semaphore,
    stage: &Cell<&'static str>,
) -> Result<(Async<TcpStream>, Vec<u8>), String> {
    stage.set("waiting for its turn to connect");
    let _permit = gate.acquire().await;
    stage.set("connecting");
    let stream = Async::<TcpStream>::connect(options.addr)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", options.addr))?;
    stream
        .get_ref()
        .set_nodelay(true)
        .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        options.path, options.authority
    );
    stage.set("sending the upgrade request");
    (&stream)
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the upgrade request: {e}"))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0; 2048];
    stage.set("waiting for the upgrade answer");
    loop {
        let n = (&stream)
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading the upgrade answer: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection during the upgrade".into());
        }
        let searched = head.len().saturating_sub(3);
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head[searched..].windows(4).position(|w| w == b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 101") {
                let status = head.split(|&b| b == b'\r').next().unwrap_or_default();
                return Err(format!(
                    "the server refused the upgrade: {}",
                    String::from_utf8_lossy(status)
                ));
            }
            return Ok((stream, head.split_off(searched + end + 4)));
        }
        if head.len() > 16 * 1024 {
            return Err("the upgrade answer's head is longer than 16 KiB".into());
        }
    }
}

/// What one connection measured.
struct Outcome {
    /// Echoes that arrived before the end of the run.
    echoes: u64,
    close_answered: bool,
}

/// The times shared by every connection.
#[derive(Clone, Copy)]
struct Clock {
    deadline: Instant,
    give_up: Instant,
}

/// Why a wait ended.
enum Woken {
    Ready,
    TimedOut,
}

/// Waits until the socket is readable (or writable, when `write` is set), or until `timer`
/// fires.
async fn wait(stream: &Async<TcpStream>, write: bool, timer: &mut Timer) -> io::Result<Woken> {
    let ready = async {
        if write {
            future::or(stream.readable(), stream.writable()).await
        } else {
            stream.readable().await
        }
    };
    future::or(async { ready.await.map(|()| Woken::Ready) }, async {
        timer.await;
        Ok(Woken::TimedOut)
    })
    .await
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Runs one connection from its first message to its close.
async fn run_connection(
    mut messages: Messages<'_>,
    stream: Async<TcpStream>,
    leftover: Vec<u8>,
    depth: usize,
    clock: Clock,
    latencies: &RefCell<Latencies>,
) -> Result<Outcome, String> {
    // An echo server speaks only when spoken to.
    if !leftover.is_empty() {
        return Err(if leftover.len() >= 2 {
            unexpected_frame(&leftover, 0, messages.raw)
        } else {
            "the server sent a byte before any message".into()
        });
    }
    let size = messages.size;
    let key_len = if messages.raw { 4 } else { 0 };
    let frame_len = size + if size < 126 { 2 } else { 4 } + key_len;
    // Room for every echo in flight up to 256 KiB, and always for two whole frames, so that a
    // frame split across reads always fits.
    let buf_len = (depth * frame_len)
        .clamp(4096, 256 * 1024)
        .max(2 * frame_len);
    let mut rbuf = vec![0; buf_len];
    let mut filled = 0;
    let mut wbuf = Vec::with_capacity(depth * (frame_len + 4));
    let mut written = 0;
    let mut sent_at = VecDeque::with_capacity(depth);
    let mut echoes = 0;
    let mut limit = Timer::at(clock.give_up);
    let mut sock = stream.get_ref();

    for _ in 0..depth {
        messages.push_frame(&mut wbuf);
    }
    sent_at.extend(std::iter::repeat_n(Instant::now(), depth));
    let mut try_read = true;
    let mut reads_in_a_row = 0;
    loop {
        if written < wbuf.len() {
            match sock.write(&wbuf[written..]) {
                Ok(n) => {
                    written += n;
                    if written == wbuf.len() {
                        wbuf.clear();
                        written = 0;
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(format!("write failed: {e}")),
            }
        }
        if try_read {
            match sock.read(&mut rbuf[filled..]) {
                Ok(0) => {
                    return Err(format!(
                        "the server closed the connection with {} echoes outstanding",
                        sent_at.len()
                    ))
                }
                Ok(n) => {
                    let room = rbuf.len() - filled;
                    filled += n;
                    let arrived = Instant::now();
                    let (used, found) = take_echoes(
                        &mut messages,
                        &rbuf[..filled],
                        &mut sent_at,
                        arrived,
                        &mut latencies.borrow_mut(),
                    )?;
                    rbuf.copy_within(used..filled, 0);
                    filled -= used;
                    if arrived < clock.deadline {
                        echoes += found as u64;
                        for _ in 0..found {
                            messages.push_frame(&mut wbuf);
                        }
                        sent_at.extend(std::iter::repeat_n(Instant::now(), found));
                    } else if sent_at.is_empty() {
                        break;
                    }
                    // A read that filled the buffer probably left more to read.
                    try_read = n == room;
                    reads_in_a_row += 1;
                    if reads_in_a_row >= READS_BEFORE_YIELD {
                        reads_in_a_row = 0;
                        future::yield_now().await;
                    }
                    continue;
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    return Err(format!(
                        "read failed with {} echoes outstanding: {e}",
                        sent_at.len()
                    ))
                }
            }
        }
        reads_in_a_row = 0;
        let stuck_writing = written < wbuf.len();
        match wait(&stream, stuck_writing, &mut limit).await {
            Ok(Woken::Ready) => try_read = true,
            Ok(Woken::TimedOut) if stuck_writing => {
                return Err(format!(
                    "stalled: the server stopped reading; {} echoes outstanding {:.1} s after \
                     the end of the run",
                    sent_at.len(),
                    DRAIN_TIMEOUT.as_secs_f64()
                ))
            }
            Ok(Woken::TimedOut) => {
                return Err(format!(
                    "stalled: {} echoes outstanding {:.1} s after the end of the run",
                    sent_at.len(),
                    DRAIN_TIMEOUT.as_secs_f64()
                ))
            }
            Err(e) => return Err(format!("waiting for the socket failed: {e}")),
        }
    }
    drop(limit);

    let close_answered = close(&mut messages, &stream, &mut rbuf, filled).await?;
    Ok(Outcome {
        echoes,
        close_answered,
    })
}

/// Takes the complete echoes at the front of `buf`, checking each and recording its latency;
/// returns how many bytes they took and how many there were.
fn take_echoes(
    messages: &mut Messages<'_>,
    buf: &[u8],
    sent_at: &mut VecDeque<Instant>,
    arrived: Instant,
    latencies: &mut Latencies,
) -> Result<(usize, usize), String> {
    let mut at = 0;
    let mut found = 0;
    while buf.len() - at >= 2 {
        let seq = messages.next_checked;
        let (b0, b1) = (buf[at], buf[at + 1]);
        if b0 != messages.first_byte || (b1 & 0x80 != 0) != messages.raw {
            return Err(unexpected_frame(&buf[at..], seq, messages.raw));
        }
        let (header, len) = match b1 & 0x7F {
            126 if buf.len() - at >= 4 => (
                4,
                usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]])),
            ),
            126 => break,
            127 => return Err(format!("the echo of message {seq} has a 64-bit length")),
            n => (2, usize::from(n)),
        };
        if len != messages.size {
            return Err(format!(
                "the echo of message {seq} is {len} bytes long instead of {}",
                messages.size
            ));
        }
        let key_len = if messages.raw { 4 } else { 0 };
        if buf.len() - at < header + key_len + len {
            break;
        }
        let payload = &buf[at + header + key_len..at + header + key_len + len];
        let Some(sent) = sent_at.pop_front() else {
            return Err("an echo arrived with no message outstanding".into());
        };
        if messages.raw {
            let key = xorshift(&mut messages.check_rng);
            let got = &buf[at + header..at + header + 4];
            if got != key {
                return Err(format!(
                    "the echo of message {seq} carries the masking key {got:02x?} instead of \
                     {key:02x?}, the one it was sent with"
                ));
            }
            let mut unmasked = std::mem::take(&mut messages.unmasked);
            unmasked.clear();
            unmasked.extend_from_slice(payload);
            mask(&mut unmasked, key);
            let checked = if messages.is_echo(seq, &unmasked) {
                Ok(())
            } else {
                Err(messages.mismatch(seq, &unmasked))
            };
            messages.unmasked = unmasked;
            checked?;
        } else if !messages.is_echo(seq, payload) {
            return Err(messages.mismatch(seq, payload));
        }
        let us = arrived.saturating_duration_since(sent).as_micros();
        latencies.record(u32::try_from(us).unwrap_or(u32::MAX));
        messages.next_checked += 1;
        at += header + key_len + len;
        found += 1;
    }
    Ok((at, found))
}

/// Describes the frame at the start of `frame`, which is not the echo of message `seq`; `raw`
/// when the echo must be the masked frame sent.
fn unexpected_frame(frame: &[u8], seq: u64, raw: bool) -> String {
    let (b0, b1) = (frame[0], frame[1]);
    if b0 & 0x0F == 0x8 {
        let code = match frame.get(2..4) {
            Some(&[hi, lo]) if b1 & 0x7F >= 2 => {
                format!(" (code {})", u16::from_be_bytes([hi, lo]))
            }
            _ => String::new(),
        };
        format!("the server sent a close frame{code} instead of the echo of message {seq}")
    } else if b1 & 0x80 != 0 && !raw {
        format!("the server sent a masked frame instead of the echo of message {seq}")
    } else if b1 & 0x80 == 0 && raw {
        format!(
            "the server sent an unmasked frame instead of the masked frame of message {seq} \
             (--raw wants every byte sent back unchanged)"
        )
    } else {
        format!(
            "the server sent a frame starting {b0:#04x} {b1:#04x} instead of the echo of \
             message {seq}"
        )
    }
}

/// Sends a close frame (1000) and waits briefly for the reply; returns whether it came. Any
/// other frame at this point is an error: every echo has already arrived.
async fn close(
    messages: &mut Messages<'_>,
    stream: &Async<TcpStream>,
    rbuf: &mut [u8],
    mut filled: usize,
) -> Result<bool, String> {
    let mut timer = Timer::after(CLOSE_TIMEOUT);
    let key = messages.next_key();
    let mut frame = [0x88, 0x82, key[0], key[1], key[2], key[3], 0x03, 0xE8];
    mask(&mut frame[6..], key);
    let mut written = 0;
    let mut sock = stream.get_ref();
    loop {
        if written < frame.len() {
            match sock.write(&frame[written..]) {
                Ok(n) => written += n,
                Err(e) if is_transient(&e) => {}
                // The server may already have gone; every echo was checked before.
                Err(_) => return Ok(false),
            }
        }
        if filled >= 1 && rbuf[0] & 0x0F == 0x8 {
            return Ok(true);
        }
        if filled >= 2 {
            return Err(unexpected_frame(
                &rbuf[..filled],
                messages.next_checked,
                messages.raw,
            ));
        }
        match sock.read(&mut rbuf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                filled += n;
                continue;
            }
            Err(e) if is_transient(&e) => {}
            Err(_) => return Ok(false),
        }
        match wait(stream, written < frame.len(), &mut timer).await {
            Ok(Woken::Ready) => {}
            Ok(Woken::TimedOut) | Err(_) => return Ok(false),
        }
    }
}

fn main() {
    let options = parse_args().unwrap_or_else(|e| {
        eprintln!("echo_load: {e}\n{USAGE}");
        exit(2);
    });
    let latencies = RefCell::new(Latencies::new());
    let letters: Vec<u8> = (0..options.size + 26)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let gate = Semaphore::new(CONNECTING_AT_ONCE);
    let executor = LocalExecutor::new();
    let result =
        smol::block_on(executor.run(run(&executor, &options, &gate, &letters, &latencies)));
    drop(executor);
    let (per_connection, seconds, unanswered) = result.unwrap_or_else(|e| {
        eprintln!("echo_load: {e}");
        exit(1);
    });

    let total: u64 = per_connection.iter().sum();
    let min = per_connection.iter().copied().min().unwrap_or(0);
    let max = per_connection.iter().copied().max().unwrap_or(0);
    let ratio = if min == 0 {
        "inf".to_string()
    } else {
        format!("{:.2}", max as f64 / min as f64)
    };
    let mut latencies = latencies.into_inner();
    let ms = |us: u32| f64::from(us) / 1000.0;
    let (p50, p99, p999) = (
        latencies.percentile(0.50),
        latencies.percentile(0.99),
        latencies.percentile(0.999),
    );
    if unanswered > 0 {
        eprintln!(
            "echo_load: {unanswered} of {} connections got no close reply within {} ms",
            options.connections,
            CLOSE_TIMEOUT.as_millis()
        );
    }
    println!(
        "connections: {}, depth: {}, size: {} B, seconds: {seconds:.2}",
        options.connections, options.depth, options.size
    );
    println!("echoes: {total}");
    println!(
        "latency ms: p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        ms(p50),
        ms(p99),
        ms(p999),
        ms(latencies.max)
    );
    println!("per connection: min {min} max {max} ratio {ratio}");
    println!("messages/s: {:.0}", total as f64 / seconds);
}

/// Opens every connection, runs them all, and returns each one's echo count, the run's length
/// in seconds and how many connections got no close reply.
async fn run<'a>(
    executor: &LocalExecutor<'a>,
    options: &'a Options,
    gate: &'a Semaphore,
    letters: &'a [u8],
    latencies: &'a RefCell<Latencies>,
) -> Result<(Vec<u64>, f64, usize), String> {
    let n = options.connections;
    let open_by = Instant::now() + OPEN_TIMEOUT;
    let (tx, rx) = channel::unbounded();
    for id in 0..n {
        let tx = tx.clone();
        executor
            .spawn(async move {
                let stage = Cell::new("");
                let opened = future::or(open(options, gate, &stage), async {
                    Timer::at(open_by).await;
                    Err(format!(
                        "not open within {} s: still {}",
                        OPEN_TIMEOUT.as_secs_f64(),
                        stage.get()
                    ))
                })
                .await;
                let _ = tx.try_send((id, opened));
            })
            .detach();
    }
    drop(tx);
    let mut opened: Vec<Option<(Async<TcpStream>, Vec<u8>)>> = (0..n).map(|_| None).collect();
    for _ in 0..n {
        let (id, result) = rx.recv().await.map_err(|_| "a connection task vanished")?;
        opened[id] = Some(result.map_err(|e| open_error(id, &e))?);
    }

    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(options.seconds);
    let clock = Clock {
        deadline,
        give_up: deadline + DRAIN_TIMEOUT,
    };
    let (tx, rx) = channel::unbounded();
    for (id, connection) in opened.into_iter().enumerate() {
        let (stream, leftover) = connection.expect("every connection reported");
        let seed = (id as u32).wrapping_mul(0x9E37_79B9) | 1;
        let messages = Messages {
            conn: id as u32,
            size: options.size,
            first_byte: if options.binary { 0x82 } else { 0x81 },
            letters,
            rng: seed,
            raw: options.raw,
            check_rng: seed,
            unmasked: Vec::with_capacity(if options.raw { options.size } else { 0 }),
            next_sent: 0,
            next_checked: 0,
        };
        let tx = tx.clone();
        executor
            .spawn(async move {
                let outcome =
                    run_connection(messages, stream, leftover, options.depth, clock, latencies)
                        .await;
                let _ = tx.try_send((id, outcome));
            })
            .detach();
    }
    drop(tx);
    let mut per_connection = vec![0; n];
    let mut unanswered = 0;
    for _ in 0..n {
        let (id, result) = rx.recv().await.map_err(|_| "a connection task vanished")?;
        let outcome = result.map_err(|e| format!("connection {id}: {e}"))?;
        per_connection[id] = outcome.echoes;
        unanswered += usize::from(!outcome.close_answered);
    }
    Ok((per_connection, (deadline - start).as_secs_f64(), unanswered))
}

fn open_error(id: usize, e: &str) -> String {
    if e.contains("os error 24") {
        format!("connection {id}: {e} (raise the limit with `ulimit -n`)")
    } else {
        format!("connection {id}: {e}")
    }
}
