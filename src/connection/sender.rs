//! The sending half: the output queue, the commands that fill it, the sending direction's
//! state ([`SendState`]) and its timers (keepalive ping, close timeout).

use super::state::{Deadline, Extensions, Framing, Owed, OwedEnd, SendState, Write};
use super::{Config, Role, State};
use crate::buffer::{ByteQueue, Storage};
use crate::close::{CloseCode, MAX_REASON_LEN};
use crate::entropy::KeySource;
use crate::error::{Error, UsageError};
use crate::event::ping_stamp;
use crate::framing::{hixie, hybi, OpCode};
use crate::handshake::server;
use crate::version::Version;

/// The sending half of a connection: messages, pings, close, and the output bytes.
///
/// Inside a [`crate::Connection`] it is reached through the connection's own methods or
/// [`crate::Connection::poll_event_with_sender`]; [`crate::Connection::into_split`] gives it
/// away on its own, to a thread or task of its own. What the receiving half owes it (pongs,
/// the close reply) arrives through [`Sender::handle_owed`].
pub struct Sender<S, R> {
    pub(crate) output: ByteQueue<S>,
    pub(crate) entropy: R,
    pub(crate) settings: SendSettings,
    pub(crate) role: Role,
    pub(crate) pair: u32,
    pub(crate) state: SendState,
    /// The latest time given to [`Sender::handle_timeout`]: deadlines are set from it.
    now: u64,
    /// Whether a time was given yet: the handshake's deadline is set at the first.
    clock_started: bool,
    keepalive_at: Deadline,
    /// The handshake's deadline while handshaking, the close timeout's while closing.
    deadline: Deadline,
    /// The compressor, once permessage-deflate is agreed; dropped when the connection ends.
    #[cfg(feature = "deflate")]
    deflater: Option<alloc::boxed::Box<crate::deflate::codec::Deflater>>,
    /// The payload the caller writes itself ([`Sender::send_binary_header`]): it goes on the
    /// wire after the first `payload_after` bytes of the output, and `payload_left` of its
    /// bytes are still to be written (0: none is pending).
    payload_after: u32,
    payload_left: u64,
}

/// Which timer [`Sender::advance`] found passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    Nothing,
    /// The peer left our close unanswered: the sending half is closed.
    Close,
    /// The handshake did not complete in time: the connection fails.
    Handshake,
}

/// The part of a [`Config`] the sending half uses, kept small.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendSettings {
    pub(crate) max_queued_output: u32,
    /// `u64::MAX` for none.
    keepalive_interval: u64,
    /// `u64::MAX` for none.
    close_timeout: u64,
    /// `u64::MAX` for none.
    handshake_timeout: u64,
    pub(crate) secure: bool,
}

impl SendSettings {
    pub(crate) fn new(config: &Config) -> Self {
        SendSettings {
            max_queued_output: u32::try_from(config.limits.max_queued_output).unwrap_or(u32::MAX),
            keepalive_interval: config.keepalive_interval.unwrap_or(u64::MAX),
            close_timeout: config.close_timeout.unwrap_or(u64::MAX),
            handshake_timeout: config.handshake_timeout.unwrap_or(u64::MAX),
            secure: config.secure,
        }
    }

    pub(crate) fn keepalive_interval(&self) -> Option<u64> {
        (self.keepalive_interval != u64::MAX).then_some(self.keepalive_interval)
    }

    pub(crate) fn close_timeout(&self) -> Option<u64> {
        (self.close_timeout != u64::MAX).then_some(self.close_timeout)
    }

    pub(crate) fn handshake_timeout(&self) -> Option<u64> {
        (self.handshake_timeout != u64::MAX).then_some(self.handshake_timeout)
    }
}

impl<S: Storage, R: KeySource> Sender<S, R> {
    pub(crate) fn new(output: S, entropy: R, config: &Config, role: Role, pair: u32) -> Self {
        Sender {
            output: ByteQueue::new(output),
            entropy,
            settings: SendSettings::new(config),
            role,
            pair,
            state: SendState::Handshaking,
            now: 0,
            clock_started: false,
            keepalive_at: Deadline::NEVER,
            deadline: Deadline::NEVER,
            #[cfg(feature = "deflate")]
            deflater: None,
            payload_after: 0,
            payload_left: 0,
        }
    }

