//! RFC 6455 §5.2 frames, as hybi-07, hybi-08 and RFC 6455 send them.
//!
//! ```text
//!  0 1 2 3 4 5 6 7 8 9 A B C D E F
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |   ...   Masking-key (0 or 4 bytes)  |   Payload data ...      |
//! ```
//!
//! Every header rule is checked before any payload is buffered: reserved bits and opcodes,
//! masking by role (§5.1), control frames short and final (§5.5), continuation order (§5.4),
//! and the frame and message limits.

use super::{Context, Decoded, Frame, OpCode, Rules};
use crate::buffer::{ByteQueue, Storage};
use crate::connection::Role;
use crate::error::{ProtocolError, UsageError};
use crate::mask;
use crate::utf8;
use core::ops::Range;

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fin: bool,
    /// RSV1 on the first frame of a message: the message is compressed (RFC 7692 §6).
    pub(crate) compressed: bool,
    pub(crate) opcode: OpCode,
    pub(crate) mask: Option<[u8; 4]>,
    pub(crate) payload_len: usize,
    pub(crate) header_len: usize,
}

/// The opcode of each of the 16 values of a header's low nibble; `None` for the reserved ones
/// (RFC 6455 §5.2). One load per frame instead of a chain of compares.
const OPCODES: [Option<OpCode>; 16] = {
    let mut table = [None; 16];
    table[0x0] = Some(OpCode::Continuation);
    table[0x1] = Some(OpCode::Text);
    table[0x2] = Some(OpCode::Binary);
    table[0x8] = Some(OpCode::Close);
    table[0x9] = Some(OpCode::Ping);
    table[0xA] = Some(OpCode::Pong);
    table
};

/// What a header's first byte says: the opcode and whether the message is compressed, or the
/// first rule it breaks: reserved bits (RFC 6455 §5.2; RSV1 only on the first frame of a
/// compressed message once permessage-deflate was agreed, RFC 7692 §6.1), reserved opcodes
/// (§5.2), fragmented control frames (§5.5).
#[inline(always)]
fn first_byte(b0: u8, compression: bool) -> Result<(OpCode, bool), ProtocolError> {
    let compressed = compression && b0 & 0x70 == 0x40;
    if b0 & 0x70 != 0 && !compressed {
        return Err(ProtocolError::ReservedBits);
    }
    let Some(opcode) = OPCODES[(b0 & 0x0F) as usize] else {
        return Err(ProtocolError::ReservedOpcode(b0 & 0x0F));
    };
    if opcode.is_control() && b0 & 0x80 == 0 && !compressed {
        return Err(ProtocolError::FragmentedControl);
    }
    if compressed && !matches!(opcode, OpCode::Text | OpCode::Binary) {
        return Err(ProtocolError::ReservedBits);
    }
    Ok((opcode, compressed))
}

