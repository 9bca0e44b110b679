//! The `Room` Durable Object: one per room, WebSocket signaling over the hibernation API.
//! It translates runtime events into calls on [`crate::room::Room`] and carries out the
//! effects, and decides nothing itself: what to send, close, store and log, and when the alarm
//! fires, all come from the room. Nothing lives only in memory: after an eviction the room is
//! rebuilt from the roster, held messages and alarm in storage plus each open socket's tag and
//! attachment.
//!
//! Every handler is synchronous. The class is exported with `wasm_bindgen` directly rather than
//! through the `worker` crate's `#[durable_object]` and `DurableObject` trait, whose handlers
//! are `async` and cost a Rust future, a JavaScript Promise and a microtask queue round per
//! event even when nothing waits (and their machinery a good part of the WASM). Storage goes through the synchronous key-value API of SQLite-backed objects
//! (`ctx.storage.kv`), so relaying, joining and even the rebuild after a wake run to the end in
//! one call. Only the alarm and a cleared room call asynchronous runtime APIs (`setAlarm`,
//! `deleteAlarm`, `deleteAll`); their promises are handed back to the runtime, which keeps the
//! event open (and the output gate shut) until they settle. docs/PERFORMANCE.md measures it.

use crate::config;
use crate::protocol::{close, CloseReason, Detail, LogEvent};
use crate::room::{
    self as room_core, Attachment, ConnId, Disconnect, Effect, Entropy, Frame, Millis, PeerRecord,
    RoomConfig, Stored, ALARM_KEY, HELD_PREFIX, ROSTER_KEY,
};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::worker_sys::ext::WebSocketExt;
use worker::worker_sys::web_sys;
use worker::worker_sys::web_sys::WebSocket;
use worker::worker_sys::{DurableObjectState, DurableObjectStorage, WebSocketRequestResponsePair};
use worker::{js_sys, Env, Response, WebSocketPair};

type JsResult<T> = std::result::Result<T, JsValue>;

#[wasm_bindgen]
extern "C" {
    /// `ctx.storage.kv`: the synchronous key-value API of SQLite-backed Durable Objects (not
    /// bound by worker 0.8.7). It reads and writes the same data as the asynchronous API.
    type SyncKv;

    /// A `DurableObjectStorage`, seen for the property worker 0.8.7 does not bind.
    type StorageKv;

    #[wasm_bindgen(method, getter)]
    fn kv(this: &StorageKv) -> SyncKv;

    #[wasm_bindgen(method, catch)]
    fn get(this: &SyncKv, key: &str) -> JsResult<JsValue>;

    #[wasm_bindgen(method, catch)]
    fn put(this: &SyncKv, key: &str, value: &JsValue) -> JsResult<()>;

    #[wasm_bindgen(method, catch)]
    fn delete(this: &SyncKv, key: &str) -> JsResult<JsValue>;

    #[wasm_bindgen(method, catch)]
    fn list(this: &SyncKv, options: &JsValue) -> JsResult<js_sys::Iterator>;

    /// A `DurableObjectState`, seen for the method worker 0.8.7 does not bind.
    type StateTimestamps;

    #[wasm_bindgen(method, catch, js_name = getWebSocketAutoResponseTimestamp)]
    fn auto_response_timestamp(this: &StateTimestamps, ws: &WebSocket) -> JsResult<JsValue>;
}

/// Tags are `c` + 14 hex digits: well under the runtime's 256-character tag limit, and minted
/// here, never from input.
fn conn_tag(conn: ConnId) -> String {
    format!("c{conn:014x}")
}

fn parse_tag(tag: &str) -> Option<ConnId> {
    let hex = tag.strip_prefix('c')?;
    (hex.len() == 14).then(|| ConnId::from_str_radix(hex, 16).ok())?
}

struct Rng;

impl Entropy for Rng {
    fn fill(&mut self, buf: &mut [u8]) {
        // crypto.getRandomValues cannot fail for buffers this small (≤ 64 KiB); without it no
        // id or token would be safe to mint, so there is nothing better to do than stop.
        getrandom::fill(buf).expect("Web Crypto getRandomValues");
    }
}

