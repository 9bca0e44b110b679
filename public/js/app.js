// Pinhole app entry: routing (/ → home, /<code> → pre-join → call), wiring of the modules,
// controls, panels and keyboard shortcuts. Test/debug handle: window.pinhole.
//
// DOM contract: body[data-view], body[data-signaling] (idle|connecting|open|reconnecting|
// closed|full|invalid) + body[data-signaling-detail], body[data-peer-id] (own id, also
// #self-tile[data-self-id]); remote tiles .tile[data-peer-id][data-state][data-path]
// [data-muted][data-camera-off][data-screen]; chat in #chat-log.

import { $, indexIds, announce, banner, notice, fillSelect, renderTile, removeTile } from './ui.js';
import { route, generateCode, normalizeCode } from './roomcode.js';
import { LocalMedia } from './media.js';
import { Call, displayName } from './call.js';
import { Chat } from './chat.js';
import { Files } from './files.js';
import { Diagnostics } from './diagnostics.js';

// --- preferences (this device only) ---
const PREFS_KEY = 'pinhole:prefs';
const prefs = (() => {
  try { return JSON.parse(localStorage.getItem(PREFS_KEY)) || {}; } catch { return {}; }
})();
const savePrefs = (patch) => {
  Object.assign(prefs, patch);
  try { localStorage.setItem(PREFS_KEY, JSON.stringify(prefs)); } catch {}
};
const params = new URLSearchParams(location.search);
let relayOnly = params.has('relay') ? params.get('relay') === '1' : !!prefs.relayOnly;

const body = document.body;
const grid = $('grid');
let code = null;
let media = null;
let call = null;
let chat = null;
let files = null;
let diag = null;
let panel = null;
let unread = 0;
let firstRender = true;

// --- views ---
const TITLES = { home: 'home-title', prejoin: 'prejoin-title', call: 'call-title', end: 'end-title' };
indexIds();
function show(view) {
  const section = $(`view-${view}`);
  section.hidden = false;
  const main = $('main');
  if (main.childElementCount !== 1 || main.firstElementChild !== section) main.replaceChildren(section); // others detached
  body.dataset.view = view;
  if (!firstRender) requestAnimationFrame(() => $(TITLES[view])?.focus({ preventScroll: true }));
  firstRender = false;
}

const inviteUrl = () => `${location.origin}/${code}`;

function navigate(path) {
  history.pushState(null, '', path + location.search);
  render();
}

function render() {
  const r = route(location.pathname);
  if (r.view === 'room') {
    code = r.code;
    if (location.pathname !== `/${code}`) history.replaceState(null, '', `/${code}${location.search}`);
    enterPrejoin();
  } else {
    stopMedia();
    showHome(r.view === 'invalid');
  }
}

addEventListener('popstate', () => {
  if (call) leaveCall({ quiet: true });
  render();
});

// --- home ---
function showHome(invalid) {
  show('home');
  document.title = 'Pinhole';
  $('home-name').value = prefs.name ?? '';
  body.dataset.signaling = invalid ? 'invalid' : 'idle';
  delete body.dataset.peerId;
  notice(null);
  banner(invalid ? 'Invalid room code. Codes use letters, digits and dashes (up to 64) — check the link or enter the code below.' : null, { kind: 'error' });
}

$('btn-start').addEventListener('click', () => {
  savePrefs({ name: $('home-name').value.trim().slice(0, 32) });
  navigate(`/${generateCode()}`);
});

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  savePrefs({ name: $('home-name').value.trim().slice(0, 32) });
  const c = normalizeCode($('join-code').value);
  const err = $('join-error');
  if (!c) {
    err.textContent = $('join-code').value.trim()
      ? 'That is not a valid room code: use letters, digits and dashes (up to 64 characters).'
      : 'Enter a room code or paste an invite link.';
    err.hidden = false;
    $('join-code').setAttribute('aria-invalid', 'true');
    $('join-code').focus();
    return;
  }
  err.hidden = true;
  $('join-code').removeAttribute('aria-invalid');
  navigate(`/${c}`);
});

// --- local media, preview, devices ---
function ensureMedia() {
  if (media) return false;
  media = new LocalMedia(prefs);
  media.addEventListener('state', updateMediaUI);
  media.addEventListener('preview', () => {
    for (const v of [$('preview-video'), $('self-video')]) if (v.srcObject !== media.preview) v.srcObject = media.preview;
    updateMediaUI();
  });
  return true;
}

