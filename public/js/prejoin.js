// The pre-join view: the room code, a preview with the media toggles, the name, the devices.

import { $, banner } from './ui.js';
import { NAME_MAX_CHARS, trimName } from './limits.js';

export class Prejoin {
  constructor({ views, prefs, devices, onJoin }) {
    this.views = views;
    this.prefs = prefs;
    this.devices = devices;
    $('pre-name').maxLength = NAME_MAX_CHARS;
    $('btn-join').addEventListener('click', () => {
      const name = trimName($('pre-name').value);
      prefs.save({ name });
      onJoin(name);
    });
  }

  async enter(code) {
    const { devices } = this;
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
}
