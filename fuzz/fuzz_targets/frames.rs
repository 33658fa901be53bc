//! Arbitrary bytes after a completed handshake, for each version and both roles, under small
//! limits: the decoder never panics, stays within its limits, fails only with the documented
//! errors, and whatever it answers (pongs, close frames) is valid framing, read by the
//! harness's own frame reader and by a correct peer without a violation.
//!
//! Input: one byte of options (role, version, streaming, end of stream, chunking), one byte of
//! limits, then the peer's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine::{Config, Connection, KeySource, Role, State, Version};
use wsmachine_fuzz::{chunks, limits_from, Answer, Audit, Peer, Rng, VERSIONS};

/// Feeds `input` to `peer` (in chunks if asked, the end of the stream after it if asked) and
/// returns everything it wrote.
fn run<R: KeySource>(mut peer: Peer<R>, options: u8, limits: u8, input: &[u8]) -> Vec<u8> {
    if options & 0x40 != 0 {
        let mut rng = Rng::new(u64::from(limits) << 8 | u64::from(options));
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
    peer.take_output();
    peer.sent
}

/// A correct peer of `role` reads `bytes` without a protocol violation (a limit it exceeds is
/// allowed: a pong may echo a ping larger than the frame limit).
fn mirror<R: KeySource>(conn: Connection<Vec<u8>, R>, version: Version, bytes: &[u8]) {
    let mut mirror = Peer::wrap(conn, Some(version), Answer::Accept, true);
    mirror.watch.hostile_input = false;
    mirror.feed(bytes);
}

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
    let output = match role {
        Role::Server => {
            let conn = Connection::framed_server(version, config);
            let peer = Peer::wrap(conn, Some(version), Answer::Accept, true);
            run(peer, *options, *limits, input)
        }
        Role::Client => {
            let conn = Connection::framed(role, version, config, Rng::new(7));
            let peer = Peer::wrap(conn, Some(version), Answer::Accept, true);
            run(peer, *options, *limits, input)
        }
    };

    // Whatever the peer sent, what this end answered must be valid framing.
    let mut audit = Audit::new(version, role);
    audit.feed(&output);
    audit.assert_whole();
    match role {
        Role::Server => mirror(
            Connection::framed(Role::Client, version, config, Rng::new(8)),
            version,
            &output,
        ),
        Role::Client => mirror(Connection::framed_server(version, config), version, &output),
    }
});
