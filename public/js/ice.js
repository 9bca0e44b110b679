// ICE servers from GET /api/ice-servers: STUN plus short-lived TURN REST credentials minted by
// the Worker. Cached; refreshed shortly before `expiresAt` (an 'update' event lets the call apply
// them with pc.setConfiguration) and on demand before an ICE restart.
// Never fatal: on error or 429 the last good value (or no servers at all) is used.

import { mark } from './timeline.js';

const REFRESH_MARGIN_S = 120;
const MIN_REFETCH_MS = 20000;
const FETCH_TIMEOUT_MS = 6000;
/** Credential lifetime when the response does not say. */
const DEFAULT_TTL_S = 3600;
/** Wait after a 429 without Retry-After. */
const RATE_LIMITED_RETRY_S = 30;
/** The earliest a refresh is scheduled, however short the credentials' lifetime. */
const MIN_REFRESH_S = 30;
/** Wait after a failed fetch. */
const RETRY_AFTER_ERROR_MS = 30000;
/** setTimeout fires at once for longer delays (they overflow a signed 32-bit int). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class IceServers extends EventTarget {
  constructor() {
    super();
    this.value = null; // {iceServers, ttl, expiresAt, relay}
    this.fetchedAt = 0;
    this.inflight = null;
    this.retryAt = 0;
    this.timer = 0;
    this.stopped = false;
    this.lastError = null; // 'rateLimited' | 'unavailable' | null
  }

  get iceServers() { return this.value?.iceServers ?? []; }
  get relay() { return this.value ? !!this.value.relay : null; }

  /** Cached value unless it is about to expire; `fresh` refetches (at most every MIN_REFETCH_MS). */
  get({ fresh = false } = {}) {
    const now = Date.now();
    const expiring = !this.value || this.value.expiresAt * 1000 - now < REFRESH_MARGIN_S * 1000;
    if (!expiring && (!fresh || now - this.fetchedAt < MIN_REFETCH_MS)) return Promise.resolve(this.value);
    if (now < this.retryAt) return Promise.resolve(this.value);
    return (this.inflight ??= this._fetch().finally(() => { this.inflight = null; }));
  }

  async _fetch() {
    const ctrl = new AbortController();
    const t = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
    mark('ice-servers-request');
    try {
      const res = await fetch('/api/ice-servers', { cache: 'no-store', credentials: 'same-origin', signal: ctrl.signal });
      if (res.status === 429) {
        const after = Number(res.headers.get('Retry-After')) || RATE_LIMITED_RETRY_S;
        this.retryAt = Date.now() + after * 1000;
        this._setError('rateLimited');
        this._schedule(after * 1000);
        return this.value;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = await res.json();
      if (!Array.isArray(body?.iceServers)) throw new Error('bad response');
      const nowS = Date.now() / 1000;
      const ttl = Number(body.ttl) > 0 ? Number(body.ttl) : DEFAULT_TTL_S;
      const expiresAt = Number(body.expiresAt) > nowS ? Number(body.expiresAt) : nowS + ttl;
      this.value = { iceServers: body.iceServers, ttl, expiresAt, relay: !!body.relay };
      this.fetchedAt = Date.now();
      this._setError(null);
      mark('ice-servers');
      this._schedule(Math.max(MIN_REFRESH_S, expiresAt - nowS - REFRESH_MARGIN_S) * 1000);
      this.dispatchEvent(new CustomEvent('update', { detail: this.value }));
      return this.value;
    } catch (err) {
      console.warn('[ice] /api/ice-servers failed:', err?.message ?? err);
      this._setError('unavailable');
      this._schedule(RETRY_AFTER_ERROR_MS);
      return this.value;
    } finally {
      clearTimeout(t);
    }
  }

  _setError(e) {
    if (this.lastError === e) return;
    this.lastError = e;
    this.dispatchEvent(new CustomEvent('status', { detail: e }));
  }

  _schedule(ms) {
    clearTimeout(this.timer);
    if (!this.stopped) this.timer = setTimeout(() => this.get({ fresh: true }), Math.min(ms, MAX_TIMEOUT_MS));
  }

  stop() { this.stopped = true; clearTimeout(this.timer); }
}
