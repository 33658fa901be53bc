//! The `Sec-WebSocket-Extensions` negotiation of permessage-deflate (RFC 7692 §5, §7.1), as
//! pure functions: the client's offer ([`write_offer`]), the server's choice among the offers
//! of a request and its answer ([`accept_offers`]), and the client's check of that answer
//! ([`check_response`]).
//!
//! The header syntax is RFC 6455 §9.1: comma-separated elements, each
//! `name *( ";" param [ "=" value ] )`, a value being a token or a quoted-string that is a token
//! once unescaped, with optional whitespace around `,` `;` `=`. Extension and parameter names
//! are compared case-insensitively. Empty list elements are ignored (RFC 7230 §7).

use alloc::string::String;
use core::fmt;

use super::{DeflateConfig, DeflateParams};

const NAME: &str = "permessage-deflate";
const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// RFC 7692 §7.1.2: windows of 2^8 to 2^15 bytes.
const MIN_BITS: u8 = 8;
const MAX_BITS: u8 = 15;

/// Why a client refuses the server's `Sec-WebSocket-Extensions` answer ([`check_response`]).
/// Each one obliges the client to fail the connection (RFC 6455 §4.1, RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The server accepted an extension other than permessage-deflate, which the client never
    /// offers (RFC 6455 §4.1, §9.1).
    UnknownExtension,
    /// The server accepted permessage-deflate more than once; both would claim the RSV1 bit
    /// (RFC 7692 §5, §6; RFC 6455 §9.1).
    Repeated,
    /// The answer has an unknown or repeated parameter, a value where none is allowed, no value
    /// where one is required (`client_max_window_bits` in a response included), a window
    /// outside 8 to 15 or not written as a plain decimal, or broken syntax (RFC 7692 §7.1).
    InvalidParameter,
    /// The answer is well-formed but accepts none of the offers made (RFC 7692 §7.1.1.1,
    /// §7.1.2.1, §7.1.2.2).
    NotOffered,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NegotiationError::UnknownExtension => "the server accepted an extension not offered",
            NegotiationError::Repeated => "the server accepted permessage-deflate more than once",
            NegotiationError::InvalidParameter => "invalid permessage-deflate parameter",
            NegotiationError::NotOffered => {
                "the permessage-deflate response accepts none of the offers"
            }
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NegotiationError {}

/// The outcome of a server's negotiation ([`accept_offers`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The parameters the connection runs with.
    pub params: DeflateParams,
    /// The `Sec-WebSocket-Extensions` value to answer with: no field name, no CRLF.
    pub response: String,
}

/// Writes the client's `Sec-WebSocket-Extensions` value (no field name, no CRLF) for `config`
/// (RFC 7692 §5, §7.1), appending to `out`.
///
/// The first offer is, in this order: `permessage-deflate`, `server_no_context_takeover` and
/// `client_no_context_takeover` when the config sets them, `server_max_window_bits=N` when
/// `config.server_max_window_bits` is `Some(N)`, and always `client_max_window_bits`, with
/// `=N` when `config.client_max_window_bits` is `Some(N)`. With `config.fallback_offer`, the
/// offer `permessage-deflate; client_max_window_bits` follows after `, ` unless it is the same
/// as the first. Windows outside 8 to 15 are clamped into that range.
pub fn write_offer(config: &DeflateConfig, out: &mut String) {
    for (i, offer) in offers(config).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        offer.write(out);
    }
}

/// Chooses among a request's extension offers (RFC 7692 §5, §7.1): the first
/// `permessage-deflate` element that is valid, with the answer to send.
///
/// `offers` are the request's `Sec-WebSocket-Extensions` elements in order, as
/// [`crate::Request::extensions`] yields them; whole field values with commas are split here
/// too. Other extensions are skipped, and so is an invalid `permessage-deflate` element (an
/// unknown or repeated parameter, a value where none is allowed, a missing value, a window
/// outside 8 to 15): §7.1 asks the server to decline it, not to fail. `None` when no offer is
/// acceptable; the connection then runs without compression.
///
/// The answer holds `server_no_context_takeover` when the offer or `config` asks for it
/// (§7.1.1.1); `client_no_context_takeover` when the offer or `config` asks for it (§7.1.1.2);
/// `server_max_window_bits` when the offer or `config` sets it, never above the offer's value
/// (§7.1.2.1); `client_max_window_bits` when `config` sets it and the offer has the parameter,
/// never above the offer's value (§7.1.2.2).
pub fn accept_offers<'a>(
    offers: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<Agreement> {
    offers
        .into_iter()
        .flat_map(elements)
        .find_map(|element| match parse_element(element) {
            Ok(Parsed::Deflate(offer)) => Some(answer(&offer, config)),
            Ok(Parsed::Other) | Err(_) => None,
        })
}

