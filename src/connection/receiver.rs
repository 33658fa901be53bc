//! The receiving half: the input queue, the decoder, message assembly, the receiving
//! direction's state ([`RecvState`]), and the events.
//!
//! An event borrows the input (or the reassembled message); the bytes it borrowed are dropped
//! at the next call on this half, so payloads are never copied to be handed out.

use core::ops::Range;

use super::sender::Sender;
use super::state::{CloseReport, Extensions, Owed, OwedEnd, PongPayload, RecvEnd, RecvState};
use super::{Config, Role, State};
use crate::buffer::{ByteQueue, Storage};
use crate::close::{self, CloseCode};
use crate::drive::{Step, Transfer};
use crate::entropy::KeySource;
use crate::error::{Error, HandshakeError, ProtocolError, UsageError};
use crate::event::{read_stamp, Close, Event, Fragment, Pong};
use crate::framing::{Context, Decoded, Decoder, Frame, OpCode, Rules};
use crate::handshake::{client, server, Response};
use crate::limits::Limits;
use crate::message::Assembly;
use crate::utf8;
use crate::version::Version;

/// The receiving half of a connection: input bytes in, events out.
///
/// Inside a [`crate::Connection`] it is driven through the connection's own methods;
/// [`crate::Connection::into_split`] gives it away on its own, to a thread or task of its own.
/// What its events oblige the sending half to send (pongs, the close reply, the close code of a
/// violation) is kept as an [`Owed`] value until [`Receiver::take_owed`] hands it over, or is
/// handed to a sender directly by [`Receiver::poll_event_with`].
pub struct Receiver<S> {
    pub(crate) half: RecvHalf<S>,
    /// What the sending half is owed.
    pub(crate) owed: Owed,
}

/// The receiving direction's input, decoding and state. Inside a [`crate::Connection`] what
/// it owes goes straight to the sending half; a [`Receiver`] keeps it as an [`Owed`] value,
/// whose 125-byte pong is paid for only by connections that were split.
pub(crate) struct RecvHalf<S> {
    pub(crate) input: ByteQueue<S>,
    pub(crate) assembly: Assembly<S>,
    pub(crate) state: RecvState,
    pub(crate) settings: RecvSettings,
    role: Role,
    /// Bytes of input the last event borrowed, dropped at the next call (32 bits: the input
    /// never holds more than 4 GiB - 1).
    borrowed: u32,
    /// Leading input bytes known to hold no end of an HTTP head, so that a head arriving in
    /// pieces is scanned once instead of parsed again from its start at every piece.
    head_scanned: u32,
    /// The transport said no more input will come; buffered input is still decoded.
    eof: bool,
    /// The last read took everything the transport had: fewer bytes than offered, or none
    /// yet available. The driver step then says wait for readiness instead of read.
    drained: bool,
    /// The number tying this half to its sending half.
    pub(crate) pair: u32,
    /// The decompressor, once permessage-deflate is agreed; dropped when the connection ends.
    #[cfg(feature = "deflate")]
    pub(crate) inflater: Option<alloc::boxed::Box<crate::deflate::codec::Inflater>>,
}

/// The part of a [`Config`] the receiving half uses, as 32-bit numbers (limits stop at
/// 4 GiB - 1).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecvSettings {
    /// Handshake bytes, header fields, frame payload, message size, hixie frame.
    limits: [u32; 5],
    /// What permessage-deflate a client offers or a server accepts; none when not wanted.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<crate::deflate::DeflateConfig>,
    /// [`Limits::max_input`] of those limits.
    max_input: u32,
    pub(crate) stream_fragments: bool,
}

impl RecvSettings {
    fn new(config: &Config) -> Self {
        let l = config.limits;
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        RecvSettings {
            limits: [
                small(l.max_handshake_bytes),
                small(l.max_headers),
                small(l.max_frame_payload),
                small(l.max_message_size),
                small(l.max_hixie_frame),
            ],
            max_input: small(l.max_input()),
            #[cfg(feature = "deflate")]
            deflate: config.deflate,
            stream_fragments: config.stream_fragments,
        }
    }

    /// What a client offered of extensions, for checking the server's answer.
    pub(crate) fn deflate_offer(&self) -> client::Offered {
        #[cfg(feature = "deflate")]
        return self.deflate;
        #[cfg(not(feature = "deflate"))]
        return client::Offered;
    }