    /// Sends a binary message whose payload the caller writes itself, from its own buffer,
    /// so that a large payload is never copied into the output (server role, hybi). Queues
    /// the header of one final, uncompressed binary frame of `len` bytes (2 to 10 bytes, RFC
    /// 6455 §5.2); the payload goes on the wire right after what [`Sender::pending_output`]
    /// shows, and whatever is queued later (a pong, a close reply, more messages) waits
    /// behind it. Write both with one vectored write where the transport has one:
    ///
    /// ```
    /// # use wsmachine::{Config, Connection, Version};
    /// # let mut conn = Connection::framed_server(Version::Hybi13, Config::default());
    /// let payload = vec![7u8; 1 << 20];
    /// conn.send_binary_header(payload.len())?;
    /// let mut wire = Vec::new(); // the transport: a socket in a real driver
    /// while !conn.pending_output().is_empty() || conn.pending_payload() > 0 {
    ///     let head = conn.pending_output();
    ///     let tail = conn.unwritten_payload(&payload);
    ///     // write_vectored(&[head, tail]) on a socket; here both at once:
    ///     wire.extend_from_slice(head);
    ///     wire.extend_from_slice(tail);
    ///     let written = head.len() + tail.len();
    ///     conn.consume_output(written);
    /// }
    /// assert_eq!(wire.len(), 10 + (1 << 20));
    /// # Ok::<(), wsmachine::Error>(())
    /// ```
    ///
    /// [`Sender::consume_output`] counts the payload's bytes too: once the output before it
    /// was written, the next bytes consumed are the payload's ([`Sender::pending_payload`]
    /// says how many are left), and [`Sender::pending_output`] shows the later output only
    /// when the payload is all written. The output is flushed when both are empty.
    ///
    /// The connection cannot take back a header it queued: a caller that gives up before the
    /// whole payload was written hands the rest over with [`Sender::queue_pending_payload`], or
    /// closes the transport. The state may become [`crate::State::Closed`] (the peer's close
    /// arrived) while the payload is pending: the close reply is queued behind it, so write
    /// the payload before taking the output as flushed.
    ///
    /// # Errors
    ///
    /// Those of [`Sender::send_binary`] (the header must fit the output),
    /// [`UsageError::MaskedPayload`] for a client, [`UsageError::PayloadPending`] while the
    /// previous such payload is not all written. Nothing is queued then.
    pub fn send_binary_header(&mut self, len: usize) -> Result<(), Error> {
        self.check_capable("binary messages")?;
        self.check_whole_message()?;
        if self.role == Role::Client {
            return Err(UsageError::MaskedPayload.into());
        }
        if self.payload_left > 0 {
            return Err(UsageError::PayloadPending {
                remaining: self.payload_left,
            }
            .into());
        }
        if len as u64 > i64::MAX as u64 {
            // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
            return Err(UsageError::Unsupported {
                what: "payloads of 2^63 bytes or more",
                version: self.version().unwrap_or(crate::Version::Hybi13),
            }
            .into());
        }
        let max = self.max_output();
        hybi::write_header_only(&mut self.output, max, OpCode::Binary, len)?;
        if len > 0 {
            // The output never holds more than 4 GiB - 1 bytes.
            self.payload_after = self.output.len() as u32;
            self.payload_left = len as u64;
        }
        Ok(())
    }

    /// Whether messages are compressed (permessage-deflate was agreed, RFC 7692).
    pub fn compresses(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.deflater.is_some();
        #[cfg(not(feature = "deflate"))]
        false
    }

