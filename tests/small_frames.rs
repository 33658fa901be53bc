//! Small whole frames take a shorter path than the general decoder, and small text is moved
//! to a word-aligned place while it is unmasked. Whatever the place of a frame in the input,
//! the events must be the payloads sent, invalid text must still fail with 1007, and the
//! frames after it must be untouched.

use wsmachine::{Buffers, Config, Connection, Error, Event, ProtocolError, Version};

mod common;

/// Decodes `wire` in one piece on a connection over caller-owned buffers; records payloads,
/// and the error and close code if the peer violated the protocol.
fn decode(wire: &[u8], input: &mut [u8]) -> (Vec<(bool, Vec<u8>)>, Option<ProtocolError>) {
    let mut output = [0u8; 256];
    let mut message = [0u8; 0];
    let mut conn = Connection::framed_server_with(
        Version::Hybi13,
        Config::default(),
        Buffers {
            input,
            output: &mut output,
            message: &mut message,
        },
    );
    assert_eq!(conn.receive(wire), wire.len());
    let mut got = Vec::new();
    loop {
        match conn.poll_event() {
            Ok(Some(Event::Text(t))) => got.push((true, t.as_bytes().to_vec())),
            Ok(Some(Event::Binary(b))) => got.push((false, b.to_vec())),
            Ok(None) => return (got, None),
            Ok(Some(other)) => panic!("unexpected event {other:?}"),
            Err(Error::Protocol(e)) => {
                // The peer reads a close frame with 1007 (RFC 6455 §7.4.1).
                let out = conn.pending_output();
                assert_eq!(out[..2], [0x88, 0x02]);
                assert_eq!(u16::from_be_bytes([out[2], out[3]]), 1007,);
                return (got, Some(e));
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

#[test]
fn small_frames_decode_alike_at_every_alignment() {
    let mut input = vec![0u8; 4096];
    for len in 0..=125 {
        for lead in 0..16 {
            // A binary frame of `lead` bytes first puts the text at every address modulo 8.
            let before = vec![0xA5; lead];
            let payload = common::text_of(len).into_bytes();
            let after = common::text_of(len / 2).into_bytes();
            let mut wire = common::client_frame(0x82, &before, [1, 2, 3, lead as u8]);
            wire.extend(common::client_frame(
                0x81,
                &payload,
                [0x37, 0xfa, 0x21, 0x3d],
            ));
            wire.extend(common::client_frame(0x81, &after, [9, 8, 7, 6]));
            let (got, error) = decode(&wire, &mut input);
            assert_eq!(error, None, "len {len} lead {lead}");
            assert_eq!(
                got,
                vec![(false, before), (true, payload), (true, after)],
                "len {len} lead {lead}"
            );
        }
    }
}

#[test]
fn invalid_small_text_fails_at_every_alignment() {
    let mut input = vec![0u8; 4096];
    for len in 1..=125 {
        for lead in 0..16 {
            let before = vec![0x5A; lead];
            let mut payload = common::text_of(len).into_bytes();
            // 0xFF never occurs in UTF-8 (RFC 3629 §1); placed somewhere along the text.
            let at = (lead * 7) % len;
            payload[at] = 0xFF;
            let mut wire = common::client_frame(0x82, &before, [4, 3, 2, 1]);
            wire.extend(common::client_frame(
                0x81,
                &payload,
                [0x37, 0xfa, 0x21, 0x3d],
            ));
            let (got, error) = decode(&wire, &mut input);
            assert_eq!(got, vec![(false, before)], "len {len} lead {lead}");
            assert_eq!(
                error,
                Some(ProtocolError::InvalidUtf8),
                "len {len} lead {lead}"
            );
        }
    }
}