/// Checks the server's answer against the offers [`write_offer`] made for `config`
/// (RFC 6455 §4.1, RFC 7692 §5, §7.1), returning the agreed parameters, or `None` when the
/// server accepted no extension.
///
/// `fields` are the values of every `Sec-WebSocket-Extensions` field of the response, each
/// possibly a comma-separated list.
///
/// # Errors
///
/// - [`NegotiationError::UnknownExtension`]: an extension other than permessage-deflate.
/// - [`NegotiationError::Repeated`]: permessage-deflate more than once.
/// - [`NegotiationError::InvalidParameter`]: an invalid element, `client_max_window_bits`
///   without a value included.
/// - [`NegotiationError::NotOffered`]: an answer to none of the offers: a window above the one
///   offered, or no `server_no_context_takeover` or `server_max_window_bits` when every offer
///   asked for it.
pub fn check_response<'a>(
    fields: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, NegotiationError> {
    let mut accepted = None;
    for element in fields.into_iter().flat_map(elements) {
        match parse_element(element)? {
            Parsed::Other => return Err(NegotiationError::UnknownExtension),
            Parsed::Deflate(response) => {
                if accepted.replace(response).is_some() {
                    return Err(NegotiationError::Repeated);
                }
            }
        }
    }
    let Some(response) = accepted else {
        return Ok(None);
    };
    // §7.1.2.2: the server either omits the parameter or gives the window it will accept.
    let client_bits = match response.client_max_window_bits {
        Some(None) => return Err(NegotiationError::InvalidParameter),
        Some(Some(bits)) => Some(bits),
        None => None,
    };
    if !offers(config).any(|offer| response.answers(&offer)) {
        return Err(NegotiationError::NotOffered);
    }
    let own_bits = clamp(config.client_max_window_bits);
    Ok(Some(DeflateParams {
        server_no_context_takeover: response.server_no_context_takeover,
        // Our first offer told the server we would not take over context even if not asked
        // to (§7.1.1.2): keep that word whichever offer it took; resetting is always safe.
        client_no_context_takeover: response.client_no_context_takeover
            || config.client_no_context_takeover,
        server_max_window_bits: response.server_max_window_bits.unwrap_or(MAX_BITS),
        // Our first offer said we would not use a window above our value (§7.1.2.2), and a
        // smaller window than the server allows is always safe: keep to the smaller.
        client_max_window_bits: match (client_bits, own_bits) {
            (Some(theirs), Some(ours)) => theirs.min(ours),
            (Some(bits), None) | (None, Some(bits)) => bits,
            (None, None) => MAX_BITS,
        },
    }))
}

/// The parameters of one permessage-deflate element, offer or response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Element {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value, allowed in an offer only.
    client_max_window_bits: Option<Option<u8>>,
}

impl Element {
    fn write(&self, out: &mut String) {
        out.push_str(NAME);
        if self.server_no_context_takeover {
            out.push_str("; ");
            out.push_str(SERVER_NO_CONTEXT_TAKEOVER);
        }
        if self.client_no_context_takeover {
            out.push_str("; ");
            out.push_str(CLIENT_NO_CONTEXT_TAKEOVER);
        }
        if let Some(bits) = self.server_max_window_bits {
            out.push_str("; ");
            out.push_str(SERVER_MAX_WINDOW_BITS);
            push_bits(out, bits);
        }
        if let Some(bits) = self.client_max_window_bits {
            out.push_str("; ");
            out.push_str(CLIENT_MAX_WINDOW_BITS);
            if let Some(bits) = bits {
                push_bits(out, bits);
            }
        }
    }

    /// Whether `self`, as a response, accepts `offer`.
    fn answers(&self, offer: &Element) -> bool {
        // §7.1.1.1: an offer with server_no_context_takeover is accepted by a response with it.
        let context = !offer.server_no_context_takeover || self.server_no_context_takeover;
        // §7.1.2.1: an offer with server_max_window_bits is accepted by a response with "the
        // same or smaller value"; without one in the offer the server may still set any.
        let server_window = match offer.server_max_window_bits {
            Some(asked) => self
                .server_max_window_bits
                .is_some_and(|bits| bits <= asked),
            None => true,
        };
        // §7.1.2.2: a response "MUST NOT include" client_max_window_bits unless the offer has
        // it, and then with a value no greater than the offer's, if the offer gave one.
        let client_window = match (self.client_max_window_bits, offer.client_max_window_bits) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(None)) => true,
            (Some(given), Some(Some(offered))) => given.is_some_and(|bits| bits <= offered),
        };
        context && server_window && client_window
    }
}

/// The offers [`write_offer`] makes, in order.
fn offers(config: &DeflateConfig) -> impl Iterator<Item = Element> {
    let first = Element {
        server_no_context_takeover: config.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        server_max_window_bits: clamp(config.server_max_window_bits),
        // Always offered: our compressor honours any window the server asks of us.
        client_max_window_bits: Some(clamp(config.client_max_window_bits)),
    };
    let fallback = Element {
        client_max_window_bits: Some(None),
        ..Element::default()
    };
    let fallback = (config.fallback_offer && fallback != first).then_some(fallback);
    core::iter::once(first).chain(fallback)
}

