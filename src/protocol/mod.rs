//! Signaling protocol v1: the JSON text frames exchanged with browsers and third-party
//! clients. Names here are the contract — fields may be added, never renamed.
//! `docs/PROTOCOL.md` documents every message, error and close code. The close codes
//! ([`close`]) and log event names ([`log`]) are contracts too, each defined once.

use crate::ids::PeerId;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

pub mod close;
pub mod log;

pub use close::CloseReason;
pub use log::{Detail, LogEvent};

/// The protocol version this server speaks.
pub const VERSION: u64 = 1;
/// Largest inbound frame, in bytes; bigger frames get `tooLarge` and close 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Longest display name, in characters, after trimming and removing control characters.
pub const NAME_MAX_CHARS: usize = 32;
/// Longest resume token accepted before it is even looked at.
pub const RESUME_TOKEN_MAX: usize = 128;

/// Machine-readable error codes carried by [`ServerMessage::Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// Not JSON, not an object, unknown `type`, missing or invalid field, binary frame,
    /// or a message that makes no sense in this state (join twice, signal to self).
    BadMessage,
    /// `signal` or `leave` before `join`.
    NotJoined,
    /// The room is at capacity; the server closes with 4003.
    RoomFull,
    /// `signal` addressed to a peer id that is not in the room.
    UnknownPeer,
    /// Over the per-socket message rate; the message was dropped.
    RateLimited,
    /// Frame over 64 KiB; the server closes with 1009.
    TooLarge,
    /// `join` with a `v` other than 1; the server closes with 4002.
    UnsupportedVersion,
    /// The resume token was bad or expired; the join proceeds as a new peer.
    ResumeFailed,
    /// The target is reconnecting and its queue of held messages is full; dropped.
    PeerUnavailable,
}

/// A message a client sends, parsed and validated.
#[derive(Debug)]
pub enum ClientMessage<'a> {
    /// Sent by a client first, within the join timeout: enter the room, or resume a session.
    Join {
        name: String,
        resume: Option<Cow<'a, str>>,
    },
    /// Sent by a joined client to relay `data` opaquely to one other peer.
    Signal { to: PeerId, data: &'a RawValue },
    /// Sent by a joined client that hangs up.
    Leave,
}

impl PartialEq for ClientMessage<'_> {
    fn eq(&self, other: &Self) -> bool {
        use ClientMessage::*;
        match (self, other) {
            (Join { name: a, resume: b }, Join { name: c, resume: d }) => a == c && b == d,
            (Signal { to: a, data: b }, Signal { to: c, data: d }) => a == c && b.get() == d.get(),
            (Leave, Leave) => true,
            _ => false,
        }
    }
}

/// Why a frame was refused. `message` is safe to send back: it never echoes client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: &'static str,
}

impl ProtocolError {
    const fn bad(message: &'static str) -> ProtocolError {
        ProtocolError {
            code: ErrorCode::BadMessage,
            message,
        }
    }
}

