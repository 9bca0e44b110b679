//! A seeded property test: random sequences across two rooms keep the invariants.

use crate::cfg_with;
use crate::sim::Sim;
use pinhole::room::{ConnId, Millis};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// xorshift64*: a tiny deterministic PRNG, so the property test needs no extra crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())])
    }
}

/// One signal the test sent: the room, the sender's peer id (if it had one), the target.
struct Sent {
    room: usize,
    from: Option<String>,
    to: String,
}

struct World {
    sims: Vec<Sim>,
    rng: XorShift,
    /// Peer ids ever seen, per room.
    ids: Vec<Vec<String>>,
    /// Resume tokens ever issued (current and stale), per room.
    tokens: Vec<Vec<String>>,
    /// The latest token of each peer id, per room.
    current: Vec<HashMap<String, String>>,
    sent: HashMap<u64, Sent>,
    delivered: HashSet<u64>,
    marker: u64,
}

impl World {
    fn step(&mut self) {
        let r = self.rng.below(2);
        let live: Vec<ConnId> = self.sims[r].live.keys().copied().collect();
        let roll = self.rng.below(100);
        let sim = &mut self.sims[r];
        // An op that finds nothing to act on must not re-check the previous op's effects.
        sim.last_sends.clear();
        sim.last_fx.clear();
        match roll {
            0..=9 => {
                sim.open();
            }
            10..=21 => {
                if let Some(c) = self.rng.pick(&live) {
                    let names = ["Ana", " Bo\u{7} ", "", "Zoë 😀"];
                    let name = names[self.rng.below(names.len())];
                    sim.text(c, &json!({"type":"join","v":1,"name":name}).to_string());
                }
            }
            22..=29 => {
                // Mostly a present peer's current token; sometimes any token ever issued in
                // either room (stale, rotated, expired or foreign).
                let roster: Vec<String> =
                    sim.room.roster().iter().map(|p| p.id.to_string()).collect();
                let current: Vec<&String> = roster
                    .iter()
                    .filter_map(|id| self.current[r].get(id))
                    .collect();
                let other = self.rng.below(2);
                let tok = if !current.is_empty() && self.rng.below(10) < 7 {
                    Some(current[self.rng.below(current.len())].clone())
                } else {
                    let toks = &self.tokens[other];
                    (!toks.is_empty()).then(|| toks[self.rng.below(toks.len())].clone())
                };
                if let (Some(c), Some(tok)) = (self.rng.pick(&live), tok) {
                    sim.text(c, &json!({"type":"join","v":1,"resume":tok}).to_string());
                }
            }
            30..=59 => {
                // Mostly from a joined socket to a present peer; sometimes to a departed or
                // foreign id, or to one that never existed.
                let joined: Vec<ConnId> = live
                    .iter()
                    .copied()
                    .filter(|c| sim.room.peer_of(*c).is_some())
                    .collect();
                let from = if self.rng.below(10) == 0 {
                    &live
                } else {
                    &joined
                };
                if let Some(c) = self.rng.pick(from) {
                    let roster: Vec<String> =
                        sim.room.roster().iter().map(|p| p.id.to_string()).collect();
                    let other = if self.rng.below(10) == 0 { 1 - r } else { r };
                    let ids = &self.ids[other];
                    let to = match self.rng.below(10) {
                        0..=6 if !roster.is_empty() => roster[self.rng.below(roster.len())].clone(),
                        7 | 8 if !ids.is_empty() => ids[self.rng.below(ids.len())].clone(),
                        _ => "0123456789abcdef".to_owned(),
                    };
                    // Now and then a burst, to reach the rate limit.
                    let n = if self.rng.below(40) == 0 { 60 } else { 1 };
                    for _ in 0..n {
                        self.marker += 1;
                        let m = self.marker;
                        self.sent.insert(
                            m,
                            Sent {
                                room: r,
                                from: self.sims[r].room.peer_of(c).map(|p| p.to_string()),
                                to: to.clone(),
                            },
                        );
                        self.sims[r].signal(c, &to, &format!(r#"{{"m":{m}}}"#));
                        self.check(r);
                    }
                    return;
                }
            }
            60..=63 => {
                if let Some(c) = self.rng.pick(&live) {
                    sim.leave(c);
                }
            }
            64..=70 => {
                if let Some(c) = self.rng.pick(&live) {
                    sim.client_close(c);
                }
            }
            71..=80 => {
                let ms = match self.rng.below(10) {
                    0 => 40_000,
                    1 => 12_000,
                    _ => self.rng.below(3_000) as Millis,
                };
                sim.advance(ms);
                if sim.room.next_alarm().is_some_and(|t| t <= sim.now) {
                    sim.alarm();
                }
            }
            81..=82 => sim.alarm(),
            83..=85 => {
                if let Some(c) = self.rng.pick(&live) {
                    sim.room.note_seen(c, sim.now);
                }
            }
            86..=89 => sim.evict(),
            90 => sim.restart(),
            _ => {
                if let Some(c) = self.rng.pick(&live) {
                    match self.rng.below(8) {
                        0 => sim.binary(c, 5),
                        1 => sim.binary(c, 70_000),
                        2 => sim.text(c, &"x".repeat(65_537)),
                        3 => sim.text(c, r#"{"type":"join","v":2}"#),
                        4 => sim.text(c, "{"),
                        5 => sim.text(c, r#"{"type":"signal","to":"zz","data":1}"#),
                        6 => sim.text(c, "null"),
                        _ => sim.text(c, r#"{"type":"join","v":1,"resume":"x.y"}"#),
                    }
                }
            }
        }
        self.check(r);
    }

    fn check(&mut self, r: usize) {
        if std::env::var("TRACE").is_ok() {
            eprintln!("room {r} fx {:?}", self.sims[r].last_fx);
        }
        let sim = &self.sims[r];
        let room = &sim.room;
        for (conn, text) in &sim.last_sends {
            let v: Value = serde_json::from_str(text).unwrap();
            match v["type"].as_str().unwrap() {
                "welcome" => {
                    self.ids[r].push(v["id"].as_str().unwrap().to_owned());
                    let (id, tok) = (
                        v["id"].as_str().unwrap(),
                        v["resumeToken"].as_str().unwrap(),
                    );
                    self.tokens[r].push(tok.to_owned());
                    self.current[r].insert(id.to_owned(), tok.to_owned());
                    assert_eq!(
                        room.peer_of(*conn).map(|p| p.to_string()),
                        v["id"].as_str().map(str::to_owned),
                        "welcome goes to the socket now bound to that id"
                    );
                }
                "signal" => {
                    let m = v["data"]["m"]
                        .as_u64()
                        .expect("only our markers are relayed");
                    let sent = &self.sent[&m];
                    assert_eq!(sent.room, r, "signal {m} crossed rooms");
                    assert_eq!(
                        sent.from.as_deref(),
                        v["from"].as_str(),
                        "signal {m} from stamped wrong"
                    );
                    assert_eq!(
                        room.peer_of(*conn).map(|p| p.as_str()),
                        Some(sent.to.as_str()),
                        "signal {m} reached the wrong socket"
                    );
                    assert!(self.delivered.insert(m), "signal {m} delivered twice");
                }
                _ => {}
            }
        }
        for sim in &self.sims {
            sim.check_invariants();
        }
    }
}

/// Names the failing seed and step when an invariant panics, so a failure can be replayed.
struct Context {
    seed: u64,
    step: usize,
}

impl Drop for Context {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("failed at seed {:#x}, step {}", self.seed, self.step);
        }
    }
}

fn run_world(seed: u64, steps: usize) {
    let mut w = World {
        sims: vec![
            Sim::seeded(cfg_with(|c| c.max_peers = 3), 1),
            Sim::seeded(cfg_with(|c| c.held_max_messages = 4), 2),
        ],
        rng: XorShift(seed),
        ids: vec![Vec::new(), Vec::new()],
        tokens: vec![Vec::new(), Vec::new()],
        current: vec![HashMap::new(), HashMap::new()],
        sent: HashMap::new(),
        delivered: HashSet::new(),
        marker: 0,
    };
    w.sims[1].linger = true;
    for step in 0..steps {
        let _ctx = Context { seed, step };
        w.step();
    }
    // The runs must exercise what they check.
    assert!(!w.delivered.is_empty(), "seed {seed:#x}: nothing relayed");
}

#[test]
fn random_sequences_keep_the_invariants() {
    for seed in 1..=6u64 {
        run_world(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 2_500);
    }
}
