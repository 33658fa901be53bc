//! Every error path and every limit: the error returned, and what was put on the wire.

mod common;

use common::*;
use wsmachine::{
    Buffers, ClientRequest, CloseCode, Config, Connection, Error, HandshakeError, Limits,
    ProtocolError, Role, State, UsageError, Version,
};

fn config_with(limits: impl Fn(&mut Limits)) -> Config {
    let mut config = Config::default();
    limits(&mut config.limits);
    config
}

/// The close code a peer of the other role reads from `output`.
fn close_code_on_wire(output: &[u8], role: Role) -> Option<u16> {
    let peer_role = if role == Role::Server {
        Role::Client
    } else {
        Role::Server
    };
    let peer = Connection::framed(peer_role, Version::Hybi13, Config::default(), Seeded(3));
    let (events, _) = run_in_chunks(peer, output, &[usize::MAX], false);
    events.iter().find_map(|e| match e {
        Seen::Message(Message::Close { code, .. }) => code.map(|c| c.0),
        _ => None,
    })
}

fn errors_in(events: &[Seen]) -> Vec<Error> {
    events
        .iter()
        .filter_map(|e| {
            if let Seen::Error(e) = e {
                Some(*e)
            } else {
                None
            }
        })
        .collect()
}

struct Violation {
    name: &'static str,
    role: Role,
    config: Config,
    input: Vec<u8>,
    error: ProtocolError,
    code: u16,
}

fn violations() -> Vec<Violation> {
    let m = [0x11, 0x22, 0x33, 0x44];
    let c = |b0: u8, payload: &[u8]| client_frame(b0, payload, m);
    let server = |name, input, error, code| Violation {
        name,
        role: Role::Server,
        config: Config::default(),
        input,
        error,
        code,
    };
    let mut v = vec![
        server(
            "reserved bits",
            c(0xC1, b"x"),
            ProtocolError::ReservedBits,
            1002,
        ),
        server(
            "reserved data opcode",
            c(0x83, b""),
            ProtocolError::ReservedOpcode(3),
            1002,
        ),
        server(
            "reserved control opcode",
            c(0x8B, b""),
            ProtocolError::ReservedOpcode(0xB),
            1002,
        ),
        server(
            "unmasked frame from a client",
            server_frame(0x81, b"hi"),
            ProtocolError::UnmaskedFrame,
            1002,
        ),
        server(
            "fragmented ping",
            c(0x09, b""),
            ProtocolError::FragmentedControl,
            1002,
        ),
        server(
            "ping of 126 bytes",
            c(0x89, &[0; 126]),
            ProtocolError::ControlTooLong,
            1002,
        ),
        server(
            "continuation first",
            c(0x80, b"x"),
            ProtocolError::UnexpectedContinuation,
            1002,
        ),
        server(
            "new message inside a fragmented one",
            [c(0x01, b"a"), c(0x81, b"b")].concat(),
            ProtocolError::ExpectedContinuation,
            1002,
        ),
        server(
            "64-bit length with the top bit set",
            vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4],
            ProtocolError::InvalidLength,
            1002,
        ),
        server(
            "close of one byte",
            c(0x88, &[3]),
            ProtocolError::CloseTooShort,
            1002,
        ),
        server(
            "invalid utf-8 text",
            c(0x81, b"\xff"),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        server(
            "truncated utf-8 at the end of a message",
            c(0x81, b"a\xe2\x82"),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        server(
            "invalid utf-8 in a later fragment",
            [c(0x01, b"ok"), c(0x80, b"\xc0\xaf")].concat(),
            ProtocolError::InvalidUtf8,
            1007,
        ),
        server(
            "invalid utf-8 in a close reason",
            c(0x88, b"\x03\xe8\xff"),
            ProtocolError::InvalidUtf8,
            1007,
        ),
    ];
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        v.push(server(
            "close code that may not be sent",
            c(0x88, &code.to_be_bytes()),
            ProtocolError::InvalidCloseCode(code),
            1002,
        ));
    }
    v.push(Violation {
        name: "frame over max_frame_payload",
        role: Role::Server,
        config: config_with(|l| l.max_frame_payload = 100),
        input: c(0x82, &[0; 101]),
        error: ProtocolError::FrameTooLarge { limit: 100 },
        code: 1009,
    });
    v.push(Violation {
        name: "fragments over max_message_size",
        role: Role::Server,
        config: config_with(|l| l.max_message_size = 100),
        input: [c(0x02, &[0; 60]), c(0x80, &[0; 60])].concat(),
        error: ProtocolError::MessageTooLarge { limit: 100 },
        code: 1009,
    });
    v.push(Violation {
        name: "single frame over max_message_size",
        role: Role::Server,
        config: config_with(|l| l.max_message_size = 10),
        input: c(0x81, &[b'a'; 11]),
        error: ProtocolError::MessageTooLarge { limit: 10 },
        code: 1009,
    });
    v.push(Violation {
        name: "masked frame from a server",
        role: Role::Client,
        config: Config::default(),
        input: c(0x81, b"hi"),
        error: ProtocolError::MaskedFrame,
        code: 1002,
    });
    v
}