/// The server's answer to a valid offer.
fn answer(offer: &Element, config: &DeflateConfig) -> Agreement {
    let server_bits = clamp(config.server_max_window_bits);
    let client_bits = clamp(config.client_max_window_bits);
    let response = Element {
        // §7.1.1.1: accepting an offer that has it means answering with it; the server may add
        // it on its own.
        server_no_context_takeover: offer.server_no_context_takeover
            || config.server_no_context_takeover,
        // §7.1.1.2: the server may add it on its own, and when offered may echo it "to avoid
        // taking over the LZ77 sliding window unnecessarily"; only in the agreed parameters
        // does the offer's hint let the server drop its window (§7.2.2), so echo it.
        client_no_context_takeover: offer.client_no_context_takeover
            || config.client_no_context_takeover,
        // §7.1.2.1: "the same or smaller value as the offer"; without one in the offer the
        // server may still state its own.
        server_max_window_bits: match offer.server_max_window_bits {
            Some(asked) => Some(asked.min(server_bits.unwrap_or(MAX_BITS))),
            None => server_bits,
        },
        // §7.1.2.2: only when offered, and "equal to or smaller than the received value".
        client_max_window_bits: match (offer.client_max_window_bits, client_bits) {
            (Some(offered), Some(ours)) => Some(Some(offered.map_or(ours, |b| b.min(ours)))),
            _ => None,
        },
    };
    let mut text = String::new();
    response.write(&mut text);
    Agreement {
        params: DeflateParams {
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover,
            server_max_window_bits: response.server_max_window_bits.unwrap_or(MAX_BITS),
            client_max_window_bits: match response.client_max_window_bits {
                Some(Some(bits)) => bits,
                // §7.1.2.2: a value in the offer tells the server that, whatever the response
                // says, "the client is not going to use an LZ77 sliding window size greater
                // than the size specified by the value in the extension negotiation offer".
                _ => offer.client_max_window_bits.flatten().unwrap_or(MAX_BITS),
            },
        },
        response: text,
    }
}

fn clamp(bits: Option<u8>) -> Option<u8> {
    bits.map(|bits| bits.clamp(MIN_BITS, MAX_BITS))
}

/// Appends `=bits` for a window already within 8 to 15.
fn push_bits(out: &mut String, bits: u8) {
    out.push('=');
    if bits >= 10 {
        out.push('1');
    }
    out.push(char::from(b'0' + bits % 10));
}

/// What one list element is.
enum Parsed {
    Deflate(Element),
    /// Another extension, whatever its syntax: only its name matters to either side.
    Other,
}

/// Parses one extension element (RFC 6455 §9.1): another extension, or permessage-deflate
/// with every parameter checked as RFC 7692 §7.1 asks of both sides (the bare
/// `client_max_window_bits` is left to the caller: allowed in an offer, not in a response).
fn parse_element(element: &str) -> Result<Parsed, NegotiationError> {
    let (name, mut rest) = split_token(trim(element));
    if !name.eq_ignore_ascii_case(NAME) {
        return Ok(Parsed::Other);
    }
    let mut element = Element::default();
    loop {
        rest = trim_start(rest);
        if rest.is_empty() {
            return Ok(Parsed::Deflate(element));
        }
        let param;
        (param, rest) = split_param(rest).ok_or(NegotiationError::InvalidParameter)?;
        if !element.set(param) {
            return Err(NegotiationError::InvalidParameter);
        }
    }
}

impl Element {
    /// Records one parameter; `false` when it is unknown, repeated or badly valued (RFC 7692
    /// §7.1: any of these makes the whole element invalid).
    fn set(&mut self, (name, value): (&str, Option<Value<'_>>)) -> bool {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        if is(SERVER_NO_CONTEXT_TAKEOVER) || is(CLIENT_NO_CONTEXT_TAKEOVER) {
            let flag = if is(SERVER_NO_CONTEXT_TAKEOVER) {
                &mut self.server_no_context_takeover
            } else {
                &mut self.client_no_context_takeover
            };
            // §7.1.1.1, §7.1.1.2: "has no value".
            let fresh = !*flag && value.is_none();
            *flag = true;
            fresh
        } else if is(SERVER_MAX_WINDOW_BITS) {
            // §7.1.2.1: the value is required, in an offer as in a response.
            let bits = value.and_then(window_bits);
            let fresh = self.server_max_window_bits.is_none() && bits.is_some();
            self.server_max_window_bits = bits;
            fresh
        } else if is(CLIENT_MAX_WINDOW_BITS) {
            let bits = match value {
                None => Some(None),
                Some(value) => window_bits(value).map(Some),
            };
            let fresh = self.client_max_window_bits.is_none() && bits.is_some();
            self.client_max_window_bits = bits;
            fresh
        } else {
            false
        }
    }
}

/// A parameter value as written: a token, or the inside of a quoted-string.
#[derive(Clone, Copy)]
struct Value<'a> {
    text: &'a str,
    quoted: bool,
}

impl<'a> Value<'a> {
    /// The characters with quoted-pairs unescaped (RFC 6455 §9.1 holds the unescaped value to
    /// the token rule).
    fn chars(self) -> impl Iterator<Item = char> + 'a {
        let mut chars = self.text.chars();
        core::iter::from_fn(move || match chars.next()? {
            '\\' if self.quoted => chars.next(),
            c => Some(c),
        })
    }
}

/// A window of 8 to 15 bits written as RFC 7692 §7.1.2.1 and §7.1.2.2 require: decimal, no
/// leading zero, no sign.
fn window_bits(value: Value<'_>) -> Option<u8> {
    let mut chars = value.chars();
    let bits = match (chars.next(), chars.next(), chars.next()) {
        (Some(digit), None, None) => digit.to_digit(10)?,
        (Some('1'), Some(digit), None) => 10 + digit.to_digit(10)?,
        _ => return None,
    };
    u8::try_from(bits)
        .ok()
        .filter(|bits| (MIN_BITS..=MAX_BITS).contains(bits))
}

