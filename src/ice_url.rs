//! The `stun:`/`turn:` URLs of `TURN_URLS` and `STUN_URLS` (RFC 7064 / RFC 7065), checked before
//! they are handed to browsers as `RTCIceServer.urls`.
//!
//! Pure: no `worker` import. Only the parts a browser or coturn would trip on are checked; a URL
//! that passes is kept exactly as the operator wrote it.

use std::fmt;

/// Which list a URL belongs to: its schemes and whether it may name a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `stun:` / `stuns:`, no `?transport=`.
    Stun,
    /// `turn:` / `turns:`, optionally `?transport=udp|tcp`.
    Turn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Stun,
    Stuns,
    Turn,
    Turns,
}

impl Scheme {
    fn kind(self) -> Kind {
        match self {
            Scheme::Stun | Scheme::Stuns => Kind::Stun,
            Scheme::Turn | Scheme::Turns => Kind::Turn,
        }
    }
}

/// Why a URL was refused. The text is what the operator's log shows after the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// No `:` at all.
    MissingScheme,
    /// A scheme other than `stun`, `stuns`, `turn`, `turns` (lowercased).
    UnknownScheme(String),
    /// `turn://host`: these schemes are not hierarchical.
    Slashes,
    /// A path or userinfo after the host.
    NotHostPort,
    /// `[` without `]`.
    UnclosedIpv6,
    /// Something other than `:port` after `[addr]`.
    GarbageAfterIpv6,
    /// No host before the port.
    EmptyHost,
    /// A port that is not 1..=65535.
    BadPort(String),
    /// A query other than `?transport=udp|tcp`.
    BadQuery,
    /// A valid URL in the wrong list (a `stun:` URL in `TURN_URLS` or the reverse).
    WrongKind(Kind),
    /// `stun:` URLs name no transport.
    StunTransport,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::MissingScheme => f.write_str("missing scheme"),
            UrlError::UnknownScheme(s) => write!(f, "unknown scheme {s:?}"),
            UrlError::Slashes => f.write_str("no \"//\" after the scheme in stun:/turn: URLs"),
            UrlError::NotHostPort => f.write_str("expected host[:port] only"),
            UrlError::UnclosedIpv6 => f.write_str("unclosed [ in IPv6 host"),
            UrlError::GarbageAfterIpv6 => f.write_str("garbage after IPv6 host"),
            UrlError::EmptyHost => f.write_str("empty host"),
            UrlError::BadPort(p) => write!(f, "bad port {p:?}"),
            UrlError::BadQuery => {
                f.write_str("the only query allowed is ?transport=udp or ?transport=tcp")
            }
            UrlError::WrongKind(Kind::Turn) => f.write_str("expected a turn: or turns: URL"),
            UrlError::WrongKind(Kind::Stun) => f.write_str("expected a stun: or stuns: URL"),
            UrlError::StunTransport => f.write_str("stun: URLs take no ?transport="),
        }
    }
}

/// A URL of a list that was refused, as written, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUrl {
    /// The URL as written in the variable.
    pub url: String,
    /// What is wrong with it.
    pub reason: UrlError,
}

impl fmt::Display for BadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.url, self.reason)
    }
}

/// One checked `stun:`/`turn:` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceUrl {
    scheme: Scheme,
    /// `host` or `host:port`, as written (IPv6 hosts in brackets).
    host_port: String,
    has_transport: bool,
    original: String,
}

