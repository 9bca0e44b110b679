//! Routing and response bodies of the stateless Worker, as pure functions.

use crate::ids::{RoomCode, RoomCodeError};
use serde::Serialize;

/// What a request to the Worker is for. Static files never reach the Worker (`[assets]` with
/// `run_worker_first` only for `/ws/*`, `/api/*` and `/health`); anything else that does is
/// handed back to the assets binding.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    IceServers,
    /// `/ws/<code>` with a valid code.
    Signal(RoomCode),
    /// `/ws/<code>` with an invalid code.
    BadRoomCode(RoomCodeError),
    /// `/api/…` that does not exist.
    ApiNotFound,
    Asset,
}

pub fn route(path: &str) -> Route {
    if path == "/health" {
        return Route::Health;
    }
    if path == "/api/ice-servers" {
        return Route::IceServers;
    }
    if path == "/api" || path.starts_with("/api/") {
        return Route::ApiNotFound;
    }
    if let Some(code) = path.strip_prefix("/ws/") {
        return match RoomCode::parse(code) {
            Ok(code) => Route::Signal(code),
            Err(e) => Route::BadRoomCode(e),
        };
    }
    if path == "/ws" {
        return Route::BadRoomCode(RoomCodeError::Empty);
    }
    Route::Asset
}

/// `{"error": …, "message": …}`, the body of every error the Worker answers itself.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
}

/// `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

pub const HEALTH: Health = Health {
    status: "ok",
    version: env!("CARGO_PKG_VERSION"),
};

/// The headers every Worker response carries (the static app gets the same from
/// `public/_headers`).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    // Same as public/_headers: this host only, ignored on plain http://.
    ("Strict-Transport-Security", "max-age=63072000"),
    (
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// The key a client's requests are rate-limited under, from `cf-connecting-ip`. An IPv4
/// address is its own key. An IPv6 address is keyed by its /64: one subscriber line or phone
/// gets a whole /64 (often far more) and can use a fresh address per request, so limiting per
/// address would limit nothing. IPv4-mapped IPv6 counts as the IPv4 address. Anything else (the
/// header is set by Cloudflare's edge, so only a local or misconfigured setup sees it) is keyed
/// as sent, cut to 64 bytes.
pub fn rate_key(client_ip: Option<&str>) -> String {
    use std::net::IpAddr;
    let Some(raw) = client_ip.map(str::trim) else {
        return "unknown".to_owned();
    };
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => raw.chars().take(64).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_keys_group_ipv6_by_64() {
        assert_eq!(rate_key(Some("203.0.113.7")), "203.0.113.7");
        let a = rate_key(Some("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(rate_key(Some("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")), a);
        assert_ne!(rate_key(Some("2001:db8:1:3::1")), a);
        assert_eq!(rate_key(Some("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(rate_key(Some(" 203.0.113.7 ")), "203.0.113.7");
        assert_eq!(rate_key(None), "unknown");
        assert_eq!(rate_key(Some(&"x".repeat(500))).len(), 64);
        assert_eq!(rate_key(Some("not an address")), "not an address");
    }

    #[test]
    fn routes() {
        assert_eq!(route("/health"), Route::Health);
        assert_eq!(route("/api/ice-servers"), Route::IceServers);
        assert_eq!(route("/api/nope"), Route::ApiNotFound);
        assert_eq!(route("/api"), Route::ApiNotFound);
        assert_eq!(
            route("/ws/K7M-q2xp-9rt"),
            Route::Signal(RoomCode::parse("k7m-q2xp-9rt").unwrap())
        );
        assert_eq!(route("/ws/"), Route::BadRoomCode(RoomCodeError::Empty));
        assert_eq!(route("/ws"), Route::BadRoomCode(RoomCodeError::Empty));
        assert_eq!(
            route("/ws/a/b"),
            Route::BadRoomCode(RoomCodeError::BadCharacter)
        );
        assert_eq!(
            route("/ws/a%20b"),
            Route::BadRoomCode(RoomCodeError::BadCharacter)
        );
        assert_eq!(route("/"), Route::Asset);
        assert_eq!(route("/k7m-q2xp-9rt"), Route::Asset);
    }

    #[test]
    fn bodies() {
        let body = serde_json::to_string(&ErrorBody {
            error: "notFound",
            message: None,
        })
        .unwrap();
        assert_eq!(body, r#"{"error":"notFound"}"#);
        let health = serde_json::to_string(&HEALTH).unwrap();
        assert_eq!(
            health,
            format!(
                r#"{{"status":"ok","version":"{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