/// Parses and checks the header at the start of `buf`; `Ok(None)` if it is incomplete. Each
/// rule is a function of its own ([`first_byte`], [`check_masking`], [`check_size`]), which the
/// small-frame path calls too.
#[inline(always)]
pub(crate) fn parse_header(buf: &[u8], cx: &Rules) -> Result<Option<Header>, ProtocolError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    let (opcode, compressed) = first_byte(b0, cx.compression)?;
    let fin = b0 & 0x80 != 0;
    let masked = b1 & 0x80 != 0;
    check_masking(masked, cx.role)?;
    let short_len = b1 & 0x7F;
    let control = opcode.is_control();
    if !control && (opcode == OpCode::Continuation) != cx.message_is_text.is_some() {
        return Err(if opcode == OpCode::Continuation {
            ProtocolError::UnexpectedContinuation
        } else {
            ProtocolError::ExpectedContinuation
        });
    }
    let mask_len = if masked { 4 } else { 0 };
    let (payload_len, header_len) = if short_len < 126 {
        (usize::from(short_len), 2 + mask_len)
    } else {
        let header_len = if short_len == 126 { 4 } else { 10 } + mask_len;
        if buf.len() < header_len {
            return Ok(None);
        }
        (extended_length(buf, cx.max_frame_payload)?, header_len)
    };
    if buf.len() < header_len {
        return Ok(None);
    }
    if control && payload_len > 125 {
        return Err(ProtocolError::ControlTooLong);
    }
    // A compressed message is held to the message limit by its inflated size, as it inflates
    // (RFC 7692 §8.1); its compressed length says nothing about that size.
    let of_compressed = compressed || opcode == OpCode::Continuation && cx.message_compressed;
    check_size(header_len, payload_len, !(control || of_compressed), cx)?;
    let mask = if masked {
        let at = header_len - 4;
        Some([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
    } else {
        None
    };
    Ok(Some(Header {
        fin,
        compressed,
        opcode,
        mask,
        payload_len,
        header_len,
    }))
}

/// RFC 6455 §5.1: a client masks every frame, a server none.
#[inline(always)]
fn check_masking(masked: bool, role: Role) -> Result<(), ProtocolError> {
    match (masked, role) {
        (false, Role::Server) => Err(ProtocolError::UnmaskedFrame),
        (true, Role::Client) => Err(ProtocolError::MaskedFrame),
        _ => Ok(()),
    }
}

/// The limits a frame's size is held to before any of its payload is kept: the frame limit,
/// the input's room for the whole frame, and, when `counted` (a frame of an uncompressed data
/// message), the message limit.
#[inline(always)]
fn check_size(
    header_len: usize,
    payload_len: usize,
    counted: bool,
    cx: &Rules,
) -> Result<(), ProtocolError> {
    if payload_len > cx.max_frame_payload {
        return Err(ProtocolError::FrameTooLarge {
            limit: cx.max_frame_payload,
        });
    }
    if header_len + payload_len > cx.input_capacity {
        return Err(ProtocolError::FrameTooLarge {
            limit: cx.input_capacity.saturating_sub(header_len),
        });
    }
    if counted && cx.message_len.saturating_add(payload_len) > cx.max_message_size {
        return Err(ProtocolError::MessageTooLarge {
            limit: cx.max_message_size,
        });
    }
    Ok(())
}

/// The 16- or 64-bit payload length of a header whose 7-bit length is 126 or 127, and whose
/// length bytes are in `buf`. RFC 6455 §5.2 asks for "the minimal number of bytes" to encode a
/// length, and a longer encoding is refused, for every frame alike: a length that fits the
/// shorter form is a violation whether the frame carries data or control.
fn extended_length(buf: &[u8], limit: usize) -> Result<usize, ProtocolError> {
    let (len, shortest) = if buf[1] & 0x7F == 126 {
        (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 126)
    } else {
        let mut be = [0u8; 8];
        be.copy_from_slice(&buf[2..10]);
        let len = u64::from_be_bytes(be);
        if len >> 63 != 0 {
            return Err(ProtocolError::InvalidLength);
        }
        (len, 0x1_0000)
    };
    if len < shortest {
        return Err(ProtocolError::NonMinimalLength);
    }
    usize::try_from(len).map_err(|_| ProtocolError::FrameTooLarge { limit })
}

/// Small text payloads at least this long are moved to a word-aligned start when unmasked
/// (see [`Decoder::step_small`]); shorter ones never reach `from_utf8`'s word-wise loop.
const SMALL_TEXT_ALIGNED_FROM: usize = 16;

/// A whole small frame found by [`Decoder::step_small`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SmallFrame {
    pub(crate) is_text: bool,
    /// Where the unmasked payload is: not always right after the header.
    pub(crate) payload: Range<usize>,
    /// The frame's length: the input it uses up.
    pub(crate) total: usize,
}

/// Payloads at least this long are unmasked while they are copied in by
/// [`Decoder::copy_in`]; shorter ones are not worth parsing the header early.
const UNMASK_ON_COPY_MIN: usize = 512;

