//! The protocol test vectors of every version, byte for byte: RFC 6455 §1.3 and §5.7, the
//! hixie-76 worked example, the hixie-75 handshake, and the hybi-07/08 differences.

mod common;

use common::*;
use wsmachine::{Accept, ClientRequest, CloseCode, Config, Connection, Event, Role, Version};

fn framed_server() -> Server {
    Connection::framed_server(Version::Hybi13, Config::default())
}

/// A client whose masking keys are `37 fa 21 3d`, the key of RFC 6455 §5.7.
fn framed_client_with_rfc_mask() -> Connection<Vec<u8>, impl FnMut(&mut [u8])> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    Connection::framed(
        Role::Client,
        Version::Hybi13,
        Config::default(),
        move |buf: &mut [u8]| {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = key[i % 4];
            }
        },
    )
}

fn events_of<R: wsmachine::KeySource>(
    conn: &mut Connection<Vec<u8>, R>,
    input: &[u8],
) -> Vec<Seen> {
    assert_eq!(conn.receive(input), input.len());
    let mut events = Vec::new();
    drain(conn, &mut events);
    events
}

#[test]
fn rfc6455_1_3_opening_handshake() {
    let mut server = Connection::server(Config::default());
    assert_eq!(server.receive(RFC_REQUEST), RFC_REQUEST.len());
    match server.poll_event() {
        Ok(Some(Event::Request(request))) => {
            assert_eq!(request.version(), Some(Version::Hybi13));
            assert_eq!(request.path(), "/chat");
            assert_eq!(request.origin(), Some("http://example.com"));
            assert_eq!(
                request.protocols().collect::<Vec<_>>(),
                ["chat", "superchat"]
            );
            assert_eq!(request.header_str("host"), Some("server.example.com"));
        }
        other => panic!("{other:?}"),
    }
    server.accept(Accept::new().protocol("chat")).unwrap();
    assert_eq!(
        server.pending_output(),
        &b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"[..]
    );
    assert_eq!(server.version(), Some(Version::Hybi13));
}

