//! The handshakes' cryptographic answers, public for connections upgraded elsewhere.
//!
//! - hybi (RFC 6455 §1.3, §4.2.2): `Sec-WebSocket-Accept = base64(SHA-1(key ‖ GUID))`.
//! - hixie-76 (§5.2 of the draft): each of `Sec-WebSocket-Key1/Key2` is the number formed by its
//!   digits divided by its count of spaces; the answer is `MD5(BE32(n1) ‖ BE32(n2) ‖ key3)`.

use base64::Engine as _;

use crate::entropy::Entropy;

/// The GUID of RFC 6455 §1.3.
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2 step 5.4).
///
/// ```
/// let accept = wsmachine::handshake::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==");
/// assert_eq!(&accept, b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    encode_accept(&accept_digest(key))
}

/// The SHA-1 digest that `Sec-WebSocket-Accept` encodes: what a client keeps until the answer.
pub(crate) fn accept_digest(key: &[u8]) -> [u8; 20] {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    sha.digest().bytes()
}

/// The base64 form of an accept digest.
pub(crate) fn encode_accept(digest: &[u8; 20]) -> [u8; 28] {
    let mut out = [0u8; 28];
    // 20 bytes always encode to 28 base64 characters.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out);
    out
}

/// Whether a `Sec-WebSocket-Key` is 16 bytes in base64 (RFC 6455 §4.1 item 7).
pub fn is_valid_key(key: &[u8]) -> bool {
    let mut decoded = [0u8; 24];
    key.len() == 24
        && matches!(
            base64::engine::general_purpose::STANDARD.decode_slice(key, &mut decoded),
            Ok(16)
        )
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64.
pub(crate) fn generate_key(entropy: &mut impl Entropy) -> [u8; 24] {
    let mut nonce = [0u8; 16];
    entropy.fill(&mut nonce);
    let mut out = [0u8; 24];
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(nonce, &mut out);
    out
}

/// The number a hixie-76 `Sec-WebSocket-Key1`/`Key2` value stands for: its digits as a number
/// divided by its count of spaces. `None` if there are no spaces, the division leaves a
/// remainder, or the result does not fit 32 bits.
pub fn hixie76_key_number(key: &[u8]) -> Option<u32> {
    let mut number: u64 = 0;
    let mut spaces: u64 = 0;
    for &b in key {
        match b {
            b'0'..=b'9' => {
                number = number.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            }
            b' ' => spaces += 1,
            _ => {}
        }
    }
    if spaces == 0 || number % spaces != 0 {
        return None;
    }
    u32::try_from(number / spaces).ok()
}

/// The 16-byte hixie-76 answer for two keys and the 8 bytes that follow the request head.
///
/// ```
/// let answer = wsmachine::handshake::hixie76_answer(
///     b"4 @1  46546xW%0l 1 5",
///     b"12998 5 Y3 1  .P00",
///     b"^n:ds[4U",
/// );
/// assert_eq!(answer, Some(*b"8jKS'y:G*Co,Wxa-"));
/// ```
pub fn hixie76_answer(key1: &[u8], key2: &[u8], key3: &[u8; 8]) -> Option<[u8; 16]> {
    let n1 = hixie76_key_number(key1)?;
    let n2 = hixie76_key_number(key2)?;
    let mut challenge = [0u8; 16];
    challenge[..4].copy_from_slice(&n1.to_be_bytes());
    challenge[4..8].copy_from_slice(&n2.to_be_bytes());
    challenge[8..].copy_from_slice(key3);
    Some(md5::compute(challenge).0)
}

/// A generated hixie-76 key value (at most 10 digits, 12 spaces and 12 other characters).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hixie76Key {
    bytes: [u8; 34],
    len: usize,
}

impl Hixie76Key {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Generates a key as the draft's client steps do (hixie-76 §4.1, steps 17 to 23): a random
    /// number of spaces from 1 to 12, a random number that times the spaces fits 32 bits, the
    /// product's digits, 1 to 12 random non-digit characters, and the spaces, inserted at random
    /// places (never first or last for the spaces).
    pub(crate) fn generate(entropy: &mut impl Entropy) -> Self {
        let mut random = |bound: u32| -> u32 {
            let mut b = [0u8; 4];
            entropy.fill(&mut b);
            u32::from_le_bytes(b) % bound
        };
        let spaces = 1 + random(12);
        let max = u32::MAX / spaces;
        let number = random(max.saturating_add(1).max(1));
        let product = u64::from(number) * u64::from(spaces);
        let mut key = Hixie76Key {
            bytes: [0; 34],
            len: 0,
        };
        let mut digits = [0u8; 10];
        for b in crate::handshake::http::decimal(product, &mut digits) {
            key.push_at(key.len, *b);
        }
        for _ in 0..1 + random(12) {
            // U+0021..U+002F and U+003A..U+007E: 15 + 69 characters.
            let c = random(84) as u8;
            let c = if c < 15 { 0x21 + c } else { 0x3A + (c - 15) };
            let at = random(key.len as u32 + 1) as usize;
            key.push_at(at, c);
        }
        for _ in 0..spaces {
            let at = 1 + random(key.len as u32 - 1) as usize;
            key.push_at(at, b' ');
        }
        key
    }

    fn push_at(&mut self, at: usize, byte: u8) {
        self.bytes.copy_within(at..self.len, at + 1);
        self.bytes[at] = byte;
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_section_1_3_accept_key() {
        assert_eq!(
            &accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ==="));
        assert!(!is_valid_key(b"c2hvcnQ="));
    }

    #[test]
    fn hixie76_worked_examples() {
        // Both worked examples of draft-hixie-thewebsocketprotocol-76.
        assert_eq!(
            hixie76_key_number(b"4 @1  46546xW%0l 1 5"),
            Some(829_309_203)
        );
        assert_eq!(hixie76_key_number(b"12998 5 Y3 1  .P00"), Some(259_970_620));
        assert_eq!(
            hixie76_key_number(b"18x 6]8vM;54 *(5:  {   U1]8  z [  8"),
            Some(155_712_099)
        );
        assert_eq!(
            hixie76_key_number(b"1_ tx7X d  <  nw  334J702) 7]o}` 0"),
            Some(173_347_027)
        );
        assert_eq!(
            hixie76_answer(
                b"18x 6]8vM;54 *(5:  {   U1]8  z [  8",
                b"1_ tx7X d  <  nw  334J702) 7]o}` 0",
                b"Tm[K T2u"
            ),
            Some(*b"fQJ,fN/4F4!~K~MH")
        );
    }

    #[test]
    fn hixie76_rejects_keys_without_spaces_or_with_remainders() {
        assert_eq!(hixie76_key_number(b"12345"), None);
        assert_eq!(hixie76_key_number(b"1 0 1"), None); // 101 / 2
        assert_eq!(hixie76_key_number(b"99999999999 "), None); // does not fit 32 bits
        assert_eq!(hixie76_key_number(b"999999999999999999999999 "), None); // overflows u64
    }

    #[test]
    fn generated_hixie76_keys_round_trip() {
        let mut state = 0x1234_5678u32;
        let mut rng = |buf: &mut [u8]| {
            for b in buf {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                *b = (state >> 16) as u8;
            }
        };
        for _ in 0..200 {
            let key = Hixie76Key::generate(&mut rng);
            let bytes = key.as_bytes();
            assert!(
                hixie76_key_number(bytes).is_some(),
                "{:?}",
                core::str::from_utf8(bytes)
            );
            assert_ne!(bytes[0], b' ');
            assert_ne!(bytes[bytes.len() - 1], b' ');
        }
    }
}
