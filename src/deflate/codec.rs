//! The compressor of the sending half and the decompressor of the receiving half
//! (RFC 7692 §7.2), over `miniz_oxide`.
//!
//! A message is compressed with a sync flush, and the `00 00 FF FF` that ends it is removed
//! (§7.2.1); on receipt it is put back before the message's last bytes are inflated (§7.2.2).
//! With context takeover a codec keeps its LZ77 window from message to message; without, it
//! starts afresh for each.
//!
//! Windows: the decompressor always keeps the 32 KiB window, which inflates what a compressor
//! with any smaller window produced. The compressor honours a window below 15 bits by finding
//! matches at distance 1 only (run lengths), which no window of 8 bits or more can refuse; at
//! 15 bits it searches the whole window.

use alloc::boxed::Box;
use alloc::vec::Vec;

use miniz_oxide::deflate::core::{create_comp_flags_from_zip_params, CompressorOxide};
use miniz_oxide::deflate::stream::deflate;
use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZFlush, MZStatus};

use crate::error::ProtocolError;

/// The bytes a sync flush ends with, removed from every compressed message (RFC 7692 §7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The compressed form of a message is rarely longer than this over its input (a stored
/// block's header per 64 KiB and the flush); the buffer grows beyond when it is.
const SLACK: usize = 64;

/// Compresses whole messages for the sending half.
pub(crate) struct Deflater {
    compressor: Box<CompressorOxide>,
    /// No context takeover: every message starts with an empty window.
    reset_each: bool,
    /// The last compressed message, reused from message to message.
    out: Vec<u8>,
    /// Messages shorter than this many bytes are sent uncompressed.
    threshold: usize,
}

/// `miniz_oxide`'s strategy codes, as `create_comp_flags_from_zip_params` takes them.
const STRATEGY_DEFAULT: i32 = 0;
const STRATEGY_RLE: i32 = 3;

impl Deflater {
    /// A compressor at `level` (1 to 9) whose matches stay within a window of `window_bits`.
    pub(crate) fn new(
        level: u8,
        window_bits: u8,
        no_context_takeover: bool,
        threshold: usize,
    ) -> Self {
        let (strategy, lowest) = if window_bits >= 15 {
            (STRATEGY_DEFAULT, 1)
        } else {
            // Level 1's one-probe fast path ignores the distance-1 strategy in miniz_oxide 0.9
            // and finds matches anywhere in its window: level 2 is the lowest that keeps it.
            (STRATEGY_RLE, 2)
        };
        // A negative window asks for raw deflate, with no zlib header.
        let level = i32::from(level.clamp(lowest, 9));
        let flags = create_comp_flags_from_zip_params(level, -15, strategy);
        Deflater {
            compressor: Box::new(CompressorOxide::new(flags)),
            reset_each: no_context_takeover,
            out: Vec::new(),
            threshold,
        }
    }

    /// Messages shorter than this are sent uncompressed.
    pub(crate) fn threshold(&self) -> usize {
        self.threshold
    }

    /// Forgets the window: what follows refers to nothing sent before.
    pub(crate) fn reset(&mut self) {
        self.compressor.reset();
    }

    /// Compresses one whole message; returns its payload as sent (the trailing `00 00 FF FF`
    /// removed).
    pub(crate) fn compress(&mut self, message: &[u8]) -> &[u8] {
        self.out.clear();
        let mut input = message;
        loop {
            let len = self.out.len();
            self.out.resize(len + input.len() + SLACK, 0);
            let result = deflate(
                &mut self.compressor,
                input,
                &mut self.out[len..],
                MZFlush::Sync,
            );
            input = &input[result.bytes_consumed..];
            let spare = self.out.len() - len;
            self.out.truncate(len + result.bytes_written);
            // Done when all input is in and the flush did not fill the space given.
            if input.is_empty() && result.bytes_written < spare {
                break;
            }
        }
        if self.reset_each {
            self.compressor.reset();
        }
        let end = self.out.len();
        let stripped = if self.out.ends_with(&TAIL) {
            end - TAIL.len()
        } else {
            end
        };
        &self.out[..stripped]
    }

