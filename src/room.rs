//! The room state machine, free of I/O: the Durable Object feeds it runtime events with the
//! current time and carries out the [`Effect`]s it returns. Everything it holds can be rebuilt
//! with [`Room::restore`] from what survives hibernation: the roster and held messages in
//! storage, and each open socket's attachment.

use crate::ids::PeerId;
use crate::protocol::{
    self, close, ClientMessage, ErrorCode, PeerInfo, ProtocolError, ServerMessage,
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use subtle::ConstantTimeEq;

/// Milliseconds since the Unix epoch, as the shell reads it from `Date.now()`.
pub type Millis = u64;

/// A socket, named by the server at accept time (it is the socket's hibernation tag).
pub type ConnId = u64;

/// Source of randomness for ids and tokens (the shell uses `getrandom`, tests a counter).
pub trait Entropy {
    fn fill(&mut self, buf: &mut [u8]);
}

/// Tunables, read once from the Worker's vars (see `config`).
#[derive(Clone, Debug, PartialEq)]
pub struct RoomConfig {
    pub max_peers: usize,
    pub grace_ms: Millis,
    pub join_timeout_ms: Millis,
    pub idle_timeout_ms: Millis,
    /// Token bucket refill rate, messages per second.
    pub rate_per_sec: u32,
    pub rate_burst: u32,
    /// Dropped messages in one flood before the socket is closed with 1008.
    pub flood_strikes: u32,
    pub held_max_messages: usize,
    pub held_max_bytes: usize,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            max_peers: 4,
            grace_ms: 30_000,
            join_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            rate_per_sec: 20,
            rate_burst: 50,
            flood_strikes: 100,
            held_max_messages: 64,
            held_max_bytes: 256 * 1024,
        }
    }
}

/// How often a socket's attachment is refreshed with its last-seen time, so that liveness
/// survives an eviction without a write per message.
const SEEN_REFRESH_MS: Millis = 15_000;

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

/// Something the shell must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Send {
        conn: ConnId,
        text: String,
    },
    Close {
        conn: ConnId,
        code: u16,
        reason: &'static str,
    },
    /// Replace the socket's attachment.
    Attach {
        conn: ConnId,
        attachment: Attachment,
    },
    /// Write [`Room::roster`] under the `roster` key.
    SaveRoster,
    PutHeld {
        key: String,
        text: String,
    },
    DeleteHeld {
        keys: Vec<String>,
    },
    /// The last peer is gone: delete every stored key.
    ClearStorage,
    /// A metadata-only log line: an event name and the room's peer count.
    Log {
        event: &'static str,
        peers: usize,
    },
}

struct Conn {
    attachment: Attachment,
    last_seen: Millis,
    tokens: f64,
    refilled_at: Millis,
    strikes: u32,
}

struct Peer {
    rec: PeerRecord,
    conn: Option<ConnId>,
    /// (storage key, frame text), oldest first.
    held: VecDeque<(String, String)>,
    held_bytes: usize,
}

/// One inbound frame.
pub enum Frame<'a> {
    Text(&'a str),
    Binary(usize),
}

pub struct Room {
    cfg: RoomConfig,
    peers: BTreeMap<PeerId, Peer>,
    conns: BTreeMap<ConnId, Conn>,
}

fn token_hash(token: &str) -> String {
    crate::ids::hex(&Sha256::digest(token.as_bytes()))
}

fn held_key(peer: &PeerId, seq: u64) -> String {
    format!("held:{peer}:{seq:016}")
}

/// Storage key prefix of every held message.
pub const HELD_PREFIX: &str = "held:";
/// Storage key of the roster.
pub const ROSTER_KEY: &str = "roster";

impl Room {
    pub fn new(cfg: RoomConfig) -> Room {
        Room {
            cfg,
            peers: BTreeMap::new(),
            conns: BTreeMap::new(),
        }
    }

