//! hixie-75 and hixie-76 frames (draft-hixie-thewebsocketprotocol-76 §4.2 and §5.3).
//!
//! - A type byte with the high bit clear starts a text-delimited frame ending at `0xFF`; only
//!   type `0x00` carries text for the application, other types are read and discarded.
//! - A type byte with the high bit set is followed by a length in at most 10 7-bit groups
//!   (high bit = more) and that many bytes, which are skipped as they arrive (never buffered).
//! - `0xFF 0x00` (type `0xFF`, length 0) is hixie-76's closing frame; hixie-75 has none, and skips it
//!   as a frame of length 0.
//!
//! Every frame is bounded by [`crate::Limits::max_hixie_frame`] and the input capacity.

use super::{Context, Decoded, Frame, OpCode};
use crate::buffer::{ByteQueue, Storage};
use crate::error::{ProtocolError, UsageError};

/// The longest length prefix taken: 10 groups of 7 bits hold any 64-bit length.
const MAX_LENGTH_BYTES: usize = 10;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Decoder {
    scan: Scan,
    /// hixie-76 closes with `0xFF 0x00`; hixie-75 has no closing frame, and there the same
    /// bytes are a length-prefixed frame of length 0, skipped like any other.
    closing_frame: bool,
}

/// Where the decoder is in the byte stream.
#[derive(Clone, Copy, Debug)]
enum Scan {
    Start,
    /// Inside a text-delimited frame: payload bytes already scanned for `0xFF`.
    Text {
        scanned: u32,
    },
    /// Inside a length-prefixed frame: bytes still to skip.
    Skip {
        remaining: u32,
    },
}

impl Decoder {
    /// The decoder of hixie-76 (`closing_frame`) or hixie-75.
    pub(crate) fn new(closing_frame: bool) -> Self {
        Decoder {
            scan: Scan::Start,
            closing_frame,
        }
    }

    pub(crate) fn step(
        &mut self,
        input: &mut [u8],
        cx: Context<'_>,
    ) -> Result<Decoded, ProtocolError> {
        self.scan.step(input, cx, self.closing_frame)
    }
}

impl Scan {
    fn step(
        &mut self,
        input: &mut [u8],
        cx: Context<'_>,
        closing_frame: bool,
    ) -> Result<Decoded, ProtocolError> {
        let limit = cx
            .rules
            .max_hixie_frame
            .min(cx.rules.input_capacity.saturating_sub(2));
        if let Scan::Skip { remaining } = *self {
            let remaining = remaining as usize;
            let n = remaining.min(input.len());
            if n == 0 {
                return Ok(Decoded::Partial);
            }
            *self = match remaining - n {
                0 => Scan::Start,
                // Below the limit, which fits 32 bits.
                remaining => Scan::Skip {
                    remaining: remaining as u32,
                },
            };
            return Ok(Decoded::Discard(n));
        }
        let Some(&frame_type) = input.first() else {
            return Ok(Decoded::Partial);
        };
        if frame_type & 0x80 == 0 {
            let scanned = match *self {
                Scan::Text { scanned } => scanned as usize,
                _ => 0,
            };
            let is_text = frame_type == 0x00;
            let fresh = &input[1 + scanned..];
            let found = fresh.iter().position(|&b| b == 0xFF);
            // Payload bytes seen so far: the whole frame's if its end arrived.
            let seen = found.map_or(input.len(), |i| 1 + scanned + i) - 1;
            if seen > limit {
                return Err(too_large(
                    is_text,
                    fresh,
                    limit.saturating_sub(scanned),
                    limit,
                    cx,
                ));
            }
            match found {
                Some(i) => {
                    let end = 1 + scanned + i;
                    *self = Scan::Start;
                    if !is_text {
                        return Ok(Decoded::Discard(end + 1));
                    }
                    let fed = scanned > 0;
                    if fed {
                        cx.utf8
                            .feed(&fresh[..i])
                            .map_err(|_| ProtocolError::InvalidUtf8)?;
                    }
                    Ok(Decoded::Frame(Frame {
                        opcode: OpCode::Text,
                        fin: true,
                        compressed: false,
                        payload: 1..end,
                        total: end + 1,
                        fed_to_validator: fed,
                    }))
                }
                None => {
                    if is_text {
                        cx.utf8
                            .feed(fresh)
                            .map_err(|_| ProtocolError::InvalidUtf8)?;
                    }
                    // Within the limit, which fits 32 bits.
                    *self = Scan::Text {
                        scanned: seen as u32,
                    };
                    Ok(Decoded::Partial)
                }
            }
        } else {
            let mut len: usize = 0;
            let mut at = 1;
            loop {
                let Some(&b) = input.get(at) else {
                    return Ok(Decoded::Partial);
                };
                at += 1;
                len = len
                    .checked_mul(128)
                    .and_then(|l| l.checked_add(usize::from(b & 0x7F)))
                    .filter(|&l| l <= limit)
                    .ok_or(ProtocolError::HixieFrameTooLarge { limit })?;
                if b & 0x80 == 0 {
                    break;
                }
                // Leading zero groups keep the length small: without a bound on them the
                // prefix would wait in the input until it filled, with nothing to report.
                if at - 1 == MAX_LENGTH_BYTES {
                    return Err(ProtocolError::HixieLengthTooLong);
                }
            }
            if closing_frame && frame_type == 0xFF && len == 0 {
                return Ok(Decoded::Frame(Frame {
                    opcode: OpCode::Close,
                    fin: true,
                    compressed: false,
                    payload: at..at,
                    total: at,
                    fed_to_validator: false,
                }));
            }
            if len > 0 {
                *self = Scan::Skip {
                    remaining: len as u32,
                };
            }
            Ok(Decoded::Discard(at))
        }
    }
}

/// The error of a text-delimited frame longer than `limit`, of which the first `within`
/// unscanned bytes (at the start of `fresh`) are still within the limit. Those are validated
/// first, so that the first violation in the stream is the one reported however the input was
/// chunked: invalid text before the limit is invalid text, not a frame too large.
fn too_large(
    is_text: bool,
    fresh: &[u8],
    within: usize,
    limit: usize,
    cx: Context<'_>,
) -> ProtocolError {
    if is_text && cx.utf8.feed(&fresh[..within.min(fresh.len())]).is_err() {
        return ProtocolError::InvalidUtf8;
    }
    ProtocolError::HixieFrameTooLarge { limit }
}

/// Queues `0x00 text 0xFF`; nothing if it does not fit.
pub(crate) fn write_text<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    text: &[u8],
) -> Result<(), UsageError> {
    let required = text.len() + 2;
    let buf = out.append_output(required, max_len)?;
    buf[0] = 0x00;
    buf[1..required - 1].copy_from_slice(text);
    buf[required - 1] = 0xFF;
    Ok(())
}

/// Queues hixie-76's closing frame `0xFF 0x00`.
pub(crate) fn write_close<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
) -> Result<(), UsageError> {
    out.append_output(2, max_len)?
        .copy_from_slice(&[0xFF, 0x00]);
    Ok(())
}
