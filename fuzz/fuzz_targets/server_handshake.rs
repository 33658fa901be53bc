//! Arbitrary bytes as a request to a server: it parses them or rejects them with a status,
//! never reads past its limits, and what follows an accepted handshake is framed as the
//! detected version (hixie-76's 8 key bytes included).
//!
//! With the handshake timeout on (an option bit), a server still waiting when it passes
//! answers `408` and reports `HandshakeError::TimedOut`; one that opened in time stays open.
//!
//! Input: one byte of options, one byte of limits, then the request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsmachine::{Config, Error, HandshakeError, State};
use wsmachine_fuzz::{chunks, limits_from, small_limits, Answer, Ev, Peer, Rng};

fuzz_target!(|data: &[u8]| {
    let [options, limits, request @ ..] = data else {
        return;
    };
    let mut config = Config::default();
    config.limits = if options & 0x10 != 0 {
        limits_from(*limits)
    } else {
        small_limits()
    };
    let answer = match options & 3 {
        1 => Answer::Refuse,
        2 => Answer::Ignore,
        _ => Answer::Accept,
    };
    let timed = options & 0x80 != 0;
    if timed {
        config.handshake_timeout = Some(1_000);
    }
    let mut server = Peer::server(config, answer);
    if timed {
        // The clock starts: the handshake must be over by 1,000.
        server.timeout(0);
    }
    if options & 0x20 != 0 {
        let mut rng = Rng::new(u64::from(*limits));
        for chunk in chunks(request, &mut rng, 64) {
            server.feed(chunk);
        }
    } else {
        server.feed(request);
    }

    // Still waiting for the request: it has not read past its handshake limit (the head, then
    // hixie-76's 8 key bytes).
    if server.conn.state() == State::Handshaking && server.conn.request().is_none() {
        let held = server.conn.buffered_input().len();
        assert!(
            held <= config.limits.max_handshake_bytes + 8,
            "waiting for a request with {held} bytes held"
        );
    }
    // A refused handshake is answered with its status, unless the answer did not fit.
    let failure = server.log().iter().find_map(|ev| match ev {
        Ev::Error(Error::Handshake(e)) => e.status(),
        _ => None,
    });
    let out = server.take_output();
    if let Some(status) = failure {
        if !out.is_empty() {
            let line = format!("HTTP/1.1 {status} ");
            assert!(
                out.starts_with(line.as_bytes()),
                "failure {status} answered {out:?}"
            );
        }
    }
    if server.conn.state() == State::Open {
        let text = server.conn.send_text("hello");
        assert!(matches!(
            text,
            Ok(()) | Err(Error::Usage(wsmachine::UsageError::OutputFull { .. }))
        ));
        server.take_output();
    }
    if timed {
        let before = server.conn.state();
        server.timeout(1_000);
        if before == State::Handshaking {
            assert_eq!(
                server.conn.state(),
                State::Closed,
                "the handshake outlived its timeout"
            );
            // Still reading or still deciding: reported, and answered 408 if it fits.
            let timed_out = server
                .log()
                .iter()
                .any(|ev| matches!(ev, Ev::Error(Error::Handshake(HandshakeError::TimedOut))));
            assert!(timed_out, "no TimedOut after the handshake timeout");
            let out = server.take_output();
            assert!(
                out.is_empty() || out.starts_with(b"HTTP/1.1 408 "),
                "a timed-out handshake answered {out:?}"
            );
        } else if before == State::Open {
            assert_eq!(
                server.conn.state(),
                State::Open,
                "an open connection timed out"
            );
        }
    }
    if options & 0x40 != 0 {
        server.eof();
        if server.conn.request().is_none() {
            assert_eq!(
                server.conn.state(),
                State::Closed,
                "end of stream left it open"
            );
        }
    }
});
