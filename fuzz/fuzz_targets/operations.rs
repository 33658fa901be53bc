//! An arbitrary sequence of operations on a client and a server of one version joined by an
//! in-memory pipe: bytes delivered in chunks of any size, messages, fragments, pings, closes,
//! timeouts at arbitrary times, the end of a stream, garbage injected into a stream, and misuse
//! (sending before opening or after closing, fragments out of order, oversized control frames).
//!
//! Checked on every step, besides what [`Peer`] checks: every command succeeds or fails with
//! exactly the documented error, a failed command queues nothing, a successful one queues
//! exactly its frame, and what a side receives from a correct peer is a prefix of what that
//! peer sent.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsmachine::{drive::Message, CloseCode, Config, Error, KeySource, State, UsageError, Version};
use wsmachine_fuzz::{client, frame_len, limits_from, text_is_broken, Answer, Peer, VERSIONS};

#[derive(Arbitrary, Debug)]
struct Input {
    version: u8,
    limits: u8,
    stream_fragments: bool,
    keepalive: Option<u8>,
    close_timeout: Option<u8>,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Deliver {
        to: Side,
        max: u16,
    },
    Inject {
        to: Side,
        bytes: Vec<u8>,
    },
    Text {
        from: Side,
        text: String,
    },
    Binary {
        from: Side,
        data: Vec<u8>,
    },
    Fragment {
        from: Side,
        data: Vec<u8>,
        is_text: bool,
        is_final: bool,
    },
    Ping {
        from: Side,
        data: Vec<u8>,
    },
    Pong {
        from: Side,
        data: Vec<u8>,
    },
    Close {
        from: Side,
    },
    CloseWith {
        from: Side,
        code: u16,
        reason: String,
    },
    Timeout {
        side: Side,
        now: u64,
    },
    Eof {
        to: Side,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
    Fragment { is_text: bool, is_final: bool },
    Ping,
    Pong,
    Close,
    CloseWith(u16, usize),
}

/// One end and what the test knows of it.
struct End<R: KeySource> {
    peer: Peer<R>,
    /// Bytes taken from the other end's output, not yet given to this one.
    pipe: Vec<u8>,
    eof: bool,
    /// The fragmented message this end is sending: kind and bytes so far.
    sending: Option<(bool, Vec<u8>)>,
    /// The messages this end sent, whole, in order (`None` for text that is not UTF-8, which
    /// the peer never receives: it fails on it).
    sent: Vec<Option<Message>>,
}

impl<R: KeySource> End<R> {
    fn new(peer: Peer<R>) -> Self {
        End {
            peer,
            pipe: Vec::new(),
            eof: false,
            sending: None,
            sent: Vec::new(),
        }
    }
}

/// The error a command must fail with, or `None` if it must be queued (output permitting).
fn expected_error<R: KeySource>(end: &End<R>, kind: Kind) -> Option<UsageError> {
    let conn = &end.peer.conn;
    let version = conn.version();
    let hybi_only = !matches!(kind, Kind::Text | Kind::Close);
    let hixie = version.filter(|v| v.is_hixie());
    // The state first, then what the version can send.
    match conn.state() {
        State::Handshaking => return Some(UsageError::NotOpen),
        // A pong may follow our close (RFC 6455 §5.5.2), until the peer's close arrives.
        State::Closing if kind == Kind::Pong && hixie.is_none() => {}
        State::Closing | State::Closed => return Some(UsageError::Closed),
        State::Open => {}
    }
    if let Some(v) = hixie {
        if hybi_only {
            return Some(UsageError::Unsupported {
                what: "",
                version: v,
            });
        }
    }
    match kind {
        Kind::Text | Kind::Binary if end.sending.is_some() => Some(UsageError::FragmentOrder),
        Kind::Fragment { is_text, .. } if end.sending.as_ref().is_some_and(|s| s.0 != is_text) => {
            Some(UsageError::FragmentOrder)
        }
        Kind::Ping | Kind::Pong => None,
        Kind::CloseWith(code, _) if !CloseCode(code).is_sendable() => {
            Some(UsageError::InvalidCloseCode(code))
        }
        Kind::CloseWith(_, reason) if reason > 123 => Some(UsageError::ReasonTooLong),
        _ => None,
    }
}

fn command<R: KeySource>(
    end: &mut End<R>,
    peer_gets_invalid_text: &mut bool,
    kind: Kind,
    data: &[u8],
) {
    let before = end.peer.conn.pending_output().to_vec();
    let client = end.peer.role() == wsmachine::Role::Client;
    let version = end.peer.conn.version();
    let mut expected = expected_error(end, kind);
    if matches!(kind, Kind::Ping | Kind::Pong) && expected.is_none() && data.len() > 125 {
        expected = Some(UsageError::ControlTooLong);
    }
    let conn = &mut end.peer.conn;
    let result = match kind {
        Kind::Text => conn.send_text(std::str::from_utf8(data).expect("text ops carry text")),
        Kind::Binary => conn.send_binary(data),
        Kind::Fragment { is_text, is_final } => conn.send_fragment(data, is_text, is_final),
        Kind::Ping => conn.ping(data),
        Kind::Pong => conn.sender().pong(data),
        Kind::Close => conn.close(),
        Kind::CloseWith(code, _) => conn.close_with(
            CloseCode(code),
            std::str::from_utf8(data).expect("a reason"),
        ),
    };
    let after = end.peer.conn.pending_output();
    if let Some(expected) = expected {
        match (result, expected) {
            (
                Err(Error::Usage(UsageError::Unsupported { version: got, .. })),
                UsageError::Unsupported { version: want, .. },
            ) => {
                assert_eq!(got, want)
            }
            (Err(Error::Usage(got)), want) => assert_eq!(got, want, "{kind:?}"),
            (got, want) => panic!("{kind:?} gave {got:?}, expected {want:?}"),
        }
        assert_eq!(after, &before[..], "a failed command changed the output");
        return;
    }
    let version = version.expect("open connections know their version");
    let required = match kind {
        Kind::Close if version == Version::Hixie75 => 0,
        Kind::Close if version == Version::Hixie76 => 2,
        Kind::Close => frame_len(version, client, 2),
        Kind::CloseWith(_, reason) => frame_len(version, client, 2 + reason),
        _ => frame_len(version, client, data.len()),
    };
    let max = end.peer.watch.limits.max_queued_output;
    if before.len() + required > max {
        match result {
            Err(Error::Usage(UsageError::OutputFull {
                required: r,
                available,
            })) => {
                assert_eq!(r, required, "{kind:?}");
                assert_eq!(available, max - before.len());
            }
            other => panic!("{kind:?} of {required} bytes over the limit gave {other:?}"),
        }
        assert_eq!(after, &before[..], "a failed command changed the output");
        return;
    }
    assert!(result.is_ok(), "{kind:?} gave {result:?}");
    assert_eq!(
        after.len(),
        before.len() + required,
        "{kind:?} queued a wrong length"
    );
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "{kind:?} changed queued output"
    );
    match kind {
        Kind::Text => end.sent.push(Some(Message::Text(
            String::from_utf8(data.to_vec()).unwrap(),
        ))),
        Kind::Binary => end.sent.push(Some(Message::Binary(data.to_vec()))),
        Kind::Fragment { is_text, is_final } => {
            let (_, buf) = end.sending.get_or_insert_with(|| (is_text, Vec::new()));
            buf.extend_from_slice(data);
            if is_text && text_is_broken(buf, is_final) {
                *peer_gets_invalid_text = true;
            }
            if is_final {
                let (text, buf) = end.sending.take().unwrap();
                end.sent.push(match (text, String::from_utf8(buf.clone())) {
                    (true, Ok(s)) => Some(Message::Text(s)),
                    // Never received: the peer fails on it.
                    (true, Err(_)) => None,
                    (false, _) => Some(Message::Binary(buf)),
                });
            }
        }
        _ => {}
    }
}

