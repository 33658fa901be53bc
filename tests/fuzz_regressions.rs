//! Inputs the fuzz targets (fuzz/) found to break a promise, kept so that it stays kept.

use wsmachine::{Config, Connection, Error, Event, Limits, ProtocolError, Version};

/// Feeds `input` in chunks of `chunk` bytes to a framed hixie server and returns the first
/// error it reports.
fn first_error(version: Version, limits: Limits, input: &[u8], chunk: usize) -> Option<Error> {
    let mut config = Config::default();
    config.limits = limits;
    let mut conn = Connection::framed_server(version, config);
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = conn.receive(rest);
            rest = &rest[n..];
            loop {
                match conn.poll_event() {
                    Ok(Some(Event::Close(_))) | Ok(None) => break,
                    Ok(Some(_)) => {}
                    Err(e) => return Some(e),
                }
            }
            if n == 0 {
                break;
            }
        }
    }
    None
}

/// A hixie text frame longer than `max_hixie_frame` whose text turns invalid before the limit
/// was reported as too large when it arrived whole and as invalid text when it arrived byte by
/// byte (found by the `chunking` target). The first violation in the stream wins in both.
#[test]
fn hixie_invalid_text_before_the_limit_is_reported_the_same_however_it_is_chunked() {
    let mut limits = Limits::new();
    limits.max_hixie_frame = 300;
    let mut frame = b"\x00Hello \xC3\x28".to_vec();
    frame.extend_from_slice(&[b'a'; 400]);
    frame.push(0xFF);
    for version in [Version::Hixie75, Version::Hixie76] {
        for chunk in [1, 7, 100, 299, 300, 301, frame.len()] {
            assert_eq!(
                first_error(version, limits, &frame, chunk),
                Some(Error::Protocol(ProtocolError::InvalidUtf8)),
                "{version}, chunks of {chunk}"
            );
        }
    }
}

/// The same frame with valid text is too large however it is chunked, and a character cut by
/// the limit is not mistaken for invalid text.
#[test]
fn hixie_valid_text_over_the_limit_is_too_large_however_it_is_chunked() {
    let mut limits = Limits::new();
    limits.max_hixie_frame = 300;
    let mut frame = vec![0x00];
    frame.extend_from_slice(&[b'a'; 299]);
    // A two-byte character whose second byte is the 301st payload byte.
    frame.extend_from_slice("é".as_bytes());
    frame.extend_from_slice(&[b'b'; 50]);
    frame.push(0xFF);
    for chunk in [1, 2, 150, 300, 301, 302, frame.len()] {
        assert_eq!(
            first_error(Version::Hixie76, limits, &frame, chunk),
            Some(Error::Protocol(ProtocolError::HixieFrameTooLarge {
                limit: 300
            })),
            "chunks of {chunk}"
        );
    }
}

/// The first handshake error a connection reports when `input` arrives in chunks of `chunk`.
fn handshake_error<R: wsmachine::KeySource>(
    conn: &mut Connection<Vec<u8>, R>,
    input: &[u8],
    chunk: usize,
) -> Option<Error> {
    for piece in input.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let n = conn.receive(rest);
            rest = &rest[n..];
            match conn.poll_event() {
                Err(e) => return Some(e),
                Ok(Some(event)) => panic!("unexpected {event:?}"),
                Ok(None) if n == 0 => return None,
                Ok(None) => {}
            }
        }
    }
    None
}

/// A head that passes `max_handshake_bytes` and turns malformed only after the limit was
/// reported as malformed when it arrived whole and as too large when it arrived in pieces
/// (found by the `chunking` target). Only the bytes within the limit count, in both roles.
#[test]
fn a_head_malformed_after_the_limit_is_too_large_however_it_is_chunked() {
    let mut config = Config::default();
    config.limits.max_handshake_bytes = 160;
    let pad = "a".repeat(200);
    let request = format!("GET /chat HTTP/1.1\r\nHost: example.com\r\nX-Pad: {pad}\r\x01\r\n\r\n");
    let response = format!("HTTP/1.1 101 Switching Protocols\r\nX-Pad: {pad}\r\x01\r\n\r\n");
    for chunk in [1, 10, 159, 161, 1000] {
        let mut server = Connection::server(config);
        assert_eq!(
            handshake_error(&mut server, request.as_bytes(), chunk),
            Some(Error::Handshake(wsmachine::HandshakeError::TooLarge)),
            "server, chunks of {chunk}"
        );
        let request = wsmachine::ClientRequest::new("example.com", "/chat");
        let mut client =
            Connection::client(&request, config, |b: &mut [u8]| b.fill(7)).expect("request");
        assert_eq!(
            handshake_error(&mut client, response.as_bytes(), chunk),
            Some(Error::Handshake(wsmachine::HandshakeError::TooLarge)),
            "client, chunks of {chunk}"
        );
    }
}

/// A length prefix made of leading zero groups never grew the length past the limit, so it
/// waited in the input until the input was full, and then the connection took no more bytes
/// and reported nothing (found by the `frames` target with `max_hixie_frame` 20). It is now
/// refused at its tenth group however it arrives.
#[test]
fn hixie_length_prefix_of_endless_zero_groups_is_refused_not_stalled() {
    let mut limits = Limits::new();
    limits.max_hixie_frame = 20;
    let mut frame = vec![0xFF];
    frame.extend_from_slice(&[0x80; 300]);
    frame.push(0x00);
    for version in [Version::Hixie75, Version::Hixie76] {
        for chunk in [1, 3, 10, 11, 64, frame.len()] {
            assert_eq!(
                first_error(version, limits, &frame, chunk),
                Some(Error::Protocol(ProtocolError::HixieLengthTooLong)),
                "{version}, chunks of {chunk}"
            );
        }
    }
}
