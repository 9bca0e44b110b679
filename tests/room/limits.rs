//! The rate limit, flood close, frame size and protocol version.

use crate::sim::Sim;
use crate::{error_codes, only_error};
use pinhole::protocol::CloseReason;
use pinhole::room::RoomConfig;

#[test]
fn rate_bucket_passes_a_burst_of_50_then_refills_at_20_per_second() {
    let mut s = Sim::new(RoomConfig::default());
    let b = s.join("B");
    let a = s.join("A"); // the join is A's first frame
    s.take(b.conn);
    for i in 1..50 {
        s.signal(a.conn, &b.id, &i.to_string());
    }
    assert_eq!(s.take(b.conn).len(), 49);
    assert!(s.take(a.conn).is_empty());
    s.signal(a.conn, &b.id, "51");
    assert_eq!(only_error(&s.take(a.conn)), "rateLimited");
    assert!(s.take(b.conn).is_empty(), "a limited message is dropped");

    s.advance(1_000);
    for i in 0..20 {
        s.signal(a.conn, &b.id, &i.to_string());
    }
    assert_eq!(s.take(b.conn).len(), 20);
    assert!(s.take(a.conn).is_empty());
    s.signal(a.conn, &b.id, "21");
    assert_eq!(only_error(&s.take(a.conn)), "rateLimited");
    s.advance(50);
    s.signal(a.conn, &b.id, "22");
    assert_eq!(s.take(b.conn).len(), 1);
    assert_eq!(s.closed(a.conn), None);
}

#[test]
fn a_sustained_flood_closes_1008() {
    let mut s = Sim::new(RoomConfig::default());
    let b = s.join("B");
    let a = s.join("A");
    s.take(b.conn);
    let strikes = s.cfg.flood_strikes as usize;
    // The join and 49 signals use the burst; the next `strikes - 1` are dropped.
    for i in 1..49 + strikes {
        s.signal(a.conn, &b.id, &i.to_string());
    }
    let limited = error_codes(&s.take(a.conn)).len();
    assert_eq!(limited, strikes - 1);
    assert_eq!(s.closed(a.conn), None);
    s.signal(a.conn, &b.id, "last");
    assert_eq!(s.closed(a.conn), Some(CloseReason::Flood));
    assert_eq!(s.take(b.conn).len(), 49);
    // The flooder's peer enters grace like any dropped socket; B is not told.
    assert_eq!(s.room.peer_count(), 2);
}

#[test]
fn a_refilled_bucket_forgives_earlier_strikes() {
    let mut s = Sim::new(RoomConfig::default());
    let b = s.join("B");
    let a = s.join("A");
    s.take(b.conn);
    let strikes = s.cfg.flood_strikes as usize;
    // Two bursts, each dropping well over half the strike limit, with a full refill between.
    for round in 0..2 {
        for i in 0..50 + strikes * 2 / 3 {
            s.signal(a.conn, &b.id, &i.to_string());
        }
        assert_eq!(s.closed(a.conn), None, "round {round}");
        s.advance(3_000);
    }
    assert!(error_codes(&s.take(a.conn))
        .iter()
        .all(|c| *c == "rateLimited"));
}

#[test]
fn a_slow_steady_sender_is_never_closed() {
    let mut s = Sim::new(RoomConfig::default());
    let b = s.join("B");
    let a = s.join("A");
    s.take(b.conn);
    for i in 0..2_000 {
        s.advance(50); // exactly 20/s
        s.signal(a.conn, &b.id, &i.to_string());
    }
    assert!(s.take(a.conn).is_empty());
    assert_eq!(s.take(b.conn).len(), 2_000);
}

#[test]
fn oversize_frames_get_too_large_and_1009() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    // Exactly 64 KiB is allowed.
    let head = format!(r#"{{"type":"signal","to":"{}","data":""#, b.id);
    let pad = 64 * 1024 - head.len() - 2;
    let frame = format!("{head}{}\"}}", "x".repeat(pad));
    assert_eq!(frame.len(), 64 * 1024);
    s.text(a.conn, &frame);
    assert_eq!(s.take(b.conn).len(), 1);
    assert!(s.take(a.conn).is_empty());

    let frame = format!("{head}{}\"}}", "x".repeat(pad + 1));
    s.text(a.conn, &frame);
    assert_eq!(only_error(&s.take(a.conn)), "tooLarge");
    assert_eq!(s.closed(a.conn), Some(CloseReason::TooLarge));
    assert!(s.take(b.conn).is_empty());

    s.binary(b.conn, 64 * 1024 + 1);
    assert_eq!(only_error(&s.take(b.conn)), "tooLarge");
    assert_eq!(s.closed(b.conn), Some(CloseReason::TooLarge));
}

#[test]
fn binary_frames_are_bad_messages_and_the_socket_stays_usable() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);
    s.binary(a.conn, 10);
    assert_eq!(only_error(&s.take(a.conn)), "badMessage");
    for garbage in ["", "ping", "{", "[]", r#"{"type":"shout"}"#] {
        s.text(a.conn, garbage);
        assert_eq!(only_error(&s.take(a.conn)), "badMessage", "{garbage:?}");
    }
    assert_eq!(s.closed(a.conn), None);
    s.signal(a.conn, &b.id, "1");
    assert_eq!(s.take(b.conn).len(), 1);
}

#[test]
fn unsupported_version_closes_4002() {
    let mut s = Sim::new(RoomConfig::default());
    let x = s.open();
    s.text(x, r#"{"type":"join","v":2,"name":"Future"}"#);
    assert_eq!(only_error(&s.take(x)), "unsupportedVersion");
    assert_eq!(s.closed(x), Some(CloseReason::UnsupportedVersion));
    assert_eq!(s.room.peer_count(), 0);
    assert_eq!(s.room.conn_count(), 0);
}

#[test]
fn unjoined_sockets_are_capped_per_room_and_joined_ones_do_not_count() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let waiting: Vec<_> = (0..8).map(|_| s.open()).collect();
    assert!(!s.room.admits_socket(), "8 = 2 × maxPeers unjoined sockets");
    // A waiting socket that joins makes room for another; a closed one too.
    s.text(waiting[0], r#"{"type":"join","v":1,"name":"B"}"#);
    assert!(s.room.admits_socket());
    s.open();
    assert!(!s.room.admits_socket());
    s.client_close(waiting[1]);
    assert!(s.room.admits_socket());
    assert_eq!(s.closed(a.conn), None);
}