    /// The limits, with `max_queued_output` (the sending half's) left at its default.
    pub(crate) fn limits(&self) -> Limits {
        let [handshake, headers, frame, message, hixie] = self.limits.map(|n| n as usize);
        let mut limits = Limits::new();
        limits.max_handshake_bytes = handshake;
        limits.max_headers = headers;
        limits.max_frame_payload = frame;
        limits.max_message_size = message;
        limits.max_hixie_frame = hixie;
        limits
    }
}

/// An event found by [`RecvHalf::advance`], as positions: built into an [`Event`] afterwards so
/// that decoding holds no borrow of the input.
enum Ready {
    Request(server::Parsed),
    Accepted(client::Answered, Version),
    Text(Range<usize>),
    Binary(Range<usize>),
    Message {
        is_text: bool,
    },
    Fragment {
        payload: Range<usize>,
        is_text: bool,
        is_final: bool,
    },
    /// A frame of a compressed message, inflated into the message buffer (streaming mode).
    #[cfg(feature = "deflate")]
    Inflated {
        is_text: bool,
        is_final: bool,
    },
    Ping(Range<usize>),
    Pong(Range<usize>, Option<u64>),
    Close {
        code: Option<CloseCode>,
        reason: Range<usize>,
    },
    Closed(CloseReport),
}

/// Where what the receiving direction owes goes while it is polled: kept as an [`Owed`]
/// value, or applied to the sending half at once.
pub(crate) trait Hand {
    /// The handshake completed (client): the sending direction opens.
    fn open(&mut self, version: Version, extensions: Extensions);
    /// A ping arrived: its pong is owed.
    fn pong(&mut self, payload: &[u8]);
    /// The receiving direction ended: the sending half owes this ending.
    fn end(&mut self, end: OwedEnd);
}

impl Hand for Owed {
    fn open(&mut self, version: Version, extensions: Extensions) {
        self.open = Some((version, extensions));
    }

    fn pong(&mut self, payload: &[u8]) {
        // RFC 6455 §5.5.3: only the latest of several pings needs its pong.
        self.pong = Some(PongPayload::new(payload));
    }

    fn end(&mut self, end: OwedEnd) {
        self.end.get_or_insert(end);
    }
}

impl<S: Storage, R: KeySource> Hand for Sender<S, R> {
    fn open(&mut self, version: Version, extensions: Extensions) {
        Sender::open(self, version, extensions)
    }

    fn pong(&mut self, payload: &[u8]) {
        self.answer_ping(payload)
    }

    fn end(&mut self, end: OwedEnd) {
        Sender::end(self, end)
    }
}

impl<S: Storage> RecvHalf<S> {
    pub(crate) fn new(
        input: S,
        message: S,
        config: &Config,
        role: Role,
        state: RecvState,
        pair: u32,
    ) -> Self {
        RecvHalf {
            input: ByteQueue::new(input),
            assembly: Assembly::new(message),
            state,
            settings: RecvSettings::new(config),
            role,
            borrowed: 0,
            head_scanned: 0,
            eof: false,
            drained: false,
            pair,
            #[cfg(feature = "deflate")]
            inflater: None,
        }
    }

    pub(crate) fn receive(&mut self, data: &[u8]) -> usize {
        self.release_borrowed();
        if let RecvState::Closed { .. } = self.state {
            return data.len();
        }
        let rules = self.rules();
        let queued = self.input.len();
        let spare = self.input.spare(data.len(), rules.input_capacity);
        let n = match &mut self.state {
            // The hybi decoder unmasks a large payload while it is copied in.
            RecvState::Open {
                decoder: Decoder::Hybi(decoder),
                ..
            } => decoder.copy_in(queued, spare, data, &rules),
            _ => {
                let n = spare.len().min(data.len());
                spare[..n].copy_from_slice(&data[..n]);
                n
            }
        };
        self.input.commit(n);
        n
    }

    pub(crate) fn read_buffer(&mut self) -> &mut [u8] {
        self.release_borrowed();
        let max = self.max_input();
        // A connection back from idle (its input given back) reads into a small buffer
        // first: most such reads bring one small message, and fresh memory costs its zeroing.
        // A read that fills it makes the next offer 16 KiB.
        let min = if self.input.capacity() == 0 {
            4 * 1024
        } else {
            16 * 1024
        };
        self.input.spare(min, max)
    }

