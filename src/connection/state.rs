//! Every state transition of a connection, in one place.
//!
//! A connection is two halves, and each half owns the state of its direction:
//!
//! - [`RecvState`], owned by the receiving half: what the input holds next (a request head, an
//!   answer head, frames, nothing). Per-state data makes impossible combinations unwritable: a
//!   decoder exists only while open, a parsed request only while a server decides.
//! - [`SendState`], owned by the sending half: what may still be sent (nothing before the
//!   handshake, anything while open, only the rest of a fragmented message's kind, nothing
//!   after the close frame).
//!
//! The only coupling is [`Owed`]: what the receiving half's transitions owe the sending half
//! (a pong, the close reply, the close code of a violation, the opening of a client whose
//! answer arrived, a server's refusal of a bad request), carried as a plain value. The
//! transitions below are the only code that assigns either state; each returns what it owes
//! or what it must write, and the halves do the writing.
//!
//! ```text
//! receiving half                              sending half
//! ServerReading --request--> ServerDeciding   Handshaking --open--> Open
//! ServerReading --bad request--> Closed  ~~Refuse~~>  Handshaking --> Closed (status written)
//! ServerDeciding --accept--> Open             Open --send_fragment(not final)--> Fragmenting
//! ServerDeciding --respond--> Closed          Fragmenting --send_fragment(final)--> Open
//! ClientWaiting --valid answer--> Open  ~~Open~~>  Handshaking --> Open
//! ClientWaiting --bad answer, end--> Closed   Open | Fragmenting --close--> Closing
//! Open --peer's close--> Closed  ~~Echo~~>    Open | Fragmenting --> Closed (close written)
//!                                             Closing --> Closed (nothing written)
//! Open --violation--> Closed     ~~Fail~~>    Open | Fragmenting --> Closed (close + code)
//! Open --end of stream--> Closed ~~Shut~~>    any --> Closed
//! Open --abort (close timeout)--> Closed      Closing --close timeout--> Closed
//! ```

use crate::close::CloseCode;
use crate::error::{HandshakeError, ProtocolError};
use crate::framing::Decoder;
use crate::handshake::{client, server};
use crate::version::Version;

/// The receiving half's state.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RecvState {
    /// Server: reading a request head.
    ServerReading,
    /// Server: a complete request waits for the application's answer.
    ServerDeciding(server::Parsed),
    /// Client: the request was queued; reading the server's answer.
    ClientWaiting {
        version: Version,
        expect: client::Expectation,
    },
    /// Frames flow in.
    Open { version: Version, decoder: Decoder },
    /// Nothing more is read. `report` is the close event still to deliver (a close frame's
    /// event is delivered as the frame is read, so it leaves none); `timed_out`, whether the
    /// handshake's timeout, found outside a poll, is still to report.
    Closed {
        version: Option<Version>,
        report: Option<CloseReport>,
        timed_out: bool,
    },
}

/// The close event still to be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CloseReport {
    pub(crate) code: Option<CloseCode>,
    pub(crate) clean: bool,
}

/// What ends the receiving direction of an open connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecvEnd {
    /// The peer's close frame (hybi) or closing frame (hixie-76) was read, with its code.
    PeerClose(Option<CloseCode>),
    /// The peer broke the protocol.
    Violation(ProtocolError),
    /// The input ended with no close frame.
    Eof,
    /// The sending half stopped waiting for the peer's close (the close timeout).
    Abort,
}

impl RecvState {
    /// The version spoken, once known.
    pub(crate) fn version(&self) -> Option<Version> {
        match *self {
            RecvState::ServerReading => None,
            RecvState::ServerDeciding(parsed) => parsed.version,
            RecvState::ClientWaiting { version, .. } | RecvState::Open { version, .. } => {
                Some(version)
            }
            RecvState::Closed { version, .. } => version,
        }
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        matches!(
            self,
            RecvState::ServerReading
                | RecvState::ServerDeciding(_)
                | RecvState::ClientWaiting { .. }
        )
    }

    /// Server: a complete request was read.
    pub(crate) fn request_read(&mut self, parsed: server::Parsed) {
        if let RecvState::ServerReading = self {
            *self = RecvState::ServerDeciding(parsed);
        }
    }

