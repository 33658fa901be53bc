//! A blocking driver over `std::io::Read + Write`, built only on the public [`Connection`] API.
//!
//! [`WebSocket`] owns a stream and a connection over growable buffers; it reads until an event
//! is complete, hands out owned [`Message`]s, and writes the connection's output as it is
//! queued. A read timeout set on the stream surfaces as an [`Error::Io`] of kind `WouldBlock`
//! or `TimedOut`, after which reading again resumes where it stopped.

use std::io::{self, Read, Write};
use std::string::String;
use std::vec::Vec;

use crate::handshake::{Accept, ClientRequest, Request};
use crate::{CloseCode, Config, Connection, Entropy, Event, NoEntropy, OsEntropy, State, Version};

/// What the driver can fail with.
#[derive(Debug)]
pub enum Error {
    /// The stream failed.
    Io(io::Error),
    /// The protocol failed (the connection queued and sent its answer).
    WebSocket(crate::Error),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::WebSocket(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::WebSocket(e) => Some(e),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error::WebSocket(e)
    }
}

/// An owned event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A frame of a fragmented message (only with [`Config::stream_fragments`]).
    Fragment {
        /// The payload.
        data: Vec<u8>,
        /// Whether the message is text.
        is_text: bool,
        /// Whether this is the last frame.
        is_final: bool,
    },
    /// A ping (already answered).
    Ping(Vec<u8>),
    /// A pong, with the round-trip time in milliseconds if it answers our last ping.
    Pong {
        /// The payload.
        payload: Vec<u8>,
        /// Milliseconds since the ping was sent.
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

/// How a server answers a request, decided by the application.
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

impl Decision {
    /// Accept with no subprotocol and no extra fields.
    pub fn accept() -> Self {
        Decision::Accept {
            protocol: None,
            headers: Vec::new(),
        }
    }

    /// Answers the request `conn` holds: queues the 101 answer, or the response and then
    /// `HandshakeError::Rejected` with its status. Any driver's handshake ends with this, then
    /// writes what was queued.
    pub fn apply<S: crate::Storage, R: Entropy>(
        &self,
        conn: &mut Connection<S, R>,
    ) -> Result<(), crate::Error> {
        match self {
            Decision::Accept { protocol, headers } => {
                let fields = borrowed(headers);
                let mut accept = Accept::new().headers(&fields);
                if let Some(p) = protocol.as_deref() {
                    accept = accept.protocol(p);
                }
                conn.accept(accept)
            }
            Decision::Respond {
                status,
                headers,
                body,
            } => {
                conn.respond(*status, &borrowed(headers), body)?;
                Err(crate::HandshakeError::Rejected { status: *status }.into())
            }
        }
    }
}

fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// A WebSocket over a blocking stream.
pub struct WebSocket<T, R: Entropy = NoEntropy> {
    stream: T,
    conn: Connection<Vec<u8>, R>,
    started: std::time::Instant,
}

impl<T: Read + Write> WebSocket<T, NoEntropy> {
    /// Reads a request from `stream` and accepts it, whatever its version, with no subprotocol.
    pub fn accept(stream: T, config: Config) -> Result<Self, Error> {
        Self::accept_with(stream, config, |_| Decision::accept())
    }

    /// Reads a request from `stream` and answers it as `decide` says. A plain HTTP request (no
    /// upgrade) is passed to `decide` too; accepting it fails with `NoPendingRequest`.
    pub fn accept_with(
        stream: T,
        config: Config,
        decide: impl FnOnce(&Request<'_>) -> Decision,
    ) -> Result<Self, Error> {
        let mut ws = WebSocket {
            stream,
            conn: Connection::server(config),
            started: std::time::Instant::now(),
        };
        loop {
            let decided = match ws.conn.poll_event() {
                Err(e) => {
                    ws.flush()?;
                    return Err(e.into());
                }
                Ok(Some(Event::Request(_) | Event::HttpRequest(_))) => true,
                Ok(_) => false,
            };
            if decided {
                break;
            }
            ws.read_more()?;
        }
        let decision = match ws.conn.request() {
            Some(request) => decide(&request),
            None => return Err(crate::Error::Usage(crate::UsageError::NoPendingRequest).into()),
        };
        let answered = decision.apply(&mut ws.conn);
        ws.flush()?;
        answered?;
        Ok(ws)
    }
}

impl<T: Read + Write> WebSocket<T, OsEntropy> {
    /// Sends `request` over `stream` and waits for the answer; returns the socket and the
    /// subprotocol the server chose.
    pub fn connect(
        stream: T,
        request: &ClientRequest<'_>,
        config: Config,
    ) -> Result<(Self, Option<String>), Error> {
        Self::connect_with(stream, request, config, OsEntropy::new())
    }
}

impl<T: Read + Write, R: Entropy> WebSocket<T, R> {
    /// [`WebSocket::connect`] with a chosen source of randomness.
    pub fn connect_with(
        stream: T,
        request: &ClientRequest<'_>,
        config: Config,
        entropy: R,
    ) -> Result<(Self, Option<String>), Error> {
        let mut ws = WebSocket {
            stream,
            conn: Connection::client(request, config, entropy)?,
            started: std::time::Instant::now(),
        };
        ws.flush()?;
        loop {
            match ws.conn.poll_event()? {
                Some(Event::Accepted(response)) => {
                    let protocol = response.protocol().map(String::from);
                    return Ok((ws, protocol));
                }
                Some(_) => {}
                None => ws.read_more()?,
            }
        }
    }

    /// The next message. Pings are answered before it returns; after [`Message::Close`] it
    /// fails with `UsageError::Closed`.
    pub fn read(&mut self) -> Result<Message, Error> {
        loop {
            let now = self.started.elapsed().as_millis() as u64;
            self.conn.handle_timeout(now);
            let message = match self.conn.poll_event() {
                Ok(Some(event)) => Message::from_event(event),
                Ok(None) => None,
                Err(e) => {
                    let _ = self.flush();
                    return Err(e.into());
                }
            };
            self.flush()?;
            if let Some(message) = message {
                return Ok(message);
            }
            if self.conn.state() == State::Closed {
                return Err(crate::Error::Usage(crate::UsageError::Closed).into());
            }
            self.read_more()?;
        }
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        self.flush()
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.send_binary(data)?;
        self.flush()
    }

    /// Sends a ping; the pong's round-trip time is in milliseconds.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        let now = self.started.elapsed().as_millis() as u64;
        self.conn.handle_timeout(now);
        self.conn.ping(payload)?;
        self.flush()
    }

    /// Starts the closing handshake with `code` (1000 if `None`; hixie connections have no
    /// codes). Keep reading until [`Message::Close`].
    pub fn close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        match code {
            Some(code) => self.conn.close_with(code, reason)?,
            None => self.conn.close()?,
        }
        self.flush()
    }

    /// The version spoken.
    pub fn version(&self) -> Version {
        self.conn.version().unwrap_or(Version::Hybi13)
    }

    /// The connection, for what this driver does not wrap.
    pub fn connection(&mut self) -> &mut Connection<Vec<u8>, R> {
        &mut self.conn
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.stream
    }

    /// Writes all queued output.
    pub fn flush(&mut self) -> Result<(), Error> {
        while !self.conn.pending_output().is_empty() {
            let n = self.stream.write(self.conn.pending_output())?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            self.conn.consume_output(n);
        }
        self.stream.flush()?;
        Ok(())
    }

    fn read_more(&mut self) -> Result<(), Error> {
        let buf = self.conn.read_buffer();
        if buf.is_empty() {
            // The input is full of a frame that is not complete yet; cannot happen within the
            // limits, which bound the input to the largest frame.
            return Err(io::Error::other("input buffer full").into());
        }
        match self.stream.read(buf) {
            Ok(0) => {
                self.conn.handle_eof();
                Ok(())
            }
            Ok(n) => {
                self.conn.commit_read(n);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

impl Message {
    /// The owned form of an event; `None` for handshake events, which have none.
    pub fn from_event(event: Event<'_>) -> Option<Message> {
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
                round_trip: p.round_trip,
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
