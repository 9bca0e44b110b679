// WebSocket close codes the signaling server sends, by reason. Mirrors `CloseReason` in
// src/protocol/close.rs; `cargo test --test vocabulary` fails when the two disagree (and
// `UPDATE=1 cargo test --test vocabulary` rewrites this file from the Rust definition).
export const CLOSE = Object.freeze({
  LEFT: 1000,
  NO_KEEP_ALIVE: 1001,
  FLOOD: 1008,
  TOO_LARGE: 1009,
  SESSION_LOST: 1011,
  UNKNOWN_SOCKET: 1011,
  SOCKET_ERROR: 1011,
  REPLACED: 4001,
  UNSUPPORTED_VERSION: 4002,
  ROOM_FULL: 4003,
  JOIN_TIMEOUT: 4008,
});
