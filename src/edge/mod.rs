//! The runtime shell: the stateless fetch handler. It validates before anything is forwarded
//! (room code, upgrade header, per-IP connection rate) and picks one `Room` Durable Object per
//! room code. Static files are served by the assets binding without waking this Worker.

mod room;

use crate::http::{self, ErrorBody, Route};
use crate::protocol::LogEvent;
use crate::{config, ice, origin, turn};
use std::sync::atomic::{AtomicBool, Ordering};
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{event, js_sys, web_sys, Context, Env, Headers, IntoResponse, Response, Result};

// The request is handled as the runtime's own `Request` object: `worker::Request` parses its
// URL with the `url` crate, whose IDNA tables were a quarter of the Worker's WASM, for a path
// the runtime's WHATWG `URL` already knows. Bindings worker 0.8.7 wraps with serde are called
// directly for the same reason (docs/PERFORMANCE.md, "Worker size").
#[wasm_bindgen]
extern "C" {
    /// The runtime's WHATWG URL parser.
    #[wasm_bindgen(js_name = URL)]
    type JsUrl;

    #[wasm_bindgen(constructor, catch, js_class = URL)]
    fn new(url: &str) -> std::result::Result<JsUrl, JsValue>;

    #[wasm_bindgen(method, getter)]
    fn pathname(this: &JsUrl) -> String;

    #[wasm_bindgen(method, getter)]
    fn origin(this: &JsUrl) -> String;

    /// A Rate Limiting binding (`[[ratelimits]]` in wrangler.toml).
    type RateLimit;

    #[wasm_bindgen(method, catch)]
    fn limit(
        this: &RateLimit,
        options: &js_sys::Object,
    ) -> std::result::Result<js_sys::Promise, JsValue>;

    /// A service binding such as `ASSETS`.
    type Service;

    #[wasm_bindgen(method, catch)]
    fn fetch(
        this: &Service,
        req: &web_sys::Request,
    ) -> std::result::Result<js_sys::Promise, JsValue>;
}

/// An environment binding by name, `None` when it is not configured.
fn binding<T: JsCast>(env: &Env, name: &str) -> Option<T> {
    let env: &JsValue = env.as_ref();
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .filter(|b| b.is_object())
        .map(JsCast::unchecked_into)
}

static TURN_WARNED: AtomicBool = AtomicBool::new(false);

/// Reads an optional string var or secret; unset and non-string bindings are `None`.
pub(crate) fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.secret(name).ok().map(|s| s.to_string()))
}

/// A log line of the stateless Worker: just the event (room lines are written by the room).
fn log_event(event: LogEvent) {
    worker::console_log!("{}", event.line(""));
}

fn json<T: serde::Serialize>(body: &T, status: u16) -> Result<Response> {
    let mut resp = Response::from_json(body)?.with_status(status);
    apply_security_headers(resp.headers_mut())?;
    Ok(resp)
}

fn error(status: u16, error: &str, message: Option<&str>) -> Result<Response> {
    json(&ErrorBody { error, message }, status)
}

fn apply_security_headers(headers: &mut Headers) -> Result<()> {
    for (name, value) in http::SECURITY_HEADERS {
        headers.set(name, value)?;
    }
    Ok(())
}

/// Asks a Rate Limiting binding about `key`. A missing binding means the operator removed the
/// limit on purpose, so the request is allowed.
async fn allowed(env: &Env, name: &str, key: &str) -> Result<bool> {
    let Some(limiter) = binding::<RateLimit>(env, name) else {
        return Ok(true);
    };
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"key".into(), &key.into())?;
    let outcome = JsFuture::from(limiter.limit(&options)?).await?;
    Ok(js_sys::Reflect::get(&outcome, &"success".into())?.is_truthy())
}

fn too_many(retry_after: &str) -> Result<Response> {
    let mut resp = error(
        429,
        "rateLimited",
        Some("too many requests; try again later"),
    )?;
    resp.headers_mut().set("Retry-After", retry_after)?;
    Ok(resp)
}

