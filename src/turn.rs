//! TURN REST credentials for coturn and the `GET /api/ice-servers` response.
//!
//! Pure: no `worker` import. The clock (`now_unix`) and the random id are inputs, so the
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
use serde::Serialize;
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
/// [`ice_servers`]: unpadded base64url. 16 bytes give 22 characters, 128 bits of randomness.
///
/// Returns `None` when the encoding would fall outside 8..=64 characters (fewer than 6 or more
/// than 48 bytes).
pub fn random_id_from_bytes(bytes: &[u8]) -> Option<String> {
    let id = URL_SAFE_NO_PAD.encode(bytes);
    is_valid_random_id(&id).then_some(id)
}

/// A bad configuration variable. Names the variable; never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name, e.g. `TURN_URLS`.
    pub var: &'static str,
    /// What is wrong with it, for the operator's log.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.var, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// TURN/STUN configuration, read once from the Worker's environment with [`TurnConfig::from_vars`].
///
/// TURN is optional: without a secret and at least one TURN URL, `/api/ice-servers` answers with
/// STUN only and `"relay": false`.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnConfig {
    /// `TURN_SECRET`: the shared secret also stored in coturn's `turn_secret` table.
    pub secret: Option<String>,
    /// `TURN_URLS`: `turn:`/`turns:` URLs handed to the browser with the credential.
    pub turn_urls: Vec<String>,
    /// `STUN_URLS`, or the `stun:` form of the TURN host when unset.
    pub stun_urls: Vec<String>,
    /// `TURN_TTL_SECONDS`: how long a minted credential is valid.
    pub ttl_seconds: u64,
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret must never reach a log line, so Debug shows only whether it is set.
        f.debug_struct("TurnConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("turn_urls", &self.turn_urls)
            .field("stun_urls", &self.stun_urls)
            .field("ttl_seconds", &self.ttl_seconds)
            .finish()
    }
}

impl TurnConfig {
    /// Read `TURN_SECRET`, `TURN_URLS`, `STUN_URLS` and `TURN_TTL_SECONDS` through `get`
    /// (in the shell: secrets first, then plain vars). Unset and blank are the same.
    ///
    /// - `TURN_SECRET`: surrounding whitespace is trimmed (a pasted newline is never part of the
    ///   secret coturn has).
    /// - `TURN_URLS`: space-separated `turn:` / `turns:` URLs (`turn:host[:port][?transport=udp|tcp]`).
    /// - `STUN_URLS`: space-separated `stun:` / `stuns:` URLs. Default: the `stun:` form of the
    ///   first plain `turn:` URL's host and port (or of the first TURN URL if all are `turns:`),
    ///   so no third-party STUN server ever learns our users' addresses.
    /// - `TURN_TTL_SECONDS`: default [`DEFAULT_TTL_SECONDS`], accepted range
    ///   [`MIN_TTL_SECONDS`]..=[`MAX_TTL_SECONDS`].
    ///
    /// A secret without URLs, or URLs without a secret, is not an error: TURN is simply not
    /// configured ([`TurnConfig::relay_configured`] is false).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<TurnConfig, ConfigError> {
        let non_blank = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let secret = non_blank("TURN_SECRET").map(|s| s.trim().to_owned());

        let mut turn = Vec::new();
        if let Some(raw) = non_blank("TURN_URLS") {
            for url in raw.split_whitespace() {
                let parsed = IceUrl::parse(url).map_err(|reason| ConfigError {
                    var: "TURN_URLS",
                    reason: format!("{url:?}: {reason}"),
                })?;
                if !matches!(parsed.scheme, Scheme::Turn | Scheme::Turns) {
                    return Err(ConfigError {
                        var: "TURN_URLS",
                        reason: format!("{url:?}: expected a turn: or turns: URL"),
                    });
                }
                turn.push(parsed);
            }
        }

        let stun_urls = match non_blank("STUN_URLS") {
            Some(raw) => {
                let mut urls = Vec::new();
                for url in raw.split_whitespace() {
                    let parsed = IceUrl::parse(url).map_err(|reason| ConfigError {
                        var: "STUN_URLS",
                        reason: format!("{url:?}: {reason}"),
                    })?;
                    if !matches!(parsed.scheme, Scheme::Stun | Scheme::Stuns) {
                        return Err(ConfigError {
                            var: "STUN_URLS",
                            reason: format!("{url:?}: expected a stun: or stuns: URL"),
                        });
                    }
                    if parsed.transport.is_some() {
                        return Err(ConfigError {
                            var: "STUN_URLS",
                            reason: format!("{url:?}: stun: URLs take no ?transport="),
                        });
                    }
                    urls.push(url.to_owned());
                }
                urls
            }
            None => turn
                .iter()
                .find(|u| u.scheme == Scheme::Turn)
                .or_else(|| turn.first())
                .map(|u| vec![format!("stun:{}", u.host_port)])
                .unwrap_or_default(),
        };

