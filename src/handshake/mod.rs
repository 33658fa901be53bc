//! The opening handshakes of every version, both roles.
//!
//! - Server: `server` parses the request with httparse, detects the version
//!   (`Sec-WebSocket-Version` 7/8/13 → hybi, RFC 6455 §4.2.1; `Sec-WebSocket-Key1/Key2` plus 8
//!   body bytes → hixie-76 §5.1; neither → hixie-75 §5.1) and builds each version's answer.
//!   A request without `Upgrade: websocket` is a plain HTTP request for the application.
//! - Client: `client` builds each version's request and validates the answer (the accept key,
//!   hixie-76's 16-byte answer, the chosen subprotocol).
//! - [`accept_key`] and [`hixie76_answer`] serve connections upgraded elsewhere.
//!
//! The application sees a request as a [`Request`] and a response as a [`Response`]: borrowed
//! views of the head in the connection's input. A head is parsed once, by httparse, when it
//! completes; the fields an answer needs are kept as positions then, and lookups read the
//! lines of the head that parse accepted (no allocation, no second parse).

pub(crate) mod client;
pub(crate) mod http;
mod keys;
pub(crate) mod server;

pub use http::HeaderTokens;
pub(crate) use keys::Hixie76Key;
pub use keys::{accept_key, hixie76_answer, hixie76_key_number, is_valid_key, GUID};

use crate::error::UsageError;
use crate::version::Version;
use http::HeadFields;

/// A request received by a server: an upgrade ([`crate::Event::Request`]) or a plain HTTP
/// request ([`crate::Event::HttpRequest`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub(crate) head: &'a [u8],
    pub(crate) body: &'a [u8],
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    /// The target's path and query: the target itself in origin-form (`/chat?x=1`), its path
    /// and query in absolute-form (`http://example.com/chat?x=1`), empty for a URL with none.
    pub(crate) resource: &'a str,
    pub(crate) version: Option<Version>,
}

impl<'a> Request<'a> {
    /// The method, e.g. `GET`.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The request target as sent: usually path and query, e.g. `/chat?room=1`; a URL in
    /// absolute-form (`http://example.com/chat?room=1`, RFC 7230 §5.3.2) is accepted too.
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path without the query, whatever the form of the target: `/chat` for both
    /// examples above, and `/` for a URL with no path.
    pub fn path(&self) -> &'a str {
        match self.resource.split('?').next() {
            Some("") | None => "/",
            Some(path) => path,
        }
    }

    /// The query, without the `?`.
    pub fn query(&self) -> Option<&'a str> {
        self.resource.split_once('?').map(|(_, q)| q)
    }

    /// The WebSocket version asked for; `None` for a plain HTTP request.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.fields().find(name)
    }

    /// The first header field named `name`, if it is UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&'a str> {
        self.header(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// Every header field in order, cookies included.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            fields: self.fields(),
        }
    }

    /// The origin the client claims: `Origin`, or `Sec-WebSocket-Origin` as hybi-07/08 clients
    /// send it.
    pub fn origin(&self) -> Option<&'a str> {
        self.header_str("Origin")
            .or_else(|| self.header_str("Sec-WebSocket-Origin"))
    }

    /// The subprotocols offered, in the client's order (`Sec-WebSocket-Protocol`, or
    /// `WebSocket-Protocol` for hixie-75).
    pub fn protocols(&self) -> HeaderTokens<'a> {
        let legacy = if self.version == Some(Version::Hixie75) {
            "WebSocket-Protocol"
        } else {
            ""
        };
        HeaderTokens::new(self.head, ["Sec-WebSocket-Protocol", legacy])
    }

    /// The extension offers (`Sec-WebSocket-Extensions`), each with its parameters.
    pub fn extensions(&self) -> HeaderTokens<'a> {
        HeaderTokens::new(self.head, ["Sec-WebSocket-Extensions", ""])
    }

    /// The raw request head, up to and including the blank line.
    pub fn head(&self) -> &'a [u8] {
        self.head
    }

    /// Bytes of the request after the head that belong to the handshake (hixie-76's 8 key
    /// bytes; empty otherwise).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    fn fields(&self) -> HeadFields<'a> {
        HeadFields::new(self.head)
    }
}

