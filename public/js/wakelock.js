// Keeps a phone's screen on during a call, where the Wake Lock API exists. The browser drops
// the lock whenever the page is hidden, so it is taken again each time the page shows.

export class ScreenWakeLock {
  constructor() {
    this.wanted = false;
    this.lock = null;
    document.addEventListener('visibilitychange', () => { if (this.wanted) this.keep(true); });
  }

  async keep(on) {
    this.wanted = on;
    try {
      if (on && !this.lock && navigator.wakeLock && document.visibilityState === 'visible') {
        const lock = (this.lock = await navigator.wakeLock.request('screen'));
        lock.addEventListener('release', () => { if (this.lock === lock) this.lock = null; });
      } else if (!on && this.lock) {
        await this.lock.release();
      }
    } catch { /* not allowed right now (battery saver, no user gesture yet): the screen may dim */ }
  }
}
