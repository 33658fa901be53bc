//! The receiving half: the input queue, the decoder, message assembly, and the events.
//!
//! An event borrows the input (or the reassembled message); the bytes it borrowed are dropped
//! at the next call on this half, so payloads are never copied to be handed out.

use core::ops::Range;

use super::{CloseReport, Phase, Sender};
use crate::buffer::{ByteQueue, Storage};
use crate::close::{self, CloseCode};
use crate::entropy::Entropy;
use crate::error::{Error, HandshakeError, ProtocolError};
use crate::event::{Close, Event, Fragment, Pong};
use crate::framing::{Context, Decoded, Decoder, Frame, OpCode};
use crate::handshake::{client, server, Response};
use crate::message::Assembly;
use crate::utf8;

/// The receiving half of a [`crate::Connection`]: input bytes in, events out.
pub struct Receiver<S> {
    pub(crate) input: ByteQueue<S>,
    pub(crate) assembly: Assembly<S>,
    pub(crate) decoder: Option<Decoder>,
    /// Bytes of input the last event borrowed, dropped at the next call (32 bits: the input
    /// never holds more than 4 GiB - 1).
    borrowed: u32,
    /// Leading input bytes known to hold no end of an HTTP head, so that a head arriving in
    /// pieces is scanned once instead of parsed again from its start at every piece.
    head_scanned: u32,
    eof: bool,
}

/// An event found by [`Receiver::step`], as positions: built into an [`Event`] afterwards so
/// that decoding holds no borrow of the input.
enum Ready {
    Request(server::Parsed),
    Accepted(client::Answered),
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
    Ping(Range<usize>),
    Pong(Range<usize>, Option<u64>),
    Close {
        code: Option<CloseCode>,
        reason: Range<usize>,
    },
    Closed(CloseReport),
}

impl<S: Storage> Receiver<S> {
    pub(crate) fn new(input: S, message: S) -> Self {
        Receiver {
            input: ByteQueue::new(input),
            assembly: Assembly::new(message),
            decoder: None,
            borrowed: 0,
            head_scanned: 0,
            eof: false,
        }
    }

    /// Takes bytes from the peer; returns how many were taken. Fewer than given means the
    /// input is full (a fixed buffer, or a frame at its limits): poll events, then give the
    /// rest. Bytes after the connection closed are taken and ignored.
    pub fn receive<R: Entropy>(&mut self, data: &[u8], tx: &Sender<S, R>) -> usize {
        self.release_borrowed();
        if matches!(tx.phase, Phase::Closed) {
            return data.len();
        }
        let max = self.max_input(tx);
        let queued = self.input.len();
        let spare = self.input.spare(data.len(), max);
        let n = match (&tx.phase, self.decoder.as_mut()) {
            // The hybi decoder unmasks a large payload while it is copied in.
            (Phase::Open, Some(Decoder::Hybi(decoder))) => {
                let cx = Context {
                    role: tx.role,
                    limits: &tx.config.limits(),
                    input_capacity: max,
                    message_is_text: self.assembly.in_progress(),
                    message_len: self.assembly.len(),
                    utf8: &mut self.assembly.utf8,
                };
                decoder.copy_in(queued, spare, data, &cx)
            }
            _ => {
                let n = spare.len().min(data.len());
                spare[..n].copy_from_slice(&data[..n]);
                n
            }
        };
        self.input.commit(n);
        n
    }

    /// Free input space to read into directly (one copy less than [`Receiver::receive`]); mark
    /// what was read with [`Receiver::commit_read`]. Empty when the input is full.
    pub fn read_buffer<R: Entropy>(&mut self, tx: &Sender<S, R>) -> &mut [u8] {
        self.release_borrowed();
        let max = self.max_input(tx);
        self.input.spare(16 * 1024, max)
    }

    /// Marks `n` bytes of [`Receiver::read_buffer`] as received.
    pub fn commit_read<R: Entropy>(&mut self, n: usize, tx: &Sender<S, R>) {
        if matches!(tx.phase, Phase::Closed) {
            return;
        }
        self.input.commit(n);
    }

    /// The transport ended: no more input will come. Buffered input is still processed.
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// Bytes received and not yet consumed by an event or a handshake (for taking a plain HTTP
    /// request's stream back).
    pub fn buffered_input(&self) -> &[u8] {
        self.input.data()
    }

