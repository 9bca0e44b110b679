// This device's side of a call: the local media (created on the pre-join screen, kept into the
// call, stopped when leaving), the preview and self tiles, the device pickers with their help
// text, and relay only. The pickers live in #devices, which moves between the pre-join screen
// and the call's settings panel.

import { $, announce, notice, fillSelect } from './ui.js';
import { LocalMedia } from './media.js';

/** Help under the preview for each LocalMedia error kind; `what` is the device(s) it concerns. */
const HELP = {
  denied: (what) => `Your browser is blocking the ${what}. Allow ${what.includes(' and ') ? 'them' : 'it'} from the site settings (the icon next to the address), then press Try again. You can still join without it.`,
  none: (what) => `No ${what} found. You can still join${what === 'microphone' ? ' and listen' : ''}.`,
  busy: (what) => `The ${what} is in use by another app or could not be started. Close the other app, then press Try again.`,
  unsupported: () => 'This browser cannot use a camera or microphone on this page (it needs a secure https:// connection). You can still join to watch and chat.',
  error: (what) => `The ${what} could not be started. You can still join.`,
};

function setToggle(btn, pressed, iconName) {
  btn.setAttribute('aria-pressed', String(pressed));
  btn.querySelector('use').setAttribute('href', `#i-${iconName}`);
}

export class LocalDevices {
  constructor({ prefs, onRelayOnly }) {
    this.prefs = prefs;
    /** The LocalMedia while the pre-join screen or a call is showing, else null. */
    this.media = null;
    this.relayOnly = prefs.relayOnly();

    navigator.mediaDevices?.addEventListener?.('devicechange', () => this.refresh());
    $('sel-mic').addEventListener('change', async (e) => {
      prefs.save({ audioId: e.target.value });
      if (this.media && !(await this.media.useDevice('audio', e.target.value))) notice('Could not switch to that microphone.', 'warn');
    });
    $('sel-cam').addEventListener('change', async (e) => {
      prefs.save({ videoId: e.target.value });
      if (this.media && !(await this.media.useDevice('video', e.target.value))) notice('Could not switch to that camera.', 'warn');
    });
    $('sel-spk').addEventListener('change', (e) => {
      prefs.save({ speakerId: e.target.value });
      if (this.media) this.media.speakerId = e.target.value;
      for (const v of $('grid').querySelectorAll('.tile.remote video')) v.setSinkId?.(e.target.value).catch(() => {});
    });
    $('relay-only').checked = this.relayOnly;
    $('relay-only').addEventListener('change', (e) => {
      this.relayOnly = e.target.checked;
      prefs.save({ relayOnly: this.relayOnly });
      onRelayOnly(this.relayOnly);
      announce(this.relayOnly ? 'Relay only on: your IP address is hidden from others' : 'Relay only off');
    });
    $('pre-name').addEventListener('input', () => this.render());
  }

  /** Creates the local media if there is none; true when it did (the caller starts it). */
  ensure() {
    if (this.media) return false;
    const media = (this.media = new LocalMedia(this.prefs.values));
    media.addEventListener('state', () => this.render());
    media.addEventListener('preview', () => {
      for (const v of [$('preview-video'), $('self-video')]) if (v.srcObject !== media.preview) v.srcObject = media.preview;
      this.render();
    });
    return true;
  }

  stop() {
    if (!this.media) return;
    this.media.stop();
    this.media = null;
    $('preview-video').srcObject = null;
    $('self-video').srcObject = null;
  }

  /** The toggles, the preview and self tiles and the help text, from the media's state. */
  render() {
    const media = this.media;
    if (!media) return;
    const micOff = !media.micOn;
    const camOff = !media.camOn;
    for (const id of ['pre-mute', 'btn-mute']) setToggle($(id), micOff, micOff ? 'mic-off' : 'mic');
    for (const id of ['pre-cam', 'btn-cam']) setToggle($(id), camOff, camOff ? 'cam-off' : 'cam');
    setToggle($('btn-screen'), media.sharing, 'screen');
    $('btn-screen').hidden = !LocalMedia.canShareScreen;
    for (const t of [$('preview-tile'), $('self-tile')]) {
      t.dataset.muted = String(micOff);
      t.dataset.cameraOff = String(camOff);
      t.classList.toggle('mirror', !media.sharing);
      if (media.sharing) t.dataset.screen = 'true';
      else delete t.dataset.screen;
    }
    const name = ($('pre-name').value || this.prefs.name).trim();
    for (const a of document.querySelectorAll('#preview-tile .avatar, #self-tile .avatar')) a.textContent = (name[0] ?? '?').toUpperCase();
    this.renderHelp();
  }

  renderHelp() {
    const el = $('media-help');
    const { audio, video } = this.media.errors;
    const lines = [];
    if (audio === 'unsupported') lines.push(HELP.unsupported());
    else if (audio && audio === video) lines.push(HELP[audio]('camera and microphone'));
    else {
      if (audio) lines.push(HELP[audio]('microphone'));
      if (video) lines.push(HELP[video]('camera'));
    }
    if (!lines.length) { el.hidden = true; el.replaceChildren(); return; }
    const retry = document.createElement('button');
    retry.type = 'button';
    retry.className = 'small';
    retry.textContent = 'Try again';
    retry.addEventListener('click', async () => {
      await this.media.start({ audio: !this.media.audio, video: !this.media.camera });
      this.refresh();
    });
    el.replaceChildren(...lines.map((t) => Object.assign(document.createElement('p'), { textContent: t })), retry);
    el.hidden = false;
  }

  /** Fills the pickers (labels appear once a device is allowed, so this runs again then). */
  async refresh() {
    const media = this.media;
    if (!media) return;
    const list = await media.devices();
    if (this.media !== media) return; // left the screen meanwhile
    fillSelect($('sel-mic'), list.audioinput, media.audio?.getSettings().deviceId || media.audioId, 'Microphone');
    fillSelect($('sel-cam'), list.videoinput, media.camera?.getSettings().deviceId || media.videoId, 'Camera');
    if (LocalMedia.canPickSpeaker) {
      $('speaker-row').hidden = false;
      fillSelect($('sel-spk'), list.audiooutput, media.speakerId, 'Speaker');
    }
  }
}