    /// The application accepted the request (server), or the answer checked out (client).
    pub(crate) fn open(&mut self) -> Option<Version> {
        let version = match *self {
            RecvState::ServerDeciding(server::Parsed {
                version: Some(version),
                ..
            })
            | RecvState::ClientWaiting { version, .. } => version,
            _ => return None,
        };
        *self = RecvState::Open {
            version,
            decoder: Decoder::for_version(version),
        };
        Some(version)
    }

    /// The handshake failed or was answered with a plain response: closed, with no close event
    /// (the connection never opened). A server owes the sending half the failure's answer.
    pub(crate) fn handshake_ended(&mut self, failure: Option<HandshakeError>) -> Option<OwedEnd> {
        let owed = match *self {
            RecvState::ServerReading => failure.map(OwedEnd::Refuse),
            RecvState::ServerDeciding(_) | RecvState::ClientWaiting { .. } => None,
            _ => return None,
        };
        let version = self.version();
        *self = RecvState::Closed {
            version,
            report: None,
            timed_out: false,
        };
        Some(owed.unwrap_or(OwedEnd::Shut))
    }

    /// The handshake did not complete in time: closed, the failure reported at the next poll.
    /// A server owes its peer the `408` answer, whether it was still reading the request or
    /// the application had not decided.
    pub(crate) fn handshake_timed_out(&mut self) -> Option<OwedEnd> {
        let owed = match self {
            RecvState::ServerReading | RecvState::ServerDeciding(_) => {
                OwedEnd::Refuse(HandshakeError::TimedOut)
            }
            RecvState::ClientWaiting { .. } => OwedEnd::Shut,
            _ => return None,
        };
        *self = RecvState::Closed {
            version: self.version(),
            report: None,
            timed_out: true,
        };
        Some(owed)
    }

    /// The handshake failure still to report, handed out once.
    pub(crate) fn take_failure(&mut self) -> Option<HandshakeError> {
        match self {
            RecvState::Closed { timed_out, .. } => {
                core::mem::take(timed_out).then_some(HandshakeError::TimedOut)
            }
            _ => None,
        }
    }

    /// The receiving direction of an open connection ends: the close event to deliver (or none
    /// when the close frame's own event is delivered now), and what the sending half owes the
    /// peer. Nothing changes unless the state is open.
    pub(crate) fn end(&mut self, how: RecvEnd) -> Option<OwedEnd> {
        let RecvState::Open { version, .. } = *self else {
            return None;
        };
        let hixie = version.is_hixie();
        let coded = |code: CloseCode| (!hixie).then_some(code);
        let aborted = CloseReport {
            code: coded(CloseCode::ABNORMAL),
            clean: false,
        };
        let (report, owed) = match how {
            RecvEnd::PeerClose(code) => (None, Some(OwedEnd::Echo(code))),
            RecvEnd::Violation(error) => (
                Some(aborted),
                Some(OwedEnd::Fail(error.close_code().and_then(coded))),
            ),
            // hixie-75's only close is the end of the stream.
            RecvEnd::Eof if version == Version::Hixie75 => (
                Some(CloseReport {
                    code: None,
                    clean: true,
                }),
                Some(OwedEnd::Shut),
            ),
            RecvEnd::Eof => (Some(aborted), Some(OwedEnd::Shut)),
            RecvEnd::Abort => (Some(aborted), None),
        };
        *self = RecvState::Closed {
            version: Some(version),
            report,
            timed_out: false,
        };
        owed
    }

    /// The close event still to deliver, handed out once.
    pub(crate) fn take_report(&mut self) -> Option<CloseReport> {
        match self {
            RecvState::Closed { report, .. } => report.take(),
            _ => None,
        }
    }
}

/// How the sending half frames what it sends, fixed when it opens: the quick send paths
/// test one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// hybi frames, unmasked (a server's).
    Unmasked,
    /// hybi frames, masked (a client's).
    Masked,
    /// hixie-75 or hixie-76 text frames.
    Hixie,
    /// hybi frames, permessage-deflate agreed: every message goes by the checked path, which
    /// compresses it.
    #[cfg(feature = "deflate")]
    Deflate,
}