    /// Copies the part of the pending payload not yet written ([`Sender::pending_payload`]
    /// bytes, the end of the caller's payload) into the output, so that the caller may let go
    /// of its buffer: the message then goes out like any other, before what was queued behind
    /// it. For a driver whose write failed or timed out half-way, or that is dropped, so that
    /// a later flush finishes the message. The output limit does not apply (the bytes were
    /// accepted when the header was); the storage must take them.
    ///
    /// # Errors
    ///
    /// [`UsageError::PayloadPending`] with the bytes still owed when `rest` is not exactly
    /// that long (nothing pending: `remaining` 0); [`UsageError::OutputFull`] when the storage
    /// cannot grow to take them. Nothing changes then.
    pub fn queue_pending_payload(&mut self, rest: &[u8]) -> Result<(), UsageError> {
        if rest.len() as u64 != self.payload_left || self.payload_left == 0 {
            return Err(UsageError::PayloadPending {
                remaining: self.payload_left,
            });
        }
        let behind = self.output.len() - self.payload_after as usize;
        // Appended, then turned into place ahead of what was queued behind the payload.
        let max = self.output.len().saturating_add(rest.len());
        self.output
            .append_output(rest.len(), max)?
            .copy_from_slice(rest);
        let queued = self.output.data_mut();
        let from = queued.len() - behind - rest.len();
        queued[from..].rotate_right(rest.len());
        self.payload_after = 0;
        self.payload_left = 0;
        Ok(())
    }

