//! TURN REST credentials for coturn, and the relay (secret and URLs) they are minted for.
//!
//! Pure: no `worker` import. The expiry and the random id are inputs, so the
//! credential maths is covered by host `cargo test`; the Worker shell reads the time and draws
//! the randomness.
//!
//! The scheme is coturn's `use-auth-secret` ("TURN REST API", draft-uberti-behave-turn-rest):
//!
//! ```text
//! username   = "<expiry unix seconds>:<opaque random id>"
//! credential = base64(HMAC-SHA1(shared secret, username))
//! ```
//!
//! coturn recomputes the credential from the same shared secret (any secret stored for the realm
//! in its `turn_secret` table), refuses usernames whose expiry is in the past, and then runs the
//! ordinary STUN long-term credential check with that password.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// `TURN_TTL_SECONDS` when the variable is unset.
pub const DEFAULT_TTL_SECONDS: u64 = 3600;
/// Smallest accepted `TURN_TTL_SECONDS`: a browser needs the credential for a whole ICE gathering
/// and a few restarts, and a very short TTL only multiplies `/api/ice-servers` requests.
pub const MIN_TTL_SECONDS: u64 = 60;
/// Largest accepted `TURN_TTL_SECONDS` (one day, the TURN REST draft's recommendation). It is
/// also the lower bound of how long a secret rotation has to wait before removing the old secret.
pub const MAX_TTL_SECONDS: u64 = 86_400;

/// Shortest and longest random id accepted inside a username (see [`is_valid_random_id`]).
pub const RANDOM_ID_MIN_LEN: usize = 8;
/// See [`RANDOM_ID_MIN_LEN`].
pub const RANDOM_ID_MAX_LEN: usize = 64;

