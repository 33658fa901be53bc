//! A client and a server of the same version exchange arbitrary messages through an in-memory
//! pipe that delivers bytes in chunks of arbitrary sizes: everything sent is received unchanged
//! and in order, every ping is answered with its payload, and the closing handshake ends both
//! sides cleanly with the close event exactly once, for every version.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::{drive::Message, CloseCode, Config, Error, KeySource, State, UsageError, Version};
use wsmachine_fuzz::{client, Answer, Ev, Peer, Rng, VERSIONS};

#[derive(Arbitrary, Debug)]
struct Input {
    version: u8,
    stream_fragments: bool,
    chunk_seed: u64,
    max_chunk: u8,
    messages: Vec<(bool, Outgoing)>,
    closer_is_client: bool,
    close: Option<(u16, String)>,
}

#[derive(Arbitrary, Debug)]
enum Outgoing {
    Text(String),
    Binary(Vec<u8>),
    /// A text message cut at these byte offsets, even inside a character.
    TextParts(String, Vec<u16>),
    BinaryParts(Vec<u8>, Vec<u16>),
    Ping(Vec<u8>),
    /// Deliver everything sent so far before going on.
    Flush,
}

/// The parts of `data` cut at `cuts` (offsets taken modulo the length, in order; empty parts
/// allowed, and always at least one part).
fn split<'a>(data: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .take(16)
        .map(|&c| usize::from(c) % (data.len() + 1))
        .collect();
    at.sort_unstable();
    let mut parts = Vec::new();
    let mut start = 0;
    for cut in at {
        parts.push(&data[start..cut]);
        start = cut;
    }
    parts.push(&data[start..]);
    parts
}

struct Pipe {
    rng: Rng,
    max_chunk: usize,
}

impl Pipe {
    /// Moves all output both ways, in chunks, until none is left.
    fn flush<A: KeySource, B: KeySource>(&mut self, c: &mut Peer<A>, s: &mut Peer<B>) {
        for _ in 0..64 {
            let to_server = c.take_output();
            let to_client = s.take_output();
            if to_server.is_empty() && to_client.is_empty() {
                return;
            }
            for chunk in wsmachine_fuzz::chunks(&to_server, &mut self.rng, self.max_chunk) {
                s.feed(chunk);
            }
            for chunk in wsmachine_fuzz::chunks(&to_client, &mut self.rng, self.max_chunk) {
                c.feed(chunk);
            }
        }
        panic!("the pipe never emptied");
    }
}

/// Sends `message` from `from`; returns what the other side must receive, or `None` if the
/// version cannot send it (checked to fail with `Unsupported`).
fn send<R: KeySource>(from: &mut Peer<R>, message: &Outgoing) -> Option<Message> {
    let version = from.conn.version().expect("open");
    let (result, expected) = match message {
        Outgoing::Text(t) => (from.conn.send_text(t), Message::Text(t.clone())),
        Outgoing::Binary(b) => (from.conn.send_binary(b), Message::Binary(b.clone())),
        Outgoing::TextParts(t, cuts) => (
            fragments(from, t.as_bytes(), true, cuts),
            Message::Text(t.clone()),
        ),
        Outgoing::BinaryParts(b, cuts) => {
            (fragments(from, b, false, cuts), Message::Binary(b.clone()))
        }
        Outgoing::Ping(p) => {
            let p = &p[..p.len().min(125)];
            (from.conn.ping(p), Message::Ping(p.to_vec()))
        }
        Outgoing::Flush => return None,
    };
    let hybi_only = !matches!(message, Outgoing::Text(_));
    if version.is_hixie() && hybi_only {
        assert!(
            matches!(result, Err(Error::Usage(UsageError::Unsupported { .. }))),
            "{version} sent {message:?}: {result:?}"
        );
        return None;
    }
    assert_eq!(result, Ok(()), "{version} could not send {message:?}");
    Some(expected)
}

fn fragments<R: KeySource>(
    from: &mut Peer<R>,
    data: &[u8],
    is_text: bool,
    cuts: &[u16],
) -> Result<(), Error> {
    let parts = split(data, cuts);
    let last = parts.len() - 1;
    for (i, part) in parts.into_iter().enumerate() {
        from.conn.send_fragment(part, is_text, i == last)?;
    }
    Ok(())
}

