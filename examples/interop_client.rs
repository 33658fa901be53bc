//! Checks a third-party echo server: `interop_client URL [--version V] [--deflate]`.
//!
//! Sends text messages of several sizes (multi-byte UTF-8 included) and, where the version has
//! them, binary messages, a fragmented message and a ping; checks every echo byte for byte,
//! then closes and checks the close. Exits 0 when everything matched.
//!
//! `--deflate` offers permessage-deflate ([`DeflateConfig::new`]), fails unless the server's 101
//! agreed to it, and prints that answer as `extensions: permessage-deflate; ...`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use wsmachine::blocking::{Message, WebSocket};
use wsmachine::deflate::DeflateConfig;
use wsmachine::{ClientRequest, CloseCode, Config, Version, WsUrl};

const SIZES: [usize; 7] = [0, 1, 125, 126, 65_535, 65_536, 1 << 20];

const USAGE: &str = "usage: interop_client URL [--version V] [--deflate]";

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| fail(USAGE));
    let mut version = Version::Hybi13;
    let mut deflate = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--version" => {
                let v = args.next().unwrap_or_else(|| fail(USAGE));
                version = v.parse().unwrap_or_else(|_| fail("unknown version"));
            }
            "--deflate" => deflate = true,
            _ => fail(USAGE),
        }
    }
    match run(&url, version, deflate) {
        Ok(summary) => println!("interop_client: {version} ok: {summary}"),
        Err(e) => fail(&format!("{version}: {e}")),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("interop_client: {message}");
    std::process::exit(1);
}

/// Text of exactly `len` bytes mixing ASCII and 2-, 3- and 4-byte characters.
fn text_of(len: usize) -> String {
    let pieces = ["a", "é", "☃", "𝄞", "z"];
    let mut text = String::with_capacity(len);
    let mut i = 0;
    while text.len() < len {
        let piece = pieces[i % pieces.len()];
        text.push_str(if text.len() + piece.len() <= len {
            piece
        } else {
            "x"
        });
        i += 1;
    }
    text
}

fn binary_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// The stream, keeping a copy of what is read until the end of the server's HTTP head: the
/// blocking driver checks the 101 but does not hand it out.
struct HeadTap {
    stream: TcpStream,
    head: Vec<u8>,
}

impl HeadTap {
    fn head_complete(&self) -> bool {
        self.head.windows(4).any(|w| w == b"\r\n\r\n")
    }

    /// Every `Sec-WebSocket-Extensions` value of the server's head, comma-joined.
    fn extensions(&self) -> Option<String> {
        let end = self.head.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&self.head[..end]);
        let values: Vec<&str> = head
            .split("\r\n")
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
            .map(|(_, value)| value.trim())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }
}

impl Read for HeadTap {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stream.read(buf)?;
        if !self.head_complete() {
            self.head.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

impl Write for HeadTap {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

fn run(url: &str, version: Version, deflate: bool) -> Result<String, Box<dyn std::error::Error>> {
    let parsed = WsUrl::parse(url)?;
    let stream = TcpStream::connect((parsed.host, parsed.port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let request = ClientRequest::from_url(&parsed).version(version);
    let mut config = Config::default();
    if deflate {
        config.deflate = Some(DeflateConfig::new());
    }
    let tap = HeadTap {
        stream,
        head: Vec::new(),
    };
    let (mut ws, _) = WebSocket::connect(tap, &request, config)?;
    if deflate {
        match ws.get_mut().extensions() {
            Some(agreed) if agreed.starts_with("permessage-deflate") => {
                println!("extensions: {agreed}");
            }
            other => {
                return Err(format!("permessage-deflate offered but not agreed: {other:?}").into())
            }
        }
    }
    let mut checked = 0;
    for len in SIZES {
        let text = text_of(len);
        ws.send_text(&text)?;
        match next_data(&mut ws)? {
            Message::Text(echo) if echo == text => checked += 1,
            other => {
                return Err(format!("text of {len} bytes came back as {}", describe(&other)).into())
            }
        }
    }
    if !version.is_hixie() {
        for len in SIZES {
            let data = binary_of(len);
            ws.send_binary(&data)?;
            match next_data(&mut ws)? {
                Message::Binary(echo) if echo == data => checked += 1,
                other => {
                    return Err(
                        format!("binary of {len} bytes came back as {}", describe(&other)).into(),
                    )
                }
            }
        }
        // A fragmented text message split inside a character; the echo may come whole.
        let text = text_of(1000);
        let bytes = text.as_bytes();
        let conn = ws.connection();
        conn.send_fragment(&bytes[..3], true, false)?;
        conn.send_fragment(&bytes[3..500], true, false)?;
        conn.send_fragment(&bytes[500..], true, true)?;
        ws.flush()?;
        match next_data(&mut ws)? {
            Message::Text(echo) if echo == text => checked += 1,
            other => {
                return Err(format!("fragmented text came back as {}", describe(&other)).into())
            }
        }
        ws.connection().ping(b"interop")?;
        ws.flush()?;
        loop {
            match ws.read()? {
                Message::Pong { payload, .. } if payload == b"interop" => break,
                Message::Pong { .. } | Message::Ping(_) => {}
                other => return Err(format!("expected a pong, got {}", describe(&other)).into()),
            }
        }
        checked += 1;
    }
    ws.close(None, "")?;
    if version == Version::Hixie75 {
        ws.get_mut().stream.shutdown(std::net::Shutdown::Write)?;
    }
    loop {
        match ws.read()? {
            Message::Close { code, clean, .. } => {
                let expected = if version.is_hixie() {
                    None
                } else {
                    Some(CloseCode::NORMAL)
                };
                if code != expected || !clean {
                    return Err(format!("close ended with code {code:?}, clean {clean}").into());
                }
                return Ok(format!(
                    "{checked} echoes checked{}, close {}",
                    if deflate { ", permessage-deflate" } else { "" },
                    code.map(|c| c.to_string())
                        .unwrap_or_else(|| "clean".into())
                ));
            }
            Message::Text(_) | Message::Binary(_) => return Err("data after close".into()),
            _ => {}
        }
    }
}

fn next_data(
    ws: &mut WebSocket<HeadTap, wsmachine::OsEntropy>,
) -> Result<Message, Box<dyn std::error::Error>> {
    loop {
        match ws.read()? {
            Message::Ping(_) | Message::Pong { .. } => {}
            other => return Ok(other),
        }
    }
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(t) => format!("text of {} bytes", t.len()),
        Message::Binary(b) => format!("binary of {} bytes", b.len()),
        other => format!("{other:?}"),
    }
}
