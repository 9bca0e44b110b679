//! Identifier newtypes whose constructors validate, so nothing unchecked reaches storage keys,
//! log lines or runtime APIs that unwrap internally.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest room code accepted (characters, all ASCII).
pub const ROOM_CODE_MAX: usize = 64;

/// A room code: 1–64 characters of `[a-z0-9-]`, case-insensitive, normalised to lower case.
/// Six-digit PINs (`482913`) and generated codes (`k7m-q2xp-9rt`) are both valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoomCode(String);

/// Why a room code was refused; the text goes back to the client in a 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomCodeError {
    Empty,
    TooLong,
    BadCharacter,
}

impl fmt::Display for RoomCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoomCodeError::Empty => "room code is empty",
            RoomCodeError::TooLong => "room code is longer than 64 characters",
            RoomCodeError::BadCharacter => "room code may only contain a-z, 0-9 and '-'",
        })
    }
}

impl RoomCode {
    /// Validates and lower-cases `raw`. Works on bytes so that multi-byte input can never be
    /// mistaken for a short code.
    pub fn parse(raw: &str) -> Result<RoomCode, RoomCodeError> {
        if raw.is_empty() {
            return Err(RoomCodeError::Empty);
        }
        if raw.len() > ROOM_CODE_MAX {
            return Err(RoomCodeError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(RoomCodeError::BadCharacter);
        }
        Ok(RoomCode(raw.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short, non-reversible tag for log lines: the first 8 hex digits of SHA-256 of the
    /// code. Room codes are never logged in clear.
    pub fn log_tag(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.0.as_bytes());
        hex(&digest[..4])
    }
}

/// A peer id: 64 bits from the server's CSPRNG, rendered as 16 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(String);

impl PeerId {
    pub const LEN: usize = 16;

    /// Builds an id from 8 random bytes (the shell draws them from `getrandom`).
    pub fn from_random(bytes: [u8; 8]) -> PeerId {
        PeerId(hex(&bytes))
    }

    /// Accepts only the exact shape the server mints; anything else is client garbage.
    pub fn parse(raw: &str) -> Option<PeerId> {
        (raw.len() == Self::LEN && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| PeerId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_codes_normalise_and_validate() {
        assert_eq!(
            RoomCode::parse("K7M-Q2XP-9rt").unwrap().as_str(),
            "k7m-q2xp-9rt"
        );
        assert_eq!(RoomCode::parse("482913").unwrap().as_str(), "482913");
        assert_eq!(RoomCode::parse("-").unwrap().as_str(), "-");
        assert!(RoomCode::parse(&"a".repeat(64)).is_ok());
        assert_eq!(RoomCode::parse(""), Err(RoomCodeError::Empty));
        assert_eq!(
            RoomCode::parse(&"a".repeat(65)),
            Err(RoomCodeError::TooLong)
        );
        for bad in ["a b", "a/b", "a_b", "a.b", "é", "a%20", "ａ", "a\0", "a\n"] {
            assert_eq!(
                RoomCode::parse(bad),
                Err(RoomCodeError::BadCharacter),
                "{bad:?}"
            );
        }
        // 33 two-byte characters are 66 bytes: refused as too long before any char check.
        assert_eq!(
            RoomCode::parse(&"é".repeat(33)),
            Err(RoomCodeError::TooLong)
        );
    }

    #[test]
    fn log_tag_is_short_stable_and_not_the_code() {
        let code = RoomCode::parse("k7m-q2xp-9rt").unwrap();
        let tag = code.log_tag();
        assert_eq!(tag.len(), 8);
        assert_eq!(tag, RoomCode::parse("K7M-Q2XP-9RT").unwrap().log_tag());
        assert!(!tag.contains("k7m"));
        assert_ne!(tag, RoomCode::parse("k7m-q2xp-9ru").unwrap().log_tag());
    }

    #[test]
    fn peer_ids_round_trip_and_reject_other_shapes() {
        let id = PeerId::from_random([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 0xff]);
        assert_eq!(id.as_str(), "deadbeef000102ff");
        assert_eq!(PeerId::parse("deadbeef000102ff"), Some(id));
        for bad in [
            "",
            "DEADBEEF000102FF",
            "deadbeef000102f",
            "deadbeef000102fff",
            "deadbeef000102fg",
            "ü",
        ] {
            assert_eq!(PeerId::parse(bad), None, "{bad:?}");
        }
    }
}
