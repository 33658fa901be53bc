//! What every driver shares: the step that moves bytes between a transport and a connection,
//! the budget that keeps one busy connection from starving the others, and, with `alloc`, the
//! owned message and the server's answer to a request.
//!
//! A driver (the blocking one in `blocking`, an async one, an event loop, firmware)
//! repeats one step:
//!
//! 1. [`Connection::step`] (or [`Receiver::step`] on a receiving half alone) gives the next
//!    event, or says what the transport must do: [`Step::Read`] or [`Step::Wait`], after
//!    sending the pending output, or [`Step::Closed`];
//! 2. a read goes into [`Connection::read_buffer`], and its outcome, classified as a
//!    [`Transfer`], goes to [`Connection::handle_read`]; a write of
//!    [`Connection::pending_output`] goes to [`Connection::handle_write`].
//!
//! Everything one read delivered comes out as events before the step asks for the transport
//! again, so a driver that writes only when the step says [`Step::Read`] or [`Step::Wait`]
//! (and when its application asks) makes one write per batch of input, not one per message.
//! [`Step::Wait`] says the last read emptied the transport: a driver with readiness
//! notifications (epoll, kqueue, an async reactor) waits for one before reading again instead
//! of making a read that finds nothing.
//!
//! [`Transfer`] is where the transport's outcomes are told apart once for every driver: bytes
//! moved, the end of the stream, an interruption to retry at once, or nothing possible until
//! the transport is ready (`WouldBlock`, a read timeout). With `std`, `Transfer::from_io`
//! classifies a `std::io` result.
//!
//! [`Budget`] is the turn a driver serving many connections on one thread gives each: after so
//! many events or bytes it lets the others run (an async task yields, an event loop moves to
//! the next ready connection) and comes back to the rest, which stays queued in order.

#[cfg(feature = "alloc")]
use alloc::{string::String, vec::Vec};

use crate::buffer::Storage;
use crate::connection::{Connection, Receiver, Sender};
use crate::entropy::KeySource;
use crate::error::Error;
use crate::event::Event;
#[cfg(feature = "alloc")]
use crate::{close::CloseCode, handshake::Accept, Request, UsageError};

/// What a driver does next, as [`Connection::step`] says.
#[derive(Debug)]
#[must_use]
pub enum Step<'a> {
    /// An event to act on.
    Event(Event<'a>),
    /// Nothing more until more input, and the transport may hold more now (the last read
    /// filled all the space it was offered, or no read was made yet): send the pending output,
    /// then read.
    Read,
    /// Nothing more until more input, and the last read emptied the transport (it returned
    /// fewer bytes than it was offered, or [`Transfer::Blocked`]): send the pending output,
    /// then wait until the transport is readable before reading, since a read now would most
    /// likely find nothing. A blocking read waits by itself: there this is [`Step::Read`].
    Wait,
    /// The connection is closed and its close event was delivered: send the pending output,
    /// then close the transport.
    Closed,
}

/// How one read from, or one write to, a transport went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    /// This many bytes (at least one) were read or written.
    Bytes(usize),
    /// The transport ended: a read returned no bytes, or a write could take none.
    End,
    /// Interrupted before anything moved: try again at once.
    Retry,
    /// Nothing can move until the transport is ready (`WouldBlock`, a timeout).
    Blocked,
}

#[cfg(feature = "std")]
impl Transfer {
    /// Classifies a `std::io` read or write: `Ok(0)` is [`Transfer::End`], `Interrupted` is
    /// [`Transfer::Retry`], `WouldBlock` and `TimedOut` are [`Transfer::Blocked`].
    ///
    /// # Errors
    ///
    /// Every other error, unchanged: the transport failed.
    pub fn from_io(result: std::io::Result<usize>) -> std::io::Result<Transfer> {
        use std::io::ErrorKind;
        match result {
            Ok(0) => Ok(Transfer::End),
            Ok(n) => Ok(Transfer::Bytes(n)),
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(Transfer::Retry),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(Transfer::Blocked)
            }
            Err(e) => Err(e),
        }
    }
}

/// How much a driver does for one connection before it lets the others it serves run: a
/// number of events and a number of bytes read, whichever runs out first.
///
/// A connection whose peer keeps its transport full never makes a read wait, so a driver that
/// serves it until it waits serves nobody else meanwhile. Count each event with
/// [`Budget::spend_event`] and each read with [`Budget::spend_bytes`]; once either says the
/// turn is spent, let the other connections run (an async task yields to its executor), then
/// [`Budget::renew`]. Nothing is dropped: the input not yet decoded stays in the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    events: u32,
    bytes: usize,
    events_left: u32,
    bytes_left: usize,
}

