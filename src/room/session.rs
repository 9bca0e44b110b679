//! Resume tokens: `<peer id>.<128 random bits, base64url>`. The id part finds the record, the
//! rest proves it; only the token's SHA-256 is stored.

use super::Entropy;
use crate::ids::PeerId;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh token for `id`.
pub(super) fn mint(id: &PeerId, rng: &mut dyn Entropy) -> String {
    let mut secret = [0u8; 16];
    rng.fill(&mut secret);
    format!(
        "{id}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    )
}

/// Hex SHA-256 of a token: what the roster stores.
pub(super) fn hash(token: &str) -> String {
    crate::ids::hex(&Sha256::digest(token.as_bytes()))
}

/// The peer a token claims to belong to (not yet proven).
pub(super) fn claimed_peer(token: &str) -> Option<PeerId> {
    let (id, _) = token.split_once('.')?;
    PeerId::parse(id)
}

/// Whether `token` hashes to `stored`, compared in constant time.
pub(super) fn proves(token: &str, stored: &str) -> bool {
    bool::from(hash(token).as_bytes().ct_eq(stored.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);

    impl Entropy for Fixed {
        fn fill(&mut self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }

    #[test]
    fn a_token_is_the_id_and_128_bits_of_base64url() {
        let id = PeerId::parse("0123456789abcdef").unwrap();
        let token = mint(&id, &mut Fixed(0xff));
        assert_eq!(token, "0123456789abcdef._____________________w");
        assert_eq!(claimed_peer(&token), Some(id));
    }

    #[test]
    fn only_the_token_itself_proves_it() {
        let id = PeerId::parse("0123456789abcdef").unwrap();
        let token = mint(&id, &mut Fixed(7));
        let stored = hash(&token);
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains(token.split_once('.').unwrap().1));
        assert!(proves(&token, &stored));
        let other = mint(&id, &mut Fixed(8));
        assert!(!proves(&other, &stored));
        // One flipped character.
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(!proves(std::str::from_utf8(&tampered).unwrap(), &stored));
        assert!(!proves("", &stored));
    }

    #[test]
    fn a_token_without_an_id_claims_no_peer() {
        for bad in [
            "",
            "abc",
            "0123456789abcdef",
            "nothex!!nothex!!.x",
            ".secret",
        ] {
            assert_eq!(claimed_peer(bad), None, "{bad}");
        }
    }
}
