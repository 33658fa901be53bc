//! Randomness, supplied by the caller: client masking keys (RFC 6455 §5.3), `Sec-WebSocket-Key`
//! (§4.1) and the hixie-76 keys. The core never reaches for a global generator.

/// A source of unpredictable bytes.
///
/// Implemented for any `FnMut(&mut [u8])`, so a `rand_core` generator plugs in as
/// `|buf: &mut [u8]| rng.fill_bytes(buf)`.
pub trait Entropy {
    /// Fills `dest` with unpredictable bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill(&mut self, dest: &mut [u8]) {
        self(dest)
    }
}

/// No randomness, for servers, which never mask (RFC 6455 §5.1) and send no keys.
///
/// It is not an [`Entropy`]: the client constructors ask for one, so a client without
/// randomness, which would send an all-zero `Sec-WebSocket-Key` and zero masks, does not
/// compile:
///
/// ```compile_fail
/// use wsmachine::{ClientRequest, Config, Connection, NoEntropy};
/// let request = ClientRequest::new("example.com", "/");
/// let _ = Connection::client(&request, Config::default(), NoEntropy);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEntropy;

mod sealed {
    pub trait Sealed {}
    impl<E: super::Entropy> Sealed for E {}
    impl Sealed for super::NoEntropy {}
}

/// What a connection's sending half draws masking keys from: any [`Entropy`], or
/// [`NoEntropy`] for a server, which never masks. Sealed: implement [`Entropy`] instead.
pub trait KeySource: sealed::Sealed {
    /// Fills `dest` with masking-key bytes.
    #[doc(hidden)]
    fn fill_keys(&mut self, dest: &mut [u8]);
}

impl<E: Entropy> KeySource for E {
    #[inline(always)]
    fn fill_keys(&mut self, dest: &mut [u8]) {
        self.fill(dest)
    }
}

impl KeySource for NoEntropy {
    fn fill_keys(&mut self, dest: &mut [u8]) {
        // Only clients mask, and a client cannot be built on `NoEntropy`.
        dest.fill(0);
    }
}

/// The operating system's generator (`getrandom`), read 64 bytes at a time so that masking
/// small frames does not cost a system call each.
#[cfg(feature = "std")]
#[derive(Clone, Debug)]
pub struct OsEntropy {
    pool: [u8; 64],
    used: u8,
}

#[cfg(feature = "std")]
impl OsEntropy {
    /// A generator with an empty pool.
    pub const fn new() -> Self {
        OsEntropy {
            pool: [0; 64],
            used: 64,
        }
    }
}

#[cfg(feature = "std")]
impl Default for OsEntropy {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "std")]
impl Entropy for OsEntropy {
    fn fill(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if usize::from(self.used) == self.pool.len() {
                // A failing OS generator leaves no safe way to mask; this is not peer input.
                getrandom::fill(&mut self.pool).expect("the OS random generator failed");
                self.used = 0;
            }
            *byte = self.pool[usize::from(self.used)];
            self.used += 1;
        }
    }
}