#[test]
fn rfc6455_5_7_frames_decoded_by_a_server() {
    let mut server = framed_server();
    // Single-frame masked text.
    assert_eq!(
        events_of(
            &mut server,
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        ),
        [Seen::Message(Message::Text("Hello".into()))]
    );
    // The masked pong answering a ping.
    assert_eq!(
        events_of(
            &mut server,
            &[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        ),
        [Seen::Message(Message::Pong {
            payload: b"Hello".to_vec(),
            round_trip: None
        })]
    );
}

#[test]
fn rfc6455_5_7_frames_decoded_by_a_client() {
    let mut client = framed_client_with_rfc_mask();
    assert_eq!(
        events_of(&mut client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
        [Seen::Message(Message::Text("Hello".into()))]
    );
    // Fragmented: "Hel" then "lo".
    assert_eq!(
        events_of(
            &mut client,
            &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]
        ),
        [Seen::Message(Message::Text("Hello".into()))]
    );
    // Unmasked ping, answered with the masked pong of §5.7.
    assert_eq!(
        events_of(&mut client, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]),
        [Seen::Message(Message::Ping(b"Hello".to_vec()))]
    );
    assert_eq!(
        client.pending_output(),
        &[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    );
    let n = client.pending_output().len();
    client.consume_output(n);
    // 256 bytes and 64 KiB binary in single unmasked frames.
    let mut frame = vec![0x82, 0x7E, 0x01, 0x00];
    frame.extend(std::iter::repeat_n(0xAB, 256));
    assert_eq!(
        events_of(&mut client, &frame),
        [Seen::Message(Message::Binary(vec![0xAB; 256]))]
    );
    let mut frame = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    frame.extend(std::iter::repeat_n(0xCD, 65536));
    assert_eq!(
        events_of(&mut client, &frame),
        [Seen::Message(Message::Binary(vec![0xCD; 65536]))]
    );
}

#[test]
fn rfc6455_5_7_frames_encoded() {
    let mut server = framed_server();
    server.send_text("Hello").unwrap();
    assert_eq!(
        server.pending_output(),
        &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );
    let n = server.pending_output().len();
    server.consume_output(n);
    server.send_fragment(b"Hel", true, false).unwrap();
    server.send_fragment(b"lo", true, true).unwrap();
    assert_eq!(
        server.pending_output(),
        &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]
    );
    server.consume_output(9);
    server.ping(b"Hello").unwrap();
    assert_eq!(
        server.pending_output(),
        &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );
    server.consume_output(7);
    server.send_binary(&[0u8; 256]).unwrap();
    assert_eq!(&server.pending_output()[..4], &[0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(server.pending_output().len(), 260);
    server.consume_output(260);
    server.send_binary(&[0u8; 65536]).unwrap();
    assert_eq!(
        &server.pending_output()[..10],
        &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]
    );
    server.consume_output(65546);
    // Derived (shared/vectors): close 1000 "done".
    server.close_with(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(
        server.pending_output(),
        &[0x88, 0x06, 0x03, 0xe8, 0x64, 0x6f, 0x6e, 0x65]
    );

    let mut client = framed_client_with_rfc_mask();
    client.send_text("Hello").unwrap();
    assert_eq!(
        client.pending_output(),
        &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    );
}

#[test]
fn hixie76_worked_example_handshake_and_frames() {
    let mut server = Connection::server(Config::default());
    // key3 may arrive separately from the head: nothing is reported until it does.
    let head_len = HIXIE76_REQUEST.len() - 8;
    assert_eq!(events_of(&mut server, &HIXIE76_REQUEST[..head_len]), []);
    let events = events_of(&mut server, &HIXIE76_REQUEST[head_len..]);
    assert_eq!(
        events,
        [Seen::Request {
            version: Some(Version::Hixie76),
            target: "/demo".into(),
            protocols: vec!["sample".into()]
        }]
    );
    assert_eq!(
        server.pending_output(),
        &b"HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Origin: http://example.com\r\nSec-WebSocket-Location: ws://example.com/demo\r\nSec-WebSocket-Protocol: sample\r\n\r\n8jKS'y:G*Co,Wxa-"[..]
    );
    let n = server.pending_output().len();
    server.consume_output(n);
    assert_eq!(
        events_of(&mut server, b"\x00Hello\xff"),
        [Seen::Message(Message::Text("Hello".into()))]
    );
    server.send_text("Hello").unwrap();
    assert_eq!(server.pending_output(), b"\x00Hello\xff");
    server.consume_output(7);
    // The closing handshake: 0xFF 0x00 answered with 0xFF 0x00.
    assert_eq!(
        events_of(&mut server, &[0xFF, 0x00]),
        [Seen::Message(Message::Close {
            code: None,
            reason: String::new(),
            clean: true
        })]
    );
    assert_eq!(server.pending_output(), &[0xFF, 0x00]);
}

#[test]
fn hixie75_handshake() {
    let mut server = Connection::server(Config::default());
    let events = events_of(&mut server, HIXIE75_REQUEST);
    assert_eq!(
        events,
        [Seen::Request {
            version: Some(Version::Hixie75),
            target: "/demo".into(),
            protocols: vec!["sample".into()]
        }]
    );
    assert_eq!(
        server.pending_output(),
        &b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nWebSocket-Origin: http://example.com\r\nWebSocket-Location: ws://example.com/demo\r\nWebSocket-Protocol: sample\r\n\r\n"[..]
    );
    // The client checks the first three response lines byte for byte: ours starts with them.
    let mut client = Connection::client(
        &ClientRequest::new("example.com", "/demo")
            .version(Version::Hixie75)
            .protocols(&["sample"]),
        Config::default(),
        Seeded(1),
    )
    .unwrap();
    assert!(client.pending_output().starts_with(b"GET /demo HTTP/1.1\r\nHost: example.com\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nOrigin: http://example.com\r\nWebSocket-Protocol: sample\r\n\r\n"));
    let response = server.pending_output().to_vec();
    assert_eq!(
        events_of(&mut client, &response),
        [Seen::Accepted {
            protocol: Some("sample".into())
        }]
    );
}

#[test]
fn hybi07_and_08_use_sec_websocket_origin() {
    for (version, number) in [(Version::Hybi07, "7"), (Version::Hybi08, "8")] {
        let mut server = Connection::server(Config::default());
        assert_eq!(
            server.receive(&request_for(version)),
            request_for(version).len()
        );
        match server.poll_event() {
            Ok(Some(Event::Request(request))) => {
                assert_eq!(request.version(), Some(version));
                assert_eq!(request.origin(), Some("http://example.com"));
            }
            other => panic!("{other:?}"),
        }
        server.accept(Accept::new()).unwrap();
        let out = String::from_utf8(server.pending_output().to_vec()).unwrap();
        assert!(
            out.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{out}"
        );
        // The §5.7 frames are unchanged in these drafts.
        let n = out.len();
        server.consume_output(n);
        assert_eq!(
            events_of(
                &mut server,
                &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
            ),
            [Seen::Message(Message::Text("Hello".into()))]
        );

        let client = Connection::client(
            &ClientRequest::new("example.com", "/")
                .version(version)
                .origin("http://example.com"),
            Config::default(),
            Seeded(7),
        )
        .unwrap();
        let request = String::from_utf8(client.pending_output().to_vec()).unwrap();
        assert!(
            request.contains(&format!("Sec-WebSocket-Version: {number}\r\n")),
            "{request}"
        );
        assert!(
            request.contains("Sec-WebSocket-Origin: http://example.com\r\n"),
            "{request}"
        );
        assert!(!request.contains("\r\nOrigin:"), "{request}");
    }
}

#[test]
fn accept_key_and_hixie_answer_helpers_for_framing_only_users() {
    assert_eq!(
        &wsmachine::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(
        wsmachine::handshake::hixie76_answer(
            b"4 @1  46546xW%0l 1 5",
            b"12998 5 Y3 1  .P00",
            b"^n:ds[4U"
        ),
        Some(*b"8jKS'y:G*Co,Wxa-")
    );
}