/// What the handshake agreed beyond the version: permessage-deflate's parameters and our
/// configuration of it.
#[cfg(feature = "deflate")]
pub(crate) type Extensions = Option<(crate::deflate::DeflateParams, crate::deflate::DeflateConfig)>;
#[cfg(not(feature = "deflate"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extensions;

/// No extension agreed.
#[cfg(feature = "deflate")]
pub(crate) const NO_EXTENSIONS: Extensions = None;
#[cfg(not(feature = "deflate"))]
pub(crate) const NO_EXTENSIONS: Extensions = Extensions;

/// The sending half's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendState {
    /// Before the handshake completes: nothing but the handshake may be sent.
    Handshaking,
    /// Any message may be sent.
    Open { version: Version, framing: Framing },
    /// A fragmented message of this kind is being sent (hybi): only its continuations and
    /// control frames may follow.
    Fragmenting {
        version: Version,
        framing: Framing,
        is_text: bool,
    },
    /// Our close was sent: no more messages, only the pongs still owed (RFC 6455 §5.5.2).
    Closing { version: Version },
    /// Nothing more will be sent.
    Closed { version: Option<Version> },
}

/// What a transition of the sending half writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Write {
    Nothing,
    /// A close frame with this code (none on hixie), or hixie-76's closing frame.
    Close(Option<CloseCode>),
    /// The HTTP answer of a failed handshake.
    Refusal(HandshakeError),
}

/// What ends the sending direction, or opens it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OwedEnd {
    /// The peer closed: reply with this code unless our close was sent.
    Echo(Option<CloseCode>),
    /// The peer broke the protocol: close with this code unless our close was sent.
    Fail(Option<CloseCode>),
    /// The connection ended: send nothing more.
    Shut,
    /// A server refused a bad request: answer it with its status.
    Refuse(HandshakeError),
}

impl SendState {
    pub(crate) fn version(&self) -> Option<Version> {
        match *self {
            SendState::Handshaking => None,
            SendState::Open { version, .. }
            | SendState::Fragmenting { version, .. }
            | SendState::Closing { version } => Some(version),
            SendState::Closed { version } => version,
        }
    }

    /// The handshake completed.
    pub(crate) fn open(&mut self, version: Version, framing: Framing) -> bool {
        if *self != SendState::Handshaking {
            return false;
        }
        *self = SendState::Open { version, framing };
        true
    }

    /// permessage-deflate was agreed: a hybi connection that is open and between messages
    /// compresses from now on. False, changing nothing, otherwise.
    #[cfg(feature = "deflate")]
    pub(crate) fn compress(&mut self) -> bool {
        match *self {
            SendState::Open {
                version,
                framing: Framing::Unmasked | Framing::Masked,
            } => {
                *self = SendState::Open {
                    version,
                    framing: Framing::Deflate,
                };
                true
            }
            _ => false,
        }
    }

    /// A data frame was sent: `is_final` ends the message, otherwise one of kind `is_text` is
    /// in progress.
    pub(crate) fn sent_data(&mut self, is_text: bool, is_final: bool) {
        *self = match *self {
            SendState::Open { version, framing }
            | SendState::Fragmenting {
                version, framing, ..
            } => {
                if is_final {
                    SendState::Open { version, framing }
                } else {
                    SendState::Fragmenting {
                        version,
                        framing,
                        is_text,
                    }
                }
            }
            other => other,
        };
    }

    /// The application starts the closing handshake: the close frame to write, if it may.
    pub(crate) fn close(&mut self, code: Option<CloseCode>) -> Option<Write> {
        match *self {
            SendState::Open { version, .. } | SendState::Fragmenting { version, .. } => {
                *self = SendState::Closing { version };
                Some(Write::Close(code))
            }
            _ => None,
        }
    }

    /// The receiving half's ending, applied: what to write.
    pub(crate) fn end(&mut self, owed: OwedEnd) -> Write {
        let version = self.version();
        let write = match (*self, owed) {
            (SendState::Closed { .. }, _) => return Write::Nothing,
            (SendState::Handshaking, OwedEnd::Refuse(error)) => Write::Refusal(error),
            (
                SendState::Open { .. } | SendState::Fragmenting { .. },
                OwedEnd::Echo(code) | OwedEnd::Fail(code),
            ) => Write::Close(code),
            _ => Write::Nothing,
        };
        *self = SendState::Closed { version };
        write
    }

