//! The room state machine, free of I/O: the Durable Object feeds it runtime events with the
//! current time and carries out the [`Effect`]s it returns, including when to set the alarm
//! and what to log. Everything it holds can be rebuilt with [`Room::restore`] from what
//! survives hibernation: the roster, held messages and alarm in storage ([`Stored`]), and each
//! open socket's attachment.
//!
//! This file holds the room's state and its entry points (one per runtime event); the
//! messages of the protocol are handled in `roster`, and the rules it applies each live in a
//! small module of their own: `rate` (the token bucket), `held` (the held-message queue),
//! `session` (resume tokens) and `liveness` (timeouts and the alarm).

mod effect;
mod held;
mod liveness;
mod rate;
mod roster;
mod session;

pub use effect::{Attachment, Effect, PeerRecord};
pub use held::HELD_PREFIX;

use crate::ids::PeerId;
use crate::protocol::{
    self, ClientMessage, CloseReason, Detail, ErrorCode, LogEvent, ProtocolError, ServerMessage,
};
use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch, as the shell reads it from `Date.now()`.
pub type Millis = u64;

/// A socket, named by the server at accept time (it is the socket's hibernation tag).
pub type ConnId = u64;

/// Storage key of the roster.
pub const ROSTER_KEY: &str = "roster";
/// Storage key of the alarm time as last scheduled (unix ms), so that a wake needs no
/// asynchronous `getAlarm()`. Written with every `SetAlarm`, deleted with every `DeleteAlarm`
/// and when the alarm fires; a missing key only costs one extra `setAlarm`.
pub const ALARM_KEY: &str = "alarm";

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
    /// How long a peer in grace keeps its place in a full room against a newcomer (it may
    /// still resume until `grace_ms` if nobody takes the place).
    pub grace_reserve_ms: Millis,
    /// Open sockets that have not joined, at most (twice `max_peers`); see
    /// [`Room::admits_socket`].
    pub max_unjoined: usize,
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
            grace_reserve_ms: 10_000,
            max_unjoined: 8,
        }
    }
}

/// What storage holds for a room, as read back at wake.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stored {
    /// The records under [`ROSTER_KEY`].
    pub roster: Vec<PeerRecord>,
    /// Every (key, frame text) under [`HELD_PREFIX`], in key order.
    pub held: Vec<(String, String)>,
    /// The alarm as scheduled.
    pub alarm: Option<Millis>,
}

/// One inbound frame.
pub enum Frame<'a> {
    Text(&'a str),
    Binary(usize),
}

/// How a socket ended without the room closing it, as the runtime reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disconnect {
    /// The client (or the network) closed it; `code` is the one the server answered with
    /// ([`protocol::close::reply_code`]).
    Closed { code: u16 },
    /// The runtime reported an error on it (the shell closes it with
    /// [`CloseReason::SocketError`]).
    Error,
}

struct Conn {
    attachment: Attachment,
    last_seen: Millis,
    bucket: rate::Bucket,
}

struct Peer {
    rec: PeerRecord,
    conn: Option<ConnId>,
    held: held::Held,
}

/// One room: its peers (connected or in grace), its sockets, and its alarm as scheduled.
pub struct Room {
    cfg: RoomConfig,
    peers: BTreeMap<PeerId, Peer>,
    conns: BTreeMap<ConnId, Conn>,
    alarm: Option<Millis>,
}

impl Room {
    /// An empty room with no alarm.
    pub fn new(cfg: RoomConfig) -> Room {
        Room {
            cfg,
            peers: BTreeMap::new(),
            conns: BTreeMap::new(),
            alarm: None,
        }
    }