impl core::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("version", &self.version)
            .finish()
    }
}

/// The server's answer, as a client received it ([`crate::Event::Accepted`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    pub(crate) head: &'a [u8],
    pub(crate) status: u16,
    pub(crate) version: Version,
}

impl<'a> Response<'a> {
    /// The status code (101).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The version the connection speaks.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&'a str> {
        let name = if self.version == Version::Hixie75 {
            "WebSocket-Protocol"
        } else {
            "Sec-WebSocket-Protocol"
        };
        self.header(name)
            .and_then(|v| core::str::from_utf8(v.trim_ascii()).ok())
            .filter(|p| !p.is_empty())
    }

    /// The first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        HeadFields::new(self.head).find(name)
    }

    /// Every header field in order.
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            fields: HeadFields::new(self.head),
        }
    }

    /// The raw response head, up to and including the blank line.
    pub fn head(&self) -> &'a [u8] {
        self.head
    }
}

impl core::fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("protocol", &self.protocol())
            .finish()
    }
}

/// An iterator over a head's header fields as `(name, value)`.
pub struct Headers<'a> {
    fields: HeadFields<'a>,
}

impl<'a> Iterator for Headers<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.fields.next()
    }
}

impl core::fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Headers")
    }
}

/// What a server sends when it accepts a request: the subprotocol it chose and any extra
/// response header fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accept<'a> {
    pub(crate) protocol: Option<&'a str>,
    pub(crate) headers: &'a [(&'a str, &'a str)],
}

impl<'a> Accept<'a> {
    /// Accept with no subprotocol and no extra fields.
    pub const fn new() -> Self {
        Accept {
            protocol: None,
            headers: &[],
        }
    }

    /// Choose a subprotocol; it must be one the client offered.
    pub const fn protocol(mut self, protocol: &'a str) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Extra response header fields (cookies, for instance). Values may not contain CR or LF.
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }
}

/// What a client asks for: where, which version, and what to offer.
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    pub(crate) host: &'a str,
    pub(crate) target: &'a str,
    pub(crate) secure: bool,
    pub(crate) version: Version,
    pub(crate) origin: Option<&'a str>,
    pub(crate) protocols: &'a [&'a str],
    pub(crate) headers: &'a [(&'a str, &'a str)],
}

impl<'a> ClientRequest<'a> {
    /// The most subprotocols a client can offer.
    pub const MAX_PROTOCOLS: usize = 8;

    /// A hybi-13 request for `target` (path and query) on `host` (the `Host` field, with the
    /// port if it is not the default).
    pub const fn new(host: &'a str, target: &'a str) -> Self {
        ClientRequest {
            host,
            target,
            secure: false,
            version: Version::Hybi13,
            origin: None,
            protocols: &[],
            headers: &[],
        }
    }

    /// A request for a `ws://` or `wss://` URL.
    pub fn from_url(url: &WsUrl<'a>) -> Self {
        let mut request = Self::new(url.host_header, url.target);
        request.secure = url.secure;
        request
    }

    /// The version to speak (default hybi-13).
    pub const fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// The origin to send (`Origin`, or `Sec-WebSocket-Origin` for hybi-07/08). Hixie requests
    /// always carry one: `http://HOST` unless set.
    pub const fn origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Subprotocols to offer, in order of preference (at most [`Self::MAX_PROTOCOLS`]; hixie
    /// versions offer only the first).
    pub const fn protocols(mut self, protocols: &'a [&'a str]) -> Self {
        self.protocols = protocols;
        self
    }

