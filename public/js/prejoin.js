// The pre-join view: the room code, a preview with the media toggles, the name, the devices.
// Meanwhile the call's ICE servers are fetched (ice.js; refreshed there if they come close to
// expiry before the click), so that joining does not wait for them; "Join" hands them over.

import { $, banner } from './ui.js';
import { NAME_MAX_CHARS, trimName } from './limits.js';
import { IceServers } from './ice.js';

export class Prejoin {
  constructor({ views, prefs, devices, onJoin }) {
    this.views = views;
    this.prefs = prefs;
    this.devices = devices;
    this.ice = null;
    $('pre-name').maxLength = NAME_MAX_CHARS;
    $('btn-join').addEventListener('click', () => {
      const name = trimName($('pre-name').value);
      prefs.save({ name });
      const ice = this.ice ?? new IceServers();
      this.ice = null;
      onJoin(name, ice);
    });
  }

  async enter(code) {
    const { devices } = this;
    this.leave();
    this.ice = new IceServers();
    this.ice.get(); // first: the fetch overlaps the camera and microphone starting
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
    this.ice?.stop();
    this.ice = null;
  }
}
