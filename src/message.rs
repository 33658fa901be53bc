//! Message assembly (RFC 6455 §5.4): the fragmented message in progress, its size against
//! [`crate::Limits::max_message_size`], its text validator, and, unless fragments are streamed,
//! its reassembly buffer.
//!
//! Reassembly is built on the same frames that streaming hands out: a single-frame message is
//! never copied (it is handed out from the input), and the frames of a fragmented message are
//! copied once, into this buffer.

use crate::buffer::{ByteQueue, Storage};
use crate::error::ProtocolError;
use crate::utf8::Utf8Validator;

pub(crate) struct Assembly<S> {
    buffer: ByteQueue<S>,
    /// The kind of the fragmented message in progress: `Some(true)` for text.
    kind: Option<bool>,
    /// The message in progress is compressed: its frames are inflated into the buffer, and
    /// `len` counts inflated bytes.
    pub(crate) compressed: bool,
    /// Payload bytes of that message so far.
    len: u32,
    pub(crate) utf8: Utf8Validator,
    /// A reassembled message was handed out and is dropped at the next call.
    delivered: bool,
}

impl<S: Storage> Assembly<S> {
    pub(crate) fn new(storage: S) -> Self {
        Assembly {
            buffer: ByteQueue::new(storage),
            kind: None,
            compressed: false,
            len: 0,
            utf8: Utf8Validator::new(),
            delivered: false,
        }
    }

    pub(crate) fn in_progress(&self) -> Option<bool> {
        self.kind
    }

    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Counts a frame of the message (starting it if needed) and, when reassembling, copies
    /// its payload in.
    pub(crate) fn add(
        &mut self,
        is_text: bool,
        payload: &[u8],
        reassemble: bool,
        max_message: usize,
    ) -> Result<(), ProtocolError> {
        if reassemble {
            let capacity_short = self.buffer.append(payload.len(), max_message);
            match capacity_short {
                Ok(dst) => dst.copy_from_slice(payload),
                Err(available) => {
                    return Err(ProtocolError::MessageTooLarge {
                        limit: self.buffer.len() + available,
                    })
                }
            }
        }
        self.kind = Some(is_text);
        // Bounded by the message limit, which fits 32 bits.
        self.len += payload.len() as u32;
        Ok(())
    }

    /// Ends the message in progress: checks that text ended on a character boundary.
    pub(crate) fn finish(&mut self, is_text: bool) -> Result<(), ProtocolError> {
        self.kind = None;
        self.compressed = false;
        self.len = 0;
        self.delivered = true;
        if is_text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// The reassembled message.
    pub(crate) fn data(&self) -> &[u8] {
        self.buffer.data()
    }

    /// Drops the message handed out by the previous call; the storage stays for the next one.
    pub(crate) fn release_delivered(&mut self) {
        if self.delivered {
            self.delivered = false;
            self.buffer.clear();
        }
    }

    /// Frees growable storage if no message is being reassembled or held for the caller.
    pub(crate) fn shrink(&mut self) {
        self.buffer.release_if_empty();
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buffer.capacity()
    }
}

#[cfg(feature = "deflate")]
mod inflated {
    use super::Assembly;
    use crate::buffer::Storage;
    use crate::deflate::codec::InflateSink;
    use crate::error::ProtocolError;

    /// How many inflated bytes are asked for at a time: enough to keep the decompressor busy,
    /// little enough that growable storage grows with the message, not ahead of it.
    const PIECE: usize = 16 * 1024;

    /// The message buffer as the decompressor's output: bounded by what the message and the
    /// frame may still take, text validated as it is produced (RFC 7692 §8: the limits apply
    /// to the inflated size).
    pub(crate) struct Inflating<'a, S> {
        pub(crate) assembly: &'a mut Assembly<S>,
        pub(crate) is_text: bool,
        /// Inflated bytes the message may still take.
        pub(crate) message_room: usize,
        pub(crate) message_limit: usize,
        /// Inflated bytes this frame may still take.
        pub(crate) frame_room: usize,
        pub(crate) frame_limit: usize,
    }

    impl<S: Storage> InflateSink for Inflating<'_, S> {
        fn spare(&mut self) -> &mut [u8] {
            let room = self.message_room.min(self.frame_room);
            let queued = self.assembly.buffer.len();
            self.assembly
                .buffer
                .spare(room.min(PIECE), queued.saturating_add(room))
        }

        fn commit(&mut self, n: usize) -> Result<(), ProtocolError> {
            let start = self.assembly.buffer.len();
            self.assembly.buffer.commit(n);
            if self.is_text {
                let fresh = &self.assembly.buffer.data()[start..];
                self.assembly
                    .utf8
                    .feed(fresh)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            self.message_room -= n;
            self.frame_room -= n;
            // Bounded by the message limit, which fits 32 bits.
            self.assembly.len += n as u32;
            Ok(())
        }

        fn too_large(&self) -> ProtocolError {
            if self.frame_room < self.message_room {
                ProtocolError::FrameTooLarge {
                    limit: self.frame_limit,
                }
            } else {
                ProtocolError::MessageTooLarge {
                    limit: self.message_limit,
                }
            }
        }
    }

    impl<S: Storage> Assembly<S> {
        /// Starts a compressed message (its first frame had RSV1).
        pub(crate) fn start_compressed(&mut self, is_text: bool) {
            self.kind = Some(is_text);
            self.compressed = true;
        }

        /// Marks the buffer's bytes as handed out (a streamed fragment), to be dropped at the
        /// next call.
        pub(crate) fn deliver(&mut self) {
            self.delivered = true;
        }
    }
}

#[cfg(feature = "deflate")]
pub(crate) use inflated::Inflating;
