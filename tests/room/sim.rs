//! The runtime around one room, simulated the way `src/edge/room.rs` carries out the room's
//! effects: sockets and their latest attachments (with `linger`, a socket the room closed stays
//! listed, CLOSING, as a half-open one does), a key-value storage with the roster as JSON under
//! `roster` and one key per held message, the alarm, and the log. It can evict the room at any
//! point, rebuilding it with `Room::restore` from what survives hibernation.
//!
//! One simulator for two drivers: the scenario and property tests (`tests/room/`) and the fuzz
//! target (`fuzz/fuzz_targets/room.rs`, which includes this file with `#[path]`). Each uses part
//! of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use pinhole::ids::PeerId;
use pinhole::protocol::{CloseReason, Detail, LogEvent};
use pinhole::room::{
    Attachment, ConnId, Disconnect, Effect, Entropy, Frame, Millis, PeerRecord, Room, RoomConfig,
    Stored, HELD_PREFIX, ROSTER_KEY,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The simulated clock's start.
pub const T0: Millis = 1_700_000_000_000;

/// Deterministic entropy: every `fill` draws the next counter value, so ids and tokens are
/// distinct and repeatable. Rooms seeded differently draw from different ranges, so their ids
/// never collide by accident (a collision would hide cross-room leaks). `collide` makes the
/// next 8-byte draw (a peer id) repeat a given id, which the room must skip.
pub struct Counter {
    pub n: u64,
    pub collide: Option<[u8; 8]>,
}

impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) {
        if buf.len() == 8 {
            if let Some(id) = self.collide.take() {
                buf.copy_from_slice(&id);
                return;
            }
        }
        self.n += 1;
        let bytes = self.n.to_be_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = bytes[i % 8] ^ (i / 8) as u8;
        }
    }
}

/// A joined peer, as its welcome named it.
pub struct Peer {
    pub conn: ConnId,
    pub id: String,
    pub token: String,
}

/// One room plus the runtime around it.
pub struct Sim {
    pub room: Room,
    pub cfg: RoomConfig,
    /// Names the room in assertion messages.
    pub seed: u64,
    pub now: Millis,
    pub rng: Counter,
    pub next_conn: ConnId,
    /// Every socket ever opened here, in order.
    pub opened: Vec<ConnId>,
    /// Sockets the runtime holds open, with their latest attachment.
    pub live: BTreeMap<ConnId, Attachment>,
    /// When set, a socket the room closes stays listed by the runtime (CLOSING: a half-open
    /// peer never answers the close), with its last attachment, until an eviction lists it.
    pub linger: bool,
    pub lingering: BTreeMap<ConnId, Attachment>,
    /// Sockets the runtime no longer lists.
    pub gone: BTreeSet<ConnId>,
    /// Raw frames each socket has received and not yet taken.
    pub inbox: BTreeMap<ConnId, Vec<String>>,
    /// Why the room closed each socket it closed (the latest, if more than once).
    pub closes: BTreeMap<ConnId, CloseReason>,
    /// The last peer each socket spoke for, and the peer it spoke for when the room closed it.
    pub bound: BTreeMap<ConnId, PeerId>,
    pub closed_for: BTreeMap<ConnId, PeerId>,
    pub storage: BTreeMap<String, String>,
    /// The alarm as scheduled.
    pub alarm: Option<Millis>,
    /// Every log line, in order.
    pub log: Vec<(LogEvent, Detail)>,
    /// Every `Send` of the last call, in order.
    pub last_sends: Vec<(ConnId, String)>,
    /// Every effect of the last call.
    pub last_fx: Vec<Effect>,
    /// Whether a room event has ended since the last restore: the alarm rule holds at the end
    /// of an event (a restore leaves the stored alarm for the event that woke the room).
    pub settled: bool,
}

impl Sim {
    pub fn new(cfg: RoomConfig) -> Sim {
        Sim::seeded(cfg, 0)
    }

