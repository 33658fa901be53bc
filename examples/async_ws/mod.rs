//! An async driver over `futures-io`'s `AsyncRead + AsyncWrite`, built only on the public
//! [`Connection`] API.
//!
//! The smol examples use it, and so can any runtime whose streams implement those two traits
//! (async-std directly, tokio through `tokio-util`'s `compat` adapters): nothing here names a
//! runtime, a timer or an executor. It owns a stream and a connection over growable buffers
//! and hands out the blocking driver's owned [`Message`]s.
//!
//! [`AsyncWebSocket::read`] is cancel-safe: a message taken from the connection is kept until
//! it is returned, and bytes count as read or written only once the stream said so. That is
//! what lets a caller race `read` against its own input (stdin lines, a channel, a timer)
//! without losing anything. A caller that uses the connection's timers (keepalive, close
//! timeout) races `read` against a timer set for [`AsyncWebSocket::next_deadline`].

use std::io;
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use wsmachine::blocking::{Decision, Error, Message};
use wsmachine::{
    ClientRequest, CloseCode, Config, Connection, Entropy, Event, NoEntropy, Request, State,
    UsageError, Version,
};

/// A WebSocket over an async stream.
pub struct AsyncWebSocket<T, R: Entropy = NoEntropy> {
    stream: T,
    conn: Connection<Vec<u8>, R>,
    started: Instant,
    /// A message taken from the connection and not yet returned: its answers (a pong, the
    /// close reply) are flushed before it is handed out, and a cancelled flush must not lose it.
    ready: Option<Message>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWebSocket<T, NoEntropy> {
    /// Reads a request from `stream` and answers it as `decide` says. A plain HTTP request (no
    /// upgrade) is passed to `decide` too, and can only be answered with
    /// [`Decision::Respond`]. Anything but an accepted upgrade is returned as an error, after
    /// the answer was sent.
    pub async fn accept_with(
        stream: T,
        config: Config,
        decide: impl FnOnce(&Request<'_>) -> Decision,
    ) -> Result<Self, Error> {
        let mut ws = AsyncWebSocket {
            stream,
            conn: Connection::server(config),
            started: Instant::now(),
            ready: None,
        };
        loop {
            let decided = match ws.conn.poll_event() {
                Err(e) => {
                    let _ = ws.flush().await;
                    return Err(e.into());
                }
                Ok(Some(Event::Request(_) | Event::HttpRequest(_))) => true,
                Ok(_) => false,
            };
            if decided {
                break;
            }
            ws.read_more().await?;
        }
        let decision = match ws.conn.request() {
            Some(request) => decide(&request),
            None => return Err(wsmachine::Error::from(UsageError::NoPendingRequest).into()),
        };
        let answered = decision.apply(&mut ws.conn);
        ws.flush().await?;
        if answered.is_err() {
            // A refusal or a plain HTTP answer ends the connection.
            let _ = ws.stream.close().await;
        }
        answered?;
        Ok(ws)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin, R: Entropy> AsyncWebSocket<T, R> {
    /// Sends `request` over `stream` and waits for the answer; returns the socket and the
    /// subprotocol the server chose.
    pub async fn connect_with(
        stream: T,
        request: &ClientRequest<'_>,
        config: Config,
        entropy: R,
    ) -> Result<(Self, Option<String>), Error> {
        let mut ws = AsyncWebSocket {
            stream,
            conn: Connection::client(request, config, entropy)?,
            started: Instant::now(),
            ready: None,
        };
        ws.flush().await?;
        loop {
            match ws.conn.poll_event() {
                Ok(Some(Event::Accepted(response))) => {
                    let protocol = response.protocol().map(String::from);
                    return Ok((ws, protocol));
                }
                Ok(Some(_)) => {}
                Ok(None) => ws.read_more().await?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next message. Pings are answered and the close reply is sent before it returns;
    /// after [`Message::Close`] it fails with `UsageError::Closed`. Cancel-safe.
    pub async fn read(&mut self) -> Result<Message, Error> {
        loop {
            if self.ready.is_some() {
                self.flush().await?;
                if let Some(message) = self.ready.take() {
                    return Ok(message);
                }
            }
            let now = self.now();
            self.conn.handle_timeout(now);
            match self.conn.poll_event() {
                Ok(Some(event)) => {
                    self.ready = Message::from_event(event);
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = self.flush().await;
                    return Err(e.into());
                }
            }
            self.flush().await?;
            if self.conn.state() == State::Closed {
                return Err(wsmachine::Error::from(UsageError::Closed).into());
            }
            self.read_more().await?;
        }
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<(), Error> {
        self.conn.send_text(text)?;
        self.flush().await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), Error> {
        self.conn.send_binary(data)?;
        self.flush().await
    }

    /// Sends a ping; the pong's round-trip time is in milliseconds.
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        let now = self.now();
        self.conn.handle_timeout(now);
        self.conn.ping(payload)?;
        self.flush().await
    }

    /// Starts the closing handshake with `code` (1000 if `None`; hixie connections have no
    /// codes). Keep reading until [`Message::Close`]. On hixie-75, which closes with the
    /// transport, follow with [`AsyncWebSocket::shutdown_write`].
    pub async fn close(&mut self, code: Option<CloseCode>, reason: &str) -> Result<(), Error> {
        match code {
            Some(code) => self.conn.close_with(code, reason)?,
            None => self.conn.close()?,
        }
        self.flush().await
    }

    /// Ends this side of the transport (`AsyncWrite::poll_close`: a TCP stream's write-side
    /// shutdown): how a hixie-75 connection closes, and the last step once closed.
    pub async fn shutdown_write(&mut self) -> Result<(), Error> {
        self.flush().await?;
        self.stream.close().await?;
        Ok(())
    }

    /// When the connection's timers need [`AsyncWebSocket::read`] to run again, if one runs.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.conn
            .poll_timeout()
            .map(|ms| self.started + Duration::from_millis(ms))
    }

    /// The version spoken.
    pub fn version(&self) -> Version {
        self.conn.version().unwrap_or(Version::Hybi13)
    }

    /// The connection, for what this driver does not wrap. Its time unit is milliseconds
    /// since the socket was created.
    pub fn connection(&mut self) -> &mut Connection<Vec<u8>, R> {
        &mut self.conn
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.stream
    }

    /// Writes all queued output. Cancel-safe: output leaves the queue only once written.
    pub async fn flush(&mut self) -> Result<(), Error> {
        while !self.conn.pending_output().is_empty() {
            let n = self.stream.write(self.conn.pending_output()).await?;
            if n == 0 {
                return Err(io::Error::from(io::ErrorKind::WriteZero).into());
            }
            self.conn.consume_output(n);
        }
        self.stream.flush().await?;
        Ok(())
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn read_more(&mut self) -> Result<(), Error> {
        let buf = self.conn.read_buffer();
        if buf.is_empty() {
            // The limits bound the input to the largest frame, which always fits; an empty
            // buffer means a connection built over storage smaller than its limits.
            return Err(io::Error::other("input buffer full").into());
        }
        match self.stream.read(buf).await {
            Ok(0) => self.conn.handle_eof(),
            Ok(n) => self.conn.commit_read(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}
