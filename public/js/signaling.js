// Signaling socket, protocol v1 (docs/PROTOCOL.md): JSON text frames on /ws/<code>.
// - Reconnects with capped exponential backoff + jitter (1 s ×1.7, cap 10 s) and resumes the
//   session with the latest resumeToken, so the server keeps our id and the other peers never
//   see us leave. Peer connections are NOT touched while this socket is down.
// - Outgoing signals are queued while the socket is down and flushed after a resumed welcome
//   (dropped if the welcome carries a new id: those signals belonged to the old session).
// - Keep-alive: literal "ping" every 20 s (answered "pong"); a socket silent for 50 s is
//   treated as dead (half-open after sleep / network change) and replaced.
// - Close codes come from close-codes.js (generated from the server's definition).
// States: connecting | open | reconnecting | closed | full   (detail: '' | 'unreachable' |
// 'replaced' | 'unsupported' | 'left'). Events: state, welcome, peerJoined, peerLeft, signal,
// servererror.

import { CLOSE } from './close-codes.js';
import { DEFAULT_MAX_PEERS, trimName } from './limits.js';
import { mark } from './timeline.js';

const PING_MS = 20000;
const DEAD_MS = 50000;
/** After probe() (back online, tab visible again), how long a socket may stay silent. */
const PROBE_MS = 5000;
const BACKOFF_FIRST = 1000;
const BACKOFF_FACTOR = 1.7;
const BACKOFF_CAP = 10000;
/** Each delay is spread over ±20 % so that peers dropped together do not return together… */
const BACKOFF_JITTER = 0.2;
/** …but is never shorter than this. */
const BACKOFF_MIN = 250;
/** Connections in a row that never got a welcome before the state says 'unreachable'. */
const UNREACHABLE_AFTER = 3;
const MAX_QUEUE = 500;
// RFC 6455 codes the browser side uses itself: 1000 when it closes a socket it replaces, and
// 1006 (never sent on the wire) for a socket it has given up on.
const NORMAL_CLOSURE = 1000;
const ABNORMAL_CLOSURE = 1006;

export class Signaling extends EventTarget {
  constructor(code, { name = '' } = {}) {
    super();
    this.code = code;
    this.name = trimName(name);
    this.id = null;
    this.token = null;
    this.state = 'idle';
    this.detail = '';
    this.retryAt = 0;
    this.ws = null;
    this.queue = [];
    this.attempt = 0;
    this.failures = 0; // consecutive connections that never reached "welcome"
    this.timer = 0;
    this.pinger = 0;
    this.lastSeen = 0;
    this.stopped = false;
    // Back online / tab visible again (after sleep or a network change): skip the backoff, or
    // probe the current socket, which may be half-open.
    this._online = () => (this.timer ? this.retryNow() : this.probe());
    this._visible = () => { if (document.visibilityState === 'visible') this._online(); };
    addEventListener('online', this._online);
    document.addEventListener('visibilitychange', this._visible);
  }