    /// Rebuilds the room after a wake. Peers the roster calls connected but whose socket is
    /// gone (the runtime restarted, as on a deploy) enter their grace period now.
    pub fn restore(
        cfg: RoomConfig,
        roster: Vec<PeerRecord>,
        held: Vec<(String, String)>,
        sockets: Vec<(ConnId, Attachment)>,
        now: Millis,
    ) -> (Room, Vec<Effect>) {
        let mut room = Room::new(cfg);
        let mut fx = Vec::new();
        for rec in roster {
            room.peers.insert(
                rec.id.clone(),
                Peer {
                    rec,
                    conn: None,
                    held: VecDeque::new(),
                    held_bytes: 0,
                },
            );
        }
        for (key, text) in held {
            let owner = key
                .strip_prefix(HELD_PREFIX)
                .and_then(|rest| rest.split(':').next())
                .and_then(PeerId::parse);
            match owner.and_then(|id| room.peers.get_mut(&id)) {
                Some(peer) => {
                    peer.held_bytes += text.len();
                    peer.held.push_back((key, text));
                }
                None => fx.push(Effect::DeleteHeld { keys: vec![key] }),
            }
        }
        for (conn, attachment) in sockets {
            if let Some(id) = &attachment.peer {
                match room.peers.get_mut(id) {
                    Some(peer) if peer.conn.is_none() => peer.conn = Some(conn),
                    _ => {
                        // Its record is gone (or another socket holds it): this socket can
                        // no longer speak for anyone. The client will rejoin.
                        fx.push(Effect::Close {
                            conn,
                            code: close::SESSION_LOST,
                            reason: "session lost",
                        });
                        continue;
                    }
                }
            }
            let last_seen = attachment.seen.max(attachment.opened_at);
            room.conns.insert(
                conn,
                Conn {
                    attachment,
                    last_seen,
                    tokens: f64::from(room.cfg.rate_burst),
                    refilled_at: now,
                    strikes: 0,
                },
            );
        }
        let mut roster_changed = false;
        for peer in room.peers.values_mut() {
            if peer.conn.is_none() && peer.rec.grace_until.is_none() {
                peer.rec.grace_until = Some(now + room.cfg.grace_ms);
                roster_changed = true;
            } else if peer.conn.is_some() && peer.rec.grace_until.is_some() {
                peer.rec.grace_until = None;
                roster_changed = true;
            }
        }
        if roster_changed {
            fx.push(Effect::SaveRoster);
        }
        (room, fx)
    }

    pub fn config(&self) -> &RoomConfig {
        &self.cfg
    }

    /// The records to persist under [`ROSTER_KEY`].
    pub fn roster(&self) -> Vec<PeerRecord> {
        self.peers.values().map(|p| p.rec.clone()).collect()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// Whether the room still holds this socket (it has not closed it or let it go).
    pub fn has_conn(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// The peer a socket speaks for, if it has joined.
    pub fn peer_of(&self, conn: ConnId) -> Option<&PeerId> {
        self.conns
            .get(&conn)
            .and_then(|c| c.attachment.peer.as_ref())
    }

    /// A socket was accepted.
    pub fn on_open(&mut self, conn: ConnId, now: Millis) -> Vec<Effect> {
        let attachment = Attachment {
            opened_at: now,
            seen: now,
            peer: None,
        };
        self.conns.insert(
            conn,
            Conn {
                attachment: attachment.clone(),
                last_seen: now,
                tokens: f64::from(self.cfg.rate_burst),
                refilled_at: now,
                strikes: 0,
            },
        );
        vec![Effect::Attach { conn, attachment }]
    }

    /// The runtime answered a keep-alive `ping` for this socket at `at` (read at alarm time).
    pub fn note_seen(&mut self, conn: ConnId, at: Millis) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_seen = c.last_seen.max(at);
        }
    }

