//! Timeouts, keep-alives and the attachment that carries liveness across an eviction.

use crate::sim::{Sim, T0};
use pinhole::ids::PeerId;
use pinhole::protocol::CloseReason;
use pinhole::room::{Attachment, Effect, Millis, RoomConfig};

#[test]
fn silent_joined_sockets_are_closed_but_pinging_ones_are_not() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    let idle = s.cfg.idle_timeout_ms;
    assert_eq!(s.room.next_alarm(), Some(T0 + idle));

    s.advance(idle - 1);
    s.alarm();
    // Nothing to do but schedule the next alarm.
    assert_eq!(s.last_fx, [Effect::SetAlarm(T0 + idle)]);
    s.room.note_seen(b.conn, T0 + 50_000);

    s.advance(1);
    s.alarm();
    assert_eq!(s.closed(a.conn), Some(CloseReason::NoKeepAlive));
    assert_eq!(s.closed(b.conn), None);
    assert!(s.take(b.conn).is_empty(), "A is in grace, not gone");
    assert_eq!(s.room.peer_count(), 2);
    let grace_end = s.now + s.cfg.grace_ms;
    assert_eq!(s.room.next_alarm(), Some(grace_end));
    // A can come back within grace.
    let (_, msgs) = s.resume(&a.token);
    assert_eq!(msgs[0]["id"], a.id.as_str());

    // B stays only as long as its keep-alives last.
    s.now = T0 + 50_000 + idle;
    s.alarm();
    assert_eq!(s.closed(b.conn), Some(CloseReason::NoKeepAlive));
}

#[test]
fn frames_count_as_liveness() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.advance(40_000);
    s.signal(a.conn, &b.id, "1");
    s.advance(20_000);
    s.alarm();
    assert_eq!(s.closed(a.conn), None);
    assert_eq!(s.closed(b.conn), Some(CloseReason::NoKeepAlive));
}

#[test]
fn unjoined_sockets_close_4008_after_the_join_timeout() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    s.advance(1_000);
    let x = s.open();
    assert_eq!(s.room.next_alarm(), Some(T0 + 1_000 + 10_000));
    s.advance(9_999);
    s.alarm();
    assert_eq!(s.closed(x), None);
    s.advance(1);
    s.alarm();
    assert_eq!(s.closed(x), Some(CloseReason::JoinTimeout));
    assert_eq!(s.closed(a.conn), None);
    assert_eq!(s.room.conn_count(), 1);
    // A lone unjoined socket timing out leaves nothing behind.
    let mut s = Sim::new(RoomConfig::default());
    let y = s.open();
    s.advance(10_000);
    s.alarm();
    assert_eq!(s.closed(y), Some(CloseReason::JoinTimeout));
    assert_eq!(s.room.next_alarm(), None);
    assert!(s.storage.is_empty());
}

#[test]
fn a_worst_case_attachment_is_far_below_2_kb() {
    let att = Attachment {
        opened_at: Millis::MAX,
        seen: Millis::MAX,
        peer: PeerId::parse("ffffffffffffffff"),
    };
    let json = serde_json::to_string(&att).unwrap();
    assert!(json.len() < 2048, "{} bytes: {json}", json.len());
    // And it reads back (the shell restores from exactly this).
    assert_eq!(serde_json::from_str::<Attachment>(&json).unwrap(), att);
}

#[test]
fn seen_is_refreshed_in_the_attachment_at_most_every_15_s() {
    let mut s = Sim::new(RoomConfig::default());
    let b = s.join("B");
    let a = s.join("A");
    let attaches = |s: &Sim| {
        s.last_fx
            .iter()
            .filter(|e| matches!(e, Effect::Attach { .. }))
            .count()
    };
    for _ in 0..14 {
        s.advance(1_000);
        s.signal(a.conn, &b.id, "1");
        assert_eq!(attaches(&s), 0);
    }
    s.advance(999);
    s.signal(a.conn, &b.id, "1");
    assert_eq!(attaches(&s), 0);
    s.advance(1);
    s.signal(a.conn, &b.id, "1");
    assert_eq!(attaches(&s), 1);
    assert_eq!(s.live[&a.conn].seen, T0 + 15_000);
    s.signal(a.conn, &b.id, "1");
    assert_eq!(attaches(&s), 0);

    // After an eviction, liveness comes from the refreshed attachment.
    s.now = T0 + 15_000 + s.cfg.idle_timeout_ms - 1;
    s.evict();
    s.alarm();
    assert_eq!(s.closed(a.conn), None);
    assert_eq!(s.closed(b.conn), Some(CloseReason::NoKeepAlive));
}