/// `Date.now()`, without building a `Date` object on every event as `worker::Date::now` does.
fn now() -> Millis {
    js_sys::Date::now() as Millis
}

/// Closes a socket with one of the server's reasons. A socket that is already closing cannot
/// be closed again; nothing to do then.
fn close_socket(ws: &WebSocket, reason: CloseReason) {
    let _ = ws.close_with_code_and_reason(reason.code(), reason.reason());
}

/// A stored value or attachment as JSON text. Values are written as JSON strings; rooms and
/// sockets from before that were stored as structured-clone objects, read back through
/// `JSON.stringify`. `None` for a missing or unreadable value.
fn read_json<T: DeserializeOwned>(value: &JsValue) -> Option<T> {
    if value.is_undefined() || value.is_null() {
        return None;
    }
    let text = match value.as_string() {
        Some(s) => s,
        None => js_sys::JSON::stringify(value).ok()?.as_string()?,
    };
    serde_json::from_str(&text).ok()
}

fn json_value<T: serde::Serialize>(value: &T) -> JsValue {
    // Plain records of strings and integers: serializing them cannot fail.
    JsValue::from_str(&serde_json::to_string(value).expect("records serialize"))
}

/// What the runtime should wait for before the event ends: nothing, or every promise of the
/// asynchronous calls the event made.
fn settle(pending: Vec<js_sys::Promise>) -> JsValue {
    if pending.is_empty() {
        JsValue::UNDEFINED
    } else {
        js_sys::Promise::all(&pending.into_iter().collect::<js_sys::Array>()).into()
    }
}

/// The `Room` Durable Object class (`[[durable_objects.bindings]]` in wrangler.toml).
#[wasm_bindgen]
pub struct Room {
    state: DurableObjectState,
    storage: DurableObjectStorage,
    kv: SyncKv,
    cfg: RoomConfig,
    /// The room, once loaded in this wake: rebuilt after every eviction.
    loaded: RefCell<Option<room_core::Room>>,
    /// Sockets by connection, filled on first use: saves a tag lookup (a runtime call that
    /// builds a fresh array) on every relayed message. Lost with the instance, like `loaded`.
    sockets: RefCell<HashMap<ConnId, WebSocket>>,
    /// First 8 hex digits of the object id: a log tag that is not the room's name.
    tag: String,
    /// Log lines of the current event, written as one `console.log` when it ends: each call
    /// is costly locally (wrangler dev carries it over the inspector), and a leave that empties
    /// a room has several lines to say.
    log: RefCell<Vec<String>>,
}

#[wasm_bindgen]
impl Room {
    #[wasm_bindgen(constructor)]
    pub fn new(state: DurableObjectState, env: Env) -> Room {
        // The fetch handler refuses to forward when the config is bad, so the default here is
        // only reached if a variable changed between the two reads.
        let cfg = config::room_config(|k| super::var(&env, k)).unwrap_or_default();
        // The id's first 8 hex digits; an id the runtime cannot print leaves the tag empty.
        let tag = state
            .id()
            .ok()
            .and_then(|id| id.to_string().ok())
            .map(|id| id.chars().take(8).collect())
            .unwrap_or_default();
        // `ping` → `pong` is answered by the runtime itself, without waking this object.
        let auto = WebSocketRequestResponsePair::new("ping", "pong")
            .and_then(|pair| state.set_websocket_auto_response(&pair));
        if auto.is_err() {
            worker::console_error!("could not set the ping auto-response");
        }
        // Every Durable Object has storage; the constructor has no way to report an error.
        let storage = state.storage().expect("a Durable Object's storage");
        let kv = storage.unchecked_ref::<StorageKv>().kv();
        Room {
            state,
            storage,
            kv,
            cfg,
            loaded: RefCell::new(None),
            sockets: RefCell::default(),
            tag,
            log: RefCell::default(),
        }
    }

