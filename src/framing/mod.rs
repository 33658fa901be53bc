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
use crate::limits::Limits;
use crate::utf8::Utf8Validator;
use crate::version::Version;

/// A frame's type as the connection handles it; hixie text frames decode as `Text` and the
/// hixie-76 closing frame as `Close`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    pub(crate) fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }

    pub(crate) fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }
}

/// What the decoder needs to know about the message around the current frame.
pub(crate) struct Context<'v> {
    pub(crate) role: Role,
    pub(crate) limits: &'v Limits,
    /// The most input the connection can hold at once.
    pub(crate) input_capacity: usize,
    /// The kind of the fragmented message in progress, if any: `Some(true)` for text.
    pub(crate) message_is_text: Option<bool>,
    /// Payload bytes of that message received so far.
    pub(crate) message_len: usize,
    /// The text validator of the message in progress.
    pub(crate) utf8: &'v mut Utf8Validator,
}

/// A complete frame, its payload unmasked in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) opcode: OpCode,
    pub(crate) fin: bool,
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
            Decoder::Hixie(hixie::Decoder::default())
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