// The alarm rule (`room::liveness::reschedule`), seen through whole events.

fn alarm_effects(s: &Sim) -> Vec<&Effect> {
    s.last_fx
        .iter()
        .filter(|e| matches!(e, Effect::SetAlarm(_) | Effect::DeleteAlarm))
        .collect()
}

#[test]
fn a_join_moves_the_alarm_from_the_join_deadline_to_the_idle_one_in_its_own_commit() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.open();
    assert_eq!(
        s.last_fx.last(),
        Some(&Effect::SetAlarm(T0 + s.cfg.join_timeout_ms))
    );
    s.advance(1_000);
    s.text(a, r#"{"type":"join","v":1}"#);
    assert!(s.last_fx.contains(&Effect::SaveRoster));
    assert_eq!(
        s.last_fx.last(),
        Some(&Effect::SetAlarm(T0 + 1_000 + s.cfg.idle_timeout_ms))
    );
}

#[test]
fn a_relayed_message_writes_nothing_not_even_a_later_alarm() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    let scheduled = s.alarm;
    assert_eq!(scheduled, Some(T0 + s.cfg.idle_timeout_ms));
    s.advance(5_000);
    s.signal(a.conn, &b.id, "1");
    s.signal(b.conn, &a.id, "2");
    assert!(
        s.last_fx.iter().all(|e| matches!(e, Effect::Send { .. })),
        "{:?}",
        s.last_fx
    );
    // Both deadlines moved 5 s later; the alarm stays early, to fire and reschedule.
    assert_eq!(
        s.room.next_alarm(),
        Some(T0 + 5_000 + s.cfg.idle_timeout_ms)
    );
    assert_eq!(s.alarm, scheduled);
}

#[test]
fn a_grace_period_moves_the_alarm_earlier_at_once() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.advance(1_000);
    s.client_close(b.conn);
    assert_eq!(
        alarm_effects(&s),
        [&Effect::SetAlarm(T0 + 1_000 + s.cfg.grace_ms)]
    );
    // Holding a message writes storage; the alarm is already right, so it is left alone.
    s.signal(a.conn, &b.id, "1");
    assert!(s.last_fx.contains(&Effect::SaveRoster));
    assert!(alarm_effects(&s).is_empty(), "{:?}", s.last_fx);
}

#[test]
fn an_alarm_that_fires_is_rescheduled_and_the_last_one_goes_with_the_room() {
    let mut s = Sim::new(RoomConfig::default());
    let x = s.open();
    let a = s.join("A");
    s.advance(s.cfg.join_timeout_ms);
    s.alarm();
    assert_eq!(s.closed(x), Some(CloseReason::JoinTimeout));
    assert_eq!(
        alarm_effects(&s),
        [&Effect::SetAlarm(T0 + s.cfg.idle_timeout_ms)]
    );
    s.leave(a.conn);
    // Clearing storage deletes the alarm too; nothing is scheduled after it.
    assert!(s.last_fx.contains(&Effect::ClearStorage));
    assert!(alarm_effects(&s).is_empty(), "{:?}", s.last_fx);
    assert_eq!((s.alarm, s.room.scheduled_alarm()), (None, None));
}

#[test]
fn a_stale_alarm_in_an_empty_room_is_deleted_by_the_next_event() {
    // An alarm left in storage with nothing in the room (say, after the runtime restarted
    // while only an unjoined socket was open).
    let mut s = Sim::new(RoomConfig::default());
    s.open();
    assert_eq!(s.alarm, Some(T0 + s.cfg.join_timeout_ms));
    s.restart();
    assert!(
        s.last_fx.is_empty(),
        "a restore leaves the alarm to the event"
    );
    assert_eq!(s.room.scheduled_alarm(), s.alarm);
    // The runtime reports a close for a socket the room does not hold.
    s.client_close(999);
    assert_eq!(s.last_fx, [Effect::DeleteAlarm]);
    assert_eq!(s.alarm, None);
}