/// Every field is taken raw first so that each can be checked with its own clear error, and so
/// that `data` is relayed byte for byte (serde cannot borrow a `RawValue` through an internally
/// tagged enum). Unknown fields are ignored for forward compatibility.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    v: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    resume: Option<&'a RawValue>,
    #[serde(borrow, default)]
    to: Option<&'a RawValue>,
    // `"data": null` is valid data, so presence is tracked apart from the value.
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Parses one text frame. The caller has already checked its size.
pub fn parse_client(text: &str) -> Result<ClientMessage<'_>, ProtocolError> {
    const NOT_AN_OBJECT: ProtocolError =
        ProtocolError::bad("not a JSON object with the fields this type needs");
    // A derived struct also deserialises from a JSON array of its fields in declaration order,
    // so `["leave"]` would be a leave (found by fuzz/fuzz_targets/parse_client.rs). Frames are
    // objects only: anything not starting with `{` after JSON whitespace is refused here.
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(NOT_AN_OBJECT);
    }
    let wire: Wire<'_> = serde_json::from_str(text).map_err(|_| NOT_AN_OBJECT)?;
    let kind = wire.kind.ok_or(ProtocolError::bad("missing \"type\""))?;
    match kind.as_ref() {
        "join" => {
            let v = wire.v.ok_or(ProtocolError::bad("join needs \"v\": 1"))?;
            match serde_json::from_str::<u64>(v.get()) {
                Ok(VERSION) => {}
                Ok(_) => {
                    return Err(ProtocolError {
                        code: ErrorCode::UnsupportedVersion,
                        message: "this server speaks protocol version 1",
                    })
                }
                Err(_) => return Err(ProtocolError::bad("\"v\" must be a number")),
            }
            let name = match wire.name {
                None => String::new(),
                Some(raw) if raw.get() == "null" => String::new(),
                Some(raw) => {
                    let s: Cow<'_, str> = serde_json::from_str(raw.get())
                        .map_err(|_| ProtocolError::bad("\"name\" must be a string"))?;
                    clean_name(&s)?
                }
            };
            let resume = match wire.resume {
                None => None,
                Some(raw) if raw.get() == "null" => None,
                Some(raw) => {
                    let s: Cow<'_, str> = serde_json::from_str(raw.get())
                        .map_err(|_| ProtocolError::bad("\"resume\" must be a string"))?;
                    if s.len() > RESUME_TOKEN_MAX {
                        // Not a token this server minted; treated like any bad token.
                        Some(Cow::Borrowed(""))
                    } else {
                        Some(s)
                    }
                }
            };
            Ok(ClientMessage::Join { name, resume })
        }
        "signal" => {
            let to = wire.to.ok_or(ProtocolError::bad("signal needs \"to\""))?;
            let to: Cow<'_, str> = serde_json::from_str(to.get())
                .map_err(|_| ProtocolError::bad("\"to\" must be a string"))?;
            let to = PeerId::parse(&to).ok_or(ProtocolError::bad("\"to\" is not a peer id"))?;
            let data = wire
                .data
                .ok_or(ProtocolError::bad("signal needs \"data\""))?;
            Ok(ClientMessage::Signal { to, data })
        }
        "leave" => Ok(ClientMessage::Leave),
        _ => Err(ProtocolError::bad("unknown message type")),
    }
}

/// Invisible format characters (Unicode Cf) that let a name pass for another or reorder the
/// text around it: bidirectional overrides and isolates, zero-width spaces and joiners, the
/// byte-order mark, soft hyphen, interlinear annotation and tag characters, and the rest of Cf.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{600}'..='\u{605}' | '\u{61C}' | '\u{6DD}' | '\u{70F}' | '\u{890}'..='\u{891}'
        | '\u{8E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// Removes control characters and invisible format characters, trims, and enforces the length
/// limit (in characters). A zero-width joiner survives only between two characters that are
/// not letters or digits, where it builds an emoji (👩‍💻) rather than hiding inside a word.
pub fn clean_name(raw: &str) -> Result<String, ProtocolError> {
    const ZWJ: char = '\u{200D}';
    let chars: Vec<char> = raw.chars().filter(|c| !c.is_control()).collect();
    let symbol = |c: Option<&char>| c.is_some_and(|c| !c.is_alphanumeric() && !is_format(*c));
    let cleaned: String = chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| {
            if c == ZWJ {
                symbol(i.checked_sub(1).and_then(|p| chars.get(p))) && symbol(chars.get(i + 1))
            } else {
                !is_format(c)
            }
        })
        .map(|(_, &c)| c)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.chars().count() > NAME_MAX_CHARS {
        return Err(ProtocolError::bad("\"name\" is longer than 32 characters"));
    }
    Ok(trimmed.to_owned())
}

/// One participant as listed in `welcome`.
#[derive(Debug, Serialize)]
pub struct PeerInfo<'a> {
    pub id: &'a PeerId,
    pub name: &'a str,
}