/// Moves the output of `from` into the pipe of `to`, then gives `to` up to `max` bytes.
fn deliver<A: KeySource, B: KeySource>(from: &mut End<A>, to: &mut End<B>, max: usize) {
    let out = from.peer.take_output();
    if to.eof {
        return;
    }
    to.pipe.extend_from_slice(&out);
    let n = max.min(to.pipe.len());
    let chunk: Vec<u8> = to.pipe.drain(..n).collect();
    let mut rest = &chunk[..];
    while !rest.is_empty() {
        let taken = to.peer.conn.receive(rest);
        to.peer.check_memory();
        rest = &rest[taken..];
        let events = to.peer.drain();
        if taken == 0 && events == 0 {
            assert!(
                to.peer.conn.request().is_some(),
                "input refused, nothing to report"
            );
            break;
        }
    }
    // What was not taken stays in the pipe, in order.
    let mut back = rest.to_vec();
    back.extend_from_slice(&to.pipe);
    to.pipe = back;
    to.peer.drain();
}

/// What `receiver` got from a correct `sender` is a prefix of what it sent.
fn check_prefix<A: KeySource, B: KeySource>(sender: &End<A>, receiver: &End<B>) {
    if receiver.peer.watch.hostile_input {
        return;
    }
    let got: Vec<Option<Message>> = receiver
        .peer
        .messages()
        .into_iter()
        .filter(|m| !matches!(m, Message::Ping(_)))
        .map(Some)
        .collect();
    assert!(
        got.len() <= sender.sent.len(),
        "received more messages than were sent"
    );
    assert_eq!(
        got[..],
        sender.sent[..got.len()],
        "messages changed in transit"
    );
}

