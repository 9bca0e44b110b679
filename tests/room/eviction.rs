//! Eviction, restart and restore: nothing is lost, nothing comes back to life.

use crate::sim::{Sim, T0};
use crate::types;
use pinhole::ids::PeerId;
use pinhole::protocol::CloseReason;
use pinhole::room::{Effect, RoomConfig, ROSTER_KEY};
use serde_json::json;

#[test]
fn eviction_mid_call_loses_nothing() {
    let mut s = Sim::new(RoomConfig::default());
    let [a, b, c] = s.join_all(["A", "B", "C"]);
    s.advance(2_000);
    let c_gone = s.now;
    s.client_close(c.conn);
    s.signal(a.conn, &c.id, "1");
    s.signal(b.conn, &c.id, "2");
    s.advance(5_000);

    s.evict();
    assert!(s.last_fx.is_empty(), "{:?}", s.last_fx);
    assert_eq!(s.room.peer_count(), 3);
    assert_eq!(s.room.conn_count(), 2);
    assert_eq!(s.room.next_alarm(), Some(c_gone + s.cfg.grace_ms));

    s.signal(a.conn, &b.id, "3");
    assert_eq!(
        s.take(b.conn),
        [json!({"type": "signal", "from": a.id, "data": 3})]
    );

    s.evict();
    let (_, msgs) = s.resume(&c.token);
    assert_eq!(types(&msgs), ["welcome", "signal", "signal"]);
    assert_eq!(msgs[0]["id"], c.id.as_str());
    assert_eq!(msgs[1]["data"], 1);
    assert_eq!(msgs[2]["data"], 2);
    assert_eq!(msgs[2]["from"], b.id.as_str());

    // A grace deadline survives eviction too.
    s.advance(1_000);
    let b_gone = s.now;
    s.client_close(b.conn);
    s.evict();
    s.now = b_gone + s.cfg.grace_ms - 1;
    s.evict();
    s.alarm();
    assert!(s.take(a.conn).is_empty());
    s.now = b_gone + s.cfg.grace_ms;
    s.evict();
    s.alarm();
    assert_eq!(s.take(a.conn), [json!({"type": "peerLeft", "id": b.id})]);
}

#[test]
fn restart_starts_grace_for_everyone_at_restore_time() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.advance(3_000);
    s.signal(b.conn, &a.id, "0");
    let restarted = s.now + 500;
    s.now = restarted;
    s.restart();
    assert!(s.last_fx.contains(&Effect::SaveRoster), "{:?}", s.last_fx);
    let deadline = restarted + s.cfg.grace_ms;
    assert!(s
        .stored_roster()
        .iter()
        .all(|r| r.grace_until == Some(deadline)));
    assert_eq!(s.room.next_alarm(), Some(deadline));
    assert_eq!(s.room.peer_count(), 2);

    s.advance(5_000);
    let (a2, msgs) = s.resume(&a.token);
    assert_eq!(types(&msgs), ["welcome"]);
    assert_eq!(msgs[0]["id"], a.id.as_str());
    assert_eq!(msgs[0]["peers"], json!([{"id": b.id, "name": "B"}]));
    s.now = deadline;
    s.alarm();
    assert_eq!(s.take(a2), [json!({"type": "peerLeft", "id": b.id})]);
}

#[test]
fn a_socket_whose_record_is_gone_is_closed_1011() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    let mut roster = s.stored_roster();
    roster.retain(|r| r.id.as_str() != b.id);
    s.storage
        .insert(ROSTER_KEY.into(), serde_json::to_string(&roster).unwrap());
    s.evict();
    assert_eq!(s.closed(b.conn), Some(CloseReason::SessionLost));
    assert_eq!(s.room.peer_count(), 1);
    assert_eq!(s.room.conn_count(), 1);
    s.signal(b.conn, &a.id, "1");
    assert!(s.last_fx.is_empty());
    assert!(s.take(a.conn).is_empty());
}

#[test]
fn restore_trusts_an_open_socket_over_a_stored_grace() {
    // Storage can lag the sockets (a crash between the close and the roster write): a peer
    // whose socket is still open is connected, whatever the roster says.
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    let mut roster = s.stored_roster();
    for r in &mut roster {
        r.grace_until = Some(T0 + 1_000);
    }
    s.storage
        .insert(ROSTER_KEY.into(), serde_json::to_string(&roster).unwrap());
    s.evict();
    assert_eq!(s.last_fx, [Effect::SaveRoster]);
    assert!(s.stored_roster().iter().all(|r| r.grace_until.is_none()));
    s.advance(1_000);
    s.alarm();
    // Nothing to do but schedule the next alarm.
    assert_eq!(
        s.last_fx,
        [Effect::SetAlarm(T0 + s.cfg.idle_timeout_ms)],
        "{:?}",
        s.last_fx
    );
    s.signal(a.conn, &b.id, "1");
    assert_eq!(s.take(b.conn).len(), 1);
}

#[test]
fn a_replaced_socket_still_closing_does_not_take_the_session_back_after_eviction() {
    // The typical network change: the old socket is half-open, so after the room closes it
    // with 4001 it stays CLOSING and `getWebSockets()` still lists it (and its attachment).
    let mut s = Sim::new(RoomConfig::default());
    s.linger = true;
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    let (b2, msgs) = s.resume(&b.token);
    assert_eq!(msgs[0]["id"], b.id.as_str());
    assert_eq!(s.closed(b.conn), Some(CloseReason::Replaced));
    s.advance(1_000);
    s.evict();
    assert_eq!(s.closed(b2), None, "the live socket was dropped");
    assert_eq!(s.room.peer_of(b2).map(PeerId::as_str), Some(b.id.as_str()));
    s.signal(a.conn, &b.id, "1");
    assert_eq!(s.take(b2).len(), 1);
}

#[test]
fn an_idle_closed_socket_still_closing_does_not_revive_its_peer_after_eviction() {
    let mut s = Sim::new(RoomConfig::default());
    s.linger = true;
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.room.note_seen(a.conn, T0 + 50_000);
    s.advance(s.cfg.idle_timeout_ms);
    s.alarm();
    assert_eq!(s.closed(b.conn), Some(CloseReason::NoKeepAlive));
    let deadline = s.now + s.cfg.grace_ms;

    s.advance(5_000);
    s.evict();
    // B is still in grace: signals to it are held, not sent into the dead socket.
    s.signal(a.conn, &b.id, "1");
    assert_eq!(s.held_keys().len(), 1, "{:?}", s.last_fx);
    // And the grace ends on time, however often the object wakes meanwhile.
    s.alarm();
    s.now = deadline - 1;
    s.evict();
    s.alarm();
    assert!(s.take(a.conn).is_empty());
    s.now = deadline;
    s.evict();
    s.alarm();
    assert_eq!(s.take(a.conn), [json!({"type": "peerLeft", "id": b.id})]);
}

#[test]
fn restore_ignores_held_messages_of_unknown_peers() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    s.storage
        .insert("held:0123456789abcdef:0000000000000000".into(), "x".into());
    s.storage.insert("held:garbage".into(), "y".into());
    s.evict();
    assert!(s.held_keys().is_empty(), "{:?}", s.held_keys());
    assert_eq!(s.room.peer_of(a.conn).unwrap().as_str(), a.id);
}
