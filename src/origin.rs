//! Who may call `GET /api/ice-servers`: our own pages, plus origins listed in `ALLOWED_ORIGINS`.
//!
//! Pure: the shell passes the request's own origin and the two headers.

/// Parse the `ALLOWED_ORIGINS` var: space-separated origins such as
/// `https://pinhole.example https://staging.pinhole.example:8443`.
///
/// Each entry is normalised like [`same_origin_or_allowed`] normalises the `Origin` header
/// (lower case, no trailing `/`, default port dropped). Entries that are not an
/// `http(s)://host[:port]` origin (a path, `*`, `null`, …) are ignored rather than trusted.
pub fn parse_allowed_origins(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for origin in s.split_whitespace().filter_map(normalize_origin) {
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    out
}

/// The rule for `GET /api/ice-servers`. True when the caller is one of our pages or an allowed
/// origin, false for any other browser context.
///
/// - `request_origin` is the origin of the request URL itself (`scheme://host[:port]`).
/// - `Sec-Fetch-Site: same-origin` → allowed. Browsers set `Sec-Fetch-*` themselves and pages
///   cannot forge them.
/// - Otherwise, an `Origin` header equal to `request_origin` or to an entry of
///   `allowed_origins` → allowed (this is also how browsers without `Sec-Fetch-Site` — Safari
///   before 16.4 — are judged, and how an allowed cross-origin embedder gets in). `Origin: null`
///   (sandboxed frames, `file:` pages) never matches.
/// - Any other `Sec-Fetch-Site` (`cross-site`, `same-site`, `none`) without a matching `Origin`
///   → refused. `same-site` is a sibling subdomain, which is a different origin; `none` is a
///   navigation typed into the address bar, which our pages never need.
/// - **Neither header** → allowed. Reasoning: every browser fetch that could read the answer
///   cross-origin is a CORS request and always carries `Origin`, and every current browser
///   sends `Sec-Fetch-Site` on every request, so a request with neither header is a non-browser
///   client (curl, a monitoring probe) or an old browser on our own page. A non-browser client
///   can put any header it likes, so refusing it would stop no one; it only breaks health checks.
///   What limits scripted credential harvesting is the per-IP rate limit and the short
///   credential TTL, not this check. (A no-cors cross-origin `<script src>` from an old browser
///   would also arrive without headers, but it cannot read the JSON body.)
///
/// This function decides on headers only; the shell must still send no CORS headers for origins
/// it did not allow, so a refused browser cannot read a response even if one were produced.
pub fn same_origin_or_allowed(
    request_origin: &str,
    origin_header: Option<&str>,
    sec_fetch_site: Option<&str>,
    allowed_origins: &[String],
) -> bool {
    let site = sec_fetch_site.map(|s| s.trim().to_ascii_lowercase());
    if site.as_deref() == Some("same-origin") {
        return true;
    }

    if let Some(origin) = origin_header {
        let Some(origin) = normalize_origin(origin) else {
            // `null`, garbage or an unparseable value: never trusted.
            return false;
        };
        if normalize_origin(request_origin).as_deref() == Some(origin.as_str()) {
            return true;
        }
        // Entries are compared normalised so a caller may pass unparsed strings too.
        return allowed_origins
            .iter()
            .filter_map(|a| normalize_origin(a))
            .any(|a| a == origin);
    }

    // No Origin header: allowed only when no Sec-Fetch-Site either (see the doc comment).
    site.is_none()
}

/// `HTTPS://Example.COM:443/` → `https://example.com`. `None` if `s` is not an http(s) origin.
fn normalize_origin(s: &str) -> Option<String> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('/').unwrap_or(&lower);
    let (scheme, rest) = lower.split_once("://")?;
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    // Split a trailing :port off, minding IPv6 literals like [::1]:8787.
    let (host, port) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains(']') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    match port {
        None => Some(format!("{scheme}://{host}")),
        Some(p) if p == default_port => Some(format!("{scheme}://{host}")),
        Some(p) => {
            let n: u16 = p.parse().ok()?;
            (n > 0).then(|| format!("{scheme}://{host}:{n}"))
        }
    }
}

