// The call: the signaling socket, ICE servers, local media and one Peer per remote participant
// (full mesh). Owns the participant list; the UI only listens.
//
// Join / resume (see signaling.js): a welcome with a NEW id (first join, or resumeFailed after the
// grace period) tears down every peer connection and offers to everyone listed. A RESUMED welcome
// (same id) keeps every live connection: peers no longer listed are dropped, newly listed ones get
// a tile and answer the offer they already queued for us (with the usual fallback timer).
// A newcomer (peerJoined) gets its connection at once, ready to answer its offer (peer.js).
// The ICE servers come from the pre-join screen (prejoin.js fetches them before "Join"), so
// the welcome is answered with offers at once.
// While signaling is down nothing is torn down; media and data channels keep flowing.
//
// Events: self, signaling, participant-added, participant-updated, participant-removed,
// peer-created, control ({from, msg}), notice ({kind, text}), ended ({reason}).

import { Signaling } from './signaling.js';
import { IceServers } from './ice.js';
import { Peer } from './peer.js';
import { DEFAULT_MAX_PEERS } from './limits.js';
import { mark } from './timeline.js';

const FALLBACK_OFFER_MS = 4000;
/**
 * Audio, video and data on one transport from the first offer: one set of candidates to gather
 * and check instead of one per m-line ('balanced' waits for the answer to drop the others).
 */
const BUNDLE_POLICY = 'max-bundle';

export const displayName = (p) => p.name || `Guest ${p.id.slice(0, 4)}`;

export class Call extends EventTarget {
  /**
   * `peerTimings` overrides PEER_TIMINGS (peer.js) for every peer of this call. `ice` is the
   * IceServers the pre-join screen fetched (the call owns it from here on, and stops it).
   */
  constructor({ code, name, media, relayOnly = false, peerTimings = {}, ice = new IceServers() }) {
    super();
    this.code = code;
    this.name = name;
    this.media = media;
    this.relayOnly = relayOnly;
    this.peerTimings = peerTimings;
    this.selfId = null;
    this.maxPeers = DEFAULT_MAX_PEERS;
    this.participants = new Map();
    this.sig = new Signaling(code, { name });
    this.ice = ice;
    this.queue = Promise.resolve();
    this.ended = false;
  }

  start() {
    this.iceReady = this.ice.get(); // at once when the pre-join screen's fetch is done and fresh
    // The pre-join screen's fetch may have been refused before this call listened.
    if (this.ice.lastError === 'rateLimited') this._notice('warn', 'ICE server list is rate limited; using what we have.');
    this.ice.addEventListener('update', () => this._applyConfig());
    this.ice.addEventListener('status', (e) => {
      if (e.detail === 'rateLimited') this._notice('warn', 'ICE server list is rate limited; using what we have.');
    });
    const on = (type, fn) => this.sig.addEventListener(type, (e) => this._serial(() => fn.call(this, e.detail)));
    on('welcome', this._onWelcome);
    on('peerJoined', this._onPeerJoined);
    on('peerLeft', this._onPeerLeft);
    on('signal', this._onSignal);
    on('servererror', this._onServerError);
    this.sig.addEventListener('state', (e) => this._onSignalingState(e.detail));
    this._onTracks = (e) => {
      const kind = e.detail.kind;
      const track = this.media.outgoing()[kind];
      for (const p of this.participants.values()) p.peer?.setTrack(kind, track);
    };
    this._onMediaState = () => this.broadcastState();
    this.media.addEventListener('tracks', this._onTracks);
    this.media.addEventListener('state', this._onMediaState);
    this.sig.connect();
  }

  /** Signaling events are handled strictly in order, after the first ICE server fetch. */
  _serial(fn) {
    this.queue = this.queue
      .then(async () => {
        await this.iceReady;
        if (!this.ended) await fn();
      })
      .catch((e) => console.warn('[call]', e));
  }

  config() {
    return { iceServers: this.ice.iceServers, iceTransportPolicy: this.relayOnly ? 'relay' : 'all', bundlePolicy: BUNDLE_POLICY };
  }

  // --- signaling events ---

  _onWelcome({ id, peers, maxPeers, resumed }) {
    mark('welcome-handled');
    this.selfId = id;
    this.maxPeers = maxPeers;
    this._emit('self', { id, resumed });
    if (this.ice.relay === false && !this.relayNoticeShown) {
      this.relayNoticeShown = true;
      this._notice(this.relayOnly ? 'error' : 'info', this.relayOnly
        ? 'Relay only is on, but this server has no relay (TURN) configured: calls cannot connect.'
        : 'No relay (TURN) server configured: calls between restrictive networks may not connect.');
    }
    if (!resumed) {
      for (const pid of [...this.participants.keys()]) this._remove(pid);
      for (const p of peers) this._add(p.id, p.name, { initiator: true });
      return;
    }
    const listed = new Set(peers.map((p) => p.id));
    for (const pid of [...this.participants.keys()]) if (!listed.has(pid)) this._remove(pid, true);
    for (const { id: pid, name } of peers) {
      const p = this.participants.get(pid) ?? this._expect(pid, name);
      this._rename(p, name);
      if (p.peer?.pendingRestart || ['failed', 'reconnecting'].includes(p.peer?.state)) this._restart(p);
    }
  }

  _onPeerJoined({ id, name }) {
    const p = this.participants.get(id);
    if (p) this._rename(p, name);
    else this._expect(id, name);
  }

  _onPeerLeft({ id }) {
    this._remove(id, true);
  }

  _onSignal({ from, data }) {
    if (from === this.selfId) return;
    const p = this.participants.get(from) ?? this._add(from, '', { initiator: false });
    p.peer.handleSignal(data);
  }

