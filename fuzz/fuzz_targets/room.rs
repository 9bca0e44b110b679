//! Run with: make fuzz (or: cargo fuzz run --sanitizer none room fuzz/seeds/room)
//!
//! Two `Room`s driven by a script, with the runtime around them simulated the way
//! `src/edge/room.rs` applies effects (sockets and their attachments, storage, the alarm,
//! eviction and restore) by the simulator the scenario tests use (`tests/room/sim.rs`), and the
//! invariants checked after every step:
//! - every `Send`/`Attach` goes to a socket open in that room, every `Close` to one open or
//!   still closing there: never to a socket that is gone, nor to the other room's;
//! - a relayed signal reaches only the socket now bound to its `to`, with `from` the sender's
//!   peer and `data` its bytes, or it is a held message of that peer delivered on resume;
//! - held messages are stored under their target's key, with the same check;
//! - no room holds more than `max_peers` peers; each peer has one open socket or is in grace;
//! - a socket the room closed never speaks for that peer again unless it rejoins;
//! - the room's view matches the runtime's (sockets, attachments, stored roster, alarm), and
//!   after every event the alarm is set exactly while the room holds anything, never later
//!   than its next deadline.
//!
//! The input is text, one step per line, so seeds and crash artifacts are readable scenarios
//! (lines that do not parse are skipped). `r` is a room (0 or 1), `i` a socket index (modulo the
//! sockets ever opened in that room, closed ones included):
//! ```text
//! o<r>              open a socket
//! t<r> <i> <text>   text frame; `$k` becomes the k-th peer id ever welcomed (either room,
//!                   modulo the count) and `@k` the k-th resume token ever issued
//! b<r> <i> <n>      binary frame of n bytes     h<r> <i>   a text frame of 64 KiB + 1
//! c<r> <i>          the client or the network closes the socket
//! p<r> <i>          the runtime answered a keep-alive ping on the socket now
//! w <ms>            time passes; each room's alarm fires if due
//! a<r>              the room's alarm fires, due or not
//! e<r>              eviction: rebuilt with `Room::restore` from storage and listed sockets
//! r<r>              a deploy: every socket is gone, then the room is restored
//! g<r> <k>          in the next step, the room's first peer id draw repeats the id of its
//!                   k-th connected peer
//! ```
//!
//! Before the first step, `C<r> MAX_PEERS GRACE_S IDLE_S RATE BURST strikes held_msgs
//! held_bytes linger` configures a room (Worker vars through `config::room_config`; `linger` 1
//! keeps sockets the room closed listed until the client answers, as a half-open one is).
//!
//! `FUZZ_TRACE=1 cargo fuzz run --sanitizer none room <file>` prints every step's effects.
#![no_main]

#[path = "../../tests/room/sim.rs"]
mod sim;

use libfuzzer_sys::fuzz_target;
use pinhole::config::room_config;
use pinhole::ids::PeerId;
use pinhole::protocol::{parse_client, ClientMessage, MAX_FRAME_BYTES};
use pinhole::room::{ConnId, Effect, Frame, PeerRecord, RoomConfig, HELD_PREFIX};
use serde_json::value::RawValue;
use sim::Sim;
use std::collections::BTreeMap;

fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

/// What the frame being processed may cause to be relayed.
enum Expect {
    /// No signal may reach anyone.
    Nothing,
    /// At most this one signal (and nothing at all if the sender has not joined).
    Signal {
        from: Option<PeerId>,
        to: PeerId,
        data: String,
    },
    /// A join may resume a peer and deliver its held messages.
    Join,
}

/// The frame as a plain JSON object, key → raw value.
type Fields<'a> = BTreeMap<String, &'a RawValue>;

