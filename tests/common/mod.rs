//! Shared test harness: deterministic entropy, owned event records, and an in-memory
//! client/server pair.
#![allow(dead_code)]

pub use wsmachine::drive::Message;
#[allow(unused_imports)]
pub use wsmachine::CloseCode;
use wsmachine::{Accept, ClientRequest, Config, Connection, Event, KeySource, NoEntropy, Version};

pub mod halves;

/// Exactly `len` bytes of text cycling through one- to four-byte characters; an `a` fills in
/// where the next character would not fit, so that boundary lengths (125, 65,535, ...) are
/// really sent.
pub fn text_of(len: usize) -> String {
    let mut text = String::with_capacity(len);
    for c in "aé☃𝄞".chars().cycle() {
        if text.len() == len {
            break;
        }
        text.push(if text.len() + c.len_utf8() <= len {
            c
        } else {
            'a'
        });
    }
    text
}

/// A deterministic generator (xorshift), so that runs are reproducible.
#[derive(Clone)]
pub struct Seeded(pub u64);

impl wsmachine::Entropy for Seeded {
    fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
    }
}

/// An event, owned, for comparing runs: the crate's own [`Message`] for what the peer sent,
/// and the handshake events and errors, which it has no owned form of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Request {
        version: Option<Version>,
        target: String,
        protocols: Vec<String>,
    },
    HttpRequest {
        target: String,
    },
    Accepted {
        protocol: Option<String>,
    },
    Message(Message),
    Error(wsmachine::Error),
}

/// The time the tests' connections are at when they read pongs (their round trips count from
/// the `now` of `ping_at`).
pub const NOW: u64 = 1000;

pub fn seen(event: Event<'_>) -> Seen {
    match event {
        Event::Request(r) => Seen::Request {
            version: r.version(),
            target: r.target().into(),
            protocols: r.protocols().map(String::from).collect(),
        },
        Event::HttpRequest(r) => Seen::HttpRequest {
            target: r.target().into(),
        },
        Event::Accepted(r) => Seen::Accepted {
            protocol: r.protocol().map(String::from),
        },
        event => Seen::Message(Message::from_event(event, NOW).expect("a message event")),
    }
}

pub type Client = Connection<Vec<u8>, Seeded>;
pub type Server = Connection<Vec<u8>, NoEntropy>;

/// Polls every event; a server accepts upgrade requests with the first offered protocol.
pub fn drain<R: KeySource>(conn: &mut Connection<Vec<u8>, R>, seen_events: &mut Vec<Seen>) {
    loop {
        let record = match conn.poll_event() {
            Ok(Some(event)) => seen(event),
            Ok(None) => return,
            Err(e) => Seen::Error(e),
        };
        let accept = matches!(record, Seen::Request { .. });
        let protocol = match &record {
            Seen::Request { protocols, .. } => protocols.first().cloned(),
            _ => None,
        };
        seen_events.push(record);
        if accept {
            let mut answer = Accept::new();
            if let Some(p) = protocol.as_deref() {
                answer = answer.protocol(p);
            }
            conn.accept(answer).expect("accept");
        }
    }
}

/// Moves all output of `from` into `to`; returns the bytes moved.
pub fn transfer<A: KeySource, B: KeySource>(
    from: &mut Connection<Vec<u8>, A>,
    to: &mut Connection<Vec<u8>, B>,
) -> usize {
    let out = from.pending_output().to_vec();
    let mut given = 0;
    while given < out.len() {
        let n = to.receive(&out[given..]);
        assert!(n > 0, "receiver refused input");
        given += n;
    }
    from.consume_output(out.len());
    out.len()
}

pub struct Pair {
    pub client: Client,
    pub server: Server,
    pub client_seen: Vec<Seen>,
    pub server_seen: Vec<Seen>,
}

impl Pair {
    pub fn new(version: Version) -> Pair {
        Self::with(version, Config::default(), &[])
    }

