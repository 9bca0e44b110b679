// Room chat over the per-peer "ctl" data channel: {t:'chat', id, text, ts}. Peer to peer,
// never through the server. Messages to a peer whose channel is not open yet (or whose
// connection does not exist yet) are queued by peer.js / call.js and delivered when it opens.

import { h } from './ui.js';
import { displayName } from './call.js';
import { CHAT_MAX_CHARS } from './limits.js';

/** A log scrolled to within this of its end follows new messages; further up, it stays put. */
const FOLLOW_PX = 40;

export class Chat extends EventTarget {
  constructor(call, { log, selfName }) {
    super();
    this.call = call;
    this.log = log;
    this.selfName = selfName;
    this.seen = new Set();
    call.addEventListener('control', (e) => {
      const { from, msg } = e.detail;
      if (msg.t === 'chat') this._receive(from, msg);
    });
  }

  send(text) {
    text = String(text).trim().slice(0, CHAT_MAX_CHARS);
    if (!text) return false;
    const id = crypto.getRandomValues(new Uint32Array(2)).join('-');
    this.call.broadcast({ t: 'chat', id, text, ts: Date.now() });
    this._render({ who: this.selfName ? `${this.selfName} (you)` : 'You', text, ts: Date.now(), mine: true, from: this.call.selfId ?? '' });
    return true;
  }

  _receive(p, msg) {
    if (typeof msg.text !== 'string' || typeof msg.id !== 'string') return;
    const key = `${p.id}:${msg.id}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const who = displayName(p);
    this._render({ who, text: msg.text.slice(0, CHAT_MAX_CHARS), ts: Date.now(), mine: false, from: p.id });
    this.dispatchEvent(new CustomEvent('message', { detail: { who, text: msg.text } }));
  }

  _render({ who, text, ts, mine, from }) {
    const time = new Date(ts);
    const li = h('li', { class: mine ? 'msg mine' : 'msg', 'data-from': from },
      h('span', { class: 'who', text: who }),
      h('time', { datetime: time.toISOString(), text: time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) }),
      h('p', { class: 'text', text }));
    const stick = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < FOLLOW_PX;
    this.log.append(li);
    if (stick || mine) li.scrollIntoView({ block: 'nearest' });
  }

  /** System line in the chat log; `who`, if given, leads it as a direction-isolated name. */
  system(text, who = null) {
    this.log.append(who === null
      ? h('li', { class: 'msg system', text })
      : h('li', { class: 'msg system' }, h('bdi', { text: who }), text));
  }
}
