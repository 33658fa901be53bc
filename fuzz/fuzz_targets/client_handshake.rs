//! Arbitrary bytes as the server's answer to a client's request of each version: the client
//! opens only on a valid answer, fails with a handshake error otherwise, and frames whatever
//! follows the answer.
//!
//! Input: one byte of options (version, offered subprotocols, limits, chunking), one byte of
//! limits, then the answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine::{Config, Error, State, UsageError};
use wsmachine_fuzz::{chunks, client, limits_from, small_limits, Answer, Peer, Rng, VERSIONS};

fuzz_target!(|data: &[u8]| {
    let [options, limits, answer @ ..] = data else {
        return;
    };
    let version = VERSIONS[usize::from(options & 7) % VERSIONS.len()];
    let protocols: &[&str] = if options & 8 != 0 {
        &["chat", "superchat"]
    } else {
        &[]
    };
    let mut config = Config::default();
    config.limits = if options & 0x10 != 0 {
        limits_from(*limits)
    } else {
        small_limits()
    };
    let conn = match client(version, protocols, config) {
        Ok(conn) => conn,
        Err(Error::Usage(UsageError::OutputFull {
            required,
            available,
        })) => {
            assert!(required > available && available <= config.limits.max_queued_output);
            return;
        }
        Err(e) => panic!("a valid request failed with {e:?}"),
    };
    let mut peer = Peer::wrap(conn, Some(version), Answer::Accept, false);
    let request_bytes = peer.take_output();
    assert!(request_bytes.starts_with(b"GET /chat HTTP/1.1\r\n"));
    assert_eq!(peer.conn.state(), State::Handshaking);
    if options & 0x20 != 0 {
        let mut rng = Rng::new(u64::from(*limits));
        for chunk in chunks(answer, &mut rng, 64) {
            peer.feed(chunk);
        }
    } else {
        peer.feed(answer);
    }
    if peer.conn.state() == State::Open {
        let sent = peer.conn.send_text("hello");
        assert!(matches!(
            sent,
            Ok(()) | Err(Error::Usage(UsageError::OutputFull { .. }))
        ));
        peer.take_output();
    }
    if options & 0x40 != 0 {
        peer.eof();
        assert_eq!(
            peer.conn.state(),
            State::Closed,
            "end of stream left it open"
        );
    }
});
