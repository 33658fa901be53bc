//! A connection over byte slices the caller owns must be constructible from outside the crate
//! (`Buffers` is part of the public API, as the no-alloc constructors take it).

use wsmachine::{Buffers, Config, Connection, Event, Version};

#[test]
fn framed_server_over_caller_slices_decodes_and_answers() {
    let mut input = [0u8; 256];
    let mut output = [0u8; 256];
    let mut message = [0u8; 64];
    let mut conn = Connection::framed_server_with(
        Version::Hybi13,
        Config::default(),
        Buffers {
            input: &mut input[..],
            output: &mut output[..],
            message: &mut message[..],
        },
    );
    // RFC 6455 §5.7: a masked "Hello" from a client.
    let frame = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(conn.receive(&frame), frame.len());
    match conn.poll_event_with_sender() {
        Ok(Some((Event::Text(text), tx))) => {
            assert_eq!(text, "Hello");
            tx.send_text(text).unwrap();
        }
        other => panic!("expected the text event, got {other:?}"),
    }
    assert_eq!(conn.pending_output(), b"\x81\x05Hello");
}