/// Splits `; name [= value]` off the front of `rest`; `None` when it is not that.
fn split_param(rest: &str) -> Option<((&str, Option<Value<'_>>), &str)> {
    let rest = trim_start(rest.strip_prefix(';')?);
    let (name, rest) = split_token(rest);
    if name.is_empty() {
        return None;
    }
    let rest = trim_start(rest);
    let Some(rest) = rest.strip_prefix('=') else {
        return Some(((name, None), rest));
    };
    let rest = trim_start(rest);
    let (value, rest) = match rest.strip_prefix('"') {
        Some(quoted) => {
            let (text, rest) = split_quoted(quoted)?;
            (Value { text, quoted: true }, rest)
        }
        None => {
            let (text, rest) = split_token(rest);
            if text.is_empty() {
                return None;
            }
            (
                Value {
                    text,
                    quoted: false,
                },
                rest,
            )
        }
    };
    Some(((name, Some(value)), rest))
}

/// Splits the inside of a quoted-string from what follows its closing quote, given the text
/// after its opening quote; `None` when it is not closed.
fn split_quoted(s: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some((s.get(..i)?, s.get(i + 1..)?));
        }
    }
    None
}

/// Splits the longest leading token (RFC 7230 §3.2.6 `tchar`s) from the rest.
fn split_token(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_tchar(c)).unwrap_or(s.len());
    s.split_at_checked(end).unwrap_or((s, ""))
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// The trimmed, non-empty elements of a comma-separated list; a comma inside a quoted-string
/// does not split.
fn elements(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(list);
    core::iter::from_fn(move || loop {
        let (element, tail) = split_unquoted_comma(rest?);
        rest = tail;
        let element = trim(element);
        if !element.is_empty() {
            return Some(element);
        }
    })
}

/// Splits `s` at its first comma outside a quoted-string.
fn split_unquoted_comma(s: &str) -> (&str, Option<&str>) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted {
            match c {
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
        } else if c == '"' {
            quoted = true;
        } else if c == ',' {
            if let (Some(head), Some(tail)) = (s.get(..i), s.get(i + 1..)) {
                return (head, Some(tail));
            }
        }
    }
    (s, None)
}

/// Optional whitespace (RFC 7230 §3.2.3 `OWS`).
const OWS: [char; 2] = [' ', '\t'];

fn trim(s: &str) -> &str {
    s.trim_matches(OWS)
}

