//! What crosses from the room to its shell: the effects it asks for, and the two records it
//! hands over to be persisted (a socket's attachment, a roster entry).

use super::{ConnId, Millis};
use crate::ids::PeerId;
use crate::protocol::{CloseReason, Detail, LogEvent};
use serde::{Deserialize, Serialize};

/// What a socket carries across hibernation (kept far below the 2 KB attachment budget).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Accept time.
    #[serde(rename = "o")]
    pub opened_at: Millis,
    /// Last message time, refreshed at most every 15 s.
    #[serde(rename = "s")]
    pub seen: Millis,
    /// The peer this socket speaks for, once joined.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerId>,
}

/// A roster entry as stored under the `roster` key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerRecord {
    pub id: PeerId,
    pub name: String,
    /// Hex SHA-256 of the current resume token; the token itself is never stored.
    pub token_hash: String,
    /// `Some(deadline)` while the peer's socket is gone and it may still resume.
    pub grace_until: Option<Millis>,
    /// Sequence number for the next held message's storage key.
    pub next_seq: u64,
}

/// Something the shell must do, in order. The roster write ([`Effect::SaveRoster`]) may be
/// coalesced to one at the end of the batch; the alarm effects, when present, come last.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a text frame on the socket.
    Send { conn: ConnId, text: String },
    /// Close the socket with the reason's code and string.
    Close { conn: ConnId, reason: CloseReason },
    /// Replace the socket's attachment.
    Attach {
        conn: ConnId,
        attachment: Attachment,
    },
    /// Write [`super::Room::roster`] under the `roster` key (delete the key when it is empty).
    SaveRoster,
    /// Store a held message.
    PutHeld { key: String, text: String },
    /// Delete held messages.
    DeleteHeld { keys: Vec<String> },
    /// The last peer is gone: delete every stored key and the alarm.
    ClearStorage,
    /// Schedule the room's one alarm for this time, replacing the current one.
    SetAlarm(Millis),
    /// Delete the alarm.
    DeleteAlarm,
    /// Write a metadata-only log line for this room: the event and its fields.
    Log { event: LogEvent, detail: Detail },
}

impl Effect {
    /// Whether the effect writes stored data, so that the event commits anyway.
    pub(super) fn writes_storage(&self) -> bool {
        matches!(
            self,
            Effect::SaveRoster
                | Effect::PutHeld { .. }
                | Effect::DeleteHeld { .. }
                | Effect::ClearStorage
        )
    }
}
