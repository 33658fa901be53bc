//! The sending half: the output queue, the commands that fill it, and the connection's state.
//!
//! The state lives here because every transition ends in bytes to send (an answer, a pong, a
//! close frame); the receiving half drives transitions through the `pub(crate)` methods in the
//! `transitions` block below, which are the only code that changes [`Phase`].

use super::{CloseReport, Config, Phase, Role, Settings, State};
use crate::buffer::{ByteQueue, Storage};
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::entropy::Entropy;
use crate::error::{Error, ProtocolError, UsageError};
use crate::framing::{hixie, hybi, Decoder, OpCode};
use crate::handshake::http::fnv1a;
use crate::version::Version;

/// The sending half of a [`crate::Connection`]: messages, pings, close, and the output bytes.
///
/// Obtained with [`crate::Connection::split`], so that a borrowed event from the receiving
/// half can be answered (echoed, say) without copying it first.
pub struct Sender<S, R> {
    pub(crate) output: ByteQueue<S>,
    pub(crate) entropy: R,
    pub(crate) config: Settings,
    pub(crate) role: Role,
    pub(crate) version: Option<Version>,
    pub(crate) phase: Phase,
    sent_close: bool,
    /// The kind of the fragmented message being sent: `Some(true)` for text.
    sending: Option<bool>,
    /// Whether a whole text or binary message may go out as a frame with no more checks, and
    /// masked or not: open, hybi, no close sent, no fragmented message in progress. Kept up to
    /// date by every change of those (see `refresh_quick_send`), so that a send tests one
    /// byte instead of five fields.
    quick_send: Quick,
    /// The close event still to deliver.
    pub(crate) pending_close: Option<CloseReport>,
    pub(crate) now: u64,
    /// When the last ping was sent, its payload's hash, and whether a pong may still answer
    /// it, for the round-trip time. Three fields: `Option<(u64, u32)>` would take 24 bytes,
    /// where these pack with the other small fields.
    ping_sent_at: u64,
    ping_hash: u32,
    ping_unanswered: bool,
    pub(crate) keepalive_at: Deadline,
    pub(crate) close_deadline: Deadline,
}

/// What [`Sender::send_text`] and [`Sender::send_binary`] may skip their checks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quick {
    No,
    /// A server's frames.
    Unmasked,
    /// A client's frames, with a key from the entropy.
    Masked,
}

/// A time in the caller's unit, or never; the size of a `u64` where `Option<u64>` takes 16
/// bytes, in a struct kept for every connection. `u64::MAX` means never: a deadline that
/// saturated there could not pass anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadline(u64);

impl Deadline {
    pub(crate) const NEVER: Deadline = Deadline(u64::MAX);

    fn at(time: Option<u64>) -> Self {
        Deadline(time.unwrap_or(u64::MAX))
    }

    pub(crate) fn get(self) -> Option<u64> {
        (self != Self::NEVER).then_some(self.0)
    }
}

impl<S: Storage, R: Entropy> Sender<S, R> {
    pub(crate) fn new(output: S, entropy: R, config: Config, role: Role, phase: Phase) -> Self {
        Sender {
            output: ByteQueue::new(output),
            entropy,
            config: Settings::new(config),
            role,
            version: None,
            phase,
            sent_close: false,
            sending: None,
            quick_send: Quick::No,
            pending_close: None,
            now: 0,
            ping_sent_at: 0,
            ping_hash: 0,
            ping_unanswered: false,
            keepalive_at: Deadline::NEVER,
            close_deadline: Deadline::NEVER,
        }
    }