/// The `Access-Control-Allow-Origin` to send: the request's `Origin`, normalised, when it is an
/// origin in `allowed_origins` other than this site's own (a same-origin page needs none).
/// `None` otherwise, so a refused or unlisted page can never read the answer.
pub fn cors_allow_origin(
    request_origin: &str,
    origin_header: Option<&str>,
    allowed_origins: &[String],
) -> Option<String> {
    let origin = normalize_origin(origin_header?)?;
    if normalize_origin(request_origin).as_deref() == Some(origin.as_str()) {
        return None;
    }
    allowed_origins
        .iter()
        .filter_map(|a| normalize_origin(a))
        .any(|a| a == origin)
        .then_some(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_only_for_listed_other_origins() {
        let own = "https://pinhole.example";
        let allowed = parse_allowed_origins("https://allowed.example");
        assert_eq!(
            cors_allow_origin(own, Some("https://ALLOWED.example:443"), &allowed).as_deref(),
            Some("https://allowed.example")
        );
        assert_eq!(cors_allow_origin(own, Some(own), &allowed), None);
        assert_eq!(
            cors_allow_origin(own, Some("https://evil.example"), &allowed),
            None
        );
        assert_eq!(cors_allow_origin(own, Some("null"), &allowed), None);
        assert_eq!(cors_allow_origin(own, None, &allowed), None);
    }

    const ME: &str = "https://pinhole.example";

    fn allowed() -> Vec<String> {
        parse_allowed_origins("https://Partner.example/  http://localhost:8787")
    }

    #[test]
    fn same_origin_fetch_is_allowed() {
        assert!(same_origin_or_allowed(
            ME,
            Some(ME),
            Some("same-origin"),
            &[]
        ));
        // Sec-Fetch-Site alone (same-origin GETs may omit Origin)
        assert!(same_origin_or_allowed(ME, None, Some("same-origin"), &[]));
        // Origin alone (Safari < 16.4 sends no Sec-Fetch-Site)
        assert!(same_origin_or_allowed(ME, Some(ME), None, &[]));
        // Header values are case-insensitive / may carry a trailing slash
        assert!(same_origin_or_allowed(
            ME,
            Some("HTTPS://PINHOLE.example/"),
            None,
            &[]
        ));
        assert!(same_origin_or_allowed(ME, None, Some("Same-Origin"), &[]));
    }

    #[test]
    fn cross_site_browser_request_is_refused() {
        assert!(!same_origin_or_allowed(
            ME,
            Some("https://evil.example"),
            Some("cross-site"),
            &allowed()
        ));
        assert!(!same_origin_or_allowed(
            ME,
            Some("https://evil.example"),
            None,
            &allowed()
        ));
        // Sec-Fetch-Site without Origin (a no-cors request): refused
        assert!(!same_origin_or_allowed(ME, None, Some("cross-site"), &[]));
        assert!(!same_origin_or_allowed(ME, None, Some("same-site"), &[]));
        assert!(!same_origin_or_allowed(ME, None, Some("none"), &[]));
    }

    #[test]
    fn same_site_is_not_same_origin() {
        assert!(!same_origin_or_allowed(
            ME,
            Some("https://other.pinhole.example"),
            Some("same-site"),
            &[]
        ));
        // scheme and port are part of the origin
        assert!(!same_origin_or_allowed(
            ME,
            Some("http://pinhole.example"),
            Some("same-site"),
            &[]
        ));
        assert!(!same_origin_or_allowed(
            ME,
            Some("https://pinhole.example:8443"),
            None,
            &[]
        ));
    }

    #[test]
    fn allowed_origins_get_in_cross_site() {
        assert!(same_origin_or_allowed(
            ME,
            Some("https://partner.example"),
            Some("cross-site"),
            &allowed()
        ));
        assert!(same_origin_or_allowed(
            ME,
            Some("http://localhost:8787"),
            Some("cross-site"),
            &allowed()
        ));
        // only the listed port
        assert!(!same_origin_or_allowed(
            ME,
            Some("http://localhost:8788"),
            Some("cross-site"),
            &allowed()
        ));
    }

    #[test]
    fn null_and_malformed_origins_are_refused() {
        for bad in [
            "null",
            "",
            "pinhole.example",
            "https://",
            "ftp://pinhole.example",
        ] {
            assert!(
                !same_origin_or_allowed(ME, Some(bad), None, &allowed()),
                "{bad:?}"
            );
        }
        // A literal "null" in ALLOWED_ORIGINS must not let sandboxed frames in.
        let list = parse_allowed_origins("null *");
        assert!(list.is_empty());
        assert!(!same_origin_or_allowed(ME, Some("null"), None, &list));
    }

    #[test]
    fn neither_header_is_a_non_browser_client_and_is_allowed() {
        assert!(same_origin_or_allowed(ME, None, None, &[]));
    }

    #[test]
    fn parse_normalises_and_dedups() {
        assert_eq!(
            parse_allowed_origins(
                " https://A.example/ https://a.example:443 http://b.example:80 http://[::1]:8787 https://c.example/path null * "
            ),
            vec![
                "https://a.example".to_owned(),
                "http://b.example".to_owned(),
                "http://[::1]:8787".to_owned(),
            ]
        );
        assert!(parse_allowed_origins("").is_empty());
    }

    #[test]
    fn default_ports_match_either_way() {
        let list = parse_allowed_origins("https://partner.example:443");
        assert!(same_origin_or_allowed(
            ME,
            Some("https://partner.example"),
            Some("cross-site"),
            &list
        ));
        assert!(same_origin_or_allowed(
            "https://pinhole.example:443",
            Some("https://pinhole.example"),
            None,
            &[]
        ));
    }
}
