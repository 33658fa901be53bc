//! Incremental UTF-8 validation (RFC 6455 §8.1: fail as soon as the bytes arrive).
//!
//! [`Utf8Validator`] is fed text bytes in pieces of any size, across frame and fragment
//! boundaries; it fails on the first byte that cannot begin or continue a valid sequence and
//! carries an incomplete sequence (at most 3 bytes) to the next piece.

/// Validates a byte stream piece by piece.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: u8,
}

/// The bytes are not UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub const fn new() -> Self {
        Utf8Validator {
            carry: [0; 4],
            carry_len: 0,
        }
    }

    /// Validates the next piece. Fails if the stream so far cannot be the start of valid UTF-8.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.carry_len > 0 {
            let have = usize::from(self.carry_len);
            let need = sequence_len(self.carry[0]).saturating_sub(have);
            let take = need.min(bytes.len());
            self.carry[have..have + take].copy_from_slice(&bytes[..take]);
            let len = have + take;
            bytes = &bytes[take..];
            match simdutf8::compat::from_utf8(&self.carry[..len]) {
                Ok(_) => self.carry_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still incomplete: `bytes` is exhausted.
                    self.carry_len = len as u8;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match simdutf8::compat::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the stream: fails if it stopped inside a sequence. Resets the validator.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.carry_len == 0;
        *self = Self::new();
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Whether the stream so far ends on a character boundary.
    pub fn is_complete(&self) -> bool {
        self.carry_len == 0
    }
}

/// The length of the sequence a lead byte starts (4 for bytes that cannot lead, which the
/// validator then rejects).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Texts shorter than this are validated by `core::str::from_utf8` rather than simdutf8.
pub(crate) const CORE_BELOW: usize = 64;

/// Validates a whole text payload and returns it as `&str`.
#[inline]
pub(crate) fn validate(bytes: &[u8]) -> Result<&str, InvalidUtf8> {
    // simdutf8 hands inputs shorter than its 64-byte block to core anyway, after an indirect
    // call to the implementation it picked; small messages go there directly.
    if bytes.len() < CORE_BELOW {
        return core::str::from_utf8(bytes).map_err(|_| InvalidUtf8);
    }
    simdutf8::basic::from_utf8(bytes).map_err(|_| InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_split_agrees(bytes: &[u8]) {
        let whole = core::str::from_utf8(bytes).is_ok();
        for split in 0..=bytes.len() {
            let mut v = Utf8Validator::new();
            let ok = v.feed(&bytes[..split]).is_ok() && v.feed(&bytes[split..]).is_ok();
            let ok = ok && v.finish().is_ok();
            assert_eq!(ok, whole, "{bytes:x?} split at {split}");
        }
        let mut v = Utf8Validator::new();
        let bytewise = bytes.iter().all(|b| v.feed(&[*b]).is_ok()) && v.finish().is_ok();
        assert_eq!(bytewise, whole, "{bytes:x?} byte by byte");
    }

    #[test]
    fn splits_anywhere_agree_with_whole_validation() {
        let cases: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "héllo ☃ 𝄞".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xf0\x9d\x84",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xff",
            b"abc\xed\x9f\xbf",
            b"\xef\xbf\xbf",
        ];
        for case in cases {
            every_split_agrees(case);
        }
    }

    #[test]
    fn fails_fast_on_the_first_impossible_byte() {
        // Autobahn 6.4.1: the first piece already holds an impossible code point.
        let mut v = Utf8Validator::new();
        assert_eq!(
            v.feed(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90"),
            Err(InvalidUtf8)
        );
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xf4"), Ok(()));
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn incomplete_end_is_an_error_only_at_finish() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"a\xe2\x82"), Ok(()));
        assert!(!v.is_complete());
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }
}
