//! Checks a third-party echo server: `interop_client URL [--version V]`.
//!
//! Sends text messages of several sizes (multi-byte UTF-8 included) and, where the version has
//! them, binary messages, a fragmented message and a ping; checks every echo byte for byte,
//! then closes and checks the close. Exits 0 when everything matched.

use std::net::TcpStream;
use std::time::Duration;

use wsmachine::blocking::{Message, WebSocket};
use wsmachine::{ClientRequest, CloseCode, Config, Version, WsUrl};

const SIZES: [usize; 7] = [0, 1, 125, 126, 65_535, 65_536, 1 << 20];

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| fail("usage: interop_client URL [--version V]"));
    let version = match (args.next().as_deref(), args.next()) {
        (Some("--version"), Some(v)) => v.parse().unwrap_or_else(|_| fail("unknown version")),
        (None, _) => Version::Hybi13,
        _ => fail("usage: interop_client URL [--version V]"),
    };
    match run(&url, version) {
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

fn run(url: &str, version: Version) -> Result<String, Box<dyn std::error::Error>> {
    let parsed = WsUrl::parse(url)?;
    let stream = TcpStream::connect((parsed.host, parsed.port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let request = ClientRequest::from_url(&parsed).version(version);
    let (mut ws, _) = WebSocket::connect(stream, &request, Config::default())?;
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
        ws.get_mut().shutdown(std::net::Shutdown::Write)?;
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
                    "{checked} echoes checked, close {}",
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
    ws: &mut WebSocket<TcpStream, wsmachine::OsEntropy>,
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
