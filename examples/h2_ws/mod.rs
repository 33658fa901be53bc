//! WebSocket over HTTP/2 (RFC 8441) for the h2 examples: one HTTP/2 stream as the byte stream
//! a WebSocket runs on.
//!
//! After an extended CONNECT is answered with 200, the stream's DATA frames carry WebSocket
//! frames exactly as a TCP connection would (RFC 8441 §5), so wsmachine runs it from the open
//! state (`Connection::framed_server` or `Connection::framed`) through the async driver in
//! `async_ws/mod.rs`. [`H2Stream`] is what that driver reads and writes: HTTP/2 flow control is
//! the stream's, not the driver's concern, so it is handled here.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_io::{AsyncRead, AsyncWrite};
use h2::{RecvStream, SendStream};

/// The most a single write asks the peer's window for: a large write goes out as several DATA
/// frames rather than waiting for a window as big as itself.
const MAX_CHUNK: usize = 64 * 1024;

/// One HTTP/2 stream as a byte stream: what the peer sent on it is read, writes become DATA
/// frames, and closing the writer ends the stream (END_STREAM), which for a WebSocket is what
/// closing the TCP connection is over HTTP/1.1.
pub struct H2Stream {
    recv: RecvStream,
    send: SendStream<Bytes>,
    /// Received and not yet read. Its window is released only as it is read, so a reader that
    /// falls behind holds the peer back instead of buffering without bound.
    pending: Bytes,
    recv_done: bool,
    send_done: bool,
}

impl H2Stream {
    /// The stream whose request (client) or response (server) carried the extended CONNECT.
    pub fn new(recv: RecvStream, send: SendStream<Bytes>) -> Self {
        H2Stream {
            recv,
            send,
            pending: Bytes::new(),
            recv_done: false,
            send_done: false,
        }
    }

    /// Reads and discards until the peer ends its side. Dropping a stream whose peer has not
    /// ended it resets it, which a browser may report as an unclean close even after a
    /// completed closing handshake.
    // h2_server reaches its streams through a write deadline, so it uses [`drain`] instead.
    #[allow(dead_code)]
    pub async fn drain(&mut self) {
        self.pending = Bytes::new();
        while !self.recv_done {
            match std::future::poll_fn(|cx| self.recv.poll_data(cx)).await {
                Some(Ok(data)) => {
                    let _ = self.recv.flow_control().release_capacity(data.len());
                }
                Some(Err(_)) | None => self.recv_done = true,
            }
        }
    }
}

/// [`H2Stream::drain`] for an [`H2Stream`] inside a wrapper that only passes reads on (such as
/// the driver's `WriteDeadline`): reading releases the stream's window just the same.
// Not every example that includes this module drains through a wrapper.
#[allow(dead_code)]
pub async fn drain(stream: &mut (impl AsyncRead + Unpin)) {
    let mut scratch = [0; 4096];
    // Ends with the stream: its peer's END_STREAM, a reset or the connection's end.
    while let Ok(n) =
        std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, &mut scratch)).await
    {
        if n == 0 {
            break;
        }
    }
}

fn io_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        return e
            .into_io()
            .unwrap_or_else(|| io::Error::other("h2 I/O error"));
    }
    let kind = match e.reason() {
        Some(h2::Reason::NO_ERROR | h2::Reason::CANCEL) => io::ErrorKind::ConnectionReset,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl AsyncRead for H2Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // An empty DATA frame is legal and is not the end of the stream: read on past it.
        while this.pending.is_empty() {
            if this.recv_done {
                return Poll::Ready(Ok(0));
            }
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => this.pending = data,
                Some(Err(e)) => {
                    this.recv_done = true;
                    return Poll::Ready(Err(io_error(e)));
                }
                None => this.recv_done = true,
            }
        }
        let n = buf.len().min(this.pending.len());
        buf[..n].copy_from_slice(&this.pending[..n]);
        this.pending.advance(n);
        this.recv
            .flow_control()
            .release_capacity(n)
            .map_err(io_error)?;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.send_done {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let want = buf.len().min(MAX_CHUNK);
        this.send.reserve_capacity(want);
        // `poll_capacity` reports increases, not the current amount, and capacity may be
        // left over from an earlier reservation: the stream's own count is the one to trust.
        let mut available = this.send.capacity();
        while available == 0 {
            match ready!(this.send.poll_capacity(cx)) {
                Some(Ok(_)) => available = this.send.capacity(),
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
        let n = want.min(available);
        this.send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(io_error)?;
        Poll::Ready(Ok(n))
    }

    /// The h2 connection task writes DATA frames as they are queued: nothing is held here.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.send_done {
            this.send_done = true;
            // The capacity reserved for writes that never came is given back.
            this.send.reserve_capacity(0);
            this.send.send_data(Bytes::new(), true).map_err(io_error)?;
        }
        Poll::Ready(Ok(()))
    }
}

/// Readiness is the read's own: `poll_data` waits for a DATA frame.
impl crate::async_ws::Transport for H2Stream {}