    /// The Worker forwards only validated WebSocket upgrades here: accept one.
    pub fn fetch(&self, _req: web_sys::Request) -> JsResult<web_sys::Response> {
        let mut pending = Vec::new();
        let opened = self.open(&mut pending);
        self.flush_log();
        let client = opened?;
        if !pending.is_empty() {
            // The event stays open (and its errors reported) until they settle.
            self.state.wait_until(&js_sys::Promise::all(
                &pending.into_iter().collect::<js_sys::Array>(),
            ))?;
        }
        let resp = match client {
            Some(client) => Response::from_websocket(client),
            None => super::error(
                503,
                "roomBusy",
                Some("too many connections are waiting to join this room; try again shortly"),
            )
            .and_then(|mut r| {
                r.headers_mut().set("Retry-After", "5")?;
                Ok(r)
            }),
        }
        .map_err(JsValue::from)?;
        Ok(web_sys::Response::from(resp))
    }
}

/// The runtime's hibernation handlers, synchronous (see the module comment). Each returns
/// `undefined`, or a promise when the event made asynchronous calls; an error is thrown to the
/// runtime, which then resets the object (as it would for a failed storage write).
#[wasm_bindgen]
impl Room {
    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(&self, ws: WebSocket, message: JsValue) -> JsResult<JsValue> {
        self.event(|pending| self.message(&ws, &message, pending))
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn web_socket_close(
        &self,
        ws: WebSocket,
        code: f64,
        _reason: JsValue,
        _clean: JsValue,
    ) -> JsResult<JsValue> {
        // Reciprocate the close, with a code that may be sent. (`as` saturates: a code out of
        // range maps to an out-of-range code, which `reply_code` answers with 1002.)
        let code = close::reply_code(code as usize);
        let _ = ws.close_with_code_and_reason(code, "");
        self.event(|pending| self.forget(&ws, Disconnect::Closed { code }, pending))
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: WebSocket, _error: JsValue) -> JsResult<JsValue> {
        close_socket(&ws, CloseReason::SocketError);
        self.event(|pending| self.forget(&ws, Disconnect::Error, pending))
    }

    #[wasm_bindgen(js_name = alarm)]
    pub fn alarm(&self) -> JsResult<JsValue> {
        self.event(|pending| self.fire(pending))
    }
}

impl Room {
    /// Accepts the upgrade; `None` when the room takes no more sockets.
    fn open(&self, pending: &mut Vec<js_sys::Promise>) -> JsResult<Option<worker::WebSocket>> {
        self.ensure_loaded(pending)?;
        if !self.with_room(|room| room.admits_socket()) {
            let peers = self.with_room(|room| room.peer_count());
            self.log(LogEvent::RoomBusy, Detail::Peers(peers));
            return Ok(None);
        }
        let pair = WebSocketPair::new().map_err(JsValue::from)?;
        let conn = loop {
            let mut b = [0u8; 8];
            Rng.fill(&mut b);
            // 53 bits: attachments pass numbers through JavaScript.
            let conn = u64::from_le_bytes(b) & ((1 << 53) - 1);
            if self.socket_uncached(conn).is_none() {
                break conn;
            }
        };
        let server: &WebSocket = pair.server.as_ref();
        self.state
            .accept_websocket_with_tags(server, vec![JsValue::from_str(&conn_tag(conn))])?;
        let fx = self.with_room(|room| room.on_open(conn, now()));
        self.apply(fx, pending)?;
        Ok(Some(pair.client))
    }

    fn message(
        &self,
        ws: &WebSocket,
        message: &JsValue,
        pending: &mut Vec<js_sys::Promise>,
    ) -> JsResult<()> {
        let Some(conn) = self.conn_of(ws) else {
            close_socket(ws, CloseReason::UnknownSocket);
            return Ok(());
        };
        self.ensure_loaded(pending)?;
        // One copy of a text frame (UTF-16 → UTF-8); a binary frame is only measured.
        let text = message.as_string();
        let frame = match &text {
            Some(s) => Frame::Text(s),
            None => Frame::Binary(js_sys::Uint8Array::new(message).length() as usize),
        };
        let fx = self.with_room(|room| room.on_frame(conn, frame, now(), &mut Rng));
        self.apply(fx, pending)
    }