    pub fn seeded(cfg: RoomConfig, seed: u64) -> Sim {
        Sim {
            room: Room::new(cfg.clone()),
            cfg,
            seed,
            now: T0,
            rng: Counter {
                n: seed << 32,
                collide: None,
            },
            next_conn: (seed << 20) + 1,
            opened: Vec::new(),
            live: BTreeMap::new(),
            linger: false,
            lingering: BTreeMap::new(),
            gone: BTreeSet::new(),
            inbox: BTreeMap::new(),
            closes: BTreeMap::new(),
            bound: BTreeMap::new(),
            closed_for: BTreeMap::new(),
            storage: BTreeMap::new(),
            alarm: None,
            log: Vec::new(),
            last_sends: Vec::new(),
            last_fx: Vec::new(),
            settled: true,
        }
    }

    /// Applies effects in order, as the shell does. Every socket effect must target a socket
    /// the runtime still holds: the room must never talk to a socket it already let go of.
    pub fn apply(&mut self, fx: Vec<Effect>) {
        let seed = self.seed;
        self.last_sends.clear();
        let mut save_roster = false;
        let mut alarm_set = false;
        for e in &fx {
            assert!(
                !alarm_set,
                "room {seed}: an effect after the alarm's: {fx:?}"
            );
            match e {
                Effect::Send { conn, text } => {
                    assert!(
                        self.live.contains_key(conn),
                        "room {seed}: send to dead conn {conn}"
                    );
                    if text.starts_with(r#"{"type":"welcome""#) {
                        // It joined or resumed again with a valid token: that is allowed.
                        self.closed_for.remove(conn);
                    }
                    self.inbox.entry(*conn).or_default().push(text.clone());
                    self.last_sends.push((*conn, text.clone()));
                }
                Effect::Close { conn, reason } => {
                    match self.live.remove(conn) {
                        Some(att) if self.linger => {
                            self.lingering.insert(*conn, att);
                        }
                        Some(_) => {
                            self.gone.insert(*conn);
                        }
                        // Closing a socket that is already closing is harmless.
                        None => assert!(
                            self.lingering.contains_key(conn),
                            "room {seed}: close of dead conn {conn}"
                        ),
                    }
                    self.closes.insert(*conn, *reason);
                    if let Some(p) = self.bound.get(conn) {
                        self.closed_for.insert(*conn, p.clone());
                    }
                }
                Effect::Attach { conn, attachment } => {
                    assert!(
                        self.live.contains_key(conn),
                        "room {seed}: attach to dead conn {conn}"
                    );
                    let size = serde_json::to_string(attachment).expect("attachment").len();
                    assert!(size < 2048, "attachment of {size} bytes");
                    if let Some(p) = &attachment.peer {
                        self.bound.insert(*conn, p.clone());
                    }
                    self.live.insert(*conn, attachment.clone());
                }
                Effect::SaveRoster => save_roster = true,
                Effect::PutHeld { key, text } => {
                    assert!(key.starts_with(HELD_PREFIX), "{key}");
                    self.storage.insert(key.clone(), text.clone());
                }
                Effect::DeleteHeld { keys } => {
                    for k in keys {
                        assert!(k.starts_with(HELD_PREFIX), "{k}");
                        self.storage.remove(k);
                    }
                }
                Effect::ClearStorage => {
                    save_roster = false;
                    self.storage.clear();
                    self.alarm = None;
                }
                Effect::SetAlarm(at) => {
                    alarm_set = true;
                    self.alarm = Some(*at);
                }
                Effect::DeleteAlarm => {
                    alarm_set = true;
                    self.alarm = None;
                }
                Effect::Log { event, detail } => {
                    if let Detail::Peers(n) = detail {
                        assert!(*n <= self.cfg.max_peers, "room {seed}: {event:?} {n}");
                    }
                    self.log.push((*event, *detail));
                }
            }
        }
        if save_roster {
            let roster = self.room.roster();
            if roster.is_empty() {
                self.storage.remove(ROSTER_KEY);
            } else {
                let json = serde_json::to_string(&roster).expect("roster serialises");
                self.storage.insert(ROSTER_KEY.to_owned(), json);
            }
        }
        self.last_fx = fx;
    }

    /// Applies the effects of one runtime event.
    fn event(&mut self, fx: Vec<Effect>) {
        self.apply(fx);
        self.settled = true;
    }