    /// A frame arrived on a socket.
    pub fn on_frame(
        &mut self,
        conn: ConnId,
        frame: Frame<'_>,
        now: Millis,
        rng: &mut dyn Entropy,
    ) -> Vec<Effect> {
        let mut fx = Vec::new();
        let cfg = &self.cfg;
        let Some(c) = self.conns.get_mut(&conn) else {
            // A socket the room already let go of (closed for idleness, replaced): ignore.
            return fx;
        };
        c.last_seen = now;
        if now.saturating_sub(c.attachment.seen) >= SEEN_REFRESH_MS {
            c.attachment.seen = now;
            fx.push(Effect::Attach {
                conn,
                attachment: c.attachment.clone(),
            });
        }

        let len = match frame {
            Frame::Text(t) => t.len(),
            Frame::Binary(n) => n,
        };
        if len > protocol::MAX_FRAME_BYTES {
            fx.push(error(
                conn,
                ErrorCode::TooLarge,
                "frames are limited to 64 KiB",
            ));
            self.disown(conn, &mut fx);
            fx.push(Effect::Close {
                conn,
                code: close::TOO_LARGE,
                reason: "frame too large",
            });
            self.drop_conn(conn, now, &mut fx);
            return fx;
        }

        // Token bucket: refill by elapsed time, then take one.
        let elapsed = now.saturating_sub(c.refilled_at) as f64 / 1000.0;
        c.tokens =
            (c.tokens + elapsed * f64::from(cfg.rate_per_sec)).min(f64::from(cfg.rate_burst));
        c.refilled_at = now;
        if c.tokens < 1.0 {
            c.strikes += 1;
            if c.strikes >= cfg.flood_strikes {
                self.disown(conn, &mut fx);
                fx.push(Effect::Close {
                    conn,
                    code: close::POLICY,
                    reason: "message flood",
                });
                fx.push(Effect::Log {
                    event: "flood_closed",
                    peers: self.peers.len(),
                });
                self.drop_conn(conn, now, &mut fx);
            } else {
                fx.push(error(
                    conn,
                    ErrorCode::RateLimited,
                    "too many messages; this one was dropped",
                ));
            }
            return fx;
        }
        c.tokens -= 1.0;
        if c.tokens >= f64::from(cfg.rate_burst) - 1.0 {
            // The bucket was full again: the earlier burst is forgiven.
            c.strikes = 0;
        }

        let text = match frame {
            Frame::Text(t) => t,
            Frame::Binary(_) => {
                fx.push(error(
                    conn,
                    ErrorCode::BadMessage,
                    "binary frames are not part of the protocol",
                ));
                return fx;
            }
        };
        match protocol::parse_client(text) {
            Err(ProtocolError {
                code: ErrorCode::UnsupportedVersion,
                message,
            }) => {
                fx.push(error(conn, ErrorCode::UnsupportedVersion, message));
                self.disown(conn, &mut fx);
                fx.push(Effect::Close {
                    conn,
                    code: close::UNSUPPORTED_VERSION,
                    reason: "unsupported protocol version",
                });
                self.drop_conn(conn, now, &mut fx);
            }
            Err(e) => fx.push(error(conn, e.code, e.message)),
            Ok(ClientMessage::Join { name, resume }) => {
                self.join(conn, name, resume.as_deref(), now, rng, &mut fx)
            }
            Ok(ClientMessage::Signal { to, data }) => self.signal(conn, &to, data, &mut fx),
            Ok(ClientMessage::Leave) => self.leave(conn, &mut fx),
        }
        fx
    }

