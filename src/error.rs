//! Errors: the peer's violations (each with the close code the connection sent), handshake
//! failures (each with the HTTP status a server answered with), and the application's misuse
//! (which changes nothing).

use core::fmt;

use crate::close::CloseCode;
use crate::version::Version;

/// Everything a [`crate::Connection`] call can fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The peer broke the framing rules after the handshake. The connection has queued a close
    /// frame with [`ProtocolError::close_code`] (hybi) or a closing frame (hixie-76) and is
    /// closed; flush the output and close the transport.
    Protocol(ProtocolError),
    /// The opening handshake failed. A server has queued an HTTP answer with
    /// [`HandshakeError::status`]; flush it and close the transport.
    Handshake(HandshakeError),
    /// The application asked for something the connection cannot do in its state or version.
    /// Nothing was changed or queued.
    Usage(UsageError),
}

impl Error {
    /// The close code this error calls for (see [`ProtocolError::close_code`]); `None` for
    /// handshake failures and misuse.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self {
            Error::Protocol(e) => e.close_code(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(e) => write!(f, "peer violated the protocol: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Usage(e) => write!(f, "invalid use of the connection: {e}"),
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}
impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}
impl From<UsageError> for Error {
    fn from(e: UsageError) -> Self {
        Error::Usage(e)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}
#[cfg(feature = "std")]
impl std::error::Error for HandshakeError {}
#[cfg(feature = "std")]
impl std::error::Error for UsageError {}

/// A peer's violation of the framing rules (RFC 6455 §5, hixie-76 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A reserved bit (RSV1-3) was set without a negotiated extension (RFC 6455 §5.2), or RSV1
    /// where permessage-deflate does not allow it: on a continuation or a control frame
    /// (RFC 7692 §6.1).
    ReservedBits,
    /// A reserved opcode (RFC 6455 §5.2).
    ReservedOpcode(u8),
    /// A client sent an unmasked frame (RFC 6455 §5.1).
    UnmaskedFrame,
    /// A server sent a masked frame (RFC 6455 §5.1).
    MaskedFrame,
    /// A control frame without FIN (RFC 6455 §5.5).
    FragmentedControl,
    /// A control frame with more than 125 payload bytes (RFC 6455 §5.5).
    ControlTooLong,
    /// A continuation frame with no message in progress (RFC 6455 §5.4).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was in progress (RFC 6455 §5.4).
    ExpectedContinuation,
    /// A 64-bit payload length with its most significant bit set (RFC 6455 §5.2).
    InvalidLength,
    /// A payload length not in its shortest encoding, `126` with a 16-bit length below 126 or
    /// `127` with a 64-bit length below 65,536 (RFC 6455 §5.2: "the minimal number of bytes
    /// MUST be used"); refused for data and control frames alike.
    NonMinimalLength,
    /// A close frame with a 1-byte payload (RFC 6455 §5.5.1).
    CloseTooShort,
    /// A close frame with a code that may not be sent (RFC 6455 §7.4).
    InvalidCloseCode(u16),
    /// Text that is not UTF-8, found as soon as the bytes arrived (RFC 6455 §8.1).
    InvalidUtf8,
    /// A frame longer than [`crate::Limits::max_frame_payload`] or than the input storage.
    FrameTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A message longer than [`crate::Limits::max_message_size`] or than the message storage.
    MessageTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A hixie frame longer than [`crate::Limits::max_hixie_frame`] or than the input storage.
    HixieFrameTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// A compressed message (permessage-deflate, RFC 7692 §7.2.2) that does not inflate.
    InvalidCompressedData,
    /// A hixie length prefix of more than 10 bytes, more than any 64-bit length needs
    /// (draft-hixie-thewebsocketprotocol-76 §5.3 sets no bound on its leading zero groups).
    HixieLengthTooLong,
}

impl ProtocolError {
    /// The close code RFC 6455 §7.4.1 gives this violation; a hybi connection sends it in its
    /// close frame. Hixie connections have no codes: they answer with `0xFF 0x00` (hixie-76)
    /// or nothing (hixie-75), whatever this returns; `None` for hixie-only violations.
    pub fn close_code(&self) -> Option<CloseCode> {
        Some(match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::TOO_BIG
            }
            ProtocolError::HixieFrameTooLarge { .. } | ProtocolError::HixieLengthTooLong => {
                return None
            }
            _ => CloseCode::PROTOCOL_ERROR,
        })
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits => f.write_str("reserved bits set without an extension"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::UnmaskedFrame => f.write_str("client frame not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame masked"),
            ProtocolError::FragmentedControl => f.write_str("fragmented control frame"),
            ProtocolError::ControlTooLong => {
                f.write_str("control frame payload longer than 125 bytes")
            }
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame while a fragmented message is in progress")
            }
            ProtocolError::InvalidLength => {
                f.write_str("64-bit payload length has its top bit set")
            }
            ProtocolError::NonMinimalLength => {
                f.write_str("payload length not in its shortest encoding")
            }
            ProtocolError::CloseTooShort => f.write_str("close frame payload of one byte"),
            ProtocolError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            ProtocolError::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
            ProtocolError::InvalidCompressedData => {
                f.write_str("compressed message does not inflate")
            }
            ProtocolError::FrameTooLarge { limit } => {
                write!(f, "frame payload exceeds the limit of {limit} bytes")
            }
            ProtocolError::MessageTooLarge { limit } => {
                write!(f, "message exceeds the limit of {limit} bytes")
            }
            ProtocolError::HixieFrameTooLarge { limit } => {
                write!(f, "hixie frame exceeds the limit of {limit} bytes")
            }
            ProtocolError::HixieLengthTooLong => {
                f.write_str("hixie frame length prefix longer than 10 bytes")
            }
        }
    }
}

