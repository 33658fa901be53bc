//! Arbitrary bytes after a completed handshake, for each version and both roles, under small
//! limits: the decoder never panics, stays within its limits, fails only with the documented
//! errors, and whatever it answers (pongs, close frames) is valid for a correct peer.
//!
//! Input: one byte of options (role, version, streaming, end of stream, chunking), one byte of
//! limits, then the peer's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine::{Config, Connection, Role, State};
use wsmachine_fuzz::{chunks, limits_from, Answer, Peer, Rng, VERSIONS};

fuzz_target!(|data: &[u8]| {
    let [options, limits, input @ ..] = data else {
        return;
    };
    let role = if options & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let version = VERSIONS[usize::from((options >> 1) & 7) % VERSIONS.len()];
    let mut config = Config::default();
    config.limits = limits_from(*limits);
    config.stream_fragments = options & 0x10 != 0;
    let conn = Connection::framed(role, version, config, Rng::new(7));
    let mut peer = Peer::wrap(conn, Some(version), Answer::Accept, true);
    if options & 0x40 != 0 {
        let mut rng = Rng::new(u64::from(*limits) << 8 | u64::from(*options));
        for chunk in chunks(input, &mut rng, 32) {
            peer.feed(chunk);
            peer.take_output();
        }
    } else {
        peer.feed(input);
    }
    if options & 0x20 != 0 {
        peer.eof();
        assert_eq!(
            peer.conn.state(),
            State::Closed,
            "end of stream left it open"
        );
    }
    let output = peer.take_output();

    // Whatever the peer sent, what this end answered must be valid framing: a correct peer of
    // the other role, with the same limits, reads it without a protocol violation (a limit
    // it exceeds is allowed: a pong may echo a ping larger than the frame limit).
    let other = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mirror = Connection::framed(other, version, config, Rng::new(8));
    let mut mirror = Peer::wrap(mirror, Some(version), Answer::Accept, true);
    mirror.hostile_input = false;
    mirror.feed(&output);
});
