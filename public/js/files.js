// File transfer over the per-peer "file" data channel (ordered, reliable), peer to peer.
// Wire format (one transfer at a time per channel, in order):
//   {t:'file', id, name, size}  header (JSON text)
//   ArrayBuffer chunks of 16 KiB  (backpressure: pause above 1 MiB buffered, resume on
//                                  bufferedamountlow at 256 KiB)
//   {t:'end', id, sha256}         SHA-256 (hex) of the whole file, checked by the receiver
//   {t:'cancel', id}              sender aborted
//   {t:'reject', id}              receiver cancelled → sender stops and answers 'cancel'
//   {t:'done', id, ok}            receiver's verdict after the integrity check
// Sending to several peers runs one queue per peer. While a channel is not open yet the
// transfer waits for it; during an ICE outage SCTP buffers and delivers after the restart.

import { h, formatBytes, icon } from './ui.js';
import { displayName } from './call.js';

const CHUNK = 16 * 1024;
const BLOCK = 256 * 1024;
const HIGH = 1024 * 1024;
const LOW = 256 * 1024;
export const MAX_FILE = 512 * 1024 * 1024;
/** Received file names are cut to this many characters. */
const FILE_NAME_MAX_CHARS = 200;
/** The receiving progress bar is redrawn at most this often. */
const PROGRESS_MS = 100;

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
const sha256 = async (buf) => (crypto.subtle ? hex(await crypto.subtle.digest('SHA-256', buf)) : null);
// A received name must not carry control characters (C0 and DEL) or path separators.
const unsafeInName = (c) => c <= '\u001f' || c === '\u007f' || c === '/' || c === '\\';
const safeName = (s) => Array.from(String(s), (c) => (unsafeInName(c) ? '_' : c)).join('').slice(0, FILE_NAME_MAX_CHARS) || 'file';

function waitOpen(ch) {
  if (ch.readyState === 'open') return Promise.resolve();
  if (ch.readyState !== 'connecting') return Promise.reject(new Error('channel closed'));
  return new Promise((resolve, reject) => {
    const done = () => { ch.removeEventListener('open', done); ch.removeEventListener('close', done); ch.readyState === 'open' ? resolve() : reject(new Error('channel closed')); };
    ch.addEventListener('open', done);
    ch.addEventListener('close', done);
  });
}

function waitLow(ch) {
  return new Promise((resolve) => {
    const done = () => { ch.removeEventListener('bufferedamountlow', done); ch.removeEventListener('close', done); resolve(); };
    ch.addEventListener('bufferedamountlow', done);
    ch.addEventListener('close', done);
    if (ch.bufferedAmount <= ch.bufferedAmountLowThreshold) done();
  });
}

export class Files {
  constructor(call, { log, selfName, onReceive }) {
    this.call = call;
    this.log = log;
    this.selfName = selfName;
    this.onReceive = onReceive;
    this.links = new Set(); // id → object URLs to revoke on dispose
    this.channels = new Map(); // participant id → per-peer state
    this.outgoing = new Map(); // transfer id → outgoing transfer
    call.addEventListener('peer-created', (e) => this._attach(e.detail));
    call.addEventListener('participant-removed', (e) => this._gone(e.detail.id));
  }

  _attach(p) {
    const ch = p.peer.file;
    ch.bufferedAmountLowThreshold = LOW;
    const st = { p, ch, queue: [], busy: false, incoming: null };
    this.channels.set(p.id, st);
    ch.addEventListener('message', (e) => this._onMessage(st, e.data));
    ch.addEventListener('close', () => this._gone(p.id, st));
  }

  _gone(id, st = this.channels.get(id)) {
    if (!st || this.channels.get(id) !== st) return;
    this.channels.delete(id);
    const inc = st.incoming;
    if (inc && !inc.finished) this._finishIncoming(inc, 'Sender left — transfer incomplete', 'failed');
    for (const job of st.queue) this._target(job, id, 'failed');
    st.queue = [];
    st.closed = true;
  }

  // --- sending ---