    /// Sends a text message.
    #[inline(always)]
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        if self.send_quick(OpCode::Text, text.as_bytes()) {
            return Ok(());
        }
        self.send_text_checked(text)
    }

    /// Every other case, and every error. Out of line, so that the quick path stays small
    /// enough to be inlined into the caller's loop.
    #[inline(never)]
    fn send_text_checked(&mut self, text: &str) -> Result<(), Error> {
        let version = self.check_open()?;
        if self.sending.is_some() {
            return Err(UsageError::FragmentOrder.into());
        }
        if version.is_hixie() {
            let max = self.max_output();
            hixie::write_text(&mut self.output, max, text.as_bytes())?;
        } else {
            self.write_frame(OpCode::Text, true, text.as_bytes())?;
        }
        Ok(())
    }

    /// Sends a binary message (hybi only).
    #[inline(always)]
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        if self.send_quick(OpCode::Binary, data) {
            return Ok(());
        }
        self.send_binary_checked(data)
    }

    /// Every other case, and every error. Out of line, so that the quick path stays small
    /// enough to be inlined into the caller's loop.
    #[inline(never)]
    fn send_binary_checked(&mut self, data: &[u8]) -> Result<(), Error> {
        self.check_capable("binary messages")?;
        if self.sending.is_some() {
            return Err(UsageError::FragmentOrder.into());
        }
        self.write_frame(OpCode::Binary, true, data)?;
        Ok(())
    }

    /// Sends one frame of a fragmented message (hybi only): the first call starts a text or
    /// binary message, later calls must have the same `is_text`, and the call with `is_final`
    /// ends it. Text may be split anywhere, even inside a character.
    pub fn send_fragment(
        &mut self,
        data: &[u8],
        is_text: bool,
        is_final: bool,
    ) -> Result<(), Error> {
        self.check_capable("fragments")?;
        let opcode = match self.sending {
            None if is_text => OpCode::Text,
            None => OpCode::Binary,
            Some(text) if text == is_text => OpCode::Continuation,
            Some(_) => return Err(UsageError::FragmentOrder.into()),
        };
        self.write_frame(opcode, is_final, data)?;
        self.sending = if is_final { None } else { Some(is_text) };
        self.refresh_quick_send();
        Ok(())
    }

    /// Sends a ping (hybi only; at most 125 bytes). The pong is reported with its round-trip
    /// time.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_capable("pings")?;
        if payload.len() > 125 {
            return Err(UsageError::ControlTooLong.into());
        }
        self.write_frame(OpCode::Ping, true, payload)?;
        self.ping_sent_at = self.now;
        self.ping_hash = fnv1a(payload);
        self.ping_unanswered = true;
        Ok(())
    }

    /// Sends an unsolicited pong, a one-way heartbeat (hybi only; at most 125 bytes). Pings are
    /// answered automatically; this is not needed for that.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_capable("pongs")?;
        if payload.len() > 125 {
            return Err(UsageError::ControlTooLong.into());
        }
        self.write_frame(OpCode::Pong, true, payload)?;
        Ok(())
    }

    /// Starts the closing handshake with 1000 (hybi) or `0xFF 0x00` (hixie-76). A hixie-75
    /// connection, whose only close is the transport's, sends nothing: shut the transport's
    /// write side down, and the peer's end of stream completes the close.
    pub fn close(&mut self) -> Result<(), Error> {
        self.start_close(self.coded(CloseCode::NORMAL), "")
    }

    /// Starts the closing handshake with a code and a reason of at most 123 bytes (hybi only).
    pub fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.check_capable("close codes")?;
        if !code.is_sendable() {
            return Err(UsageError::InvalidCloseCode(code.0).into());
        }
        if reason.len() > MAX_REASON_LEN {
            return Err(UsageError::ReasonTooLong.into());
        }
        self.start_close(Some(code), reason)
    }

    /// The bytes to send, oldest first.
    pub fn pending_output(&self) -> &[u8] {
        self.output.data()
    }

    /// Drops the first `n` bytes of [`Sender::pending_output`], once they were sent.
    pub fn consume_output(&mut self, n: usize) {
        self.output.consume(n);
        self.output.release_if_empty();
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::ServerReading | Phase::ServerDeciding(_) | Phase::ClientWaiting(_) => {
                State::Handshaking
            }
            Phase::Open if self.sent_close => State::Closing,
            Phase::Open => State::Open,
            Phase::Closed => State::Closed,
        }
    }

    /// The version spoken, once known.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The connection's role.
    pub fn role(&self) -> Role {
        self.role
    }

    fn max_output(&self) -> usize {
        self.config.max_queued_output()
    }

    /// The common message, sent with no further checks when `quick_send` allows and the frame
    /// is short and fits the output as it stands; false otherwise, with nothing queued, and the
    /// checked path decides (and reports errors).
    #[inline(always)]
    fn send_quick(&mut self, opcode: OpCode, payload: &[u8]) -> bool {
        debug_assert_eq!(self.quick_send, self.quick_send_allowed());
        let max = self.max_output();
        match self.quick_send {
            Quick::Unmasked => hybi::write_short_unmasked(&mut self.output, max, opcode, payload),
            Quick::Masked => self.send_quick_masked(max, opcode, payload),
            Quick::No => false,
        }
    }

    /// Out of line: inlined, the masking loop made the send calls too big for the compiler to
    /// inline them into the caller's loop, which cost servers a third of their speed.
    #[inline(never)]
    fn send_quick_masked(&mut self, max: usize, opcode: OpCode, payload: &[u8]) -> bool {
        let entropy = &mut self.entropy;
        hybi::write_short_masked(&mut self.output, max, opcode, payload, || {
            let mut key = [0u8; 4];
            entropy.fill(&mut key);
            key
        })
    }

    fn quick_send_allowed(&self) -> Quick {
        let open = matches!(self.phase, Phase::Open)
            && self.version.is_some_and(|v| !v.is_hixie())
            && !self.sent_close
            && self.sending.is_none();
        match self.role {
            _ if !open => Quick::No,
            Role::Server => Quick::Unmasked,
            Role::Client => Quick::Masked,
        }
    }

    /// To be called after any change of the role, phase, version, `sent_close` or `sending`.
    fn refresh_quick_send(&mut self) {
        self.quick_send = self.quick_send_allowed();
    }

    #[inline]
    fn check_open(&self) -> Result<Version, UsageError> {
        // By reference: the phase can carry a parsed request, not worth copying per message.
        match (&self.phase, self.version) {
            (Phase::Open, Some(v)) if !self.sent_close => Ok(v),
            (Phase::Open | Phase::Closed, _) => Err(UsageError::Closed),
            _ => Err(UsageError::NotOpen),
        }
    }

    /// Like `check_open`, for what hixie versions cannot send.
    fn check_capable(&self, what: &'static str) -> Result<Version, UsageError> {
        match self.version {
            Some(version) if version.is_hixie() => Err(UsageError::Unsupported { what, version }),
            _ => self.check_open(),
        }
    }

    #[inline]
    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) -> Result<(), UsageError> {
        let mask = match self.role {
            Role::Client => {
                let mut key = [0u8; 4];
                self.entropy.fill(&mut key);
                Some(key)
            }
            Role::Server => None,
        };
        let max = self.max_output();
        hybi::write_frame(&mut self.output, max, opcode, fin, payload, mask)
    }

    fn write_close_frame(
        &mut self,
        code: Option<CloseCode>,
        reason: &str,
    ) -> Result<(), UsageError> {
        match self.version {
            Some(Version::Hixie76) => {
                let max = self.max_output();
                hixie::write_close(&mut self.output, max)
            }
            Some(Version::Hixie75) | None => Ok(()),
            Some(_) => {
                let mut payload = [0u8; 125];
                let len = match code {
                    Some(code) => {
                        payload[..2].copy_from_slice(&code.0.to_be_bytes());
                        payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
                        2 + reason.len()
                    }
                    None => 0,
                };
                self.write_frame(OpCode::Close, true, &payload[..len])
            }
        }
    }

    fn start_close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        self.check_open()?;
        self.write_close_frame(code, reason)?;
        self.sent_close = true;
        self.refresh_quick_send();
        self.close_deadline = Deadline::at(
            self.config
                .close_timeout()
                .map(|t| self.now.saturating_add(t)),
        );
        Ok(())
    }
}

