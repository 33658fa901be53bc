//! One behaviour suite that every version passes, in both roles: each test runs a client and a
//! server of the same version against each other in memory.

mod common;

use common::*;
use wsmachine::{CloseCode, Config, Error, State, UsageError, Version};

fn open_pair(version: Version) -> Pair {
    let mut pair = Pair::new(version);
    pair.take_client_seen();
    pair.take_server_seen();
    pair
}

#[test]
fn handshake_reports_version_path_and_subprotocol() {
    for version in Version::ALL {
        let mut pair = Pair::with(version, Config::default(), &["chat", "superchat"]);
        let offered: Vec<String> = if version.is_hixie() {
            vec!["chat".into()]
        } else {
            vec!["chat".into(), "superchat".into()]
        };
        assert_eq!(
            pair.take_server_seen(),
            [Seen::Request {
                version: Some(version),
                target: "/chat?x=1".into(),
                protocols: offered
            }],
            "{version}"
        );
        assert_eq!(
            pair.take_client_seen(),
            [Seen::Accepted {
                protocol: Some("chat".into())
            }],
            "{version}"
        );
        for (state, v) in [
            (pair.client.state(), pair.client.version()),
            (pair.server.state(), pair.server.version()),
        ] {
            assert_eq!((state, v), (State::Open, Some(version)));
        }
    }
}

#[test]
fn text_messages_round_trip_both_ways() {
    for version in Version::ALL {
        let mut pair = open_pair(version);
        for len in [0, 1, 2, 125, 126, 127, 65_535, 65_536, 1 << 20] {
            let text = text_of(len);
            pair.client.send_text(&text).unwrap();
            pair.server.send_text(&text).unwrap();
            pair.pump();
            assert_eq!(
                pair.take_server_seen(),
                [Seen::Message(Message::Text(text.clone()))],
                "{version} {len}"
            );
            assert_eq!(
                pair.take_client_seen(),
                [Seen::Message(Message::Text(text))],
                "{version} {len}"
            );
        }
    }
}

#[test]
fn binary_fragments_and_pings_where_the_version_has_them() {
    for version in Version::ALL {
        let mut pair = open_pair(version);
        if version.is_hixie() {
            for result in [
                pair.client.send_binary(b"x"),
                pair.server.send_fragment(b"x", true, false),
                pair.client.ping(b""),
                pair.server.sender().pong(b""),
                pair.client.close_with(CloseCode::NORMAL, ""),
            ] {
                assert!(
                    matches!(result, Err(Error::Usage(UsageError::Unsupported { version: v, .. })) if v == version),
                    "{version}: {result:?}"
                );
            }
            assert!(pair.client.pending_output().is_empty());
            continue;
        }
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        pair.client.send_binary(&data).unwrap();
        pair.server.send_binary(&data[..3]).unwrap();
        pair.pump();
        assert_eq!(
            pair.take_server_seen(),
            [Seen::Message(Message::Binary(data.clone()))]
        );
        assert_eq!(
            pair.take_client_seen(),
            [Seen::Message(Message::Binary(data[..3].to_vec()))]
        );

        // Fragments split inside a character, with a ping between them, reassemble.
        let text = "héllo ☃ wörld".as_bytes();
        pair.client.send_fragment(&text[..2], true, false).unwrap();
        pair.client.ping(b"between").unwrap();
        pair.client.send_fragment(&text[2..9], true, false).unwrap();
        pair.client.send_fragment(&text[9..], true, true).unwrap();
        pair.pump();
        assert_eq!(
            pair.take_server_seen(),
            [
                Seen::Message(Message::Ping(b"between".to_vec())),
                Seen::Message(Message::Text("héllo ☃ wörld".into()))
            ]
        );
        assert_eq!(
            pair.take_client_seen(),
            // A ping with the application's own payload carries no send time.
            [Seen::Message(Message::Pong {
                payload: b"between".to_vec(),
                round_trip: None
            })]
        );

        // The round-trip time is measured with the caller's clock: the ping carries the
        // `now` it was sent at, and the pong is read at `NOW`.
        pair.client.ping_at(NOW - 42).unwrap();
        pair.pump();
        let seen = pair.take_server_seen();
        let [Seen::Message(Message::Ping(stamp))] = seen.as_slice() else {
            panic!("{version}: {seen:?}");
        };
        assert_eq!(stamp[..8], (NOW - 42).to_be_bytes());
        assert_eq!(
            pair.take_client_seen(),
            [Seen::Message(Message::Pong {
                payload: stamp.clone(),
                round_trip: Some(42)
            })]
        );
        // A pong shaped like a stamp whose check does not hold reports no time.
        let mut forged = stamp.clone();
        forged[11] ^= 1;
        pair.server.sender().pong(&forged).unwrap();
        pair.pump();
        assert_eq!(
            pair.take_client_seen(),
            [Seen::Message(Message::Pong {
                payload: forged,
                round_trip: None
            })]
        );
    }
}

