// Remembered settings, on this device only: the name, the chosen devices and relay only, as
// one JSON object in localStorage. Storage can be missing or refuse writes (private windows,
// blocked site data); then the settings last as long as the page.

const STORAGE_KEY = 'pinhole:prefs';

export class Preferences {
  constructor() {
    /** {name?, audioId?, videoId?, speakerId?, relayOnly?} */
    this.values = {};
    try { this.values = JSON.parse(localStorage.getItem(STORAGE_KEY)) || {}; } catch { /* unreadable: start empty */ }
  }

  get name() { return this.values.name ?? ''; }

  save(patch) {
    Object.assign(this.values, patch);
    try { localStorage.setItem(STORAGE_KEY, JSON.stringify(this.values)); } catch { /* not stored: kept for this page */ }
  }

  /** Relay only: `?relay=1` or `?relay=0` in the page's URL wins over the remembered choice. */
  relayOnly(search = location.search) {
    const params = new URLSearchParams(search);
    return params.has('relay') ? params.get('relay') === '1' : !!this.values.relayOnly;
  }
}