fn header(req: &web_sys::Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// The client's rate-limit key: its IPv4 address or its IPv6 /64 (`http::rate_key`).
fn client_key(req: &web_sys::Request) -> String {
    http::rate_key(header(req, "cf-connecting-ip").as_deref())
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let url = JsUrl::new(&req.url())?;
    match http::route(&url.pathname()) {
        Route::Health => raw(json(&http::HEALTH, 200)),
        Route::ApiNotFound => raw(error(404, "notFound", None)),
        Route::BadRoomCode(e) => raw(error(400, "badRequest", Some(&e.to_string()))),
        Route::Signal(code) => {
            let upgrade = header(&req, "Upgrade").unwrap_or_default();
            if !upgrade.eq_ignore_ascii_case("websocket") {
                let mut resp = error(
                    426,
                    "upgradeRequired",
                    Some("connect with a WebSocket upgrade"),
                )?;
                resp.headers_mut().set("Upgrade", "websocket")?;
                return raw(Ok(resp));
            }
            // A browser always sends `Origin` on a WebSocket upgrade, and the socket is not
            // bound by CORS: without this, any web page could make its visitors' browsers join
            // (or guess) rooms. Same rule as the ICE servers (origin::same_origin_or_allowed).
            if !page_allowed(&req, &env, &url.origin()) {
                return raw(error(
                    403,
                    "forbidden",
                    Some("signaling is only open to this site's own pages"),
                ));
            }
            if let Err(e) = config::room_config(|k| var(&env, k)) {
                worker::console_error!("{e}");
                return raw(error(
                    500,
                    "internalError",
                    Some("the server is misconfigured"),
                ));
            }
            if !allowed(&env, "CONNECT_LIMITER", &client_key(&req)).await? {
                log_event(LogEvent::ConnectLimited);
                return raw(too_many("60"));
            }
            forward(&env, code.as_str(), &req).await
        }
        Route::IceServers => {
            let resp = ice_servers(&req, &env, &url.origin()).await;
            raw(resp.and_then(|r| with_cors(r, &req, &env, &url.origin())))
        }
        Route::Asset => {
            let assets = binding::<Service>(&env, "ASSETS")
                .ok_or_else(|| worker::Error::RustError("no ASSETS binding".into()))?;
            Ok(JsFuture::from(assets.fetch(&req)?).await?.unchecked_into())
        }
    }
}

/// A response built here, as the runtime takes it. (The room's upgrade response is not built
/// here and is returned as it came: see `forward`.)
fn raw(resp: Result<Response>) -> Result<web_sys::Response> {
    resp?
        .into_raw()
        .map_err(|e| worker::Error::RustError(e.into().to_string()))
}

/// Hands the upgrade request to the room's Durable Object and returns its response object
/// itself. `Stub::fetch_with_request` would rebuild it as a new `Response` around the same
/// WebSocket, and the runtime then carries every frame at a much higher cost: locally that
/// multiplied the relay's p99 several times under compression, and a JavaScript Worker that
/// rebuilds the response the same way slows down alike (docs/PERFORMANCE.md, *Three ways*).
async fn forward(env: &Env, code: &str, req: &web_sys::Request) -> Result<web_sys::Response> {
    let ns = env.durable_object("ROOM")?;
    let ns: &worker::worker_sys::DurableObjectNamespace = ns.as_ref().unchecked_ref();
    let stub = ns.get(&ns.id_from_name(code)?)?;
    let resp = JsFuture::from(stub.fetch_with_request(req)?).await?;
    Ok(resp.unchecked_into())
}

/// Lets a page of an origin in `ALLOWED_ORIGINS` read the answer (whatever it is: credentials,
/// a 403 or a 429); `Vary: Origin` because the answer depends on it.
fn with_cors(
    mut resp: Response,
    req: &web_sys::Request,
    env: &Env,
    own_origin: &str,
) -> Result<Response> {
    let allowed_origins =
        origin::parse_allowed_origins(&var(env, "ALLOWED_ORIGINS").unwrap_or_default());
    let headers = resp.headers_mut();
    headers.set("Vary", "Origin")?;
    let origin = header(req, "Origin");
    if let Some(allow) = origin::cors_allow_origin(own_origin, origin.as_deref(), &allowed_origins)
    {
        headers.set("Access-Control-Allow-Origin", &allow)?;
    }
    Ok(resp)
}

/// Whether the request comes from this site's own pages, an origin in `ALLOWED_ORIGINS`, or a
/// non-browser client (see `origin::same_origin_or_allowed`).
fn page_allowed(req: &web_sys::Request, env: &Env, own_origin: &str) -> bool {
    let allowed_origins =
        origin::parse_allowed_origins(&var(env, "ALLOWED_ORIGINS").unwrap_or_default());
    origin::same_origin_or_allowed(
        own_origin,
        header(req, "Origin").as_deref(),
        header(req, "Sec-Fetch-Site").as_deref(),
        &allowed_origins,
    )
}

async fn ice_servers(req: &web_sys::Request, env: &Env, own_origin: &str) -> Result<Response> {
    if !page_allowed(req, env, own_origin) {
        return error(
            403,
            "forbidden",
            Some("ICE servers are only handed to this site's own pages"),
        );
    }
    if !allowed(env, "ICE_LIMITER", &client_key(req)).await? {
        return too_many("60");
    }
    let cfg = match config::ice_config(|k| var(env, k)) {
        Ok(cfg) => cfg,
        Err(e) => {
            worker::console_error!("{e}");
            return error(500, "internalError", Some("the server is misconfigured"));
        }
    };
    if cfg.relay.is_none() && !TURN_WARNED.swap(true, Ordering::Relaxed) {
        // Not an error: calls still work where a direct path exists. Logged once per isolate.
        log_event(LogEvent::TurnUnconfigured);
    }
    let mut bytes = [0u8; 16];
    // crypto.getRandomValues cannot fail for 16 bytes; without it no credential is safe.
    getrandom::fill(&mut bytes).expect("Web Crypto getRandomValues");
    let id = turn::random_id_from_bytes(&bytes).unwrap_or_default();
    let now = worker::Date::now().as_millis() / 1000;
    let mut resp = json(&ice::ice_servers(&cfg, now, &id), 200)?;
    resp.headers_mut().set("Cache-Control", "no-store")?;
    Ok(resp)
}
