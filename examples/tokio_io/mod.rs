//! What the tokio examples add to the runtime-free driver in `async_ws/mod.rs`: a tokio TCP
//! stream, seen through `tokio_util::compat`, with tokio's readiness for
//! [`Transport::poll_readable`], so that the driver waits for bytes instead of reading again
//! after a read that emptied the socket.

use std::io;
use std::task::{Context, Poll};

use tokio::net::TcpStream;
use tokio_util::compat::Compat;

use super::async_ws::Transport;

impl Transport for Compat<TcpStream> {
    fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_ref().poll_read_ready(cx)
    }
}
