//! permessage-deflate (RFC 7692): the one extension that matters, between framing and
//! messages.
//!
//! - [`negotiate`]: the `Sec-WebSocket-Extensions` offers a client sends and a server answers
//!   (RFC 7692 §5, §7.1), each parameter checked; callable on its own by applications that do
//!   their own handshake (hyper, axum, HTTP/2).
//! - [`codec`]: the compressor of the sending half and the decompressor of the receiving half
//!   (`miniz_oxide`, pure Rust, `no_std` + `alloc`), allocated only once the extension is
//!   agreed, with the trailing `00 00 FF FF` removed on send and restored on receive (§7.2).
//!
//! The inflated size of a message is bounded by the connection's limits as it is produced,
//! so a small compressed message cannot make the connection hold more than
//! [`crate::Limits::max_message_size`] (§8.1 of RFC 7692 on decompression bombs).

pub mod codec;
pub mod negotiate;

/// What a connection offers (client) or accepts (server) of permessage-deflate.
///
/// Window sizes are in bits (RFC 7692 §7.1.2: 8 to 15, a window of 2^bits bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Client: ask the server to reset its compression context after every message.
    /// Server: reset ours after every message, and say so (`server_no_context_takeover`).
    pub server_no_context_takeover: bool,
    /// Client: reset ours after every message, and say so. Server: ask the client to reset
    /// its context after every message (`client_no_context_takeover`).
    pub client_no_context_takeover: bool,
    /// Client: ask the server to compress with at most this window. Server: compress with at
    /// most this window, and say so (`server_max_window_bits`).
    pub server_max_window_bits: Option<u8>,
    /// Client: offer `client_max_window_bits`, with this value when set (and without a value,
    /// letting the server choose, when not). Server: when the client offered the parameter,
    /// ask it to compress with at most this window.
    pub client_max_window_bits: Option<u8>,
    /// Client: after the offer above, also offer a plain `permessage-deflate`, for servers
    /// that decline the parameters.
    pub fallback_offer: bool,
    /// Messages shorter than this many bytes are sent uncompressed.
    pub threshold: usize,
    /// The compression level, 1 (fastest) to 9 (smallest).
    pub level: u8,
}

impl DeflateConfig {
    /// No parameters asked for, every message of 32 bytes or more compressed at level 6.
    pub const fn new() -> Self {
        DeflateConfig {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            fallback_offer: false,
            threshold: 32,
            level: 6,
        }
    }
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// The parameters both ends agreed on (RFC 7692 §7.1), as a connection runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with at most this window (bits, 8 to 15).
    pub server_max_window_bits: u8,
    /// The client compresses with at most this window (bits, 8 to 15).
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// No context reset and full windows: what a plain `permessage-deflate` agrees to.
    pub const fn new() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl Default for DeflateParams {
    fn default() -> Self {
        Self::new()
    }
}
