// Handing out the invite link: copy it, or the system share sheet where there is one (on
// touch devices the Invite button prefers it).

import { $, announce, notice } from './ui.js';

export class Invite {
  /** `url()` is the current room's invite link. */
  constructor(url) {
    this.url = url;
    $('wait-copy').addEventListener('click', () => this.copy());
    $('wait-share').addEventListener('click', () => this.share());
    $('btn-invite').addEventListener('click', () => (navigator.share && matchMedia('(pointer: coarse)').matches ? this.share() : this.copy()));
  }

  /** Fills the waiting card shown while no one else is in the call. */
  renderWaiting() {
    $('wait-link').textContent = this.url();
    $('wait-link').href = this.url();
    $('wait-share').hidden = !navigator.share;
  }

  async copy() {
    try {
      await navigator.clipboard.writeText(this.url());
      announce('Invite link copied');
      notice(`Invite link copied: ${this.url()}`, 'info');
    } catch {
      // No clipboard access (permission, insecure context): show the link to copy by hand.
      notice(`Invite link: ${this.url()}`, 'info');
    }
  }

  async share() {
    try {
      await navigator.share({ title: 'Join my Pinhole call', text: 'Join my video call:', url: this.url() });
    } catch (err) {
      if (err?.name !== 'AbortError') this.copy();
    }
  }
}
