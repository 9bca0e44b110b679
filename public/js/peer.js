// One RTCPeerConnection to one remote participant.
//
// Negotiation: perfect negotiation exactly as in the WebRTC samples
// (peerconnection/perfect-negotiation): makingOffer / ignoreOffer / argument-less
// setLocalDescription(). polite = (selfId < remoteId), both ids come from the server, so the
// two ends always disagree and glare cannot deadlock.
//
// Who offers: the newcomer creates its PCs as "initiator" (adds the transceivers and data
// channels → negotiationneeded → offer). The side already in the room creates its PC as soon as
// it hears of the newcomer (peerJoined), so that the connection and its DTLS certificate are
// made before the offer arrives, but it does not offer: it ignores negotiationneeded (which its
// data channels raise at once) until a remote description is applied, and adopts the transceivers
// that the offer created (addTransceiver transceivers are never matched to a remote offer, so
// creating them up front would cost a second negotiation). One offer/answer round in all. A
// fallback timer in call.js makes the existing side offer (initiate()) if nothing arrives.
// Signals are processed one at a time, in order.
//
// Media: exactly one audio and one video transceiver, always sendrecv, so mute, camera off,
// device switches and screen share are sender.replaceTrack() and never renegotiate.
// Video starts at half resolution (scaleResolutionDownBy, sender parameters, no renegotiation)
// and goes to full resolution shortly after the first connection: a new connection's bandwidth
// estimate starts low (Chromium: 300 kbit/s), and a 720p camera at that rate makes WebRTC drop
// its first frames one by one while it scales down by itself (~100–200 ms without a picture,
// and the first frames come out smaller than half anyway). Half resolution is sent at once.
//
// Data channels are pre-negotiated (negotiated:true, fixed ids), so both ends own them at once
// and can queue before they open:
//   id 0 "ctl"  — JSON app messages: {t:'state',muted,cameraOff,screen} and {t:'chat',…}.
//                 App state travels peer-to-peer here, not via the server: it is in order with
//                 chat and keeps working while signaling is down.
//   id 1 "file" — file transfer (files.js).
//
// Signal payloads (the signaling "data" field): {description:{type,sdp}} | {candidate:{…}}.
//
// Recovery: ICE restart (with fresh ICE servers, via 'restart-needed' → call.js → restart())
// on 'failed' at once and on 'disconnected' after a few seconds (the polite side waits longer so
// the two restarts rarely collide). A watchdog rolls back an offer left unanswered for a while
// of working signaling (a lost signal) and negotiates again. The delays are PEER_TIMINGS.

import { mark } from './timeline.js';

const KINDS = ['audio', 'video'];
const MAX_OUTBOX = 500;
/** Remote candidates kept while the first remote description has not arrived yet. */
const MAX_PENDING_CANDIDATES = 100;

/** Recovery delays in ms; `new Peer({timings})` overrides any of them. */
export const PEER_TIMINGS = Object.freeze({
  /** From 'disconnected' (which often heals by itself) to an ICE restart. */
  restartAfterDisconnectMs: 4000,
  /** Added on the polite side, so that both ends rarely restart at the same moment. */
  politeRestartDelayMs: 2000,
  /** Added per restart that did not reconnect… */
  restartBackoffStepMs: 3000,
  /** …up to this. */
  restartBackoffCapMs: 20000,
  /** A restart not connected after this is followed by another. */
  restartCheckMs: 15000,
  /** How often the watchdog looks for an unanswered offer. */
  offerWatchdogMs: 5000,
  /** An offer unanswered this long while signaling works was lost: roll back and offer again. */
  offerTimeoutMs: 15000,
  /** From the first 'connected' to sending video at full resolution (it starts at half). */
  fullResolutionAfterMs: 1000,
});

/**
 * The codec each kind should use first: the one every engine encodes and decodes (Firefox here
 * has no H.264, Safari's VP8 is newer than its H.264 but present from Safari 12.1 on). Chromium
 * would offer VP8 first anyway; the order is made explicit so that an engine whose default is
 * different (Safari prefers H.264) does not pick a codec the other side may lack.
 */
const PREFERRED_CODECS = { audio: 'audio/opus', video: 'video/VP8' };