/// The TURN REST password for `username`: standard padded base64 of HMAC-SHA1(secret, username).
///
/// SHA-1 is not our choice: it is what coturn's `use-auth-secret` / TURN REST scheme mandates
/// (coturn computes exactly this value to check the password). HMAC-SHA1 is still a sound MAC;
/// the weakness of SHA-1 is collisions, which do not help forge an HMAC.
pub fn coturn_rest_credential(secret: &[u8], username: &str) -> String {
    // HMAC accepts keys of any length (long keys are hashed, short ones padded), so
    // `new_from_slice` cannot return `InvalidLength` for `Hmac<Sha1>`.
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The TURN REST username: `"<expiry unix seconds>:<id>"`.
///
/// coturn reads the digits before the first `:` as the expiry and refuses the credential once
/// that time has passed (for new allocations; an allocation that already authenticated keeps its
/// key, see `turn/README.md`). `id` must not contain `:` (see [`is_valid_random_id`]).
pub fn coturn_username(expiry_unix: u64, id: &str) -> String {
    format!("{expiry_unix}:{id}")
}

/// Whether `id` may be used as the random part of a username: 8 to 64 characters from
/// `[A-Za-z0-9_-]`. That keeps it free of `:` (coturn's separator), of anything coturn's
/// "secure string" check or its log lines could trip on, and of personal data.
pub fn is_valid_random_id(id: &str) -> bool {
    (RANDOM_ID_MIN_LEN..=RANDOM_ID_MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Encode random bytes (the shell draws them with `getrandom`) as a valid id for
/// [`crate::ice::ice_servers`]: unpadded base64url. 16 bytes give 22 characters, 128 bits of randomness.
///
/// Returns `None` when the encoding would fall outside 8..=64 characters (fewer than 6 or more
/// than 48 bytes).
pub fn random_id_from_bytes(bytes: &[u8]) -> Option<String> {
    let id = URL_SAFE_NO_PAD.encode(bytes);
    is_valid_random_id(&id).then_some(id)
}

/// A TURN relay the Worker mints credentials for: the shared secret (`TURN_SECRET`) and the
/// `turn:`/`turns:` URLs (`TURN_URLS`) the credentials are good for.
///
/// Both or neither: [`Relay::new`] refuses a blank secret or an empty URL list, so "a secret
/// without URLs" cannot be built, and a half-configured environment means no relay at all.
/// The Worker holds one secret at a time; during a rotation (`turn/rotate-secret`) it is coturn
/// that accepts both the old and the new one, so credentials minted before the switch stay valid
/// until they expire.
#[derive(Clone, PartialEq, Eq)]
pub struct Relay {
    secret: String,
    urls: Vec<String>,
}

impl Relay {
    /// `None` unless `secret` is non-empty and there is at least one URL.
    pub fn new(secret: String, urls: Vec<String>) -> Option<Relay> {
        (!secret.is_empty() && !urls.is_empty()).then_some(Relay { secret, urls })
    }

    /// The `turn:`/`turns:` URLs, as configured.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The credential for `username` (see [`coturn_username`]), signed with this relay's secret.
    pub fn credential(&self, username: &str) -> String {
        coturn_rest_credential(self.secret.as_bytes(), username)
    }
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret must never reach a log line.
        f.debug_struct("Relay")
            .field("secret", &"<redacted>")
            .field("urls", &self.urls)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_sha1_hex(key: &[u8], data: &[u8]) -> String {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn b64_to_hex(b64: &str) -> String {
        STANDARD
            .decode(b64)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    // RFC 2202 ("Test Cases for HMAC-MD5 and HMAC-SHA-1"), section 3, test_case 1.
    #[test]
    fn rfc2202_hmac_sha1_case_1() {
        let key = [0x0b_u8; 20];
        assert_eq!(
            hmac_sha1_hex(&key, b"Hi There"),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        // and through our function, which only adds base64
        assert_eq!(
            b64_to_hex(&coturn_rest_credential(&key, "Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
    }

    // RFC 2202, section 3, test_case 2.
    #[test]
    fn rfc2202_hmac_sha1_case_2() {
        assert_eq!(
            b64_to_hex(&coturn_rest_credential(
                b"Jefe",
                "what do ya want for nothing?"
            )),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    // coturn's documented TURN REST example (coturn README.turnserver / turnserver man page,
    // "--use-auth-secret"): secret "north", username "1266890800:mbzrxpgjys".
    #[test]
    fn coturn_documented_example() {
        assert_eq!(
            coturn_rest_credential(b"north", "1266890800:mbzrxpgjys"),
            "nbRcrnq5h6xXhyNhlwk+lDLvVVo="
        );
        assert_eq!(
            coturn_username(1_266_890_800, "mbzrxpgjys"),
            "1266890800:mbzrxpgjys"
        );
    }

    #[test]
    fn credential_is_padded_standard_base64() {
        // 20-byte digest -> 28 characters with one '=' of padding.
        let c = coturn_rest_credential(b"north", "1266890800:mbzrxpgjys");
        assert_eq!(c.len(), 28);
        assert!(c.ends_with('='));
    }

    #[test]
    fn flipping_one_byte_changes_the_credential() {
        let good = coturn_rest_credential(b"north", "1266890800:mbzrxpgjys");
        // one bit flipped in the secret ('n' ^ 1 = 'o')
        assert_ne!(
            coturn_rest_credential(b"oorth", "1266890800:mbzrxpgjys"),
            good
        );
        // one byte changed in the username (the expiry)
        assert_ne!(
            coturn_rest_credential(b"north", "1266890801:mbzrxpgjys"),
            good
        );
        // ... and in the id
        assert_ne!(
            coturn_rest_credential(b"north", "1266890800:mbzrxpgjyt"),
            good
        );
    }

    #[test]
    fn a_relay_needs_both_a_secret_and_urls() {
        let urls = vec!["turn:t.example".to_owned()];
        assert_eq!(Relay::new(String::new(), urls.clone()), None);
        assert_eq!(Relay::new("north".into(), vec![]), None);
        let relay = Relay::new("north".into(), urls.clone()).unwrap();
        assert_eq!(relay.urls(), urls);
        assert_eq!(
            relay.credential("1266890800:mbzrxpgjys"),
            "nbRcrnq5h6xXhyNhlwk+lDLvVVo="
        );
        let dbg = format!("{relay:?}");
        assert!(!dbg.contains("north"), "{dbg}");
        assert!(
            dbg.contains("<redacted>") && dbg.contains("t.example"),
            "{dbg}"
        );
    }

    #[test]
    fn random_ids() {
        assert!(is_valid_random_id("abcdEFGH_-09"));
        assert!(!is_valid_random_id("short"));
        assert!(!is_valid_random_id("has:colon1"));
        assert!(!is_valid_random_id("has space1"));
        assert!(!is_valid_random_id(&"a".repeat(65)));
        let id = random_id_from_bytes(&[0xff; 16]).unwrap();
        assert_eq!(id.len(), 22);
        assert!(is_valid_random_id(&id));
        assert_eq!(random_id_from_bytes(&[1; 5]), None);
        assert_eq!(random_id_from_bytes(&[1; 49]), None);
    }
}