  send(file) {
    const targets = [...this.channels.values()];
    const id = crypto.getRandomValues(new Uint32Array(2)).join('-');
    const item = this._item({ id, who: this.selfName ? `${this.selfName} (you)` : 'You', name: file.name, size: file.size, mine: true });
    if (file.size > MAX_FILE) return this._status(item, `Too large (limit ${formatBytes(MAX_FILE)})`, 'failed');
    if (!targets.length) return this._status(item, 'No one else is here yet — not sent', 'failed');
    const job = {
      id, file, item, cancelled: false,
      targets: new Map(targets.map((st) => [st.p.id, { sent: 0, state: 'queued', name: displayName(st.p) }])),
      hash: file.arrayBuffer().then(sha256),
    };
    this.outgoing.set(id, job);
    item.cancel.onclick = () => { job.cancelled = true; this._refresh(job); };
    for (const st of targets) {
      st.queue.push(job);
      this._pump(st);
    }
    this._refresh(job);
  }

  async _pump(st) {
    if (st.busy) return;
    st.busy = true;
    try {
      while (st.queue.length && !st.closed) {
        const job = st.queue.shift();
        try {
          await this._sendTo(st, job);
        } catch (err) {
          console.warn('[files] send failed', err);
          this._target(job, st.p.id, 'failed');
        }
      }
    } finally {
      st.busy = false;
    }
  }

  async _sendTo(st, job) {
    const { ch } = st;
    const t = job.targets.get(st.p.id);
    if (job.cancelled || t.state === 'cancelled') return this._target(job, st.p.id, 'cancelled');
    await waitOpen(ch);
    const { file, id } = job;
    ch.send(JSON.stringify({ t: 'file', id, name: file.name, size: file.size }));
    t.state = 'sending';
    let off = 0;
    while (off < file.size) {
      const block = await file.slice(off, off + BLOCK).arrayBuffer();
      for (let i = 0; i < block.byteLength; i += CHUNK) {
        if (job.cancelled || t.state === 'cancelled') {
          if (ch.readyState === 'open') ch.send(JSON.stringify({ t: 'cancel', id }));
          return this._target(job, st.p.id, 'cancelled');
        }
        if (ch.bufferedAmount > HIGH) await waitLow(ch);
        if (ch.readyState !== 'open') throw new Error('channel closed');
        ch.send(block.slice(i, i + CHUNK));
      }
      off += block.byteLength;
      t.sent = off;
      this._refresh(job);
    }
    ch.send(JSON.stringify({ t: 'end', id, sha256: await job.hash }));
    this._target(job, st.p.id, 'verifying');
  }

  _target(job, pid, state) {
    const t = job.targets.get(pid);
    if (!t || ['delivered', 'failed', 'cancelled'].includes(t.state)) return;
    t.state = state;
    this._refresh(job);
  }

  _refresh(job) {
    const ts = [...job.targets.values()];
    const total = job.file.size * ts.length || 1;
    const sent = ts.reduce((a, t) => a + (t.state === 'delivered' ? job.file.size : t.sent), 0);
    job.item.progress.value = job.file.size ? sent / total : ts.every((t) => t.state === 'delivered') ? 1 : 0;
    job.item.progress.max = 1;
    const count = (s) => ts.filter((t) => t.state === s).length;
    const done = count('delivered');
    const finished = ts.every((t) => ['delivered', 'failed', 'cancelled'].includes(t.state));
    let text;
    if (job.cancelled && finished) text = 'Cancelled';
    else if (finished) {
      const bad = ts.filter((t) => t.state === 'failed').map((t) => t.name);
      text = done === ts.length ? `Delivered to ${ts.length === 1 ? ts[0].name : `all ${ts.length}`} ✓`
        : `Delivered to ${done} of ${ts.length}${bad.length ? ` (failed: ${bad.join(', ')})` : ''}`;
    } else if (count('verifying') + done === ts.length) text = 'Verifying…';
    else text = job.cancelled ? 'Cancelling…' : `Sending… ${Math.floor((sent / total) * 100)}%`;
    this._status(job.item, text, finished ? (done ? 'done' : 'failed') : 'active');
    if (finished) this.outgoing.delete(job.id);
  }

  // --- receiving ---

