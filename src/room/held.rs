//! Messages held for a peer in grace, in order, until it resumes or its grace ends. Each is
//! stored under its own key, so a wake can rebuild the queue from a prefix listing.

use super::RoomConfig;
use crate::ids::PeerId;
use std::collections::VecDeque;

/// Storage key prefix of every held message.
pub const HELD_PREFIX: &str = "held:";

/// `held:<peer>:<seq, 16 digits>`: zero-padded so that listing the prefix returns a peer's
/// messages in the order they were held.
pub(super) fn key(peer: &PeerId, seq: u64) -> String {
    format!("{HELD_PREFIX}{peer}:{seq:016}")
}

/// The peer a stored key belongs to, if it is a held message's key at all.
pub(super) fn owner(key: &str) -> Option<PeerId> {
    key.strip_prefix(HELD_PREFIX)
        .and_then(|rest| rest.split(':').next())
        .and_then(PeerId::parse)
}

/// One peer's queue: (storage key, frame text), oldest first.
#[derive(Default)]
pub(super) struct Held {
    queue: VecDeque<(String, String)>,
    bytes: usize,
}

impl Held {
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether a frame of `len` bytes fits under the configured count and byte bounds.
    pub(super) fn fits(&self, len: usize, cfg: &RoomConfig) -> bool {
        self.queue.len() < cfg.held_max_messages && self.bytes + len <= cfg.held_max_bytes
    }

    /// Appends a message (unchecked: restore takes back whatever was stored).
    pub(super) fn push(&mut self, key: String, text: String) {
        self.bytes += text.len();
        self.queue.push_back((key, text));
    }

    /// Takes every message, oldest first.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = (String, String)> + '_ {
        self.bytes = 0;
        self.queue.drain(..)
    }

    /// The storage keys, to delete the queue.
    pub(super) fn into_keys(self) -> Vec<String> {
        self.queue.into_iter().map(|(k, _)| k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(s: &str) -> PeerId {
        PeerId::parse(s).unwrap()
    }

    #[test]
    fn keys_sort_in_holding_order_and_name_their_owner() {
        let p = pid("0123456789abcdef");
        assert_eq!(key(&p, 7), "held:0123456789abcdef:0000000000000007");
        assert!(key(&p, 9) < key(&p, 10));
        assert_eq!(owner(&key(&p, 10)), Some(p));
        for bad in ["held:garbage", "roster", "held:", "held:0123456789ABCDEF:1"] {
            assert_eq!(owner(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_queue_is_bounded_by_count_and_by_bytes() {
        let cfg = RoomConfig {
            held_max_messages: 3,
            held_max_bytes: 10,
            ..RoomConfig::default()
        };
        let mut h = Held::default();
        assert!(h.is_empty());
        assert!(h.fits(10, &cfg));
        assert!(!h.fits(11, &cfg));
        h.push("a".into(), "1234".into());
        h.push("b".into(), "1234".into());
        assert!(h.fits(2, &cfg));
        assert!(!h.fits(3, &cfg), "bytes");
        h.push("c".into(), "1".into());
        assert!(!h.fits(0, &cfg), "count");
    }

    #[test]
    fn draining_empties_it_in_order() {
        let cfg = RoomConfig::default();
        let mut h = Held::default();
        h.push("k1".into(), "one".into());
        h.push("k2".into(), "two".into());
        let got: Vec<(String, String)> = h.drain().collect();
        assert_eq!(
            got,
            [("k1".into(), "one".into()), ("k2".into(), "two".into())]
        );
        assert!(h.is_empty());
        assert!(h.fits(cfg.held_max_bytes, &cfg), "bytes are freed too");
        h.push("k3".into(), "x".into());
        assert_eq!(h.into_keys(), ["k3"]);
    }
}