    pub fn with(version: Version, config: Config, protocols: &[&str]) -> Pair {
        let request = ClientRequest::new("example.com", "/chat?x=1")
            .version(version)
            .protocols(protocols);
        let client =
            Connection::client(&request, config, Seeded(0x9E37_79B9_7F4A_7C15)).expect("client");
        let server = Connection::server(config);
        let mut pair = Pair {
            client,
            server,
            client_seen: Vec::new(),
            server_seen: Vec::new(),
        };
        pair.pump();
        pair
    }

    /// Exchanges bytes and events until nothing moves.
    pub fn pump(&mut self) {
        for _ in 0..1000 {
            let a = transfer(&mut self.client, &mut self.server);
            drain(&mut self.server, &mut self.server_seen);
            let b = transfer(&mut self.server, &mut self.client);
            drain(&mut self.client, &mut self.client_seen);
            if a == 0 && b == 0 {
                return;
            }
        }
        panic!("pair did not settle");
    }

    pub fn take_client_seen(&mut self) -> Vec<Seen> {
        std::mem::take(&mut self.client_seen)
    }

    pub fn take_server_seen(&mut self) -> Vec<Seen> {
        std::mem::take(&mut self.server_seen)
    }
}

/// Feeds `input` to a fresh connection in the given chunk sizes (cycled), polling after each
/// chunk; returns the events and all output bytes.
pub fn run_in_chunks<R: KeySource>(
    mut conn: Connection<Vec<u8>, R>,
    input: &[u8],
    chunks: &[usize],
    eof: bool,
) -> (Vec<Seen>, Vec<u8>) {
    let mut events = Vec::new();
    let mut output = Vec::new();
    let mut at = 0;
    let mut i = 0;
    drain(&mut conn, &mut events);
    while at < input.len() {
        let size = chunks[i % chunks.len()].max(1).min(input.len() - at);
        i += 1;
        let mut given = 0;
        while given < size {
            let n = conn.receive(&input[at + given..at + size]);
            given += n;
            drain(&mut conn, &mut events);
            if n == 0 {
                // Events were drained: the input must take more now.
                let taken = conn.receive(&input[at + given..at + size]);
                assert!(taken > 0, "input stuck");
                given += taken;
                drain(&mut conn, &mut events);
            }
        }
        at += size;
        output.extend_from_slice(conn.pending_output());
        let len = conn.pending_output().len();
        conn.consume_output(len);
    }
    if eof {
        conn.handle_eof();
        drain(&mut conn, &mut events);
    }
    output.extend_from_slice(conn.pending_output());
    (events, output)
}

/// A masked client frame, as a peer would send it.
pub fn client_frame(first_byte: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut f = vec![first_byte];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// An unmasked server frame.
pub fn server_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![first_byte];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xFFFF => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

pub const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A server that accepted `request` (any version), with its output cleared.
pub fn open_server(request: &[u8], config: Config) -> Server {
    let mut server = Connection::server(config);
    assert_eq!(server.receive(request), request.len());
    let mut events = Vec::new();
    drain(&mut server, &mut events);
    assert!(
        matches!(events.as_slice(), [Seen::Request { .. }]),
        "{events:?}"
    );
    let n = server.pending_output().len();
    server.consume_output(n);
    server
}

/// The request of each version that the tests' servers get.
pub fn request_for(version: Version) -> Vec<u8> {
    match version {
        Version::Hybi13 => RFC_REQUEST.to_vec(),
        Version::Hybi07 | Version::Hybi08 => {
            let n = if version == Version::Hybi07 { "7" } else { "8" };
            format!("GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Origin: http://example.com\r\nSec-WebSocket-Version: {n}\r\n\r\n").into_bytes()
        }
        Version::Hixie76 => HIXIE76_REQUEST.to_vec(),
        Version::Hixie75 => HIXIE75_REQUEST.to_vec(),
    }
}

pub const HIXIE76_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: sample\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://example.com\r\n\r\n^n:ds[4U";

pub const HIXIE75_REQUEST: &[u8] = b"GET /demo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com\r\nOrigin: http://example.com\r\nWebSocket-Protocol: sample\r\n\r\n";