    /// Our close went unanswered for the close timeout.
    pub(crate) fn close_timed_out(&mut self) -> bool {
        match *self {
            SendState::Closing { version } => {
                *self = SendState::Closed {
                    version: Some(version),
                };
                true
            }
            _ => false,
        }
    }
}

/// What the receiving half owes the sending half: a pong to send, the end of the connection
/// (the close reply, a violation's close code, a refusal's answer), or, inside a
/// [`crate::Connection`], the opening of a client whose answer arrived.
///
/// Take it from the receiving half with [`crate::Receiver::take_owed`] and give it to the
/// sending half of the same connection with [`crate::Sender::handle_owed`], by whatever
/// means the two halves' threads or tasks share (a channel, a task message). It is a plain
/// value of at most a few hundred bytes, `Copy` and `Send`. Several owed values may be merged
/// before they are handed over: a later pong replaces an earlier one (RFC 6455 §5.5.3 lets an
/// endpoint answer only the latest ping), and the first end stays.
#[derive(Clone, Copy)]
pub struct Owed {
    pub(crate) pair: u32,
    pub(crate) open: Option<(Version, Extensions)>,
    pub(crate) pong: Option<PongPayload>,
    pub(crate) end: Option<OwedEnd>,
}

/// A ping's payload (at most 125 bytes, RFC 6455 §5.5), to echo in a pong.
#[derive(Clone, Copy)]
pub(crate) struct PongPayload {
    len: u8,
    bytes: [u8; 125],
}

