//! Events: the one vocabulary in which a connection reports what the peer did.
//!
//! Payloads are borrowed from the connection's buffers (unmasked in place), valid until the
//! next call on the receiving half.

use crate::close::CloseCode;
use crate::handshake::{Request, Response};

/// What the peer did, in the order it did it.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Server: a complete WebSocket upgrade request. Inspect it (path, headers, origin,
    /// offered subprotocols, version), then call [`crate::Connection::accept`] or
    /// [`crate::Connection::respond`].
    Request(Request<'a>),
    /// Server: a plain HTTP request (no `Upgrade: websocket`). Answer it with
    /// [`crate::Connection::respond`], or take the stream back with the bytes already read
    /// ([`crate::Connection::buffered_input`]).
    HttpRequest(Request<'a>),
    /// Client: the server accepted the handshake. The connection is open.
    Accepted(Response<'a>),
    /// A whole text message, validated UTF-8.
    Text(&'a str),
    /// A whole binary message (hybi only).
    Binary(&'a [u8]),
    /// One frame of a fragmented message, delivered as it completes when the connection
    /// streams fragments ([`crate::Config::stream_fragments`]).
    Fragment(Fragment<'a>),
    /// A ping (hybi only). The pong answer is queued automatically.
    Ping(&'a [u8]),
    /// A pong (hybi only).
    Pong(Pong<'a>),
    /// The connection is closed. Delivered exactly once for every connection that opened, and
    /// nothing is delivered after it.
    Close(Close<'a>),
}

/// One frame of a fragmented message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The payload bytes of this frame.
    pub data: &'a [u8],
    /// Whether the message is text. Text fragments are validated as they arrive: the
    /// concatenation of a message's fragments is valid UTF-8, though a character may be
    /// split between two fragments.
    pub is_text: bool,
    /// Whether this is the message's last frame.
    pub is_final: bool,
}

/// A pong from the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pong<'a> {
    /// The pong payload.
    pub payload: &'a [u8],
    /// When it answers a ping sent by [`crate::Sender::ping_at`] (or a keepalive ping): the
    /// `now` that ping was stamped with, in the caller's time unit.
    pub sent_at: Option<u64>,
}

impl Pong<'_> {
    /// The round-trip time at `now` (the caller's time unit, when the pong was read): `now`
    /// minus [`Pong::sent_at`]; `None` when the pong answers no stamped ping.
    pub fn round_trip(&self, now: u64) -> Option<u64> {
        self.sent_at.map(|sent| now.saturating_sub(sent))
    }
}

/// The payload of a ping stamped with `now`: the time (big-endian) and a check of it, so that
/// a pong can carry its own send time and either half can read it without shared state.
pub(crate) fn ping_stamp(now: u64) -> [u8; 12] {
    let mut payload = [0u8; 12];
    payload[..8].copy_from_slice(&now.to_be_bytes());
    payload[8..].copy_from_slice(&stamp_check(now).to_be_bytes());
    payload
}

/// The time a pong's payload was stamped with, if it is a stamp.
pub(crate) fn read_stamp(payload: &[u8]) -> Option<u64> {
    let payload: &[u8; 12] = payload.try_into().ok()?;
    let (time, check) = payload.split_at(8);
    let now = u64::from_be_bytes(time.try_into().ok()?);
    (check == stamp_check(now).to_be_bytes()).then_some(now)
}

fn stamp_check(now: u64) -> u32 {
    let mut bytes = *b"wsmachine-ping\0\0\0\0\0\0\0\0";
    bytes[14..].copy_from_slice(&now.to_be_bytes());
    crate::handshake::http::fnv1a(&bytes)
}

/// How the connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close<'a> {
    /// RFC 6455 §7.1.5, "the WebSocket Connection Close Code": the code of the peer's close
    /// frame, 1005 if it had none, 1006 if the connection ended without one. `None` on hixie
    /// connections, which have no codes.
    pub code: Option<CloseCode>,
    /// The reason in the peer's close frame (empty if none).
    pub reason: &'a str,
    /// Whether the closing handshake completed: both close frames exchanged (hybi), both
    /// `0xFF 0x00` (hixie-76), or the transport ended (hixie-75, whose only close it is).
    pub clean: bool,
}
