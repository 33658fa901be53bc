//! The protocol versions, with the names connections report them by.

use core::fmt;
use core::str::FromStr;

/// A WebSocket protocol version.
///
/// A server detects it from the request (see [`crate::handshake`]); a client chooses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// draft-hixie-thewebsocketprotocol-75: no key, `0x00 … 0xFF` text frames, closed by TCP.
    Hixie75,
    /// draft-hixie-thewebsocketprotocol-76 (= draft-ietf-hybi-thewebsocketprotocol-00):
    /// `Sec-WebSocket-Key1/Key2` and an MD5 answer; closed by `0xFF 0x00`.
    Hixie76,
    /// draft-ietf-hybi-thewebsocketprotocol-07 (`Sec-WebSocket-Version: 7`).
    Hybi07,
    /// draft-ietf-hybi-thewebsocketprotocol-08 to -12 (`Sec-WebSocket-Version: 8`).
    Hybi08,
    /// RFC 6455 (`Sec-WebSocket-Version: 13`).
    Hybi13,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 5] = [
        Version::Hixie75,
        Version::Hixie76,
        Version::Hybi07,
        Version::Hybi08,
        Version::Hybi13,
    ];

    /// The name this version is reported by: `hixie-75`, `hixie-76`, `hybi-07`, `hybi-08` or
    /// `hybi-13`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::Hixie75 => "hixie-75",
            Version::Hixie76 => "hixie-76",
            Version::Hybi07 => "hybi-07",
            Version::Hybi08 => "hybi-08",
            Version::Hybi13 => "hybi-13",
        }
    }

    /// True for the hixie drafts (text frames only, no control frames).
    pub const fn is_hixie(self) -> bool {
        matches!(self, Version::Hixie75 | Version::Hixie76)
    }

    /// The `Sec-WebSocket-Version` number of a hybi version.
    pub const fn hybi_number(self) -> Option<u8> {
        match self {
            Version::Hybi07 => Some(7),
            Version::Hybi08 => Some(8),
            Version::Hybi13 => Some(13),
            _ => None,
        }
    }

    /// Whether this version can send binary messages, pings and close codes.
    pub const fn has_control_frames(self) -> bool {
        !self.is_hixie()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Version`] name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownVersion;

impl fmt::Display for UnknownVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "unknown WebSocket version (expected hixie-75, hixie-76, hybi-07, hybi-08 or hybi-13)",
        )
    }
}

impl FromStr for Version {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hixie-75" => Ok(Version::Hixie75),
            "hixie-76" | "hybi-00" => Ok(Version::Hixie76),
            "hybi-07" => Ok(Version::Hybi07),
            "hybi-08" => Ok(Version::Hybi08),
            "hybi-13" | "rfc6455" => Ok(Version::Hybi13),
            _ => Err(UnknownVersion),
        }
    }
}