    /// Extra request header fields. Values may not contain CR or LF.
    pub const fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }

    pub(crate) fn check(&self) -> Result<(), UsageError> {
        http::check_headers(self.headers)?;
        // A query with no path is requested with the path `/` before it.
        let target_ok = (self.target.starts_with('/') || self.target.starts_with('?'))
            && http::is_safe_header("Host", self.target)
            && !self.target.contains('#');
        let host_ok = !self.host.is_empty() && http::is_safe_header("Host", self.host);
        let origin_ok = self
            .origin
            .is_none_or(|o| http::is_safe_header("Origin", o));
        let protocols_ok = self.protocols.len() <= Self::MAX_PROTOCOLS
            && self
                .protocols
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_graphic() && b != b','));
        if target_ok && host_ok && origin_ok && protocols_ok && !self.target.contains(' ') {
            Ok(())
        } else {
            Err(UsageError::InvalidHeader)
        }
    }
}

/// A `ws://` or `wss://` URL, split into what a client needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsUrl<'a> {
    /// Whether the scheme is `wss`.
    pub secure: bool,
    /// The host name (without brackets for IPv6 literals).
    pub host: &'a str,
    /// The port, explicit or the scheme's default (80 or 443).
    pub port: u16,
    /// The `Host` header value: host and port as written in the URL.
    pub host_header: &'a str,
    /// Path and query as written (`/` if the URL has neither); a query with no path
    /// (`?x=1`) is requested as `/?x=1`.
    pub target: &'a str,
}

impl<'a> WsUrl<'a> {
    /// Splits a URL such as `ws://127.0.0.1:9001/chat?x=1` (RFC 6455 §3): scheme `ws` or `wss`
    /// (any case), a host (a name, an IPv4 address or a bracketed IPv6 address) and an
    /// optional port, then an optional path and query. A query with no path
    /// (`ws://host?x=1`) names the path `/`.
    ///
    /// # Errors
    ///
    /// [`UsageError::InvalidUrl`] for another scheme, credentials (`user@`), a fragment
    /// (`#`, which §3 forbids), an invalid or empty host or port, or a space or control
    /// character anywhere.
    pub fn parse(url: &'a str) -> Result<Self, UsageError> {
        let (scheme, rest) = url.split_once("://").ok_or(UsageError::InvalidUrl)?;
        let secure = if scheme.eq_ignore_ascii_case("ws") {
            false
        } else if scheme.eq_ignore_ascii_case("wss") {
            true
        } else {
            return Err(UsageError::InvalidUrl);
        };
        if url.contains('#') || url.bytes().any(|b| b <= b' ' || b == 0x7F) {
            return Err(UsageError::InvalidUrl);
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if !http::is_authority(authority) {
            return Err(UsageError::InvalidUrl);
        }
        let target = if target.is_empty() { "/" } else { target };
        let default_port = if secure { 443 } else { 80 };
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or(UsageError::InvalidUrl)?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| UsageError::InvalidUrl)?,
            None => default_port,
        };
        Ok(WsUrl {
            secure,
            host,
            port,
            host_header: authority,
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = WsUrl::parse("ws://127.0.0.1:9001/chat?x=1").unwrap();
        assert_eq!(
            (u.secure, u.host, u.port, u.host_header, u.target),
            (false, "127.0.0.1", 9001, "127.0.0.1:9001", "/chat?x=1")
        );
        let u = WsUrl::parse("wss://example.com").unwrap();
        assert_eq!(
            (u.secure, u.host, u.port, u.target),
            (true, "example.com", 443, "/")
        );
        let u = WsUrl::parse("ws://[::1]:8080/").unwrap();
        assert_eq!((u.host, u.port), ("::1", 8080));
        assert_eq!(WsUrl::parse("http://x/"), Err(UsageError::InvalidUrl));
        assert_eq!(WsUrl::parse("ws:///path"), Err(UsageError::InvalidUrl));
        assert_eq!(
            WsUrl::parse("ws://host:notaport/"),
            Err(UsageError::InvalidUrl)
        );
    }
}