    fn fire(&self, pending: &mut Vec<js_sys::Promise>) -> JsResult<()> {
        self.ensure_loaded(pending)?;
        // The runtime has deleted the alarm that fired; the stored copy goes with it.
        self.kv.delete(ALARM_KEY)?;
        let t = now();
        let seen: Vec<(ConnId, Millis)> = self
            .state
            .get_websockets()?
            .iter()
            .filter_map(|ws| Some((self.conn_of(ws)?, self.last_auto_response(ws)?)))
            .collect();
        let fx = self.with_room(|room| {
            for (conn, at) in seen {
                room.note_seen(conn, at);
            }
            room.on_alarm(t)
        });
        self.apply(fx, pending)
    }

    fn forget(
        &self,
        ws: &WebSocket,
        how: Disconnect,
        pending: &mut Vec<js_sys::Promise>,
    ) -> JsResult<()> {
        let Some(conn) = self.conn_of(ws) else {
            return Ok(());
        };
        // The cache would otherwise keep every socket that ever closed in a busy room, which
        // never idles long enough to be evicted.
        self.sockets.borrow_mut().remove(&conn);
        self.ensure_loaded(pending)?;
        let fx = self.with_room(|room| room.on_close(conn, how, now()));
        self.apply(fx, pending)
    }

    /// Queues a log line for this room (its tag, then the detail), written when the event ends.
    fn log(&self, event: LogEvent, detail: Detail) {
        let fields = format!(",\"room\":\"{}\"{}", self.tag, detail.fields());
        self.log.borrow_mut().push(event.line(&fields));
    }

    /// Runs one socket or alarm event: its work, given the list for the promises it starts,
    /// then its log lines whatever the outcome; returns what the runtime should wait for.
    fn event(
        &self,
        work: impl FnOnce(&mut Vec<js_sys::Promise>) -> JsResult<()>,
    ) -> JsResult<JsValue> {
        let mut pending = Vec::new();
        let out = work(&mut pending);
        self.flush_log();
        out.map(|()| settle(pending))
    }

    /// Writes the current event's log lines in one `console.log`.
    fn flush_log(&self) {
        let lines = std::mem::take(&mut *self.log.borrow_mut());
        if !lines.is_empty() {
            worker::console_log!("{}", lines.join("\n"));
        }
    }

    fn with_room<T>(&self, f: impl FnOnce(&mut room_core::Room) -> T) -> T {
        let mut guard = self.loaded.borrow_mut();
        // ensure_loaded() ran before every call and nothing unloads: cannot be None.
        let room = guard.as_mut().expect("room loaded before use");
        f(room)
    }

    fn socket(&self, conn: ConnId) -> Option<WebSocket> {
        if let Some(ws) = self.sockets.borrow().get(&conn) {
            return Some(ws.clone());
        }
        let ws = self.socket_uncached(conn)?;
        self.sockets.borrow_mut().insert(conn, ws.clone());
        Some(ws)
    }

    fn socket_uncached(&self, conn: ConnId) -> Option<WebSocket> {
        self.state
            .get_websockets_with_tag(&conn_tag(conn))
            .ok()?
            .into_iter()
            .next()
    }

    fn conn_of(&self, ws: &WebSocket) -> Option<ConnId> {
        self.state
            .get_tags(ws)
            .ok()?
            .iter()
            .find_map(|t| parse_tag(t))
    }

    /// When the runtime last answered a `ping` on the socket; `None` when it never did.
    fn last_auto_response(&self, ws: &WebSocket) -> Option<Millis> {
        let date = self
            .state
            .unchecked_ref::<StateTimestamps>()
            .auto_response_timestamp(ws)
            .ok()?
            .dyn_into::<js_sys::Date>()
            .ok()?;
        let ms = date.get_time();
        (ms.is_finite() && ms > 0.0).then_some(ms as Millis)
    }

