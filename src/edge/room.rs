//! The `Room` Durable Object: one per room code, WebSocket signaling over the hibernation API.
//! It translates runtime events into calls on [`crate::room::Room`] and carries out the
//! effects. Nothing lives only in memory: after an eviction the room is rebuilt from the
//! roster and held messages in storage plus each open socket's tag and attachment.

use super::event_line;
use crate::config;
use crate::protocol::close;
use crate::room::{self as core, Attachment, ConnId, Effect, Entropy, Frame, Millis, PeerRecord};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::{JsCast, JsValue};
use worker::{
    durable_object, js_sys, DurableObject, Env, ListOptions, Request, Response, Result,
    ScheduledTime, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

/// Tags are `c` + 14 hex digits: well under the runtime's 256-character tag limit (a longer
/// tag panics inside `accept_websocket_with_tags`), and minted here, never from input.
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

/// What is cached in memory between events; rebuilt after every eviction.
struct Loaded {
    room: core::Room,
    /// The alarm as last scheduled, to avoid a storage write per message.
    alarm: Option<Millis>,
}

#[durable_object]
pub struct Room {
    state: State,
    cfg: core::RoomConfig,
    loaded: RefCell<Option<Loaded>>,
    /// Sockets by connection, filled on first use: saves a tag lookup (a runtime call that
    /// builds a fresh array) on every relayed message. Lost with the instance, like `loaded`.
    sockets: RefCell<HashMap<ConnId, WebSocket>>,
    /// First 8 hex digits of the object id: a log tag that is not the room code.
    tag: String,
    /// Log lines of the current event, written as one `console.log` when it ends: each call
    /// is costly locally (wrangler dev carries it over the inspector), and a leave that empties
    /// a room has several lines to say.
    log: RefCell<Vec<String>>,
}

impl DurableObject for Room {
    fn new(state: State, env: Env) -> Self {
        // The fetch handler refuses to forward when the config is bad, so the default here is
        // only reached if a variable changed between the two reads.
        let cfg = config::room_config(|k| super::var(&env, k)).unwrap_or_default();
        // `ping` → `pong` is answered by the runtime itself, without waking this object.
        match worker::worker_sys::WebSocketRequestResponsePair::new("ping", "pong") {
            Ok(pair) => state.set_websocket_auto_response(&pair),
            Err(_) => worker::console_error!("could not set the ping auto-response"),
        }
        let tag = state.id().to_string().chars().take(8).collect();
        Room {
            state,
            cfg,
            loaded: RefCell::new(None),
            sockets: RefCell::default(),
            tag,
            log: RefCell::default(),
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        self.logged(self.open()).await
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        self.logged(self.message(ws, message)).await
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        // Reciprocate the close. 1005/1006/1015 are reserved for reporting and may not be sent.
        // A code no endpoint may send at all (below 1000, 1004, 5000 and above) is a protocol
        // error: the runtime refuses to echo it, and without an answer the client would wait
        // out its own close timeout with the TCP connection held open.
        let code = match code {
            1005 | 1006 | 1015 => 1000,
            1004 => 1002,
            c @ 1000..=4999 => c as u16, // in range: cannot truncate
            _ => 1002,
        };
        let _ = ws.close(Some(code), Some(""));
        self.logged(self.forget(&ws, "socket_closed", code)).await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        let _ = ws.close(Some(1011), Some("socket error"));
        self.logged(self.forget(&ws, "socket_error", 1011)).await
    }

    async fn alarm(&self) -> Result<Response> {
        self.logged(self.fire()).await
    }
}

impl Room {
    async fn open(&self) -> Result<Response> {
        self.ensure_loaded().await?;
        let pair = WebSocketPair::new()?;
        let conn = loop {
            let mut b = [0u8; 8];
            Rng.fill(&mut b);
            // 53 bits: attachments pass numbers through JavaScript.
            let conn = u64::from_le_bytes(b) & ((1 << 53) - 1);
            if self.socket_uncached(conn).is_none() {
                break conn;
            }
        };
        self.state
            .accept_websocket_with_tags(&pair.server, &[&conn_tag(conn)]);
        let fx = self.with_room(|room| room.on_open(conn, now()));
        let wrote = self.apply(fx).await?;
        self.sync_alarm(false, wrote).await?;
        Response::from_websocket(pair.client)
    }

    async fn message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let Some(conn) = self.conn_of(&ws) else {
            let _ = ws.close(Some(1011), Some("unknown socket"));
            return Ok(());
        };
        self.ensure_loaded().await?;
        let fx = self.with_room(|room| {
            let frame = match &message {
                WebSocketIncomingMessage::String(s) => Frame::Text(s),
                WebSocketIncomingMessage::Binary(b) => Frame::Binary(b.len()),
            };
            room.on_frame(conn, frame, now(), &mut Rng)
        });
        let wrote = self.apply(fx).await?;
        self.sync_alarm(false, wrote).await
    }

    async fn fire(&self) -> Result<Response> {
        self.ensure_loaded().await?;
        let t = now();
        let seen: Vec<(ConnId, Millis)> = self
            .state
            .get_websockets()
            .iter()
            .filter_map(|ws| Some((self.conn_of(ws)?, self.last_auto_response(ws)?)))
            .collect();
        let fx = self.with_room(|room| {
            for (conn, at) in seen {
                room.note_seen(conn, at);
            }
            room.on_alarm(t)
        });
        self.apply(fx).await?;
        self.sync_alarm(true, true).await?;
        Response::ok("")
    }

    /// Queues a log line for this room (its tag, then `fields`), written when the event ends.
    fn log(&self, event: &str, fields: &str) {
        let fields = format!(",\"room\":\"{}\"{fields}", self.tag);
        self.log.borrow_mut().push(event_line(event, &fields));
    }

    /// Runs one event's work, then writes its log lines in one `console.log`, whatever the
    /// outcome.
    async fn logged<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let out = work.await;
        let lines = std::mem::take(&mut *self.log.borrow_mut());
        if !lines.is_empty() {
            worker::console_log!("{}", lines.join("\n"));
        }
        out
    }

    fn with_room<T>(&self, f: impl FnOnce(&mut core::Room) -> T) -> T {
        let mut guard = self.loaded.borrow_mut();
        // ensure_loaded() ran before every call and nothing unloads: cannot be None.
        let loaded = guard.as_mut().expect("room loaded before use");
        f(&mut loaded.room)
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
            .into_iter()
            .next()
    }

    fn conn_of(&self, ws: &WebSocket) -> Option<ConnId> {
        self.state.get_tags(ws).iter().find_map(|t| parse_tag(t))
    }

    /// `getWebSocketAutoResponseTimestamp` is not bound in worker 0.8.7; call it through
    /// `Reflect` on the raw state object. `None` when the socket never sent a `ping`.
    fn last_auto_response(&self, ws: &WebSocket) -> Option<Millis> {
        let state: &JsValue = self.state.as_raw().as_ref();
        let func = js_sys::Reflect::get(
            state,
            &JsValue::from_str("getWebSocketAutoResponseTimestamp"),
        )
        .ok()?;
        let func = func.dyn_into::<js_sys::Function>().ok()?;
        let socket: &JsValue = ws.as_ref().as_ref();
        let date = func
            .call1(state, socket)
            .ok()?
            .dyn_into::<js_sys::Date>()
            .ok()?;
        let ms = date.get_time();
        (ms.is_finite() && ms > 0.0).then_some(ms as Millis)
    }

    async fn forget(&self, ws: &WebSocket, event: &str, code: u16) -> Result<()> {
        let Some(conn) = self.conn_of(ws) else {
            return Ok(());
        };
        // The cache would otherwise keep every socket that ever closed in a busy room, which
        // never idles long enough to be evicted.
        self.sockets.borrow_mut().remove(&conn);
        self.ensure_loaded().await?;
        let (known, fx) = self.with_room(|room| (room.has_conn(conn), room.on_close(conn, now())));
        // The client closed (or the socket failed). The close that answers one of the room's
        // own (after `leave`, a timeout, a flood…) is not news: that was logged when it was sent.
        if known {
            self.log(event, &format!(",\"code\":{code}"));
        }
        let wrote = self.apply(fx).await?;
        self.sync_alarm(false, wrote).await
    }

    /// Rebuilds the room from storage and the open sockets, once per wake.
    async fn ensure_loaded(&self) -> Result<()> {
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        let storage = self.state.storage();
        let roster: Vec<PeerRecord> = storage.get(core::ROSTER_KEY).await?.unwrap_or_default();
        let listed = storage
            .list_with_options(ListOptions::new().prefix(core::HELD_PREFIX))
            .await?;
        let mut held = Vec::new();
        for entry in listed.entries() {
            let pair: js_sys::Array = entry?.unchecked_into();
            if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                held.push((k, v));
            }
        }
        held.sort();
        let sockets = self
            .state
            .get_websockets()
            .iter()
            .filter_map(|ws| {
                let conn = self.conn_of(ws)?;
                // A socket whose attachment cannot be read counts as just opened.
                let att = ws
                    .deserialize_attachment::<Attachment>()
                    .ok()
                    .flatten()
                    .unwrap_or(Attachment {
                        opened_at: now(),
                        seen: now(),
                        peer: None,
                    });
                Some((conn, att))
            })
            .collect();
        let alarm = storage.get_alarm().await?.map(|t| t.max(0) as Millis);
        if self.loaded.borrow().is_some() {
            return Ok(()); // another event loaded it while this one awaited storage
        }
        let (room, fx) = core::Room::restore(self.cfg.clone(), roster, held, sockets, now());
        self.log(
            "room_loaded",
            &format!(
                ",\"peers\":{},\"sockets\":{}",
                room.peer_count(),
                room.conn_count()
            ),
        );
        *self.loaded.borrow_mut() = Some(Loaded { room, alarm });
        self.apply(fx).await.map(drop)
    }

    /// Carries out the effects in order. Returns whether storage was written, that is, whether
    /// this event commits anyway (see [`Room::sync_alarm`]).
    async fn apply(&self, fx: Vec<Effect>) -> Result<bool> {
        // Fetched from the runtime only by the effects that need it: a relayed message has none.
        let storage = || self.state.storage();
        let mut save_roster = false;
        let mut wrote = false;
        for effect in fx {
            match effect {
                Effect::Send { conn, text } => {
                    if let Some(ws) = self.socket(conn) {
                        // A socket that is already closing cannot be sent to; nothing to do.
                        let _ = ws.send_with_str(&text);
                    }
                }
                Effect::Close { conn, code, reason } => {
                    if let Some(ws) = self.socket(conn) {
                        let _ = ws.close(Some(code), Some(reason));
                    }
                    self.sockets.borrow_mut().remove(&conn);
                    // A normal close only ever follows `leave`, which has its own line.
                    if code != close::NORMAL {
                        self.log("close", &format!(",\"code\":{code}"));
                    }
                }
                Effect::Attach { conn, attachment } => {
                    // A socket the runtime already closed refuses a new attachment; it will not
                    // speak again, so the rest of the batch must still run.
                    if let Some(ws) = self.socket(conn) {
                        if ws.serialize_attachment(&attachment).is_err() {
                            self.log("attach_failed", "");
                        }
                    }
                }
                Effect::SaveRoster => save_roster = true,
                Effect::PutHeld { key, text } => {
                    storage().put(&key, text).await?;
                    wrote = true;
                }
                Effect::DeleteHeld { keys } => {
                    storage().delete_multiple(keys).await?;
                    wrote = true;
                }
                Effect::ClearStorage => {
                    save_roster = false;
                    wrote = true;
                    let storage = storage();
                    storage.delete_alarm().await?;
                    storage.delete_all().await?;
                    if let Some(l) = self.loaded.borrow_mut().as_mut() {
                        l.alarm = None;
                    }
                    self.log("room_cleared", "");
                }
                Effect::Log { event, peers } => self.log(event, &format!(",\"peers\":{peers}")),
            }
        }
        if save_roster {
            wrote = true;
            let roster = self.with_room(|room| room.roster());
            if roster.is_empty() {
                storage().delete(core::ROSTER_KEY).await?;
            } else {
                storage().put(core::ROSTER_KEY, roster).await?;
            }
        }
        Ok(wrote)
    }

    /// Keeps exactly one alarm while anything is in the room and none when it is empty.
    ///
    /// Setting the alarm is a storage write, and every commit delays this room's outgoing
    /// messages (the output gate) and, locally, every room on the runtime's thread. So an alarm
    /// is moved earlier whenever the room needs it earlier, but later only when this event
    /// commits anyway (`wrote`): a join writes the roster, and in the same commit the alarm
    /// leaves the 10 s join deadline for the 60 s idle one. Firing early is harmless (the
    /// handler just reschedules); a write per message would not be.
    async fn sync_alarm(&self, fired: bool, wrote: bool) -> Result<()> {
        let (next, current) = {
            let mut guard = self.loaded.borrow_mut();
            let Some(l) = guard.as_mut() else {
                return Ok(());
            };
            if fired {
                l.alarm = None;
            }
            (l.room.next_alarm(), l.alarm)
        };
        match (next, current) {
            (None, Some(_)) => {
                self.state.storage().delete_alarm().await?;
                self.set_cached_alarm(None);
            }
            (Some(at), cur) if cur.is_none_or(|c| at < c || (wrote && at > c)) => {
                let when = js_sys::Date::new(&JsValue::from_f64(at as f64));
                self.state
                    .storage()
                    .set_alarm(ScheduledTime::new(when))
                    .await?;
                self.set_cached_alarm(Some(at));
            }
            _ => {}
        }
        Ok(())
    }

    fn set_cached_alarm(&self, at: Option<Millis>) {
        if let Some(l) = self.loaded.borrow_mut().as_mut() {
            l.alarm = at;
        }
    }
}
