//! The server side: reading a request, detecting its version, and answering it.
//!
//! Version detection (RFC 6455 §4.2.1, hixie-76 §5.1, hixie-75 §5.1):
//! `Sec-WebSocket-Version: 13/8/7` is hybi; `Sec-WebSocket-Key1` and `Key2` (with 8 bytes after
//! the head) are hixie-76; an upgrade with neither is hixie-75. Another version number is
//! answered with `426 Upgrade Required` and `Sec-WebSocket-Version: 13, 8, 7` (§4.4).

use super::http::{self, HeaderList, Sink};
use super::{keys, Accept, Request};
use crate::buffer::{ByteQueue, Storage};
use crate::error::{HandshakeError, UsageError};
use crate::limits::Limits;
use crate::version::Version;

/// A complete request, as its one parse found it: where it ends in the input, and where the
/// fields the answer needs lie, so that neither raising the event nor answering parses again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Length of the head, blank line included.
    pub(crate) head_len: u32,
    /// Bytes after the head that belong to the handshake (hixie-76's key3).
    pub(crate) body_len: u8,
    /// The version asked for; `None` for a plain HTTP request.
    pub(crate) version: Option<Version>,
    /// The request target as sent; the method is the request line before it.
    target: Span,
    /// The target's path and query (origin-form); empty for a URL with no path, naming `/`.
    resource: Span,
    /// The authority: the target's (absolute-form) or the `Host` field's (RFC 7230 §5.4).
    host: Span,
    origin: Span,
    /// `Sec-WebSocket-Key` (hybi) or `Sec-WebSocket-Key1` (hixie-76).
    key: Span,
    /// `Sec-WebSocket-Key2` (hixie-76).
    key2: Span,
}

/// Where a field value lies in the head (empty when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// The span of `part`, a slice of `head`.
    fn of(head: &[u8], part: Option<&[u8]>) -> Span {
        let Some(part) = part else {
            return Span::default();
        };
        let start = part.as_ptr() as usize - head.as_ptr() as usize;
        // Within the head, whose length fits 32 bits.
        Span {
            start: start as u32,
            end: (start + part.len()) as u32,
        }
    }

    fn get(self, head: &[u8]) -> &[u8] {
        &head[self.start as usize..self.end as usize]
    }
}

impl Parsed {
    /// The request's view over the input it was parsed from.
    pub(crate) fn request(self, input: &[u8]) -> Request<'_> {
        let head_len = self.head_len as usize;
        let head = &input[..head_len];
        let body = &input[head_len..head_len + usize::from(self.body_len)];
        // httparse accepted the request line: ASCII method and target.
        let text = |bytes| core::str::from_utf8(bytes).unwrap_or("");
        let method = head[..(self.target.start as usize).saturating_sub(1)].trim_ascii();
        Request {
            head,
            body,
            method: text(method),
            target: text(self.target.get(head)),
            resource: text(self.resource.get(head)),
            version: self.version,
        }
    }
}

#[cfg(test)]
impl Parsed {
    /// A request of this version with nothing in it, for the state table's tests.
    pub(crate) fn for_tests(version: Option<Version>) -> Self {
        Parsed {
            head_len: 0,
            body_len: 0,
            version,
            target: Span::default(),
            resource: Span::default(),
            host: Span::default(),
            origin: Span::default(),
            key: Span::default(),
            key2: Span::default(),
        }
    }
}

