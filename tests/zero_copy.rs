//! Payloads are handed out as slices of the connection's own buffers, not as copies: a whole
//! frame's payload lies in the input, unmasked where it arrived; a fragmented message lies in
//! the reassembly buffer, its one copy.

use std::ops::Range;

use wsmachine::{Buffers, Config, Connection, Event, Version};

mod common;

fn addresses(buf: &[u8]) -> Range<usize> {
    let start = buf.as_ptr() as usize;
    start..start + buf.len()
}

fn lies_in(payload: &[u8], buffer: &Range<usize>) -> bool {
    let p = addresses(payload);
    buffer.start <= p.start && p.end <= buffer.end
}

#[test]
fn payloads_are_slices_of_the_input_and_fragmented_messages_of_the_message_buffer() {
    let (mut input, mut output, mut message) = ([0u8; 8192], [0u8; 256], [0u8; 4096]);
    let (input_at, message_at) = (addresses(&input), addresses(&message));
    let mut conn = Connection::framed_server_with(
        Version::Hybi13,
        Config::default(),
        Buffers {
            input: &mut input[..],
            output: &mut output[..],
            message: &mut message[..],
        },
    );
    let small = common::text_of(40);
    let large: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let mut wire = common::client_frame(0x81, small.as_bytes(), [1, 2, 3, 4]);
    // Long enough to be unmasked while `receive` copies it in.
    wire.extend(common::client_frame(0x82, &large, [5, 6, 7, 8]));
    wire.extend(common::client_frame(0x01, b"frag", [9, 9, 9, 9]));
    wire.extend(common::client_frame(0x80, b"mented", [3, 3, 3, 3]));
    assert_eq!(conn.receive(&wire), wire.len());

    match conn.poll_event() {
        Ok(Some(Event::Text(text))) => {
            assert_eq!(text, small);
            assert!(lies_in(text.as_bytes(), &input_at), "small text copied out");
        }
        other => panic!("{other:?}"),
    }
    match conn.poll_event() {
        Ok(Some(Event::Binary(data))) => {
            assert_eq!(data, large);
            assert!(lies_in(data, &input_at), "large binary copied out");
        }
        other => panic!("{other:?}"),
    }
    match conn.poll_event() {
        Ok(Some(Event::Text(text))) => {
            assert_eq!(text, "fragmented");
            assert!(
                lies_in(text.as_bytes(), &message_at),
                "not in the message buffer"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.poll_event(), Ok(None));
}
