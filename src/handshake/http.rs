//! HTTP/1.1 pieces the handshakes share: header lookup over heads parsed by httparse, token
//! lists (RFC 7230 §7), safe header output, and writing a head into a queue all or nothing.

use crate::buffer::{ByteQueue, Storage};
use crate::error::{HandshakeError, UsageError};
use crate::limits::Limits;

pub(crate) const EMPTY: httparse::Header<'static> = httparse::EMPTY_HEADER;

/// The header fields of a head as httparse parsed them, in a fixed array (no allocation):
/// the one parse of a head, which decides whether it is valid.
pub(crate) struct HeaderList<'a> {
    fields: [httparse::Header<'a>; Limits::HEADER_CAPACITY],
    len: usize,
}

impl<'a> HeaderList<'a> {
    /// The first `len` of `fields`, as filled by a parse that completed.
    pub(crate) fn from_parsed(
        fields: [httparse::Header<'a>; Limits::HEADER_CAPACITY],
        len: usize,
    ) -> Self {
        HeaderList { fields, len }
    }

    /// The first field named `name` (case-insensitive).
    pub(crate) fn find(&self, name: &str) -> Option<&'a [u8]> {
        self.fields[..self.len]
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The one field named `name`, if any.
    ///
    /// # Errors
    ///
    /// [`HandshakeError::RepeatedHeader`] when it appears more than once.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&'a [u8]>, HandshakeError> {
        let mut found = self.fields[..self.len]
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name));
        let first = found.next().map(|h| h.value);
        match found.next() {
            Some(_) => Err(HandshakeError::RepeatedHeader(name)),
            None => Ok(first),
        }
    }

    /// Every field named `name`, in order.
    pub(crate) fn all<'n>(
        &self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n, '_> {
        self.fields[..self.len]
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Whether any field named `name` lists `token` (case-insensitive, comma-separated).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.fields[..self.len]
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .any(|h| tokens(h.value).any(|t| t.eq_ignore_ascii_case(token.as_bytes())))
    }
}

/// The header fields of a head that httparse already accepted, read off its lines: after that
/// one parse, a valid head's fields are `name ":" OWS value OWS` lines up to the blank line
/// (RFC 7230 §3.2), so lookups need no parser and no array of fields.
#[derive(Clone, Debug)]
pub(crate) struct HeadFields<'a> {
    rest: &'a [u8],
}

impl<'a> HeadFields<'a> {
    /// The fields of `head`, whose first line (request or status line) is skipped.
    pub(crate) fn new(head: &'a [u8]) -> Self {
        let rest = match head.iter().position(|&b| b == b'\n') {
            Some(i) => &head[i + 1..],
            None => &[],
        };
        HeadFields { rest }
    }

    /// The first field named `name` (case-insensitive).
    pub(crate) fn find(self, name: &str) -> Option<&'a [u8]> {
        let mut fields = self;
        fields.find_map(|(n, v)| n.eq_ignore_ascii_case(name).then_some(v))
    }
}

impl<'a> Iterator for HeadFields<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let end = self.rest.iter().position(|&b| b == b'\n')?;
        let line = &self.rest[..end];
        self.rest = &self.rest[end + 1..];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        // httparse accepted the head: names are tokens, so ASCII.
        let name = core::str::from_utf8(&line[..colon]).ok()?;
        Some((name, line[colon + 1..].trim_ascii()))
    }
}

/// A request target split into the authority it names (absolute-form only) and its resource,
/// the path and query (RFC 7230 §5.3): `/chat?x=1` is `(None, "/chat?x=1")`, and
/// `http://example.com:8080/chat?x=1` is `(Some("example.com:8080"), "/chat?x=1")`. A URL with
/// no path has an empty resource, which names `/`. `None` for anything else: another scheme,
/// credentials in the authority, an invalid authority, or a fragment (which a request target
/// never carries).
pub(crate) fn split_target(target: &str) -> Option<(Option<&str>, &str)> {
    if target.contains('#') {
        return None;
    }
    if target.starts_with('/') {
        return Some((None, target));
    }
    let (scheme, rest) = target.split_once("://")?;
    let known = ["http", "https", "ws", "wss"];
    if !known.iter().any(|k| k.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, resource) = rest.split_at(end);
    is_authority(authority).then_some((Some(authority), resource))
}