function stopMedia() {
  if (!media) return;
  media.stop();
  media = null;
  $('preview-video').srcObject = null;
  $('self-video').srcObject = null;
}

function setToggle(btn, pressed, iconName) {
  btn.setAttribute('aria-pressed', String(pressed));
  btn.querySelector('use').setAttribute('href', `#i-${iconName}`);
}

function updateMediaUI() {
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
  const name = ($('pre-name').value || prefs.name || '').trim();
  for (const a of document.querySelectorAll('#preview-tile .avatar, #self-tile .avatar')) a.textContent = (name[0] ?? '?').toUpperCase();
  renderMediaHelp();
}

const HELP = {
  denied: (what) => `Your browser is blocking the ${what}. Allow ${what.includes(' and ') ? 'them' : 'it'} from the site settings (the icon next to the address), then press Try again. You can still join without it.`,
  none: (what) => `No ${what} found. You can still join${what === 'microphone' ? ' and listen' : ''}.`,
  busy: (what) => `The ${what} is in use by another app or could not be started. Close the other app, then press Try again.`,
  unsupported: () => 'This browser cannot use a camera or microphone on this page (it needs a secure https:// connection). You can still join to watch and chat.',
  error: (what) => `The ${what} could not be started. You can still join.`,
};

function renderMediaHelp() {
  const el = $('media-help');
  const { audio, video } = media.errors;
  const lines = [];
  if (audio === 'unsupported') lines.push(HELP.unsupported());
  else {
    if (audio && audio === video) lines.push(HELP[audio]('camera and microphone'));
    else {
      if (audio) lines.push(HELP[audio]('microphone'));
      if (video) lines.push(HELP[video]('camera'));
    }
  }
  if (!lines.length) { el.hidden = true; el.replaceChildren(); return; }
  const retry = document.createElement('button');
  retry.type = 'button';
  retry.className = 'small';
  retry.textContent = 'Try again';
  retry.addEventListener('click', async () => {
    await media.start({ audio: !media.audio, video: !media.camera });
    refreshDevices();
  });
  el.replaceChildren(...lines.map((t) => Object.assign(document.createElement('p'), { textContent: t })), retry);
  el.hidden = false;
}

async function refreshDevices() {
  if (!media) return;
  const list = await media.devices();
  fillSelect($('sel-mic'), list.audioinput, media.audio?.getSettings().deviceId || media.audioId, 'Microphone');
  fillSelect($('sel-cam'), list.videoinput, media.camera?.getSettings().deviceId || media.videoId, 'Camera');
  if (LocalMedia.canPickSpeaker) {
    $('speaker-row').hidden = false;
    fillSelect($('sel-spk'), list.audiooutput, media.speakerId, 'Speaker');
  }
}
navigator.mediaDevices?.addEventListener?.('devicechange', refreshDevices);

$('sel-mic').addEventListener('change', async (e) => {
  savePrefs({ audioId: e.target.value });
  if (media && !(await media.useDevice('audio', e.target.value))) notice('Could not switch to that microphone.', 'warn');
});
$('sel-cam').addEventListener('change', async (e) => {
  savePrefs({ videoId: e.target.value });
  if (media && !(await media.useDevice('video', e.target.value))) notice('Could not switch to that camera.', 'warn');
});
$('sel-spk').addEventListener('change', (e) => {
  savePrefs({ speakerId: e.target.value });
  if (media) media.speakerId = e.target.value;
  for (const v of grid.querySelectorAll('.tile.remote video')) v.setSinkId?.(e.target.value).catch(() => {});
});
$('relay-only').checked = relayOnly;
$('relay-only').addEventListener('change', (e) => {
  relayOnly = e.target.checked;
  savePrefs({ relayOnly });
  call?.setRelayOnly(relayOnly);
  announce(relayOnly ? 'Relay only on: your IP address is hidden from others' : 'Relay only off');
});
$('pre-name').addEventListener('input', updateMediaUI);

