// The home view: start a new call or join one by code or invite link.

import { $, banner, notice } from './ui.js';
import { generateCode, normalizeCode } from './roomcode.js';
import { NAME_MAX_CHARS, ROOM_CODE_MAX_CHARS, trimName } from './limits.js';

export class Home {
  constructor({ views, prefs, navigate }) {
    this.views = views;
    this.prefs = prefs;
    $('home-name').maxLength = NAME_MAX_CHARS;
    $('btn-start').addEventListener('click', () => {
      this.rememberName();
      navigate(`/${generateCode()}`);
    });
    $('join-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.rememberName();
      const code = this.checkCode();
      if (code) navigate(`/${code}`);
    });
  }

  show(invalid) {
    this.views.show('home');
    document.title = 'Pinhole';
    $('home-name').value = this.prefs.name;
    document.body.dataset.signaling = invalid ? 'invalid' : 'idle';
    delete document.body.dataset.peerId;
    notice(null);
    banner(invalid
      ? `Invalid room code. Codes use letters, digits and dashes (up to ${ROOM_CODE_MAX_CHARS}) — check the link or enter the code below.`
      : null, { kind: 'error' });
  }

  rememberName() {
    this.prefs.save({ name: trimName($('home-name').value) });
  }

  /** The typed code or link as a room code, or null after saying what is wrong with it. */
  checkCode() {
    const input = $('join-code');
    const err = $('join-error');
    const code = normalizeCode(input.value);
    if (!code) {
      err.textContent = input.value.trim()
        ? `That is not a valid room code: use letters, digits and dashes (up to ${ROOM_CODE_MAX_CHARS} characters).`
        : 'Enter a room code or paste an invite link.';
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return null;
    }
    err.hidden = true;
    input.removeAttribute('aria-invalid');
    return code;
  }
}
