//! The client side: building each version's request and validating the server's answer
//! (RFC 6455 §4.1, hixie-76 §4.1 and §5.2, hixie-75 §4.1).

use super::http::{self, HeaderList, Sink};
use super::{keys, ClientRequest, Hixie76Key};
use crate::buffer::{ByteQueue, Storage};
use crate::connection::Extensions;
use crate::entropy::Entropy;
use crate::error::{HandshakeError, UsageError};
use crate::limits::Limits;
use crate::version::Version;

/// What the answer must prove: kept from the request until the answer arrives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expectation {
    proof: Proof,
    /// The offered subprotocols, as digests: a server's choice must be one of these names
    /// exactly, and the request need not be kept.
    offered: [Digest; ClientRequest::MAX_PROTOCOLS],
    offered_len: u8,
}

#[derive(Clone, Copy, Debug)]
enum Proof {
    /// The SHA-1 digest behind `Sec-WebSocket-Accept` (20 bytes, not its 28 in base64).
    Accept([u8; 20]),
    /// hixie-76: the 16-byte challenge answer, and the location and origin the server must
    /// name (§4.1: the connection fails on a missing or different one).
    Answer { answer: [u8; 16], names: Digest },
    /// hixie-75: the location and origin the server must name.
    Names(Digest),
}

/// The first 8 bytes of the SHA-1 of some bytes: equal names give equal digests, and a name
/// whose digest equals a given one takes about 2^64 tries to find, so a comparison of digests
/// stands for a comparison of the exact names in a fixed, small space.
type Digest = [u8; 8];

fn digest(parts: &[&[u8]]) -> Digest {
    let mut sha = sha1_smol::Sha1::new();
    for part in parts {
        sha.update(part);
    }
    let mut out = [0u8; 8];
    out.copy_from_slice(&sha.digest().bytes()[..8]);
    out
}

/// The digest of a hixie server's location and origin fields.
fn names_digest(location: &[u8], origin: &[u8]) -> Digest {
    digest(&[location, b"\n", origin])
}

/// A hixie client's origin: as given, or `http(s)://HOST`, in ASCII lowercase as hixie-76
/// §4.1 sends it (and as the server must echo it).
fn write_hixie_origin(sink: &mut dyn Sink, request: &ClientRequest<'_>) {
    let mut lower = [0u8; 64];
    let mut put = |bytes: &[u8]| {
        for chunk in bytes.chunks(lower.len()) {
            let out = &mut lower[..chunk.len()];
            out.copy_from_slice(chunk);
            out.make_ascii_lowercase();
            sink.put(out);
        }
    };
    match request.origin {
        Some(origin) => put(origin.as_bytes()),
        None => {
            put(if request.secure {
                b"https://"
            } else {
                b"http://"
            });
            put(request.host.as_bytes());
        }
    }
}

/// The request target: a query with no path gets the path `/` (RFC 6455 §3).
fn write_target(sink: &mut dyn Sink, request: &ClientRequest<'_>) {
    if request.target.starts_with('?') {
        sink.put(b"/");
    }
    sink.put(request.target.as_bytes());
}

/// Collects what a sink is given, into a SHA-1 (for the digest of what was written).
struct Hasher(sha1_smol::Sha1);