    fn join(
        &mut self,
        conn: ConnId,
        name: String,
        resume: Option<&str>,
        now: Millis,
        rng: &mut dyn Entropy,
        fx: &mut Vec<Effect>,
    ) {
        if self.peer_of(conn).is_some() {
            fx.push(error(
                conn,
                ErrorCode::BadMessage,
                "this socket has already joined",
            ));
            return;
        }
        // Alarms can fire late: a peer whose grace is over must neither resume nor hold a
        // place, whether or not the alarm has run yet.
        self.expire_graces(now, fx);
        if let Some(token) = resume {
            match self.verify_token(token) {
                Some(id) => return self.resume(conn, id, now, rng, fx),
                None => fx.push(error(
                    conn,
                    ErrorCode::ResumeFailed,
                    "resume token is invalid or expired; joining as a new peer",
                )),
            }
        }
        if self.peers.len() >= self.cfg.max_peers {
            fx.push(error(conn, ErrorCode::RoomFull, "this room is full"));
            fx.push(Effect::Close {
                conn,
                code: close::ROOM_FULL,
                reason: "room full",
            });
            fx.push(Effect::Log {
                event: "room_full",
                peers: self.peers.len(),
            });
            self.drop_conn(conn, now, fx);
            return;
        }
        let id = loop {
            let mut b = [0u8; 8];
            rng.fill(&mut b);
            let id = PeerId::from_random(b);
            if !self.peers.contains_key(&id) {
                break id;
            }
        };
        let token = mint_token(&id, rng);
        let rec = PeerRecord {
            id: id.clone(),
            name,
            token_hash: token_hash(&token),
            grace_until: None,
            next_seq: 0,
        };
        self.peers.insert(
            id.clone(),
            Peer {
                rec,
                conn: Some(conn),
                held: VecDeque::new(),
                held_bytes: 0,
            },
        );
        self.bind(conn, Some(id.clone()), fx);
        fx.push(Effect::SaveRoster);
        fx.push(Effect::Send {
            conn,
            text: self.welcome(&id, &token),
        });
        let peer = &self.peers[&id];
        let joined = ServerMessage::PeerJoined {
            id: &id,
            name: &peer.rec.name,
        }
        .to_text();
        for (other_id, other) in &self.peers {
            if *other_id != id {
                if let Some(c) = other.conn {
                    fx.push(Effect::Send {
                        conn: c,
                        text: joined.clone(),
                    });
                }
            }
        }
        fx.push(Effect::Log {
            event: "join",
            peers: self.peers.len(),
        });
    }

    fn resume(
        &mut self,
        conn: ConnId,
        id: PeerId,
        now: Millis,
        rng: &mut dyn Entropy,
        fx: &mut Vec<Effect>,
    ) {
        let token = mint_token(&id, rng);
        let old_conn = {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            peer.rec.token_hash = token_hash(&token);
            peer.rec.grace_until = None;
            peer.conn.replace(conn)
        };
        if let Some(old) = old_conn {
            // The client reconnected before the old socket was noticed as dead (a network
            // change leaves it half-open). The newest socket wins.
            self.disown(old, fx);
            fx.push(Effect::Close {
                conn: old,
                code: close::REPLACED,
                reason: "replaced by a newer connection",
            });
            self.conns.remove(&old);
        }
        self.bind(conn, Some(id.clone()), fx);
        fx.push(Effect::SaveRoster);
        fx.push(Effect::Send {
            conn,
            text: self.welcome(&id, &token),
        });
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.held.is_empty() {
            let mut keys = Vec::with_capacity(peer.held.len());
            for (key, text) in peer.held.drain(..) {
                fx.push(Effect::Send { conn, text });
                keys.push(key);
            }
            peer.held_bytes = 0;
            fx.push(Effect::DeleteHeld { keys });
        }
        let _ = now;
        fx.push(Effect::Log {
            event: "resume",
            peers: self.peers.len(),
        });
    }

    fn welcome(&self, id: &PeerId, token: &str) -> String {
        let peers = self
            .peers
            .values()
            .filter(|p| p.rec.id != *id)
            .map(|p| PeerInfo {
                id: &p.rec.id,
                name: &p.rec.name,
            })
            .collect();
        ServerMessage::Welcome {
            id,
            peers,
            max_peers: self.cfg.max_peers,
            resume_token: token,
        }
        .to_text()
    }