/// The transitions of [`Phase`]: the only code that changes it.
impl<S: Storage, R: Entropy> Sender<S, R> {
    /// Handshake complete: `Handshaking -> Open`.
    pub(crate) fn open(&mut self, version: Version) -> Decoder {
        self.phase = Phase::Open;
        self.version = Some(version);
        self.refresh_quick_send();
        if version.has_control_frames() {
            self.keepalive_at = Deadline::at(
                self.config
                    .keepalive_interval()
                    .map(|i| self.now.saturating_add(i)),
            );
        }
        Decoder::for_version(version)
    }

    /// Client request queued: `-> ClientWaiting` for the server's answer.
    pub(crate) fn await_answer(
        &mut self,
        expect: crate::handshake::client::Expectation,
        version: Version,
    ) {
        self.phase = Phase::ClientWaiting(expect);
        self.version = Some(version);
        self.refresh_quick_send();
    }

    /// A server parsed a request and waits for the application.
    pub(crate) fn await_decision(&mut self, parsed: crate::handshake::server::Parsed) {
        self.phase = Phase::ServerDeciding(parsed);
        self.version = parsed.version;
        self.refresh_quick_send();
    }

    /// An open connection `-> Closed`, with the close event `report` to deliver (once).
    pub(crate) fn enter_closed(&mut self, report: CloseReport) {
        if matches!(self.phase, Phase::Open) {
            self.pending_close = Some(report);
        }
        self.shut();
    }

