//! A sans-IO WebSocket protocol engine.
//!
//! A [`Connection`] takes the bytes that arrived from the peer, gives back [`Event`]s and the
//! bytes to send, and never touches a socket, a clock or a global random number generator. It
//! speaks every WebSocket version that was deployed, in both roles:
//!
//! | [`Version`] | name | handshake | closing |
//! |---|---|---|---|
//! | [`Version::Hixie75`] | `hixie-75` | `WebSocket-Origin` / `WebSocket-Location`, no key | end of the TCP stream |
//! | [`Version::Hixie76`] | `hixie-76` (= hybi-00) | `Sec-WebSocket-Key1/Key2` + 8 bytes, MD5 answer | `0xFF 0x00` |
//! | [`Version::Hybi07`] | `hybi-07` | `Sec-WebSocket-Key`/`Accept`, version 7 | close frame |
//! | [`Version::Hybi08`] | `hybi-08` | as hybi-07, version 8 | close frame |
//! | [`Version::Hybi13`] | `hybi-13` (RFC 6455) | as hybi-07, version 13, `Origin` | close frame with code |
//!
//! # Where a byte goes
//!
//! ```text
//! peer bytes -> Connection::receive -> handshake (server request / client response)
//!                                   \-> framing (hybi or hixie) -> message -> Event
//! commands   -> Connection::send_* / ping / close / accept / respond -> framing -> pending_output
//! now        -> Connection::handle_timeout / poll_timeout -> keepalive ping, close timeout
//! ```
//!
//! # Two halves
//!
//! A connection is two halves, and each owns its direction:
//!
//! - the [`Receiver`] owns the input buffer, the decoder, message reassembly and the receiving
//!   state; it turns bytes into [`Event`]s that borrow its buffers;
//! - the [`Sender`] owns the output buffer, the encoder state, the masking keys, the sending
//!   state and the timers (keepalive ping, close timeout).
//!
//! What the receiving half's events oblige the sending half to send (a pong, the close reply,
//! a violation's close frame) is an [`Owed`] value. A [`Connection`] is the two halves joined
//! and hands it over itself, during [`Connection::poll_event`]; nothing is shared and nothing
//! is locked.
//!
//! ## One thread: answer an event while it is borrowed
//!
//! [`Connection::poll_event_with_sender`] gives each event together with the sending half, so
//! that a message can be echoed without a copy:
//!
//! ```
//! # use wsmachine::{Connection, Config, Event};
//! # fn echo(conn: &mut Connection<Vec<u8>>) -> Result<(), wsmachine::Error> {
//! while let Some((event, tx)) = conn.poll_event_with_sender()? {
//!     match event {
//!         Event::Text(text) => tx.send_text(text)?,
//!         Event::Binary(data) => tx.send_binary(data)?,
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! ## Two threads or tasks: owned halves
//!
//! Once open, [`Connection::into_split`] gives the halves away; both are `Send` when the
//! storage and the entropy are. The receiving half keeps what it owes until
//! [`Receiver::take_owed`]; the application carries it to [`Sender::handle_owed`] by whatever
//! its threads share (a channel, a task message). [`Connection::join`] puts the halves back
//! together. Halves of different connections do not mix: `join` refuses them, and so do
//! [`Sender::handle_owed`] and [`Receiver::poll_event_with`], with
//! [`UsageError::ForeignHalf`] and no change.
//!
//! ```
//! use std::sync::mpsc;
//! use wsmachine::{Config, Connection, Event, Role, Version};
//!
//! let mut conn = Connection::framed_server(Version::Hybi13, Config::default());
//! conn.receive(&[0x89, 0x80, 1, 2, 3, 4]); // a masked, empty ping
//! let (mut rx, mut tx) = conn.into_split().unwrap();
//! let (owed_to_writer, owed) = mpsc::channel();
//! let reader = std::thread::spawn(move || {
//!     assert!(matches!(rx.poll_event(), Ok(Some(Event::Ping(b"")))));
//!     owed_to_writer.send(rx.take_owed().unwrap()).unwrap();
//!     rx
//! });
//! tx.handle_owed(owed.recv().unwrap()).unwrap();
//! assert_eq!(tx.pending_output(), b"\x8a\x00"); // the pong
//! let conn = Connection::join(reader.join().unwrap(), tx).unwrap();
//! # let _ = conn;
//! ```
//!
//! ## The rules between the halves
//!
//! - **A pong owed while a fragmented message is being sent** goes out at once, between two of
//!   its frames: control frames may be interleaved with fragments (RFC 6455 §5.4). Of several
//!   pings not yet answered, only the latest is (§5.5.3). Pongs are sent after our own close
//!   too, until the peer's close arrives (§5.5.2).
//! - **A close started by the sending half** ([`Sender::close`]) sends the close frame and moves
//!   that half to [`State::Closing`]; the receiving half reads on until the peer's close, reports
//!   it ([`Event::Close`], `clean`), and owes an ending that closes the sending half without
//!   sending anything more.
//! - **A close started by the peer** closes the receiving half when its frame is read; the
//!   sending half, given the owed value, replies with the same code unless its own close was
//!   sent (§5.5.1) and is closed. A message being sent in fragments is abandoned.
//! - **A violation** closes the receiving half with the error (then a 1006 close event); the
//!   owed value makes the sending half send the close frame with the violation's code (1002,
//!   1007, 1009), unless its own close was sent, and close.
//! - **State**: [`Receiver::state`] is `Open` until the receiving direction ends, then
//!   `Closed`; [`Sender::state`] is `Open`, `Closing` once our close was sent, `Closed` once
//!   nothing more will be sent. [`Connection::state`] combines them: `Closed` as soon as the
//!   receiving direction ended.
//! - **Timers** belong to the sending half: [`Sender::poll_timeout`] is the next keepalive ping
//!   or the close timeout. When the close timeout passes, [`Sender::handle_timeout`] returns
//!   `true` and the sending half is closed; shut the transport down, and the receiving half
//!   reports 1006 at the end of its input. A [`Connection`] does that step itself. The
//!   receiving half has no timers.
//! - **Round-trip times** need no shared state: [`Sender::ping_at`] stamps the ping with `now`,
//!   and the pong read by the receiving half carries it back ([`crate::Pong::round_trip`]).
//!
//! # Features
//!
//! The crate is `#![no_std]`; the `alloc` feature adds growable buffers and the `std` feature
//! adds `OsEntropy` and the `blocking` driver. Without `alloc`, a connection runs on byte
//! slices the caller owns.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod buffer;
pub mod close;
mod connection;
#[cfg(feature = "deflate")]
pub mod deflate;
pub mod drive;
mod entropy;
mod error;
mod event;
mod framing;
pub mod handshake;
mod limits;
pub mod mask;
mod message;
pub mod utf8;
mod version;

#[cfg(feature = "std")]
pub mod blocking;

pub use buffer::Storage;
pub use close::CloseCode;
pub use connection::{Buffers, Config, Connection, JoinError, Owed, Receiver, Role, Sender, State};
#[cfg(feature = "std")]
pub use entropy::OsEntropy;
pub use entropy::{Entropy, KeySource, NoEntropy};
pub use error::{Error, HandshakeError, ProtocolError, UsageError};
pub use event::{Close, Event, Fragment, Pong};
pub use handshake::{Accept, ClientRequest, Request, Response, WsUrl};
pub use limits::Limits;
pub use version::Version;

// The README's examples are compiled (and run, where they need no network) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
