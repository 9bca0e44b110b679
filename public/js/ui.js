// DOM helpers shared by the modules: element builder, banners, announcements, tiles.
// All user-provided text goes through textContent (never innerHTML).

import { mark } from './timeline.js';

// Inactive views are detached from the document (so hidden copies of "Mute", "Join", "Your name"
// never make a label ambiguous), so elements are looked up in an index built at start-up.
const byId = new Map();
export function indexIds(root = document) {
  for (const el of root.querySelectorAll('[id]')) byId.set(el.id, el);
}
export const $ = (id) => byId.get(id) ?? document.getElementById(id);

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c != null) el.append(c);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
/** <svg><use href="#i-NAME"></svg> from the sprite in index.html. */
export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  const use = document.createElementNS(SVG, 'use');
  use.setAttribute('href', `#i-${name}`);
  svg.append(use);
  return svg;
}

// Screen readers announce a live region's change only: emptying it first and filling it a moment
// later makes the same text (a second "Microphone off") be read again.
const ANNOUNCE_DELAY_MS = 50;
/** An info notice without an action goes away by itself after this. */
const NOTICE_MS = 12000;

let announceTimer = 0;
/** Polite screen-reader announcement (the #announcer live region). */
export function announce(text) {
  const el = $('announcer');
  clearTimeout(announceTimer);
  el.textContent = '';
  announceTimer = setTimeout(() => { el.textContent = text; }, ANNOUNCE_DELAY_MS);
}

/** The connection banner (one at a time). kind: info | warn | error. */
export function banner(text, { kind = 'info', action = null } = {}) {
  const el = $('banner');
  if (!text) { el.hidden = true; return; }
  el.dataset.kind = kind;
  $('banner-text').textContent = text;
  const btn = $('banner-action');
  btn.hidden = !action;
  if (action) {
    btn.textContent = action.label;
    btn.onclick = action.run;
  }
  el.hidden = false;
}

/** Dismissible informational notice (no relay configured, rate limits, …). */
let noticeTimer = 0;
export function notice(text, kind = 'info', action = null) {
  const el = $('notice');
  clearTimeout(noticeTimer);
  if (!text) { el.hidden = true; return; }
  if (kind === 'info' && !action) noticeTimer = setTimeout(() => { el.hidden = true; }, NOTICE_MS);
  el.dataset.kind = kind;
  $('notice-text').textContent = text;
  const btn = $('notice-action');
  btn.hidden = !action;
  if (action) {
    btn.textContent = action.label;
    btn.onclick = () => { el.hidden = true; action.run(); };
  }
  el.hidden = false;
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const u = ['KB', 'MB', 'GB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${u[i]}`;
}

const STATE_TEXT = { connecting: 'Connecting…', connected: '', reconnecting: 'Reconnecting…', failed: 'Connection failed' };

/** Create or update the tile of a remote participant. */
export function renderTile(grid, p, name, { speakerId, onAutoplayBlocked }) {
  let tile = grid.querySelector(`.tile[data-peer-id="${CSS.escape(p.id)}"]`);
  if (!tile) {
    const video = h('video', { 'data-peer-id': p.id, autoplay: true, playsinline: true });
    video.autoplay = true;
    video.playsInline = true;
    tile = h('figure', { class: 'tile remote', 'data-peer-id': p.id, 'data-state': 'connecting' },
      video,
      h('div', { class: 'avatar', 'aria-hidden': 'true' }),
      h('figcaption', { class: 'label' },
        h('span', { class: 'name' }),
        h('span', { class: 'badge b-muted', title: 'Muted' }, icon('mic-off'), h('span', { class: 'sr-only', text: 'microphone off' })),
        h('span', { class: 'badge b-relay', title: 'Relayed through TURN', text: 'relay' }),
        h('span', { class: 'status' })));
    grid.insertBefore(tile, $('self-tile'));
    if (speakerId && video.setSinkId) video.setSinkId(speakerId).catch(() => {});
  }
  const video = tile.querySelector('video');
  const stream = p.peer?.remoteStream ?? null;
  if (video.srcObject !== stream || (stream && tile.dataset.tracks !== String(stream.getTracks().length))) {
    video.srcObject = stream;
    if (stream && !video.frameMarked && video.requestVideoFrameCallback) {
      video.frameMarked = true;
      video.requestVideoFrameCallback((now, frame) => mark('remote-frame', p.id, { width: frame.width, height: frame.height }));
    }
    tile.dataset.tracks = String(stream?.getTracks().length ?? 0);
    if (stream) {
      video.play().catch((err) => {
        if (err?.name !== 'NotAllowedError') return;
        video.muted = true; // autoplay with sound blocked: play muted, offer "Enable sound"
        video.play().catch(() => {});
        onAutoplayBlocked?.();
      });
    }
  }
  tile.dataset.state = p.state;
  if (p.path) tile.dataset.path = p.path;
  tile.dataset.muted = String(!!p.remote.muted);
  tile.dataset.cameraOff = String(!!p.remote.cameraOff);
  if (p.remote.screen) tile.dataset.screen = 'true';
  else delete tile.dataset.screen;
  tile.querySelector('.name').textContent = name;
  tile.querySelector('.avatar').textContent = (name.trim()[0] ?? '?').toUpperCase();
  tile.querySelector('.status').textContent = STATE_TEXT[p.state] ?? '';
  return tile;
}

export function removeTile(grid, id) {
  const tile = grid.querySelector(`.tile[data-peer-id="${CSS.escape(id)}"]`);
  if (!tile) return;
  const v = tile.querySelector('video');
  v.srcObject = null;
  tile.remove();
}

/** Fill a <select> with devices, keeping the chosen one. */
export function fillSelect(select, devices, selected, fallbackLabel) {
  const prev = selected || select.value;
  select.replaceChildren(...devices.map((d, i) =>
    h('option', { value: d.deviceId, text: d.label || `${fallbackLabel} ${i + 1}` })));
  if (!devices.length) select.append(h('option', { value: '', text: `No ${fallbackLabel.toLowerCase()} found` }));
  if (devices.some((d) => d.deviceId === prev)) select.value = prev;
  select.disabled = !devices.length;
}
