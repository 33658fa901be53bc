//! Chunking invariance: the same input fed whole, one byte at a time, in random chunks, and
//! through `read_buffer`/`commit_read` gives the same events, errors, output bytes and state.
//!
//! Input: one byte choosing the connection (a server from its request, a client of a version
//! from its answer, or a framed connection of a role and version), one byte of limits, one
//! byte seeding the chunk sizes, then the peer's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine::{Config, Connection, KeySource, Role, State};
use wsmachine_fuzz::{chunks, client, limits_from, small_limits, Answer, Ev, Peer, Rng, VERSIONS};

#[derive(Clone, Copy)]
enum Feeding {
    Whole,
    Bytes,
    Random(u8),
    ReadBuffer,
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    log: Vec<Ev>,
    sent: Vec<u8>,
    state: State,
}

fn run<R: KeySource>(mut peer: Peer<R>, input: &[u8], feeding: Feeding) -> Outcome {
    // The request (client) or nothing (server, framed) was queued before any input.
    peer.take_output();
    peer.sent.clear();
    match feeding {
        Feeding::Whole => {
            peer.feed(input);
        }
        Feeding::Bytes => {
            for byte in input.chunks(1) {
                peer.feed(byte);
            }
        }
        Feeding::Random(seed) => {
            let mut rng = Rng::new(u64::from(seed));
            for chunk in chunks(input, &mut rng, 40) {
                peer.feed(chunk);
            }
        }
        Feeding::ReadBuffer => {
            let mut rest = input;
            while !rest.is_empty() && peer.conn.state() != State::Closed && !peer.stalled {
                let buf = peer.conn.read_buffer();
                let n = buf.len().min(rest.len());
                buf[..n].copy_from_slice(&rest[..n]);
                peer.conn.commit_read(n);
                rest = &rest[n..];
                peer.check_memory();
                let events = peer.drain();
                if n == 0 && events == 0 {
                    assert!(
                        peer.conn.request().is_some(),
                        "read buffer full, nothing to report"
                    );
                    break;
                }
            }
        }
    }
    peer.take_output();
    peer.eof();
    peer.take_output();
    Outcome {
        log: peer.watch.log,
        sent: peer.sent,
        state: peer.conn.state(),
    }
}

fn outcome(kind: u8, config: Config, input: &[u8], feeding: Feeding) -> Option<Outcome> {
    let version = VERSIONS[usize::from(kind >> 2) % VERSIONS.len()];
    Some(match kind & 3 {
        0 => run(Peer::server(config, Answer::Accept), input, feeding),
        1 => {
            let conn = client(version, &["chat"], config).ok()?;
            run(
                Peer::wrap(conn, Some(version), Answer::Accept, false),
                input,
                feeding,
            )
        }
        2 => {
            let conn = Connection::framed_server(version, config);
            run(
                Peer::wrap(conn, Some(version), Answer::Accept, true),
                input,
                feeding,
            )
        }
        _ => {
            let conn = Connection::framed(Role::Client, version, config, Rng::new(3));
            run(
                Peer::wrap(conn, Some(version), Answer::Accept, true),
                input,
                feeding,
            )
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [kind, limits, seed, input @ ..] = data else {
        return;
    };
    let mut config = Config::default();
    config.limits = if kind & 0x80 != 0 {
        limits_from(*limits)
    } else {
        small_limits()
    };
    config.stream_fragments = kind & 0x40 != 0;
    let kind = kind & 0x3F;
    let Some(whole) = outcome(kind, config, input, Feeding::Whole) else {
        return;
    };
    for feeding in [Feeding::Bytes, Feeding::Random(*seed), Feeding::ReadBuffer] {
        let other = outcome(kind, config, input, feeding).expect("the same client");
        assert_eq!(whole.log, other.log, "events differ");
        assert_eq!(whole.sent, other.sent, "output differs");
        assert_eq!(whole.state, other.state, "state differs");
    }
});