    pub fn advance(&mut self, ms: Millis) {
        self.now += ms;
    }

    pub fn open(&mut self) -> ConnId {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.opened.push(conn);
        self.live.insert(
            conn,
            Attachment {
                opened_at: 0,
                seen: 0,
                peer: None,
            },
        );
        let fx = self.room.on_open(conn, self.now);
        self.event(fx);
        conn
    }

    pub fn frame(&mut self, conn: ConnId, frame: Frame<'_>) {
        let fx = self.room.on_frame(conn, frame, self.now, &mut self.rng);
        self.event(fx);
    }

    pub fn text(&mut self, conn: ConnId, text: &str) {
        self.frame(conn, Frame::Text(text));
    }

    pub fn binary(&mut self, conn: ConnId, len: usize) {
        self.frame(conn, Frame::Binary(len));
    }

    pub fn signal(&mut self, conn: ConnId, to: &str, data: &str) {
        self.text(
            conn,
            &format!(r#"{{"type":"signal","to":"{to}","data":{data}}}"#),
        );
    }

    pub fn leave(&mut self, conn: ConnId) {
        self.text(conn, r#"{"type":"leave"}"#);
    }

    /// Whether the runtime still lists the socket (open, or closing).
    pub fn listed(&self, conn: ConnId) -> bool {
        self.live.contains_key(&conn) || self.lingering.contains_key(&conn)
    }

    /// The client (or the network) closed the socket, and the runtime reports it.
    pub fn client_close(&mut self, conn: ConnId) {
        self.disconnect(conn, Disconnect::Closed { code: 1000 });
    }

    pub fn disconnect(&mut self, conn: ConnId, how: Disconnect) {
        self.live.remove(&conn);
        self.lingering.remove(&conn);
        self.gone.insert(conn);
        let fx = self.room.on_close(conn, how, self.now);
        self.event(fx);
    }

    /// The alarm fires (due or not: alarms may fire early). The runtime no longer holds it.
    pub fn alarm(&mut self) {
        self.alarm = None;
        let fx = self.room.on_alarm(self.now);
        self.event(fx);
    }

    /// Opens a socket and joins; returns the session from the welcome.
    pub fn join(&mut self, name: &str) -> Peer {
        let conn = self.open();
        self.join_on(
            conn,
            &json!({"type": "join", "v": 1, "name": name}).to_string(),
        )
    }

    /// Joins one peer per name, in order, and drains every inbox: a room mid-call.
    pub fn join_all<const N: usize>(&mut self, names: [&str; N]) -> [Peer; N] {
        let peers = names.map(|name| self.join(name));
        for p in &peers {
            self.take(p.conn);
        }
        peers
    }

    /// Opens a socket and resumes (or tries to) with `token`.
    pub fn resume(&mut self, token: &str) -> (ConnId, Vec<Value>) {
        let conn = self.open();
        self.text(
            conn,
            &json!({"type": "join", "v": 1, "resume": token}).to_string(),
        );
        (conn, self.take(conn))
    }

    pub fn join_on(&mut self, conn: ConnId, frame: &str) -> Peer {
        self.text(conn, frame);
        let msgs = self.take(conn);
        let w = msgs
            .iter()
            .find(|m| m["type"] == "welcome")
            .unwrap_or_else(|| panic!("no welcome in {msgs:?}"));
        Peer {
            conn,
            id: w["id"].as_str().unwrap().to_owned(),
            token: w["resumeToken"].as_str().unwrap().to_owned(),
        }
    }

    pub fn take_raw(&mut self, conn: ConnId) -> Vec<String> {
        self.inbox.remove(&conn).unwrap_or_default()
    }

    pub fn take(&mut self, conn: ConnId) -> Vec<Value> {
        self.take_raw(conn)
            .iter()
            .map(|t| serde_json::from_str(t).expect("server frames are JSON"))
            .collect()
    }

    /// Why the room closed the socket, if it did.
    pub fn closed(&self, conn: ConnId) -> Option<CloseReason> {
        self.closes.get(&conn).copied()
    }

    pub fn stored_roster(&self) -> Vec<PeerRecord> {
        self.storage
            .get(ROSTER_KEY)
            .map(|j| serde_json::from_str(j).expect("stored roster parses"))
            .unwrap_or_default()
    }

    pub fn held(&self) -> impl Iterator<Item = (&String, &String)> {
        self.storage
            .iter()
            .filter(|(k, _)| k.starts_with(HELD_PREFIX))
    }

    pub fn held_keys(&self) -> Vec<&String> {
        self.held().map(|(k, _)| k).collect()
    }

    /// How often the room logged `event` so far.
    pub fn logged(&self, event: LogEvent) -> usize {
        self.log.iter().filter(|(e, _)| *e == event).count()
    }

    /// The object is evicted and woken again: rebuild from storage and listed sockets only.
    pub fn evict(&mut self) {
        let stored = Stored {
            roster: self.stored_roster(),
            held: self.held().map(|(k, v)| (k.clone(), v.clone())).collect(),
            alarm: self.alarm,
        };
        // Sockets still CLOSING are listed again: the restored room sees them like any other
        // (they may even still deliver frames). In accept order, as the runtime plausibly
        // lists them, so a replaced socket comes before the one that replaced it.
        let lingering = std::mem::take(&mut self.lingering);
        self.live.extend(lingering);
        let sockets = self.live.iter().map(|(c, a)| (*c, a.clone())).collect();
        let (room, fx) = Room::restore(self.cfg.clone(), stored, sockets, self.now);
        self.room = room;
        self.apply(fx);
        self.settled = false;
    }

    /// A deploy restarts the runtime: every socket is gone without a close event, then the
    /// object wakes.
    pub fn restart(&mut self) {
        let all: Vec<ConnId> = self
            .live
            .keys()
            .chain(self.lingering.keys())
            .copied()
            .collect();
        self.gone.extend(all);
        self.live.clear();
        self.lingering.clear();
        self.evict();
    }

    /// The room's view and the runtime's agree.
    pub fn check_invariants(&self) {
        let (r, room) = (self.seed, &self.room);
        assert!(
            room.peer_count() <= self.cfg.max_peers,
            "room {r} over capacity"
        );
        // The runtime's sockets and the room's connections agree, attachments included.
        assert_eq!(room.conn_count(), self.live.len(), "room {r} sockets");
        let roster = room.roster();
        for (c, att) in &self.live {
            assert_eq!(room.peer_of(*c), att.peer.as_ref(), "room {r} socket {c}");
            if let Some(p) = &att.peer {
                assert!(
                    roster.iter().any(|rec| rec.id == *p),
                    "room {r}: {c} for ghost {p}"
                );
            }
            // A socket the room closed never speaks for that peer again, even while the
            // runtime still lists it, unless it joins or resumes again itself.
            if let Some(p) = self.closed_for.get(c) {
                assert_ne!(room.peer_of(*c), Some(p), "room {r}: closed {c} revived");
            }
        }
        for rec in &roster {
            let sockets = self
                .live
                .values()
                .filter(|a| a.peer.as_ref() == Some(&rec.id))
                .count();
            assert!(sockets <= 1, "room {r}: {} has {sockets} sockets", rec.id);
            assert_eq!(
                sockets == 0,
                rec.grace_until.is_some(),
                "room {r}: {} neither connected nor in grace",
                rec.id
            );
        }
        // What is stored is what the room would restore.
        assert_eq!(self.stored_roster(), roster, "room {r} stored roster");
        let empty = room.peer_count() == 0 && room.conn_count() == 0;
        if empty {
            assert!(self.storage.is_empty(), "room {r} left {:?}", self.storage);
        }
        assert_eq!(room.next_alarm().is_none(), empty, "room {r} next alarm");
        // The alarm the room believes in is the one it scheduled; after each event it is set
        // exactly while the room holds anything, and never later than the next deadline.
        assert_eq!(room.scheduled_alarm(), self.alarm, "room {r} alarm view");
        if self.settled {
            assert_eq!(self.alarm.is_none(), empty, "room {r} alarm");
            if let (Some(at), Some(next)) = (self.alarm, room.next_alarm()) {
                assert!(at <= next, "room {r}: alarm at {at}, needed at {next}");
            }
        }
    }
}
