//! The bounds on what a peer can make a connection hold.
//!
//! Every limit here is enforced, and each is checked as early as the bytes allow: a frame's
//! length is checked on its header, before any of its payload is buffered.

/// How much a peer may make a connection hold. The defaults are safe for a server on the open
/// internet that accepts messages of up to 16 MiB. A connection keeps its limits as 32-bit
/// numbers: a value above 4 GiB - 1 acts as 4 GiB - 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Bytes of an HTTP handshake head (request or response, up to and including the blank
    /// line). Exceeding it is answered with `431` (server) or fails the handshake (client).
    pub max_handshake_bytes: usize,
    /// Header fields in a handshake head; at most [`Limits::HEADER_CAPACITY`].
    pub max_headers: usize,
    /// Payload bytes of one hybi frame. Exceeding it closes with 1009.
    pub max_frame_payload: usize,
    /// Payload bytes of one whole message (all its fragments). Exceeding it closes with 1009.
    /// A compressed message (permessage-deflate, RFC 7692) counts by its inflated size, and
    /// inflating stops as soon as it passes the limit.
    pub max_message_size: usize,
    /// Bytes of one hixie frame (text or length-prefixed). Exceeding it closes the connection.
    pub max_hixie_frame: usize,
    /// Bytes of output queued and not yet taken by [`crate::Connection::consume_output`].
    /// A send that would exceed it fails with [`crate::UsageError::OutputFull`] and queues
    /// nothing.
    pub max_queued_output: usize,
}

impl Limits {
    /// The most header fields a handshake can be parsed with.
    pub const HEADER_CAPACITY: usize = 64;

    /// Limits with defaults: 16 KiB handshakes with 64 headers, 16 MiB frames and messages,
    /// 16 MiB hixie frames and 32 MiB of queued output.
    pub const fn new() -> Self {
        Limits {
            max_handshake_bytes: 16 * 1024,
            max_headers: Self::HEADER_CAPACITY,
            max_frame_payload: 16 << 20,
            max_message_size: 16 << 20,
            max_hixie_frame: 16 << 20,
            max_queued_output: 32 << 20,
        }
    }

    /// The header count actually used: `max_headers`, capped by the parser's capacity.
    pub(crate) fn header_count(&self) -> usize {
        self.max_headers.min(Self::HEADER_CAPACITY)
    }

    /// The most input a connection buffers at once: one handshake, or one frame with its
    /// longest header, or one hixie frame with its delimiters.
    #[inline]
    pub(crate) fn max_input(&self) -> usize {
        let hybi = self.max_frame_payload.saturating_add(14);
        let hixie = self.max_hixie_frame.saturating_add(2);
        // hixie-76's 8 key bytes and 16 answer bytes follow the head.
        let handshake = self.max_handshake_bytes.saturating_add(16);
        hybi.max(hixie).max(handshake)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}