/// A message the server sends. Serialised at once into a text frame.
#[derive(Debug, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage<'a> {
    /// Sent to a client right after its `join` (always the first server message): its id,
    /// who else is in the room, the capacity and a fresh resume token.
    Welcome {
        id: &'a PeerId,
        peers: Vec<PeerInfo<'a>>,
        max_peers: usize,
        resume_token: &'a str,
    },
    /// Sent to the others when a new peer joins (not when a peer resumes).
    PeerJoined { id: &'a PeerId, name: &'a str },
    /// Sent to the others when a peer leaves or its resume grace period ends.
    PeerLeft { id: &'a PeerId },
    /// A relayed signal; `from` is stamped by the server from the sender's socket.
    Signal {
        from: &'a PeerId,
        data: &'a RawValue,
    },
    /// Something the client sent was refused.
    Error { code: ErrorCode, message: &'a str },
}

impl ServerMessage<'_> {
    /// The frame text. Serialising these types cannot fail (no maps with non-string keys, no
    /// floats), so a failure is a bug; it degrades to an error frame rather than a panic.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"badMessage","message":"internal encoding error"}"#.to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> PeerId {
        PeerId::parse(s).unwrap()
    }

    // Golden JSON, client → server: these exact strings are what browsers send.
    #[test]
    fn golden_client_messages() {
        assert_eq!(
            parse_client(r#"{"type":"join","v":1,"name":"Ana","resume":"abc.def"}"#).unwrap(),
            ClientMessage::Join {
                name: "Ana".into(),
                resume: Some("abc.def".into())
            }
        );
        assert_eq!(
            parse_client(r#"{"type":"join","v":1}"#).unwrap(),
            ClientMessage::Join {
                name: String::new(),
                resume: None
            }
        );
        let text =
            r#"{"type":"signal","to":"0123456789abcdef","data":{"sdp":"v=0\r\n","type":"offer"}}"#;
        match parse_client(text).unwrap() {
            ClientMessage::Signal { to, data } => {
                assert_eq!(to, pid("0123456789abcdef"));
                assert_eq!(data.get(), r#"{"sdp":"v=0\r\n","type":"offer"}"#);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_client(r#"{"type":"leave"}"#).unwrap(),
            ClientMessage::Leave
        );
    }

    #[test]
    fn signal_data_is_relayed_byte_for_byte_including_null_and_odd_numbers() {
        for data in ["null", "1.0e3", "[1,  2]", "\"x\"", "{\"b\":1,\"a\":2}"] {
            let text = format!(r#"{{"type":"signal","to":"0123456789abcdef","data":{data}}}"#);
            match parse_client(&text).unwrap() {
                ClientMessage::Signal { data: d, .. } => assert_eq!(d.get(), data),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn unknown_fields_are_ignored_and_escapes_in_type_work() {
        assert_eq!(
            parse_client(r#"{"type":"le\u0061ve","extra":[1,2,3]}"#).unwrap(),
            ClientMessage::Leave
        );
        // A client-supplied "from" is ignored: the server stamps its own.
        assert!(matches!(
            parse_client(
                r#"{"type":"signal","from":"ffffffffffffffff","to":"0123456789abcdef","data":1}"#
            ),
            Ok(ClientMessage::Signal { .. })
        ));
    }

    #[test]
    fn bad_messages_get_bad_message() {
        let cases = [
            "",
            "ping!",
            "[]",
            "42",
            "null",
            r#"{"type":1}"#,
            r#"{}"#,
            r#"{"type":"shout"}"#,
            r#"{"type":"join"}"#,
            r#"{"type":"join","v":"1"}"#,
            r#"{"type":"join","v":1,"name":5}"#,
            r#"{"type":"join","v":1,"resume":7}"#,
            r#"{"type":"signal","data":1}"#,
            r#"{"type":"signal","to":"nope","data":1}"#,
            r#"{"type":"signal","to":5,"data":1}"#,
            r#"{"type":"signal","to":"0123456789abcdef"}"#,
            r#"{"type":"leave","type":"leave"}"#,
            r#"{"type":"leave""#,
        ];
        for text in cases {
            let err = parse_client(text).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadMessage, "{text:?}");
        }
    }

    #[test]
    fn arrays_of_the_fields_are_not_messages() {
        // Regression: serde accepted these as a struct's fields in order (fuzzing found the
        // second one). They were a leave, a join and a signal; now they are bad messages.
        for text in [
            r#"["leave"]"#,
            "[\r\"leave\"\r]\n\n\n",
            r#"["join",1]"#,
            r#"["join",2]"#,
            r#"["signal",null,null,null,"0123456789abcdef",1]"#,
        ] {
            assert_eq!(
                parse_client(text).unwrap_err(),
                ProtocolError::bad("not a JSON object with the fields this type needs"),
                "{text:?}"
            );
        }
        // JSON whitespace before the object is still fine.
        assert_eq!(
            parse_client(" \t\r\n{\"type\":\"leave\"}").unwrap(),
            ClientMessage::Leave
        );
    }

    #[test]
    fn deep_nesting_neither_overflows_the_stack_nor_changes_the_data() {
        // serde_json skips a raw value iteratively, so depth costs no stack; the frame size
        // limit bounds the work. The payload stays opaque and intact.
        let nested = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
        let text = format!(r#"{{"type":"signal","to":"0123456789abcdef","data":{nested}}}"#);
        match parse_client(&text).unwrap() {
            ClientMessage::Signal { data, .. } => assert_eq!(data.get(), nested),
            other => panic!("{other:?}"),
        }
        // Unbalanced nesting is still refused.
        let broken = format!(
            r#"{{"type":"signal","to":"0123456789abcdef","data":{}}}"#,
            "[".repeat(30_000)
        );
        assert_eq!(
            parse_client(&broken).unwrap_err().code,
            ErrorCode::BadMessage
        );
    }

    #[test]
    fn versions_other_than_one_are_unsupported() {
        for v in ["0", "2", "99"] {
            let text = format!(r#"{{"type":"join","v":{v}}}"#);
            assert_eq!(
                parse_client(&text).unwrap_err().code,
                ErrorCode::UnsupportedVersion
            );
        }
    }

    #[test]
    fn names_are_cleaned_and_limited() {
        assert_eq!(clean_name("  Ana \u{7}\n ").unwrap(), "Ana");
        assert_eq!(clean_name("Zoë 😀").unwrap(), "Zoë 😀");
        assert_eq!(clean_name(&"é".repeat(32)).unwrap().chars().count(), 32);
        assert!(clean_name(&"é".repeat(33)).is_err());
        assert!(clean_name(&"x".repeat(300)).is_err());
        assert_eq!(clean_name("\u{0}\u{1b}[31m").unwrap(), "[31m");
        // Bidi overrides, isolates, zero-width characters, BOM, tags: gone.
        assert_eq!(clean_name("Ana\u{202E}gpj.exe").unwrap(), "Anagpj.exe");
        assert_eq!(
            clean_name("\u{2067}Bo\u{2069}\u{200B}\u{FEFF}").unwrap(),
            "Bo"
        );
        assert_eq!(clean_name("A\u{200D}na\u{200C}\u{E0041}").unwrap(), "Ana");
        assert_eq!(clean_name("\u{200B} \u{200B}").unwrap(), "");
        // A joiner that builds an emoji stays; one at the edges or beside a letter does not.
        assert_eq!(clean_name("👩\u{200D}💻 Ana").unwrap(), "👩\u{200D}💻 Ana");
        assert_eq!(clean_name("\u{200D}👩\u{200D}").unwrap(), "👩");
        let over = format!(r#"{{"type":"join","v":1,"name":"{}"}}"#, "n".repeat(300));
        assert_eq!(parse_client(&over).unwrap_err().code, ErrorCode::BadMessage);
    }

    #[test]
    fn oversized_resume_tokens_become_an_empty_bad_token() {
        let text = format!(r#"{{"type":"join","v":1,"resume":"{}"}}"#, "t".repeat(500));
        assert_eq!(
            parse_client(&text).unwrap(),
            ClientMessage::Join {
                name: String::new(),
                resume: Some("".into())
            }
        );
    }

    // Golden JSON, server → client.
    #[test]
    fn golden_server_messages() {
        let a = pid("00000000000000aa");
        let b = pid("00000000000000bb");
        assert_eq!(
            ServerMessage::Welcome {
                id: &a,
                peers: vec![PeerInfo { id: &b, name: "Bo" }],
                max_peers: 4,
                resume_token: "00000000000000aa.tok",
            }
            .to_text(),
            r#"{"type":"welcome","id":"00000000000000aa","peers":[{"id":"00000000000000bb","name":"Bo"}],"maxPeers":4,"resumeToken":"00000000000000aa.tok"}"#
        );
        assert_eq!(
            ServerMessage::PeerJoined { id: &b, name: "" }.to_text(),
            r#"{"type":"peerJoined","id":"00000000000000bb","name":""}"#
        );
        assert_eq!(
            ServerMessage::PeerLeft { id: &b }.to_text(),
            r#"{"type":"peerLeft","id":"00000000000000bb"}"#
        );
        let data: &RawValue = serde_json::from_str(r#"{"candidate":"c", "n" : 1.50}"#).unwrap();
        assert_eq!(
            ServerMessage::Signal { from: &a, data }.to_text(),
            r#"{"type":"signal","from":"00000000000000aa","data":{"candidate":"c", "n" : 1.50}}"#
        );
        let codes = [
            (ErrorCode::BadMessage, "badMessage"),
            (ErrorCode::NotJoined, "notJoined"),
            (ErrorCode::RoomFull, "roomFull"),
            (ErrorCode::UnknownPeer, "unknownPeer"),
            (ErrorCode::RateLimited, "rateLimited"),
            (ErrorCode::TooLarge, "tooLarge"),
            (ErrorCode::UnsupportedVersion, "unsupportedVersion"),
            (ErrorCode::ResumeFailed, "resumeFailed"),
            (ErrorCode::PeerUnavailable, "peerUnavailable"),
        ];
        for (code, name) in codes {
            assert_eq!(
                ServerMessage::Error { code, message: "m" }.to_text(),
                format!(r#"{{"type":"error","code":"{name}","message":"m"}}"#)
            );
        }
    }
}
