//! Grace periods, session resume, held messages and tokens.

use crate::sim::Sim;
use crate::{cfg_with, error_codes, only_error, types};
use pinhole::protocol::CloseReason;
use pinhole::room::{Effect, RoomConfig};
use serde_json::json;

#[test]
fn a_dropped_socket_keeps_its_place_until_grace_ends() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.advance(1_000);
    let dropped_at = s.now;
    s.client_close(b.conn);
    assert!(s.take(a.conn).is_empty(), "others are not told");
    assert_eq!(s.room.peer_count(), 2);
    let deadline = dropped_at + s.cfg.grace_ms;
    assert_eq!(s.room.next_alarm(), Some(deadline));
    let rec = s
        .stored_roster()
        .into_iter()
        .find(|r| r.id.as_str() == b.id)
        .unwrap();
    assert_eq!(rec.grace_until, Some(deadline));

    s.signal(a.conn, &b.id, r#""held""#);
    assert!(s.take(a.conn).is_empty(), "holding is silent");
    assert_eq!(s.held_keys().len(), 1);

    s.now = deadline - 1;
    s.alarm();
    // Nothing to do but schedule the next alarm.
    assert_eq!(s.last_fx, [Effect::SetAlarm(deadline)], "{:?}", s.last_fx);
    assert!(s.take(a.conn).is_empty());
    assert_eq!(s.room.peer_count(), 2);

    s.now = deadline;
    s.alarm();
    assert_eq!(s.take(a.conn), [json!({"type": "peerLeft", "id": b.id})]);
    assert_eq!(s.room.peer_count(), 1);
    assert!(s.held_keys().is_empty());
    assert_eq!(s.stored_roster().len(), 1);
    assert_eq!(s.stored_roster(), s.room.roster());
    // Only A's liveness deadline is left (its last frame was the signal at T0 + 1 s).
    assert_eq!(
        s.room.next_alarm(),
        Some(dropped_at + s.cfg.idle_timeout_ms)
    );
}

#[test]
fn resume_in_grace_keeps_the_id_rotates_the_token_and_delivers_held_in_order() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.client_close(b.conn);
    for i in 0..3 {
        s.signal(a.conn, &b.id, &format!(r#"{{"i":{i}}}"#));
    }
    let c = s.join("C");
    s.take(a.conn);
    s.advance(10_000);

    let (b2, msgs) = s.resume(&b.token);
    assert_eq!(types(&msgs), ["welcome", "signal", "signal", "signal"]);
    assert_eq!(msgs[0]["id"], b.id.as_str());
    let mut peers = msgs[0]["peers"].as_array().unwrap().clone();
    peers.sort_by_key(|p| p["name"].to_string());
    assert_eq!(
        peers,
        [
            json!({"id": a.id, "name": "A"}),
            json!({"id": c.id, "name": "C"})
        ]
    );
    let new_token = msgs[0]["resumeToken"].as_str().unwrap().to_owned();
    assert_ne!(new_token, b.token);
    for (i, m) in msgs[1..].iter().enumerate() {
        assert_eq!(
            *m,
            json!({"type": "signal", "from": a.id, "data": {"i": i}})
        );
    }
    assert!(s.held_keys().is_empty());
    assert!(s.take(a.conn).is_empty(), "a resume is not a join");
    assert!(s.take(c.conn).is_empty());
    assert_eq!(s.room.peer_count(), 3);
    let rec = s
        .stored_roster()
        .into_iter()
        .find(|r| r.id.as_str() == b.id)
        .unwrap();
    assert_eq!(rec.grace_until, None);

    // Live again: signals go straight through.
    s.signal(a.conn, &b.id, "7");
    assert_eq!(s.take(b2).len(), 1);

    // Token rotation: the old token is dead, the new one works (replacing b2).
    let (x, msgs) = s.resume(&b.token);
    assert_eq!(error_codes(&msgs), ["resumeFailed"]);
    assert_ne!(msgs[1]["id"], b.id.as_str());
    assert_eq!(s.room.peer_count(), 4);
    assert_eq!(s.closed(b2), None);
    s.leave(x);
    s.take(a.conn);
    let (_b3, msgs) = s.resume(&new_token);
    assert_eq!(types(&msgs), ["welcome"]);
    assert_eq!(msgs[0]["id"], b.id.as_str());
    assert_eq!(s.closed(b2), Some(CloseReason::Replaced));
}

#[test]
fn held_queue_is_bounded_by_count() {
    let mut s = Sim::new(cfg_with(|c| c.rate_burst = 1_000));
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.client_close(b.conn);
    for i in 0..64 {
        s.signal(a.conn, &b.id, &i.to_string());
    }
    assert!(s.take(a.conn).is_empty());
    s.signal(a.conn, &b.id, "64");
    assert_eq!(only_error(&s.take(a.conn)), "peerUnavailable");
    assert_eq!(s.held_keys().len(), 64);

    let (_, msgs) = s.resume(&b.token);
    assert_eq!(msgs.len(), 65);
    let got: Vec<i64> = msgs[1..]
        .iter()
        .map(|m| m["data"].as_i64().unwrap())
        .collect();
    assert_eq!(got, (0..64).collect::<Vec<_>>());
}

#[test]
fn held_queue_is_bounded_by_bytes() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.client_close(b.conn);
    let big = format!("\"{}\"", "x".repeat(60_000));
    for _ in 0..4 {
        s.signal(a.conn, &b.id, &big);
    }
    assert!(s.take(a.conn).is_empty());
    s.signal(a.conn, &b.id, &big);
    assert_eq!(only_error(&s.take(a.conn)), "peerUnavailable");
    // A small one still fits under 256 KiB.
    s.signal(a.conn, &b.id, "1");
    assert!(s.take(a.conn).is_empty());
    let (_, msgs) = s.resume(&b.token);
    assert_eq!(
        types(&msgs),
        ["welcome", "signal", "signal", "signal", "signal", "signal"]
    );
    assert_eq!(msgs[5]["data"], 1);
}

