//! Relaying signals: only to the target, `from` stamped, data intact; and the errors.

use crate::sim::Sim;
use crate::{error_codes, only_error, types};
use pinhole::room::RoomConfig;
use serde_json::json;

#[test]
fn a_signal_reaches_only_its_target_with_from_stamped_and_data_intact() {
    let mut s = Sim::new(RoomConfig::default());
    let [a, b, c] = s.join_all(["A", "B", "C"]);
    let data = r#"{"sdp":"v=0\r\n", "n" : 1.50, "nested":[null,{"x":"\u00e9"}]}"#;
    let frame = format!(
        r#"{{"type":"signal","from":"ffffffffffffffff","to":"{}","data":{data}}}"#,
        b.id
    );
    s.text(a.conn, &frame);
    assert_eq!(
        s.take_raw(b.conn),
        [format!(
            r#"{{"type":"signal","from":"{}","data":{data}}}"#,
            a.id
        )]
    );
    assert!(s.take(a.conn).is_empty());
    assert!(s.take(c.conn).is_empty());

    // And the other way round, with data that is not an object.
    s.signal(c.conn, &a.id, "null");
    assert_eq!(
        s.take(a.conn),
        [json!({"type": "signal", "from": c.id, "data": null})]
    );
    assert!(s.take(b.conn).is_empty());
}

#[test]
fn routing_errors() {
    let mut s = Sim::new(RoomConfig::default());
    let x = s.open();
    s.signal(x, "0123456789abcdef", "1");
    assert_eq!(only_error(&s.take(x)), "notJoined");
    s.leave(x);
    assert_eq!(only_error(&s.take(x)), "notJoined");
    assert_eq!(s.closed(x), None);

    let a = s.join("A");
    let b = s.join("B");
    s.take(a.conn);

    s.signal(a.conn, "0123456789abcdef", "1");
    assert_eq!(only_error(&s.take(a.conn)), "unknownPeer");
    s.signal(a.conn, &a.id, "1");
    assert_eq!(only_error(&s.take(a.conn)), "badMessage");
    s.text(a.conn, r#"{"type":"join","v":1,"name":"again"}"#);
    assert_eq!(only_error(&s.take(a.conn)), "badMessage");
    assert_eq!(s.room.peer_count(), 2);
    assert_eq!(s.room.peer_of(a.conn).unwrap().as_str(), a.id);
    assert!(s.take(b.conn).is_empty(), "nothing leaked to B");
    // Still usable after every error.
    s.signal(a.conn, &b.id, "2");
    assert_eq!(s.take(b.conn).len(), 1);
}

#[test]
fn no_cross_talk_between_rooms() {
    let mut r1 = Sim::seeded(RoomConfig::default(), 1);
    let mut r2 = Sim::seeded(RoomConfig::default(), 2);
    let a = r1.join("A");
    let b = r2.join("B");
    let b2 = r2.join("B2");
    r2.take(b.conn);
    assert_ne!(a.id, b.id);
    r1.signal(a.conn, &b.id, "1");
    assert_eq!(only_error(&r1.take(a.conn)), "unknownPeer");
    // A token from another room resumes nothing here.
    let (c, msgs) = r1.resume(&b.token);
    assert_eq!(types(&msgs), ["error", "welcome"]);
    assert_eq!(error_codes(&msgs), ["resumeFailed"]);
    assert_ne!(msgs[1]["id"], b.id.as_str());
    assert_eq!(r1.room.peer_count(), 2);
    assert!(r2.take(b.conn).is_empty());
    assert!(r2.take(b2.conn).is_empty());
    assert_eq!(r2.closed(b.conn), None);
    let _ = c;
}