/// Reads a request from the start of `input`: `Ok(None)` while it is incomplete.
pub(crate) fn parse(input: &[u8], limits: &Limits) -> Result<Option<Parsed>, HandshakeError> {
    let mut fields = [http::EMPTY; Limits::HEADER_CAPACITY];
    let mut req = httparse::Request::new(&mut fields[..limits.header_count()]);
    // Only the bytes within the limit are parsed, so that a head too large is reported as such
    // however it arrived, not as malformed because of what came after the limit.
    let window = &input[..input.len().min(limits.max_handshake_bytes)];
    let Some(head_len) = http::head_length(req.parse(window), input.len(), limits)? else {
        return Ok(None);
    };
    let head = &input[..head_len];
    let is_get_11 = req.method == Some("GET") && req.version == Some(1);
    let target = req.path.unwrap_or("");
    let count = req.headers.len();
    let list = HeaderList::from_parsed(fields, count);
    // A plain request's target is the application's to judge; a path is still offered.
    let split = http::split_target(target);
    let (authority, resource) = split.unwrap_or((None, target));
    let host_field = list.find("Host");
    let host = match authority {
        Some(authority) => Some(authority.as_bytes()),
        None => host_field,
    };
    let mut parsed = Parsed {
        // Within the handshake limit, which fits 32 bits.
        head_len: head_len as u32,
        body_len: 0,
        version: None,
        target: Span::of(head, Some(target.as_bytes())),
        resource: Span::of(head, Some(resource.as_bytes())),
        host: Span::of(head, host),
        origin: Span::default(),
        key: Span::default(),
        key2: Span::default(),
    };
    if !list.has_token("Upgrade", "websocket") {
        return Ok(Some(parsed));
    }
    if !is_get_11 {
        return Err(HandshakeError::NotGet);
    }
    // RFC 7230 §5.4: no Host, several, or an invalid one is a 400.
    let host_value = list.single("Host")?.map(<[u8]>::trim_ascii);
    let Some(host_value) = host_value else {
        return Err(HandshakeError::MissingHeader("Host"));
    };
    let host_is_authority = core::str::from_utf8(host_value).is_ok_and(http::is_authority);
    if split.is_none() || !host_is_authority {
        return Err(HandshakeError::InvalidTarget);
    }
    if !list.has_token("Connection", "upgrade") {
        return Err(HandshakeError::MissingHeader("Connection"));
    }
    parsed.origin = Span::of(head, list.single("Origin")?);
    list.single("Sec-WebSocket-Origin")?;
    let version = if let Some(number) = list.single("Sec-WebSocket-Version")? {
        let version = match number.trim_ascii() {
            b"13" => Version::Hybi13,
            b"8" => Version::Hybi08,
            b"7" => Version::Hybi07,
            _ => return Err(HandshakeError::UnsupportedVersion),
        };
        match list.single("Sec-WebSocket-Key")? {
            Some(key) if keys::is_valid_key(key.trim_ascii()) => {
                parsed.key = Span::of(head, Some(key.trim_ascii()));
                version
            }
            _ => return Err(HandshakeError::InvalidKey),
        }
    } else if list.find("Sec-WebSocket-Key").is_some() {
        // A hybi key without a version number is no version we know.
        return Err(HandshakeError::MissingHeader("Sec-WebSocket-Version"));
    } else {
        match (
            list.single("Sec-WebSocket-Key1")?,
            list.single("Sec-WebSocket-Key2")?,
        ) {
            (Some(k1), Some(k2)) => {
                if keys::hixie76_key_number(k1).is_none() || keys::hixie76_key_number(k2).is_none()
                {
                    return Err(HandshakeError::InvalidKey);
                }
                parsed.key = Span::of(head, Some(k1));
                parsed.key2 = Span::of(head, Some(k2));
                Version::Hixie76
            }
            (None, None) => Version::Hixie75,
            _ => return Err(HandshakeError::InvalidKey),
        }
    };
    parsed.body_len = if version == Version::Hixie76 { 8 } else { 0 };
    parsed.version = Some(version);
    if input.len() < head_len + usize::from(parsed.body_len) {
        return Ok(None);
    }
    Ok(Some(parsed))
}