#[test]
fn close_from_either_side_is_reported_exactly_once_and_nothing_after() {
    for version in Version::ALL {
        for client_closes in [true, false] {
            let mut pair = open_pair(version);
            let (first, second) = if client_closes {
                ("client", "server")
            } else {
                ("server", "client")
            };
            if client_closes {
                pair.client.close().unwrap()
            } else {
                pair.server.close().unwrap()
            }
            assert_eq!(
                if client_closes {
                    pair.client.state()
                } else {
                    pair.server.state()
                },
                State::Closing
            );
            pair.pump();
            if version == Version::Hixie75 {
                // The only close is the transport's: each side sees the other's end of stream.
                if client_closes {
                    pair.server.handle_eof()
                } else {
                    pair.client.handle_eof()
                }
                pair.pump();
                if client_closes {
                    pair.client.handle_eof()
                } else {
                    pair.server.handle_eof()
                }
                pair.pump();
            }
            let expected = match version {
                v if v.is_hixie() => Seen::Message(Message::Close {
                    code: None,
                    reason: String::new(),
                    clean: true,
                }),
                _ => Seen::Message(Message::Close {
                    code: Some(CloseCode(1000)),
                    reason: String::new(),
                    clean: true,
                }),
            };
            assert_eq!(
                pair.take_client_seen(),
                std::slice::from_ref(&expected),
                "{version}, {first} closed first, client view"
            );
            assert_eq!(
                pair.take_server_seen(),
                [expected],
                "{version}, {first} closed first, {second} view"
            );
            assert_eq!(
                (pair.client.state(), pair.server.state()),
                (State::Closed, State::Closed)
            );
            // Nothing after the close event, and sending is an error.
            assert_eq!(
                pair.client.send_text("late"),
                Err(Error::Usage(UsageError::Closed))
            );
            assert_eq!(pair.server.close(), Err(Error::Usage(UsageError::Closed)));
            assert_eq!(pair.server.receive(b"\x00late\xff\x81\x80abcd"), 12);
            pair.client.handle_eof();
            pair.server.handle_eof();
            pair.pump();
            assert!(
                pair.client_seen.is_empty() && pair.server_seen.is_empty(),
                "{version}: events after close"
            );
        }
    }
}

#[test]
fn close_code_and_reason_reach_the_peer() {
    for version in [Version::Hybi07, Version::Hybi08, Version::Hybi13] {
        let mut pair = open_pair(version);
        pair.client.close_with(CloseCode(4000), "bye now").unwrap();
        pair.pump();
        assert_eq!(
            pair.take_server_seen(),
            [Seen::Message(Message::Close {
                code: Some(CloseCode(4000)),
                reason: "bye now".into(),
                clean: true
            })]
        );
        // The reply echoes the code (RFC 6455 §5.5.1).
        assert_eq!(
            pair.take_client_seen(),
            [Seen::Message(Message::Close {
                code: Some(CloseCode(4000)),
                reason: String::new(),
                clean: true
            })]
        );
    }
}

#[test]
fn the_end_of_the_transport_closes_as_each_version_defines() {
    for version in Version::ALL {
        let mut pair = open_pair(version);
        pair.server.handle_eof();
        pair.pump();
        let expected = match version {
            Version::Hixie75 => Seen::Message(Message::Close {
                code: None,
                reason: String::new(),
                clean: true,
            }),
            Version::Hixie76 => Seen::Message(Message::Close {
                code: None,
                reason: String::new(),
                clean: false,
            }),
            _ => Seen::Message(Message::Close {
                code: Some(CloseCode(1006)),
                reason: String::new(),
                clean: false,
            }),
        };
        assert_eq!(pair.take_server_seen(), [expected], "{version}");
        assert_eq!(pair.server.state(), State::Closed);
    }
}

