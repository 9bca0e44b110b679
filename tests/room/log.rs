//! Which events the room logs: each once, and a close only when it is news.

use crate::sim::Sim;
use pinhole::protocol::{CloseReason, Detail, LogEvent};
use pinhole::room::{Disconnect, RoomConfig};

#[test]
fn a_call_logs_each_event_once_and_no_close_for_the_answer_to_a_leave() {
    // The host twin of the integration test "log: one line per room event".
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    let b = s.join("B");
    let c = s.join("C");
    s.leave(a.conn);
    s.client_close(b.conn);
    s.leave(c.conn);
    s.advance(s.cfg.grace_ms);
    s.alarm();
    use LogEvent::*;
    let counts: Vec<(LogEvent, usize)> = [
        Join,
        Leave,
        SocketClosed,
        Close,
        GraceStart,
        GraceExpired,
        RoomCleared,
    ]
    .into_iter()
    .map(|e| (e, s.logged(e)))
    .collect();
    assert_eq!(
        counts,
        [
            (Join, 3),
            (Leave, 2),
            (SocketClosed, 1),
            (Close, 0),
            (GraceStart, 1),
            (GraceExpired, 1),
            (RoomCleared, 1)
        ]
    );
    // The close after `leave` is answered by the client; the room no longer holds the socket
    // then, so that is not news either.
    s.client_close(a.conn);
    assert_eq!(s.logged(SocketClosed), 1);
}

#[test]
fn the_rooms_own_closes_are_logged_with_their_code_then_their_cause() {
    let mut s = Sim::new(RoomConfig {
        max_peers: 1,
        flood_strikes: 1,
        rate_burst: 2,
        ..RoomConfig::default()
    });
    let a = s.join("A");
    let x = s.open();
    s.text(x, r#"{"type":"join","v":1}"#);
    assert_eq!(s.closed(x), Some(CloseReason::RoomFull));
    let log: Vec<&(LogEvent, Detail)> = s.log.iter().skip(1).collect();
    assert_eq!(
        log,
        [
            &(LogEvent::Close, Detail::Code(4003)),
            &(LogEvent::RoomFull, Detail::Peers(1))
        ]
    );
    s.log.clear();
    // The join took one token of two and the next frame takes the other; the one after is over
    // the rate, and here a single strike is a flood.
    s.text(a.conn, "{");
    s.text(a.conn, "{");
    assert_eq!(s.closed(a.conn), Some(CloseReason::Flood));
    assert_eq!(
        s.log,
        [
            (LogEvent::Close, Detail::Code(1008)),
            (LogEvent::FloodClosed, Detail::Peers(1)),
            (LogEvent::GraceStart, Detail::Peers(1)),
        ]
    );
}

#[test]
fn a_socket_error_is_logged_with_1011_and_starts_grace() {
    let mut s = Sim::new(RoomConfig::default());
    let a = s.join("A");
    s.log.clear();
    s.disconnect(a.conn, Disconnect::Error);
    assert_eq!(
        s.log,
        [
            (LogEvent::SocketError, Detail::Code(1011)),
            (LogEvent::GraceStart, Detail::Peers(1)),
        ]
    );
    // A socket the room never held is not logged.
    s.disconnect(a.conn, Disconnect::Error);
    assert_eq!(s.log.len(), 2);
}