/**
 * Puts the preferred codec first in `transceiver`'s list (setCodecPreferences), keeping all the
 * others (RTX, RED, FEC and the remaining codecs) in the engine's own order. Where the engine has
 * no setCodecPreferences or no getCapabilities, or refuses the list, its default order stays:
 * the call works either way, only the choice of codec is then the engine's.
 */
export function preferCodecs(transceiver, kind) {
  try {
    if (typeof transceiver.setCodecPreferences !== 'function') return false;
    const codecs = globalThis.RTCRtpReceiver?.getCapabilities?.(kind)?.codecs;
    if (!codecs?.length) return false;
    const want = PREFERRED_CODECS[kind];
    const first = codecs.filter((c) => c.mimeType.toLowerCase() === want.toLowerCase());
    if (!first.length) return false;
    transceiver.setCodecPreferences([...first, ...codecs.filter((c) => !first.includes(c))]);
    return true;
  } catch (err) {
    console.warn('[peer] setCodecPreferences refused; using the engine\'s codec order', err?.message ?? err);
    return false;
  }
}

/** scaleResolutionDownBy of the video until fullResolutionAfterMs after the first connection. */
const START_VIDEO_SCALE = 2;

export class Peer extends EventTarget {
  constructor({ id, polite, config, initiator, tracks, send, timings = {} }) {
    super();
    this.id = id;
    this.initiator = initiator;
    this.negotiationDeferred = false; // a negotiationneeded was ignored (see initiate())
    this.timings = { ...PEER_TIMINGS, ...timings };
    this.polite = polite;
    this.tracks = tracks; // () => ({audio, video}) current outgoing tracks
    this.sendSignal = send;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.closed = false;
    this.state = 'connecting';
    this.everConnected = false;
    this.tx = { audio: null, video: null };
    this.remoteStream = new MediaStream();
    this.outbox = [];
    this.pendingCandidates = [];
    this.chain = Promise.resolve();
    this.restartTimer = 0;
    this.restartCheck = 0;
    this.restartAttempts = 0;
    this.fullResolutionTimer = 0;
    this.pendingRestart = false;
    this.offerAt = 0;
    this.signalingUp = true;
    this.signalingUpAt = Date.now();

    const pc = (this.pc = new RTCPeerConnection(config));
    mark('pc-created', id);
    if (initiator) for (const kind of KINDS) this._addTransceiver(kind);

    this.ctl = pc.createDataChannel('ctl', { negotiated: true, id: 0 });
    this.file = pc.createDataChannel('file', { negotiated: true, id: 1 });
    this.file.binaryType = 'arraybuffer';
    this.ctl.onopen = () => {
      this._flush();
      this._emit('ctl-open');
    };
    this.ctl.onmessage = ({ data }) => {
      if (typeof data !== 'string') return;
      let msg;
      try { msg = JSON.parse(data); } catch { return; }
      if (msg && typeof msg === 'object' && typeof msg.t === 'string') this._emit('control', msg);
    };

    // --- perfect negotiation (WebRTC samples) ---
    pc.onnegotiationneeded = () => {
      if (this.initiator || pc.remoteDescription) this._offer();
      else this.negotiationDeferred = true;
    };
    pc.onicecandidate = ({ candidate }) => {
      mark(candidate ? 'local-candidate' : 'local-candidates-done', this.id, candidate ? { type: candidate.type, mid: candidate.sdpMid } : undefined);
      if (candidate) this.sendSignal({ candidate: candidate.toJSON() });
    };
    pc.ontrack = () => this._syncRemote();
    pc.oniceconnectionstatechange = () => mark(`ice-${pc.iceConnectionState}`, this.id);
    pc.onconnectionstatechange = () => this._onConnectionState();

    this.watchdog = setInterval(() => this._checkStuckOffer(), this.timings.offerWatchdogMs);
  }

