//! Pinhole: private video calls for two to four people, signaled at the edge.
//!
//! The crate is split the way a sans-I/O library is: `ids`, `protocol`, `room`, `config`,
//! `turn` (credentials), `ice_url`, `ice` (the ICE servers answer), `origin` and `http` are
//! pure Rust with no `worker` import, so `cargo test` on the host covers them. The `edge` module
//! (wasm32 only) is the thin runtime shell: the stateless fetch handler and the `Room` Durable
//! Object.

pub mod config;
pub mod http;
pub mod ice;
pub mod ice_url;
pub mod ids;
pub mod origin;
pub mod protocol;
pub mod room;
pub mod turn;

#[cfg(target_arch = "wasm32")]
mod edge;