    /// Rebuilds the room from storage and the open sockets, once per wake. Every read is
    /// synchronous, so no other event can run in between.
    fn ensure_loaded(&self, pending: &mut Vec<js_sys::Promise>) -> JsResult<()> {
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        let roster: Vec<PeerRecord> = read_json(&self.kv.get(ROSTER_KEY)?).unwrap_or_default();
        let alarm = self
            .kv
            .get(ALARM_KEY)?
            .as_f64()
            .map(|t| t.max(0.0) as Millis);
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &"prefix".into(), &HELD_PREFIX.into())?;
        let mut held = Vec::new();
        for entry in self.kv.list(&options)? {
            let pair: js_sys::Array = entry?.unchecked_into();
            if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                held.push((k, v));
            }
        }
        held.sort();
        let sockets = self
            .state
            .get_websockets()?
            .iter()
            .filter_map(|ws| {
                let conn = self.conn_of(ws)?;
                // A socket whose attachment cannot be read counts as just opened.
                let att = ws
                    .deserialize_attachment()
                    .ok()
                    .and_then(|v| read_json::<Attachment>(&v))
                    .unwrap_or(Attachment {
                        opened_at: now(),
                        seen: now(),
                        peer: None,
                    });
                Some((conn, att))
            })
            .collect();
        let stored = Stored {
            roster,
            held,
            alarm,
        };
        let (room, fx) = room_core::Room::restore(self.cfg.clone(), stored, sockets, now());
        let detail = Detail::Loaded {
            peers: room.peer_count(),
            sockets: room.conn_count(),
        };
        self.log(LogEvent::RoomLoaded, detail);
        *self.loaded.borrow_mut() = Some(room);
        self.apply(fx, pending)
    }

    /// Carries out the effects in order. Storage writes are synchronous; the alarm and a clear
    /// add their promises to `pending`.
    fn apply(&self, fx: Vec<Effect>, pending: &mut Vec<js_sys::Promise>) -> JsResult<()> {
        let mut save_roster = false;
        let mut alarm = None;
        for effect in fx {
            match effect {
                Effect::Send { conn, text } => {
                    if let Some(ws) = self.socket(conn) {
                        // A socket that is already closing cannot be sent to; nothing to do.
                        let _ = ws.send_with_str(&text);
                    }
                }
                Effect::Close { conn, reason } => {
                    if let Some(ws) = self.socket(conn) {
                        close_socket(&ws, reason);
                    }
                    self.sockets.borrow_mut().remove(&conn);
                }
                Effect::Attach { conn, attachment } => {
                    // A socket the runtime already closed refuses a new attachment; it will not
                    // speak again, so the rest of the batch must still run.
                    if let Some(ws) = self.socket(conn) {
                        if ws.serialize_attachment(json_value(&attachment)).is_err() {
                            self.log(LogEvent::AttachFailed, Detail::None);
                        }
                    }
                }
                Effect::SaveRoster => save_roster = true,
                Effect::PutHeld { key, text } => self.kv.put(&key, &JsValue::from_str(&text))?,
                Effect::DeleteHeld { keys } => {
                    for key in keys {
                        self.kv.delete(&key)?;
                    }
                }
                Effect::ClearStorage => {
                    save_roster = false;
                    pending.push(self.storage.delete_alarm(js_sys::Object::new())?);
                    pending.push(self.storage.delete_all()?);
                }
                // The room puts these last; carried out after the roster write.
                e @ (Effect::SetAlarm(_) | Effect::DeleteAlarm) => alarm = Some(e),
                Effect::Log { event, detail } => self.log(event, detail),
            }
        }
        if save_roster {
            let roster = self.with_room(|room| room.roster());
            if roster.is_empty() {
                self.kv.delete(ROSTER_KEY)?;
            } else {
                self.kv.put(ROSTER_KEY, &json_value(&roster))?;
            }
        }
        match alarm {
            Some(Effect::SetAlarm(at)) => {
                let when = js_sys::Date::new(&JsValue::from_f64(at as f64));
                self.kv.put(ALARM_KEY, &JsValue::from_f64(at as f64))?;
                pending.push(self.storage.set_alarm(when, js_sys::Object::new())?);
            }
            Some(Effect::DeleteAlarm) => {
                self.kv.delete(ALARM_KEY)?;
                pending.push(self.storage.delete_alarm(js_sys::Object::new())?);
            }
            _ => {}
        }
        Ok(())
    }
}
