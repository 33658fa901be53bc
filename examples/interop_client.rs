//! Checks a third-party echo server: `interop_client URL [--version V] [--deflate]`.
//!
//! Sends text messages of several sizes (multi-byte UTF-8 included) and, where the version has
//! them, binary messages, a fragmented message and a ping; checks every echo byte for byte,
//! then closes and checks the close. Exits 0 when everything matched.
//!
//! `--deflate` offers permessage-deflate ([`DeflateConfig::new`]), fails unless the server's 101
//! agreed to it, and prints that answer as `extensions: permessage-deflate; ...`.

#[path = "interop/mod.rs"]
mod interop;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use interop::{Checker, Outgoing};
use wsmachine::blocking::WebSocket;
use wsmachine::deflate::DeflateConfig;
use wsmachine::{ClientRequest, Config, Version, WsUrl};

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

/// The stream, keeping a copy of what is read until the end of the server's HTTP head: the
/// blocking driver checks the 101 but does not hand it out.
struct HeadTap {
    stream: TcpStream,
    head: Vec<u8>,
}

impl Read for HeadTap {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.stream.read(buf)?;
        if interop::head_end(&self.head).is_none() {
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
        interop::require_deflate(interop::extensions(&ws.get_mut().head).as_deref())?;
    }
    let mut check = Checker::new(version, deflate);
    for step in check.plan() {
        match &step.send {
            Outgoing::Text(text) => ws.send_text(text)?,
            Outgoing::Binary(data) => ws.send_binary(data)?,
            Outgoing::TextFrames(frames) => {
                for (frame, last) in frames {
                    ws.connection().send_fragment(frame, true, *last)?;
                }
                ws.flush()?;
            }
            Outgoing::Ping(payload) => {
                ws.connection().ping(payload)?;
                ws.flush()?;
            }
        }
        while !check.answer(&step, &ws.read()?)? {}
    }
    ws.close(None, "")?;
    if version == Version::Hixie75 {
        ws.get_mut().stream.shutdown(std::net::Shutdown::Write)?;
    }
    loop {
        if let Some(summary) = check.close(&ws.read()?)? {
            return Ok(summary);
        }
    }
}