impl IceUrl {
    /// Parse one URL of either kind.
    pub fn parse(url: &str) -> Result<IceUrl, UrlError> {
        let (scheme, rest) = url.split_once(':').ok_or(UrlError::MissingScheme)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "stun" => Scheme::Stun,
            "stuns" => Scheme::Stuns,
            "turn" => Scheme::Turn,
            "turns" => Scheme::Turns,
            other => return Err(UrlError::UnknownScheme(other.to_owned())),
        };
        let (host_port, query) = match rest.split_once('?') {
            Some((hp, q)) => (hp, Some(q)),
            None => (rest, None),
        };
        if host_port.starts_with('/') {
            return Err(UrlError::Slashes);
        }
        if host_port.contains(['/', '@']) {
            return Err(UrlError::NotHostPort);
        }
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or(UrlError::UnclosedIpv6)?;
            if addr.is_empty() {
                return Err(UrlError::EmptyHost);
            }
            match after {
                "" => (addr, None),
                p => (
                    addr,
                    Some(p.strip_prefix(':').ok_or(UrlError::GarbageAfterIpv6)?),
                ),
            }
        } else {
            match host_port.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        if let Some(p) = port {
            match p.parse::<u16>() {
                Ok(n) if n > 0 => {}
                _ => return Err(UrlError::BadPort(p.to_owned())),
            }
        }
        let has_transport = match query {
            None => false,
            Some("transport=udp" | "transport=tcp") => true,
            Some(_) => return Err(UrlError::BadQuery),
        };
        Ok(IceUrl {
            scheme,
            host_port: host_port.to_owned(),
            has_transport,
            original: url.to_owned(),
        })
    }

    /// Parse a space-separated list in which every URL must be of `kind`.
    pub fn parse_list(raw: &str, kind: Kind) -> Result<Vec<IceUrl>, BadUrl> {
        raw.split_whitespace()
            .map(|url| {
                let bad = |reason| BadUrl {
                    url: url.to_owned(),
                    reason,
                };
                let parsed = IceUrl::parse(url).map_err(bad)?;
                if parsed.scheme.kind() != kind {
                    return Err(bad(UrlError::WrongKind(kind)));
                }
                if kind == Kind::Stun && parsed.has_transport {
                    return Err(bad(UrlError::StunTransport));
                }
                Ok(parsed)
            })
            .collect()
    }

    /// Whether this is a plain (not TLS) `turn:` URL.
    pub fn is_plain_turn(&self) -> bool {
        self.scheme == Scheme::Turn
    }

    /// The `stun:` URL of the same host and port (a TURN server answers STUN on its ports).
    pub fn stun_form(&self) -> String {
        format!("stun:{}", self.host_port)
    }

    /// The URL exactly as written.
    pub fn as_str(&self) -> &str {
        &self.original
    }
}

impl From<IceUrl> for String {
    fn from(url: IceUrl) -> String {
        url.original
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_as_written_and_stun_form_keeps_host_and_port() {
        let u = IceUrl::parse("TURN:[2001:db8::1]:3478?transport=udp").unwrap();
        assert_eq!(u.as_str(), "TURN:[2001:db8::1]:3478?transport=udp");
        assert_eq!(u.stun_form(), "stun:[2001:db8::1]:3478");
        assert!(u.is_plain_turn());
        assert!(!IceUrl::parse("turns:t.example").unwrap().is_plain_turn());
    }

    #[test]
    fn each_reason() {
        let cases = [
            ("t.example", UrlError::MissingScheme),
            ("https://t", UrlError::UnknownScheme("https".into())),
            ("turn://t", UrlError::Slashes),
            ("turn:u@t", UrlError::NotHostPort),
            ("turn:[::1", UrlError::UnclosedIpv6),
            ("turn:[::1]x", UrlError::GarbageAfterIpv6),
            ("turn:[]", UrlError::EmptyHost),
            ("turn::3478", UrlError::EmptyHost),
            ("turn:t:0", UrlError::BadPort("0".into())),
            ("turn:t:99999", UrlError::BadPort("99999".into())),
            ("turn:t?transport=sctp", UrlError::BadQuery),
        ];
        for (url, reason) in cases {
            assert_eq!(IceUrl::parse(url), Err(reason), "{url}");
        }
    }

    #[test]
    fn lists_check_the_kind_and_name_the_url() {
        let turn = IceUrl::parse_list(" turn:a:1  turns:b?transport=tcp ", Kind::Turn).unwrap();
        assert_eq!(turn.len(), 2);
        let err = IceUrl::parse_list("turn:a stun:b", Kind::Turn).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#""stun:b": expected a turn: or turns: URL"#
        );
        let err = IceUrl::parse_list("stun:b?transport=udp", Kind::Stun).unwrap_err();
        assert_eq!(err.reason, UrlError::StunTransport);
        assert_eq!(IceUrl::parse_list("", Kind::Stun), Ok(vec![]));
    }
}