  url() {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/${encodeURIComponent(this.code)}`;
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.stopped) return;
    this._drop();
    if (this.state !== 'reconnecting') this._set(this.id ? 'reconnecting' : 'connecting', this.detail);
    let ws;
    mark('socket-connect');
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      console.warn('[signaling]', err);
      this._retry();
      return;
    }
    this.ws = ws;
    let welcomed = false;
    ws.onopen = () => {
      mark('socket-open');
      this.lastSeen = Date.now();
      const join = { type: 'join', v: 1, name: this.name };
      if (this.token) join.resume = this.token;
      ws.send(JSON.stringify(join));
      this._startPing();
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastSeen = Date.now();
      if (typeof ev.data !== 'string' || ev.data === 'pong') return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (!msg || typeof msg.type !== 'string') return;
      if (msg.type === 'welcome') welcomed = true;
      this._onMessage(msg);
    };
    ws.onerror = () => {}; // a close event always follows
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this._onClose(ev.code, welcomed);
    };
  }

  _onMessage(msg) {
    switch (msg.type) {
      case 'welcome': {
        if (typeof msg.id !== 'string') return;
        mark('welcome');
        const previousId = this.id;
        const resumed = previousId !== null && previousId === msg.id;
        this.id = msg.id;
        if (typeof msg.resumeToken === 'string') this.token = msg.resumeToken;
        this.attempt = 0;
        this.failures = 0;
        if (!resumed) this.queue = [];
        this._set('open', '');
        this._emit('welcome', {
          id: msg.id,
          peers: Array.isArray(msg.peers) ? msg.peers.filter((p) => p && typeof p.id === 'string') : [],
          maxPeers: Number(msg.maxPeers) || DEFAULT_MAX_PEERS,
          resumed,
          previousId,
        });
        this._flush();
        break;
      }
      case 'peerJoined':
      case 'peerLeft':
        if (typeof msg.id !== 'string') break;
        mark(msg.type === 'peerJoined' ? 'peer-joined' : 'peer-left', msg.id);
        this._emit(msg.type, msg);
        break;
      case 'signal':
        if (typeof msg.from === 'string') this._emit('signal', msg);
        break;
      case 'error':
        if (msg.code === 'roomFull') this.full = true;
        this._emit('servererror', msg);
        break;
    }
  }

  _onClose(code, welcomed) {
    this._drop();
    if (this.stopped) return;
    if (code === CLOSE.ROOM_FULL || this.full) return this._terminal('full', '');
    if (code === CLOSE.REPLACED) return this._terminal('closed', 'replaced');
    if (code === CLOSE.UNSUPPORTED_VERSION) return this._terminal('closed', 'unsupported');
    if (!welcomed) this.failures++;
    this._retry();
  }

  _terminal(state, detail) {
    this.stopped = true;
    this._set(state, detail);
    this.dispose();
  }

  _retry() {
    if (this.stopped) return;
    const base = Math.min(BACKOFF_CAP, BACKOFF_FIRST * BACKOFF_FACTOR ** this.attempt);
    const delay = Math.max(BACKOFF_MIN, Math.round(base * (1 - BACKOFF_JITTER + Math.random() * 2 * BACKOFF_JITTER)));
    this.attempt++;
    this.retryAt = Date.now() + delay;
    // Failures before the upgrade (HTTP 429 rate limit, 400, server down) all look alike from
    // here (error + close 1006, status unreadable): after a few in a row, say so.
    this._set(this.id ? 'reconnecting' : 'connecting', this.failures >= UNREACHABLE_AFTER ? 'unreachable' : '');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Skip the remaining backoff (user clicked "Retry now", or the browser came back online). */
  retryNow() {
    if (this.stopped || !this.timer) return;
    this.connect();
  }

  /** Ping now; if nothing at all comes back within PROBE_MS, replace the socket. */
  probe() {
    const ws = this.ws;
    if (this.stopped || ws?.readyState !== WebSocket.OPEN) return;
    const sent = Date.now();
    ws.send('ping');
    setTimeout(() => {
      if (this.ws === ws && this.lastSeen < sent) {
        console.warn('[signaling] no answer to probe, replacing the socket');
        this._onClose(ABNORMAL_CLOSURE, this.state === 'open');
      }
    }, PROBE_MS);
  }

  send(to, data) {
    const frame = JSON.stringify({ type: 'signal', to, data });
    if (this.state === 'open' && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(frame);
    } else if (this.queue.length < MAX_QUEUE) {
      this.queue.push(frame);
    }
  }

  _flush() {
    while (this.queue.length && this.ws?.readyState === WebSocket.OPEN) this.ws.send(this.queue.shift());
  }

  /** Graceful hang-up: the others see peerLeft at once instead of after the grace period. */
  leave() {
    if (this.stopped) return;
    this.stopped = true;
    const ws = this.ws;
    if (ws?.readyState === WebSocket.OPEN) {
      try { ws.send(JSON.stringify({ type: 'leave' })); } catch { /* the socket is closing anyway, just below */ }
    }
    this._drop(CLOSE.LEFT);
    this._set('closed', 'left');
    this.dispose();
  }

  dispose() {
    clearTimeout(this.timer);
    this.timer = 0;
    removeEventListener('online', this._online);
    document.removeEventListener('visibilitychange', this._visible);
  }

  _startPing() {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      const ws = this.ws;
      if (!ws) return;
      if (Date.now() - this.lastSeen > DEAD_MS) {
        console.warn('[signaling] socket silent, replacing it');
        this._onClose(ABNORMAL_CLOSURE, this.state === 'open');
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.send('ping');
    }, PING_MS);
  }

  /** Detach and close the current socket without triggering reconnect logic. */
  _drop(code) {
    clearInterval(this.pinger);
    this.pinger = 0;
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(code ?? NORMAL_CLOSURE); } catch { /* already closing */ }
  }

  _set(state, detail = '') {
    if (this.state === state && this.detail === detail) return;
    this.state = state;
    this.detail = detail;
    this._emit('state', { state, detail, retryAt: this.retryAt });
  }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
}