    /// Finds the peer a token belongs to. The secret part is compared in constant time.
    fn verify_token(&self, token: &str) -> Option<PeerId> {
        let (id, _) = token.split_once('.')?;
        let id = PeerId::parse(id)?;
        let peer = self.peers.get(&id)?;
        let given = token_hash(token);
        bool::from(given.as_bytes().ct_eq(peer.rec.token_hash.as_bytes())).then_some(id)
    }

    fn signal(
        &mut self,
        conn: ConnId,
        to: &PeerId,
        data: &serde_json::value::RawValue,
        fx: &mut Vec<Effect>,
    ) {
        let Some(from) = self.peer_of(conn).cloned() else {
            fx.push(error(conn, ErrorCode::NotJoined, "send join first"));
            return;
        };
        if from == *to {
            fx.push(error(conn, ErrorCode::BadMessage, "cannot signal yourself"));
            return;
        }
        let text = ServerMessage::Signal { from: &from, data }.to_text();
        let (max_msgs, max_bytes) = (self.cfg.held_max_messages, self.cfg.held_max_bytes);
        let Some(target) = self.peers.get_mut(to) else {
            fx.push(error(
                conn,
                ErrorCode::UnknownPeer,
                "no such peer in this room",
            ));
            return;
        };
        match target.conn {
            Some(c) => fx.push(Effect::Send { conn: c, text }),
            None => {
                if target.held.len() >= max_msgs || target.held_bytes + text.len() > max_bytes {
                    fx.push(error(
                        conn,
                        ErrorCode::PeerUnavailable,
                        "peer is reconnecting and its queue is full",
                    ));
                    return;
                }
                let key = held_key(to, target.rec.next_seq);
                target.rec.next_seq += 1;
                target.held_bytes += text.len();
                target.held.push_back((key.clone(), text.clone()));
                fx.push(Effect::PutHeld { key, text });
                fx.push(Effect::SaveRoster);
            }
        }
    }

    fn leave(&mut self, conn: ConnId, fx: &mut Vec<Effect>) {
        let Some(id) = self.peer_of(conn).cloned() else {
            fx.push(error(conn, ErrorCode::NotJoined, "send join first"));
            return;
        };
        fx.push(Effect::Close {
            conn,
            code: close::NORMAL,
            reason: "left",
        });
        self.conns.remove(&conn);
        self.remove_peer(&id, "leave", fx);
    }