#[test]
fn peer_violations_fail_with_their_error_and_close_code() {
    for version in [Version::Hybi07, Version::Hybi08, Version::Hybi13] {
        for case in violations() {
            let (events, output) = match case.role {
                Role::Server => {
                    let server = open_server(&request_for(version), case.config);
                    run_in_chunks(server, &case.input, &[usize::MAX], false)
                }
                Role::Client => {
                    let client = Connection::framed(Role::Client, version, case.config, Seeded(5));
                    run_in_chunks(client, &case.input, &[usize::MAX], false)
                }
            };
            let expected = Error::Protocol(case.error);
            assert_eq!(
                errors_in(&events),
                [expected],
                "{version} {}: {events:?}",
                case.name
            );
            assert_eq!(
                expected.close_code(),
                Some(CloseCode(case.code)),
                "{}",
                case.name
            );
            assert_eq!(
                close_code_on_wire(&output, case.role),
                Some(case.code),
                "{version} {}",
                case.name
            );
            // The close event follows the error, exactly once, and nothing after it.
            assert_eq!(
                events.last(),
                Some(&Seen::Message(Message::Close {
                    code: Some(CloseCode(1006)),
                    reason: String::new(),
                    clean: false
                })),
                "{}",
                case.name
            );
            assert!(!format!("{expected}").is_empty());
        }
    }
}

#[test]
fn hixie_violations_and_limits() {
    let limits = config_with(|l| l.max_hixie_frame = 10);
    let cases: [(&str, &[u8], ProtocolError); 5] = [
        (
            "invalid utf-8",
            b"\x00\xc0\xaf\xff",
            ProtocolError::InvalidUtf8,
        ),
        (
            "unterminated text frame over the limit",
            b"\x00abcdefghijk",
            ProtocolError::HixieFrameTooLarge { limit: 10 },
        ),
        (
            "length-prefixed frame over the limit",
            b"\x80\x0B",
            ProtocolError::HixieFrameTooLarge { limit: 10 },
        ),
        (
            "length whose first group is over the limit, more groups following",
            b"\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            ProtocolError::HixieFrameTooLarge { limit: 10 },
        ),
        (
            "length prefix of eleven bytes",
            b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00",
            ProtocolError::HixieLengthTooLong,
        ),
    ];
    for version in [Version::Hixie75, Version::Hixie76] {
        for (name, input, error) in cases {
            let server = open_server(&request_for(version), limits);
            let (events, output) = run_in_chunks(server, input, &[usize::MAX], false);
            assert_eq!(
                errors_in(&events),
                [Error::Protocol(error)],
                "{version} {name}"
            );
            assert_eq!(
                error.close_code().is_some(),
                error == ProtocolError::InvalidUtf8
            );
            let expected_output: &[u8] = if version == Version::Hixie76 {
                &[0xFF, 0x00]
            } else {
                &[]
            };
            assert_eq!(output, expected_output, "{version} {name}");
            assert_eq!(
                events.last(),
                Some(&Seen::Message(Message::Close {
                    code: None,
                    reason: String::new(),
                    clean: false
                }))
            );
        }
    }
}