    /// A connection that never opened `-> Closed`: a failed handshake or a plain HTTP answer,
    /// with no close event.
    pub(crate) fn shut(&mut self) {
        self.phase = Phase::Closed;
        self.quick_send = Quick::No;
        self.keepalive_at = Deadline::NEVER;
        self.close_deadline = Deadline::NEVER;
    }

    /// Closed without a closing handshake: 1006 (RFC 6455 §7.1.5), no code on hixie.
    pub(crate) fn abort(&mut self) {
        let code = self.coded(CloseCode::ABNORMAL);
        self.enter_closed(CloseReport { code, clean: false });
    }

    /// The peer's close frame (or hixie-76 closing frame) arrived: answer it unless we already
    /// sent ours (RFC 6455 §5.5.1), and the connection is closed.
    pub(crate) fn peer_closed(&mut self, code: Option<CloseCode>) {
        self.send_close_once(code);
        self.shut();
    }

    /// The peer broke the protocol: fail the connection (RFC 6455 §7.1.7) with the error's
    /// close code, or hixie-76's closing frame.
    pub(crate) fn fail(&mut self, error: ProtocolError) -> Error {
        if matches!(self.phase, Phase::Open) {
            self.send_close_once(error.close_code());
        }
        self.abort();
        Error::Protocol(error)
    }

    /// Queues our close frame unless one was sent. One that does not fit is dropped: the
    /// connection is closed either way.
    fn send_close_once(&mut self, code: Option<CloseCode>) {
        if !self.sent_close {
            let _ = self.write_close_frame(code, "");
            self.sent_close = true;
        }
    }

    /// `code` on hybi connections; hixie ones have no codes.
    fn coded(&self, code: CloseCode) -> Option<CloseCode> {
        (!self.version.is_some_and(|v| v.is_hixie())).then_some(code)
    }

    /// Answers a ping, unless a close was sent. If the output is full the pong is dropped:
    /// RFC 6455 §5.5.3 lets an endpoint answer only the latest of several pings.
    pub(crate) fn answer_ping(&mut self, payload: &[u8]) {
        if matches!(self.phase, Phase::Open) && !self.sent_close {
            let _ = self.write_frame(OpCode::Pong, true, payload);
        }
    }

