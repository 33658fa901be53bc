//! Handshakes, URLs and the last framing corners held to the RFC and the drafts: each table
//! row's expected value is what RFC 6455, RFC 7230 or the hixie drafts prescribe.

mod common;

use common::*;
use wsmachine::handshake::WsUrl;
use wsmachine::{
    ClientRequest, Config, Connection, Error, Event, HandshakeError, ProtocolError, Role, State,
    UsageError, Version,
};

/// A server's first event or error for `request`, and its output.
fn serve(request: &str) -> (Result<Option<Seen>, Error>, Vec<u8>) {
    let mut server = Connection::server(Config::default());
    assert_eq!(server.receive(request.as_bytes()), request.len());
    let first = server.poll_event().map(|e| e.map(seen));
    (first, server.pending_output().to_vec())
}

/// The hybi-13 request of RFC 6455 §1.3 with another request line and extra fields.
fn hybi13(line: &str, extra: &str) -> String {
    format!("{line}\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n")
}

/// Fault 1, RFC 7230 §5.3.2: a server accepts a target in absolute-form, and routes on its path.
#[test]
fn absolute_form_targets_name_their_path_and_query() {
    let mut server = Connection::server(Config::default());
    let request = hybi13("GET http://example.com:8080/chat?x=1 HTTP/1.1", "");
    server.receive(request.as_bytes());
    match server.poll_event() {
        Ok(Some(Event::Request(r))) => {
            assert_eq!(r.target(), "http://example.com:8080/chat?x=1");
            assert_eq!((r.path(), r.query()), ("/chat", Some("x=1")));
        }
        other => panic!("{other:?}"),
    }
    // A URL with no path names `/` (RFC 3986 §6.2.3), with or without a query.
    for (target, path, query) in [
        ("ws://example.com:8080", "/", None),
        ("WSS://example.com:8080?x=1", "/", Some("x=1")),
        ("https://example.com:8080/a/b", "/a/b", None),
        ("/plain?x", "/plain", Some("x")),
    ] {
        let mut server = Connection::server(Config::default());
        server.receive(hybi13(&format!("GET {target} HTTP/1.1"), "").as_bytes());
        match server.poll_event() {
            Ok(Some(Event::Request(r))) => assert_eq!((r.path(), r.query()), (path, query)),
            other => panic!("{target}: {other:?}"),
        }
    }
}

/// Fault 1 on hixie: the location the server answers with is the URL asked for, whatever the
/// target's form (draft-hixie-thewebsocketprotocol-76 §5.2, -75 §5.2).
#[test]
fn hixie_locations_of_absolute_form_targets() {
    let hixie76 = |target: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: example.com:8080\r\nConnection: Upgrade\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://example.com\r\n\r\n^n:ds[4U")
    };
    let hixie75 = |target: &str| {
        format!("GET {target} HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com:8080\r\nOrigin: http://example.com\r\n\r\n")
    };
    for (target, location) in [
        (
            "http://example.com:8080/chat?x=1",
            "ws://example.com:8080/chat?x=1",
        ),
        ("/chat?x=1", "ws://example.com:8080/chat?x=1"),
        // The target's authority wins over `Host` (RFC 7230 §5.4).
        ("ws://other.example/chat", "ws://other.example/chat"),
        ("ws://example.com:8080", "ws://example.com:8080/"),
    ] {
        for (request, field) in [
            (hixie76(target), "Sec-WebSocket-Location"),
            (hixie75(target), "WebSocket-Location"),
        ] {
            let mut server = Connection::server(Config::default());
            server.receive(request.as_bytes());
            let mut events = Vec::new();
            drain(&mut server, &mut events);
            let answer = String::from_utf8_lossy(server.pending_output()).into_owned();
            let expected = format!("\r\n{field}: {location}\r\n");
            assert!(answer.contains(&expected), "{target}: {answer}");
        }
    }
}

/// Targets and hosts an upgrade request may not carry (RFC 7230 §5.3, §5.4; RFC 6455 §4.2.1).
#[test]
fn invalid_targets_and_hosts_are_refused_with_400() {
    let rows = [
        hybi13("GET ftp://example.com/chat HTTP/1.1", ""),
        hybi13("GET http://user:pw@example.com/chat HTTP/1.1", ""),
        hybi13("GET http:///chat HTTP/1.1", ""),
        hybi13("GET chat HTTP/1.1", ""),
        hybi13("GET * HTTP/1.1", ""),
        hybi13("GET /chat#frag HTTP/1.1", ""),
        hybi13("GET http://example.com/chat#frag HTTP/1.1", ""),
        "GET /chat HTTP/1.1\r\nHost: user@example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".into(),
        "GET /chat HTTP/1.1\r\nHost: example.com/x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".into(),
        "GET /chat HTTP/1.1\r\nHost: example.com:http\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".into(),
    ];
    for request in rows {
        let (first, output) = serve(&request);
        match first {
            Err(Error::Handshake(HandshakeError::InvalidTarget | HandshakeError::Malformed)) => {}
            other => panic!("{request:?}: {other:?}"),
        }
        assert!(output.starts_with(b"HTTP/1.1 400 "), "{request:?}");
    }
}