#[test]
fn fixed_storage_smaller_than_a_frame_is_a_too_large_frame() {
    let (mut input, mut output, mut message) = ([0u8; 64], [0u8; 256], [0u8; 16]);
    let buffers = Buffers {
        input: &mut input[..],
        output: &mut output[..],
        message: &mut message[..],
    };
    let mut conn = Connection::framed_server_with(Version::Hybi13, Config::default(), buffers);
    let frame = client_frame(0x82, &[7; 100], [1, 2, 3, 4]);
    assert_eq!(conn.receive(&frame), 64, "the storage takes what fits");
    assert_eq!(
        conn.poll_event().map(|_| ()),
        Err(Error::Protocol(ProtocolError::FrameTooLarge {
            limit: 64 - 6
        }))
    );
    assert_eq!(
        close_code_on_wire(conn.pending_output(), Role::Server),
        Some(1009)
    );

    // Reassembly beyond the message storage: 1009 too.
    let (mut input, mut output, mut message) = ([0u8; 64], [0u8; 256], [0u8; 16]);
    let buffers = Buffers {
        input: &mut input[..],
        output: &mut output[..],
        message: &mut message[..],
    };
    let mut conn = Connection::framed_server_with(Version::Hybi13, Config::default(), buffers);
    let frames = [
        client_frame(0x02, &[1; 10], [0; 4]),
        client_frame(0x80, &[2; 10], [0; 4]),
    ]
    .concat();
    assert_eq!(conn.receive(&frames), frames.len());
    assert_eq!(
        conn.poll_event().map(|_| ()),
        Err(Error::Protocol(ProtocolError::MessageTooLarge {
            limit: 16
        }))
    );
}

fn server_handshake_error(request: &[u8], config: Config) -> (Error, String) {
    let server = Connection::server(config);
    let (events, output) = run_in_chunks(server, request, &[usize::MAX], false);
    let errors = errors_in(&events);
    assert_eq!(errors.len(), 1, "{events:?}");
    assert_eq!(
        events.len(),
        1,
        "no close event for a connection that never opened: {events:?}"
    );
    (errors[0], String::from_utf8(output).unwrap())
}

#[test]
fn bad_requests_are_answered_with_their_status() {
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let ok_head = |extra: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{extra}\r\n"
        )
    };
    let cases: Vec<(String, HandshakeError, &str)> = vec![
        ("GET / HTTP/1.1\r\nHost h\r\n\r\n".into(), HandshakeError::Malformed, "HTTP/1.1 400 Bad Request\r\n"),
        (format!("POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"), HandshakeError::NotGet, "HTTP/1.1 400"),
        (format!("GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"), HandshakeError::NotGet, "HTTP/1.1 400"),
        (format!("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"), HandshakeError::MissingHeader("Host"), "HTTP/1.1 400"),
        (format!("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n{key}Sec-WebSocket-Version: 13\r\n\r\n"), HandshakeError::MissingHeader("Connection"), "HTTP/1.1 400"),
        (ok_head("Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n"), HandshakeError::InvalidKey, "HTTP/1.1 400"),
        (ok_head("Sec-WebSocket-Version: 13\r\n"), HandshakeError::InvalidKey, "HTTP/1.1 400"),
        (ok_head(key), HandshakeError::MissingHeader("Sec-WebSocket-Version"), "HTTP/1.1 400"),
        (ok_head(&format!("{key}Sec-WebSocket-Version: 9\r\n")), HandshakeError::UnsupportedVersion, "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13, 8, 7\r\n"),
        (ok_head("Sec-WebSocket-Key1: 12345\r\nSec-WebSocket-Key2: 1 2\r\n") + "12345678", HandshakeError::InvalidKey, "HTTP/1.1 400"),
        (ok_head("Sec-WebSocket-Key1: 1 2\r\n") + "12345678", HandshakeError::InvalidKey, "HTTP/1.1 400"),
    ];
    for (request, error, answer) in cases {
        let (got, output) = server_handshake_error(request.as_bytes(), Config::default());
        assert_eq!(got, Error::Handshake(error), "{request:?}");
        assert_eq!(
            error.status(),
            Some(output[9..12].parse().unwrap()),
            "{request:?}"
        );
        assert!(
            output.starts_with(answer),
            "{request:?} answered {output:?}"
        );
        assert!(output.contains("Connection: close\r\n"), "{output}");
    }
}

#[test]
fn handshake_limits_are_enforced() {
    // max_handshake_bytes: while the head is still incomplete, and once it is complete.
    let long = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX-Long: {}\r\n",
        "a".repeat(200)
    );
    let (error, output) = server_handshake_error(
        long.as_bytes(),
        config_with(|l| l.max_handshake_bytes = 100),
    );
    assert_eq!(error, Error::Handshake(HandshakeError::TooLarge));
    assert!(output.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    let complete = format!("{long}\r\n");
    let (error, _) = server_handshake_error(
        complete.as_bytes(),
        config_with(|l| l.max_handshake_bytes = 100),
    );
    assert_eq!(error, Error::Handshake(HandshakeError::TooLarge));
    // max_headers.
    let (error, output) = server_handshake_error(RFC_REQUEST, config_with(|l| l.max_headers = 3));
    assert_eq!(error, Error::Handshake(HandshakeError::TooManyHeaders));
    assert!(output.starts_with("HTTP/1.1 431"));
    // The end of the stream before a request is complete.
    let mut server = Connection::server(Config::default());
    server.receive(b"GET / HTTP/1.1\r\n");
    server.handle_eof();
    assert_eq!(
        server.poll_event().map(|_| ()),
        Err(Error::Handshake(HandshakeError::ConnectionClosed))
    );
    assert_eq!(server.state(), State::Closed);
    assert_eq!(server.poll_event().map(|e| e.is_none()), Ok(true));
}