impl Sink for Hasher {
    fn put(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Where a valid answer ends in the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answered {
    pub(crate) head_len: usize,
    /// Head plus hixie-76's 16 answer bytes.
    pub(crate) total_len: usize,
    pub(crate) status: u16,
    /// The extensions the answer agreed to.
    pub(crate) extensions: Extensions,
}

/// What a client offered of extensions: its permessage-deflate configuration, if any.
#[cfg(feature = "deflate")]
pub(crate) type Offered = Option<crate::deflate::DeflateConfig>;
#[cfg(not(feature = "deflate"))]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Offered;

/// Queues the request, offering the extensions of `extensions` (a `Sec-WebSocket-Extensions`
/// value) when the version has any, and returns what its answer must prove.
pub(crate) fn write_request<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    request: &ClientRequest<'_>,
    extensions: Option<&str>,
    entropy: &mut impl Entropy,
) -> Result<Expectation, UsageError> {
    request.check()?;
    let version = request.version;
    let mut offered = [Digest::default(); ClientRequest::MAX_PROTOCOLS];
    let offered_protocols = if version.is_hixie() {
        &request.protocols[..request.protocols.len().min(1)]
    } else {
        request.protocols
    };
    for (slot, p) in offered.iter_mut().zip(offered_protocols) {
        *slot = digest(&[p.as_bytes()]);
    }
    // The location a hixie server must name: the URL this client asked for.
    let location = |sink: &mut dyn Sink| {
        sink.put(if request.secure { b"wss://" } else { b"ws://" });
        sink.put(request.host.as_bytes());
        write_target(sink, request);
    };
    let names = {
        let mut hasher = Hasher(sha1_smol::Sha1::new());
        location(&mut hasher);
        hasher.put(b"\n");
        write_hixie_origin(&mut hasher, request);
        let mut out = [0u8; 8];
        out.copy_from_slice(&hasher.0.digest().bytes()[..8]);
        out
    };
    let key = keys::generate_key(entropy);
    let (key1, key2, mut key3) = (
        Hixie76Key::generate(entropy),
        Hixie76Key::generate(entropy),
        [0u8; 8],
    );
    entropy.fill(&mut key3);
    let proof = match version {
        Version::Hybi07 | Version::Hybi08 | Version::Hybi13 => {
            Proof::Accept(keys::accept_digest(&key))
        }
        Version::Hixie76 => Proof::Answer {
            answer: keys::hixie76_answer(key1.as_bytes(), key2.as_bytes(), &key3)
                .unwrap_or_default(),
            names,
        },
        Version::Hixie75 => Proof::Names(names),
    };
    let write = |sink: &mut dyn Sink| {
        sink.put(b"GET ");
        write_target(sink, request);
        sink.put(b" HTTP/1.1\r\nHost: ");
        sink.put(request.host.as_bytes());
        sink.put(b"\r\n");
        if let Some(number) = version.hybi_number() {
            sink.put(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
            sink.header("Sec-WebSocket-Key", &key);
            let mut digits = [0u8; 4];
            sink.header(
                "Sec-WebSocket-Version",
                http::decimal(u64::from(number), &mut digits),
            );
            if let Some(offer) = extensions {
                sink.header("Sec-WebSocket-Extensions", offer.as_bytes());
            }
            if let Some(origin) = request.origin {
                let name = if number < 13 {
                    "Sec-WebSocket-Origin"
                } else {
                    "Origin"
                };
                sink.header(name, origin.as_bytes());
            }
            let mut protocols = request.protocols.iter();
            if let Some(first) = protocols.next() {
                sink.put(b"Sec-WebSocket-Protocol: ");
                sink.put(first.as_bytes());
                for p in protocols {
                    sink.put(b", ");
                    sink.put(p.as_bytes());
                }
                sink.put(b"\r\n");
            }
        } else {
            sink.put(b"Upgrade: WebSocket\r\nConnection: Upgrade\r\nOrigin: ");
            write_hixie_origin(sink, request);
            sink.put(b"\r\n");
            let protocol_field = if version == Version::Hixie76 {
                "Sec-WebSocket-Protocol"
            } else {
                "WebSocket-Protocol"
            };
            if let Some(p) = request.protocols.first() {
                sink.header(protocol_field, p.as_bytes());
            }
            if version == Version::Hixie76 {
                sink.header("Sec-WebSocket-Key1", key1.as_bytes());
                sink.header("Sec-WebSocket-Key2", key2.as_bytes());
            }
        }
        for (name, value) in request.headers {
            sink.header(name, value.as_bytes());
        }
        sink.put(b"\r\n");
        if version == Version::Hixie76 {
            sink.put(&key3);
        }
    };
    http::write_all_or_nothing(out, max_len, write)?;
    Ok(Expectation {
        proof,
        offered,
        offered_len: offered_protocols.len() as u8,
    })
}

/// Validates the answer at the start of `input`: `Ok(None)` while it is incomplete.
pub(crate) fn parse_response(
    input: &[u8],
    version: Version,
    expect: &Expectation,
    limits: &Limits,
    offered: Offered,
) -> Result<Option<Answered>, HandshakeError> {
    let mut fields = [http::EMPTY; Limits::HEADER_CAPACITY];
    let mut res = httparse::Response::new(&mut fields[..limits.header_count()]);
    // Only the bytes within the limit are parsed, so that a head too large is reported as such
    // however it arrived, not as malformed because of what came after the limit.
    let window = &input[..input.len().min(limits.max_handshake_bytes)];
    let Some(head_len) = http::head_length(res.parse(window), input.len(), limits)? else {
        return Ok(None);
    };
    let status = res.code.unwrap_or(0);
    if status != 101 {
        return Err(HandshakeError::Rejected { status });
    }
    let count = res.headers.len();
    let list = HeaderList::from_parsed(fields, count);
    if !list.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::MissingHeader("Upgrade"));
    }
    if !list.has_token("Connection", "upgrade") {
        return Err(HandshakeError::MissingHeader("Connection"));
    }
    let protocol_field = if version == Version::Hixie75 {
        "WebSocket-Protocol"
    } else {
        "Sec-WebSocket-Protocol"
    };
    // RFC 6455 §11.3.4: one field, naming exactly one of the offered subprotocols.
    if let Some(chosen) = list.single(protocol_field)?.map(<[u8]>::trim_ascii) {
        let offered = &expect.offered[..usize::from(expect.offered_len)];
        if !chosen.is_empty() && !offered.contains(&digest(&[chosen])) {
            return Err(HandshakeError::UnexpectedProtocol);
        }
    }
    let mut total_len = head_len;
    let mut extensions = crate::connection::NO_EXTENSIONS;
    match expect.proof {
        Proof::Accept(digest) => {
            let accept = keys::encode_accept(&digest);
            let got = list.single("Sec-WebSocket-Accept")?.map(<[u8]>::trim_ascii);
            if got != Some(&accept[..]) {
                return Err(HandshakeError::InvalidAccept);
            }
            extensions = agreed_extensions(&list, offered)?;
        }
        Proof::Answer { answer, names } => {
            check_names(
                &list,
                "Sec-WebSocket-Location",
                "Sec-WebSocket-Origin",
                names,
            )?;
            total_len += 16;
            match input.get(head_len..total_len) {
                None => return Ok(None),
                Some(got) if got != answer => return Err(HandshakeError::InvalidAnswer),
                Some(_) => {}
            }
        }
        Proof::Names(names) => check_names(&list, "WebSocket-Location", "WebSocket-Origin", names)?,
    }
    Ok(Some(Answered {
        head_len,
        total_len,
        status,
        extensions,
    }))
}