        let ttl_seconds = match non_blank("TURN_TTL_SECONDS") {
            None => DEFAULT_TTL_SECONDS,
            Some(raw) => {
                let ttl: u64 = raw.trim().parse().map_err(|_| ConfigError {
                    var: "TURN_TTL_SECONDS",
                    reason: format!("{raw:?} is not a whole number of seconds"),
                })?;
                if !(MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&ttl) {
                    return Err(ConfigError {
                        var: "TURN_TTL_SECONDS",
                        reason: format!(
                            "{ttl} is outside {MIN_TTL_SECONDS}..={MAX_TTL_SECONDS} seconds"
                        ),
                    });
                }
                ttl
            }
        };

        Ok(TurnConfig {
            secret,
            turn_urls: turn.into_iter().map(|u| u.original).collect(),
            stun_urls,
            ttl_seconds,
        })
    }

    /// TURN relaying is offered only with both a secret and at least one TURN URL.
    pub fn relay_configured(&self) -> bool {
        self.secret.as_deref().is_some_and(|s| !s.is_empty()) && !self.turn_urls.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Stun,
    Stuns,
    Turn,
    Turns,
}

/// The parts of a `stun:`/`turn:` URI (RFC 7064 / RFC 7065) that we check.
struct IceUrl {
    scheme: Scheme,
    /// `host` or `host:port`, as written (IPv6 hosts in brackets).
    host_port: String,
    transport: Option<String>,
    original: String,
}

impl IceUrl {
    fn parse(url: &str) -> Result<IceUrl, String> {
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| "missing scheme".to_owned())?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "stun" => Scheme::Stun,
            "stuns" => Scheme::Stuns,
            "turn" => Scheme::Turn,
            "turns" => Scheme::Turns,
            other => return Err(format!("unknown scheme {other:?}")),
        };
        let (host_port, query) = match rest.split_once('?') {
            Some((hp, q)) => (hp, Some(q)),
            None => (rest, None),
        };
        if host_port.starts_with('/') {
            return Err("no \"//\" after the scheme in stun:/turn: URLs".to_owned());
        }
        if host_port.contains(['/', '@']) {
            return Err("expected host[:port] only".to_owned());
        }
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| "unclosed [ in IPv6 host".to_owned())?;
            if addr.is_empty() {
                return Err("empty host".to_owned());
            }
            match after {
                "" => (addr, None),
                p => (
                    addr,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| "garbage after IPv6 host".to_owned())?,
                    ),
                ),
            }
        } else {
            match host_port.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err("empty host".to_owned());
        }
        if let Some(p) = port {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => {}
                _ => return Err(format!("bad port {p:?}")),
            }
        }
        let transport = match query {
            None => None,
            Some(q) => match q.strip_prefix("transport=") {
                Some(t @ ("udp" | "tcp")) => Some(t.to_owned()),
                _ => {
                    return Err("the only query allowed is ?transport=udp or ?transport=tcp".into())
                }
            },
        };
        Ok(IceUrl {
            scheme,
            host_port: host_port.to_owned(),
            transport,
            original: url.to_owned(),
        })
    }
}

/// Body of `GET /api/ice-servers`. `iceServers` can be passed as-is as
/// `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IceServersResponse {
    /// STUN entry first (if any), then the TURN entry with its credential (if configured).
    pub ice_servers: Vec<IceServer>,
    /// Lifetime of the credential in seconds.
    pub ttl: u64,
    /// Unix seconds after which the client must fetch new servers before it allocates again.
    pub expires_at: u64,
    /// Whether a TURN relay is offered.
    pub relay: bool,
}