/// Fault 4: single-valued request fields appearing twice are a 400 (RFC 7230 §5.4 for Host,
/// RFC 6455 §11.3.1 and §11.3.5 for the key and version, RFC 6454 §7 for Origin), whether
/// the values agree or not.
#[test]
fn repeated_single_valued_request_fields_are_refused_with_400() {
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let rows: [(&str, &str); 7] = [
        (key, "Sec-WebSocket-Key"),
        (
            "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n",
            "Sec-WebSocket-Key",
        ),
        ("Host: example.com:8080\r\n", "Host"),
        ("Host: evil.example\r\n", "Host"),
        ("Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Version"),
        (
            "Origin: http://a.example\r\nOrigin: http://b.example\r\n",
            "Origin",
        ),
        (
            "Sec-WebSocket-Origin: http://a.example\r\nSec-WebSocket-Origin: http://a.example\r\n",
            "Sec-WebSocket-Origin",
        ),
    ];
    for (extra, field) in rows {
        let (first, output) = serve(&hybi13("GET /chat HTTP/1.1", extra));
        assert_eq!(
            first,
            Err(Error::Handshake(HandshakeError::RepeatedHeader(field))),
            "{extra:?}"
        );
        assert!(output.starts_with(b"HTTP/1.1 400 "), "{extra:?}");
    }
    // hixie-76's keys, each once.
    for repeated in ["Sec-WebSocket-Key1", "Sec-WebSocket-Key2"] {
        let value = if repeated.ends_with('1') {
            "4 @1  46546xW%0l 1 5"
        } else {
            "12998 5 Y3 1  .P00"
        };
        let request = format!("GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n{repeated}: {value}\r\nOrigin: http://example.com\r\n\r\n^n:ds[4U");
        let (first, output) = serve(&request);
        assert_eq!(
            first,
            Err(Error::Handshake(HandshakeError::RepeatedHeader(repeated)))
        );
        assert!(output.starts_with(b"HTTP/1.1 400 "));
    }
}

/// A client of `version` asking for `/demo?x=1` on `example.com`, and the hybi key it sent.
fn client(version: Version, protocols: &'static [&'static str]) -> (Client, String) {
    let request = ClientRequest::new("example.com", "/demo?x=1")
        .version(version)
        .origin("http://example.com")
        .protocols(protocols);
    let mut client = Connection::client(&request, Config::default(), Seeded(5)).unwrap();
    let sent = String::from_utf8_lossy(client.pending_output()).into_owned();
    let key = sent
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or("")
        .to_string();
    let n = client.pending_output().len();
    client.consume_output(n);
    (client, key)
}

/// The client's verdict on `answer`: the protocol it accepted, or its error.
fn verdict(mut client: Client, answer: &[u8]) -> Result<Option<String>, Error> {
    client.receive(answer);
    match client.poll_event() {
        Ok(Some(Event::Accepted(r))) => Ok(r.protocol().map(String::from)),
        Ok(other) => panic!("{other:?}"),
        Err(e) => {
            assert_eq!(client.state(), State::Closed);
            assert!(client.pending_output().is_empty());
            Err(e)
        }
    }
}

fn hybi_answer(key: &str, extra: &str) -> String {
    let accept = wsmachine::handshake::accept_key(key.as_bytes());
    let accept = std::str::from_utf8(&accept).unwrap();
    format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n")
}