    /// The outcome of a read into [`RecvHalf::read_buffer`]. A read that filled less than it
    /// was offered emptied the transport's receive buffer (a stream socket returns what it
    /// holds): reading again before the transport is readable would find nothing.
    pub(crate) fn handle_read(&mut self, read: Transfer) {
        match read {
            Transfer::Bytes(n) => {
                // What `read_buffer` offered is still free: the read's bytes are not committed.
                self.drained = n < self.input.spare_len(self.max_input());
                self.commit_read(n);
            }
            Transfer::End => self.handle_eof(),
            Transfer::Retry => self.drained = false,
            Transfer::Blocked => self.drained = true,
        }
    }

    /// What a step with no event says: closed, read more, or wait to read more.
    pub(crate) fn idle_step(&self) -> Step<'static> {
        match self.state() {
            State::Closed => Step::Closed,
            _ if self.drained => Step::Wait,
            _ => Step::Read,
        }
    }

    pub(crate) fn shrink_buffers(&mut self) {
        self.release_borrowed();
        self.input.release_if_empty();
        self.assembly.shrink();
    }

    pub(crate) fn commit_read(&mut self, n: usize) {
        if let RecvState::Closed { .. } = self.state {
            return;
        }
        self.input.commit(n);
    }

    pub(crate) fn handle_eof(&mut self) {
        self.eof = true;
    }

    pub(crate) fn buffered_input(&self) -> &[u8] {
        self.input.data()
    }

    pub(crate) fn state(&self) -> State {
        match self.state {
            _ if self.state.is_handshaking() => State::Handshaking,
            RecvState::Closed { .. } => State::Closed,
            _ => State::Open,
        }
    }

    pub(crate) fn version(&self) -> Option<Version> {
        self.state.version()
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// The next event; what it owes goes to `hand`.
    #[inline(always)]
    pub(crate) fn poll<H: Hand>(&mut self, hand: &mut H) -> Result<Option<Event<'_>>, Error> {
        self.release_borrowed();
        if self.assembly.in_progress().is_none() {
            // No fragmented message in progress: said as constants, so that the header checks
            // that depend on one fold away.
            let rules = Rules {
                message_is_text: None,
                message_len: 0,
                ..self.rules()
            };
            if let RecvState::Open {
                decoder: Decoder::Hybi(decoder),
                ..
            } = &mut self.state
            {
                // Most messages are one small frame: decoded without the general state
                // machine, with the same header parse and the same result.
                if let Some(frame) = decoder.step_small(self.input.data_mut(), rules) {
                    // The frame fits the input, which never holds more than 4 GiB - 1.
                    self.borrowed = frame.total as u32;
                    let payload = &self.input.data()[frame.payload];
                    if !frame.is_text {
                        return Ok(Some(Event::Binary(payload)));
                    }
                    return match utf8::validate(payload) {
                        Ok(text) => Ok(Some(Event::Text(text))),
                        Err(_) => {
                            let error = ProtocolError::InvalidUtf8;
                            end(&mut self.state, hand, RecvEnd::Violation(error));
                            Err(Error::Protocol(error))
                        }
                    };
                }
            }
        }
        self.poll_general(hand)
    }

    /// Everything but the small-frame path: kept out of line so that path stays short.
    #[inline(never)]
    fn poll_general<H: Hand>(&mut self, hand: &mut H) -> Result<Option<Event<'_>>, Error> {
        let ready = match self.advance(hand) {
            Ok(Some(ready)) => ready,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e),
        };
        let RecvHalf {
            input,
            assembly,
            state,
            ..
        } = self;
        let input = input.data();
        let mut invalid_text = || {
            let error = ProtocolError::InvalidUtf8;
            end(state, hand, RecvEnd::Violation(error));
            Err(Error::Protocol(error))
        };
        let event = match ready {
            Ready::Request(parsed) => {
                let request = parsed.request(input);
                if parsed.version.is_some() {
                    Event::Request(request)
                } else {
                    Event::HttpRequest(request)
                }
            }
            Ready::Accepted(answered, version) => Event::Accepted(Response {
                head: &input[..answered.head_len],
                status: answered.status,
                version,
            }),
            Ready::Text(range) => match utf8::validate(&input[range]) {
                Ok(text) => Event::Text(text),
                Err(_) => return invalid_text(),
            },
            Ready::Binary(range) => Event::Binary(&input[range]),
            Ready::Message { is_text: true } => match utf8::validate(assembly.data()) {
                Ok(text) => Event::Text(text),
                Err(_) => return invalid_text(),
            },
            Ready::Message { is_text: false } => Event::Binary(assembly.data()),
            Ready::Fragment {
                payload,
                is_text,
                is_final,
            } => Event::Fragment(Fragment {
                data: &input[payload],
                is_text,
                is_final,
            }),
            #[cfg(feature = "deflate")]
            Ready::Inflated { is_text, is_final } => Event::Fragment(Fragment {
                data: assembly.data(),
                is_text,
                is_final,
            }),
            Ready::Ping(range) => Event::Ping(&input[range]),
            Ready::Pong(range, sent_at) => Event::Pong(Pong {
                payload: &input[range],
                sent_at,
            }),
            Ready::Close { code, reason } => Event::Close(Close {
                code,
                // Checked when the close frame was parsed.
                reason: core::str::from_utf8(&input[reason]).unwrap_or(""),
                clean: true,
            }),
            Ready::Closed(report) => Event::Close(Close {
                code: report.code,
                reason: "",
                clean: report.clean,
            }),
        };
        Ok(Some(event))
    }

    /// The rules frames are checked against now.
    #[inline(always)]
    fn rules(&self) -> Rules {
        let [_, _, frame, message, hixie] = self.settings.limits;
        Rules {
            role: self.role,
            max_frame_payload: frame as usize,
            max_message_size: message as usize,
            max_hixie_frame: hixie as usize,
            input_capacity: self.max_input(),
            message_is_text: self.assembly.in_progress(),
            message_len: self.assembly.len(),
            compression: self.compression(),
            message_compressed: self.assembly.compressed,
        }
    }

    /// Whether permessage-deflate was agreed.
    #[inline(always)]
    fn compression(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.inflater.is_some();
        #[cfg(not(feature = "deflate"))]
        return false;
    }

    /// The most input held at once: the limits' need, or the storage's size if smaller.
    #[inline(always)]
    fn max_input(&self) -> usize {
        (self.settings.max_input as usize).min(self.input.max_capacity())
    }

    /// The limits a handshake head is read under: a head must also leave room in the input
    /// for hixie's key bytes, so that storage smaller than the head limit reports a head too
    /// large instead of waiting for room that never comes.
    fn handshake_limits(&self) -> Limits {
        let mut limits = self.settings.limits();
        let room = self.max_input().saturating_sub(16);
        limits.max_handshake_bytes = limits.max_handshake_bytes.min(room);
        limits
    }

    fn release_borrowed(&mut self) {
        if self.borrowed > 0 {
            self.input.consume(self.borrowed as usize);
            self.borrowed = 0;
        }
        self.assembly.release_delivered();
    }

    /// The state machine: what the input holds next, as positions.
    fn advance<H: Hand>(&mut self, hand: &mut H) -> Result<Option<Ready>, Error> {
        loop {
            let version = match self.state {
                RecvState::ServerReading => {
                    let limits = self.handshake_limits();
                    if !self.head_may_be_complete(&limits) {
                        return Ok(None);
                    }
                    return match server::parse(self.input.data(), &limits) {
                        Ok(Some(parsed)) => {
                            self.state.request_read(parsed);
                            Ok(Some(Ready::Request(parsed)))
                        }
                        Ok(None) if self.eof => Err(self.handshake_failed(
                            HandshakeError::ConnectionClosed,
                            false,
                            hand,
                        )),
                        Ok(None) => Ok(None),
                        Err(e) => Err(self.handshake_failed(e, true, hand)),
                    };
                }
                RecvState::ServerDeciding(_) => return Ok(None),
                RecvState::ClientWaiting { version, expect } => {
                    let limits = self.handshake_limits();
                    if !self.head_may_be_complete(&limits) {
                        return Ok(None);
                    }
                    let input = self.input.data();
                    let offered = self.settings.deflate_offer();
                    return match client::parse_response(input, version, &expect, &limits, offered) {
                        Ok(Some(answered)) => {
                            self.state.open();
                            let extensions = answered.extensions;
                            self.start_extensions(extensions);
                            hand.open(version, extensions);
                            self.borrowed = answered.total_len as u32;
                            Ok(Some(Ready::Accepted(answered, version)))
                        }
                        Ok(None) if self.eof => Err(self.handshake_failed(
                            HandshakeError::ConnectionClosed,
                            false,
                            hand,
                        )),
                        Ok(None) => Ok(None),
                        Err(e) => Err(self.handshake_failed(e, false, hand)),
                    };
                }
                RecvState::Closed { .. } => {
                    // The decompressor's memory goes with the connection.
                    #[cfg(feature = "deflate")]
                    {
                        self.inflater = None;
                    }
                    if let Some(failure) = self.state.take_failure() {
                        return Err(Error::Handshake(failure));
                    }
                    return Ok(self.state.take_report().map(Ready::Closed));
                }
                RecvState::Open { version, .. } => version,
            };
            let rules = self.rules();
            let decoded = {
                let RecvState::Open { decoder, .. } = &mut self.state else {
                    return Ok(None);
                };
                let cx = Context {
                    rules,
                    utf8: &mut self.assembly.utf8,
                };
                decoder.step(self.input.data_mut(), cx)
            };
            match decoded {
                Ok(Decoded::Partial) => {
                    if !self.eof {
                        return Ok(None);
                    }
                    end(&mut self.state, hand, RecvEnd::Eof);
                }
                Ok(Decoded::Discard(n)) => self.input.consume(n),
                Ok(Decoded::Frame(frame)) => match self.on_frame(frame, version, hand) {
                    Ok(Some(ready)) => return Ok(Some(ready)),
                    Ok(None) => {}
                    Err(e) => return Err(self.fail(e, hand)),
                },
                Err(e) => return Err(self.fail(e, hand)),
            }
        }
    }

    /// The peer broke the protocol: the receiving side closes, and the sending half owes the
    /// close frame with the violation's code (RFC 6455 §7.1.7).
    fn fail<H: Hand>(&mut self, error: ProtocolError, hand: &mut H) -> Error {
        end(&mut self.state, hand, RecvEnd::Violation(error));
        Error::Protocol(error)
    }

    /// The handshake agreed these extensions: the decompressor is set up (the receiving
    /// direction's context is the peer's: a server inflates what the client compressed).
    pub(crate) fn start_extensions(&mut self, extensions: Extensions) {
        #[cfg(feature = "deflate")]
        if let Some((params, _)) = extensions {
            let reset = match self.role {
                Role::Server => params.client_no_context_takeover,
                Role::Client => params.server_no_context_takeover,
            };
            let inflater = crate::deflate::codec::Inflater::new(reset);
            self.inflater = Some(alloc::boxed::Box::new(inflater));
        }
        #[cfg(not(feature = "deflate"))]
        let Extensions = extensions;
    }

    /// The handshake did not complete in time.
    pub(crate) fn handshake_timed_out<H: Hand>(&mut self, hand: &mut H) {
        if let Some(end) = self.state.handshake_timed_out() {
            hand.end(end);
        }
    }

    /// The sending half gave up waiting for the peer's close: the close event is 1006.
    pub(crate) fn abort<H: Hand>(&mut self, hand: &mut H) {
        end(&mut self.state, hand, RecvEnd::Abort);
    }

    /// Whether parsing the head can tell more than last time: a head end (a line feed, an
    /// optional carriage return, a line feed) arrived, the input passed the head limit, or the
    /// stream ended. httparse's verdict on the bytes up to the first head end is its verdict on
    /// all of them, so skipping the parse until then changes no outcome, only its cost.
    fn head_may_be_complete(&mut self, limits: &Limits) -> bool {
        let data = self.input.data();
        if self.eof || data.len() >= limits.max_handshake_bytes {
            return true;
        }
        // Two bytes back: the end may straddle the previous scan's edge.
        let from = (self.head_scanned as usize)
            .saturating_sub(2)
            .min(data.len());
        let found = data[from..].windows(2).enumerate().any(|(i, w)| {
            w[0] == b'\n'
                && (w[1] == b'\n' || (w[1] == b'\r' && data.get(from + i + 2) == Some(&b'\n')))
        });
        if !found {
            // The head limit fits 32 bits, and the input here is within it.
            self.head_scanned = data.len() as u32;
        }
        found
    }

    /// The handshake failed: closed, with no close event. A server whose request was bad
    /// (`answer`) owes the sending half the HTTP answer with the error's status.
    fn handshake_failed<H: Hand>(
        &mut self,
        error: HandshakeError,
        answer: bool,
        hand: &mut H,
    ) -> Error {
        if let Some(end) = self.state.handshake_ended(answer.then_some(error)) {
            hand.end(end);
        }
        Error::Handshake(error)
    }

    fn on_frame<H: Hand>(
        &mut self,
        frame: Frame,
        version: Version,
        hand: &mut H,
    ) -> Result<Option<Ready>, ProtocolError> {
        let payload = frame.payload.clone();
        match frame.opcode {
            OpCode::Ping => {
                hand.pong(&self.input.data()[payload.clone()]);
                self.borrowed = frame.total as u32;
                Ok(Some(Ready::Ping(payload)))
            }
            OpCode::Pong => {
                let sent_at = read_stamp(&self.input.data()[payload.clone()]);
                self.borrowed = frame.total as u32;
                Ok(Some(Ready::Pong(payload, sent_at)))
            }
            OpCode::Close => {
                let is_hixie = version.is_hixie();
                let code = if is_hixie {
                    None
                } else {
                    close::parse_close_payload(&self.input.data()[payload.clone()])?
                        .map(|(code, _)| code)
                };
                end(&mut self.state, hand, RecvEnd::PeerClose(code));
                self.borrowed = frame.total as u32;
                let reported = if is_hixie {
                    None
                } else {
                    Some(code.unwrap_or(CloseCode::NO_STATUS))
                };
                let reason = if code.is_some() {
                    payload.start + 2..payload.end
                } else {
                    payload.end..payload.end
                };
                Ok(Some(Ready::Close {
                    code: reported,
                    reason,
                }))
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => self.on_data(frame),
        }
    }

    fn on_data(&mut self, frame: Frame) -> Result<Option<Ready>, ProtocolError> {
        let payload = frame.payload.clone();
        let is_text = match frame.opcode {
            OpCode::Text => true,
            OpCode::Binary => false,
            _ => self.assembly.in_progress().unwrap_or(false),
        };
        #[cfg(feature = "deflate")]
        if frame.compressed {
            return self.on_compressed(frame, is_text);
        }
        if frame.fin && self.assembly.in_progress().is_none() {
            if frame.fed_to_validator {
                self.assembly
                    .utf8
                    .finish()
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            self.borrowed = frame.total as u32;
            return Ok(Some(if is_text {
                Ready::Text(payload)
            } else {
                Ready::Binary(payload)
            }));
        }
        let stream = self.settings.stream_fragments;
        let max_message = self.settings.limits[3] as usize;
        self.assembly.add(
            is_text,
            &self.input.data()[payload.clone()],
            !stream,
            max_message,
        )?;
        if frame.fin {
            self.assembly.finish(is_text)?;
        }
        if stream {
            self.borrowed = frame.total as u32;
            return Ok(Some(Ready::Fragment {
                payload,
                is_text,
                is_final: frame.fin,
            }));
        }
        self.input.consume(frame.total);
        Ok(frame.fin.then_some(Ready::Message { is_text }))
    }

    /// A frame of a compressed message: inflated into the message buffer as it is read, within
    /// the limits on the inflated size, and delivered from there: whole at its last frame, or
    /// frame by frame when fragments are streamed (a message of one frame still comes whole).
    #[cfg(feature = "deflate")]
    fn on_compressed(
        &mut self,
        frame: Frame,
        is_text: bool,
    ) -> Result<Option<Ready>, ProtocolError> {
        let single = frame.fin && self.assembly.in_progress().is_none();
        if frame.opcode != OpCode::Continuation {
            self.assembly.start_compressed(is_text);
        }
        let [_, _, frame_limit, message_limit, _] = self.settings.limits.map(|n| n as usize);
        let RecvHalf {
            input,
            assembly,
            inflater,
            ..
        } = self;
        let Some(inflater) = inflater.as_deref_mut() else {
            // RSV1 is taken only once the decompressor exists.
            return Err(ProtocolError::ReservedBits);
        };
        let message_room = message_limit.saturating_sub(assembly.len());
        let mut out = crate::message::Inflating {
            assembly,
            is_text,
            message_room,
            message_limit,
            frame_room: frame_limit,
            frame_limit,
        };
        inflater.inflate(&input.data()[frame.payload.clone()], frame.fin, &mut out)?;
        input.consume(frame.total);
        if frame.fin {
            self.assembly.finish(is_text)?;
        }
        if self.settings.stream_fragments && !single {
            self.assembly.deliver();
            return Ok(Some(Ready::Inflated {
                is_text,
                is_final: frame.fin,
            }));
        }
        Ok(frame.fin.then_some(Ready::Message { is_text }))
    }
}

impl<S: Storage> Receiver<S> {
    /// The next event, or `None` until more input arrives. Call it until it returns `None`
    /// after every input. A protocol violation returns its error once, and the close event
    /// follows. What the events oblige the sending half to send is kept for
    /// [`Receiver::take_owed`].
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a peer's violation (the receiving side is then closed and the
    /// sending half owes the close frame with the violation's code), [`Error::Handshake`] for
    /// a failed handshake.
    #[must_use = "events must be handled, and their answers handed to the sending half"]
    #[inline(always)]
    pub fn poll_event(&mut self) -> Result<Option<Event<'_>>, Error> {
        self.half.poll(&mut self.owed)
    }

    /// [`Receiver::poll_event`], handing what is owed to `sender` at once (pongs, the close
    /// reply): for both halves on one thread, with an event still borrowed while it is
    /// answered on `sender`.
    ///
    /// # Errors
    ///
    /// Those of [`Receiver::poll_event`], and [`UsageError::ForeignHalf`] when `sender`
    /// belongs to another connection; nothing changes then.
    #[must_use = "events must be handled, and polling drives automatic answers"]
    #[inline(always)]
    pub fn poll_event_with<R: KeySource>(
        &mut self,
        sender: &mut Sender<S, R>,
    ) -> Result<Option<Event<'_>>, Error> {
        if sender.pair != self.owed.pair {
            return Err(UsageError::ForeignHalf.into());
        }
        if let Some(owed) = self.owed.take() {
            let _ = sender.handle_owed(owed);
        }
        self.half.poll(sender)
    }

    /// What the sending half is owed since the last call: give it to this connection's
    /// [`Sender::handle_owed`]. `None` when nothing is owed.
    pub fn take_owed(&mut self) -> Option<Owed> {
        self.owed.take()
    }

    /// Takes bytes from the peer; returns how many were taken. Fewer than given means the
    /// input is full (a fixed buffer, or a frame at its limits): poll events, then give the
    /// rest. Bytes after the receiving side closed are taken and ignored.
    pub fn receive(&mut self, data: &[u8]) -> usize {
        self.half.receive(data)
    }

    /// Free input space to read into directly (one copy less than [`Receiver::receive`]); mark
    /// what was read with [`Receiver::commit_read`]. Empty only when the input holds events not
    /// yet polled, or the receiving side is closed.
    pub fn read_buffer(&mut self) -> &mut [u8] {
        self.half.read_buffer()
    }

    /// Marks `n` bytes of [`Receiver::read_buffer`] as received.
    pub fn commit_read(&mut self, n: usize) {
        self.half.commit_read(n)
    }

    /// Gives back the memory of the input and message buffers that hold nothing (growable
    /// storage only), ending the borrow of the last event polled; see
    /// [`crate::Connection::shrink_buffers`].
    pub fn shrink_buffers(&mut self) {
        self.half.shrink_buffers()
    }

    /// The transport ended: no more input will come. Buffered input is still decoded; then the
    /// connection reports its close (1006, or a clean close on hixie-75, whose only close is
    /// the end of the stream).
    pub fn handle_eof(&mut self) {
        self.half.handle_eof()
    }

    /// Bytes received and not yet consumed by an event or a handshake (for taking a plain HTTP
    /// request's stream back).
    pub fn buffered_input(&self) -> &[u8] {
        self.half.buffered_input()
    }

    /// The receiving direction's state: [`State::Handshaking`], [`State::Open`], and
    /// [`State::Closed`] once the peer's close arrived, the peer broke the protocol or the
    /// input ended (the close event may still be pending).
    pub fn state(&self) -> State {
        self.half.state()
    }

    /// The version spoken, once known (a server learns it from the request).
    pub fn version(&self) -> Option<Version> {
        self.half.version()
    }

    /// The connection's role.
    pub fn role(&self) -> Role {
        self.half.role()
    }
}

/// Ends the receiving direction and hands over what the sending half owes for it.
fn end<H: Hand>(state: &mut RecvState, hand: &mut H, how: RecvEnd) {
    if let Some(end) = state.end(how) {
        hand.end(end);
    }
}

impl<S> core::fmt::Debug for Receiver<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("half", &self.half)
            .field("owed", &self.owed)
            .finish()
    }
}

impl<S> core::fmt::Debug for RecvHalf<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecvHalf")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}