    /// The next event, or `None` until more input arrives. Call it until it returns `None`
    /// after every input. A protocol violation returns its error once (the close frame is
    /// queued), and the close event follows.
    #[must_use = "events must be handled, and polling drives automatic answers"]
    // Inlined so that the common event reaches the caller in registers: returned through
    // memory, its two words are stored apart and read back as one, which stalls.
    #[inline(always)]
    pub fn poll_event<'a, R: Entropy>(
        &'a mut self,
        tx: &mut Sender<S, R>,
    ) -> Result<Option<Event<'a>>, Error> {
        self.release_borrowed();
        if let (Phase::Open, None, Some(Decoder::Hybi(decoder))) = (
            &tx.phase,
            self.assembly.in_progress(),
            self.decoder.as_mut(),
        ) {
            // Most messages are one small frame: decoded without the general state machine,
            // with the same checks and the same result.
            if let Some(frame) =
                decoder.step_small(self.input.data_mut(), tx.role, &tx.config.limits())
            {
                // The frame fits the input, which never holds more than 4 GiB - 1.
                self.borrowed = frame.total as u32;
                let payload = &self.input.data()[frame.payload];
                if !frame.is_text {
                    return Ok(Some(Event::Binary(payload)));
                }
                return match utf8::validate(payload) {
                    Ok(text) => Ok(Some(Event::Text(text))),
                    Err(_) => Err(tx.fail(ProtocolError::InvalidUtf8)),
                };
            }
        }
        self.poll_general(tx)
    }

    /// Everything but the small-frame path: kept out of line so that path stays short.
    #[inline(never)]
    fn poll_general<'a, R: Entropy>(
        &'a mut self,
        tx: &mut Sender<S, R>,
    ) -> Result<Option<Event<'a>>, Error> {
        let ready = match self.step(tx) {
            Ok(Some(ready)) => ready,
            Ok(None) => {
                self.input.release_if_empty();
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.build(ready, tx)
    }

    /// The most input held at once: the limits' need, or the storage's size if smaller.
    fn max_input<R>(&self, tx: &Sender<S, R>) -> usize {
        tx.config
            .limits()
            .max_input()
            .min(self.input.max_capacity())
    }

    fn release_borrowed(&mut self) {
        if self.borrowed > 0 {
            self.input.consume(self.borrowed as usize);
            self.borrowed = 0;
        }
        self.assembly.release_delivered();
    }

    fn step<R: Entropy>(&mut self, tx: &mut Sender<S, R>) -> Result<Option<Ready>, Error> {
        loop {
            let reading_head = matches!(tx.phase, Phase::ServerReading | Phase::ClientWaiting(_));
            if reading_head && !self.head_may_be_complete(tx) {
                return Ok(None);
            }
            match tx.phase {
                Phase::ServerReading => {
                    return match server::parse(self.input.data(), &tx.config.limits()) {
                        Ok(Some(parsed)) => {
                            tx.await_decision(parsed);
                            Ok(Some(Ready::Request(parsed)))
                        }
                        Ok(None) if self.eof => {
                            Err(self.handshake_failed(tx, HandshakeError::ConnectionClosed))
                        }
                        Ok(None) => Ok(None),
                        Err(e) => {
                            server::write_failure(&mut tx.output, tx.config.max_queued_output(), e);
                            Err(self.handshake_failed(tx, e))
                        }
                    };
                }
                Phase::ServerDeciding(_) => return Ok(None),
                Phase::ClientWaiting(expect) => {
                    let version = tx.version.unwrap_or(crate::Version::Hybi13);
                    return match client::parse_response(
                        self.input.data(),
                        version,
                        &expect,
                        &tx.config.limits(),
                    ) {
                        Ok(Some(answered)) => {
                            self.decoder = Some(tx.open(version));
                            self.borrowed = answered.total_len as u32;
                            Ok(Some(Ready::Accepted(answered)))
                        }
                        Ok(None) if self.eof => {
                            Err(self.handshake_failed(tx, HandshakeError::ConnectionClosed))
                        }
                        Ok(None) => Ok(None),
                        Err(e) => Err(self.handshake_failed(tx, e)),
                    };
                }
                Phase::Closed => return Ok(tx.pending_close.take().map(Ready::Closed)),
                Phase::Open => {}
            }
            let limits = tx.config.limits();
            let input_capacity = self.max_input(tx);
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(None);
            };
            let cx = Context {
                role: tx.role,
                limits: &limits,
                input_capacity,
                message_is_text: self.assembly.in_progress(),
                message_len: self.assembly.len(),
                utf8: &mut self.assembly.utf8,
            };
            match decoder.step(self.input.data_mut(), cx) {
                Ok(Decoded::Partial) => {
                    if !self.eof {
                        return Ok(None);
                    }
                    if tx.version == Some(crate::Version::Hixie75) {
                        // hixie-75's only close is the end of the stream.
                        tx.enter_closed(CloseReport {
                            code: None,
                            clean: true,
                        });
                    } else {
                        tx.abort();
                    }
                }
                Ok(Decoded::Discard(n)) => self.input.consume(n),
                Ok(Decoded::Frame(frame)) => match self.on_frame(frame, tx) {
                    Ok(Some(ready)) => return Ok(Some(ready)),
                    Ok(None) => {}
                    Err(e) => return Err(tx.fail(e)),
                },
                Err(e) => return Err(tx.fail(e)),
            }
        }
    }

    /// Whether parsing the head can tell more than last time: a head end (a line feed, an
    /// optional carriage return, a line feed) arrived, the input passed the head limit, or the
    /// stream ended. httparse's verdict on the bytes up to the first head end is its verdict on
    /// all of them, so skipping the parse until then changes no outcome, only its cost.
    fn head_may_be_complete<R>(&mut self, tx: &Sender<S, R>) -> bool {
        let data = self.input.data();
        if self.eof || data.len() > tx.config.limits().max_handshake_bytes {
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

    fn handshake_failed<R: Entropy>(&mut self, tx: &mut Sender<S, R>, e: HandshakeError) -> Error {
        tx.shut();
        Error::Handshake(e)
    }

    fn on_frame<R: Entropy>(
        &mut self,
        frame: Frame,
        tx: &mut Sender<S, R>,
    ) -> Result<Option<Ready>, ProtocolError> {
        let payload = frame.payload.clone();
        match frame.opcode {
            OpCode::Ping => {
                tx.answer_ping(&self.input.data()[payload.clone()]);
                self.borrowed = frame.total as u32;
                Ok(Some(Ready::Ping(payload)))
            }
            OpCode::Pong => {
                let rtt = tx.pong_received(&self.input.data()[payload.clone()]);
                self.borrowed = frame.total as u32;
                Ok(Some(Ready::Pong(payload, rtt)))
            }
            OpCode::Close => {
                let is_hixie = tx.version.is_some_and(|v| v.is_hixie());
                let code = if is_hixie {
                    None
                } else {
                    close::parse_close_payload(&self.input.data()[payload.clone()])?
                        .map(|(code, _)| code)
                };
                tx.peer_closed(code);
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
            OpCode::Text | OpCode::Binary | OpCode::Continuation => self.on_data(frame, tx),
        }
    }

    fn on_data<R: Entropy>(
        &mut self,
        frame: Frame,
        tx: &mut Sender<S, R>,
    ) -> Result<Option<Ready>, ProtocolError> {
        let payload = frame.payload.clone();
        let is_text = match frame.opcode {
            OpCode::Text => true,
            OpCode::Binary => false,
            _ => self.assembly.in_progress().unwrap_or(false),
        };
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
        let stream = tx.config.stream_fragments;
        let max_message = tx.config.limits().max_message_size;
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

    fn build<'a, R: Entropy>(
        &'a self,
        ready: Ready,
        tx: &mut Sender<S, R>,
    ) -> Result<Option<Event<'a>>, Error> {
        let input = self.input.data();
        let event = match ready {
            Ready::Request(parsed) => {
                let request = server::view(input, parsed);
                if parsed.version.is_some() {
                    Event::Request(request)
                } else {
                    Event::HttpRequest(request)
                }
            }
            Ready::Accepted(answered) => Event::Accepted(Response {
                head: &input[..answered.head_len],
                status: answered.status,
                version: tx.version.unwrap_or(crate::Version::Hybi13),
            }),
            Ready::Text(range) => match utf8::validate(&input[range]) {
                Ok(text) => Event::Text(text),
                Err(_) => return Err(tx.fail(ProtocolError::InvalidUtf8)),
            },
            Ready::Binary(range) => Event::Binary(&input[range]),
            Ready::Message { is_text: true } => match utf8::validate(self.assembly.data()) {
                Ok(text) => Event::Text(text),
                Err(_) => return Err(tx.fail(ProtocolError::InvalidUtf8)),
            },
            Ready::Message { is_text: false } => Event::Binary(self.assembly.data()),
            Ready::Fragment {
                payload,
                is_text,
                is_final,
            } => Event::Fragment(Fragment {
                data: &input[payload],
                is_text,
                is_final,
            }),
            Ready::Ping(range) => Event::Ping(&input[range]),
            Ready::Pong(range, round_trip) => Event::Pong(Pong {
                payload: &input[range],
                round_trip,
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
}

impl<S> core::fmt::Debug for Receiver<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}