#[test]
fn an_expired_token_fails_and_joins_as_a_new_peer() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.client_close(b.conn);
    s.advance(s.cfg.grace_ms);
    s.alarm();
    assert_eq!(types(&s.take(a.conn)), ["peerLeft"]);
    let (b2, msgs) = s.resume(&b.token);
    assert_eq!(types(&msgs), ["error", "welcome"]);
    assert_eq!(error_codes(&msgs), ["resumeFailed"]);
    let new_id = msgs[1]["id"].as_str().unwrap();
    assert_ne!(new_id, b.id);
    assert_eq!(s.room.peer_of(b2).unwrap().as_str(), new_id);
    assert_eq!(
        s.take(a.conn),
        [json!({"type": "peerJoined", "id": new_id, "name": ""})]
    );
}

#[test]
fn a_token_past_its_deadline_fails_even_before_the_alarm_runs() {
    // Alarms can fire late; the deadline is what the spec promises, not the alarm.
    let mut s = Sim::new(cfg_with(|c| c.max_peers = 2));
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.client_close(b.conn);
    s.advance(s.cfg.grace_ms);
    let (b2, msgs) = s.resume(&b.token);
    assert_eq!(types(&msgs), ["error", "welcome"], "{msgs:?}");
    assert_eq!(error_codes(&msgs), ["resumeFailed"]);
    assert_ne!(msgs[1]["id"], b.id.as_str());
    // The expired peer no longer holds a place: the join fits in a room of two.
    assert_eq!(s.room.peer_count(), 2);
    let w = s.take(a.conn);
    assert_eq!(types(&w), ["peerLeft", "peerJoined"]);
    assert_eq!(w[0]["id"], b.id.as_str());
    assert_eq!(s.closed(b2), None);
}

#[test]
fn another_peers_id_with_a_wrong_secret_fails() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    // A's id with B's secret, and A's id with a made-up secret.
    let b_secret = b.token.split_once('.').unwrap().1;
    for forged in [
        format!("{}.{b_secret}", a.id),
        format!("{}.AAAAAAAAAAAAAAAAAAAAAA", a.id),
        a.id.clone(),
        String::new(),
    ] {
        let (c, msgs) = s.resume(&forged);
        assert_eq!(error_codes(&msgs), ["resumeFailed"], "{forged}");
        assert_ne!(msgs[1]["id"], a.id.as_str());
        assert_eq!(s.closed(a.conn), None);
        assert_eq!(s.room.peer_of(a.conn).unwrap().as_str(), a.id);
        s.leave(c);
    }
}

#[test]
fn resume_while_the_old_socket_is_open_replaces_it() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    let (b2, msgs) = s.resume(&b.token);
    assert_eq!(types(&msgs), ["welcome"]);
    assert_eq!(msgs[0]["id"], b.id.as_str());
    assert_eq!(s.closed(b.conn), Some(CloseReason::Replaced));
    assert!(s.take(a.conn).is_empty());
    s.signal(a.conn, &b.id, "1");
    assert_eq!(s.take(b2).len(), 1);
    assert!(s.take(b.conn).is_empty());

    // The runtime later reports the replaced socket's close: nothing changes.
    let before = s.room.next_alarm();
    s.client_close(b.conn);
    assert!(s.last_fx.is_empty(), "{:?}", s.last_fx);
    assert_eq!(s.room.next_alarm(), before);
    assert_eq!(s.room.peer_of(b2).unwrap().as_str(), b.id);
    s.signal(a.conn, &b.id, "2");
    assert_eq!(s.take(b2).len(), 1);
    // Frames the replaced socket still manages to send are ignored.
    s.signal(b.conn, &a.id, "3");
    assert!(s.last_fx.is_empty());
}
