//! Joining, the room-full refusal, and leaving.

use crate::sim::Sim;
use crate::{cfg_with, only_error, types};
use pinhole::ids::PeerId;
use pinhole::protocol::CloseReason;
use pinhole::room::{Effect, RoomConfig, ROSTER_KEY};
use serde_json::json;

#[test]
fn join_gets_welcome_first_and_others_get_peer_joined() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.open();
    s.text(a, r#"{"type":"join","v":1,"name":"  Ana\u0007\n "}"#);
    let msgs = s.take(a);
    assert_eq!(types(&msgs), ["welcome"]);
    let w = &msgs[0];
    let a_id = w["id"].as_str().unwrap().to_owned();
    assert_eq!(a_id.len(), 16);
    assert!(PeerId::parse(&a_id).is_some(), "{a_id}");
    assert_eq!(w["peers"], json!([]));
    assert_eq!(w["maxPeers"], 4);
    let a_token = w["resumeToken"].as_str().unwrap().to_owned();
    // `<id>.<128 bits base64url>`.
    let (tid, secret) = a_token.split_once('.').unwrap();
    assert_eq!(tid, a_id);
    assert!(secret.len() >= 22, "{a_token}");

    let b = s.open();
    s.text(b, r#"{"type":"join","v":1,"name":"Bo"}"#);
    let msgs = s.take(b);
    assert_eq!(types(&msgs), ["welcome"]);
    let b_id = msgs[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(a_id, b_id);
    assert_ne!(msgs[0]["resumeToken"], a_token.as_str());
    assert_eq!(msgs[0]["peers"], json!([{"id": a_id, "name": "Ana"}]));
    assert_eq!(
        s.take(a),
        [json!({"type": "peerJoined", "id": b_id, "name": "Bo"})]
    );

    // No name at all is an empty name.
    let c = s.open();
    let c = s.join_on(c, r#"{"type":"join","v":1}"#);
    assert_eq!(
        s.take(a),
        [json!({"type": "peerJoined", "id": c.id, "name": ""})]
    );
    assert_eq!(s.take(b).len(), 1);
    assert_eq!(s.room.peer_count(), 3);
    assert_eq!(s.room.peer_of(a).map(PeerId::as_str), Some(a_id.as_str()));

    // The roster is persisted, with the token's hash but never the token.
    let roster = s.stored_roster();
    assert_eq!(roster, s.room.roster());
    assert_eq!(roster.len(), 3);
    let stored = &s.storage[ROSTER_KEY];
    assert!(!stored.contains(secret), "token secret stored: {stored}");
    assert!(roster.iter().any(|r| r.name == "Ana"));
}

#[test]
fn a_bad_join_does_not_join() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.open();
    let long = "n".repeat(33);
    s.text(
        a,
        &json!({"type": "join", "v": 1, "name": long}).to_string(),
    );
    assert_eq!(only_error(&s.take(a)), "badMessage");
    assert_eq!(s.room.peer_count(), 0);
    assert_eq!(s.closed(a), None);
    // The socket can still join properly.
    let p = s.join_on(a, r#"{"type":"join","v":1,"name":"ok"}"#);
    assert_eq!(s.room.peer_of(a).unwrap().as_str(), p.id);
}

#[test]
fn room_full_at_default_four() {
    let mut s = Sim::new(RoomConfig::default());
    let peers = s.join_all(["p0", "p1", "p2", "p3"]);
    let e = s.open();
    s.text(e, r#"{"type":"join","v":1,"name":"Eve"}"#);
    assert_eq!(only_error(&s.take(e)), "roomFull");
    assert_eq!(s.closed(e), Some(CloseReason::RoomFull));
    assert_eq!(s.room.peer_count(), 4);
    assert_eq!(s.room.conn_count(), 4);
    for p in &peers {
        assert!(s.take(p.conn).is_empty(), "others are not told");
    }
}

#[test]
fn room_full_at_two_counts_peers_in_grace() {
    let mut s = Sim::new(cfg_with(|c| c.max_peers = 2));
    let a = s.join("A");
    let b = s.join("B");
    assert_eq!(s.take(b.conn).len(), 0);
    let w = s.take(a.conn);
    assert_eq!(types(&w), ["peerJoined"]);

    s.client_close(b.conn);
    let c = s.open();
    s.text(c, r#"{"type":"join","v":1}"#);
    assert_eq!(only_error(&s.take(c)), "roomFull");
    assert_eq!(s.closed(c), Some(CloseReason::RoomFull));

    // Once B's grace ends there is room again.
    s.advance(s.cfg.grace_ms);
    s.alarm();
    let d = s.join("D");
    let w = s.take(a.conn);
    assert_eq!(types(&w), ["peerLeft", "peerJoined"]);
    assert_eq!(w[1]["id"], d.id.as_str());
    assert_eq!(s.room.peer_count(), 2);
}

#[test]
fn a_peer_away_longer_than_the_reserve_gives_its_place_to_a_newcomer() {
    let mut s = Sim::new(cfg_with(|c| c.max_peers = 2));
    let [a, b] = s.join_all(["A", "B"]);
    s.client_close(b.conn);
    // Within the reserve (10 s) B keeps its place...
    s.advance(s.cfg.grace_reserve_ms - 1);
    let early = s.open();
    s.text(early, r#"{"type":"join","v":1}"#);
    assert_eq!(only_error(&s.take(early)), "roomFull");
    // ... after it, a newcomer takes it: B is gone for the others, the newcomer is in.
    s.advance(1);
    let d = s.join("D");
    let w = s.take(a.conn);
    assert_eq!(types(&w), ["peerLeft", "peerJoined"]);
    assert_eq!(w[0]["id"], b.id.as_str());
    assert_eq!(w[1]["id"], d.id.as_str());
    // B, back within its grace period, finds its session gone and the room full.
    let (c, msgs) = s.resume(&b.token);
    assert_eq!(types(&msgs), ["error", "error"]);
    assert_eq!(msgs[0]["code"], "resumeFailed");
    assert_eq!(msgs[1]["code"], "roomFull");
    assert_eq!(s.closed(c), Some(CloseReason::RoomFull));
    assert_eq!(s.room.peer_count(), 2);
}

#[test]
fn with_several_away_the_longest_away_goes_first_and_a_resume_in_the_reserve_keeps_its_place() {
    let mut s = Sim::new(cfg_with(|c| c.max_peers = 3));
    let [a, b, c] = s.join_all(["A", "B", "C"]);
    s.client_close(b.conn);
    s.advance(2_000);
    s.client_close(c.conn);
    s.advance(s.cfg.grace_reserve_ms);
    let d = s.join("D");
    let w = s.take(a.conn);
    assert_eq!(types(&w), ["peerLeft", "peerJoined"]);
    assert_eq!(w[0]["id"], b.id.as_str());
    assert_eq!(w[1]["id"], d.id.as_str());
    // C left 2 s after B: it is the one still there, and may resume.
    let (conn, msgs) = s.resume(&c.token);
    assert_eq!(types(&msgs), ["welcome"]);
    assert_eq!(s.closed(conn), None);
}

#[test]
fn leave_tells_the_others_and_the_last_leave_clears_storage() {
    let mut s = Sim::new(RoomConfig::default());
    let [a, b, c] = s.join_all(["A", "B", "C"]);
    s.leave(b.conn);
    assert_eq!(s.closed(b.conn), Some(CloseReason::Left));
    assert!(s.take(b.conn).is_empty());
    for p in [&a, &c] {
        assert_eq!(s.take(p.conn), [json!({"type": "peerLeft", "id": b.id})]);
    }
    let ids: Vec<String> = s.stored_roster().iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&b.id));
    assert_eq!(s.room.peer_count(), 2);

    // Leave a message held for someone in grace, so clearing has something to clear.
    s.client_close(c.conn);
    s.signal(a.conn, &c.id, "1");
    assert_eq!(s.held_keys().len(), 1);
    s.leave(a.conn);
    assert!(!s.last_fx.contains(&Effect::ClearStorage));
    assert_eq!(s.room.peer_count(), 1);
    // C's grace ends: the room is empty and keeps nothing.
    s.advance(s.cfg.grace_ms);
    s.alarm();
    assert!(s.last_fx.contains(&Effect::ClearStorage));
    assert!(s.storage.is_empty(), "{:?}", s.storage);
    assert_eq!(s.room.next_alarm(), None);
    assert_eq!((s.room.peer_count(), s.room.conn_count()), (0, 0));
}

#[test]
fn last_leave_emits_clear_storage() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    s.leave(a.conn);
    assert!(s.last_fx.contains(&Effect::ClearStorage));
    assert!(s.storage.is_empty());
    assert_eq!(s.room.next_alarm(), None);
}