#[test]
fn streamed_fragments_arrive_frame_by_frame() {
    for version in [Version::Hybi07, Version::Hybi08, Version::Hybi13] {
        let mut config = Config::default();
        config.stream_fragments = true;
        let mut pair = Pair::with(version, config, &[]);
        pair.take_server_seen();
        pair.take_client_seen();
        pair.client.send_fragment(b"ab", false, false).unwrap();
        pair.client.send_fragment(b"cd", false, true).unwrap();
        pair.client.send_text("whole").unwrap();
        pair.pump();
        assert_eq!(
            pair.take_server_seen(),
            [
                Seen::Message(Message::Fragment {
                    data: b"ab".to_vec(),
                    is_text: false,
                    is_final: false
                }),
                Seen::Message(Message::Fragment {
                    data: b"cd".to_vec(),
                    is_text: false,
                    is_final: true
                }),
                Seen::Message(Message::Text("whole".into())),
            ]
        );
    }
}

#[test]
fn keepalive_pings_and_close_timeout_run_on_the_callers_clock() {
    for version in Version::ALL {
        let mut config = Config::default();
        config.keepalive_interval = Some(500);
        config.close_timeout = Some(1000);
        let mut pair = Pair::with(version, config, &[]);
        pair.take_server_seen();
        pair.take_client_seen();
        if version.is_hixie() {
            assert_eq!(
                pair.client.poll_timeout(),
                None,
                "{version}: no keepalive without pings"
            );
        } else {
            assert_eq!(pair.client.poll_timeout(), Some(500));
            pair.client.handle_timeout(499);
            assert!(pair.client.pending_output().is_empty());
            pair.client.handle_timeout(500);
            assert!(
                !pair.client.pending_output().is_empty(),
                "keepalive ping queued"
            );
            assert_eq!(pair.client.poll_timeout(), Some(1000));
            pair.pump();
            assert!(matches!(
                pair.take_server_seen().as_slice(),
                [Seen::Message(Message::Ping(_))]
            ));
            assert!(matches!(
                pair.take_client_seen().as_slice(),
                // The keepalive ping is stamped with the `now` it was sent at.
                [Seen::Message(Message::Pong {
                    round_trip: Some(500),
                    ..
                })]
            ));
        }
        // The peer never answers the close: after the timeout the connection reports itself
        // closed, uncleanly.
        pair.client.handle_timeout(2000);
        pair.client.close().unwrap();
        // The next keepalive beat (hybi) comes before the close deadline.
        assert_eq!(
            pair.client.poll_timeout(),
            Some(if version.is_hixie() { 3000 } else { 2500 })
        );
        pair.client.handle_timeout(2999);
        assert_eq!(pair.client.state(), State::Closing);
        pair.client.handle_timeout(3000);
        assert_eq!(pair.client.state(), State::Closed);
        drain(&mut pair.client, &mut pair.client_seen);
        let code = if version.is_hixie() {
            None
        } else {
            Some(CloseCode(1006))
        };
        assert_eq!(
            pair.take_client_seen(),
            [Seen::Message(Message::Close {
                code,
                reason: String::new(),
                clean: false
            })],
            "{version}"
        );
    }
}

/// RFC 6455 §7.1.5: a close frame without a status code is reported as 1005, and answered with
/// a close frame of its own, also without a code.
#[test]
fn a_close_frame_without_a_code_is_reported_as_1005_and_answered() {
    for version in [Version::Hybi07, Version::Hybi08, Version::Hybi13] {
        let server = open_server(&request_for(version), Config::default());
        let close = client_frame(0x88, b"", [9, 8, 7, 6]);
        let (events, output) = run_in_chunks(server, &close, &[usize::MAX], false);
        assert_eq!(
            events,
            [Seen::Message(Message::Close {
                code: Some(CloseCode(1005)),
                reason: String::new(),
                clean: true
            })],
            "{version}"
        );
        assert_eq!(output, [0x88, 0x00], "{version}");
    }
}