    /// The round-trip time, if this pong answers the last ping sent.
    pub(crate) fn pong_received(&mut self, payload: &[u8]) -> Option<u64> {
        if self.ping_unanswered && self.ping_hash == fnv1a(payload) {
            self.ping_unanswered = false;
            Some(self.now.saturating_sub(self.ping_sent_at))
        } else {
            None
        }
    }

    /// Time advanced: the close timeout and the keepalive ping.
    pub(crate) fn advance(&mut self, now: u64) {
        self.now = self.now.max(now);
        if self.close_deadline.get().is_some_and(|d| self.now >= d) {
            self.abort();
        }
        let keepalive = (self.keepalive_at.get(), self.config.keepalive_interval());
        if let (Some(at), Some(interval)) = keepalive {
            if self.now >= at {
                self.keepalive_at = Deadline::at(Some(self.now.saturating_add(interval)));
                if self.check_open().is_ok() {
                    // A full output skips this beat; the next one tries again.
                    let _ = self.ping(&self.now.to_be_bytes());
                }
            }
        }
    }
}

impl<S, R> core::fmt::Debug for Sender<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("role", &self.role)
            .field("version", &self.version)
            .field("phase", &self.phase)
            .field("sent_close", &self.sent_close)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Buffers, Config, Connection, Entropy, Role, Version};

    /// Keys that differ from frame to frame, the same sequence for both connections compared.
    fn counting_keys() -> impl Entropy {
        let mut count = 0u8;
        move |dest: &mut [u8]| {
            for byte in dest {
                count = count.wrapping_add(1);
                *byte = count;
            }
        }
    }

    /// The quick path must be invisible: the same bytes queued (with the same keys), and the
    /// same errors, as the checked path alone, at every fill level of the output, its limit
    /// and its storage.
    #[test]
    fn quick_sends_match_checked_sends() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let payload: [u8; 140] = core::array::from_fn(|i| b'a' + (i % 26) as u8);
        let sizes = [(16, 1000), (40, 20), (300, 1000), (300, 150), (1000, 999)];
        for role in [Role::Server, Role::Client] {
            for (storage, limit) in sizes {
                let mut mem = [[0u8; 1000]; 2];
                let [a, b] = &mut mem;
                let (mut ia, mut ib, mut ma, mut mb) = ([0u8; 8], [0u8; 8], [0u8; 0], [0u8; 0]);
                let mut config = Config::default();
                config.limits.max_queued_output = limit;
                let buffers = |input, output, message| Buffers {
                    input,
                    output,
                    message,
                };
                let mut quick = Connection::framed_with(
                    role,
                    Version::Hybi13,
                    config,
                    buffers(&mut ia[..], &mut a[..storage], &mut ma[..]),
                    counting_keys(),
                );
                let mut checked = Connection::framed_with(
                    role,
                    Version::Hybi13,
                    config,
                    buffers(&mut ib[..], &mut b[..storage], &mut mb[..]),
                    counting_keys(),
                );
                for step in 0..2000 {
                    let r = next();
                    let len = (r >> 8) as usize % 131;
                    let data = &payload[..len];
                    let text = core::str::from_utf8(data).unwrap();
                    let (x, y) = match r % 8 {
                        0..=2 => (
                            quick.send_text(text),
                            checked.sender().send_text_checked(text),
                        ),
                        3..=5 => (
                            quick.send_binary(data),
                            checked.sender().send_binary_checked(data),
                        ),
                        6 => {
                            let n = (r >> 20) as usize % (quick.pending_output().len() + 1);
                            quick.consume_output(n);
                            checked.consume_output(n);
                            (Ok(()), Ok(()))
                        }
                        _ if step > 1900 => (quick.close(), checked.close()),
                        _ => (Ok(()), Ok(())),
                    };
                    assert_eq!(x, y, "{role:?} step {step}");
                    let same = quick.pending_output() == checked.pending_output();
                    assert!(same, "{role:?} step {step}");
                }
            }
        }
    }
}
