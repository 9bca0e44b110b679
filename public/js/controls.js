// The media toggles (microphone, camera, screen) on the pre-join screen and in the call, and
// the keyboard shortcuts, which never fire while typing.

import { $, announce, notice } from './ui.js';
import { LocalMedia } from './media.js';

export class Controls {
  constructor({ devices, panel, views }) {
    this.devices = devices;
    this.panel = panel;
    this.views = views;
    $('pre-mute').addEventListener('click', () => this.toggleMute());
    $('pre-cam').addEventListener('click', () => this.toggleCamera());
    $('btn-mute').addEventListener('click', () => this.toggleMute());
    $('btn-cam').addEventListener('click', () => this.toggleCamera());
    $('btn-screen').addEventListener('click', () => this.toggleScreen());
    addEventListener('keydown', (e) => this.onKey(e));
  }

  async toggleMute() {
    const media = this.devices.media;
    if (!media) return;
    const ok = await media.setMuted(media.micOn);
    if (!ok) notice('The microphone is not available. See the help on the pre-join screen or your browser’s site settings.', 'warn');
    else announce(media.micOn ? 'Microphone on' : 'Microphone off');
  }

  async toggleCamera() {
    const media = this.devices.media;
    if (!media) return;
    const ok = await media.setCameraOn(!media.camOn);
    if (!ok) notice('The camera is not available (blocked, missing or in use).', 'warn');
    else announce(media.camOn ? 'Camera on' : 'Camera off');
  }

  async toggleScreen() {
    const media = this.devices.media;
    if (!media || !LocalMedia.canShareScreen) return;
    if (media.sharing) {
      media.stopScreen();
      announce('Stopped sharing your screen');
      return;
    }
    try {
      await media.startScreen();
      announce('Sharing your screen');
    } catch (err) {
      // Refusing the picker (or closing it) is a choice, not a failure.
      if (err?.name !== 'NotAllowedError' && err?.name !== 'AbortError') notice('Screen sharing could not start.', 'warn');
    }
  }

  /** The shortcuts of a view (the keys the buttons' aria-keyshortcuts and the settings list name). */
  shortcuts(view) {
    const inCall = view === 'call';
    return {
      m: () => this.toggleMute(),
      v: () => this.toggleCamera(),
      s: inCall && (() => this.toggleScreen()),
      c: inCall && (() => this.panel.open('chat')),
      d: inCall && (() => this.panel.toggle('diag')),
    };
  }

  onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || e.isComposing) return;
    const view = this.views.current;
    if (view !== 'call' && view !== 'prejoin') return;
    if (e.key === 'Escape') {
      if (this.panel.current) { this.panel.open(null); e.preventDefault(); }
      return;
    }
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || t.closest('input, textarea, select'))) return;
    const run = this.shortcuts(view)[e.key.toLowerCase()];
    if (run) {
      e.preventDefault();
      run();
    }
  }
}
