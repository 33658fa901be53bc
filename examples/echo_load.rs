//! Load generator for WebSocket echo servers: a fixed number of connections, each keeping a
//! window of text messages in flight for a fixed time, counting the echoes that came back
//! intact. It speaks RFC 6455 with hand-built frames, so it measures any server the same way.
//!
//! `cargo run --release --example echo_load -- ws://127.0.0.1:9001/ [--connections 4]
//! [--seconds 5] [--size 16] [--window 64]`
//!
//! Prints `messages/s: N` (echoes received per second, all connections together) on its last
//! line. Every socket operation has a timeout and every loop ends at the deadline.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

struct Options {
    host: String,
    path: String,
    connections: usize,
    seconds: f64,
    size: usize,
    window: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: echo_load ws://HOST:PORT/PATH [options]")?;
    let rest = url
        .strip_prefix("ws://")
        .ok_or("only ws:// URLs are supported")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    };
    let mut options = Options {
        host,
        path,
        connections: 4,
        seconds: 5.0,
        size: 16,
        window: 64,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = || format!("bad value for {flag}: {value}");
        match flag.as_str() {
            "--connections" => options.connections = value.parse().map_err(|_| bad())?,
            "--seconds" => options.seconds = value.parse().map_err(|_| bad())?,
            "--size" => options.size = value.parse().map_err(|_| bad())?,
            "--window" => options.window = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if !(1..=256).contains(&options.connections)
        || !(0.1..=600.0).contains(&options.seconds)
        || !(1..=65535).contains(&options.size)
        || !(1..=4096).contains(&options.window)
    {
        return Err("options out of range (connections 1-256, seconds 0.1-600, size 1-65535, window 1-4096)".into());
    }
    Ok(options)
}

/// One masked client text frame carrying `payload`.
fn client_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![0x81];
    if payload.len() < 126 {
        frame.push(0x80 | payload.len() as u8);
    } else {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
    frame
}

fn handshake(stream: &mut TcpStream, host: &str, path: &str) -> io::Result<Vec<u8>> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            if !got.starts_with(b"HTTP/1.1 101") {
                return Err(io::Error::other("the server refused the upgrade"));
            }
            // Bytes after the head already belong to the frames.
            return Ok(got.split_off(end + 4));
        }
        if got.len() > 16 * 1024 {
            return Err(io::Error::other("handshake answer too long"));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other("closed during the handshake"));
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// Removes complete server frames from the front of `buf`, checking each against `payload`;
/// returns how many echoes were found.
fn take_echoes(buf: &mut Vec<u8>, payload: &[u8]) -> io::Result<usize> {
    let mut at = 0;
    let mut count = 0;
    loop {
        let rest = &buf[at..];
        if rest.len() < 2 {
            break;
        }
        let (len, header) = match rest[1] & 0x7F {
            126 if rest.len() >= 4 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            126 => break,
            127 => return Err(io::Error::other("unexpectedly long echo")),
            n => (usize::from(n), 2),
        };
        if rest.len() < header + len {
            break;
        }
        if rest[0] != 0x81 || rest[1] & 0x80 != 0 || &rest[header..header + len] != payload {
            return Err(io::Error::other("the echo differs from the message sent"));
        }
        at += header + len;
        count += 1;
    }
    buf.drain(..at);
    Ok(count)
}

fn run_connection(options: &Options, deadline: Instant, seed: u32) -> io::Result<u64> {
    let addr = options
        .host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut pending = handshake(&mut stream, &options.host, &options.path)?;

    let payload: Vec<u8> = (0..options.size)
        .map(|i| b'a' + ((i as u32 + seed) % 26) as u8)
        .collect();
    let frame = client_frame(&payload, seed.to_le_bytes());
    let batch: Vec<u8> = frame.repeat(options.window);
    let mut buf = vec![0u8; 64 * 1024];
    let mut echoed: u64 = 0;
    while Instant::now() < deadline {
        stream.write_all(&batch)?;
        let mut outstanding = options.window;
        while outstanding > 0 {
            let found = take_echoes(&mut pending, &payload)?;
            outstanding = outstanding.saturating_sub(found);
            echoed += found as u64;
            if outstanding == 0 {
                break;
            }
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::other("the server closed the connection"));
            }
            pending.extend_from_slice(&buf[..n]);
        }
    }
    // Close politely: a masked close frame with code 1000, then wait briefly for the reply.
    let _ = stream.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]);
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let _ = stream.read(&mut buf);
    Ok(echoed)
}

fn main() {
    let options = match parse_args() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("echo_load: {e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(options.seconds);
    let results: Vec<io::Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..options.connections)
            .map(|i| {
                let options = &options;
                scope.spawn(move || run_connection(options, deadline, 0x9E37_79B9 ^ i as u32))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a connection thread panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut total = 0;
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(n) => total += n,
            Err(e) => {
                eprintln!("echo_load: connection {i}: {e}");
                std::process::exit(1);
            }
        }
    }
    println!(
        "connections: {}, message size: {} B, window: {}, seconds: {elapsed:.2}, echoes: {total}",
        options.connections, options.size, options.window
    );
    println!("messages/s: {:.0}", total as f64 / elapsed);
}
