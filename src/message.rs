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

    /// Drops the message handed out by the previous call, and frees growable storage.
    pub(crate) fn release_delivered(&mut self) {
        if self.delivered {
            self.delivered = false;
            self.buffer.clear();
            self.buffer.release_if_empty();
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.buffer.capacity()
    }
}
