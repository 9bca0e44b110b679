//! The `Room` Durable Object: one per room code, WebSocket signaling over the hibernation API.
//! It translates runtime events into calls on [`crate::room::Room`] and carries out the
//! effects, and decides nothing itself: what to send, close, store and log, and when the alarm
//! fires, all come from the room. Nothing lives only in memory: after an eviction the room is
//! rebuilt from the roster, held messages and alarm in storage plus each open socket's tag and
//! attachment.

use crate::config;
use crate::protocol::{close, CloseReason, Detail, LogEvent};
use crate::room::{
    Attachment, ConnId, Disconnect, Effect, Entropy, Frame, Millis, PeerRecord, RoomConfig, Stored,
    HELD_PREFIX, ROSTER_KEY,
};
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

/// Closes a socket with one of the server's reasons. A socket that is already closing cannot
/// be closed again; nothing to do then.
fn close_socket(ws: &WebSocket, reason: CloseReason) {
    let _ = ws.close(Some(reason.code()), Some(reason.reason()));
}

#[durable_object]
pub struct Room {
    state: State,
    cfg: RoomConfig,
    /// The room, once loaded in this wake: rebuilt after every eviction.
    loaded: RefCell<Option<crate::room::Room>>,
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
        // Reciprocate the close, with a code that may be sent.
        let code = close::reply_code(code);
        let _ = ws.close(Some(code), Some(""));
        self.logged(self.forget(&ws, Disconnect::Closed { code }))
            .await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        close_socket(&ws, CloseReason::SocketError);
        self.logged(self.forget(&ws, Disconnect::Error)).await
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
        self.apply(fx).await?;
        Response::from_websocket(pair.client)
    }

    async fn message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        let Some(conn) = self.conn_of(&ws) else {
            close_socket(&ws, CloseReason::UnknownSocket);
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
        self.apply(fx).await
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
        Response::ok("")
    }

    /// Queues a log line for this room (its tag, then the detail), written when the event ends.
    fn log(&self, event: LogEvent, detail: Detail) {
        let fields = format!(",\"room\":\"{}\"{}", self.tag, detail.fields());
        self.log.borrow_mut().push(event.line(&fields));
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

    fn with_room<T>(&self, f: impl FnOnce(&mut crate::room::Room) -> T) -> T {
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

    async fn forget(&self, ws: &WebSocket, how: Disconnect) -> Result<()> {
        let Some(conn) = self.conn_of(ws) else {
            return Ok(());
        };
        // The cache would otherwise keep every socket that ever closed in a busy room, which
        // never idles long enough to be evicted.
        self.sockets.borrow_mut().remove(&conn);
        self.ensure_loaded().await?;
        let fx = self.with_room(|room| room.on_close(conn, how, now()));
        self.apply(fx).await
    }

    /// Rebuilds the room from storage and the open sockets, once per wake.
    async fn ensure_loaded(&self) -> Result<()> {
        if self.loaded.borrow().is_some() {
            return Ok(());
        }
        let storage = self.state.storage();
        let roster: Vec<PeerRecord> = storage.get(ROSTER_KEY).await?.unwrap_or_default();
        let listed = storage
            .list_with_options(ListOptions::new().prefix(HELD_PREFIX))
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
        let stored = Stored {
            roster,
            held,
            alarm,
        };
        let (room, fx) = crate::room::Room::restore(self.cfg.clone(), stored, sockets, now());
        let detail = Detail::Loaded {
            peers: room.peer_count(),
            sockets: room.conn_count(),
        };
        self.log(LogEvent::RoomLoaded, detail);
        *self.loaded.borrow_mut() = Some(room);
        self.apply(fx).await
    }

    /// Carries out the effects in order. Storage is fetched from the runtime only by the
    /// effects that need it: a relayed message has none.
    async fn apply(&self, fx: Vec<Effect>) -> Result<()> {
        let storage = || self.state.storage();
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
                        if ws.serialize_attachment(&attachment).is_err() {
                            self.log(LogEvent::AttachFailed, Detail::None);
                        }
                    }
                }
                Effect::SaveRoster => save_roster = true,
                Effect::PutHeld { key, text } => storage().put(&key, text).await?,
                Effect::DeleteHeld { keys } => {
                    storage().delete_multiple(keys).await?;
                }
                Effect::ClearStorage => {
                    save_roster = false;
                    let storage = storage();
                    storage.delete_alarm().await?;
                    storage.delete_all().await?;
                }
                // The room puts these last; carried out after the roster write.
                e @ (Effect::SetAlarm(_) | Effect::DeleteAlarm) => alarm = Some(e),
                Effect::Log { event, detail } => self.log(event, detail),
            }
        }
        if save_roster {
            let roster = self.with_room(|room| room.roster());
            if roster.is_empty() {
                storage().delete(ROSTER_KEY).await?;
            } else {
                storage().put(ROSTER_KEY, roster).await?;
            }
        }
        match alarm {
            Some(Effect::SetAlarm(at)) => {
                let when = js_sys::Date::new(&JsValue::from_f64(at as f64));
                storage().set_alarm(ScheduledTime::new(when)).await?;
            }
            Some(Effect::DeleteAlarm) => storage().delete_alarm().await?,
            _ => {}
        }
        Ok(())
    }
}
