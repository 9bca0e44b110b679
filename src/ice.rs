//! The `GET /api/ice-servers` answer: the STUN servers and, with a [`Relay`], a fresh TURN
//! credential, shaped as `RTCConfiguration.iceServers`.
//!
//! Pure: no `worker` import. The clock (`now_unix`) and the random id are inputs; the Worker
//! shell reads the time and draws the randomness.

use std::fmt;

use serde::Serialize;

use crate::turn::{coturn_username, is_valid_random_id, Relay};

/// ICE configuration, read once from the Worker's environment with [`crate::config::ice_config`].
///
/// TURN is optional: without a relay, `/api/ice-servers` answers with STUN only and
/// `"relay": false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceConfig {
    /// `TURN_SECRET` with `TURN_URLS`, when both are set.
    pub relay: Option<Relay>,
    /// `STUN_URLS`, or the `stun:` form of the TURN host when unset.
    pub stun_urls: Vec<String>,
    /// `TURN_TTL_SECONDS`: how long a minted credential is valid.
    pub ttl_seconds: u64,
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
/// [`is_valid_random_id`] (use [`crate::turn::random_id_from_bytes`]); it goes into the username
/// coturn logs, so it must never carry a room code, a name or an IP address. Checked by a
/// `debug_assert!`; in release builds an invalid id still yields a credential coturn accepts,
/// only a less tidy log.
pub fn ice_servers(cfg: &IceConfig, now_unix: u64, random_id: &str) -> IceServersResponse {
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
    if let Some(relay) = &cfg.relay {
        let username = coturn_username(expires_at, random_id);
        servers.push(IceServer {
            urls: relay.urls().to_vec(),
            credential: Some(relay.credential(&username)),
            username: Some(username),
        });
    }

    IceServersResponse {
        ice_servers: servers,
        ttl: cfg.ttl_seconds,
        expires_at,
        relay: cfg.relay.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ice_config, test_vars as vars};
    use crate::turn::coturn_rest_credential;

    fn configured() -> IceConfig {
        ice_config(vars(&[
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
        let cfg = ice_config(vars(&[(
            "TURN_URLS",
            "turn:turn.example.com:3478?transport=udp",
        )]))
        .unwrap();
        assert!(cfg.relay.is_none());
        let json = serde_json::to_string(&ice_servers(&cfg, 1000, "abcdefgh")).unwrap();
        assert_eq!(
            json,
            r#"{"iceServers":[{"urls":["stun:turn.example.com:3478"]}],"ttl":3600,"expiresAt":4600,"relay":false}"#
        );

        // Nothing at all: no servers, still a valid RTCConfiguration.iceServers.
        let empty = ice_config(vars(&[])).unwrap();
        assert_eq!(
            serde_json::to_string(&ice_servers(&empty, 1000, "abcdefgh")).unwrap(),
            r#"{"iceServers":[],"ttl":3600,"expiresAt":4600,"relay":false}"#
        );
    }

    #[test]
    fn secret_without_urls_is_not_configured_and_leaks_nothing() {
        let cfg = ice_config(vars(&[("TURN_SECRET", "s3cr3t-value")])).unwrap();
        assert!(cfg.relay.is_none());
        let json = serde_json::to_string(&ice_servers(&cfg, 0, "abcdefgh")).unwrap();
        assert!(!json.contains("username"));
        assert!(!json.contains("credential"));
        assert!(json.contains(r#""relay":false"#));
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

        // Unset: the Debug form says there is no relay (before the relay type it said
        // `secret: None`).
        let unset = ice_config(vars(&[])).unwrap();
        assert!(format!("{unset:?}").contains("relay: None"));
    }
}