fn field(fields: &Fields<'_>, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

/// Asserts that `text` relays `data` byte for byte from `from`, and carries nothing else.
fn check_signal_text(text: &str, from: &PeerId, data: &str) {
    let f: Fields<'_> = serde_json::from_str(text).expect("signal frame is a JSON object");
    assert_eq!(f.len(), 3, "{text}");
    assert_eq!(
        field(&f, "from").as_deref(),
        Some(from.as_str()),
        "from in {text}"
    );
    assert_eq!(f.get("data").map(|d| d.get()), Some(data), "data in {text}");
}

const ERROR_CODES: [&str; 9] = [
    "badMessage",
    "notJoined",
    "roomFull",
    "unknownPeer",
    "rateLimited",
    "tooLarge",
    "unsupportedVersion",
    "resumeFailed",
    "peerUnavailable",
];

struct World {
    sims: [Sim; 2],
    /// Peer ids and resume tokens ever welcomed, both rooms, in order.
    ids: Vec<String>,
    tokens: Vec<String>,
}

impl World {
    /// Checks the batch the simulator just applied in room `r` against what the step may
    /// cause. `held_before` is the room's stored held messages before the step.
    fn check_batch(&mut self, r: usize, expect: &Expect, held_before: &[(String, String)]) {
        let sim = &self.sims[r];
        if trace() {
            eprintln!("  room {r}: {:?}", sim.last_fx);
        }
        let mut signals = Vec::new();
        let mut welcomes = Vec::new();
        let mut stored = 0;
        for e in &sim.last_fx {
            match e {
                Effect::Send { conn, text } => {
                    let f: Fields<'_> = serde_json::from_str(text).expect("frames are objects");
                    match field(&f, "type").as_deref() {
                        Some("signal") => signals.push((*conn, text.clone())),
                        Some("welcome") => welcomes.push((*conn, text.clone())),
                        Some("peerJoined" | "peerLeft") => {
                            let id = field(&f, "id").expect("id");
                            assert!(PeerId::parse(&id).is_some(), "{text}");
                        }
                        Some("error") => {
                            let code = field(&f, "code").expect("code");
                            assert!(ERROR_CODES.contains(&code.as_str()), "{text}");
                            assert!(field(&f, "message").is_some_and(|m| !m.is_empty()));
                        }
                        _ => panic!("room {r}: unknown frame {text}"),
                    }
                }
                Effect::PutHeld { key, text } => {
                    stored += 1;
                    assert_eq!(stored, 1, "room {r}: one frame held more than one message");
                    let Expect::Signal {
                        from: Some(from),
                        to,
                        data,
                    } = expect
                    else {
                        panic!("room {r}: held {key} without a signal from a joined peer");
                    };
                    let rest = key.strip_prefix(HELD_PREFIX).expect("held key prefix");
                    let (owner, seq) = rest.split_once(':').expect("held key shape");
                    assert_eq!(owner, to.as_str(), "held for the wrong peer");
                    assert!(seq.len() == 16 && seq.bytes().all(|b| b.is_ascii_digit()));
                    check_signal_text(text, from, data);
                }
                _ => {}
            }
        }

        // Relayed signals, against the room's state after the batch.
        let mut relayed = 0;
        let mut delivered_held = Vec::new();
        for (conn, text) in &signals {
            let Some(peer) = sim.room.peer_of(*conn) else {
                panic!("room {r}: signal to unjoined socket {conn}: {text}");
            };
            match expect {
                Expect::Signal {
                    from: Some(from),
                    to,
                    data,
                } => {
                    relayed += 1;
                    assert_eq!(relayed, 1, "room {r}: one frame relayed twice");
                    assert_eq!(peer, to, "room {r}: signal reached {peer}, not {to}");
                    assert_ne!(from, to);
                    check_signal_text(text, from, data);
                }
                Expect::Join => delivered_held.push((peer.clone(), text.clone())),
                _ => panic!("room {r}: signal relayed by a step that sends none: {text}"),
            }
        }
        if !delivered_held.is_empty() {
            // A resume delivers exactly the peer's held messages, oldest first.
            let peer = delivered_held[0].0.clone();
            let prefix = format!("{HELD_PREFIX}{peer}:");
            let expected: Vec<&String> = held_before
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v)
                .collect();
            let got: Vec<&String> = delivered_held.iter().map(|(_, t)| t).collect();
            assert!(delivered_held.iter().all(|(p, _)| *p == peer));
            assert_eq!(got, expected, "room {r}: held delivery for {peer}");
        }
        for (conn, text) in &welcomes {
            let f: Fields<'_> = serde_json::from_str(text).expect("welcome");
            let id = field(&f, "id").expect("welcome id");
            let token = field(&f, "resumeToken").expect("welcome token");
            assert_eq!(
                sim.room.peer_of(*conn).map(|p| p.as_str()),
                Some(id.as_str()),
                "room {r}: welcome to a socket not bound to that id"
            );
            assert!(token.starts_with(&format!("{id}.")));
            let max: usize = serde_json::from_str(f["maxPeers"].get()).expect("maxPeers");
            assert_eq!(max, sim.cfg.max_peers);
            let peers: Vec<serde_json::Value> =
                serde_json::from_str(f["peers"].get()).expect("peers");
            assert!(peers.len() < max);
            for p in &peers {
                assert_ne!(p["id"].as_str(), Some(id.as_str()), "welcome lists self");
            }
            if !self.ids.contains(&id) {
                self.ids.push(id);
            }
            self.tokens.push(token);
        }
    }

    /// The stored held messages of room `r`, to compare a resume's delivery with.
    fn held(&self, r: usize) -> Vec<(String, String)> {
        self.sims[r]
            .held()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The room's view and the runtime's agree, in both rooms.
    fn check(&self) {
        for sim in &self.sims {
            sim.check_invariants();
        }
    }

    fn frame(&mut self, r: usize, conn: ConnId, frame: Frame<'_>) {
        let expect = match frame {
            Frame::Text(t) if t.len() <= MAX_FRAME_BYTES => match parse_client(t) {
                Ok(ClientMessage::Signal { to, data }) => Expect::Signal {
                    from: self.sims[r].room.peer_of(conn).cloned(),
                    to,
                    data: data.get().to_owned(),
                },
                Ok(ClientMessage::Join { .. }) => Expect::Join,
                _ => Expect::Nothing,
            },
            _ => Expect::Nothing,
        };
        let held_before = self.held(r);
        let sim = &mut self.sims[r];
        let closed = sim.gone.contains(&conn) || sim.lingering.contains_key(&conn);
        sim.frame(conn, frame);
        if closed {
            // Nothing for the socket, nothing for anyone; only the event's end may still
            // bring an alarm the restored room was waiting to fix.
            let fx = &sim.last_fx;
            assert!(
                fx.iter()
                    .all(|e| matches!(e, Effect::SetAlarm(_) | Effect::DeleteAlarm)),
                "room {r}: answered closed socket {conn}: {fx:?}"
            );
        }
        self.check_batch(r, &expect, &held_before);
    }

    fn alarm(&mut self, r: usize) {
        let held_before = self.held(r);
        self.sims[r].alarm();
        self.check_batch(r, &Expect::Nothing, &held_before);
    }

    /// `$k` → a known peer id, `@k` → a known token (left alone while there are none).
    fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let list = match c {
                '$' => &self.ids,
                '@' => &self.tokens,
                _ => {
                    out.push(c);
                    continue;
                }
            };
            match chars.peek().and_then(|d| d.to_digit(10)) {
                Some(k) if !list.is_empty() => {
                    chars.next();
                    out.push_str(&list[k as usize % list.len()]);
                }
                _ => out.push(c),
            }
        }
        out
    }

    fn step(&mut self, line: &str) {
        if trace() {
            eprintln!("{line}");
        }
        let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
        let mut head = head.chars();
        let op = head.next().unwrap_or(' ');
        let r = head.next().and_then(|d| d.to_digit(10)).unwrap_or(0) as usize % 2;
        let (arg, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let num = arg.trim().parse::<u64>().ok();
        let sim = &self.sims[r];
        let conn = num.and_then(|i| {
            (!sim.opened.is_empty()).then(|| sim.opened[i as usize % sim.opened.len()])
        });
        match (op, conn) {
            ('o', _) => {
                self.sims[r].open();
                self.check_batch(r, &Expect::Nothing, &[]);
            }
            ('t', Some(c)) => {
                let text = self.expand(tail);
                self.frame(r, c, Frame::Text(&text));
            }
            ('b', Some(c)) => {
                let n = tail.trim().parse::<usize>().unwrap_or(0);
                self.frame(r, c, Frame::Binary(n));
            }
            ('h', Some(c)) => {
                let text = "x".repeat(MAX_FRAME_BYTES + 1);
                self.frame(r, c, Frame::Text(&text));
            }
            ('c', Some(c)) => {
                // The runtime reports a close once, for a socket it still lists.
                if self.sims[r].listed(c) {
                    self.sims[r].client_close(c);
                    self.check_batch(r, &Expect::Nothing, &[]);
                }
            }
            ('p', Some(c)) => {
                let sim = &mut self.sims[r];
                if sim.live.contains_key(&c) {
                    sim.room.note_seen(c, sim.now);
                }
            }
            ('w', _) => {
                // Capped so that time cannot overflow within any input libFuzzer builds.
                let ms = num.unwrap_or(0).min(1_000_000_000);
                for sim in &mut self.sims {
                    sim.advance(ms);
                }
                for r in 0..2 {
                    let sim = &self.sims[r];
                    if sim.room.next_alarm().is_some_and(|t| t <= sim.now) {
                        self.alarm(r);
                    }
                }
            }
            ('a', _) => self.alarm(r),
            ('e' | 'r', _) => {
                if op == 'r' {
                    self.sims[r].restart();
                } else {
                    self.sims[r].evict();
                }
                self.check_batch(r, &Expect::Nothing, &[]);
            }
            ('g', _) => {
                let sim = &mut self.sims[r];
                let roster = sim.room.roster();
                let connected: Vec<&PeerRecord> =
                    roster.iter().filter(|p| p.grace_until.is_none()).collect();
                if connected.is_empty() {
                    return;
                }
                let id = connected[num.unwrap_or(0) as usize % connected.len()]
                    .id
                    .as_str();
                let mut bytes = [0u8; 8];
                for (b, pair) in bytes.iter_mut().zip(id.as_bytes().chunks(2)) {
                    let hex = std::str::from_utf8(pair).expect("peer ids are ASCII hex");
                    *b = u8::from_str_radix(hex, 16).expect("peer ids are hex");
                }
                sim.rng.collide = Some(bytes);
                return;
            }
            _ => return,
        }
        for sim in &mut self.sims {
            sim.rng.collide = None;
        }
        self.check();
    }
}
/// `C<r> MAX_PEERS GRACE_S IDLE_S RATE BURST strikes held_msgs held_bytes linger`; missing or
/// malformed fields keep their defaults, a value `room_config` refuses leaves the room as is.
fn configure(line: &str, cfgs: &mut [(RoomConfig, bool); 2]) {
    let mut words = line.split(' ');
    let r = words
        .next()
        .and_then(|w| w[1..].parse::<usize>().ok())
        .unwrap_or(0)
        % 2;
    let vals: Vec<&str> = words.collect();
    const VARS: [&str; 5] = [
        "MAX_PEERS",
        "RESUME_GRACE_SECONDS",
        "IDLE_TIMEOUT_SECONDS",
        "MSG_RATE_PER_SECOND",
        "MSG_BURST",
    ];
    let get = |var: &str| -> Option<String> {
        let i = VARS.iter().position(|v| *v == var)?;
        vals.get(i).map(|s| s.to_string())
    };
    let Ok(mut cfg) = room_config(get) else {
        return;
    };
    let num = |i: usize| vals.get(i).and_then(|s| s.parse::<u64>().ok());
    let d = RoomConfig::default();
    cfg.flood_strikes = num(5).map_or(d.flood_strikes, |n| n.min(1000) as u32);
    cfg.held_max_messages = num(6).map_or(d.held_max_messages, |n| n.min(1000) as usize);
    cfg.held_max_bytes = num(7).map_or(d.held_max_bytes, |n| n.min(1 << 20) as usize);
    let linger = num(8).is_some_and(|n| n == 1);
    cfgs[r] = (cfg, linger);
}

fuzz_target!(|bytes: &[u8]| {
    let script = String::from_utf8_lossy(bytes);
    let mut lines = script.lines().peekable();
    // The defaults of the property test in tests/room/property.rs.
    let mut cfgs = [
        (
            RoomConfig {
                max_peers: 3,
                ..RoomConfig::default()
            },
            false,
        ),
        (
            RoomConfig {
                held_max_messages: 4,
                ..RoomConfig::default()
            },
            true,
        ),
    ];
    while let Some(line) = lines.next_if(|l| l.starts_with('C')) {
        configure(line, &mut cfgs);
    }
    let [(c0, l0), (c1, l1)] = cfgs;
    // Seeds 1 and 2: each room draws ids and tokens from its own range.
    let mut world = World {
        sims: [Sim::seeded(c0, 1), Sim::seeded(c1, 2)],
        ids: Vec::new(),
        tokens: Vec::new(),
    };
    world.sims[0].linger = l0;
    world.sims[1].linger = l1;
    for line in lines {
        world.step(line);
    }
});
