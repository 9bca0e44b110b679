// The pre-join view: the room code, a preview with the media toggles, the name, the devices.
// Meanwhile the call's ICE servers and certificate are prepared (warmup.js); "Join" hands them over.

import { $, banner } from './ui.js';
import { NAME_MAX_CHARS, trimName } from './limits.js';
import { CallWarmup } from './warmup.js';

export class Prejoin {
  constructor({ views, prefs, devices, onJoin }) {
    this.views = views;
    this.prefs = prefs;
    this.devices = devices;
    this.warmup = null;
    $('pre-name').maxLength = NAME_MAX_CHARS;
    $('btn-join').addEventListener('click', () => {
      const name = trimName($('pre-name').value);
      prefs.save({ name });
      const warmup = this.warmup ?? new CallWarmup();
      this.warmup = null;
      onJoin(name, warmup);
    });
  }

  async enter(code) {
    const { devices } = this;
    this.leave();
    this.warmup = new CallWarmup(); // first: it overlaps the camera and microphone starting
    this.views.show('prejoin');
    document.title = `Pinhole · ${code}`;
    document.body.dataset.signaling = 'idle';
    delete document.body.dataset.peerId;
    banner(null);
    $('prejoin-code').textContent = code;
    $('pre-name').value = this.prefs.name;
    $('devices-home').append($('devices'));
    if (devices.ensure()) await devices.media.start();
    devices.render();
    devices.refresh();
  }

  /** The pre-join screen is left without joining. */
  leave() {
    this.warmup?.stop();
    this.warmup = null;
  }
}