fuzz_target!(|input: Input| {
    let version = VERSIONS[usize::from(input.version) % VERSIONS.len()];
    let mut config = Config::default();
    config.limits = limits_from(input.limits);
    config.stream_fragments = input.stream_fragments;
    config.keepalive_interval = input.keepalive.map(u64::from);
    config.close_timeout = input.close_timeout.map(u64::from);
    let Ok(conn) = client(version, &["chat"], config) else {
        return;
    };
    let mut c = End::new(Peer::wrap(conn, Some(version), Answer::Accept, false));
    let mut s = End::new(Peer::server(config, Answer::Accept));
    c.peer.watch.hostile_input = false;
    s.peer.watch.hostile_input = false;
    c.peer.keep_output = false;
    s.peer.keep_output = false;

    for op in input.ops.iter().take(200) {
        match op {
            Op::Deliver {
                to: Side::Server,
                max,
            } => deliver(&mut c, &mut s, usize::from(*max)),
            Op::Deliver {
                to: Side::Client,
                max,
            } => deliver(&mut s, &mut c, usize::from(*max)),
            // Garbage in a stream. During the handshake it may make that side answer anything
            // (a refusal, another version's answer), so the other side loses its guarantees too.
            Op::Inject {
                to: Side::Client,
                bytes,
            } => {
                c.peer.watch.hostile_input = true;
                if c.peer.conn.state() == State::Handshaking {
                    s.peer.watch.hostile_input = true;
                }
                c.pipe.extend_from_slice(bytes);
            }
            Op::Inject {
                to: Side::Server,
                bytes,
            } => {
                s.peer.watch.hostile_input = true;
                if s.peer.conn.state() == State::Handshaking {
                    c.peer.watch.hostile_input = true;
                }
                s.pipe.extend_from_slice(bytes);
            }
            Op::Eof { to: Side::Client } => {
                c.eof = true;
                c.peer.eof();
            }
            Op::Eof { to: Side::Server } => {
                s.eof = true;
                s.peer.eof();
            }
            Op::Timeout { side, now } => {
                match side {
                    Side::Client => c.peer.timeout(*now),
                    Side::Server => s.peer.timeout(*now),
                };
            }
            Op::Text { from, text } => run(&mut c, &mut s, *from, Kind::Text, text.as_bytes()),
            Op::Binary { from, data } => run(&mut c, &mut s, *from, Kind::Binary, data),
            Op::Fragment {
                from,
                data,
                is_text,
                is_final,
            } => run(
                &mut c,
                &mut s,
                *from,
                Kind::Fragment {
                    is_text: *is_text,
                    is_final: *is_final,
                },
                data,
            ),
            Op::Ping { from, data } => run(&mut c, &mut s, *from, Kind::Ping, data),
            Op::Pong { from, data } => run(&mut c, &mut s, *from, Kind::Pong, data),
            Op::Close { from } => run(&mut c, &mut s, *from, Kind::Close, b""),
            Op::CloseWith { from, code, reason } => run(
                &mut c,
                &mut s,
                *from,
                Kind::CloseWith(*code, reason.len()),
                reason.as_bytes(),
            ),
        }
        check_prefix(&c, &s);
        check_prefix(&s, &c);
    }

    // Let everything in flight arrive, then end both streams: every side is closed (unless a
    // request still waits for an answer that did not fit).
    for _ in 0..8 {
        deliver(&mut c, &mut s, usize::MAX);
        deliver(&mut s, &mut c, usize::MAX);
    }
    check_prefix(&c, &s);
    check_prefix(&s, &c);
    c.peer.eof();
    s.peer.eof();
    assert_eq!(c.peer.conn.state(), State::Closed);
    if s.peer.conn.request().is_none() {
        assert_eq!(s.peer.conn.state(), State::Closed);
    }
});

fn run<A: KeySource, B: KeySource>(
    c: &mut End<A>,
    s: &mut End<B>,
    from: Side,
    kind: Kind,
    data: &[u8],
) {
    match from {
        Side::Client => {
            command(c, &mut s.peer.watch.peer_sent_invalid_text, kind, data);
            c.peer.drain();
        }
        Side::Server => {
            command(s, &mut c.peer.watch.peer_sent_invalid_text, kind, data);
            s.peer.drain();
        }
    }
}
