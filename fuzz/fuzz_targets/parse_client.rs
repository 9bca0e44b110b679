//! Run with: make fuzz (or: cargo fuzz run --sanitizer none parse_client fuzz/seeds/parse_client)
//!
//! Any bytes, as a client text frame, through `protocol::parse_client`. Beyond "never panics",
//! whatever it accepts is re-checked against an independent reading of the same JSON (a plain
//! map of raw values), so a lenient parse is caught as well as a crash:
//! - accepted frames are JSON objects whose `type` names the message;
//! - `join`: `v` is 1, the name is what `clean_name` makes of the given string (trimmed, no
//!   control characters, at most 32 characters), the resume token is the given one or, when
//!   over 128 bytes, the empty (bad) token;
//! - `signal`: `to` is a well-formed peer id equal to the given string, `data` is the given
//!   value byte for byte, and it survives relaying (`ServerMessage::Signal`) byte for byte;
//! - every accepted message re-encoded canonically parses back to itself;
//! - refusals carry only `badMessage`, or `unsupportedVersion` for a `join` whose `v` is a
//!   whole number other than 1.
//!
//! The validators the parser relies on (`clean_name`, `PeerId::parse`) and the room code check
//! the Worker applies to URLs get the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pinhole::ids::{PeerId, RoomCode, ROOM_CODE_MAX};
use pinhole::protocol::{
    clean_name, parse_client, ClientMessage, ErrorCode, ServerMessage, NAME_MAX_CHARS,
    RESUME_TOKEN_MAX,
};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The frame as a plain JSON object: key → raw value, the last of duplicate keys winning.
type Fields<'a> = BTreeMap<String, &'a RawValue>;

fn string_field(fields: &Fields<'_>, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

fn check_name(name: &str) {
    assert!(!name.chars().any(char::is_control), "{name:?}");
    assert_eq!(name, name.trim());
    assert!(name.chars().count() <= NAME_MAX_CHARS);
    assert_eq!(
        clean_name(name).as_deref(),
        Ok(name),
        "clean_name is idempotent"
    );
}

fn check_accepted(text: &str, msg: &ClientMessage<'_>) {
    let fields: Fields<'_> =
        serde_json::from_str(text).unwrap_or_else(|_| panic!("accepted a non-object {text:?}"));
    let kind = string_field(&fields, "type").expect("accepted without a string type");
    match msg {
        ClientMessage::Join { name, resume } => {
            assert_eq!(kind, "join");
            let v = fields.get("v").expect("join without v").get();
            assert_eq!(serde_json::from_str::<u64>(v).ok(), Some(1), "v = {v}");
            check_name(name);
            match fields.get("name").map(|r| r.get()) {
                None | Some("null") => assert_eq!(name, ""),
                Some(_) => {
                    let given = string_field(&fields, "name").expect("name is a string");
                    assert_eq!(clean_name(&given).as_deref(), Ok(name.as_str()));
                }
            }
            match fields.get("resume").map(|r| r.get()) {
                None | Some("null") => assert_eq!(*resume, None),
                Some(_) => {
                    let given = string_field(&fields, "resume").expect("resume is a string");
                    let expect = if given.len() > RESUME_TOKEN_MAX {
                        ""
                    } else {
                        &given
                    };
                    assert_eq!(resume.as_deref(), Some(expect));
                }
            }
        }
        ClientMessage::Signal { to, data } => {
            assert_eq!(kind, "signal");
            assert_eq!(string_field(&fields, "to").as_deref(), Some(to.as_str()));
            assert_eq!(PeerId::parse(to.as_str()).as_ref(), Some(to));
            assert_eq!(fields.get("data").map(|r| r.get()), Some(data.get()));
            // What the recipient gets carries the same bytes and the server's `from`.
            let from = PeerId::from_random([0xfe; 8]);
            let relayed = ServerMessage::Signal { from: &from, data }.to_text();
            let out: Fields<'_> = serde_json::from_str(&relayed).expect("relayed frame is JSON");
            assert_eq!(out.len(), 3, "{relayed}");
            assert_eq!(string_field(&out, "type").as_deref(), Some("signal"));
            assert_eq!(string_field(&out, "from").as_deref(), Some(from.as_str()));
            assert_eq!(out.get("data").map(|r| r.get()), Some(data.get()));
        }
        ClientMessage::Leave => assert_eq!(kind, "leave"),
    }
}

/// The message as a well-behaved client would write it.
fn canonical(msg: &ClientMessage<'_>) -> String {
    match msg {
        ClientMessage::Join { name, resume } => {
            serde_json::json!({"type": "join", "v": 1, "name": name, "resume": resume}).to_string()
        }
        // Not through `json!`: that would re-read `data` into a `Value` and change its bytes.
        ClientMessage::Signal { to, data } => {
            format!(r#"{{"type":"signal","to":"{to}","data":{}}}"#, data.get())
        }
        ClientMessage::Leave => r#"{"type":"leave"}"#.to_owned(),
    }
}

fn check_refused(text: &str, code: ErrorCode) {
    match code {
        ErrorCode::BadMessage => {}
        ErrorCode::UnsupportedVersion => {
            let fields: Fields<'_> = serde_json::from_str(text).expect("refused version of JSON");
            assert_eq!(string_field(&fields, "type").as_deref(), Some("join"));
            let v = fields.get("v").expect("version error without v").get();
            assert!(
                serde_json::from_str::<u64>(v).is_ok_and(|v| v != 1),
                "v = {v}"
            );
        }
        other => panic!("parse_client refused {text:?} with {other:?}"),
    }
}

fn check_validators(text: &str) {
    match clean_name(text) {
        Ok(name) => check_name(&name),
        Err(e) => {
            assert_eq!(e.code, ErrorCode::BadMessage);
            let kept = text.chars().filter(|c| !c.is_control()).collect::<String>();
            assert!(kept.trim().chars().count() > NAME_MAX_CHARS);
        }
    }
    if let Some(id) = PeerId::parse(text) {
        assert_eq!(id.as_str(), text);
        assert!(text.len() == PeerId::LEN && text.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!text.bytes().any(|b| b.is_ascii_uppercase()));
    }
    if let Ok(code) = RoomCode::parse(text) {
        let s = code.as_str();
        assert!(!s.is_empty() && s.len() <= ROOM_CODE_MAX);
        assert!(s
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-')));
        assert_eq!(s, text.to_ascii_lowercase());
    }
}

fuzz_target!(|bytes: &[u8]| {
    // The Worker only ever hands text frames (valid UTF-8) to the parser.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    check_validators(text);
    match parse_client(text) {
        Ok(msg) => {
            check_accepted(text, &msg);
            let again = canonical(&msg);
            assert_eq!(parse_client(&again).as_ref(), Ok(&msg), "{again}");
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            check_refused(text, e.code);
        }
    }
});