async function toggleMute() {
  if (!media) return;
  const ok = await media.setMuted(media.micOn);
  if (!ok) notice('The microphone is not available. See the help on the pre-join screen or your browser’s site settings.', 'warn');
  else announce(media.micOn ? 'Microphone on' : 'Microphone off');
}
async function toggleCamera() {
  if (!media) return;
  const ok = await media.setCameraOn(!media.camOn);
  if (!ok) notice('The camera is not available (blocked, missing or in use).', 'warn');
  else announce(media.camOn ? 'Camera on' : 'Camera off');
}
async function toggleScreen() {
  if (!media || !LocalMedia.canShareScreen) return;
  if (media.sharing) {
    media.stopScreen();
    announce('Stopped sharing your screen');
    return;
  }
  try {
    await media.startScreen();
    announce('Sharing your screen');
  } catch (err) {
    if (err?.name !== 'NotAllowedError' && err?.name !== 'AbortError') notice('Screen sharing could not start.', 'warn');
  }
}
$('pre-mute').addEventListener('click', toggleMute);
$('pre-cam').addEventListener('click', toggleCamera);
$('btn-mute').addEventListener('click', toggleMute);
$('btn-cam').addEventListener('click', toggleCamera);
$('btn-screen').addEventListener('click', toggleScreen);

// --- pre-join ---
async function enterPrejoin() {
  show('prejoin');
  document.title = `Pinhole · ${code}`;
  body.dataset.signaling = 'idle';
  delete body.dataset.peerId;
  banner(null);
  $('prejoin-code').textContent = code;
  $('pre-name').value = prefs.name ?? '';
  $('devices-home').append($('devices'));
  if (ensureMedia()) await media.start();
  updateMediaUI();
  refreshDevices();
}

$('btn-join').addEventListener('click', () => {
  const name = $('pre-name').value.trim().slice(0, 32);
  savePrefs({ name });
  joinCall(name);
});

// --- the call ---
function joinCall(name) {
  ensureMedia();
  show('call');
  document.title = `Pinhole · in call`;
  $('panel-settings').prepend($('devices'));
  $('chat-log').replaceChildren();
  for (const t of grid.querySelectorAll('.tile.remote')) t.remove();
  $('self-tile').querySelector('.name').textContent = name ? `${name} (you)` : 'You';
  $('wait-link').textContent = inviteUrl();
  $('wait-link').href = inviteUrl();
  $('wait-share').hidden = !navigator.share;
  unread = 0;
  wasReconnecting = false;
  updateUnread();
  updateGrid();
  updateMediaUI();

  call = new Call({ code, name, media, relayOnly });
  chat = new Chat(call, { log: $('chat-log'), selfName: name });
  files = new Files(call, {
    log: $('chat-log'),
    selfName: name,
    onReceive: (who, file) => {
      if (panel !== 'chat') { unread++; updateUnread(); }
      announce(`${who} is sending you ${file}`);
    },
  });
  diag = new Diagnostics(call, { body: $('diag-body'), isVisible: () => panel === 'diag', onUpdate: (p) => tile(p) });
  chat.addEventListener('message', (e) => {
    if (panel !== 'chat') {
      unread++;
      updateUnread();
      announce(`Message from ${e.detail.who}: ${e.detail.text}`);
    }
  });

  call.addEventListener('self', (e) => {
    body.dataset.peerId = e.detail.id;
    $('self-tile').dataset.selfId = e.detail.id;
  });
  call.addEventListener('signaling', (e) => updateSignaling(e.detail));
  call.addEventListener('participant-added', (e) => {
    const p = e.detail;
    tile(p);
    updateGrid();
    chat.system(' joined', displayName(p));
    announce(`${displayName(p)} joined the call`);
  });
  call.addEventListener('participant-updated', (e) => {
    const p = e.detail;
    const prev = grid.querySelector(`.tile[data-peer-id="${CSS.escape(p.id)}"]`)?.dataset.state;
    tile(p);
    if (prev !== p.state) {
      if (p.state === 'connected') setTimeout(() => diag?.poll(), 300);
      if (p.state === 'failed') announce(`Connection to ${displayName(p)} failed, retrying`);
      if (p.state === 'reconnecting') announce(`Reconnecting to ${displayName(p)}`);
    }
  });
  call.addEventListener('participant-removed', (e) => {
    const p = e.detail;
    removeTile(grid, p.id);
    updateGrid();
    if (p.announce) {
      chat.system(' left', displayName(p));
      announce(`${displayName(p)} left the call`);
    }
  });
  call.addEventListener('notice', (e) => {
    const { kind, text } = e.detail;
    if (kind === 'live') announce(text);
    else notice(text, kind);
  });
  call.addEventListener('ended', (e) => {
    const { reason } = e.detail;
    if (reason === 'left') return;
    const max = call?.maxPeers ?? 4;
    teardown();
    stopMedia();
    if (reason === 'full') showEnd('This room is full', `A call has room for ${max} people. Try again later, or start a new call.`, 'Try again');
    else if (reason === 'replaced') showEnd('Call continued elsewhere', 'You joined this call from another tab or window, so this one was disconnected.', 'Rejoin here');
    else if (reason === 'unsupported') showEnd('Please reload', 'This version of Pinhole is out of date. Reload the page to get the new one.', 'Rejoin');
    else showEnd('Disconnected', 'The connection to the call ended.', 'Rejoin');
  });

  call.start();
  keepAwake(true);
  openPanel(matchMedia('(min-width: 1000px)').matches ? 'chat' : null, false);
  window.pinhole.call = call;
}

