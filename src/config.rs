//! Worker configuration, read once per use into typed structs: the room tunables
//! ([`room_config`]) and the ICE servers ([`ice_config`]). Every variable is optional with a
//! default, and unset and blank are the same; a malformed value is an error that names the
//! variable (the Worker answers 500 and logs it, rather than running with a guess).
//!
//! The two readers stay separate on purpose: a bad TURN variable must not stop signaling, and a
//! bad room tunable must not stop `/api/ice-servers`.

use std::fmt;
use std::ops::RangeInclusive;

use crate::ice::IceConfig;
use crate::ice_url::{BadUrl, IceUrl, Kind};
use crate::room::RoomConfig;
use crate::turn::{Relay, DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS};

/// A variable that is set but cannot be used. Names the variable; never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name, e.g. `TURN_URLS`.
    pub var: &'static str,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A room tunable that is not a whole number.
    NotAWholeNumber,
    /// A room tunable outside its range.
    OutOfRange,
    /// `TURN_TTL_SECONDS` as written, which is not a whole number.
    TtlNotAWholeNumber(String),
    /// `TURN_TTL_SECONDS` outside [`MIN_TTL_SECONDS`]..=[`MAX_TTL_SECONDS`].
    TtlOutOfRange(u64),
    /// A URL of `TURN_URLS` or `STUN_URLS` that was refused.
    Url(BadUrl),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Two wordings, the room's and TURN's, as the Worker logged them before both readers
        // shared this type: an operator's alert may match on them.
        let var = self.var;
        match &self.problem {
            Problem::NotAWholeNumber => {
                write!(f, "configuration variable {var}: not a whole number")
            }
            Problem::OutOfRange => write!(f, "configuration variable {var}: out of range"),
            Problem::TtlNotAWholeNumber(raw) => {
                write!(f, "invalid {var}: {raw:?} is not a whole number of seconds")
            }
            Problem::TtlOutOfRange(ttl) => write!(
                f,
                "invalid {var}: {ttl} is outside {MIN_TTL_SECONDS}..={MAX_TTL_SECONDS} seconds"
            ),
            Problem::Url(bad) => write!(f, "invalid {var}: {bad}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// `var`'s value, or `None` when it is unset or blank.
fn non_blank(get: &impl Fn(&str) -> Option<String>, var: &str) -> Option<String> {
    get(var).filter(|v| !v.trim().is_empty())
}

enum NumberError {
    /// The value as written.
    NotAWholeNumber(String),
    OutOfRange(u64),
}

/// A whole number in `range` (surrounding whitespace ignored), or `default` when unset or blank.
fn whole_number(
    get: &impl Fn(&str) -> Option<String>,
    var: &str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<u64, NumberError> {
    let Some(raw) = non_blank(get, var) else {
        return Ok(default);
    };
    let Ok(n) = raw.trim().parse::<u64>() else {
        return Err(NumberError::NotAWholeNumber(raw));
    };
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(NumberError::OutOfRange(n))
    }
}

/// Reads the room tunables: `MAX_PEERS` (2–16, default 4), `RESUME_GRACE_SECONDS` (5–300,
/// default 30), `IDLE_TIMEOUT_SECONDS` (30–600, default 60), `MSG_RATE_PER_SECOND` (1–1000,
/// default 20) and `MSG_BURST` (1–10000, default 50).
pub fn room_config(get: impl Fn(&str) -> Option<String>) -> Result<RoomConfig, ConfigError> {
    let number = |var: &'static str, default: u64, min: u64, max: u64| {
        whole_number(&get, var, default, min..=max).map_err(|e| ConfigError {
            var,
            problem: match e {
                NumberError::NotAWholeNumber(_) => Problem::NotAWholeNumber,
                NumberError::OutOfRange(_) => Problem::OutOfRange,
            },
        })
    };
    let d = RoomConfig::default();
    let max_peers = number("MAX_PEERS", d.max_peers as u64, 2, 16)? as usize;
    Ok(RoomConfig {
        max_peers,
        max_unjoined: 2 * max_peers,
        grace_ms: number("RESUME_GRACE_SECONDS", d.grace_ms / 1000, 5, 300)? * 1000,
        idle_timeout_ms: number("IDLE_TIMEOUT_SECONDS", d.idle_timeout_ms / 1000, 30, 600)? * 1000,
        rate_per_sec: number("MSG_RATE_PER_SECOND", d.rate_per_sec.into(), 1, 1000)? as u32,
        rate_burst: number("MSG_BURST", d.rate_burst.into(), 1, 10_000)? as u32,
        ..d
    })
}

/// Reads `TURN_SECRET`, `TURN_URLS`, `STUN_URLS` and `TURN_TTL_SECONDS` (in the shell: secrets
/// first, then plain vars).
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
/// A secret without URLs, or URLs without a secret, is not an error: there is simply no relay
/// (`relay` is `None`, and the shell logs `turn_unconfigured` once).
pub fn ice_config(get: impl Fn(&str) -> Option<String>) -> Result<IceConfig, ConfigError> {
    let urls = |var: &'static str, kind| {
        IceUrl::parse_list(&non_blank(&get, var).unwrap_or_default(), kind).map_err(|bad| {
            ConfigError {
                var,
                problem: Problem::Url(bad),
            }
        })
    };
    let turn = urls("TURN_URLS", Kind::Turn)?;
    let stun = urls("STUN_URLS", Kind::Stun)?;
    let stun_urls = if stun.is_empty() {
        turn.iter()
            .find(|u| u.is_plain_turn())
            .or_else(|| turn.first())
            .map(|u| vec![u.stun_form()])
            .unwrap_or_default()
    } else {
        stun.into_iter().map(String::from).collect()
    };

    let var = "TURN_TTL_SECONDS";
    let ttl_seconds = whole_number(
        &get,
        var,
        DEFAULT_TTL_SECONDS,
        MIN_TTL_SECONDS..=MAX_TTL_SECONDS,
    )
    .map_err(|e| ConfigError {
        var,
        problem: match e {
            NumberError::NotAWholeNumber(raw) => Problem::TtlNotAWholeNumber(raw),
            NumberError::OutOfRange(ttl) => Problem::TtlOutOfRange(ttl),
        },
    })?;

    let relay = non_blank(&get, "TURN_SECRET").and_then(|secret| {
        Relay::new(
            secret.trim().to_owned(),
            turn.into_iter().map(String::from).collect(),
        )
    });

    Ok(IceConfig {
        relay,
        stun_urls,
        ttl_seconds,
    })
}

