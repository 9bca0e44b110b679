// Local media: microphone, camera and screen, shared by the pre-join preview and the call.
// Mute = audio track disabled (the sender keeps sending silence). Camera off = the camera is
// stopped (its light goes off) and the video sender carries no track. Screen share replaces the
// outgoing video track; when it ends the camera (if on) comes back.
// Events: 'tracks' {kind} when an outgoing track changes, 'state' for anything the UI shows.

import { mark } from './timeline.js';

const errorKind = (e) => {
  switch (e?.name) {
    case 'NotAllowedError':
    case 'SecurityError': return 'denied';
    case 'NotFoundError':
    case 'OverconstrainedError': return 'none';
    case 'NotReadableError':
    case 'AbortError': return 'busy';
    default: return 'error';
  }
};

export class LocalMedia extends EventTarget {
  constructor({ audioId = '', videoId = '', speakerId = '' } = {}) {
    super();
    this.audioId = audioId;
    this.videoId = videoId;
    this.speakerId = speakerId;
    this.audio = null;
    this.camera = null;
    this.screen = null;
    this.muted = false;
    this.errors = { audio: null, video: null };
    this.preview = new MediaStream(); // what the self view shows: the outgoing video
  }

  get micOn() { return !!this.audio && !this.muted; }
  get camOn() { return !!this.camera; }
  get sharing() { return !!this.screen; }
  static get canShareScreen() { return !!navigator.mediaDevices?.getDisplayMedia; }
  static get canPickSpeaker() { return 'setSinkId' in HTMLMediaElement.prototype; }

  outgoing() {
    return { audio: this.audio, video: this.screen ?? this.camera };
  }

  _constraints(kind, id) {
    const deviceId = id ? { exact: id } : undefined;
    return kind === 'audio'
      ? { deviceId, echoCancellation: true, noiseSuppression: true, autoGainControl: true }
      : { deviceId, width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
  }

  async _get(kind) {
    const id = kind === 'audio' ? this.audioId : this.videoId;
    const gum = (c) => navigator.mediaDevices.getUserMedia({ [kind]: c }).then((s) => s.getTracks()[0] ?? null);
    try {
      const t = await gum(this._constraints(kind, id));
      this.errors[kind] = null;
      return t;
    } catch (err) {
      let failure = err;
      // The remembered device is gone: any device of that kind will do.
      if (id && (err.name === 'OverconstrainedError' || err.name === 'NotFoundError')) {
        try {
          const t = await gum(this._constraints(kind, ''));
          this.errors[kind] = null;
          return t;
        } catch (err2) { failure = err2; }
      }
      console.warn(`[media] ${kind}:`, failure.name, failure.message);
      this.errors[kind] = errorKind(failure);
      return null;
    }
  }

  /** Ask for microphone and camera; one missing or refused device never blocks the other. */
  async start({ audio = true, video = true } = {}) {
    mark('media-request');
    if (!navigator.mediaDevices?.getUserMedia) {
      this.errors = { audio: 'unsupported', video: 'unsupported' };
      this._emit('state');
      return;
    }
    let a = null;
    let v = null;
    if (audio && video) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({
          audio: this._constraints('audio', this.audioId),
          video: this._constraints('video', this.videoId),
        });
        a = s.getAudioTracks()[0] ?? null;
        v = s.getVideoTracks()[0] ?? null;
        this.errors = { audio: null, video: null };
      } catch { /* try one at a time below */ }
    }
    if (audio && !a) a = await this._get('audio');
    if (video && !v) v = await this._get('video');
    this._setAudio(a);
    this._setCamera(v);
    mark('media-ready');
    this._emit('state');
  }

  _setAudio(t) {
    if (this.audio === t) return;
    this.audio?.stop();
    this.audio = t;
    if (t) {
      t.enabled = !this.muted;
      t.addEventListener('ended', () => {
        if (this.audio !== t) return;
        this._setAudio(null); // unplugged
        this._emit('state');
      });
    }
    this._emit('tracks', { kind: 'audio' });
  }

  _setCamera(t) {
    if (this.camera === t) return;
    this.camera?.stop();
    this.camera = t;
    if (t) {
      t.addEventListener('ended', () => {
        if (this.camera !== t) return;
        this._setCamera(null);
        this._emit('state');
      });
    }
    this._syncPreview();
    if (!this.screen) this._emit('tracks', { kind: 'video' });
  }

  _syncPreview() {
    const want = this.screen ?? this.camera;
    for (const t of this.preview.getVideoTracks()) if (t !== want) this.preview.removeTrack(t);
    if (want && !this.preview.getTrackById(want.id)) this.preview.addTrack(want);
    this._emit('preview');
  }

  /** Returns false when the microphone could not be opened (see errors.audio). */
  async setMuted(muted) {
    if (!muted && !this.audio) {
      const t = await this._get('audio');
      if (!t) { this._emit('state'); return false; }
      this.muted = false;
      this._setAudio(t);
    }
    this.muted = muted;
    if (this.audio) this.audio.enabled = !muted;
    this._emit('state');
    return true;
  }

  async setCameraOn(on) {
    if (!on) {
      this._setCamera(null);
      this._emit('state');
      return true;
    }
    if (this.camera) return true;
    const t = await this._get('video');
    if (!t) { this._emit('state'); return false; }
    this._setCamera(t);
    this._emit('state');
    return true;
  }

  /** Switch microphone or camera; only opens the device now if that kind is currently on. */
  async useDevice(kind, id) {
    if (kind === 'audio') this.audioId = id;
    else this.videoId = id;
    const current = kind === 'audio' ? this.audio : this.camera;
    if (!current) return true;
    const t = await this._get(kind);
    if (!t) { this._emit('state'); return false; }
    if (kind === 'audio') this._setAudio(t);
    else this._setCamera(t);
    this._emit('state');
    return true;
  }

  async startScreen() {
    const s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    const t = s.getVideoTracks()[0];
    if (!t) return;
    try { t.contentHint = 'detail'; } catch { /* a hint only; older browsers reject the value */ }
    t.addEventListener('ended', () => { if (this.screen === t) this.stopScreen(); });
    this.screen?.stop();
    this.screen = t;
    this._syncPreview();
    this._emit('tracks', { kind: 'video' });
    this._emit('state');
  }

  stopScreen() {
    const t = this.screen;
    if (!t) return;
    this.screen = null;
    t.stop();
    this._syncPreview();
    this._emit('tracks', { kind: 'video' });
    this._emit('state');
  }

  async devices() {
    const out = { audioinput: [], videoinput: [], audiooutput: [] };
    try {
      for (const d of await navigator.mediaDevices.enumerateDevices()) out[d.kind]?.push(d);
    } catch { /* no permission or no mediaDevices yet: no devices to list */ }
    return out;
  }

  stop() {
    this.stopScreen();
    this._setAudio(null);
    this._setCamera(null);
  }

  _emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
}