/// A client of `version` and the key it sent.
fn client_and_key(version: Version, protocols: &'static [&'static str]) -> (Client, String) {
    let request = ClientRequest::new("h", "/")
        .version(version)
        .protocols(protocols);
    let client = Connection::client(&request, Config::default(), Seeded(11)).unwrap();
    let sent = String::from_utf8_lossy(client.pending_output()).into_owned();
    let key = sent
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or("")
        .to_string();
    (client, key)
}

fn client_error(mut client: Client, response: &[u8]) -> Error {
    let n = client.pending_output().len();
    client.consume_output(n);
    let (events, output) = run_in_chunks(client, response, &[usize::MAX], true);
    assert!(
        output.is_empty(),
        "a client sends nothing after a failed handshake"
    );
    let errors = errors_in(&events);
    assert_eq!(errors.len(), 1, "{events:?}");
    errors[0]
}

#[test]
fn bad_answers_fail_the_client_handshake() {
    let accept = |key: &str| {
        String::from_utf8(wsmachine::handshake::accept_key(key.as_bytes()).to_vec()).unwrap()
    };
    let ok = |key: &str, extra: &str| {
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n", accept(key))
    };
    let (c, _) = client_and_key(Version::Hybi13, &[]);
    assert_eq!(
        client_error(c, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
        Error::Handshake(HandshakeError::Rejected { status: 403 })
    );
    let (c, _) = client_and_key(Version::Hybi13, &[]);
    assert_eq!(
        client_error(c, ok("dGhlIHNhbXBsZSBub25jZQ==", "").as_bytes()),
        Error::Handshake(HandshakeError::InvalidAccept)
    );
    let (c, key) = client_and_key(Version::Hybi13, &["chat"]);
    assert_eq!(
        client_error(c, ok(&key, "Sec-WebSocket-Protocol: other\r\n").as_bytes()),
        Error::Handshake(HandshakeError::UnexpectedProtocol)
    );
    let (c, key) = client_and_key(Version::Hybi13, &[]);
    assert_eq!(
        client_error(
            c,
            ok(&key, "Sec-WebSocket-Extensions: permessage-deflate\r\n").as_bytes()
        ),
        Error::Handshake(HandshakeError::UnexpectedExtension)
    );
    let (c, key) = client_and_key(Version::Hybi08, &[]);
    let no_upgrade = format!("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n", accept(&key));
    assert_eq!(
        client_error(c, no_upgrade.as_bytes()),
        Error::Handshake(HandshakeError::MissingHeader("Upgrade"))
    );
    let (c, _) = client_and_key(Version::Hybi13, &[]);
    assert_eq!(
        client_error(c, b"HTTP/1.1 101\r\nbad header\r\n\r\n"),
        Error::Handshake(HandshakeError::Malformed)
    );
    let (c, _) = client_and_key(Version::Hybi13, &[]);
    assert_eq!(
        client_error(c, b"HTTP/1.1 101 Switching"),
        Error::Handshake(HandshakeError::ConnectionClosed)
    );
    let (c, _) = client_and_key(Version::Hixie76, &[]);
    // The location and origin it asked for (`ws://h/`, `http://h`), and a wrong answer.
    let wrong_answer = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Location: ws://h/\r\nSec-WebSocket-Origin: http://h\r\n\r\n0123456789abcdef";
    assert_eq!(
        client_error(c, wrong_answer),
        Error::Handshake(HandshakeError::InvalidAnswer)
    );
    let (c, _) = client_and_key(Version::Hixie75, &[]);
    assert_eq!(
        client_error(c, b"HTTP/1.1 200 OK\r\n\r\n"),
        Error::Handshake(HandshakeError::Rejected { status: 200 })
    );
}

#[test]
fn application_misuse_is_an_error_that_changes_nothing() {
    let mut pair = Pair::with(Version::Hybi13, Config::default(), &["chat"]);
    let (c, s) = (&mut pair.client, &mut pair.server);
    let usage = |r: Result<(), Error>| match r {
        Err(Error::Usage(u)) => u,
        other => panic!("{other:?}"),
    };
    let untouched = s.pending_output().to_vec();
    assert_eq!(usage(s.ping(&[0; 126])), UsageError::ControlTooLong);
    assert_eq!(
        usage(s.sender().pong(&[0; 126])),
        UsageError::ControlTooLong
    );
    assert_eq!(
        usage(s.close_with(CloseCode(1005), "")),
        UsageError::InvalidCloseCode(1005)
    );
    assert_eq!(
        usage(s.close_with(CloseCode(1000), &"r".repeat(124))),
        UsageError::ReasonTooLong
    );
    assert_eq!(
        s.pending_output(),
        untouched,
        "a refused control frame queued bytes"
    );
    s.send_fragment(b"a", true, false).unwrap();
    let untouched = s.pending_output().to_vec();
    assert_eq!(usage(s.send_text("b")), UsageError::FragmentOrder);
    assert_eq!(usage(s.send_binary(b"b")), UsageError::FragmentOrder);
    assert_eq!(
        usage(s.send_fragment(b"b", false, true)),
        UsageError::FragmentOrder
    );
    assert_eq!(
        s.pending_output(),
        untouched,
        "a refused fragment queued bytes"
    );
    s.send_fragment(b"b", true, true).unwrap();
    let untouched = (c.pending_output().to_vec(), s.pending_output().to_vec());
    assert_eq!(
        usage(s.accept(wsmachine::Accept::new())),
        UsageError::NoPendingRequest
    );
    assert_eq!(
        usage(s.respond(200, &[], b"")),
        UsageError::NoPendingRequest
    );
    assert_eq!(
        usage(c.accept(wsmachine::Accept::new())),
        UsageError::NoPendingRequest
    );
    assert_eq!(
        (c.pending_output().to_vec(), s.pending_output().to_vec()),
        untouched
    );
    for e in [
        UsageError::ControlTooLong,
        UsageError::OutputFull {
            required: 5,
            available: 1,
        },
        UsageError::InvalidUrl,
    ] {
        assert!(!e.to_string().is_empty());
    }

    // Not open yet: a client before the answer, a server before accepting.
    let (mut early, _) = client_and_key(Version::Hybi13, &[]);
    assert_eq!(usage(early.send_text("x")), UsageError::NotOpen);
    assert_eq!(usage(early.close()), UsageError::NotOpen);
    let mut server: Server = Connection::server(Config::default());
    server.receive(RFC_REQUEST);
    let _ = server.poll_event();
    assert_eq!(usage(server.send_text("x")), UsageError::NotOpen);
    // A subprotocol the client did not offer, and header injection, are refused untouched.
    assert_eq!(
        usage(server.accept(wsmachine::Accept::new().protocol("nope"))),
        UsageError::ProtocolNotOffered
    );
    assert_eq!(
        usage(server.accept(wsmachine::Accept::new().headers(&[("Set-Cookie", "a\r\nX: y")]))),
        UsageError::InvalidHeader
    );
    assert_eq!(
        usage(server.respond(400, &[("X-Bad\n", "v")], b"")),
        UsageError::InvalidHeader
    );
    assert!(server.pending_output().is_empty());
    assert!(
        server.request().is_some(),
        "the request still waits for an answer"
    );
    let bad = ClientRequest::new("h", "/").headers(&[("Cookie", "a\r\nb")]);
    assert!(matches!(
        Connection::client(&bad, Config::default(), Seeded(1)),
        Err(Error::Usage(UsageError::InvalidHeader))
    ));
    let bad = ClientRequest::new("h\r\nX: y", "/");
    assert!(matches!(
        Connection::client(&bad, Config::default(), Seeded(1)),
        Err(Error::Usage(UsageError::InvalidHeader))
    ));
    let bad = ClientRequest::new("h", "/").protocols(&["a b"]);
    assert!(matches!(
        Connection::client(&bad, Config::default(), Seeded(1)),
        Err(Error::Usage(UsageError::InvalidHeader))
    ));
}

#[test]
fn queued_output_is_bounded_and_a_full_output_queues_nothing() {
    let config = config_with(|l| l.max_queued_output = 100);
    let mut server = Connection::framed_server(Version::Hybi13, config);
    server.send_binary(&[1; 50]).unwrap();
    assert_eq!(
        server.send_binary(&[2; 50]),
        Err(Error::Usage(UsageError::OutputFull {
            required: 52,
            available: 48
        }))
    );
    assert_eq!(
        server.pending_output().len(),
        52,
        "nothing queued by the failed send"
    );
    server.consume_output(52);
    server.send_binary(&[2; 50]).unwrap();

    // Fixed output storage: the size required is reported, the buffer untouched.
    let (mut input, mut output, mut message) = ([0u8; 64], [0u8; 16], [0u8; 0]);
    let buffers = Buffers {
        input: &mut input[..],
        output: &mut output[..],
        message: &mut message[..],
    };
    let mut conn = Connection::framed_server_with(Version::Hybi13, Config::default(), buffers);
    conn.send_text("0123456789").unwrap();
    assert_eq!(
        conn.send_text("abcdef"),
        Err(Error::Usage(UsageError::OutputFull {
            required: 8,
            available: 4
        }))
    );
    assert_eq!(conn.pending_output(), b"\x81\x0a0123456789");
}

#[test]
fn plain_http_requests_are_handed_to_the_application() {
    let request =
        b"GET /index.html?lang=en HTTP/1.1\r\nHost: h\r\nCookie: session=abc\r\n\r\nextra";
    let mut server: Server = Connection::server(Config::default());
    server.receive(request);
    match server.poll_event() {
        Ok(Some(wsmachine::Event::HttpRequest(r))) => {
            assert_eq!(
                (r.method(), r.path(), r.query(), r.version()),
                ("GET", "/index.html", Some("lang=en"), None)
            );
            assert_eq!(r.header_str("cookie"), Some("session=abc"));
            assert_eq!(r.headers().count(), 2);
        }
        other => panic!("{other:?}"),
    }
    // The application can take the stream back with every byte read so far.
    assert_eq!(server.buffered_input(), request);
    server
        .respond(200, &[("Content-Type", "text/plain")], b"hi")
        .unwrap();
    assert_eq!(
        server.pending_output(),
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    );
    assert_eq!(server.state(), State::Closed);
    assert_eq!(
        server.poll_event().map(|e| e.is_none()),
        Ok(true),
        "no close event: it never opened"
    );
}

#[test]
fn a_server_can_refuse_an_upgrade() {
    let mut server: Server = Connection::server(Config::default());
    server.receive(RFC_REQUEST);
    assert!(matches!(
        server.poll_event(),
        Ok(Some(wsmachine::Event::Request(_)))
    ));
    assert_eq!(
        server.request().unwrap().origin(),
        Some("http://example.com")
    );
    server.respond(403, &[], b"origin not allowed").unwrap();
    assert!(server
        .pending_output()
        .starts_with(b"HTTP/1.1 403 Forbidden\r\n"));
    assert_eq!(server.state(), State::Closed);
}

/// Polls until an error, or until nothing more is ready.
fn error_so_far(server: &mut Server) -> Option<Error> {
    loop {
        match server.poll_event() {
            Ok(Some(_)) => {}
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
    }
}

/// RFC 6455 §8.1: invalid UTF-8 fails the connection when the bytes arrive, not when the frame
/// or the message is complete.
#[test]
fn invalid_utf8_fails_before_the_rest_of_the_message_arrives() {
    let invalid = Some(Error::Protocol(ProtocolError::InvalidUtf8));
    // One text frame of 10 bytes, of which the header and the first three arrived; 0xFF can
    // never be UTF-8 (RFC 3629 §1).
    let frame = client_frame(0x81, b"ab\xffdefghij", [1, 2, 3, 4]);
    let mut server = open_server(RFC_REQUEST, Config::default());
    server.receive(&frame[..6 + 3]);
    assert_eq!(error_so_far(&mut server), invalid);
    // A fragmented message: the first fragment ends inside a character, and the first byte of
    // the continuation cannot continue it; the continuation's other bytes never arrive.
    let mut server = open_server(RFC_REQUEST, Config::default());
    server.receive(&client_frame(0x01, b"ab\xc3", [5, 6, 7, 8]));
    assert_eq!(error_so_far(&mut server), None, "a valid prefix so far");
    let continuation = client_frame(0x80, b"(rest", [1, 1, 1, 1]);
    server.receive(&continuation[..6 + 1]);
    assert_eq!(error_so_far(&mut server), invalid);
}
