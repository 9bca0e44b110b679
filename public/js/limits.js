// Limits the app shares with the server, each named once (`cargo test --test vocabulary` checks
// that they are equal). The server defines its own in
// src/protocol/mod.rs (NAME_MAX_CHARS), src/ids.rs (ROOM_CODE_MAX) and src/config.rs (MAX_PEERS).

/** Longest display name, in characters (the server rejects longer ones). */
export const NAME_MAX_CHARS = 32;

/** Longest room code, in characters of [a-z0-9-]. */
export const ROOM_CODE_MAX_CHARS = 64;

/** People in a call when the server's welcome does not say (the server's default MAX_PEERS). */
export const DEFAULT_MAX_PEERS = 4;

/** Longest chat message, in characters. Chat goes peer to peer, so only the app enforces it. */
export const CHAT_MAX_CHARS = 2000;

/** A typed display name as it is sent and remembered: trimmed and cut to NAME_MAX_CHARS. */
export const trimName = (name) => String(name).trim().slice(0, NAME_MAX_CHARS);