  _onMessage(st, data) {
    if (typeof data !== 'string') {
      const inc = st.incoming;
      if (!inc || inc.finished || inc.cancelled) return;
      inc.chunks.push(data);
      inc.received += data.byteLength;
      if (inc.received > inc.size) return this._finishIncoming(inc, 'Received more data than announced — discarded', 'failed');
      const now = performance.now();
      if (now - inc.shown > PROGRESS_MS || inc.received === inc.size) {
        inc.shown = now;
        inc.item.progress.value = inc.received;
        this._status(inc.item, `Receiving… ${Math.floor((inc.received / (inc.size || 1)) * 100)}%`, 'active');
      }
      return;
    }
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (!m || typeof m.id !== 'string') return;
    switch (m.t) {
      case 'file': {
        if (st.incoming && !st.incoming.finished) this._finishIncoming(st.incoming, 'Interrupted', 'failed');
        const size = Number(m.size);
        if (!Number.isSafeInteger(size) || size < 0 || size > MAX_FILE) return;
        const name = safeName(m.name);
        const item = this._item({ id: m.id, who: displayName(st.p), name, size, mine: false });
        item.progress.max = size || 1;
        const inc = { id: m.id, name, size, chunks: [], received: 0, item, st, shown: 0, finished: false, cancelled: false };
        item.cancel.onclick = () => {
          if (inc.finished) return;
          inc.cancelled = true;
          if (st.ch.readyState === 'open') st.ch.send(JSON.stringify({ t: 'reject', id: inc.id }));
          this._finishIncoming(inc, 'Cancelled', 'failed');
        };
        st.incoming = inc;
        this.onReceive?.(displayName(st.p), name);
        break;
      }
      case 'end': {
        const inc = st.incoming;
        if (inc && inc.id === m.id && !inc.finished) this._verify(inc, m.sha256);
        break;
      }
      case 'cancel': {
        const inc = st.incoming;
        if (inc && inc.id === m.id && !inc.finished) this._finishIncoming(inc, 'Cancelled by sender', 'failed');
        break;
      }
      case 'reject': {
        const job = this.outgoing.get(m.id);
        const t = job?.targets.get(st.p.id);
        if (t && t.state !== 'delivered') { t.state = 'cancelled'; this._refresh(job); }
        break;
      }
      case 'done': {
        const job = this.outgoing.get(m.id);
        if (job) this._target(job, st.p.id, m.ok ? 'delivered' : 'failed');
        break;
      }
    }
  }

  async _verify(inc, expected) {
    inc.finished = true;
    const blob = new Blob(inc.chunks, { type: 'application/octet-stream' }); // never rendered inline
    inc.chunks = null;
    this._status(inc.item, 'Checking integrity…', 'active');
    let ok = blob.size === inc.size;
    let verified = false;
    if (ok && typeof expected === 'string' && crypto.subtle) {
      ok = (await sha256(await blob.arrayBuffer())) === expected;
      verified = true;
    }
    if (inc.st.ch.readyState === 'open') inc.st.ch.send(JSON.stringify({ t: 'done', id: inc.id, ok }));
    if (!ok) return this._finishIncoming(inc, 'Integrity check failed — file discarded', 'failed');
    const url = URL.createObjectURL(blob);
    this.links.add(url);
    const a = inc.item.link;
    a.href = url;
    a.download = inc.name;
    a.hidden = false;
    inc.item.progress.value = inc.size;
    inc.item.cancel.hidden = true;
    this._status(inc.item, verified ? 'Received · SHA-256 verified ✓' : 'Received', 'done');
  }

  _finishIncoming(inc, text, state) {
    inc.finished = true;
    inc.chunks = null;
    inc.item.cancel.hidden = true;
    this._status(inc.item, text, state);
  }

  // --- DOM ---

  _item({ id, who, name, size, mine }) {
    const progress = h('progress', { max: 1, value: 0, 'aria-label': `${mine ? 'Upload' : 'Download'} progress of ${name}` });
    const status = h('span', { class: 'fstatus', text: mine ? 'Preparing…' : 'Receiving…' });
    const cancel = h('button', { type: 'button', class: 'small fcancel', 'aria-label': `Cancel ${name}`, text: 'Cancel' });
    const link = h('a', { class: 'fdl', hidden: true }, icon('download'), `Download ${name}`);
    const li = h('li', { class: mine ? 'msg file mine' : 'msg file', 'data-file-id': id, 'data-state': 'active' },
      h('span', { class: 'who', text: who }),
      h('p', { class: 'fname' }, icon('file'), h('span', { text: name }), h('span', { class: 'fsize', text: ` · ${formatBytes(size)}` })),
      progress,
      h('div', { class: 'frow' }, status, cancel),
      link);
    this.log.append(li);
    li.scrollIntoView({ block: 'nearest' });
    return { li, progress, status, cancel, link };
  }

  _status(item, text, state) {
    item.status.textContent = text;
    item.li.dataset.state = state;
    if (state !== 'active') item.cancel.hidden = true;
  }

  dispose() {
    for (const u of this.links) URL.revokeObjectURL(u);
    this.links.clear();
  }
}