/// The frame being received: its header and how many payload bytes were processed
/// (unmasked, and validated if they are text fed piece by piece).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Decoder {
    current: Option<(Kept, u32)>,
    /// Payload bytes of the current frame already unmasked (at least the processed ones):
    /// [`Decoder::copy_in`] unmasks ahead of [`Decoder::step`].
    unmasked: u32,
}

/// A [`Header`] as the decoder keeps it between calls, in 12 bytes instead of 24: lengths fit
/// 32 bits because the limits stop at 4 GiB - 1.
#[derive(Clone, Copy, Debug)]
struct Kept {
    fin: bool,
    compressed: bool,
    opcode: OpCode,
    header_len: u8,
    mask: Option<[u8; 4]>,
    payload_len: u32,
}

impl Kept {
    fn new(h: Header) -> Self {
        Kept {
            fin: h.fin,
            compressed: h.compressed,
            opcode: h.opcode,
            header_len: h.header_len as u8,
            mask: h.mask,
            payload_len: h.payload_len as u32,
        }
    }

    fn header(self) -> Header {
        Header {
            fin: self.fin,
            compressed: self.compressed,
            opcode: self.opcode,
            mask: self.mask,
            payload_len: self.payload_len as usize,
            header_len: usize::from(self.header_len),
        }
    }
}

impl Decoder {
    /// Copies `data` into `dst`, the free space right after the `queued` bytes of input, and
    /// returns how many bytes were copied. When the queue holds nothing but the frame being
    /// received, its masked payload is unmasked on the way: one pass over a large payload
    /// instead of a copy and then an unmasking pass. A header that fails its checks is left
    /// for [`Decoder::step`] to report.
    pub(crate) fn copy_in(
        &mut self,
        queued: usize,
        dst: &mut [u8],
        data: &[u8],
        cx: &Rules,
    ) -> usize {
        let n = dst.len().min(data.len());
        let (dst, data) = (&mut dst[..n], &data[..n]);
        let mut at = 0;
        if self.current.is_none() && queued == 0 && n > UNMASK_ON_COPY_MIN {
            if let Ok(Some(header)) = parse_header(data, cx) {
                if header.mask.is_some() && header.payload_len >= UNMASK_ON_COPY_MIN {
                    at = header.header_len;
                    dst[..at].copy_from_slice(&data[..at]);
                    self.current = Some((Kept::new(header), 0));
                    self.unmasked = 0;
                }
            }
        }
        if let Some((kept, _)) = self.current {
            let header = kept.header();
            let unmasked = self.unmasked as usize;
            // Every queued payload byte is unmasked, so the next byte is payload byte
            // `unmasked`; otherwise `step` unmasks in place as usual.
            if let (Some(key), true) = (header.mask, queued + at == header.header_len + unmasked) {
                let k = (header.payload_len - unmasked).min(n - at);
                mask::copy_masked(&mut dst[at..at + k], &data[at..at + k], key, unmasked);
                self.unmasked += k as u32;
                at += k;
            }
        }
        dst[at..].copy_from_slice(&data[at..]);
        n
    }