    /// Rebuilds the room after a wake. Peers the roster calls connected but whose socket is
    /// gone (the runtime restarted, as on a deploy) enter their grace period now. The alarm is
    /// left as stored until the event that woke the room ends.
    pub fn restore(
        cfg: RoomConfig,
        stored: Stored,
        sockets: Vec<(ConnId, Attachment)>,
        now: Millis,
    ) -> (Room, Vec<Effect>) {
        let mut room = Room::new(cfg);
        room.alarm = stored.alarm;
        let mut fx = Vec::new();
        for rec in stored.roster {
            room.peers.insert(
                rec.id.clone(),
                Peer {
                    rec,
                    conn: None,
                    held: held::Held::default(),
                },
            );
        }
        for (key, text) in stored.held {
            match held::owner(&key).and_then(|id| room.peers.get_mut(&id)) {
                Some(peer) => peer.held.push(key, text),
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
                        room.close(conn, CloseReason::SessionLost, now, &mut fx);
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
                    bucket: rate::Bucket::full(&room.cfg, now),
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

    /// The peer a socket speaks for, if it has joined.
    pub fn peer_of(&self, conn: ConnId) -> Option<&PeerId> {
        self.conns
            .get(&conn)
            .and_then(|c| c.attachment.peer.as_ref())
    }

    /// The alarm as the room last scheduled it (or found it at restore).
    pub fn scheduled_alarm(&self) -> Option<Millis> {
        self.alarm
    }

    /// When the alarm must fire next, or `None` when the room is empty.
    pub fn next_alarm(&self) -> Option<Millis> {
        let conns = self
            .conns
            .values()
            .map(|c| liveness::deadline(&c.attachment, c.last_seen, &self.cfg));
        let graces = self.peers.values().filter_map(|p| p.rec.grace_until);
        conns.chain(graces).min()
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
                bucket: rate::Bucket::full(&self.cfg, now),
            },
        );
        self.finish(vec![Effect::Attach { conn, attachment }])
    }

    /// Whether the room takes another socket: not when `max_unjoined` sockets are already
    /// open without having joined, so that connections that never join cannot pile up. The
    /// shell asks before it accepts one and otherwise answers the upgrade with HTTP 503.
    pub fn admits_socket(&self) -> bool {
        let unjoined = self
            .conns
            .values()
            .filter(|c| c.attachment.peer.is_none())
            .count();
        unjoined < self.cfg.max_unjoined
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
        self.frame(conn, frame, now, rng, &mut fx);
        self.finish(fx)
    }

    fn frame(
        &mut self,
        conn: ConnId,
        frame: Frame<'_>,
        now: Millis,
        rng: &mut dyn Entropy,
        fx: &mut Vec<Effect>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            // A socket the room already let go of (closed for idleness, replaced): ignore.
            return;
        };
        c.last_seen = now;
        if liveness::seen_is_stale(&c.attachment, now) {
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
            return self.close(conn, CloseReason::TooLarge, now, fx);
        }

        match c.bucket.take(&self.cfg, now) {
            rate::Verdict::Pass => {}
            rate::Verdict::Drop => {
                fx.push(error(
                    conn,
                    ErrorCode::RateLimited,
                    "too many messages; this one was dropped",
                ));
                return;
            }
            rate::Verdict::Flood => return self.close(conn, CloseReason::Flood, now, fx),
        }

        let text = match frame {
            Frame::Text(t) => t,
            Frame::Binary(_) => {
                fx.push(error(
                    conn,
                    ErrorCode::BadMessage,
                    "binary frames are not part of the protocol",
                ));
                return;
            }
        };
        match protocol::parse_client(text) {
            Err(ProtocolError {
                code: ErrorCode::UnsupportedVersion,
                message,
            }) => {
                fx.push(error(conn, ErrorCode::UnsupportedVersion, message));
                self.close(conn, CloseReason::UnsupportedVersion, now, fx);
            }
            Err(e) => fx.push(error(conn, e.code, e.message)),
            Ok(ClientMessage::Join { name, resume }) => {
                self.join(conn, name, resume.as_deref(), now, rng, fx)
            }
            Ok(ClientMessage::Signal { to, data }) => self.signal(conn, &to, data, fx),
            Ok(ClientMessage::Leave) => self.leave(conn, fx),
        }
    }