fn trim_start(s: &str) -> &str {
    s.trim_start_matches(OWS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn params(snct: bool, cnct: bool, server_bits: u8, client_bits: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        }
    }

    fn offer(config: &DeflateConfig) -> String {
        let mut out = String::new();
        write_offer(config, &mut out);
        out
    }

    fn accept(offers: &str, config: &DeflateConfig) -> Option<(String, DeflateParams)> {
        accept_offers([offers], config).map(|a| (a.response, a.params))
    }

    fn check(fields: &[&str], config: &DeflateConfig) -> Checked {
        check_response(fields.iter().copied(), config)
    }

    const DEFAULT: DeflateConfig = DeflateConfig::new();

    type Checked = Result<Option<DeflateParams>, NegotiationError>;

    #[test]
    fn offers_written() {
        let with = |f: fn(&mut DeflateConfig)| {
            let mut config = DeflateConfig::new();
            f(&mut config);
            offer(&config)
        };
        let table: &[(String, &str)] = &[
            // §7.1.2.2: client_max_window_bits always offered, bare when we set no value.
            (with(|_| {}), "permessage-deflate; client_max_window_bits"),
            (
                with(|c| c.server_no_context_takeover = true),
                "permessage-deflate; server_no_context_takeover; client_max_window_bits",
            ),
            (
                with(|c| c.client_no_context_takeover = true),
                "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            ),
            (
                with(|c| c.server_max_window_bits = Some(10)),
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
            ),
            (
                with(|c| c.client_max_window_bits = Some(9)),
                "permessage-deflate; client_max_window_bits=9",
            ),
            (
                with(|c| {
                    c.server_no_context_takeover = true;
                    c.client_no_context_takeover = true;
                    c.server_max_window_bits = Some(8);
                    c.client_max_window_bits = Some(15);
                }),
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=8; client_max_window_bits=15",
            ),
            // Out-of-range config values are clamped so the offer stays valid (§7.1.2).
            (
                with(|c| {
                    c.server_max_window_bits = Some(3);
                    c.client_max_window_bits = Some(200);
                }),
                "permessage-deflate; server_max_window_bits=8; client_max_window_bits=15",
            ),
            // §5: a second, plainer offer after the first, in order of preference.
            (
                with(|c| {
                    c.server_no_context_takeover = true;
                    c.fallback_offer = true;
                }),
                "permessage-deflate; server_no_context_takeover; client_max_window_bits, \
                 permessage-deflate; client_max_window_bits",
            ),
            // A fallback equal to the first offer would add nothing.
            (
                with(|c| c.fallback_offer = true),
                "permessage-deflate; client_max_window_bits",
            ),
        ];
        for (written, expected) in table {
            assert_eq!(written, expected);
        }
    }

    #[test]
    fn offer_appends() {
        let mut out = String::from("x, ");
        write_offer(&DEFAULT, &mut out);
        assert_eq!(out, "x, permessage-deflate; client_max_window_bits");
    }

    /// Offers to a server with the default config: (offer list, response, params).
    #[test]
    fn server_default_config() {
        let table: &[(&str, Option<&str>, DeflateParams)] = &[
            // §7.1: no parameter, nothing to answer; full windows with context takeover.
            (
                "permessage-deflate",
                Some("permessage-deflate"),
                params(false, false, 15, 15),
            ),
            // §7.1.1.1: accepting server_no_context_takeover means answering with it.
            (
                "permessage-deflate; server_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover"),
                params(true, false, 15, 15),
            ),
            // §7.1.1.2: the hint is echoed so that both ends agree on it.
            (
                "permessage-deflate; client_no_context_takeover",
                Some("permessage-deflate; client_no_context_takeover"),
                params(false, true, 15, 15),
            ),
            // §7.1.2.1: answered with the same value (we set no smaller one).
            (
                "permessage-deflate; server_max_window_bits=10",
                Some("permessage-deflate; server_max_window_bits=10"),
                params(false, false, 10, 15),
            ),
            // §7.1.2.1: 8 is in range, and our compressor honours it.
            (
                "permessage-deflate; server_max_window_bits=8",
                Some("permessage-deflate; server_max_window_bits=8"),
                params(false, false, 8, 15),
            ),
            // §7.1.2.2: the server may leave the parameter out; the client may then use 15.
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate"),
                params(false, false, 15, 15),
            ),
            // §7.1.2.2: with a value, the client will not exceed it even when not answered.
            (
                "permessage-deflate; client_max_window_bits=8",
                Some("permessage-deflate"),
                params(false, false, 15, 8),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12; client_max_window_bits=11",
                Some(
                    "permessage-deflate; server_no_context_takeover; \
                     client_no_context_takeover; server_max_window_bits=12",
                ),
                params(true, true, 12, 11),
            ),
            // Case-insensitive names (as the lead's brief asks; RFC 6455 §9.1 tokens).
            (
                "PerMessage-Deflate; Server_No_Context_Takeover; SERVER_MAX_WINDOW_BITS=9",
                Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
                params(true, false, 9, 15),
            ),
            // RFC 6455 §9.1: whitespace around `;` and `=`, tabs included.
            (
                " permessage-deflate ;server_max_window_bits = 11 ;\tclient_max_window_bits\t= 12 ",
                Some("permessage-deflate; server_max_window_bits=11"),
                params(false, false, 11, 12),
            ),
            // RFC 7692 §7.1 / RFC 6455 §9.1: a quoted-string that is a token once unquoted.
            (
                "permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=\"9\"",
                Some("permessage-deflate; server_max_window_bits=10"),
                params(false, false, 10, 9),
            ),
            // A quoted-pair unescapes to its character: "1\3" is 13.
            (
                "permessage-deflate; server_max_window_bits=\"1\\3\"",
                Some("permessage-deflate; server_max_window_bits=13"),
                params(false, false, 13, 15),
            ),
            // RFC 6455 §9.1: other extensions are skipped, order kept.
            (
                "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=9",
                Some("permessage-deflate; server_max_window_bits=9"),
                params(false, false, 9, 15),
            ),
            // An extension whose name starts like ours is another extension.
            (
                "permessage-deflated; client_max_window_bits",
                None,
                DeflateParams::new(),
            ),
            ("permessage-deflate-x", None, DeflateParams::new()),
            // A comma inside a quoted-string does not split (RFC 7230 §7 list of elements).
            (
                "foo, bar; baz=\"q, permessage-deflate, r\"",
                None,
                DeflateParams::new(),
            ),
            ("", None, DeflateParams::new()),
            (" , ,", None, DeflateParams::new()),
        ];
        for (offers, response, expected) in table {
            let got = accept(offers, &DEFAULT);
            match response {
                Some(response) => assert_eq!(
                    got,
                    Some((String::from(*response), *expected)),
                    "offer {offers:?}"
                ),
                None => assert_eq!(got, None, "offer {offers:?}"),
            }
        }
    }

    /// Invalid permessage-deflate elements, each declined (§7.1: "A server MUST decline").
    #[test]
    fn server_declines_invalid() {
        let table: &[&str] = &[
            // §7.1: "an extension parameter not defined for use in an offer".
            "permessage-deflate; foo",
            "permessage-deflate; foo=1",
            "permessage-deflate; server_max_window",
            // §7.1: "multiple extension parameters with the same name".
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; Client_No_Context_Takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; client_max_window_bits=10; client_max_window_bits",
            // §7.1.2.1: windows are 8 to 15.
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=0",
            "permessage-deflate; server_max_window_bits=1",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=16",
            // §7.1.2.1: the value is required.
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=",
            "permessage-deflate; server_max_window_bits=\"\"",
            // §7.1.1.1, §7.1.1.2: these have no value.
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"\"",
            "permessage-deflate; server_no_context_takeover=true",
            // §7.1.2.1: decimal without leading zeros; no sign, no fraction, no space inside.
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=05",
            "permessage-deflate; client_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=9.0",
            "permessage-deflate; server_max_window_bits=\"1 0\"",
            "permessage-deflate; server_max_window_bits=0x0a",
            "permessage-deflate; server_max_window_bits=١٠",
            // RFC 6455 §9.1 syntax: a parameter is a token after `;`.
            "permessage-deflate;",
            "permessage-deflate; ;server_no_context_takeover",
            "permessage-deflate;; server_no_context_takeover",
            "permessage-deflate server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10 11",
            "permessage-deflate; server_max_window_bits==10",
            "permessage-deflate; server_max_window_bits=\"10",
            "permessage-deflate; server_max_window_bits=\"10\"x",
            "permessage-deflate; \"server_no_context_takeover\"",
            "permessage-deflate; =10",
            "permessage-deflate; server_no_context_takeové",
        ];
        for offers in table {
            assert_eq!(accept(offers, &DEFAULT), None, "offer {offers:?}");
        }
    }

    /// §5: the first acceptable offer wins; declined ones are passed over.
    #[test]
    fn server_takes_first_valid_offer() {
        let table: &[(&str, &str)] = &[
            (
                "permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=12",
                "permessage-deflate; server_max_window_bits=12",
            ),
            (
                "permessage-deflate; foo, permessage-deflate",
                "permessage-deflate",
            ),
            (
                "permessage-deflate; server_max_window_bits=10, permessage-deflate",
                "permessage-deflate; server_max_window_bits=10",
            ),
            // A comma inside a quoted-string does not end the element, which is then invalid.
            (
                "permessage-deflate; server_max_window_bits=\"10, permessage-deflate\", \
                 permessage-deflate; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover",
            ),
        ];
        for (offers, response) in table {
            let got = accept(offers, &DEFAULT).map(|(r, _)| r);
            assert_eq!(got.as_deref(), Some(*response), "offers {offers:?}");
        }
        // The same list split into elements, as `Request::extensions` yields it.
        let split = [
            "x-foo; a=1",
            "permessage-deflate; client_max_window_bits=20",
            "permessage-deflate; client_max_window_bits=10, permessage-deflate",
        ];
        let agreement = accept_offers(split, &DEFAULT).map(|a| a.params);
        assert_eq!(agreement, Some(params(false, false, 15, 10)));
    }

    /// What browsers and the Autobahn testsuite send, to a server with the default config
    /// and to one with `client_max_window_bits = Some(10)`.
    #[test]
    fn server_autobahn_offers() {
        let mut limited = DeflateConfig::new();
        limited.client_max_window_bits = Some(10);
        let table: &[(&str, &DeflateConfig, &str, DeflateParams)] = &[
            (
                "permessage-deflate; client_max_window_bits",
                &DEFAULT,
                "permessage-deflate",
                params(false, false, 15, 15),
            ),
            // §7.1.2.2: the bare parameter lets the server choose the client's window.
            (
                "permessage-deflate; client_max_window_bits",
                &limited,
                "permessage-deflate; client_max_window_bits=10",
                params(false, false, 15, 10),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 client_max_window_bits",
                &DEFAULT,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                params(true, true, 15, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=9; client_max_window_bits",
                &DEFAULT,
                "permessage-deflate; server_max_window_bits=9",
                params(false, false, 9, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=15; client_max_window_bits",
                &DEFAULT,
                "permessage-deflate; server_max_window_bits=15",
                params(false, false, 15, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=15; client_max_window_bits",
                &limited,
                "permessage-deflate; server_max_window_bits=15; client_max_window_bits=10",
                params(false, false, 15, 10),
            ),
            // §5: the first of the three is valid and honoured, so it is the one taken.
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; \
                 client_no_context_takeover; client_max_window_bits, permessage-deflate; \
                 server_no_context_takeover; client_no_context_takeover; client_max_window_bits, \
                 permessage-deflate; client_no_context_takeover; client_max_window_bits",
                &DEFAULT,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=9",
                params(true, true, 9, 15),
            ),
        ];
        for (offers, config, response, expected) in table {
            assert_eq!(
                accept(offers, config),
                Some((String::from(*response), *expected)),
                "offer {offers:?}"
            );
        }
    }

    /// The server's own settings meeting the offers.
    #[test]
    fn server_config() {
        let mut config = DeflateConfig::new();
        config.server_no_context_takeover = true;
        config.client_no_context_takeover = true;
        config.server_max_window_bits = Some(12);
        config.client_max_window_bits = Some(11);
        let table: &[(&str, &str, DeflateParams)] = &[
            // §7.1.1.1, §7.1.1.2, §7.1.2.1: each may be added to an offer without them;
            // §7.1.2.2: client_max_window_bits may not, as it was not offered.
            (
                "permessage-deflate",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12",
                params(true, true, 12, 15),
            ),
            // §7.1.2.1: the smaller of the two windows, never above the offer's.
            (
                "permessage-deflate; server_max_window_bits=14",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12",
                params(true, true, 12, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=9",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=9",
                params(true, true, 9, 15),
            ),
            // §7.1.2.2: bare, so the server chooses; with a larger value, ours; with a
            // smaller value, the client's, as the response may not exceed it.
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12; client_max_window_bits=11",
                params(true, true, 12, 11),
            ),
            (
                "permessage-deflate; client_max_window_bits=13",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12; client_max_window_bits=11",
                params(true, true, 12, 11),
            ),
            (
                "permessage-deflate; client_max_window_bits=9",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12; client_max_window_bits=9",
                params(true, true, 12, 9),
            ),
        ];
        for (offers, response, expected) in table {
            assert_eq!(
                accept(offers, &config),
                Some((String::from(*response), *expected)),
                "offer {offers:?}"
            );
        }
        // Out-of-range settings are clamped, never answered as invalid values.
        let mut wild = DeflateConfig::new();
        wild.server_max_window_bits = Some(40);
        wild.client_max_window_bits = Some(0);
        assert_eq!(
            accept("permessage-deflate; client_max_window_bits", &wild),
            Some((
                String::from(
                    "permessage-deflate; server_max_window_bits=15; client_max_window_bits=8"
                ),
                params(false, false, 15, 8),
            ))
        );
    }

    /// Responses to the default offer `permessage-deflate; client_max_window_bits`.
    #[test]
    fn client_checks_default_offer() {
        let table: &[(&[&str], Checked)] = &[
            // RFC 6455 §9.1: no extension accepted.
            (&[], Ok(None)),
            (&[""], Ok(None)),
            (&[" , "], Ok(None)),
            (&["permessage-deflate"], Ok(Some(params(false, false, 15, 15)))),
            // §7.1.1.1: the server may add server_no_context_takeover on its own.
            (
                &["permessage-deflate; server_no_context_takeover"],
                Ok(Some(params(true, false, 15, 15))),
            ),
            // §7.1.1.2: and client_no_context_takeover.
            (
                &["permessage-deflate; client_no_context_takeover"],
                Ok(Some(params(false, true, 15, 15))),
            ),
            // §7.1.2.1: and server_max_window_bits.
            (
                &["permessage-deflate; server_max_window_bits=8"],
                Ok(Some(params(false, false, 8, 15))),
            ),
            // §7.1.2.2: we offered the bare parameter, so any value is ours to honour.
            (
                &["permessage-deflate; client_max_window_bits=9"],
                Ok(Some(params(false, false, 15, 9))),
            ),
            (
                &["Permessage-Deflate ; Client_Max_Window_Bits = \"9\" ; SERVER_NO_CONTEXT_TAKEOVER"],
                Ok(Some(params(true, false, 15, 9))),
            ),
            // §7.1.2.2: a response's client_max_window_bits must have a value.
            (
                &["permessage-deflate; client_max_window_bits"],
                Err(NegotiationError::InvalidParameter),
            ),
            // §7.1: a client fails on what a server would decline.
            (&["permessage-deflate; foo"], Err(NegotiationError::InvalidParameter)),
            (
                &["permessage-deflate; server_max_window_bits"],
                Err(NegotiationError::InvalidParameter),
            ),
            (
                &["permessage-deflate; server_max_window_bits=16"],
                Err(NegotiationError::InvalidParameter),
            ),
            (
                &["permessage-deflate; client_max_window_bits=7"],
                Err(NegotiationError::InvalidParameter),
            ),
            (
                &["permessage-deflate; server_max_window_bits=09"],
                Err(NegotiationError::InvalidParameter),
            ),
            (
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                Err(NegotiationError::InvalidParameter),
            ),
            (
                &["permessage-deflate; client_no_context_takeover=1"],
                Err(NegotiationError::InvalidParameter),
            ),
            (&["permessage-deflate;"], Err(NegotiationError::InvalidParameter)),
            // RFC 6455 §4.1: an extension we did not offer.
            (&["x-webkit-deflate-frame"], Err(NegotiationError::UnknownExtension)),
            (
                &["permessage-deflate, x-foo"],
                Err(NegotiationError::UnknownExtension),
            ),
            (
                &["permessage-deflate", "x-foo"],
                Err(NegotiationError::UnknownExtension),
            ),
            // RFC 7692 §5, §6: two permessage-deflate would both claim RSV1.
            (
                &["permessage-deflate, permessage-deflate"],
                Err(NegotiationError::Repeated),
            ),
            (
                &["permessage-deflate", "permessage-deflate; server_no_context_takeover"],
                Err(NegotiationError::Repeated),
            ),
            // Several fields, one element in all: RFC 7230 §3.2.2 joins them.
            (
                &["", "permessage-deflate; server_max_window_bits=10"],
                Ok(Some(params(false, false, 10, 15))),
            ),
        ];
        for (fields, expected) in table {
            assert_eq!(check(fields, &DEFAULT), *expected, "response {fields:?}");
        }
    }

    /// Responses to offers that asked for something.
    #[test]
    fn client_checks_against_offers() {
        let mut asking = DeflateConfig::new();
        asking.server_no_context_takeover = true;
        asking.client_no_context_takeover = true;
        asking.server_max_window_bits = Some(10);
        asking.client_max_window_bits = Some(12);
        let mut fallback = asking;
        fallback.fallback_offer = true;
        let not_offered = Err(NegotiationError::NotOffered);
        let table: &[(&str, &DeflateConfig, Checked)] = &[
            // Every parameter answered as asked. The client keeps its own
            // client_no_context_takeover (§7.1.1.2 made it a promise to the server).
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
                &asking,
                Ok(Some(params(true, true, 10, 12))),
            ),
            // §7.1.2.1: "the same or smaller value".
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; \
                 client_max_window_bits=9",
                &asking,
                Ok(Some(params(true, true, 8, 9))),
            ),
            // §7.1.2.1: larger than asked accepts no offer.
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
                &asking,
                not_offered,
            ),
            // §7.1.2.1: an offer with server_max_window_bits is accepted by a response with it.
            (
                "permessage-deflate; server_no_context_takeover",
                &asking,
                not_offered,
            ),
            // §7.1.1.1: likewise server_no_context_takeover.
            (
                "permessage-deflate; server_max_window_bits=10",
                &asking,
                not_offered,
            ),
            // §7.1.2.2: no more than the value offered.
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; \
                 client_max_window_bits=13",
                &asking,
                not_offered,
            ),
            // The fallback offer asked nothing of the server, so these answer it; the
            // client still keeps to its own window and context settings.
            (
                "permessage-deflate",
                &fallback,
                Ok(Some(params(false, true, 15, 12))),
            ),
            (
                "permessage-deflate; server_max_window_bits=11; client_max_window_bits=13",
                &fallback,
                Ok(Some(params(false, true, 11, 12))),
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
                &fallback,
                Ok(Some(params(true, true, 10, 12))),
            ),
            // Still invalid whatever the offers.
            (
                "permessage-deflate; client_max_window_bits",
                &fallback,
                Err(NegotiationError::InvalidParameter),
            ),
        ];
        for (response, config, expected) in table {
            assert_eq!(
                check(&[response], config),
                *expected,
                "response {response:?}"
            );
        }
    }

    /// The acceptance rules on their own, for offers `write_offer` never makes.
    #[test]
    fn response_answers_offer() {
        let element = |text: &str| match parse_element(text) {
            Ok(Parsed::Deflate(element)) => element,
            _ => panic!("{text:?}"),
        };
        let table: &[(&str, &str, bool)] = &[
            // §7.1.2.2: "MUST NOT include" client_max_window_bits unless offered.
            (
                "permessage-deflate",
                "permessage-deflate; client_max_window_bits=15",
                false,
            ),
            (
                "permessage-deflate",
                "permessage-deflate; server_max_window_bits=8",
                true,
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=15",
                true,
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                "permessage-deflate; client_max_window_bits=10",
                true,
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                "permessage-deflate; client_max_window_bits=11",
                false,
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                "permessage-deflate",
                false,
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                "permessage-deflate",
                false,
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate",
                true,
            ),
        ];
        for (offer, response, answers) in table {
            assert_eq!(
                element(response).answers(&element(offer)),
                *answers,
                "{offer:?} answered by {response:?}"
            );
        }
    }

    /// What the server answers, the client accepts, and both run the same parameters.
    #[test]
    fn round_trip() {
        let mut configs = Vec::new();
        for bits in [None, Some(8), Some(9), Some(12), Some(15)] {
            for flags in 0..8u8 {
                let mut config = DeflateConfig::new();
                config.server_no_context_takeover = flags & 1 != 0;
                config.client_no_context_takeover = flags & 2 != 0;
                config.fallback_offer = flags & 4 != 0;
                config.server_max_window_bits = bits;
                config.client_max_window_bits = bits.map(|b| 23 - b);
                configs.push(config);
                config.client_max_window_bits = bits;
                configs.push(config);
            }
        }
        for client in &configs {
            let offered = offer(client);
            for server in &configs {
                let agreement = accept_offers([offered.as_str()], server)
                    .unwrap_or_else(|| panic!("{offered:?} declined"));
                assert_eq!(
                    check_response([agreement.response.as_str()], client),
                    Ok(Some(agreement.params)),
                    "offer {offered:?}, response {:?}",
                    agreement.response
                );
                // The server's windows never exceed what either side set.
                let limit = |bits: Option<u8>| bits.map_or(MAX_BITS, |b| b.clamp(8, 15));
                let p = agreement.params;
                assert!(p.server_max_window_bits <= limit(client.server_max_window_bits));
                assert!(p.server_max_window_bits <= limit(server.server_max_window_bits));
                assert!(p.client_max_window_bits <= limit(client.client_max_window_bits));
                assert!(p.client_max_window_bits <= limit(server.client_max_window_bits));
            }
        }
    }

    /// Every short string over the characters that matter to the parser: no panic, and any
    /// answer the server gives is one the parser accepts as a response.
    #[test]
    fn no_panic_on_any_input() {
        const PIECES: &[&str] = &[
            ";",
            "=",
            "\"",
            "\\",
            ",",
            " ",
            "9",
            "1",
            "é",
            "permessage-deflate",
            "server_max_window_bits",
            "client_max_window_bits",
            "server_no_context_takeover",
        ];
        fn walk(input: &mut String, depth: usize) {
            let _ = check_response([input.as_str()], &DEFAULT);
            if let Some(agreement) = accept_offers([input.as_str()], &DEFAULT) {
                let parsed = parse_element(&agreement.response);
                assert!(matches!(parsed, Ok(Parsed::Deflate(_))), "{input:?}");
            }
            if depth == 0 {
                return;
            }
            for piece in PIECES {
                let len = input.len();
                input.push_str(piece);
                walk(input, depth - 1);
                input.truncate(len);
            }
        }
        walk(&mut String::from("permessage-deflate"), 4);
        walk(&mut String::new(), 4);
    }

    #[test]
    fn errors_display() {
        use alloc::string::ToString;
        for error in [
            NegotiationError::UnknownExtension,
            NegotiationError::Repeated,
            NegotiationError::InvalidParameter,
            NegotiationError::NotOffered,
        ] {
            assert!(!error.to_string().is_empty());
        }
    }
}
