//! The checks that `interop_client` and `tokio_client --interop` run against an echo server,
//! kept here once so that the blocking and the async client cannot drift apart: the plan of
//! steps (what to send, what must come back), the verdict on each message read, the close
//! check and the summary. Each client only performs the steps through its own driver.
//!
//! Also the reading of the server's HTTP head that both use to report the agreed extensions,
//! since their drivers check the 101 but do not hand it out.

use wsmachine::drive::Message;
use wsmachine::{CloseCode, Version};

const SIZES: [usize; 7] = [0, 1, 125, 126, 65_535, 65_536, 1 << 20];

/// What a step sends.
pub enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
    /// The frames of one text message, each with whether it ends the message.
    TextFrames(Vec<(Vec<u8>, bool)>),
    Ping(Vec<u8>),
}

/// What must come back for a step.
enum Expect {
    Text(String),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
}

/// One message out and the one that must answer it.
pub struct Step {
    pub send: Outgoing,
    expect: Expect,
    /// How a wrong answer is reported, ahead of a description of it.
    failure: String,
}

/// The checks of one connection: the plan for its version, and the count for the summary.
pub struct Checker {
    version: Version,
    deflate: bool,
    checked: usize,
}

impl Checker {
    pub fn new(version: Version, deflate: bool) -> Self {
        Checker {
            version,
            deflate,
            checked: 0,
        }
    }

    /// The steps, in order: text of every size, then, where the version has them, binary of
    /// every size, a fragmented text message and a ping.
    pub fn plan(&self) -> Vec<Step> {
        let mut steps: Vec<Step> = SIZES
            .iter()
            .map(|&len| Step {
                send: Outgoing::Text(text_of(len)),
                expect: Expect::Text(text_of(len)),
                failure: format!("text of {len} bytes came back as"),
            })
            .collect();
        if self.version.is_hixie() {
            return steps;
        }
        steps.extend(SIZES.iter().map(|&len| Step {
            send: Outgoing::Binary(binary_of(len)),
            expect: Expect::Binary(binary_of(len)),
            failure: format!("binary of {len} bytes came back as"),
        }));
        // Split inside a character, which only the reassembled message may be checked for;
        // the echo may come whole.
        let text = text_of(1000);
        let bytes = text.as_bytes();
        steps.push(Step {
            send: Outgoing::TextFrames(vec![
                (bytes[..3].to_vec(), false),
                (bytes[3..500].to_vec(), false),
                (bytes[500..].to_vec(), true),
            ]),
            expect: Expect::Text(text.clone()),
            failure: "fragmented text came back as".into(),
        });
        steps.push(Step {
            send: Outgoing::Ping(b"interop".to_vec()),
            expect: Expect::Pong(b"interop".to_vec()),
            failure: "expected a pong, got".into(),
        });
        steps
    }

    /// Judges a message read after `step` was sent: `Ok(true)` when it is the expected
    /// answer, `Ok(false)` for a ping or pong to read past (the server may ping, and a pong
    /// may answer an earlier ping), an error for anything else.
    pub fn answer(&mut self, step: &Step, message: &Message) -> Result<bool, String> {
        let matched = match (&step.expect, message) {
            (Expect::Text(text), Message::Text(echo)) => echo == text,
            (Expect::Binary(data), Message::Binary(echo)) => echo == data,
            (Expect::Pong(sent), Message::Pong { payload, .. }) => payload == sent,
            _ => false,
        };
        if matched {
            self.checked += 1;
            return Ok(true);
        }
        if matches!(message, Message::Ping(_) | Message::Pong { .. }) {
            return Ok(false);
        }
        Err(format!("{} {}", step.failure, describe(message)))
    }

    /// Judges a message read after our close: the summary once the close arrived as the
    /// version requires, `None` for a control message to read past, an error for data or a
    /// wrong close.
    pub fn close(&self, message: &Message) -> Result<Option<String>, String> {
        match message {
            Message::Close { code, clean, .. } => {
                let expected = (!self.version.is_hixie()).then_some(CloseCode::NORMAL);
                if *code != expected || !clean {
                    return Err(format!("close ended with code {code:?}, clean {clean}"));
                }
                Ok(Some(format!(
                    "{} echoes checked{}, close {}",
                    self.checked,
                    if self.deflate {
                        ", permessage-deflate"
                    } else {
                        ""
                    },
                    code.map(|c| c.to_string())
                        .unwrap_or_else(|| "clean".into())
                )))
            }
            Message::Text(_) | Message::Binary(_) => Err("data after close".into()),
            _ => Ok(None),
        }
    }
}

/// Fails unless the server agreed to the permessage-deflate that was offered, and prints its
/// answer, which `conformance/interop.sh` looks for.
pub fn require_deflate(agreed: Option<&str>) -> Result<(), String> {
    match agreed {
        Some(agreed) if agreed.starts_with("permessage-deflate") => {
            println!("extensions: {agreed}");
            Ok(())
        }
        other => Err(format!(
            "permessage-deflate offered but not agreed: {other:?}"
        )),
    }
}

/// Where the HTTP head in `bytes` ends, once it has.
pub fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Every `Sec-WebSocket-Extensions` value of the HTTP head in `bytes`, comma-joined.
pub fn extensions(bytes: &[u8]) -> Option<String> {
    let end = head_end(bytes)?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let values: Vec<&str> = head
        .split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, value)| value.trim())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
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

fn describe(message: &Message) -> String {
    match message {
        Message::Text(t) => format!("text of {} bytes", t.len()),
        Message::Binary(b) => format!("binary of {} bytes", b.len()),
        other => format!("{other:?}"),
    }
}