  async _offer() {
    const pc = this.pc;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      this.offerAt = Date.now();
      mark('offer-sent', this.id);
      this.sendSignal({ description: pc.localDescription });
    } catch (err) {
      console.warn('[peer] offer failed', err);
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * The answering side offers after all (call.js: the newcomer's offer never came): adds the
   * transceivers and negotiates. A negotiationneeded it ignored does not fire again (the flag
   * is still set), so then this offers itself. Does nothing once a remote description arrived.
   */
  initiate() {
    if (this.closed || this.initiator || this.pc.remoteDescription) return;
    this.initiator = true;
    for (const kind of KINDS) if (!this.tx[kind]) this._addTransceiver(kind);
    if (this.negotiationDeferred && !this.makingOffer && this.pc.signalingState === 'stable') this._offer();
  }

  /** Process one signal from the remote peer (serialised, in arrival order). */
  handleSignal(data) {
    if (!data || typeof data !== 'object') return this.chain;
    this.chain = this.chain.then(() => this._handle(data));
    return this.chain;
  }

  async _handle({ description, candidate }) {
    const pc = this.pc;
    if (this.closed) return;
    try {
      if (description) {
        if ((description.type !== 'offer' && description.type !== 'answer') || typeof description.sdp !== 'string') return;
        const offerCollision = description.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && offerCollision;
        mark(`${description.type}-received`, this.id);
        if (this.ignoreOffer) return;
        await pc.setRemoteDescription(description);
        if (description.type === 'offer') {
          this._adoptTransceivers();
          await pc.setLocalDescription();
          mark('answer-sent', this.id);
          this.sendSignal({ description: pc.localDescription });
          if (!this.everConnected) this._scaleVideo(START_VIDEO_SCALE); // the adopted sender has its encodings now
        }
        // candidates that raced ahead of the first description
        for (const c of this.pendingCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => {});
      } else if (candidate && typeof candidate === 'object') {
        mark('remote-candidate', this.id);
        if (!pc.remoteDescription) {
          if (this.pendingCandidates.length < MAX_PENDING_CANDIDATES) this.pendingCandidates.push(candidate);
          return;
        }
        try {
          await pc.addIceCandidate(candidate);
        } catch (err) {
          if (!this.ignoreOffer) throw err;
        }
      }
    } catch (err) {
      console.warn('[peer] signal failed', err);
    }
  }

  /** After applying a remote offer: use the transceivers it negotiated (one per kind), sendrecv. */
  _adoptTransceivers() {
    const all = this.pc.getTransceivers().filter((t) => t.direction !== 'stopped' && t.currentDirection !== 'stopped');
    for (const kind of KINDS) {
      const negotiated = all.find((t) => t.receiver.track.kind === kind && t.mid !== null);
      if (!negotiated) {
        if (!this.tx[kind]) this._addTransceiver(kind); // remote offered no such m-line: renegotiate later
        continue;
      }
      if (this.tx[kind] !== negotiated) {
        const old = this.tx[kind];
        if (old && old.mid === null) old.stop(); // ours lost the glare; don't negotiate a duplicate
        this.tx[kind] = negotiated;
        negotiated.sender.replaceTrack(this.tracks()[kind] ?? null).catch((e) => console.warn('[peer] replaceTrack', e));
      }
      if (negotiated.direction !== 'sendrecv') negotiated.direction = 'sendrecv';
      preferCodecs(negotiated, kind);
    }
    this._syncRemote();
  }

  _addTransceiver(kind) {
    const track = this.tracks()[kind];
    const init = { direction: 'sendrecv' };
    if (kind === 'video' && !this.everConnected) {
      init.sendEncodings = [{ scaleResolutionDownBy: START_VIDEO_SCALE }];
      mark('video-scale', this.id, { scale: START_VIDEO_SCALE });
    }
    this.tx[kind] = this.pc.addTransceiver(track && track.kind === kind ? track : kind, init);
    preferCodecs(this.tx[kind], kind);
    this._syncRemote();
  }

  /** Keep remoteStream = the receive tracks of our two transceivers. */
  _syncRemote() {
    let changed = false;
    for (const kind of KINDS) {
      const want = this.tx[kind]?.receiver.track ?? null;
      for (const t of this.remoteStream.getTracks()) {
        if (t.kind === kind && t !== want) { this.remoteStream.removeTrack(t); changed = true; }
      }
      if (want && !this.remoteStream.getTrackById(want.id)) { this.remoteStream.addTrack(want); changed = true; }
    }
    if (changed) this._emit('remote-stream');
  }

  /** Swap an outgoing track (mute is track.enabled; camera off / screen share / device switch land here). */
  setTrack(kind, track) {
    const t = this.tx[kind];
    if (!t || this.closed) return Promise.resolve();
    if (t.sender.track === (track ?? null)) return Promise.resolve();
    return t.sender.replaceTrack(track ?? null).catch((e) => console.warn('[peer] replaceTrack', e));
  }

  /** Sets scaleResolutionDownBy of the outgoing video (sender parameters: no renegotiation). */
  _scaleVideo(scale) {
    const sender = this.tx.video?.sender;
    if (!sender || this.closed) return;
    const params = sender.getParameters();
    if (!params.encodings?.length || params.encodings.every((e) => (e.scaleResolutionDownBy ?? 1) === scale)) return;
    for (const e of params.encodings) e.scaleResolutionDownBy = scale;
    sender.setParameters(params).then(() => mark('video-scale', this.id, { scale }), (e) => console.warn('[peer] setParameters', e));
  }

  /** JSON message over the "ctl" channel; queued until it opens. */
  sendControl(msg) {
    const s = JSON.stringify(msg);
    if (this.ctl.readyState === 'open') {
      try { this.ctl.send(s); return; } catch { /* closing under us: queue it like a closed channel */ }
    }
    if (this.outbox.length < MAX_OUTBOX) this.outbox.push(s);
  }

  _flush() {
    while (this.outbox.length && this.ctl.readyState === 'open') this.ctl.send(this.outbox.shift());
  }

  setConfig(config) {
    if (this.closed) return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), ...config });
    } catch (err) {
      console.warn('[peer] setConfiguration', err);
    }
  }

  /** ICE restart with fresh configuration (call.js fetches new ICE servers first). */
  restart(config) {
    if (this.closed) return;
    this.pendingRestart = false;
    this.restartAttempts++;
    this.setConfig(config);
    this.pc.restartIce();
    clearTimeout(this.restartCheck);
    this.restartCheck = setTimeout(() => {
      if (!this.closed && this.pc.connectionState !== 'connected') this._scheduleRestart(0);
    }, this.timings.restartCheckMs);
  }

  setSignalingUp(up) {
    this.signalingUp = up;
    if (up) this.signalingUpAt = Date.now();
  }

  _onConnectionState() {
    const s = this.pc.connectionState;
    mark(`pc-${s}`, this.id);
    if (s === 'connected') {
      if (!this.everConnected) this.fullResolutionTimer = setTimeout(() => this._scaleVideo(1), this.timings.fullResolutionAfterMs);
      this.everConnected = true;
      this.restartAttempts = 0;
      clearTimeout(this.restartTimer);
      clearTimeout(this.restartCheck);
      this.restartTimer = 0;
      this._setState('connected');
    } else if (s === 'disconnected') {
      this._setState('reconnecting');
      this._scheduleRestart(this.timings.restartAfterDisconnectMs);
    } else if (s === 'failed') {
      this._setState('failed');
      this._scheduleRestart(0);
    } else if (s === 'new' || s === 'connecting') {
      this._setState(this.everConnected ? 'reconnecting' : 'connecting');
    }
  }

  _scheduleRestart(base) {
    if (this.restartTimer || this.closed) return;
    const t = this.timings;
    const delay = base + (this.polite ? t.politeRestartDelayMs : 0) + Math.min(t.restartBackoffCapMs, this.restartAttempts * t.restartBackoffStepMs);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = 0;
      const s = this.pc.connectionState;
      if (!this.closed && s !== 'connected' && s !== 'closed') this._emit('restart-needed');
    }, delay);
  }

  _checkStuckOffer() {
    const pc = this.pc;
    if (this.closed || this.makingOffer || !this.signalingUp || pc.signalingState !== 'have-local-offer') return;
    if (Date.now() - Math.max(this.offerAt, this.signalingUpAt) < this.timings.offerTimeoutMs) return;
    this.offerAt = Date.now();
    this.chain = this.chain.then(async () => {
      if (pc.signalingState !== 'have-local-offer') return;
      console.warn('[peer] offer unanswered, negotiating again');
      await pc.setLocalDescription({ type: 'rollback' });
      pc.restartIce(); // guarantees a fresh negotiationneeded
    }).catch((e) => console.warn('[peer] rollback', e));
  }

  _setState(s) {
    if (this.state === s) return;
    this.state = s;
    this._emit('state', s);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.restartCheck);
    clearTimeout(this.fullResolutionTimer);
    clearInterval(this.watchdog);
    try { this.pc.close(); } catch { /* already closed */ }
  }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
}