    /// The common small message: a whole final text or binary frame of at most 125 bytes at
    /// the front of `input`, when no frame is in progress, unmasked in place. `None` for
    /// anything else, and for headers that fail their checks, which [`Decoder::step`] decodes
    /// (and reports) as usual. Its header is held to the rules [`parse_header`] applies, by the
    /// same rule functions.
    #[inline(always)]
    pub(crate) fn step_small(&mut self, input: &mut [u8], rules: Rules) -> Option<SmallFrame> {
        if self.current.is_some() {
            return None;
        }
        // Which frames this path takes: final text or binary (no reserved bit, so the first
        // byte's rules hold) with a one-byte length.
        let [b0 @ (0x81 | 0x82), b1, ..] = *input else {
            return None;
        };
        if b1 & 0x7F > 125 {
            return None;
        }
        // No fragmented message is in progress (the caller's condition), so the message-order
        // rules hold too; the others are checked by the rule functions `parse_header` uses,
        // and a frame breaking one is left to `step` to report.
        let is_text = b0 == 0x81;
        let masked = b1 & 0x80 != 0;
        check_masking(masked, rules.role).ok()?;
        let len = usize::from(b1 & 0x7F);
        let header_len = if masked { 6 } else { 2 };
        check_size(header_len, len, true, &rules).ok()?;
        let total = header_len + len;
        if input.len() < total {
            return None;
        }
        let mut start = header_len;
        if masked {
            let mut key = [0u8; 4];
            key.copy_from_slice(&input[2..6]);
            // `core::str::from_utf8` checks ASCII two words at a time only from a word-aligned
            // start, and byte by byte otherwise (about 2.5 times the instructions for 16 bytes).
            // The header is not needed once read, so the text is unmasked into it, moved back
            // to the nearest aligned address when that is at most the header's length away.
            if is_text && (SMALL_TEXT_ALIGNED_FROM..utf8::CORE_BELOW).contains(&len) {
                let misaligned = (input.as_ptr() as usize + header_len) % 8;
                if misaligned <= header_len {
                    start = header_len - misaligned;
                }
            }
            mask::unmask_into(&mut input[..total], header_len, start, key);
        }
        Some(SmallFrame {
            is_text,
            payload: start..start + len,
            total,
        })
    }