function tile(p) {
  return renderTile(grid, p, displayName(p), {
    speakerId: media?.speakerId,
    onAutoplayBlocked: () => notice('Your browser blocked sound from the call.', 'warn', {
      label: 'Enable sound',
      run: () => {
        for (const v of grid.querySelectorAll('.tile.remote video')) { v.muted = false; v.play().catch(() => {}); }
      },
    }),
  });
}

function updateGrid() {
  const remotes = call ? call.participants.size : 0;
  $('waiting').hidden = remotes > 0;
  grid.dataset.count = String(remotes + 1 + (remotes ? 0 : 1));
  grid.dataset.remotes = String(remotes);
  document.title = remotes ? `Pinhole · ${remotes + 1} in call` : 'Pinhole · waiting';
}

let wasReconnecting = false;
function updateSignaling({ state, detail }) {
  body.dataset.signaling = state;
  body.dataset.signalingDetail = detail || '';
  const retry = { label: 'Retry now', run: () => call?.sig.retryNow() };
  if (state === 'open') {
    banner(null);
    if (wasReconnecting) announce('Reconnected to the server');
    wasReconnecting = false;
  } else if (state === 'connecting') {
    banner(detail === 'unreachable'
      ? 'Can’t reach the server (offline, or too many attempts and rate limited). Retrying…'
      : 'Connecting…', { kind: detail ? 'error' : 'info', action: detail ? retry : null });
  } else if (state === 'reconnecting') {
    banner(detail === 'unreachable'
      ? 'Can’t reach the server (offline or rate limited). Your call continues; retrying…'
      : 'Connection to the server lost — reconnecting. Your call continues.', { kind: 'warn', action: retry });
    if (!wasReconnecting) announce('Connection to the server lost, reconnecting');
    wasReconnecting = true;
  } else {
    banner(null);
  }
}

function updateUnread() {
  const el = $('unread');
  el.hidden = !unread;
  el.textContent = unread > 9 ? '9+' : String(unread);
  $('btn-chat').setAttribute('aria-description', unread ? `${unread} unread` : '');
}

// --- side panel: chat | settings | diag ---
const PANEL_TITLES = { chat: 'Chat', settings: 'Settings', diag: 'Connection details' };
function openPanel(name, focus = true) {
  const prev = panel;
  panel = name;
  $('side').hidden = !name;
  body.dataset.panel = name ?? '';
  for (const n of Object.keys(PANEL_TITLES)) {
    $(`panel-${n}`).hidden = n !== name;
    $(`btn-${n}`).setAttribute('aria-pressed', String(n === name));
  }
  if (name) $('side-title').textContent = PANEL_TITLES[name];
  if (name === 'chat') { unread = 0; updateUnread(); }
  if (name === 'diag') diag?.render();
  if (name === 'settings') refreshDevices();
  if (!focus) return;
  if (name === 'chat') $('chat-input').focus();
  else if (name) $('side-title').focus?.();
  else if (prev) $(`btn-${prev}`).focus();
}
$('side-title').tabIndex = -1;
for (const n of Object.keys(PANEL_TITLES)) $(`btn-${n}`).addEventListener('click', () => openPanel(panel === n ? null : n));
$('side-close').addEventListener('click', () => openPanel(null));
$('btn-diag2').addEventListener('click', () => openPanel('diag'));

