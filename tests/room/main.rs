// Run with: cargo test --test room
// (`TRACE=1 cargo test --test room property -- --nocapture` prints every effect of the
// property test, to replay a failing seed.)
//
// Scripted multi-peer scenarios and a seeded property test for the pure room state machine
// (`pinhole::room`), one file per behaviour, driven through the simulator in `sim.rs` (shared
// with the fuzz target), which applies every `Effect` the way `src/edge/room.rs` does.

mod sim;

mod eviction;
mod join;
mod limits;
mod liveness;
mod log;
mod property;
mod resume;
mod routing;

use pinhole::room::RoomConfig;
use serde_json::Value;

fn error_codes(msgs: &[Value]) -> Vec<&str> {
    msgs.iter()
        .filter(|m| m["type"] == "error")
        .map(|m| m["code"].as_str().unwrap())
        .collect()
}

fn types(msgs: &[Value]) -> Vec<&str> {
    msgs.iter().map(|m| m["type"].as_str().unwrap()).collect()
}

fn only_error(msgs: &[Value]) -> &str {
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["type"], "error", "{msgs:?}");
    msgs[0]["code"].as_str().unwrap()
}

fn cfg_with(f: impl FnOnce(&mut RoomConfig)) -> RoomConfig {
    let mut c = RoomConfig::default();
    f(&mut c);
    c
}