    pub(crate) fn step(
        &mut self,
        input: &mut [u8],
        cx: Context<'_>,
    ) -> Result<Decoded, ProtocolError> {
        let (header, processed, unmasked) = match self.current {
            Some((kept, processed)) => {
                let unmasked = self.unmasked.max(processed) as usize;
                (kept.header(), processed as usize, unmasked)
            }
            None => match parse_header(input, &cx.rules)? {
                Some(header) => (header, 0, 0),
                None => return Ok(Decoded::Partial),
            },
        };
        let start = header.header_len;
        let available = (input.len() - start).min(header.payload_len);
        let complete = available == header.payload_len;
        // A compressed message's text is validated once inflated, not here.
        let compressed = header.compressed
            || (header.opcode == OpCode::Continuation && cx.rules.message_compressed);
        let is_text = !compressed
            && match header.opcode {
                OpCode::Text => true,
                OpCode::Continuation => cx.rules.message_is_text == Some(true),
                _ => false,
            };
        // A whole single-frame text message is validated once, when it is handed out; text
        // arriving in pieces is validated piece by piece, to fail as early as possible.
        let single_whole =
            processed == 0 && complete && header.fin && cx.rules.message_is_text.is_none();
        let feed = is_text && !single_whole;
        if available > unmasked {
            if let Some(key) = header.mask {
                mask::apply_mask(
                    &mut input[start + unmasked..start + available],
                    key,
                    unmasked,
                );
            }
        }
        if feed && available > processed {
            cx.utf8
                .feed(&input[start + processed..start + available])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if !complete {
            // `available < payload_len`, which fits 32 bits.
            self.current = Some((Kept::new(header), available as u32));
            self.unmasked = available as u32;
            return Ok(Decoded::Partial);
        }
        self.current = None;
        self.unmasked = 0;
        Ok(Decoded::Frame(Frame {
            opcode: header.opcode,
            fin: header.fin,
            compressed,
            payload: start..start + header.payload_len,
            total: start + header.payload_len,
            fed_to_validator: feed,
        }))
    }
}

/// The length of the header of a frame with this payload length (at most 14 bytes).
#[inline]
fn header_len(len: usize, masked: bool) -> usize {
    let base = if len < 126 {
        2
    } else if len <= usize::from(u16::MAX) {
        4
    } else {
        10
    };
    if masked {
        base + 4
    } else {
        base
    }
}

/// Writes the header of a frame with this payload length into `head`, which is exactly
/// [`header_len`] bytes: straight into the output, so no temporary is copied (and re-read)
/// per frame.
#[inline]
fn write_header(
    head: &mut [u8],
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    len: usize,
    mask: Option<[u8; 4]>,
) {
    head[0] = (u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode.bits();
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let n = if len < 126 {
        head[1] = mask_bit | len as u8;
        2
    } else if let Ok(len16) = u16::try_from(len) {
        head[1] = mask_bit | 126;
        head[2..4].copy_from_slice(&len16.to_be_bytes());
        4
    } else {
        head[1] = mask_bit | 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    if let Some(key) = mask {
        head[n..n + 4].copy_from_slice(&key);
    }
}

/// Writes a whole frame into `buf`, which is exactly its length: the header, then the payload,
/// masked with `mask` (clients) while it is copied. The one frame layout every send uses.
#[inline(always)]
fn fill_frame(
    buf: &mut [u8],
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let (head, body) = buf.split_at_mut(buf.len() - payload.len());
    write_header(head, opcode, fin, rsv1, payload.len(), mask);
    match mask {
        Some(key) => mask::copy_masked(body, payload, key, 0),
        None => crate::buffer::copy_short(body, payload),
    }
}

/// Queues a whole frame, masking the payload with `mask` (clients) while copying it, with RSV1
/// set for the first frame of a compressed message; queues nothing if it does not fit.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_frame<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    opcode: OpCode,
    fin: bool,
    rsv1: bool,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Result<(), UsageError> {
    let required = header_len(payload.len(), mask.is_some()) + payload.len();
    let buf = out.append_output(required, max_len)?;
    fill_frame(buf, opcode, fin, rsv1, payload, mask);
    Ok(())
}

/// Queues only the header of an unmasked final frame whose `len`-byte payload the caller
/// writes itself, right after it.
pub(crate) fn write_header_only<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    opcode: OpCode,
    len: usize,
) -> Result<(), UsageError> {
    let head = out.append_output(header_len(len, false), max_len)?;
    write_header(head, opcode, true, false, len, None);
    Ok(())
}

/// [`write_frame`] for what is sent most: a final frame of at most 125 bytes that fits the
/// output as it stands, with no compacting or growing. Small enough to inline into the send
/// calls; false, with nothing queued, when any of that does not hold, and `write_frame` takes
/// over. A client's key is asked for once the frame is known to fit, so that a frame left to
/// `write_frame` takes exactly one key, there; and before anything is queued, so that an
/// entropy source that panics leaves the queue as it was.
#[inline(always)]
pub(crate) fn write_short<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    opcode: OpCode,
    payload: &[u8],
    key: Option<impl FnOnce() -> [u8; 4]>,
) -> bool {
    let len = payload.len();
    if len > 125 {
        return false;
    }
    let required = if key.is_some() { 6 + len } else { 2 + len };
    if !out.fits_in_place(required, max_len) {
        return false;
    }
    let mask = key.map(|key| key());
    // Fits: the key cannot have changed the queue.
    let Some(buf) = out.append_in_place(required, max_len) else {
        return false;
    };
    fill_frame(buf, opcode, true, false, payload, mask);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_header(
        opcode: OpCode,
        fin: bool,
        len: usize,
        mask: Option<[u8; 4]>,
    ) -> ([u8; 14], usize) {
        let mut h = [0u8; 14];
        let n = header_len(len, mask.is_some());
        write_header(&mut h[..n], opcode, fin, false, len, mask);
        (h, n)
    }

    #[test]
    fn headers_use_the_shortest_length_encoding() {
        assert_eq!(encode_header(OpCode::Text, true, 5, None).1, 2);
        assert_eq!(encode_header(OpCode::Binary, true, 125, None).1, 2);
        let (h, n) = encode_header(OpCode::Binary, true, 256, None);
        assert_eq!(&h[..n], &[0x82, 0x7E, 0x01, 0x00]);
        let (h, n) = encode_header(OpCode::Binary, true, 65536, None);
        assert_eq!(&h[..n], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        let (h, n) = encode_header(OpCode::Text, true, 5, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(&h[..n], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
    }
}