/// The extensions a hybi answer agrees to: those offered, checked against the offer (RFC 6455
/// §4.1: the client fails the connection on one it did not offer).
fn agreed_extensions(
    list: &HeaderList<'_>,
    offered: Offered,
) -> Result<Extensions, HandshakeError> {
    let mut fields = list.all("Sec-WebSocket-Extensions");
    #[cfg(feature = "deflate")]
    if let Some(config) = offered {
        let mut values = [""; 8];
        let mut count = 0;
        for value in fields {
            let value =
                core::str::from_utf8(value).map_err(|_| HandshakeError::UnexpectedExtension)?;
            let slot = values
                .get_mut(count)
                .ok_or(HandshakeError::UnexpectedExtension)?;
            *slot = value;
            count += 1;
        }
        let params =
            crate::deflate::negotiate::check_response(values[..count].iter().copied(), &config)
                .map_err(|_| HandshakeError::UnexpectedExtension)?;
        return Ok(params.map(|params| (params, config)));
    }
    #[cfg(not(feature = "deflate"))]
    let Offered = offered;
    match fields.next() {
        Some(_) => Err(HandshakeError::UnexpectedExtension),
        None => Ok(crate::connection::NO_EXTENSIONS),
    }
}

/// A hixie answer's location and origin: each present once, naming what the client asked for
/// (hixie-76 §4.1, hixie-75 §4.1).
fn check_names(
    list: &HeaderList<'_>,
    location: &'static str,
    origin: &'static str,
    expected: Digest,
) -> Result<(), HandshakeError> {
    let location = list.single(location)?.map(<[u8]>::trim_ascii);
    let origin = list.single(origin)?.map(<[u8]>::trim_ascii);
    match (location, origin) {
        (Some(location), Some(origin)) if names_digest(location, origin) == expected => Ok(()),
        _ => Err(HandshakeError::LocationMismatch),
    }
}