$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (!chat?.send($('chat-input').value)) return;
  $('chat-input').value = '';
  if (!call.participants.size) chat.system('No one else is here yet — messages are not stored, so they will not see this.');
});
$('file-input').addEventListener('change', (e) => {
  for (const f of e.target.files) files?.send(f);
  e.target.value = '';
});

// --- invite ---
async function copyInvite() {
  try {
    await navigator.clipboard.writeText(inviteUrl());
    announce('Invite link copied');
    notice(`Invite link copied: ${inviteUrl()}`, 'info');
  } catch {
    notice(`Invite link: ${inviteUrl()}`, 'info');
  }
}
async function shareInvite() {
  try {
    await navigator.share({ title: 'Join my Pinhole call', text: 'Join my video call:', url: inviteUrl() });
  } catch (err) {
    if (err?.name !== 'AbortError') copyInvite();
  }
}
$('wait-copy').addEventListener('click', copyInvite);
$('wait-share').addEventListener('click', shareInvite);
$('btn-invite').addEventListener('click', () => (navigator.share && matchMedia('(pointer: coarse)').matches ? shareInvite() : copyInvite()));
$('notice-close').addEventListener('click', () => notice(null));

// Keep a phone's screen on during a call (where the Wake Lock API exists).
let wakeLock = null;
async function keepAwake(on) {
  try {
    if (on && !wakeLock && navigator.wakeLock && document.visibilityState === 'visible') {
      wakeLock = await navigator.wakeLock.request('screen');
      wakeLock.addEventListener('release', () => { wakeLock = null; });
    } else if (!on && wakeLock) {
      await wakeLock.release();
    }
  } catch { /* not allowed right now: ignore */ }
}
document.addEventListener('visibilitychange', () => { if (call) keepAwake(true); });

// --- leaving ---
function teardown() {
  keepAwake(false);
  diag?.stop();
  files?.dispose();
  for (const t of grid.querySelectorAll('.tile.remote')) removeTile(grid, t.dataset.peerId);
  delete $('self-tile').dataset.selfId;
  call = chat = files = diag = null;
  window.pinhole.call = null;
  openPanel(null, false);
  banner(null);
  notice(null);
}

function leaveCall({ quiet = false } = {}) {
  if (!call) return;
  call.leave();
  teardown();
  stopMedia();
  body.dataset.signaling = 'closed';
  delete body.dataset.peerId;
  if (!quiet) {
    announce('You left the call');
    showEnd('You left the call', 'Your camera and microphone are off.', 'Rejoin');
  }
}
$('btn-leave').addEventListener('click', () => leaveCall());

function showEnd(title, text, again) {
  show('end');
  document.title = 'Pinhole';
  $('end-title').textContent = title;
  $('end-text').textContent = text;
  $('btn-rejoin').textContent = again;
}
$('btn-rejoin').addEventListener('click', () => enterPrejoin());
$('btn-home').addEventListener('click', (e) => {
  e.preventDefault();
  navigate('/');
});

// Closing the tab is a hang-up: the others see us leave at once, not after the grace period.
addEventListener('pagehide', () => call?.leave());

// --- keyboard shortcuts (never while typing) ---
addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat || e.isComposing) return;
  const view = body.dataset.view;
  if (view !== 'call' && view !== 'prejoin') return;
  if (e.key === 'Escape') {
    if (panel) { openPanel(null); e.preventDefault(); }
    return;
  }
  const t = e.target;
  if (t instanceof HTMLElement && (t.isContentEditable || t.closest('input, textarea, select'))) return;
  const key = e.key.toLowerCase();
  const actions = {
    m: toggleMute,
    v: toggleCamera,
    s: view === 'call' && toggleScreen,
    c: view === 'call' && (() => openPanel('chat')),
    d: view === 'call' && (() => openPanel(panel === 'diag' ? null : 'diag')),
  };
  const fn = actions[key];
  if (fn) {
    e.preventDefault();
    fn();
  }
});

window.pinhole = { call: null, get media() { return media; }, version: 1 };
render();