    /// The socket closed (or errored) without `leave`. Its peer keeps its place for the grace
    /// period; the others are not told.
    pub fn on_close(&mut self, conn: ConnId, now: Millis) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.conns.contains_key(&conn) {
            self.drop_conn(conn, now, &mut fx);
        }
        fx
    }

    /// Forgets a socket; a joined peer on it enters grace.
    fn drop_conn(&mut self, conn: ConnId, now: Millis, fx: &mut Vec<Effect>) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(id) = c.attachment.peer {
            if let Some(peer) = self.peers.get_mut(&id) {
                if peer.conn == Some(conn) {
                    peer.conn = None;
                    peer.rec.grace_until = Some(now + self.cfg.grace_ms);
                    fx.push(Effect::SaveRoster);
                    fx.push(Effect::Log {
                        event: "grace_start",
                        peers: self.peers.len(),
                    });
                }
            }
        }
        if self.peers.is_empty() && self.conns.is_empty() {
            fx.push(Effect::ClearStorage);
        }
    }

    fn remove_peer(&mut self, id: &PeerId, event: &'static str, fx: &mut Vec<Effect>) {
        let Some(peer) = self.peers.remove(id) else {
            return;
        };
        if let Some(c) = peer.conn {
            self.conns.remove(&c);
        }
        let left = ServerMessage::PeerLeft { id }.to_text();
        for other in self.peers.values() {
            if let Some(c) = other.conn {
                fx.push(Effect::Send {
                    conn: c,
                    text: left.clone(),
                });
            }
        }
        fx.push(Effect::Log {
            event,
            peers: self.peers.len(),
        });
        if self.peers.is_empty() {
            fx.push(Effect::ClearStorage);
        } else {
            if !peer.held.is_empty() {
                fx.push(Effect::DeleteHeld {
                    keys: peer.held.into_iter().map(|(k, _)| k).collect(),
                });
            }
            fx.push(Effect::SaveRoster);
        }
    }

    /// Before the room closes a joined socket: clear the peer from its attachment while the
    /// socket is still open. A half-open socket never answers the close, so it stays CLOSING
    /// and `getWebSockets()` keeps listing it; after an eviction it must not speak for its
    /// peer again (reviving a ghost, or taking the session from the socket that resumed it).
    /// The in-memory attachment keeps the peer: `drop_conn` still needs it to start grace.
    fn disown(&self, conn: ConnId, fx: &mut Vec<Effect>) {
        if let Some(c) = self.conns.get(&conn) {
            if c.attachment.peer.is_some() {
                fx.push(Effect::Attach {
                    conn,
                    attachment: Attachment {
                        peer: None,
                        ..c.attachment.clone()
                    },
                });
            }
        }
    }

    fn bind(&mut self, conn: ConnId, peer: Option<PeerId>, fx: &mut Vec<Effect>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.attachment.peer = peer;
            fx.push(Effect::Attach {
                conn,
                attachment: c.attachment.clone(),
            });
        }
    }

    /// The alarm fired: close sockets that never joined or went silent, end expired grace
    /// periods. Feed keep-alive times with [`Room::note_seen`] first.
    pub fn on_alarm(&mut self, now: Millis) -> Vec<Effect> {
        let mut fx = Vec::new();
        let cfg = self.cfg.clone();
        let stale: Vec<(ConnId, bool)> = self
            .conns
            .iter()
            .filter_map(|(id, c)| {
                let joined = c.attachment.peer.is_some();
                let overdue = if joined {
                    now >= c.last_seen + cfg.idle_timeout_ms
                } else {
                    now >= c.attachment.opened_at + cfg.join_timeout_ms
                };
                overdue.then_some((*id, joined))
            })
            .collect();
        for (conn, joined) in stale {
            if joined {
                self.disown(conn, &mut fx);
                fx.push(Effect::Close {
                    conn,
                    code: close::GOING_AWAY,
                    reason: "no keep-alive",
                });
                fx.push(Effect::Log {
                    event: "idle_closed",
                    peers: self.peers.len(),
                });
            } else {
                fx.push(Effect::Close {
                    conn,
                    code: close::JOIN_TIMEOUT,
                    reason: "join timeout",
                });
            }
            self.drop_conn(conn, now, &mut fx);
        }
        self.expire_graces(now, &mut fx);
        fx
    }

    /// Ends every grace period that is over: `peerLeft` to the others, records deleted.
    fn expire_graces(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let expired: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.conn.is_none() && p.rec.grace_until.is_some_and(|t| now >= t))
            .map(|p| p.rec.id.clone())
            .collect();
        for id in expired {
            self.remove_peer(&id, "grace_expired", fx);
        }
    }

    /// When the alarm must fire next, or `None` when the room is empty.
    pub fn next_alarm(&self) -> Option<Millis> {
        let conns = self.conns.values().map(|c| match c.attachment.peer {
            Some(_) => c.last_seen + self.cfg.idle_timeout_ms,
            None => c.attachment.opened_at + self.cfg.join_timeout_ms,
        });
        let graces = self.peers.values().filter_map(|p| p.rec.grace_until);
        conns.chain(graces).min()
    }
}

fn error(conn: ConnId, code: ErrorCode, message: &str) -> Effect {
    Effect::Send {
        conn,
        text: ServerMessage::Error { code, message }.to_text(),
    }
}

/// `<peer id>.<128 random bits, base64url>`: the id part finds the record, the rest proves it.
fn mint_token(id: &PeerId, rng: &mut dyn Entropy) -> String {
    let mut secret = [0u8; 16];
    rng.fill(&mut secret);
    format!(
        "{id}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    )
}