/// A failed opening handshake (RFC 6455 §4, hixie-76 §4, hixie-75 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The HTTP head did not parse.
    Malformed,
    /// The head exceeded [`crate::Limits::max_handshake_bytes`].
    TooLarge,
    /// The head had more header fields than [`crate::Limits::max_headers`].
    TooManyHeaders,
    /// An upgrade request whose method is not GET or whose HTTP version is not 1.1.
    NotGet,
    /// A header the version requires is missing or has a wrong value.
    MissingHeader(&'static str),
    /// `Sec-WebSocket-Key` is not 16 base64-encoded bytes, or a hixie-76 key is malformed.
    InvalidKey,
    /// The request asked for a `Sec-WebSocket-Version` this crate does not speak; answered
    /// with `426` and `Sec-WebSocket-Version: 13, 8, 7`.
    UnsupportedVersion,
    /// The server answered with this status instead of 101.
    Rejected {
        /// The status code of the server's answer.
        status: u16,
    },
    /// `Sec-WebSocket-Accept` did not match the key sent.
    InvalidAccept,
    /// The hixie-76 16-byte answer did not match the challenge sent.
    InvalidAnswer,
    /// The server chose a subprotocol the client did not offer.
    UnexpectedProtocol,
    /// The server answered with an extension the client did not offer.
    UnexpectedExtension,
    /// The transport ended before the handshake completed.
    ConnectionClosed,
    /// A field that may appear once appeared more than once: `Host` (RFC 7230 §5.4),
    /// `Sec-WebSocket-Key`, `-Version` (RFC 6455 §11.3.1, §11.3.5), `Origin` (RFC 6454 §7),
    /// the hixie-76 keys in a request; `Sec-WebSocket-Accept`, `-Protocol` (§11.3.3, §11.3.4)
    /// and the hixie location and origin in a response.
    RepeatedHeader(&'static str),
    /// The request target is neither a path (origin-form) nor an `http`, `https`, `ws` or
    /// `wss` URL without credentials (absolute-form), or it carries a fragment (RFC 7230
    /// §5.3), or the `Host` field is not a host and port (§5.4).
    InvalidTarget,
    /// A hixie server's location or origin field was missing or did not name what the client
    /// asked for (draft-hixie-thewebsocketprotocol-76 §4.1, -75 §4.1).
    LocationMismatch,
    /// The handshake did not complete within [`crate::Config::handshake_timeout`]; a server
    /// answers `408 Request Timeout`.
    TimedOut,
}

impl HandshakeError {
    /// The HTTP status a server answers this failure with; `None` for the failures only a
    /// client meets (a rejection, a wrong accept key or answer, an unoffered subprotocol or
    /// extension). A client meeting a malformed or oversized head sends nothing.
    pub fn status(&self) -> Option<u16> {
        match self {
            HandshakeError::TooLarge | HandshakeError::TooManyHeaders => Some(431),
            HandshakeError::UnsupportedVersion => Some(426),
            HandshakeError::Malformed
            | HandshakeError::NotGet
            | HandshakeError::MissingHeader(_)
            | HandshakeError::RepeatedHeader(_)
            | HandshakeError::InvalidTarget
            | HandshakeError::InvalidKey => Some(400),
            HandshakeError::TimedOut => Some(408),
            _ => None,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Malformed => f.write_str("malformed HTTP head"),
            HandshakeError::TooLarge => f.write_str("HTTP head larger than the limit"),
            HandshakeError::TooManyHeaders => f.write_str("more header fields than the limit"),
            HandshakeError::NotGet => f.write_str("upgrade request is not GET over HTTP/1.1"),
            HandshakeError::MissingHeader(h) => write!(f, "missing or invalid {h} header"),
            HandshakeError::InvalidKey => f.write_str("invalid WebSocket key"),
            HandshakeError::UnsupportedVersion => f.write_str("unsupported Sec-WebSocket-Version"),
            HandshakeError::Rejected { status } => {
                write!(f, "server answered with status {status} instead of 101")
            }
            HandshakeError::InvalidAccept => f.write_str("Sec-WebSocket-Accept does not match"),
            HandshakeError::InvalidAnswer => {
                f.write_str("hixie-76 challenge answer does not match")
            }
            HandshakeError::UnexpectedProtocol => {
                f.write_str("server chose a subprotocol that was not offered")
            }
            HandshakeError::UnexpectedExtension => {
                f.write_str("server chose an extension that was not offered")
            }
            HandshakeError::RepeatedHeader(h) => write!(f, "{h} header repeated"),
            HandshakeError::InvalidTarget => f.write_str("invalid request target or Host"),
            HandshakeError::LocationMismatch => {
                f.write_str("hixie location or origin does not match the request")
            }
            HandshakeError::TimedOut => f.write_str("handshake did not complete in time"),
            HandshakeError::ConnectionClosed => {
                f.write_str("transport closed before the handshake completed")
            }
        }
    }
}

/// The application's misuse of a connection. The call changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsageError {
    /// The opening handshake has not completed.
    NotOpen,
    /// A close frame was already sent (or the connection is closed): no more messages.
    Closed,
    /// The call needs a request awaiting `accept` or `respond`, and there is none.
    NoPendingRequest,
    /// The connection's version cannot do this (hixie has no binary, ping or close codes).
    Unsupported {
        /// What was asked for.
        what: &'static str,
        /// The connection's version.
        version: Version,
    },
    /// A header name or value is empty, or contains CR, LF or (in a name) a colon.
    InvalidHeader,
    /// The subprotocol chosen in `accept` was not offered by the client.
    ProtocolNotOffered,
    /// A control frame payload longer than 125 bytes.
    ControlTooLong,
    /// A close code that may not be sent (RFC 6455 §7.4).
    InvalidCloseCode(u16),
    /// A close reason longer than 123 bytes.
    ReasonTooLong,
    /// A fragment was sent with the wrong kind: a new message while one is in progress, or a
    /// continuation with none in progress.
    FragmentOrder,
    /// The output would exceed [`crate::Limits::max_queued_output`] or the output storage:
    /// take some output first. Nothing was queued.
    OutputFull {
        /// Bytes of output the call needs queued at once.
        required: usize,
        /// Bytes that can be queued now.
        available: usize,
    },
    /// A URL that is not `ws://` or `wss://` with a host.
    InvalidUrl,
    /// A half, or a value one half owes the other, of another connection: halves of different
    /// connections do not mix.
    ForeignHalf,
    /// A payload the caller writes itself was asked of a client, whose frames are masked
    /// (RFC 6455 §5.3): the payload must go through the output to be masked.
    MaskedPayload,
    /// The payload of the previous frame the caller writes itself is not all written yet.
    PayloadPending {
        /// Bytes of it still to write.
        remaining: u64,
    },
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NotOpen => f.write_str("the handshake has not completed"),
            UsageError::Closed => f.write_str("the connection is closing or closed"),
            UsageError::NoPendingRequest => f.write_str("no request is awaiting an answer"),
            UsageError::Unsupported { what, version } => {
                write!(f, "{version} connections cannot send {what}")
            }
            UsageError::InvalidHeader => f.write_str("header name or value would inject CR/LF"),
            UsageError::ProtocolNotOffered => {
                f.write_str("the chosen subprotocol was not offered by the client")
            }
            UsageError::ControlTooLong => {
                f.write_str("control frame payload longer than 125 bytes")
            }
            UsageError::InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            UsageError::ReasonTooLong => f.write_str("close reason longer than 123 bytes"),
            UsageError::FragmentOrder => f.write_str("fragment out of order"),
            UsageError::MaskedPayload => {
                f.write_str("a client masks its frames: it cannot send a payload it does not copy")
            }
            UsageError::PayloadPending { remaining } => write!(
                f,
                "{remaining} bytes of the previous caller-written payload are still to be written"
            ),
            UsageError::OutputFull {
                required,
                available,
            } => write!(
                f,
                "output full: {required} bytes required, {available} available"
            ),
            UsageError::InvalidUrl => f.write_str("not a ws:// or wss:// URL with a host"),
            UsageError::ForeignHalf => f.write_str("the halves belong to different connections"),
        }
    }
}
