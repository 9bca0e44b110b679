// Run with: cargo test --test vocabulary (`UPDATE=1 cargo test --test vocabulary` rewrites the
// generated files and sections from the Rust definitions).
//
// The close codes and log event names are defined once, in `pinhole::protocol`. The browser
// app's close-code table (public/js/close-codes.js) and the tables in docs/PROTOCOL.md are
// rendered from those definitions; these tests fail when a copy disagrees.

use pinhole::protocol::{CloseReason, LogEvent};
use std::path::PathBuf;

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn update() -> bool {
    std::env::var_os("UPDATE").is_some()
}

/// `NoKeepAlive` → `NO_KEEP_ALIVE`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A variant's `///` text as one line.
fn one_line(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn render_js() -> String {
    let mut out = String::from(
        "// WebSocket close codes the signaling server sends, by reason. Mirrors `CloseReason` in\n\
         // src/protocol/close.rs; `cargo test --test vocabulary` fails when the two disagree (and\n\
         // `UPDATE=1 cargo test --test vocabulary` rewrites this file from the Rust definition).\n\
         export const CLOSE = Object.freeze({\n",
    );
    for r in CloseReason::ALL {
        let name = screaming_snake(&format!("{r:?}"));
        out.push_str(&format!("  {name}: {},\n", r.code()));
    }
    out.push_str("});\n");
    out
}

fn close_table() -> String {
    let mut out = String::from("| code | reason | meaning |\n|---|---|---|\n");
    for r in CloseReason::ALL {
        out.push_str(&format!(
            "| {} | `{}` | {} |\n",
            r.code(),
            r.reason(),
            one_line(r.meaning())
        ));
    }
    out
}

fn log_table() -> String {
    let mut out = String::from("| event | when, and its fields |\n|---|---|\n");
    for e in LogEvent::ALL {
        out.push_str(&format!(
            "| `{}` | {} |\n",
            e.as_str(),
            one_line(e.meaning())
        ));
    }
    out
}

/// Compares the text between `<!-- <name>:begin … -->` and `<!-- <name>:end -->` in `doc`
/// with `body`; with UPDATE set, rewrites it instead.
fn section(doc: &mut String, name: &str, body: &str) -> Result<(), String> {
    let begin = format!("<!-- {name}:begin");
    let end = format!("<!-- {name}:end -->");
    let (Some(b), Some(e)) = (doc.find(&begin), doc.find(&end)) else {
        return Err(format!("docs/PROTOCOL.md has no {begin} … {end} section"));
    };
    let start = b + doc[b..].find("-->\n").ok_or("unclosed begin marker")? + 4;
    if doc[start..e] == *body {
        return Ok(());
    }
    if update() {
        doc.replace_range(start..e, body);
        return Ok(());
    }
    Err(format!(
        "the {name} table in docs/PROTOCOL.md is out of date; run UPDATE=1 cargo test --test \
         vocabulary. Expected:\n{body}"
    ))
}

#[test]
fn the_apps_close_codes_are_the_servers() {
    let file = path("public/js/close-codes.js");
    let want = render_js();
    let have = std::fs::read_to_string(&file).unwrap_or_default();
    if have == want {
        return;
    }
    if update() {
        std::fs::write(&file, want).expect("write public/js/close-codes.js");
        return;
    }
    panic!(
        "public/js/close-codes.js differs from CloseReason::ALL; run UPDATE=1 cargo test --test \
         vocabulary. Expected:\n{want}"
    );
}

#[test]
fn protocol_md_lists_every_close_code_and_log_event() {
    let file = path("docs/PROTOCOL.md");
    let mut doc = std::fs::read_to_string(&file).expect("read docs/PROTOCOL.md");
    let before = doc.clone();
    let results = [
        section(&mut doc, "close-codes", &close_table()),
        section(&mut doc, "log-events", &log_table()),
    ];
    if doc != before {
        std::fs::write(&file, &doc).expect("write docs/PROTOCOL.md");
    }
    for r in results {
        r.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_renderings_name_every_variant() {
    assert_eq!(screaming_snake("NoKeepAlive"), "NO_KEEP_ALIVE");
    assert_eq!(screaming_snake("Left"), "LEFT");
    let js = render_js();
    // The names the browser app relies on.
    for line in [
        "  LEFT: 1000,",
        "  REPLACED: 4001,",
        "  UNSUPPORTED_VERSION: 4002,",
        "  ROOM_FULL: 4003,",
    ] {
        assert!(js.lines().any(|l| l == line), "{line} missing:\n{js}");
    }
    assert_eq!(close_table().lines().count(), 2 + CloseReason::ALL.len());
    assert_eq!(log_table().lines().count(), 2 + LogEvent::ALL.len());
    assert!(log_table().contains("| `grace_start` | A joined socket went away"));
}

/// `export const NAME = <integer>;` in a JS module, or `None`.
fn js_const(js: &str, name: &str) -> Option<u64> {
    let prefix = format!("export const {name} = ");
    js.lines()
        .find_map(|l| l.strip_prefix(&prefix)?.strip_suffix(';')?.parse().ok())
}

#[test]
fn the_apps_shared_limits_are_the_servers() {
    let js =
        std::fs::read_to_string(path("public/js/limits.js")).expect("read public/js/limits.js");
    let server = [
        ("NAME_MAX_CHARS", pinhole::protocol::NAME_MAX_CHARS as u64),
        ("ROOM_CODE_MAX_CHARS", pinhole::ids::ROOM_CODE_MAX as u64),
        (
            "DEFAULT_MAX_PEERS",
            pinhole::room::RoomConfig::default().max_peers as u64,
        ),
    ];
    for (name, value) in server {
        assert_eq!(
            js_const(&js, name),
            Some(value),
            "public/js/limits.js: {name} must equal the server's"
        );
    }
}
