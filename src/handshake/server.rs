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

/// Where a complete request ends in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Length of the head, blank line included.
    pub(crate) head_len: usize,
    /// Bytes after the head that belong to the handshake (hixie-76's key3).
    pub(crate) body_len: usize,
    /// The version asked for; `None` for a plain HTTP request.
    pub(crate) version: Option<Version>,
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
    let is_get_11 = req.method == Some("GET") && req.version == Some(1);
    let count = req.headers.len();
    let list = HeaderList::from_parsed(fields, count);
    if !list.has_token("Upgrade", "websocket") {
        return Ok(Some(Parsed {
            head_len,
            body_len: 0,
            version: None,
        }));
    }
    if !is_get_11 {
        return Err(HandshakeError::NotGet);
    }
    if list.find("Host").is_none() {
        return Err(HandshakeError::MissingHeader("Host"));
    }
    if !list.has_token("Connection", "upgrade") {
        return Err(HandshakeError::MissingHeader("Connection"));
    }
    let version = if let Some(number) = list.find("Sec-WebSocket-Version") {
        let version = match number.trim_ascii() {
            b"13" => Version::Hybi13,
            b"8" => Version::Hybi08,
            b"7" => Version::Hybi07,
            _ => return Err(HandshakeError::UnsupportedVersion),
        };
        match list.find("Sec-WebSocket-Key") {
            Some(key) if keys::is_valid_key(key.trim_ascii()) => version,
            _ => return Err(HandshakeError::InvalidKey),
        }
    } else if list.find("Sec-WebSocket-Key").is_some() {
        // A hybi key without a version number is no version we know.
        return Err(HandshakeError::MissingHeader("Sec-WebSocket-Version"));
    } else {
        match (
            list.find("Sec-WebSocket-Key1"),
            list.find("Sec-WebSocket-Key2"),
        ) {
            (Some(k1), Some(k2)) => {
                if keys::hixie76_key_number(k1).is_none() || keys::hixie76_key_number(k2).is_none()
                {
                    return Err(HandshakeError::InvalidKey);
                }
                Version::Hixie76
            }
            (None, None) => Version::Hixie75,
            _ => return Err(HandshakeError::InvalidKey),
        }
    };
    let body_len = if version == Version::Hixie76 { 8 } else { 0 };
    if input.len() < head_len + body_len {
        return Ok(None);
    }
    Ok(Some(Parsed {
        head_len,
        body_len,
        version: Some(version),
    }))
}

/// The view of a parsed request over the input it was parsed from.
pub(crate) fn view<'a>(input: &'a [u8], parsed: Parsed) -> Request<'a> {
    let head = &input[..parsed.head_len];
    let body = &input[parsed.head_len..parsed.head_len + parsed.body_len];
    let mut fields = [http::EMPTY; Limits::HEADER_CAPACITY];
    let mut req = httparse::Request::new(&mut fields);
    let _ = req.parse(head);
    Request {
        head,
        body,
        method: req.method.unwrap_or(""),
        target: req.path.unwrap_or(""),
        version: parsed.version,
    }
}

/// Queues the 101 answer of `request` in `out`.
pub(crate) fn write_accept<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    request: &Request<'_>,
    accept: &Accept<'_>,
    secure: bool,
) -> Result<(), UsageError> {
    http::check_headers(accept.headers)?;
    if let Some(chosen) = accept.protocol {
        if !request.protocols().any(|p| p == chosen) {
            return Err(UsageError::ProtocolNotOffered);
        }
    }
    let Some(version) = request.version else {
        return Err(UsageError::NoPendingRequest);
    };
    let fields = HeaderList::parse(request.head, true);
    let write = |sink: &mut dyn Sink| {
        match version {
            Version::Hybi07 | Version::Hybi08 | Version::Hybi13 => {
                sink.put(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
                let key = fields.find("Sec-WebSocket-Key").unwrap_or_default();
                sink.header("Sec-WebSocket-Accept", &keys::accept_key(key.trim_ascii()));
                if let Some(p) = accept.protocol {
                    sink.header("Sec-WebSocket-Protocol", p.as_bytes());
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
                if let Some(origin) = fields.find("Origin") {
                    sink.put(prefix.as_bytes());
                    sink.header("WebSocket-Origin", origin);
                }
                sink.put(prefix.as_bytes());
                sink.put(b"WebSocket-Location: ");
                sink.put(if secure { b"wss://" } else { b"ws://" });
                sink.put(fields.find("Host").unwrap_or_default());
                sink.put(request.target.as_bytes());
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
            let key1 = fields.find("Sec-WebSocket-Key1").unwrap_or_default();
            let key2 = fields.find("Sec-WebSocket-Key2").unwrap_or_default();
            let mut key3 = [0u8; 8];
            key3.copy_from_slice(request.body);
            // The keys were checked when the request was parsed.
            let answer = keys::hixie76_answer(key1, key2, &key3).unwrap_or_default();
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

/// The answer a failed handshake gets: its status, and for 426 the versions spoken.
pub(crate) fn write_failure<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    error: HandshakeError,
) {
    let status = error.status().unwrap_or(400);
    let headers: &[(&str, &str)] = if error == HandshakeError::UnsupportedVersion {
        &[("Sec-WebSocket-Version", "13, 8, 7")]
    } else {
        &[]
    };
    // An answer that does not fit the output is dropped: the connection closes either way.
    let _ = write_response(out, max_len, status, headers, b"");
}