fuzz_target!(|input: Input| {
    let version = VERSIONS[usize::from(input.version) % VERSIONS.len()];
    let mut config = Config::default();
    config.stream_fragments = input.stream_fragments;
    let mut c = Peer::wrap(
        client(version, &["chat", "superchat"], config).expect("a valid request"),
        Some(version),
        Answer::Accept,
        false,
    );
    let mut s = Peer::server(config, Answer::Accept);
    for peer_hostile in [&mut c.watch.hostile_input, &mut s.watch.hostile_input] {
        *peer_hostile = false;
    }
    let mut pipe = Pipe {
        rng: Rng::new(input.chunk_seed),
        max_chunk: usize::from(input.max_chunk).max(1),
    };
    // The handshake goes in chunks of at least 64 bytes: its byte-by-byte chunking is the
    // `chunking` target's, and this target spends its executions on frames.
    let max_chunk = pipe.max_chunk;
    pipe.max_chunk = max_chunk.max(64);
    pipe.flush(&mut c, &mut s);
    pipe.max_chunk = max_chunk;
    assert_eq!(
        c.conn.state(),
        State::Open,
        "client not open: {:?}",
        c.log()
    );
    assert_eq!(
        s.conn.state(),
        State::Open,
        "server not open: {:?}",
        s.log()
    );
    assert!(matches!(s.log(), [Ev::Request { version: Some(v), .. }] if *v == version));
    assert_eq!(
        c.log(),
        [Ev::Accepted {
            status: 101,
            protocol: Some("chat".to_owned()),
            extensions: None,
        }]
    );

    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    let (mut pings_by_client, mut pings_by_server) = (Vec::new(), Vec::new());
    for (from_client, message) in input.messages.iter().take(64) {
        if let Outgoing::Flush = message {
            pipe.flush(&mut c, &mut s);
            continue;
        }
        let sent = if *from_client {
            send(&mut c, message)
        } else {
            send(&mut s, message)
        };
        let Some(sent) = sent else { continue };
        let (expected, pings) = match from_client {
            true => (&mut to_server, &mut pings_by_client),
            false => (&mut to_client, &mut pings_by_server),
        };
        if let Message::Ping(p) = &sent {
            pings.push(p.clone());
        }
        expected.push(sent);
    }
    pipe.flush(&mut c, &mut s);
    assert_eq!(s.messages(), to_server, "server received other messages");
    assert_eq!(c.messages(), to_client, "client received other messages");
    assert_eq!(
        c.watch.pongs(),
        pings_by_client,
        "client's pings not answered"
    );
    assert_eq!(
        s.watch.pongs(),
        pings_by_server,
        "server's pings not answered"
    );

    // The closing handshake.
    let (code, reason) = match &input.close {
        Some((code, reason)) if !version.is_hixie() => {
            let code = CloseCode(3000 + code % 2000);
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            (Some(code), reason[..end].to_owned())
        }
        _ => (None, String::new()),
    };
    let closer_is_client = input.closer_is_client;
    {
        let result = match (closer_is_client, code) {
            (true, Some(code)) => c.conn.close_with(code, &reason),
            (true, None) => c.conn.close(),
            (false, Some(code)) => s.conn.close_with(code, &reason),
            (false, None) => s.conn.close(),
        };
        assert_eq!(result, Ok(()));
    }
    pipe.flush(&mut c, &mut s);
    if version == Version::Hixie75 {
        // Its only close is the transport's: the closer shuts its write side down, the other
        // side sees the end of the stream and closes the transport in turn.
        if closer_is_client {
            s.eof();
            c.eof();
        } else {
            c.eof();
            s.eof();
        }
    }
    let sent_code = if version.is_hixie() {
        None
    } else {
        Some(code.unwrap_or(CloseCode::NORMAL))
    };
    let (closer, other) = if closer_is_client {
        (c.log(), s.log())
    } else {
        (s.log(), c.log())
    };
    assert_eq!(
        closer.last(),
        Some(&Ev::Message(Message::Close {
            code: sent_code,
            reason: String::new(),
            clean: true
        })),
        "closer's close event"
    );
    assert_eq!(
        other.last(),
        Some(&Ev::Message(Message::Close {
            code: sent_code,
            reason: if version.is_hixie() {
                String::new()
            } else {
                reason
            },
            clean: true
        })),
        "other side's close event"
    );
    for peer_log in [c.log(), s.log()] {
        let closes = peer_log
            .iter()
            .filter(|e| matches!(e, Ev::Message(Message::Close { .. })))
            .count();
        assert_eq!(closes, 1);
    }
    assert_eq!(c.conn.state(), State::Closed);
    assert_eq!(s.conn.state(), State::Closed);
});