impl Budget {
    /// A turn of at most `events` events and `bytes` bytes read (each at least 1).
    pub const fn new(events: u32, bytes: usize) -> Budget {
        let events = if events == 0 { 1 } else { events };
        let bytes = if bytes == 0 { 1 } else { bytes };
        Budget {
            events,
            bytes,
            events_left: events,
            bytes_left: bytes,
        }
    }

    /// Counts one event; true when the turn is spent.
    pub fn spend_event(&mut self) -> bool {
        self.events_left = self.events_left.saturating_sub(1);
        self.is_spent()
    }

    /// Counts `n` bytes read; true when the turn is spent.
    pub fn spend_bytes(&mut self, n: usize) -> bool {
        self.bytes_left = self.bytes_left.saturating_sub(n);
        self.is_spent()
    }

    /// Whether the turn is spent.
    pub fn is_spent(&self) -> bool {
        self.events_left == 0 || self.bytes_left == 0
    }

    /// Starts a new turn.
    pub fn renew(&mut self) {
        self.events_left = self.events;
        self.bytes_left = self.bytes;
    }
}

impl Default for Budget {
    /// 256 events or 256 KiB read per turn: a yield costs little beside that much work, and a
    /// peer flooding its connection holds the others back by one such turn at a time.
    fn default() -> Budget {
        Budget::new(256, 256 * 1024)
    }
}

impl<S: Storage> Receiver<S> {
    /// One driver step on the receiving half: the next event, or what the transport must do.
    /// What the event owes the sending half is kept for [`Receiver::take_owed`].
    ///
    /// # Errors
    ///
    /// Those of [`Receiver::poll_event`].
    pub fn step(&mut self) -> Result<Step<'_>, Error> {
        // Decided before polling: a poll that finds nothing leaves the state as it was.
        let idle = self.idle_step();
        Ok(match self.poll_event()? {
            Some(event) => Step::Event(event),
            None => idle,
        })
    }

    /// Gives the outcome of a read into [`Receiver::read_buffer`] to the half: bytes are
    /// received, the end of the stream is [`Receiver::handle_eof`]. Whether the read emptied
    /// the transport (fewer bytes than offered, or [`Transfer::Blocked`]) decides between
    /// [`Step::Read`] and [`Step::Wait`] once the input is decoded.
    pub fn handle_read(&mut self, read: Transfer) {
        self.half.handle_read(read)
    }

    fn idle_step(&self) -> Step<'static> {
        self.half.idle_step()
    }
}

impl<S: Storage, R: KeySource> Sender<S, R> {
    /// Gives the outcome of a write of [`Sender::pending_output`] to the half: the bytes
    /// written leave the queue. Returns false when the transport took nothing and never will
    /// ([`Transfer::End`]): the peer is gone.
    pub fn handle_write(&mut self, write: Transfer) -> bool {
        match write {
            Transfer::Bytes(n) => {
                self.consume_output(n);
                true
            }
            Transfer::End => false,
            Transfer::Retry | Transfer::Blocked => true,
        }
    }
}

impl<S: Storage, R: KeySource> Connection<S, R> {
    /// One driver step: the next event (automatic answers queued on the way), or what the
    /// transport must do. See the [module docs](crate::drive).
    ///
    /// # Errors
    ///
    /// Those of [`Connection::poll_event`].
    pub fn step(&mut self) -> Result<Step<'_>, Error> {
        let (rx, tx) = self.halves();
        // Decided before polling: a poll that finds nothing leaves the state as it was.
        let idle = rx.idle_step();
        Ok(match rx.poll(tx)? {
            Some(event) => Step::Event(event),
            None => idle,
        })
    }

    /// Gives the outcome of a read into [`Connection::read_buffer`]; see
    /// [`Receiver::handle_read`].
    pub fn handle_read(&mut self, read: Transfer) {
        self.halves().0.handle_read(read)
    }

    /// Gives the outcome of a write of [`Connection::pending_output`]; see
    /// [`Sender::handle_write`].
    pub fn handle_write(&mut self, write: Transfer) -> bool {
        self.halves().1.handle_write(write)
    }
}