    /// Gives back the buffer of a large message, so that one big message does not leave its
    /// size held for the life of the connection.
    pub(crate) fn shrink(&mut self) {
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
    }
}

/// Inflates messages for the receiving half.
///
/// `miniz_oxide`'s streaming decompressor keeps its window in a ring that starts zeroed, and
/// does not refuse a distance that reaches back before the first byte it produced: such a
/// reference inflates to zero bytes rather than failing. Nothing of an earlier message can be
/// read that way (the ring is zeroed whenever the context is reset), but a malformed stream
/// of that one kind is taken as zeros instead of refused.
pub(crate) struct Inflater {
    state: Box<InflateState>,
    /// No context takeover: every message starts with an empty window.
    reset_each: bool,
    /// The message's deflate stream ended with a final block (BFINAL, RFC 7692 §7.2.3.4): the
    /// rest of the message is not deflate data, and the next message starts a new stream.
    ended: bool,
}

impl Inflater {
    pub(crate) fn new(no_context_takeover: bool) -> Self {
        Inflater {
            state: InflateState::new_boxed(DataFormat::Raw),
            reset_each: no_context_takeover,
            ended: false,
        }
    }

    /// Inflates `input`, a piece of a compressed message (and, when `last`, the `00 00 FF FF`
    /// the sender removed), into `out` as it is produced: never more than `out` has room for,
    /// so that inflating stops at the limit instead of after it.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::InvalidCompressedData`] for data that does not inflate;
    /// `out.too_large()` past the limit; `out.commit`'s own.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut dyn InflateSink,
    ) -> Result<(), ProtocolError> {
        if !self.ended {
            self.inflate_piece(input, out)?;
        }
        if last {
            if !self.ended {
                self.inflate_piece(&TAIL, out)?;
            }
            // A stream that ended cannot go on: the next message is a new one (which, from a
            // compressor that ended its stream, refers to nothing before it).
            if self.reset_each || self.ended {
                self.state.reset(DataFormat::Raw);
            }
            self.ended = false;
        }
        Ok(())
    }

    fn inflate_piece(
        &mut self,
        mut input: &[u8],
        out: &mut dyn InflateSink,
    ) -> Result<(), ProtocolError> {
        loop {
            let mut probe = [0u8; 1];
            let spare = out.spare();
            // At the limit, a one-byte probe tells a message that ends there from one that
            // would go past it, without holding more than the limit.
            let at_limit = spare.is_empty();
            let spare = if at_limit { &mut probe[..] } else { spare };
            let size = spare.len();
            let result = inflate(&mut self.state, input, spare, MZFlush::Sync);
            input = &input[result.bytes_consumed..];
            if at_limit && result.bytes_written > 0 {
                return Err(out.too_large());
            }
            out.commit(result.bytes_written)?;
            match result.status {
                Ok(MZStatus::StreamEnd) => {
                    self.ended = true;
                    return Ok(());
                }
                Ok(MZStatus::Ok) => {}
                // No progress possible: all input consumed and nothing left to write.
                Err(miniz_oxide::MZError::Buf) if input.is_empty() => return Ok(()),
                Err(miniz_oxide::MZError::Buf) => {}
                _ => return Err(ProtocolError::InvalidCompressedData),
            }
            // Done when the input is in and the output did not fill the space given.
            if input.is_empty() && result.bytes_written < size {
                return Ok(());
            }
            if result.bytes_consumed == 0 && result.bytes_written == 0 {
                // Room was given, yet nothing moved: a stream that ended early.
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
    }
}

/// Where inflated bytes go: the message's reassembly buffer, bounded by the message limit.
pub(crate) trait InflateSink {
    /// Free space for more inflated bytes: empty when the message has reached its limit.
    fn spare(&mut self) -> &mut [u8];
    /// Takes `n` bytes of the last [`InflateSink::spare`] (validating text as it goes).
    fn commit(&mut self, n: usize) -> Result<(), ProtocolError>;
    /// The error of a message that goes past its limit.
    fn too_large(&self) -> ProtocolError;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect {
        data: Vec<u8>,
        limit: usize,
        chunk: usize,
        start: usize,
    }

    impl InflateSink for Collect {
        fn spare(&mut self) -> &mut [u8] {
            self.start = self.data.len();
            let room = self.limit.saturating_sub(self.start).min(self.chunk);
            self.data.resize(self.start + room, 0);
            &mut self.data[self.start..]
        }
        fn commit(&mut self, n: usize) -> Result<(), ProtocolError> {
            self.data.truncate(self.start + n);
            Ok(())
        }
        fn too_large(&self) -> ProtocolError {
            ProtocolError::MessageTooLarge { limit: self.limit }
        }
    }

    fn collect(limit: usize, chunk: usize) -> Collect {
        Collect {
            data: Vec::new(),
            limit,
            chunk,
            start: 0,
        }
    }

    /// RFC 7692 §7.2.3.1: "Hello" compressed is `f2 48 cd c9 c9 07 00`.
    #[test]
    fn rfc7692_hello() {
        let mut deflater = Deflater::new(6, 15, false, 0);
        let hello = deflater.compress(b"Hello").to_vec();
        let mut inflater = Inflater::new(false);
        let mut out = collect(100, 1000);
        inflater
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], true, &mut out)
            .unwrap();
        assert_eq!(out.data, b"Hello");
        let mut out = collect(100, 1000);
        inflater.inflate(&hello, true, &mut out).unwrap();
        assert_eq!(out.data, b"Hello");
    }

    /// Output in pieces as small as one byte, and a limit met exactly, changes nothing; one
    /// byte past it is refused before it is written.
    #[test]
    fn inflates_in_pieces_up_to_the_limit() {
        let text: Vec<u8> = (0..20_000u32)
            .map(|i| b"abcdefgh"[(i % 7) as usize])
            .collect();
        let mut deflater = Deflater::new(6, 15, true, 0);
        let wire = deflater.compress(&text).to_vec();
        for chunk in [1, 7, 4096] {
            let mut out = collect(text.len(), chunk);
            Inflater::new(true).inflate(&wire, true, &mut out).unwrap();
            assert_eq!(out.data, text, "chunk {chunk}");
            let mut out = collect(text.len() - 1, chunk);
            assert_eq!(
                Inflater::new(true).inflate(&wire, true, &mut out),
                Err(ProtocolError::MessageTooLarge {
                    limit: text.len() - 1
                })
            );
            assert!(out.data.len() < text.len());
        }
    }

    /// Context takeover: the second copy of a message refers back to the first, and inflates
    /// only after it; without, each message stands alone.
    #[test]
    fn context_takeover_on_and_off() {
        let message = b"the same forty bytes, sent twice in a row";
        let mut keep = Deflater::new(6, 15, false, 0);
        let first = keep.compress(message).to_vec();
        let second = keep.compress(message).to_vec();
        assert!(second.len() < first.len());
        let mut inflater = Inflater::new(false);
        for wire in [&first, &second] {
            let mut out = collect(100, 100);
            inflater.inflate(wire, true, &mut out).unwrap();
            assert_eq!(out.data, message);
        }
        let mut fresh = Deflater::new(6, 15, true, 0);
        let a = fresh.compress(message).to_vec();
        let b = fresh.compress(message).to_vec();
        assert_eq!(a, b);
        let mut out = collect(100, 100);
        Inflater::new(true).inflate(&b, true, &mut out).unwrap();
        assert_eq!(out.data, message);
    }

    #[test]
    fn garbage_is_invalid_compressed_data() {
        let mut out = collect(100, 100);
        assert_eq!(
            Inflater::new(false).inflate(&[0xFF; 16], true, &mut out),
            Err(ProtocolError::InvalidCompressedData)
        );
    }
}