/// Faults 3 and 5: the subprotocol chosen is one offered name, exactly (RFC 6455 §4.1 item 6
/// of the client's checks), in one field (§11.3.4); the accept key in one field (§11.3.3).
#[test]
fn the_server_s_subprotocol_and_accept_are_single_exact_values() {
    let offered: &[&str] = &["chat", "superchat"];
    let rows: [(&str, Result<Option<String>, Error>); 7] = [
        ("Sec-WebSocket-Protocol: chat\r\n", Ok(Some("chat".into()))),
        ("", Ok(None)),
        // `x-98fb` has the same 16-bit FNV fold as `chat`.
        (
            "Sec-WebSocket-Protocol: x-98fb\r\n",
            Err(Error::Handshake(HandshakeError::UnexpectedProtocol)),
        ),
        (
            "Sec-WebSocket-Protocol: Chat\r\n",
            Err(Error::Handshake(HandshakeError::UnexpectedProtocol)),
        ),
        (
            "Sec-WebSocket-Protocol: chat, superchat\r\n",
            Err(Error::Handshake(HandshakeError::UnexpectedProtocol)),
        ),
        (
            "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat\r\n",
            Err(Error::Handshake(HandshakeError::RepeatedHeader(
                "Sec-WebSocket-Protocol",
            ))),
        ),
        (
            "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n",
            Err(Error::Handshake(HandshakeError::RepeatedHeader(
                "Sec-WebSocket-Protocol",
            ))),
        ),
    ];
    for (extra, expected) in rows {
        let (c, key) = client(
            Version::Hybi13,
            if extra.is_empty() { &[] } else { offered },
        );
        assert_eq!(
            verdict(c, hybi_answer(&key, extra).as_bytes()),
            expected,
            "{extra:?}"
        );
    }
    let (c, key) = client(Version::Hybi13, &[]);
    let accept = wsmachine::handshake::accept_key(key.as_bytes());
    let twice = format!(
        "Sec-WebSocket-Accept: {}\r\n",
        std::str::from_utf8(&accept).unwrap()
    );
    assert_eq!(
        verdict(c, hybi_answer(&key, &twice).as_bytes()),
        Err(Error::Handshake(HandshakeError::RepeatedHeader(
            "Sec-WebSocket-Accept"
        )))
    );
}

/// Fault 2: a hixie client fails the connection unless the server names the location it
/// asked for and its origin, each once (draft-hixie-thewebsocketprotocol-76 §4.1, -75 §4.1).
#[test]
fn hixie_clients_check_location_and_origin() {
    let good_location = "ws://example.com/demo?x=1";
    let good_origin = "http://example.com";
    // The location and origin fields sent, and the verdict.
    type Row<'a> = (Option<&'a str>, Option<&'a str>, Result<(), HandshakeError>);
    let rows: [Row<'_>; 7] = [
        (Some(good_location), Some(good_origin), Ok(())),
        (
            Some("ws://evil.example/other"),
            Some("http://evil.example"),
            Err(HandshakeError::LocationMismatch),
        ),
        (
            Some("ws://example.com/demo"),
            Some(good_origin),
            Err(HandshakeError::LocationMismatch),
        ),
        (
            Some(good_location),
            Some("http://evil.example"),
            Err(HandshakeError::LocationMismatch),
        ),
        (None, None, Err(HandshakeError::LocationMismatch)),
        (
            None,
            Some(good_origin),
            Err(HandshakeError::LocationMismatch),
        ),
        (
            Some(good_location),
            None,
            Err(HandshakeError::LocationMismatch),
        ),
    ];
    for version in [Version::Hixie76, Version::Hixie75] {
        let (prefix, status) = if version == Version::Hixie76 {
            ("Sec-", "WebSocket Protocol Handshake")
        } else {
            ("", "Web Socket Protocol Handshake")
        };
        for (location, origin, expected) in rows {
            let (c, _) = client(version, &[]);
            let mut answer =
                format!("HTTP/1.1 101 {status}\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n");
            if let Some(l) = location {
                answer += &format!("{prefix}WebSocket-Location: {l}\r\n");
            }
            if let Some(o) = origin {
                answer += &format!("{prefix}WebSocket-Origin: {o}\r\n");
            }
            answer += "\r\n";
            let mut bytes = answer.into_bytes();
            if version == Version::Hixie76 {
                bytes.extend(expected_hixie76_answer(&c));
            }
            let got = verdict(c, &bytes).map(|_| ()).map_err(|e| match e {
                Error::Handshake(h) => h,
                other => panic!("{other:?}"),
            });
            assert_eq!(got, expected, "{version} {location:?} {origin:?}");
        }
        // Each field once.
        let (c, _) = client(version, &[]);
        let mut answer = format!("HTTP/1.1 101 {status}\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n{prefix}WebSocket-Location: {good_location}\r\n{prefix}WebSocket-Location: {good_location}\r\n{prefix}WebSocket-Origin: {good_origin}\r\n\r\n").into_bytes();
        if version == Version::Hixie76 {
            answer.extend(expected_hixie76_answer(&c));
        }
        assert!(matches!(
            verdict(c, &answer),
            Err(Error::Handshake(HandshakeError::RepeatedHeader(_)))
        ));
    }
}

