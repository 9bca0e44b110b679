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

#[cfg(test)]
mod tests {
    use super::*;

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