    /// The end of `payload` still to be written: its last [`Sender::pending_payload`] bytes
    /// (empty when none is pending). `payload` must be the very buffer whose length was given
    /// to [`Sender::send_binary_header`]: the connection keeps only the count, so another
    /// buffer of at least that length yields its own end, and a shorter one yields nothing.
    pub fn unwritten_payload<'a>(&self, payload: &'a [u8]) -> &'a [u8] {
        usize::try_from(self.payload_left)
            .ok()
            .and_then(|left| payload.len().checked_sub(left))
            .map_or(&[], |at| &payload[at..])
    }

    /// Bytes of the payload of [`Sender::send_binary_header`] still to be written, right after
    /// [`Sender::pending_output`]; 0 when none is pending.
    pub fn pending_payload(&self) -> u64 {
        self.payload_left
    }

    /// Sends a text message (RFC 6455 §5.6; hixie §4.2 text frame).
    ///
    /// # Errors
    ///
    /// [`UsageError::NotOpen`] before the handshake, [`UsageError::Closed`] once a close was
    /// sent or the connection closed, [`UsageError::FragmentOrder`] inside a fragmented
    /// message, [`UsageError::OutputFull`] when the frame does not fit
    /// [`crate::Limits::max_queued_output`]. Nothing is queued then.
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
        let framing = self.check_whole_message()?;
        if framing == Framing::Hixie {
            let max = self.max_output();
            hixie::write_text(&mut self.output, max, text.as_bytes())?;
        } else {
            self.write_message(OpCode::Text, text.as_bytes(), true)?;
        }
        Ok(())
    }

    /// Sends a text message uncompressed even when permessage-deflate was agreed (RFC 7692
    /// §6: each message chooses); the compression context is left as it was.
    ///
    /// # Errors
    ///
    /// Those of [`Sender::send_text`].
    pub fn send_text_uncompressed(&mut self, text: &str) -> Result<(), Error> {
        let framing = self.check_whole_message()?;
        if framing == Framing::Hixie {
            return self.send_text_checked(text);
        }
        self.write_message(OpCode::Text, text.as_bytes(), false)?;
        Ok(())
    }

    /// Sends a binary message uncompressed even when permessage-deflate was agreed.
    ///
    /// # Errors
    ///
    /// Those of [`Sender::send_binary`].
    pub fn send_binary_uncompressed(&mut self, data: &[u8]) -> Result<(), Error> {
        self.check_capable("binary messages")?;
        self.check_whole_message()?;
        self.write_message(OpCode::Binary, data, false)?;
        Ok(())
    }

    /// Sends a binary message (hybi only).
    ///
    /// # Errors
    ///
    /// Those of [`Sender::send_text`], and [`UsageError::Unsupported`] on hixie.
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
        self.check_whole_message()?;
        self.write_message(OpCode::Binary, data, true)?;
        Ok(())
    }

    /// Sends one frame of a fragmented message (hybi only, RFC 6455 §5.4): the first call
    /// starts a text or binary message, later calls must have the same `is_text`, and the call
    /// with `is_final` ends it. Text may be split anywhere, even inside a character.
    ///
    /// # Errors
    ///
    /// Those of [`Sender::send_binary`]; [`UsageError::FragmentOrder`] when `is_text` differs
    /// from the message in progress.
    pub fn send_fragment(
        &mut self,
        data: &[u8],
        is_text: bool,
        is_final: bool,
    ) -> Result<(), Error> {
        self.check_capable("fragments")?;
        let opcode = match self.state {
            SendState::Open { .. } if is_text => OpCode::Text,
            SendState::Open { .. } => OpCode::Binary,
            SendState::Fragmenting { is_text: text, .. } if text == is_text => OpCode::Continuation,
            SendState::Fragmenting { .. } => return Err(UsageError::FragmentOrder.into()),
            // Refused by `check_capable` already.
            _ => return Err(UsageError::Closed.into()),
        };
        self.write_frame(opcode, is_final, data)?;
        self.state.sent_data(is_text, is_final);
        Ok(())
    }

    /// Sends a ping with this payload (hybi only; at most 125 bytes, RFC 6455 §5.5.2). Its
    /// pong reports no round-trip time; [`Sender::ping_at`] sends one that does.
    ///
    /// # Errors
    ///
    /// Those of [`Sender::send_binary`] except the fragment order (a ping may go between
    /// fragments), and [`UsageError::ControlTooLong`] past 125 bytes.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_capable("pings")?;
        if payload.len() > 125 {
            return Err(UsageError::ControlTooLong.into());
        }
        self.write_frame(OpCode::Ping, true, payload)?;
        Ok(())
    }

    /// Sends a ping stamped with `now` (in the caller's time unit): its pong, whichever half
    /// receives it, reports `now` as [`crate::Pong::sent_at`], and
    /// [`crate::Pong::round_trip`] measures the round trip against the time the pong is read.
    /// The payload is 12 bytes: `now` (big-endian) and a check of it.
    ///
    /// # Errors
    ///
    /// Those of [`Sender::ping`].
    pub fn ping_at(&mut self, now: u64) -> Result<(), Error> {
        self.ping(&ping_stamp(now))
    }

    /// Sends an unsolicited pong, a one-way heartbeat (hybi only; at most 125 bytes). Pings are
    /// answered automatically; this is not needed for that.
    ///
    /// # Errors
    ///
    /// Those of [`Sender::ping`].
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.check_pong()?;
        if payload.len() > 125 {
            return Err(UsageError::ControlTooLong.into());
        }
        self.write_frame(OpCode::Pong, true, payload)?;
        Ok(())
    }

    /// Starts the closing handshake with 1000 (hybi) or `0xFF 0x00` (hixie-76). A hixie-75
    /// connection, whose only close is the transport's, sends nothing: shut the transport's
    /// write side down, and the peer's end of stream completes the close.
    ///
    /// # Errors
    ///
    /// [`UsageError::NotOpen`], [`UsageError::Closed`], [`UsageError::OutputFull`].
    pub fn close(&mut self) -> Result<(), Error> {
        let code = self.coded(CloseCode::NORMAL);
        self.start_close(code, "")
    }

    /// Starts the closing handshake with a code and a reason of at most 123 bytes (hybi only,
    /// RFC 6455 §5.5.1, §7.4).
    ///
    /// # Errors
    ///
    /// Those of [`Sender::close`]; [`UsageError::InvalidCloseCode`] for a code that may not be
    /// sent, [`UsageError::ReasonTooLong`], and [`UsageError::Unsupported`] on hixie.
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

    /// Applies what the receiving half of the same connection owes: sends the pong (unless a
    /// close was sent) and, when the receiving side ended, the close reply or the violation's
    /// close frame (unless ours was sent); the sending half is then closed.
    ///
    /// # Errors
    ///
    /// [`UsageError::ForeignHalf`] for a value owed by another connection's receiving half;
    /// nothing changes then.
    pub fn handle_owed(&mut self, owed: Owed) -> Result<(), UsageError> {
        if owed.pair != self.pair {
            return Err(UsageError::ForeignHalf);
        }
        if let Some((version, extensions)) = owed.open {
            self.open(version, extensions);
        }
        if let Some(pong) = owed.pong {
            self.answer_ping(pong.as_bytes());
        }
        if let Some(end) = owed.end {
            self.end(end);
        }
        Ok(())
    }

    /// The bytes to send, oldest first.
    pub fn pending_output(&self) -> &[u8] {
        let data = self.output.data();
        if self.payload_left > 0 {
            // What was queued after a payload the caller writes waits for it.
            return &data[..self.payload_after as usize];
        }
        data
    }

    /// Drops the first `n` bytes of [`Sender::pending_output`], once they were sent; past them,
    /// bytes of the payload the caller writes itself ([`Sender::send_binary_header`]).
    pub fn consume_output(&mut self, n: usize) {
        if self.payload_left == 0 {
            self.output.consume(n);
            return;
        }
        let before = n.min(self.payload_after as usize);
        self.output.consume(before);
        self.payload_after -= before as u32;
        let of_payload = ((n - before) as u64).min(self.payload_left);
        self.payload_left -= of_payload;
        if self.payload_left == 0 {
            // Written past the payload: into what was queued behind it.
            self.output.consume(n - before - of_payload as usize);
        }
    }

    /// Gives back the memory of the output buffer if it holds nothing (growable storage only;
    /// fixed buffers keep theirs). The buffer keeps its memory between sends so that a busy
    /// connection does not allocate for every message; call this when the connection goes
    /// idle, as [`crate::Connection::shrink_buffers`] says.
    pub fn shrink_buffers(&mut self) {
        self.output.release_if_empty();
    }

    /// Time is now `now` (in the caller's unit): sends the keepalive ping when it is due, and
    /// closes the sending half when the peer left our close unanswered for the close timeout.
    /// Returns whether that timeout passed now: then shut the transport down, so that the
    /// receiving half sees the end of its input and reports the close (1006). A
    /// [`crate::Connection`] tells its receiving half itself.
    pub fn handle_timeout(&mut self, now: u64) -> bool {
        self.advance(now) == Expired::Close
    }

    /// [`Sender::handle_timeout`], saying which timer passed.
    pub(crate) fn advance(&mut self, now: u64) -> Expired {
        if !self.clock_started {
            // The handshake is timed from the first time given: the connection cannot know
            // the caller's clock before.
            self.clock_started = true;
            if self.state == SendState::Handshaking {
                self.deadline = Deadline::after(now, self.settings.handshake_timeout());
            }
        }
        self.now = self.now.max(now);
        let mut expired = Expired::Nothing;
        if self.deadline.passed(self.now) {
            expired = if self.state == SendState::Handshaking {
                Expired::Handshake
            } else if self.state.close_timed_out() {
                Expired::Close
            } else {
                Expired::Nothing
            };
            if expired != Expired::Nothing {
                self.stop_timers();
            }
        }
        if self.keepalive_at.passed(self.now) {
            let interval = self.settings.keepalive_interval();
            self.keepalive_at = Deadline::after(self.now, interval);
            if matches!(
                self.state,
                SendState::Open { .. } | SendState::Fragmenting { .. }
            ) {
                // A full output skips this beat; the next one tries again.
                let _ = self.ping_at(self.now);
            }
        }
        expired
    }

    /// When [`Sender::handle_timeout`] must be called next, if a timer runs: the keepalive
    /// ping's time or the close timeout's, in the caller's unit.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        match (self.keepalive_at.get(), self.deadline.get()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The sending direction's state: [`State::Handshaking`], [`State::Open`] (a fragmented
    /// message may be in progress), [`State::Closing`] once our close was sent, and
    /// [`State::Closed`] once nothing more will be sent.
    pub fn state(&self) -> State {
        match self.state {
            SendState::Handshaking => State::Handshaking,
            SendState::Open { .. } | SendState::Fragmenting { .. } => State::Open,
            SendState::Closing { .. } => State::Closing,
            SendState::Closed { .. } => State::Closed,
        }
    }

    /// The version spoken, once known.
    pub fn version(&self) -> Option<Version> {
        self.state.version()
    }

    /// The connection's role.
    pub fn role(&self) -> Role {
        self.role
    }

    fn max_output(&self) -> usize {
        self.settings.max_queued_output as usize
    }

    /// The common message, sent with no further checks when the state allows and the frame
    /// is short and fits the output as it stands; false otherwise, with nothing queued, and the
    /// checked path decides (and reports errors).
    #[inline(always)]
    fn send_quick(&mut self, opcode: OpCode, payload: &[u8]) -> bool {
        let max = self.max_output();
        match self.state {
            SendState::Open {
                framing: Framing::Unmasked,
                ..
            } => hybi::write_short(&mut self.output, max, opcode, payload, None::<fn() -> _>),
            SendState::Open {
                framing: Framing::Masked,
                ..
            } => self.send_quick_masked(max, opcode, payload),
            _ => false,
        }
    }

    /// Out of line: inlined, the masking loop made the send calls too big for the compiler to
    /// inline them into the caller's loop, which cost servers a third of their speed.
    #[inline(never)]
    fn send_quick_masked(&mut self, max: usize, opcode: OpCode, payload: &[u8]) -> bool {
        let entropy = &mut self.entropy;
        let key = || {
            let mut key = [0u8; 4];
            entropy.fill_keys(&mut key);
            key
        };
        hybi::write_short(&mut self.output, max, opcode, payload, Some(key))
    }

    /// The framing, if a whole message may be sent now.
    #[inline]
    fn check_whole_message(&self) -> Result<Framing, UsageError> {
        match self.state {
            SendState::Open { framing, .. } => Ok(framing),
            SendState::Fragmenting { .. } => Err(UsageError::FragmentOrder),
            SendState::Handshaking => Err(UsageError::NotOpen),
            SendState::Closing { .. } | SendState::Closed { .. } => Err(UsageError::Closed),
        }
    }

    /// Whether the connection is open, for what hixie versions cannot send.
    fn check_capable(&self, what: &'static str) -> Result<(), UsageError> {
        match self.state {
            SendState::Handshaking => Err(UsageError::NotOpen),
            SendState::Closing { .. } | SendState::Closed { .. } => Err(UsageError::Closed),
            SendState::Open { version, .. } | SendState::Fragmenting { version, .. }
                if version.is_hixie() =>
            {
                Err(UsageError::Unsupported { what, version })
            }
            SendState::Open { .. } | SendState::Fragmenting { .. } => Ok(()),
        }
    }

    #[inline]
    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) -> Result<(), UsageError> {
        let mask = mask_key(self.role, &mut self.entropy);
        let max = self.max_output();
        hybi::write_frame(&mut self.output, max, opcode, fin, false, payload, mask)
    }

    /// A whole message in one frame, compressed when permessage-deflate was agreed, `compress`
    /// allows and it is long enough (RFC 7692 §6.1: RSV1 on its frame).
    fn write_message(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        compress: bool,
    ) -> Result<(), UsageError> {
        #[cfg(feature = "deflate")]
        if let Some(deflater) = self.deflater.as_deref_mut() {
            if compress && payload.len() >= deflater.threshold() {
                let max = self.settings.max_queued_output as usize;
                let mask = mask_key(self.role, &mut self.entropy);
                let compressed = deflater.compress(payload);
                let written =
                    hybi::write_frame(&mut self.output, max, opcode, true, true, compressed, mask);
                if written.is_err() {
                    // The message is in our window and not in the peer's: start afresh, so
                    // that no later message refers to it (an empty window refers to nothing).
                    deflater.reset();
                }
                deflater.shrink();
                return written;
            }
        }
        let _ = compress;
        self.write_frame(opcode, true, payload)
    }

    fn write_close_frame(
        &mut self,
        version: Option<Version>,
        code: Option<CloseCode>,
        reason: &str,
    ) -> Result<(), UsageError> {
        match version {
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
        let version = self.version();
        let mut next = self.state;
        let Some(Write::Close(code)) = next.close(code) else {
            return Err(match self.state {
                SendState::Handshaking => UsageError::NotOpen,
                _ => UsageError::Closed,
            }
            .into());
        };
        self.write_close_frame(version, code, reason)?;
        self.state = next;
        self.deadline = Deadline::after(self.now, self.settings.close_timeout());
        Ok(())
    }

    /// `code` on hybi connections; hixie ones have no codes.
    fn coded(&self, code: CloseCode) -> Option<CloseCode> {
        (!self.version().is_some_and(|v| v.is_hixie())).then_some(code)
    }

    /// Sends the pong a ping is owed, until the peer's close was received. One that does not fit is
    /// dropped: RFC 6455 §5.5.3 lets an endpoint answer only the latest of several pings.
    pub(crate) fn answer_ping(&mut self, payload: &[u8]) {
        if self.check_pong().is_ok() {
            let _ = self.write_frame(OpCode::Pong, true, payload);
        }
    }

    /// Whether a pong may go out: a pong is owed for every ping until the peer's close was
    /// received (RFC 6455 §5.5.2), so our own close does not stop them; the peer's closes this
    /// half.
    fn check_pong(&self) -> Result<(), UsageError> {
        match self.state {
            SendState::Closing { version } if !version.is_hixie() => Ok(()),
            _ => self.check_capable("pongs"),
        }
    }

    /// The handshake completed: the sending direction opens, framed for its role and
    /// version, and the keepalive timer starts.
    pub(crate) fn open(&mut self, version: Version, extensions: Extensions) {
        let framing = match self.role {
            _ if version.is_hixie() => Framing::Hixie,
            Role::Server => Framing::Unmasked,
            Role::Client => Framing::Masked,
        };
        if self.state.open(version, framing) {
            // The handshake's deadline is met.
            self.deadline = Deadline::NEVER;
            if version.has_control_frames() {
                self.keepalive_at = Deadline::after(self.now, self.settings.keepalive_interval());
            }
            self.start_extensions(extensions);
        }
    }

    /// The handshake (or the application, for a handshake done elsewhere) agreed these
    /// extensions: the compressor is set up for our direction's window and context
    /// (RFC 7692 §7.1), and every message goes by the path that compresses.
    pub(crate) fn start_extensions(&mut self, extensions: Extensions) {
        #[cfg(feature = "deflate")]
        if let Some((params, config)) = extensions {
            if !self.state.compress() {
                return;
            }
            let (bits, reset) = match self.role {
                Role::Server => (
                    params.server_max_window_bits,
                    params.server_no_context_takeover,
                ),
                Role::Client => (
                    params.client_max_window_bits,
                    params.client_no_context_takeover,
                ),
            };
            let deflater =
                crate::deflate::codec::Deflater::new(config.level, bits, reset, config.threshold);
            self.deflater = Some(alloc::boxed::Box::new(deflater));
        }
        #[cfg(not(feature = "deflate"))]
        let Extensions = extensions;
    }

    /// The receiving side ended (or the handshake failed): write what the ending calls for;
    /// the sending half is closed. A close that does not fit is dropped: the connection is
    /// closed either way.
    pub(crate) fn end(&mut self, end: OwedEnd) {
        let version = self.version();
        match self.state.end(end) {
            Write::Nothing => {}
            Write::Close(code) => {
                let _ = self.write_close_frame(version, code, "");
            }
            Write::Refusal(error) => {
                let max = self.max_output();
                server::write_failure(&mut self.output, max, error);
            }
        }
        self.stop_timers();
        // The compressor's memory goes with the connection.
        #[cfg(feature = "deflate")]
        {
            self.deflater = None;
        }
    }

    fn stop_timers(&mut self) {
        self.keepalive_at = Deadline::NEVER;
        self.deadline = Deadline::NEVER;
    }
}

/// A client's masking key for the next frame; none for a server (RFC 6455 §5.3).
#[inline]
fn mask_key<R: KeySource>(role: Role, entropy: &mut R) -> Option<[u8; 4]> {
    match role {
        Role::Client => {
            let mut key = [0u8; 4];
            entropy.fill_keys(&mut key);
            Some(key)
        }
        Role::Server => None,
    }
}

impl<S, R> core::fmt::Debug for Sender<S, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("role", &self.role)
            .field("state", &self.state)
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