/// The challenge answer a hixie-76 client expects, from the keys of the request it sent.
fn expected_hixie76_answer(_client: &Client) -> [u8; 16] {
    let request = ClientRequest::new("example.com", "/demo?x=1")
        .version(Version::Hixie76)
        .origin("http://example.com");
    // The same entropy as `client`, so the same keys.
    let again = Connection::client(&request, Config::default(), Seeded(5)).unwrap();
    let sent = again.pending_output();
    let text = String::from_utf8_lossy(sent);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    let key3: [u8; 8] = sent[sent.len() - 8..].try_into().unwrap();
    wsmachine::handshake::hixie76_answer(
        field("Sec-WebSocket-Key1: ").as_bytes(),
        field("Sec-WebSocket-Key2: ").as_bytes(),
        &key3,
    )
    .unwrap()
}

/// Fault 6, RFC 6455 §5.5.2: a pong is owed for every ping until the peer's close arrived, our
/// own close notwithstanding; and one can be sent by hand.
#[test]
fn pings_are_answered_after_our_own_close() {
    for version in [Version::Hybi13, Version::Hybi08] {
        // Server: the masked ping `p` of the issue.
        let mut server = open_server(&request_for(version), Config::default());
        server.close().unwrap();
        let n = server.pending_output().len();
        server.consume_output(n);
        server.receive(&[0x89, 0x81, 0x37, 0xfa, 0x21, 0x3d, 0x47]);
        assert!(matches!(server.poll_event(), Ok(Some(Event::Ping(b"p")))));
        assert_eq!(server.pending_output(), [0x8a, 0x01, b'p'], "{version}");
        server.sender().pong(b"by hand").unwrap();
        assert_eq!(server.state(), State::Closing);
        // Client: an unmasked ping from the server, answered masked.
        let mut client = Connection::framed(Role::Client, version, Config::default(), Seeded(1));
        client.close().unwrap();
        let n = client.pending_output().len();
        client.consume_output(n);
        client.receive(&[0x89, 0x01, b'p']);
        assert!(matches!(client.poll_event(), Ok(Some(Event::Ping(b"p")))));
        let pong = client.pending_output();
        assert_eq!(pong[..2], [0x8a, 0x81], "{version}");
        assert_eq!(pong[6] ^ pong[2], b'p');
        // Once the peer's close arrived, no more.
        client.receive(&[0x88, 0x00, 0x89, 0x00]);
        let mut events = Vec::new();
        drain(&mut client, &mut events);
        assert_eq!(client.state(), State::Closed);
        assert_eq!(
            client.sender().pong(b""),
            Err(Error::Usage(UsageError::Closed))
        );
    }
}

/// Fault 7: hixie-75 has no closing frame, so `FF 00` is a length-prefixed frame of length 0,
/// skipped (draft-hixie-thewebsocketprotocol-75 §4.2); on hixie-76 it is the close.
#[test]
fn ff00_is_a_close_on_hixie76_only() {
    for role in [Role::Server, Role::Client] {
        let mut conn = Connection::framed(role, Version::Hixie75, Config::default(), Seeded(2));
        conn.receive(&[0xFF, 0x00, 0x00, b'h', b'i', 0xFF]);
        let mut events = Vec::new();
        drain(&mut conn, &mut events);
        assert_eq!(
            events,
            [Seen::Message(Message::Text("hi".into()))],
            "{role:?}"
        );
        assert_eq!(conn.state(), State::Open, "{role:?}");
        let mut conn = Connection::framed(role, Version::Hixie76, Config::default(), Seeded(2));
        conn.receive(&[0xFF, 0x00]);
        let mut events = Vec::new();
        drain(&mut conn, &mut events);
        assert!(matches!(
            events.as_slice(),
            [Seen::Message(Message::Close { clean: true, .. })]
        ));
    }
}

