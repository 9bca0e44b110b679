//! When sockets are overdue (the join timeout before `join`, the liveness timeout after) and
//! the rule that keeps the room's one alarm in step with its deadlines.

use super::{Attachment, Millis, RoomConfig};

/// How often a socket's attachment is refreshed with its last-seen time, so that liveness
/// survives an eviction without a write per message.
pub(super) const SEEN_REFRESH_MS: Millis = 15_000;

/// Whether a socket that spoke at `now` should have its attachment's `seen` rewritten.
pub(super) fn seen_is_stale(attachment: &Attachment, now: Millis) -> bool {
    now.saturating_sub(attachment.seen) >= SEEN_REFRESH_MS
}

/// The moment a socket is overdue: `join_timeout_ms` after it opened while it has not joined,
/// `idle_timeout_ms` after it was last seen once it has.
pub(super) fn deadline(attachment: &Attachment, last_seen: Millis, cfg: &RoomConfig) -> Millis {
    match attachment.peer {
        Some(_) => last_seen + cfg.idle_timeout_ms,
        None => attachment.opened_at + cfg.join_timeout_ms,
    }
}

/// A change to the room's one alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    Set(Millis),
    Delete,
}

/// What to do with the alarm at the end of an event, given the room's next deadline
/// (`None` when the room is empty), the alarm as scheduled, and whether the event writes
/// storage anyway.
///
/// Setting the alarm is a storage write, and every commit delays this room's outgoing messages
/// (the output gate) and, locally, every room on the runtime's thread. So the alarm is moved
/// earlier whenever a deadline needs it earlier, but later only when the event `commits`
/// anyway: a join writes the roster, and in the same commit the alarm leaves the 10 s join
/// deadline for the 60 s idle one. Firing early is harmless (the handler just reschedules); a
/// write per relayed message would not be. An empty room keeps no alarm.
pub(super) fn reschedule(
    next: Option<Millis>,
    scheduled: Option<Millis>,
    commits: bool,
) -> Option<Change> {
    match (next, scheduled) {
        (None, Some(_)) => Some(Change::Delete),
        (Some(at), cur) if cur.is_none_or(|c| at < c || (commits && at > c)) => {
            Some(Change::Set(at))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PeerId;

    #[test]
    fn the_deadline_is_the_join_timeout_then_the_idle_timeout() {
        let cfg = RoomConfig::default();
        let mut att = Attachment {
            opened_at: 1_000,
            seen: 1_000,
            peer: None,
        };
        // Frames do not extend the join timeout.
        assert_eq!(deadline(&att, 5_000, &cfg), 1_000 + cfg.join_timeout_ms);
        att.peer = PeerId::parse("0123456789abcdef");
        assert_eq!(deadline(&att, 5_000, &cfg), 5_000 + cfg.idle_timeout_ms);
    }

    #[test]
    fn seen_is_refreshed_every_15_s() {
        let att = Attachment {
            opened_at: 0,
            seen: 100_000,
            peer: None,
        };
        assert!(!seen_is_stale(&att, 100_000 + SEEN_REFRESH_MS - 1));
        assert!(seen_is_stale(&att, 100_000 + SEEN_REFRESH_MS));
        // A clock that went back is not a refresh.
        assert!(!seen_is_stale(&att, 0));
    }

    #[test]
    fn the_alarm_moves_earlier_at_once() {
        for commits in [false, true] {
            assert_eq!(
                reschedule(Some(10), Some(20), commits),
                Some(Change::Set(10))
            );
            assert_eq!(reschedule(Some(10), None, commits), Some(Change::Set(10)));
        }
    }

    #[test]
    fn the_alarm_moves_later_only_in_a_commit() {
        assert_eq!(reschedule(Some(30), Some(20), false), None);
        assert_eq!(reschedule(Some(30), Some(20), true), Some(Change::Set(30)));
    }

    #[test]
    fn an_alarm_already_right_is_not_rewritten() {
        for commits in [false, true] {
            assert_eq!(reschedule(Some(20), Some(20), commits), None);
        }
    }

    #[test]
    fn an_empty_room_keeps_no_alarm() {
        for commits in [false, true] {
            assert_eq!(reschedule(None, Some(20), commits), Some(Change::Delete));
            assert_eq!(reschedule(None, None, commits), None);
        }
    }
}
