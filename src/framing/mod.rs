//! Framing: one decoder and encoder per version family, behind one enum (static dispatch, no
//! trait objects, so it works without alloc).
//!
//! - [`hybi`]: RFC 6455 §5 frames (hybi-07, hybi-08 and RFC 6455 share the format).
//! - [`hixie`]: hixie-75/76 §4.2 frames: `0x00 text 0xFF`, length-prefixed frames, and
//!   hixie-76's `0xFF 0x00` closing frame.
//!
//! Decoders work in place on the connection's input: they unmask and validate payload bytes as
//! they arrive (so invalid text fails before the frame ends) and report a complete frame as a
//! range of the input, which the connection hands out without copying.

pub(crate) mod hixie;
pub(crate) mod hybi;

use core::ops::Range;

use crate::connection::Role;
use crate::error::ProtocolError;
use crate::utf8::Utf8Validator;
use crate::version::Version;

/// A frame's type as the connection handles it; hixie text frames decode as `Text` and the
/// hixie-76 closing frame as `Close`. Each value is its RFC 6455 §5.2 opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum OpCode {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

impl OpCode {
    /// Control opcodes are those with the high bit of the four set (RFC 6455 §5.5).
    #[inline(always)]
    pub(crate) const fn is_control(self) -> bool {
        self as u8 & 0x8 != 0
    }

    #[inline(always)]
    pub(crate) const fn bits(self) -> u8 {
        self as u8
    }
}

/// The rules a frame header is checked against: the role, the limits, and the message around
/// the frame.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    pub(crate) role: Role,
    pub(crate) max_frame_payload: usize,
    pub(crate) max_message_size: usize,
    pub(crate) max_hixie_frame: usize,
    /// The most input the connection can hold at once.
    pub(crate) input_capacity: usize,
    /// The kind of the fragmented message in progress, if any: `Some(true)` for text.
    pub(crate) message_is_text: Option<bool>,
    /// Payload bytes of that message received so far.
    pub(crate) message_len: usize,
    /// permessage-deflate was agreed: RSV1 marks a compressed message's first frame.
    pub(crate) compression: bool,
    /// The fragmented message in progress is compressed.
    pub(crate) message_compressed: bool,
}

/// What the decoder needs: the rules, and the text validator of the message in progress.
pub(crate) struct Context<'v> {
    pub(crate) rules: Rules,
    pub(crate) utf8: &'v mut Utf8Validator,
}

/// A complete frame, its payload unmasked in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) opcode: OpCode,
    pub(crate) fin: bool,
    /// The frame belongs to a compressed message (RFC 7692 §6): its payload is deflated.
    pub(crate) compressed: bool,
    /// The payload, as a range of the input.
    pub(crate) payload: Range<usize>,
    /// Bytes of input the frame occupies.
    pub(crate) total: usize,
    /// Whether the payload was fed to the context's validator (it arrived in pieces, or it is
    /// part of a fragmented text message); otherwise it is text still to be validated whole.
    pub(crate) fed_to_validator: bool,
}

/// The result of one decoding step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// More input is needed.
    Partial,
    /// These leading bytes were read and carry nothing to report (a skipped hixie frame).
    Discard(usize),
    /// A complete frame.
    Frame(Frame),
}

/// The decoder of a connection's version family.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Decoder {
    Hybi(hybi::Decoder),
    Hixie(hixie::Decoder),
}

impl Decoder {
    pub(crate) fn for_version(version: Version) -> Self {
        if version.is_hixie() {
            Decoder::Hixie(hixie::Decoder::new(version == Version::Hixie76))
        } else {
            Decoder::Hybi(hybi::Decoder::default())
        }
    }

    #[inline]
    pub(crate) fn step(
        &mut self,
        input: &mut [u8],
        cx: Context<'_>,
    ) -> Result<Decoded, ProtocolError> {
        match self {
            Decoder::Hybi(d) => d.step(input, cx),
            Decoder::Hixie(d) => d.step(input, cx),
        }
    }
}