/// Fault 8: ws URLs as RFC 6455 §3 defines them.
#[test]
fn ws_urls() {
    let invalid = [
        "ws://user:pw@example.com/",
        "ws://user@example.com/",
        "ws://example.com/path#frag",
        "ws://example.com#frag",
        "ws://exa mple.com/",
        "ws://example.com/pa th",
        "ws://::1:8080/",
        "ws://[::1/",
        "ws://[::1]x/",
        "ws://example.com:/",
        "ws://example.com:99999/",
        "ws://example.com:-1/",
        "ws://héllo.example/",
        "ws://example.com/\u{7f}",
        "ws://:8080/",
        "http://example.com/",
        "ws:/example.com/",
    ];
    for url in invalid {
        assert_eq!(WsUrl::parse(url), Err(UsageError::InvalidUrl), "{url}");
    }
    let valid = [
        ("ws://localhost:8895?foo=bar", "localhost", 8895, "?foo=bar"),
        ("WS://Example.com/x", "Example.com", 80, "/x"),
        ("wss://[::1]:8443/a?b", "::1", 8443, "/a?b"),
        ("ws://127.0.0.1", "127.0.0.1", 80, "/"),
    ];
    for (url, host, port, target) in valid {
        let u = WsUrl::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!((u.host, u.port, u.target), (host, port, target), "{url}");
    }
    // A query with no path is requested with the path `/`.
    let url = WsUrl::parse("ws://localhost:8895?foo=bar").unwrap();
    let conn =
        Connection::client(&ClientRequest::from_url(&url), Config::default(), Seeded(3)).unwrap();
    assert!(conn
        .pending_output()
        .starts_with(b"GET /?foo=bar HTTP/1.1\r\nHost: localhost:8895\r\n"));
}

/// Fault 9, RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length",
/// for data and control frames alike.
#[test]
fn lengths_must_be_in_their_shortest_encoding() {
    let mask = [1, 2, 3, 4];
    let masked = |head: &[u8], payload: &[u8]| {
        let mut f = head.to_vec();
        f.extend(mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    };
    let five = b"hello";
    let rows: [(Vec<u8>, Option<ProtocolError>); 5] = [
        (
            masked(&[0x82, 0xFE, 0, 5], five),
            Some(ProtocolError::NonMinimalLength),
        ),
        (
            masked(&[0x89, 0xFE, 0, 5], five),
            Some(ProtocolError::NonMinimalLength),
        ),
        (
            masked(&[0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 5], five),
            Some(ProtocolError::NonMinimalLength),
        ),
        (
            masked(&[0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], &[0; 0xFFFF]),
            Some(ProtocolError::NonMinimalLength),
        ),
        (masked(&[0x82, 0xFE, 0, 126], &[7; 126]), None),
    ];
    for (frame, expected) in rows {
        let mut server = Connection::framed_server(Version::Hybi13, Config::default());
        server.receive(&frame);
        let mut events = Vec::new();
        drain(&mut server, &mut events);
        let error = events.iter().find_map(|e| match e {
            Seen::Error(Error::Protocol(p)) => Some(*p),
            _ => None,
        });
        assert_eq!(error, expected, "{:02x?}", &frame[..4]);
        if expected.is_some() {
            // Closed with 1002.
            assert_eq!(&server.pending_output()[..4], [0x88, 0x02, 0x03, 0xEA]);
        }
    }
}

/// Fault 10: the handshake is timed from the first `handle_timeout`; a server answers 408.
#[test]
fn handshakes_time_out() {
    let mut config = Config::default();
    config.handshake_timeout = Some(1000);
    // A server reading a request one byte at a time, and one whose application never decided.
    for request in [&b"G"[..], RFC_REQUEST] {
        let mut server = Connection::server(config);
        assert_eq!(
            server.poll_timeout(),
            None,
            "not timed before the clock starts"
        );
        server.handle_timeout(5_000);
        assert_eq!(server.poll_timeout(), Some(6_000));
        server.receive(request);
        let _ = server.poll_event();
        server.handle_timeout(5_999);
        assert_ne!(server.state(), State::Closed);
        server.handle_timeout(6_000);
        assert_eq!(server.state(), State::Closed);
        assert_eq!(
            server.poll_event().map(|e| e.is_some()),
            Err(Error::Handshake(HandshakeError::TimedOut))
        );
        assert_eq!(server.poll_event().map(|e| e.is_some()), Ok(false));
        assert!(server
            .pending_output()
            .starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert_eq!(server.poll_timeout(), None);
    }
    // A client: no answer in time.
    let request = ClientRequest::new("example.com", "/");
    let mut client = Connection::client(&request, config, Seeded(4)).unwrap();
    let n = client.pending_output().len();
    client.consume_output(n);
    client.handle_timeout(0);
    client.handle_timeout(1000);
    assert_eq!(
        client.poll_event().map(|e| e.is_some()),
        Err(Error::Handshake(HandshakeError::TimedOut))
    );
    assert!(client.pending_output().is_empty());
    // A handshake that completed in time is not failed by the timer afterwards.
    let mut pair = Pair::with(Version::Hybi13, config, &[]);
    pair.client.handle_timeout(0);
    pair.server.handle_timeout(0);
    pair.pump();
    pair.client.handle_timeout(10_000);
    pair.server.handle_timeout(10_000);
    assert_eq!(pair.client.state(), State::Open);
    assert_eq!(pair.server.state(), State::Open);
}