/// Queues the 101 answer of the request `parsed` found in `input`, with the extensions agreed
/// (a `Sec-WebSocket-Extensions` value; hybi only).
pub(crate) fn write_accept<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    input: &[u8],
    parsed: Parsed,
    accept: &Accept<'_>,
    extensions: Option<&str>,
    secure: bool,
) -> Result<(), UsageError> {
    http::check_headers(accept.headers)?;
    let request = parsed.request(input);
    if let Some(chosen) = accept.protocol {
        if !request.protocols().any(|p| p == chosen) {
            return Err(UsageError::ProtocolNotOffered);
        }
    }
    let Some(version) = parsed.version else {
        return Err(UsageError::NoPendingRequest);
    };
    let head = request.head;
    let field = |span: Span| span.get(head);
    let write = |sink: &mut dyn Sink| {
        match version {
            Version::Hybi07 | Version::Hybi08 | Version::Hybi13 => {
                sink.put(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
                sink.header("Sec-WebSocket-Accept", &keys::accept_key(field(parsed.key)));
                if let Some(p) = accept.protocol {
                    sink.header("Sec-WebSocket-Protocol", p.as_bytes());
                }
                if let Some(agreed) = extensions {
                    sink.header("Sec-WebSocket-Extensions", agreed.as_bytes());
                }
            }
            Version::Hixie75 | Version::Hixie76 => {
                let (status, prefix): (&[u8], &str) = if version == Version::Hixie76 {
                    (b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n", "Sec-")
                } else {
                    (b"HTTP/1.1 101 Web Socket Protocol Handshake\r\n", "")
                };
                sink.put(status);
                sink.put(b"Upgrade: WebSocket\r\nConnection: Upgrade\r\n");
                if parsed.origin != Span::default() {
                    sink.put(prefix.as_bytes());
                    sink.header("WebSocket-Origin", field(parsed.origin));
                }
                sink.put(prefix.as_bytes());
                sink.put(b"WebSocket-Location: ");
                sink.put(if secure { b"wss://" } else { b"ws://" });
                sink.put(field(parsed.host));
                // A URL with no path names `/` (RFC 3986 §6.2.3).
                let resource = field(parsed.resource);
                sink.put(if resource.first() == Some(&b'/') {
                    b""
                } else {
                    b"/"
                });
                sink.put(resource);
                sink.put(b"\r\n");
                if let Some(p) = accept.protocol {
                    sink.put(prefix.as_bytes());
                    sink.header("WebSocket-Protocol", p.as_bytes());
                }
            }
        }
        for (name, value) in accept.headers {
            sink.header(name, value.as_bytes());
        }
        sink.put(b"\r\n");
        if version == Version::Hixie76 {
            let mut key3 = [0u8; 8];
            key3.copy_from_slice(request.body);
            // The keys were checked when the request was parsed.
            let answer = keys::hixie76_answer(field(parsed.key), field(parsed.key2), &key3)
                .unwrap_or_default();
            sink.put(&answer);
        }
    };
    http::write_all_or_nothing(out, max_len, write)
}

/// Queues a complete HTTP response that ends the connection.
pub(crate) fn write_response<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), UsageError> {
    http::check_headers(headers)?;
    if !(100..=999).contains(&status) {
        return Err(UsageError::InvalidHeader);
    }
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let write = |sink: &mut dyn Sink| {
        let mut digits = [0u8; 20];
        sink.put(b"HTTP/1.1 ");
        sink.put(http::decimal(u64::from(status), &mut digits));
        sink.put(b" ");
        sink.put(http::reason_phrase(status).as_bytes());
        sink.put(b"\r\n");
        for (name, value) in headers {
            sink.header(name, value.as_bytes());
        }
        if !has("Content-Length") {
            sink.header(
                "Content-Length",
                http::decimal(body.len() as u64, &mut digits),
            );
        }
        if !has("Connection") {
            sink.put(b"Connection: close\r\n");
        }
        sink.put(b"\r\n");
        sink.put(body);
    };
    http::write_all_or_nothing(out, max_len, write)
}

/// The versions a server answers, as RFC 6455 §4.4 names them in a 426 answer.
pub(crate) const VERSIONS_SPOKEN: (&str, &str) = ("Sec-WebSocket-Version", "13, 8, 7");

/// The answer a failed handshake gets: its status, and for 426 the versions spoken.
pub(crate) fn write_failure<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    error: HandshakeError,
) {
    let status = error.status().unwrap_or(400);
    let headers: &[(&str, &str)] = if error == HandshakeError::UnsupportedVersion {
        &[VERSIONS_SPOKEN]
    } else {
        &[]
    };
    // An answer that does not fit the output is dropped: the connection closes either way.
    let _ = write_response(out, max_len, status, headers, b"");
}
