//! The client side: building each version's request and validating the server's answer
//! (RFC 6455 §4.1, hixie-76 §4.1 and §5.2, hixie-75 §4.1).

use super::http::{self, HeaderList, Sink};
use super::{keys, ClientRequest, Hixie76Key};
use crate::buffer::{ByteQueue, Storage};
use crate::entropy::Entropy;
use crate::error::{HandshakeError, UsageError};
use crate::limits::Limits;
use crate::version::Version;

/// What the answer must prove: kept from the request until the answer arrives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Expectation {
    proof: Proof,
    /// 16-bit hashes of the offered subprotocols, so the request need not be kept (a server
    /// choosing an unoffered name is missed only if its hash collides: 1 in 8192 at most).
    offered: [u16; ClientRequest::MAX_PROTOCOLS],
    offered_len: u8,
}

#[derive(Clone, Copy, Debug)]
enum Proof {
    /// The SHA-1 digest behind `Sec-WebSocket-Accept` (20 bytes, not its 28 in base64).
    Accept([u8; 20]),
    Answer([u8; 16]),
    Nothing,
}

/// Where a valid answer ends in the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answered {
    pub(crate) head_len: usize,
    /// Head plus hixie-76's 16 answer bytes.
    pub(crate) total_len: usize,
    pub(crate) status: u16,
}

/// Queues the request and returns what its answer must prove.
pub(crate) fn write_request<S: Storage>(
    out: &mut ByteQueue<S>,
    max_len: usize,
    request: &ClientRequest<'_>,
    entropy: &mut impl Entropy,
) -> Result<Expectation, UsageError> {
    request.check()?;
    let version = request.version;
    let mut offered = [0u16; ClientRequest::MAX_PROTOCOLS];
    let offered_protocols = if version.is_hixie() {
        &request.protocols[..request.protocols.len().min(1)]
    } else {
        request.protocols
    };
    for (slot, p) in offered.iter_mut().zip(offered_protocols) {
        *slot = protocol_hash(p.as_bytes());
    }
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
        Version::Hixie76 => Proof::Answer(
            keys::hixie76_answer(key1.as_bytes(), key2.as_bytes(), &key3).unwrap_or_default(),
        ),
        Version::Hixie75 => Proof::Nothing,
    };
    let write = |sink: &mut dyn Sink| {
        sink.put(b"GET ");
        sink.put(request.target.as_bytes());
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
            sink.put(b"Upgrade: WebSocket\r\nConnection: Upgrade\r\n");
            match request.origin {
                Some(origin) => sink.header("Origin", origin.as_bytes()),
                None => {
                    sink.put(b"Origin: ");
                    sink.put(if request.secure {
                        b"https://"
                    } else {
                        b"http://"
                    });
                    sink.put(request.host.as_bytes());
                    sink.put(b"\r\n");
                }
            }
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
    if let Some(chosen) = list.find(protocol_field).map(<[u8]>::trim_ascii) {
        let hash = protocol_hash(chosen);
        let offered = &expect.offered[..usize::from(expect.offered_len)];
        if !chosen.is_empty() && !offered.contains(&hash) {
            return Err(HandshakeError::UnexpectedProtocol);
        }
    }
    let mut total_len = head_len;
    match expect.proof {
        Proof::Accept(digest) => {
            let accept = keys::encode_accept(&digest);
            if list.find("Sec-WebSocket-Accept").map(<[u8]>::trim_ascii) != Some(&accept[..]) {
                return Err(HandshakeError::InvalidAccept);
            }
            if list.find("Sec-WebSocket-Extensions").is_some() {
                return Err(HandshakeError::UnexpectedExtension);
            }
        }
        Proof::Answer(answer) => {
            total_len += 16;
            match input.get(head_len..total_len) {
                None => return Ok(None),
                Some(got) if got != answer => return Err(HandshakeError::InvalidAnswer),
                Some(_) => {}
            }
        }
        Proof::Nothing => {}
    }
    Ok(Some(Answered {
        head_len,
        total_len,
        status,
    }))
}

/// A subprotocol name folded to 16 bits.
fn protocol_hash(name: &[u8]) -> u16 {
    let h = http::fnv1a(name);
    (h ^ (h >> 16)) as u16
}
