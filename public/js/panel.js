// The call's side panel: one of chat, settings or connection details at a time (or none), and
// the unread count on the chat button while the chat is not showing.

import { $ } from './ui.js';

const PANEL_TITLES = { chat: 'Chat', settings: 'Settings', diag: 'Connection details' };

/** Shown instead of a larger count on the chat button. */
const UNREAD_SHOWN_MAX = 9;

export class SidePanel {
  /** `onOpen[name]()` runs when that panel opens (to show fresh figures or devices). */
  constructor({ onOpen }) {
    this.onOpen = onOpen;
    this.current = null; // 'chat' | 'settings' | 'diag' | null
    this.unread = 0;
    $('side-title').tabIndex = -1;
    for (const name of Object.keys(PANEL_TITLES)) $(`btn-${name}`).addEventListener('click', () => this.toggle(name));
    $('side-close').addEventListener('click', () => this.open(null));
    $('btn-diag2').addEventListener('click', () => this.open('diag'));
  }

  /** Opens a panel (null closes it); `focus` moves focus into it, or back to its button. */
  open(name, focus = true) {
    const prev = this.current;
    this.current = name;
    $('side').hidden = !name;
    document.body.dataset.panel = name ?? '';
    for (const n of Object.keys(PANEL_TITLES)) {
      $(`panel-${n}`).hidden = n !== name;
      $(`btn-${n}`).setAttribute('aria-pressed', String(n === name));
    }
    if (name) $('side-title').textContent = PANEL_TITLES[name];
    if (name === 'chat') this.clearUnread();
    if (name) this.onOpen[name]?.();
    if (!focus) return;
    if (name === 'chat') $('chat-input').focus();
    else if (name) $('side-title').focus?.();
    else if (prev) $(`btn-${prev}`).focus();
  }

  toggle(name) {
    this.open(this.current === name ? null : name);
  }

  /** Counts a message or file that arrived; false (not counted) when the chat is showing. */
  countUnread() {
    if (this.current === 'chat') return false;
    this.unread++;
    this.renderUnread();
    return true;
  }

  clearUnread() {
    this.unread = 0;
    this.renderUnread();
  }

  renderUnread() {
    const el = $('unread');
    el.hidden = !this.unread;
    el.textContent = this.unread > UNREAD_SHOWN_MAX ? `${UNREAD_SHOWN_MAX}+` : String(this.unread);
    $('btn-chat').setAttribute('aria-description', this.unread ? `${this.unread} unread` : '');
  }
}
