//! Worker configuration, read once into typed structs. Every variable is optional with a
//! default; a malformed value is an error that names the variable (the Worker answers 500 and
//! logs it, rather than running with a guess).

use crate::room::RoomConfig;
use std::fmt;

/// A variable that is set but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration variable {}: {}", self.var, self.problem)
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(s) if s.trim().is_empty() => Ok(default),
        Some(s) => match s.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(_) => Err(ConfigError {
                var,
                problem: "out of range",
            }),
            Err(_) => Err(ConfigError {
                var,
                problem: "not a whole number",
            }),
        },
    }
}

/// Reads the room tunables: `MAX_PEERS` (2–16, default 4), `RESUME_GRACE_SECONDS` (5–300,
/// default 30), `IDLE_TIMEOUT_SECONDS` (30–600, default 60), `MSG_RATE_PER_SECOND` (1–1000,
/// default 20) and `MSG_BURST` (1–10000, default 50).
pub fn room_config(get: impl Fn(&str) -> Option<String>) -> Result<RoomConfig, ConfigError> {
    let d = RoomConfig::default();
    Ok(RoomConfig {
        max_peers: number(&get, "MAX_PEERS", d.max_peers as u64, 2, 16)? as usize,
        grace_ms: number(&get, "RESUME_GRACE_SECONDS", d.grace_ms / 1000, 5, 300)? * 1000,
        idle_timeout_ms: number(
            &get,
            "IDLE_TIMEOUT_SECONDS",
            d.idle_timeout_ms / 1000,
            30,
            600,
        )? * 1000,
        rate_per_sec: number(&get, "MSG_RATE_PER_SECOND", d.rate_per_sec.into(), 1, 1000)? as u32,
        rate_burst: number(&get, "MSG_BURST", d.rate_burst.into(), 1, 10_000)? as u32,
        ..d
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

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
                problem: "out of range"
            }
        );
        assert!(room_config(vars(&[("RESUME_GRACE_SECONDS", "-5")])).is_err());
    }
}