/// A variable lookup over fixed pairs, for tests.
#[cfg(test)]
pub(crate) fn test_vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::turn::coturn_rest_credential;
    use test_vars as vars;

    #[test]
    fn defaults_when_unset_or_blank() {
        assert_eq!(room_config(vars(&[])).unwrap(), RoomConfig::default());
        assert_eq!(
            room_config(vars(&[("MAX_PEERS", " ")])).unwrap(),
            RoomConfig::default()
        );
    }

    #[test]
    fn values_are_read_and_scaled() {
        let c = room_config(vars(&[
            ("MAX_PEERS", "6"),
            ("RESUME_GRACE_SECONDS", "10"),
            ("IDLE_TIMEOUT_SECONDS", "90"),
            ("MSG_RATE_PER_SECOND", "100"),
            ("MSG_BURST", "200"),
        ]))
        .unwrap();
        assert_eq!(
            (c.max_peers, c.grace_ms, c.idle_timeout_ms),
            (6, 10_000, 90_000)
        );
        assert_eq!((c.rate_per_sec, c.rate_burst), (100, 200));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = room_config(vars(&[("MAX_PEERS", "four")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "configuration variable MAX_PEERS: not a whole number"
        );
        let e = room_config(vars(&[("MAX_PEERS", "1")])).unwrap_err();
        assert_eq!(
            e,
            ConfigError {
                var: "MAX_PEERS",
                problem: Problem::OutOfRange
            }
        );
        assert_eq!(
            e.to_string(),
            "configuration variable MAX_PEERS: out of range"
        );
        assert!(room_config(vars(&[("RESUME_GRACE_SECONDS", "-5")])).is_err());
    }

    // TURN and STUN variables; the answer they produce is tested in `ice`.

    #[test]
    fn blank_values_count_as_unset() {
        let cfg = ice_config(vars(&[
            ("TURN_SECRET", "  "),
            ("TURN_URLS", "turn:t.example:3478"),
            ("STUN_URLS", ""),
            ("TURN_TTL_SECONDS", " "),
        ]))
        .unwrap();
        // A blank secret is no secret: no relay.
        assert_eq!(cfg.relay, None);
        assert_eq!(cfg.stun_urls, vec!["stun:t.example:3478"]);
        assert_eq!(cfg.ttl_seconds, DEFAULT_TTL_SECONDS);
    }

    #[test]
    fn secret_is_trimmed() {
        let cfg = ice_config(vars(&[
            ("TURN_SECRET", "abc\n"),
            ("TURN_URLS", "turn:t.example"),
        ]))
        .unwrap();
        // The relay signs with "abc", not "abc\n" (its secret is not readable, only usable).
        let relay = cfg.relay.expect("secret and URL make a relay");
        assert_eq!(relay.credential("u"), coturn_rest_credential(b"abc", "u"));
    }

    #[test]
    fn stun_default_prefers_plain_turn_url_and_keeps_port() {
        let cfg = ice_config(vars(&[(
            "TURN_URLS",
            "turns:t.example:443?transport=tcp turn:t.example:3478?transport=udp",
        )]))
        .unwrap();
        assert_eq!(cfg.stun_urls, vec!["stun:t.example:3478"]);

        let only_tls = ice_config(vars(&[("TURN_URLS", "turns:[2001:db8::1]:5349")])).unwrap();
        assert_eq!(only_tls.stun_urls, vec!["stun:[2001:db8::1]:5349"]);

        let no_port = ice_config(vars(&[("TURN_URLS", "turn:t.example")])).unwrap();
        assert_eq!(no_port.stun_urls, vec!["stun:t.example"]);
    }

    #[test]
    fn explicit_stun_urls_win() {
        let cfg = ice_config(vars(&[
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
            let err = ice_config(vars(pairs)).unwrap_err();
            assert_eq!(err.var, *var, "{pairs:?}");
            assert!(err.to_string().contains(var), "{err}");
        }
    }

    #[test]
    fn turn_messages_name_the_variable_and_the_value() {
        let text = |pairs: &[(&str, &str)]| ice_config(vars(pairs)).unwrap_err().to_string();
        assert_eq!(
            text(&[("TURN_URLS", "bogus")]),
            r#"invalid TURN_URLS: "bogus": missing scheme"#
        );
        assert_eq!(
            text(&[("STUN_URLS", "stun:t?transport=udp")]),
            r#"invalid STUN_URLS: "stun:t?transport=udp": stun: URLs take no ?transport="#
        );
        assert_eq!(
            text(&[("TURN_TTL_SECONDS", " 1h")]),
            r#"invalid TURN_TTL_SECONDS: " 1h" is not a whole number of seconds"#
        );
        assert_eq!(
            text(&[("TURN_TTL_SECONDS", "59")]),
            "invalid TURN_TTL_SECONDS: 59 is outside 60..=86400 seconds"
        );
    }

    #[test]
    fn ttl_bounds_are_inclusive() {
        for ttl in ["60", "86400"] {
            let cfg = ice_config(vars(&[("TURN_TTL_SECONDS", ttl)])).unwrap();
            assert_eq!(cfg.ttl_seconds.to_string(), ttl);
        }
    }

    #[test]
    fn errors_never_contain_the_secret() {
        let err = ice_config(vars(&[
            ("TURN_SECRET", "hunter2-secret"),
            ("TURN_URLS", "bogus"),
        ]))
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{err:?}").contains("hunter2"));
    }
}