/// An event, owned: what a driver hands out.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A frame of a fragmented message (only with [`crate::Config::stream_fragments`]).
    Fragment {
        /// The payload.
        data: Vec<u8>,
        /// Whether the message is text.
        is_text: bool,
        /// Whether this is the last frame.
        is_final: bool,
    },
    /// A ping (its pong is owed, or was sent).
    Ping(Vec<u8>),
    /// A pong.
    Pong {
        /// The payload.
        payload: Vec<u8>,
        /// The round-trip time in the driver's time unit, if it answers a stamped ping
        /// ([`crate::Sender::ping_at`]).
        round_trip: Option<u64>,
    },
    /// The connection closed (see [`crate::Close`]); the last message.
    Close {
        /// The close code, `None` on hixie connections.
        code: Option<CloseCode>,
        /// The reason.
        reason: String,
        /// Whether the closing handshake completed.
        clean: bool,
    },
}

#[cfg(feature = "alloc")]
impl Message {
    /// The owned form of an event read at `now` (the time unit of the pings it answers);
    /// `None` for handshake events, which have none.
    pub fn from_event(event: Event<'_>, now: u64) -> Option<Message> {
        Some(match event {
            Event::Text(t) => Message::Text(String::from(t)),
            Event::Binary(b) => Message::Binary(b.to_vec()),
            Event::Fragment(f) => Message::Fragment {
                data: f.data.to_vec(),
                is_text: f.is_text,
                is_final: f.is_final,
            },
            Event::Ping(p) => Message::Ping(p.to_vec()),
            Event::Pong(p) => Message::Pong {
                payload: p.payload.to_vec(),
                round_trip: p.round_trip(now),
            },
            Event::Close(c) => Message::Close {
                code: c.code,
                reason: String::from(c.reason),
                clean: c.clean,
            },
            _ => return None,
        })
    }
}

/// How a server answers a request, decided by the application.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Accept, with a subprotocol (one the client offered) and extra header fields.
    Accept {
        /// The chosen subprotocol.
        protocol: Option<String>,
        /// Extra response header fields.
        headers: Vec<(String, String)>,
    },
    /// Refuse (or answer a plain HTTP request) with a status, header fields and a body.
    Respond {
        /// The status code.
        status: u16,
        /// Response header fields.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
}

/// What [`Decision::apply`] did.
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answered {
    /// The 101 answer is queued and the connection is open.
    Upgraded,
    /// The response with this status is queued and the connection is closed: the server's own
    /// choice, not a failed handshake.
    Responded {
        /// The status answered with.
        status: u16,
    },
}

#[cfg(feature = "alloc")]
impl Decision {
    /// Accept with no subprotocol and no extra fields.
    pub fn accept() -> Self {
        Decision::Accept {
            protocol: None,
            headers: Vec::new(),
        }
    }

    /// What an endpoint that serves WebSockets only answers: accept a WebSocket request with
    /// no subprotocol, and answer a plain HTTP request with `426 Upgrade Required`, the
    /// versions spoken (`Sec-WebSocket-Version: 13, 8, 7`, RFC 6455 §4.4) and `body`.
    pub fn websocket_only(request: &Request<'_>, body: &[u8]) -> Self {
        if request.version().is_some() {
            return Decision::accept();
        }
        let (name, value) = crate::handshake::server::VERSIONS_SPOKEN;
        Decision::Respond {
            status: 426,
            headers: alloc::vec![(String::from(name), String::from(value))],
            body: body.to_vec(),
        }
    }

    /// Answers the request `conn` holds: queues the 101 answer, or the response. Every
    /// driver's server handshake ends with this, then writes what was queued.
    ///
    /// # Errors
    ///
    /// Those of [`Connection::accept`] and [`Connection::respond`]; accepting a plain HTTP
    /// request is [`UsageError::NoPendingRequest`].
    pub fn apply<S: Storage, R: KeySource>(
        &self,
        conn: &mut Connection<S, R>,
    ) -> Result<Answered, Error> {
        fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect()
        }
        match self {
            Decision::Accept { protocol, headers } => {
                if conn.request().is_some_and(|r| r.version().is_none()) {
                    return Err(UsageError::NoPendingRequest.into());
                }
                let fields = borrowed(headers);
                let mut accept = Accept::new().headers(&fields);
                if let Some(p) = protocol.as_deref() {
                    accept = accept.protocol(p);
                }
                conn.accept(accept)?;
                Ok(Answered::Upgraded)
            }
            Decision::Respond {
                status,
                headers,
                body,
            } => {
                conn.respond(*status, &borrowed(headers), body)?;
                Ok(Answered::Responded { status: *status })
            }
        }
    }
}
