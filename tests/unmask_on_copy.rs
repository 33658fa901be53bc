//! Large masked payloads are unmasked while `receive` copies them in; whatever the chunking,
//! the events must be the ones of a byte-by-byte reference decoding, and invalid text must still
//! fail.

use wsmachine::{Config, Connection, Event, ProtocolError, Version};

mod common;

/// A masked frame, final or not, with the given opcode.
fn masked_frame(opcode: u8, fin: bool, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    common::client_frame((u8::from(fin) << 7) | opcode, payload, key)
}

/// Feeds `wire` in pieces of the given sizes (cycled) and records every event.
fn decode(wire: &[u8], pieces: &[usize]) -> Vec<Result<(bool, Vec<u8>), ProtocolError>> {
    let mut conn = Connection::framed_server(Version::Hybi13, Config::default());
    let mut events = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let size = pieces[i % pieces.len()].min(rest.len());
        i += 1;
        let n = conn.receive(&rest[..size]);
        assert_eq!(n, size, "growable input takes everything");
        rest = &rest[n..];
        loop {
            match conn.poll_event() {
                Ok(Some(Event::Text(t))) => events.push(Ok((true, t.as_bytes().to_vec()))),
                Ok(Some(Event::Binary(b))) => events.push(Ok((false, b.to_vec()))),
                Ok(Some(Event::Close(_))) => return events,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(wsmachine::Error::Protocol(e)) => events.push(Err(e)),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }
    events
}

#[test]
fn any_chunking_gives_the_same_events_as_byte_by_byte() {
    let text: String = "Grüße, κόσμε, 日本語 😀 ".repeat(60);
    let binary: Vec<u8> = (0..3000u32).map(|i| (i * 31 + 7) as u8).collect();
    let mut wire = masked_frame(0x1, true, text.as_bytes(), [1, 2, 3, 4]);
    wire.extend(masked_frame(0x2, true, &binary, [0x37, 0xfa, 0x21, 0x3d]));
    // A fragmented text message whose pieces are large, split inside a character.
    let split = 1001;
    assert!(
        !text.is_char_boundary(split),
        "the split must cut a character"
    );
    wire.extend(masked_frame(
        0x1,
        false,
        &text.as_bytes()[..split],
        [9, 8, 7, 6],
    ));
    wire.extend(masked_frame(
        0x0,
        true,
        &text.as_bytes()[split..],
        [5, 5, 5, 5],
    ));
    wire.extend(masked_frame(0x2, true, b"small", [1, 1, 1, 1]));

    let reference = decode(&wire, &[1]);
    let expected = vec![
        Ok((true, text.as_bytes().to_vec())),
        Ok((false, binary.clone())),
        Ok((true, text.as_bytes().to_vec())),
        Ok((false, b"small".to_vec())),
    ];
    assert_eq!(reference, expected);
    for pieces in [
        &[wire.len()][..],
        &[3],
        &[600],
        &[1, 4000],
        &[2, 513, 7],
        &[4096],
        &[700, 1, 1, 9000],
    ] {
        assert_eq!(decode(&wire, pieces), expected, "pieces {pieces:?}");
    }
}

#[test]
fn invalid_text_in_a_large_frame_still_fails() {
    let mut payload = "a".repeat(2000).into_bytes();
    payload[1500] = 0xFF;
    let wire = masked_frame(0x1, true, &payload, [3, 1, 4, 1]);
    for pieces in [&[wire.len()][..], &[1], &[1000, 2000]] {
        let events = decode(&wire, pieces);
        assert_eq!(
            events,
            vec![Err(ProtocolError::InvalidUtf8)],
            "pieces {pieces:?}"
        );
    }
}