  _onServerError({ code, message }) {
    switch (code) {
      case 'resumeFailed':
        this._notice('warn', 'Reconnected as a new participant (the previous session had expired).');
        break;
      case 'roomFull':
        break; // the socket closes with CLOSE.ROOM_FULL → state 'full'
      case 'peerUnavailable':
      case 'unknownPeer':
      case 'rateLimited':
        console.warn('[call] server:', code, message); // lost signals are recovered by the peer watchdog
        break;
      default:
        console.warn('[call] server error:', code, message);
    }
  }

  _onSignalingState({ state, detail }) {
    const up = state === 'open';
    for (const p of this.participants.values()) p.peer?.setSignalingUp(up);
    this._emit('signaling', { state, detail });
    if ((state === 'full' || state === 'closed') && !this.ended) this._end(state === 'full' ? 'full' : detail || 'closed');
  }

  // --- participants ---

  /** A participant whose offer is on its way: its connection now, ready to answer, and a fallback timer. */
  _expect(id, name) {
    return this._add(id, name, { fallback: true, initiator: false });
  }

  /**
   * A new participant with its connection (offering if `initiator`), made before the UI hears
   * of it (participant-added) so that the offer, or the readiness to answer, does not wait for
   * the tile to render; `fallback` starts the timer that offers if the newcomer does not.
   */
  _add(id, name, { initiator, fallback = false }) {
    const p = {
      id,
      name: typeof name === 'string' ? name : '',
      peer: null,
      state: 'connecting',
      path: null,
      stats: null,
      remote: { muted: false, cameraOff: false, screen: false },
      fallback: 0,
    };
    this.participants.set(id, p);
    this._connect(p, initiator);
    if (fallback) {
      // The newcomer offers; if its offer never comes (dropped signal), offer ourselves.
      p.fallback = setTimeout(() => {
        if (this.participants.get(id) !== p || this.ended) return;
        p.peer.initiate(); // does nothing once the offer has come
      }, FALLBACK_OFFER_MS);
    }
    this._emit('participant-added', p);
    this._emit('peer-created', p);
    return p;
  }

  _rename(p, name) {
    if (typeof name === 'string' && name && name !== p.name) {
      p.name = name;
      this._emit('participant-updated', p);
    }
  }

  /** Gives `p` its Peer, wired to the call (the events that announce it are the caller's). */
  _connect(p, initiator) {
    const peer = new Peer({
      id: p.id,
      polite: this.selfId < p.id,
      config: this.config(),
      initiator,
      tracks: () => this.media.outgoing(),
      send: (data) => this.sig.send(p.id, data),
      timings: this.peerTimings,
    });
    p.peer = peer;
    peer.setSignalingUp(this.sig.state === 'open');
    peer.addEventListener('state', (e) => {
      p.state = e.detail;
      this._emit('participant-updated', p);
    });
    peer.addEventListener('remote-stream', () => this._emit('participant-updated', p));
    peer.addEventListener('ctl-open', () => peer.sendControl(this.stateMessage()));
    peer.addEventListener('control', (e) => this._onControl(p, e.detail));
    peer.addEventListener('restart-needed', () => this._restart(p));
    return peer;
  }

  _remove(id, announce = false) {
    const p = this.participants.get(id);
    if (!p) return;
    clearTimeout(p.fallback);
    p.peer?.close();
    this.participants.delete(id);
    this._emit('participant-removed', { ...p, announce });
  }

  async _restart(p) {
    const peer = p.peer;
    if (!peer || peer.closed) return;
    if (this.sig.state !== 'open') {
      peer.pendingRestart = true; // done on the resumed welcome
      return;
    }
    await this.ice.get({ fresh: true });
    if (p.peer === peer && !this.ended) peer.restart(this.config());
  }

  _applyConfig() {
    for (const p of this.participants.values()) p.peer?.setConfig(this.config());
  }

  setRelayOnly(on) {
    if (this.relayOnly === on) return;
    this.relayOnly = on;
    for (const p of this.participants.values()) if (p.peer) this._restart(p).catch(() => {});
    for (const p of this.participants.values()) if (p.peer && this.sig.state !== 'open') p.peer.setConfig(this.config());
  }

  // --- app messages over the "ctl" data channel ---

  stateMessage() {
    const m = this.media;
    return { t: 'state', muted: !m.micOn, cameraOff: !m.camOn, screen: m.sharing };
  }

  broadcastState() {
    this.broadcast(this.stateMessage());
  }

  /** Send to every participant (each connection queues it until its channel opens). */
  broadcast(msg) {
    for (const p of this.participants.values()) p.peer.sendControl(msg);
  }

  _onControl(p, msg) {
    if (msg.t === 'state') {
      const prev = p.remote;
      p.remote = { muted: !!msg.muted, cameraOff: !!msg.cameraOff, screen: !!msg.screen };
      if (prev.screen !== p.remote.screen) {
        this._notice('live', `${displayName(p)} ${p.remote.screen ? 'started' : 'stopped'} sharing their screen`);
      }
      this._emit('participant-updated', p);
      return;
    }
    this._emit('control', { from: p, msg });
  }

  // --- end ---

  leave() {
    if (this.ended) return;
    this.sig.leave();
    this._end('left');
  }

  _end(reason) {
    if (this.ended) return;
    this.ended = true;
    for (const id of [...this.participants.keys()]) this._remove(id);
    this.ice.stop();
    this.sig.dispose();
    this.media.removeEventListener('tracks', this._onTracks);
    this.media.removeEventListener('state', this._onMediaState);
    this._emit('ended', { reason });
  }

  _notice(kind, text) { this._emit('notice', { kind, text }); }
  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
}