impl PongPayload {
    pub(crate) fn new(payload: &[u8]) -> Self {
        let len = payload.len().min(125);
        let mut bytes = [0u8; 125];
        bytes[..len].copy_from_slice(&payload[..len]);
        PongPayload {
            len: len as u8,
            bytes,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Owed {
    pub(crate) const fn none(pair: u32) -> Self {
        Owed {
            pair,
            open: None,
            pong: None,
            end: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_none() && self.pong.is_none() && self.end.is_none()
    }

    /// Takes what is owed, leaving nothing.
    pub(crate) fn take(&mut self) -> Option<Owed> {
        if self.is_empty() {
            return None;
        }
        let owed = *self;
        *self = Owed::none(self.pair);
        Some(owed)
    }

    /// Whether it ends the connection: after it, the sending half sends nothing more.
    pub fn ends_connection(&self) -> bool {
        self.end.is_some()
    }
}

impl core::fmt::Debug for Owed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Owed")
            .field("open", &self.open)
            .field("pong", &self.pong.map(|p| p.len))
            .field("end", &self.end)
            .finish()
    }
}

/// A number that ties the two halves of one connection together, so that halves (and owed
/// values) of different connections are refused when they meet. Distinct for the last 2^32
/// connections made in this process; on targets without 32-bit atomics every connection gets
/// the same number and mixing is not detected.
pub(crate) fn next_pair() -> u32 {
    #[cfg(target_has_atomic = "32")]
    {
        use core::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
    #[cfg(not(target_has_atomic = "32"))]
    {
        0
    }
}

/// A time in the caller's unit, or never; the size of a `u64` where `Option<u64>` takes 16
/// bytes. `u64::MAX` means never: a deadline that saturated there could not pass anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadline(u64);

impl Deadline {
    pub(crate) const NEVER: Deadline = Deadline(u64::MAX);

    pub(crate) fn after(now: u64, delay: Option<u64>) -> Self {
        Deadline(delay.map_or(u64::MAX, |d| now.saturating_add(d)))
    }

    pub(crate) fn get(self) -> Option<u64> {
        (self != Self::NEVER).then_some(self.0)
    }

    pub(crate) fn passed(self, now: u64) -> bool {
        self.get().is_some_and(|d| now >= d)
    }
}

#[cfg(test)]
mod tests {
    //! Every (state, input) pair of both tables, with the state and the duty it must lead to,
    //! written from RFC 6455 §5.5.1, §7.1.5 and the drafts' closing rules rather than read off
    //! the code.

    use super::*;
    use crate::handshake::server::Parsed;

    const V: Version = Version::Hybi13;
    const CODE: Option<CloseCode> = Some(CloseCode(4000));

    fn open(version: Version) -> RecvState {
        RecvState::Open {
            version,
            decoder: Decoder::for_version(version),
        }
    }

    fn closed(version: Option<Version>, report: Option<(Option<u16>, bool)>) -> RecvState {
        RecvState::Closed {
            version,
            report: report.map(|(code, clean)| CloseReport {
                code: code.map(CloseCode),
                clean,
            }),
            timed_out: false,
        }
    }

    /// A state's shape, for comparing: decoders and parsed requests compared by kind.
    fn shape(state: &RecvState) -> (u8, Option<Version>, Option<CloseReport>) {
        match *state {
            RecvState::ServerReading => (0, None, None),
            RecvState::ServerDeciding(p) => (1, p.version, None),
            RecvState::ClientWaiting { version, .. } => (2, Some(version), None),
            RecvState::Open { version, .. } => (3, Some(version), None),
            RecvState::Closed {
                version, report, ..
            } => (4, version, report),
        }
    }

    #[test]
    fn receiving_ends() {
        use RecvEnd::*;
        let violation = Violation(ProtocolError::InvalidUtf8);
        let unclean = |code| Some((code, false));
        #[rustfmt::skip]
        let table: &[(RecvState, RecvEnd, RecvState, Option<OwedEnd>)] = &[
            // The peer's close: its event is delivered with the frame, the reply is owed.
            (open(V), PeerClose(CODE), closed(Some(V), None), Some(OwedEnd::Echo(CODE))),
            (open(Version::Hixie76), PeerClose(None), closed(Some(Version::Hixie76), None), Some(OwedEnd::Echo(None))),
            // A violation: 1006 reported, the violation's code owed (none on hixie).
            (open(V), violation, closed(Some(V), unclean(Some(1006))), Some(OwedEnd::Fail(Some(CloseCode(1007))))),
            (open(Version::Hixie76), violation, closed(Some(Version::Hixie76), unclean(None)), Some(OwedEnd::Fail(None))),
            // The end of the input: 1006, except on hixie-75 where it is the close itself.
            (open(V), Eof, closed(Some(V), unclean(Some(1006))), Some(OwedEnd::Shut)),
            (open(Version::Hixie75), Eof, closed(Some(Version::Hixie75), Some((None, true))), Some(OwedEnd::Shut)),
            (open(Version::Hixie76), Eof, closed(Some(Version::Hixie76), unclean(None)), Some(OwedEnd::Shut)),
            // The close timeout: 1006, and the sending half is closed already.
            (open(V), Abort, closed(Some(V), unclean(Some(1006))), None),
            // Nothing ends twice, and nothing ends what never opened.
            (closed(Some(V), None), PeerClose(CODE), closed(Some(V), None), None),
            (closed(Some(V), None), violation, closed(Some(V), None), None),
            (closed(Some(V), None), Eof, closed(Some(V), None), None),
            (RecvState::ServerReading, Eof, RecvState::ServerReading, None),
            (RecvState::ServerReading, Abort, RecvState::ServerReading, None),
        ];
        for (from, how, to, owed) in table {
            let mut state = *from;
            assert_eq!(state.end(*how), *owed, "{from:?} + {how:?}");
            assert_eq!(shape(&state), shape(to), "{from:?} + {how:?}");
        }
    }

    #[test]
    fn receiving_handshake() {
        let request = Parsed::for_tests(Some(V));
        let plain = Parsed::for_tests(None);
        // A request read: deciding; accepted: open; refused: closed without a close event.
        let mut state = RecvState::ServerReading;
        state.request_read(request);
        assert_eq!(shape(&state), (1, Some(V), None));
        assert_eq!(state.open(), Some(V));
        assert_eq!(shape(&state), shape(&open(V)));
        // A plain HTTP request cannot be opened, only answered.
        let mut state = RecvState::ServerDeciding(plain);
        assert_eq!(state.open(), None);
        assert_eq!(state.handshake_ended(None), Some(OwedEnd::Shut));
        assert_eq!(shape(&state), shape(&closed(None, None)));
        // A bad request owes its answer; a failed client owes nothing but the end.
        let mut state = RecvState::ServerReading;
        let refusal = state.handshake_ended(Some(HandshakeError::InvalidKey));
        assert_eq!(refusal, Some(OwedEnd::Refuse(HandshakeError::InvalidKey)));
        assert_eq!(shape(&state), shape(&closed(None, None)));
        // The handshake states are the only ones a handshake can end or open.
        for mut state in [open(V), closed(Some(V), None)] {
            let before = shape(&state);
            assert_eq!(state.handshake_ended(None), None);
            assert_eq!(state.open(), None);
            state.request_read(request);
            assert_eq!(shape(&state), before);
        }
        // The close event is handed out once.
        let mut state = closed(Some(V), Some((Some(1006), false)));
        assert!(state.take_report().is_some());
        assert_eq!(state.take_report(), None);
    }

    #[test]
    fn sending() {
        use SendState::*;
        let o = Open {
            version: V,
            framing: Framing::Unmasked,
        };
        let f = Fragmenting {
            version: V,
            framing: Framing::Unmasked,
            is_text: true,
        };
        let closing = Closing { version: V };
        let done = Closed { version: Some(V) };
        let close = Write::Close(CODE);
        let refusal = Write::Refusal(HandshakeError::InvalidKey);
        #[rustfmt::skip]
        let ends: &[(SendState, OwedEnd, SendState, Write)] = &[
            // The peer's close is answered unless ours went out (RFC 6455 §5.5.1).
            (o, OwedEnd::Echo(CODE), done, close),
            (f, OwedEnd::Echo(CODE), done, close),
            (closing, OwedEnd::Echo(CODE), done, Write::Nothing),
            // A violation's close frame, unless ours went out.
            (o, OwedEnd::Fail(CODE), done, close),
            (closing, OwedEnd::Fail(CODE), done, Write::Nothing),
            // The end of the stream: nothing more to send.
            (o, OwedEnd::Shut, done, Write::Nothing),
            (Handshaking, OwedEnd::Shut, Closed { version: None }, Write::Nothing),
            // A bad request is answered before anything opened, and only then.
            (Handshaking, OwedEnd::Refuse(HandshakeError::InvalidKey), Closed { version: None }, refusal),
            (o, OwedEnd::Refuse(HandshakeError::InvalidKey), done, Write::Nothing),
            // Closed stays closed, and sends nothing.
            (done, OwedEnd::Echo(CODE), done, Write::Nothing),
            (done, OwedEnd::Fail(CODE), done, Write::Nothing),
        ];
        for (from, owed, to, write) in ends {
            let mut state = *from;
            assert_eq!(state.end(*owed), *write, "{from:?} + {owed:?}");
            assert_eq!(state, *to, "{from:?} + {owed:?}");
        }
        // The application's close: from open or mid-message, once.
        for from in [o, f] {
            let mut state = from;
            assert_eq!(state.close(CODE), Some(close), "{from:?}");
            assert_eq!(state, closing);
        }
        for from in [Handshaking, closing, done] {
            let mut state = from;
            assert_eq!(state.close(CODE), None, "{from:?}");
            assert_eq!(state, from);
        }
        // Fragments: a message in progress until its final frame.
        let mut state = o;
        state.sent_data(true, false);
        assert_eq!(state, f);
        state.sent_data(true, true);
        assert_eq!(state, o);
        // Opening happens once, from the handshake only.
        let mut state = Handshaking;
        assert!(state.open(V, Framing::Unmasked));
        assert_eq!(state, o);
        assert!(!state.open(V, Framing::Masked));
        assert_eq!(state, o);
        // Compression starts on an open half between messages, once.
        #[cfg(feature = "deflate")]
        {
            let deflating = Open {
                version: V,
                framing: Framing::Deflate,
            };
            let mut state = o;
            assert!(state.compress());
            assert_eq!(state, deflating);
            for from in [deflating, f, Handshaking, closing, done] {
                let mut state = from;
                assert!(!state.compress(), "{from:?}");
                assert_eq!(state, from);
            }
        }
        // The close timeout closes only a half waiting for the peer's close.
        for (from, to, passed) in [(closing, done, true), (o, o, false), (f, f, false)] {
            let mut state = from;
            assert_eq!(state.close_timed_out(), passed, "{from:?}");
            assert_eq!(state, to);
        }
    }
}