/// One `RTCIceServer`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    /// `stun:`/`turn:`/`turns:` URLs sharing this credential.
    pub urls: Vec<String>,
    /// TURN REST username; absent for STUN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN REST credential; absent for STUN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl fmt::Debug for IceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A credential is a bearer token until it expires: keep it out of logs.
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Build the `/api/ice-servers` answer at `now_unix` (seconds).
///
/// Precondition: `random_id` is fresh randomness from the caller satisfying
/// [`is_valid_random_id`] (use [`random_id_from_bytes`]); it goes into the username coturn logs,
/// so it must never carry a room code, a name or an IP address. Checked by a `debug_assert!`;
/// in release builds an invalid id still yields a credential coturn accepts, only a less tidy log.
pub fn ice_servers(cfg: &TurnConfig, now_unix: u64, random_id: &str) -> IceServersResponse {
    debug_assert!(
        is_valid_random_id(random_id),
        "random_id must match [A-Za-z0-9_-]{{8,64}}"
    );
    let expires_at = now_unix.saturating_add(cfg.ttl_seconds);

    let mut servers = Vec::with_capacity(2);
    if !cfg.stun_urls.is_empty() {
        servers.push(IceServer {
            urls: cfg.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    let relay = match (&cfg.secret, cfg.relay_configured()) {
        (Some(secret), true) => {
            let username = coturn_username(expires_at, random_id);
            let credential = coturn_rest_credential(secret.as_bytes(), &username);
            servers.push(IceServer {
                urls: cfg.turn_urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
            true
        }
        _ => false,
    };

    IceServersResponse {
        ice_servers: servers,
        ttl: cfg.ttl_seconds,
        expires_at,
        relay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

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

    fn configured() -> TurnConfig {
        TurnConfig::from_vars(vars(&[
            ("TURN_SECRET", "north"),
            (
                "TURN_URLS",
                "turn:turn.example.com:3478?transport=udp turn:turn.example.com:3478?transport=tcp turns:turn.example.com:443?transport=tcp",
            ),
            ("TURN_TTL_SECONDS", "600"),
        ]))
        .unwrap()
    }

    #[test]
    fn expiry_is_now_plus_ttl() {
        let cfg = configured();
        let now = 1_700_000_000;
        let r = ice_servers(&cfg, now, "abcdefgh1234");
        assert_eq!(r.expires_at, now + 600);
        assert_eq!(r.ttl, 600);
        let turn = &r.ice_servers[1];
        assert_eq!(turn.username.as_deref(), Some("1700000600:abcdefgh1234"));
        assert_eq!(
            turn.credential.as_deref().unwrap(),
            coturn_rest_credential(b"north", "1700000600:abcdefgh1234")
        );
    }

    #[test]
    fn golden_json_configured() {
        let r = ice_servers(&configured(), 1_266_890_200, "mbzrxpgjys");
        // expiry 1266890200 + 600 = 1266890800: the coturn example's username, so the
        // credential is the documented value.
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            concat!(
                r#"{"iceServers":[{"urls":["stun:turn.example.com:3478"]},"#,
                r#"{"urls":["turn:turn.example.com:3478?transport=udp","turn:turn.example.com:3478?transport=tcp","turns:turn.example.com:443?transport=tcp"],"#,
                r#""username":"1266890800:mbzrxpgjys","credential":"nbRcrnq5h6xXhyNhlwk+lDLvVVo="}],"#,
                r#""ttl":600,"expiresAt":1266890800,"relay":true}"#
            )
        );
    }

    #[test]
    fn golden_json_not_configured() {
        // URLs but no secret: STUN (derived from the TURN host) only.
        let cfg = TurnConfig::from_vars(vars(&[(
            "TURN_URLS",
            "turn:turn.example.com:3478?transport=udp",
        )]))
        .unwrap();
        assert!(!cfg.relay_configured());
        let json = serde_json::to_string(&ice_servers(&cfg, 1000, "abcdefgh")).unwrap();
        assert_eq!(
            json,
            r#"{"iceServers":[{"urls":["stun:turn.example.com:3478"]}],"ttl":3600,"expiresAt":4600,"relay":false}"#
        );

        // Nothing at all: no servers, still a valid RTCConfiguration.iceServers.
        let empty = TurnConfig::from_vars(vars(&[])).unwrap();
        assert_eq!(
            serde_json::to_string(&ice_servers(&empty, 1000, "abcdefgh")).unwrap(),
            r#"{"iceServers":[],"ttl":3600,"expiresAt":4600,"relay":false}"#
        );
    }

    #[test]
    fn secret_without_urls_is_not_configured_and_leaks_nothing() {
        let cfg = TurnConfig::from_vars(vars(&[("TURN_SECRET", "s3cr3t-value")])).unwrap();
        assert!(!cfg.relay_configured());
        let json = serde_json::to_string(&ice_servers(&cfg, 0, "abcdefgh")).unwrap();
        assert!(!json.contains("username"));
        assert!(!json.contains("credential"));
        assert!(json.contains(r#""relay":false"#));
    }

    #[test]
    fn blank_values_count_as_unset() {
        let cfg = TurnConfig::from_vars(vars(&[
            ("TURN_SECRET", "  "),
            ("TURN_URLS", "turn:t.example:3478"),
            ("STUN_URLS", ""),
            ("TURN_TTL_SECONDS", " "),
        ]))
        .unwrap();
        assert_eq!(cfg.secret, None);
        assert_eq!(cfg.stun_urls, vec!["stun:t.example:3478"]);
        assert_eq!(cfg.ttl_seconds, DEFAULT_TTL_SECONDS);
        assert!(!cfg.relay_configured());
    }

    #[test]
    fn secret_is_trimmed() {
        let cfg = TurnConfig::from_vars(vars(&[
            ("TURN_SECRET", "abc\n"),
            ("TURN_URLS", "turn:t.example"),
        ]))
        .unwrap();
        assert_eq!(cfg.secret.as_deref(), Some("abc"));
        assert!(cfg.relay_configured());
    }

    #[test]
    fn stun_default_prefers_plain_turn_url_and_keeps_port() {
        let cfg = TurnConfig::from_vars(vars(&[(
            "TURN_URLS",
            "turns:t.example:443?transport=tcp turn:t.example:3478?transport=udp",
        )]))
        .unwrap();
        assert_eq!(cfg.stun_urls, vec!["stun:t.example:3478"]);

        let only_tls =
            TurnConfig::from_vars(vars(&[("TURN_URLS", "turns:[2001:db8::1]:5349")])).unwrap();
        assert_eq!(only_tls.stun_urls, vec!["stun:[2001:db8::1]:5349"]);

        let no_port = TurnConfig::from_vars(vars(&[("TURN_URLS", "turn:t.example")])).unwrap();
        assert_eq!(no_port.stun_urls, vec!["stun:t.example"]);
    }

    #[test]
    fn explicit_stun_urls_win() {
        let cfg = TurnConfig::from_vars(vars(&[
            ("TURN_URLS", "turn:t.example:3478"),
            ("STUN_URLS", "stun:a.example:3478  stuns:b.example:5349"),
        ]))
        .unwrap();
        assert_eq!(
            cfg.stun_urls,
            vec!["stun:a.example:3478", "stuns:b.example:5349"]
        );
    }

    #[test]
    fn config_errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("TURN_URLS", "stun:t.example:3478")], "TURN_URLS"),
            (&[("TURN_URLS", "https://t.example")], "TURN_URLS"),
            (&[("TURN_URLS", "turn://t.example:3478")], "TURN_URLS"),
            (&[("TURN_URLS", "turn:t.example:99999")], "TURN_URLS"),
            (&[("TURN_URLS", "turn::3478")], "TURN_URLS"),
            (
                &[("TURN_URLS", "turn:t.example?transport=sctp")],
                "TURN_URLS",
            ),
            (&[("TURN_URLS", "turn:[::1")], "TURN_URLS"),
            (&[("STUN_URLS", "turn:t.example:3478")], "STUN_URLS"),
            (
                &[("STUN_URLS", "stun:t.example?transport=udp")],
                "STUN_URLS",
            ),
            (&[("TURN_TTL_SECONDS", "1h")], "TURN_TTL_SECONDS"),
            (&[("TURN_TTL_SECONDS", "-5")], "TURN_TTL_SECONDS"),
            (&[("TURN_TTL_SECONDS", "59")], "TURN_TTL_SECONDS"),
            (&[("TURN_TTL_SECONDS", "86401")], "TURN_TTL_SECONDS"),
        ];
        for (pairs, var) in cases {
            let err = TurnConfig::from_vars(vars(pairs)).unwrap_err();
            assert_eq!(err.var, *var, "{pairs:?}");
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn ttl_bounds_are_inclusive() {
        for ttl in ["60", "86400"] {
            let cfg = TurnConfig::from_vars(vars(&[("TURN_TTL_SECONDS", ttl)])).unwrap();
            assert_eq!(cfg.ttl_seconds.to_string(), ttl);
        }
    }

    #[test]
    fn errors_never_contain_the_secret() {
        let err = TurnConfig::from_vars(vars(&[
            ("TURN_SECRET", "hunter2-secret"),
            ("TURN_URLS", "bogus"),
        ]))
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{err:?}").contains("hunter2"));
    }

    #[test]
    fn debug_redacts_secret_and_credential() {
        let cfg = configured();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("north"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        assert!(dbg.contains("turn.example.com"));

        let r = ice_servers(&cfg, 1_266_890_200, "mbzrxpgjys");
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("nbRcrnq5h6xXhyNhlwk"), "{dbg}");
        assert!(dbg.contains("1266890800:mbzrxpgjys"));

        let unset = TurnConfig::from_vars(vars(&[])).unwrap();
        assert!(format!("{unset:?}").contains("secret: None"));
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