    /// The socket closed (or failed) without `leave`. Its peer keeps its place for the grace
    /// period; the others are not told. Logged only if the room still held the socket: the
    /// close that answers one of the room's own was logged when the room sent it.
    pub fn on_close(&mut self, conn: ConnId, how: Disconnect, now: Millis) -> Vec<Effect> {
        let mut fx = Vec::new();
        if self.conns.contains_key(&conn) {
            let (event, code) = match how {
                Disconnect::Closed { code } => (LogEvent::SocketClosed, code),
                Disconnect::Error => (LogEvent::SocketError, CloseReason::SocketError.code()),
            };
            fx.push(Effect::Log {
                event,
                detail: Detail::Code(code),
            });
            self.drop_conn(conn, now, &mut fx);
        }
        self.finish(fx)
    }

    /// The alarm fired: close sockets that never joined or went silent, end expired grace
    /// periods, and schedule the next one. Feed keep-alive times with [`Room::note_seen`]
    /// first.
    pub fn on_alarm(&mut self, now: Millis) -> Vec<Effect> {
        // The alarm that fired is spent.
        self.alarm = None;
        let mut fx = Vec::new();
        let stale: Vec<(ConnId, bool)> = self
            .conns
            .iter()
            .filter(|(_, c)| now >= liveness::deadline(&c.attachment, c.last_seen, &self.cfg))
            .map(|(id, c)| (*id, c.attachment.peer.is_some()))
            .collect();
        for (conn, joined) in stale {
            let reason = if joined {
                CloseReason::NoKeepAlive
            } else {
                CloseReason::JoinTimeout
            };
            self.close(conn, reason, now, &mut fx);
        }
        self.expire_graces(now, &mut fx);
        self.finish(fx)
    }

    /// Ends an event: appends the alarm change its effects call for ([`liveness::reschedule`]).
    fn finish(&mut self, mut fx: Vec<Effect>) -> Vec<Effect> {
        if fx.contains(&Effect::ClearStorage) {
            // Clearing storage deletes the alarm with everything else.
            self.alarm = None;
        }
        let commits = fx.iter().any(Effect::writes_storage);
        match liveness::reschedule(self.next_alarm(), self.alarm, commits) {
            Some(liveness::Change::Set(at)) => {
                self.alarm = Some(at);
                fx.push(Effect::SetAlarm(at));
            }
            Some(liveness::Change::Delete) => {
                self.alarm = None;
                fx.push(Effect::DeleteAlarm);
            }
            None => {}
        }
        fx
    }

    /// The room closes a socket it holds: clears the peer from its attachment, closes it, logs
    /// why, and forgets it; a joined peer on it enters grace.
    fn close(&mut self, conn: ConnId, reason: CloseReason, now: Millis, fx: &mut Vec<Effect>) {
        self.disown(conn, fx);
        self.send_close(conn, reason, fx);
        let event = match reason {
            CloseReason::Flood => Some(LogEvent::FloodClosed),
            CloseReason::RoomFull => Some(LogEvent::RoomFull),
            CloseReason::NoKeepAlive => Some(LogEvent::IdleClosed),
            _ => None,
        };
        if let Some(event) = event {
            fx.push(self.log(event));
        }
        self.drop_conn(conn, now, fx);
    }

    /// The close frame and its log line. The 1000 after `leave` is not logged: the leave has a
    /// line of its own.
    fn send_close(&self, conn: ConnId, reason: CloseReason, fx: &mut Vec<Effect>) {
        fx.push(Effect::Close { conn, reason });
        if reason != CloseReason::Left {
            fx.push(Effect::Log {
                event: LogEvent::Close,
                detail: Detail::Code(reason.code()),
            });
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
                    fx.push(self.log(LogEvent::GraceStart));
                }
            }
        }
        if self.peers.is_empty() && self.conns.is_empty() {
            self.clear(fx);
        }
    }

    /// The last peer is gone: storage goes, and the log says so.
    fn clear(&self, fx: &mut Vec<Effect>) {
        fx.push(Effect::ClearStorage);
        fx.push(Effect::Log {
            event: LogEvent::RoomCleared,
            detail: Detail::None,
        });
    }

    /// A log line with the room's peer count.
    fn log(&self, event: LogEvent) -> Effect {
        Effect::Log {
            event,
            detail: Detail::Peers(self.peers.len()),
        }
    }
}

fn error(conn: ConnId, code: ErrorCode, message: &str) -> Effect {
    Effect::Send {
        conn,
        text: ServerMessage::Error { code, message }.to_text(),
    }
}