/// Whether `authority` is a host with an optional port (RFC 3986 §3.2.2, §3.2.3): a
/// registered name or IPv4 address of unreserved, sub-delim and `%` characters, or an IP
/// literal in brackets; no credentials (`@`), no spaces, a port of at most five digits.
pub(crate) fn is_authority(authority: &str) -> bool {
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(literal) => {
            let Some((inside, after)) = literal.split_once(']') else {
                return false;
            };
            let ok = !inside.is_empty()
                && inside
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            match after {
                "" => (ok, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (ok, Some(port)),
                    None => return false,
                },
            }
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b));
            (ok, port)
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// Where a head parsed by httparse ends: `Ok(None)` while it is incomplete, and the
/// handshake limit checked whether it is complete or not.
pub(crate) fn head_length(
    parsed: Result<httparse::Status<usize>, httparse::Error>,
    input_len: usize,
    limits: &Limits,
) -> Result<Option<usize>, HandshakeError> {
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => input_len,
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
        Err(_) => return Err(HandshakeError::Malformed),
    };
    if head_len > limits.max_handshake_bytes {
        return Err(HandshakeError::TooLarge);
    }
    Ok(matches!(parsed, Ok(httparse::Status::Complete(_))).then_some(head_len))
}

/// The comma-separated, trimmed, non-empty elements of a header value.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
}

/// An iterator over the comma-separated elements of every field with one name.
pub struct HeaderTokens<'a> {
    fields: HeadFields<'a>,
    names: [&'static str; 2],
    rest: &'a [u8],
}

impl<'a> HeaderTokens<'a> {
    pub(crate) fn new(head: &'a [u8], names: [&'static str; 2]) -> Self {
        HeaderTokens {
            fields: HeadFields::new(head),
            names,
            rest: &[],
        }
    }
}

impl<'a> Iterator for HeaderTokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if let Some(token) = tokens(self.rest).next() {
                // `tokens` yields a slice of `rest`: continue after it.
                let used = token.as_ptr() as usize - self.rest.as_ptr() as usize + token.len();
                self.rest = &self.rest[used..];
                match core::str::from_utf8(token) {
                    Ok(s) => return Some(s),
                    Err(_) => continue,
                }
            }
            let (name, value) = self.fields.next()?;
            if self
                .names
                .iter()
                .any(|n| !n.is_empty() && name.eq_ignore_ascii_case(n))
            {
                self.rest = value;
            } else {
                self.rest = &[];
            }
        }
    }
}

impl core::fmt::Debug for HeaderTokens<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeaderTokens")
            .field("names", &self.names)
            .finish()
    }
}

/// Whether a header name is a non-empty token and its value holds no CR, LF or NUL, so that
/// writing them cannot inject another header or end the head.
pub(crate) fn is_safe_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        && value.bytes().all(|b| b != b'\r' && b != b'\n' && b != 0)
}

pub(crate) fn check_headers(headers: &[(&str, &str)]) -> Result<(), UsageError> {
    if headers.iter().all(|(n, v)| is_safe_header(n, v)) {
        Ok(())
    } else {
        Err(UsageError::InvalidHeader)
    }
}

/// A destination for output bytes: counted first, then written, so a head is queued whole or
/// not at all.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn header(&mut self, name: &str, value: &[u8]) {
        self.put(name.as_bytes());
        self.put(b": ");
        self.put(value);
        self.put(b"\r\n");
    }
}

struct Counter(usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Sink for Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }
}

/// Runs `write` once to measure and once to write into `queue`; queues nothing if it does not
/// fit.
pub(crate) fn write_all_or_nothing<S: Storage>(
    queue: &mut ByteQueue<S>,
    max_len: usize,
    write: impl Fn(&mut dyn Sink),
) -> Result<(), UsageError> {
    let mut counter = Counter(0);
    write(&mut counter);
    let required = counter.0;
    let out = queue.append_output(required, max_len)?;
    write(&mut Writer { out, pos: 0 });
    Ok(())
}

/// The decimal digits of `n`, written at the end of `buf`.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            return &buf[i..];
        }
    }
}

/// The reason phrase of the statuses a WebSocket server commonly answers with.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        408 => "Request Timeout",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// FNV-1a, to remember offered subprotocols in a few bytes.
pub(crate) fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_injection_is_refused() {
        assert!(is_safe_header("X-Ok", "value with spaces"));
        assert!(!is_safe_header("X-Bad", "a\r\nSet-Cookie: x"));
        assert!(!is_safe_header("X-Bad", "a\nb"));
        assert!(!is_safe_header("X-Bad\r\n", "a"));
        assert!(!is_safe_header("X Bad", "a"));
        assert!(!is_safe_header("X:Bad", "a"));
        assert!(!is_safe_header("", "a"));
    }

    #[test]
    fn decimal_digits() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(4_294_967_295, &mut buf), b"4294967295");
        assert_eq!(decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }
}
