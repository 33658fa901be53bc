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
//! The crate is `#![no_std]`; the `alloc` feature adds growable buffers and the `std` feature
//! adds [`OsEntropy`] and the [`blocking`] driver. Without `alloc`, a connection runs on byte
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
pub use connection::{Buffers, Config, Connection, Receiver, Role, Sender, State};
#[cfg(feature = "std")]
pub use entropy::OsEntropy;
pub use entropy::{Entropy, NoEntropy};
pub use error::{Error, HandshakeError, ProtocolError, UsageError};
pub use event::{Close, Event, Fragment, Pong};
pub use handshake::{Accept, ClientRequest, Request, Response, WsUrl};
pub use limits::Limits;
pub use version::Version;

// The README's examples are compiled (and run, where they need no network) as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
