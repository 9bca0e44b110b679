// The call view: starts a Call with its chat, file transfer and diagnostics, and shows it —
// the tiles, the grid, the signaling banner, announcements — until we leave or it ends.
// window.pinhole.call is the running Call (tests reach the peers through it).

import { $, announce, banner, notice, renderTile, removeTile } from './ui.js';
import { Call, displayName } from './call.js';
import { Chat } from './chat.js';
import { Files } from './files.js';
import { Diagnostics } from './diagnostics.js';
import { CHAT_MAX_CHARS, DEFAULT_MAX_PEERS } from './limits.js';
import { mark } from './timeline.js';

/** A peer that just connected gets its stats (and so its tile's data-path) this soon, not at the next poll. */
const STATS_AFTER_CONNECT_MS = 300;
/** Screens wide enough to show the chat beside the grid open the call with it. */
const WIDE_SCREEN = '(min-width: 1000px)';

export class CallView {
  constructor({ views, devices, panel, invite, wakeLock }) {
    this.views = views;
    this.devices = devices;
    this.panel = panel;
    this.invite = invite;
    this.wakeLock = wakeLock;
    this.grid = $('grid');
    // One call at a time: all null outside a call.
    this.call = null;
    this.chat = null;
    this.files = null;
    this.diag = null;
    this.wasReconnecting = false; // announce "Reconnected" only after a loss was announced

    $('chat-input').maxLength = CHAT_MAX_CHARS;
    $('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (!this.chat?.send($('chat-input').value)) return;
      $('chat-input').value = '';
      if (!this.call.participants.size) this.chat.system('No one else is here yet — messages are not stored, so they will not see this.');
    });
    $('file-input').addEventListener('change', (e) => {
      for (const f of e.target.files) this.files?.send(f);
      e.target.value = '';
    });
    $('btn-leave').addEventListener('click', () => this.leave());
  }

  /** `ice`: the IceServers the pre-join screen fetched. */
  join(code, name, ice) {
    mark('join');
    const { devices, panel, grid } = this;
    devices.ensure();
    this.views.show('call');
    document.title = `Pinhole · in call`;
    $('panel-settings').prepend($('devices'));
    $('chat-log').replaceChildren();
    for (const t of grid.querySelectorAll('.tile.remote')) t.remove();
    $('self-tile').querySelector('.name').textContent = name ? `${name} (you)` : 'You';
    this.invite.renderWaiting();
    panel.clearUnread();
    this.wasReconnecting = false;
    this.renderGrid();
    devices.render();

    const call = (this.call = new Call({ code, name, media: devices.media, relayOnly: devices.relayOnly, ice }));
    const chat = (this.chat = new Chat(call, { log: $('chat-log'), selfName: name }));
    this.files = new Files(call, {
      log: $('chat-log'),
      selfName: name,
      onReceive: (who, file) => {
        panel.countUnread();
        announce(`${who} is sending you ${file}`);
      },
    });
    this.diag = new Diagnostics(call, { body: $('diag-body'), isVisible: () => panel.current === 'diag', onUpdate: (p) => this.renderTile(p) });
    chat.addEventListener('message', (e) => {
      if (panel.countUnread()) announce(`Message from ${e.detail.who}: ${e.detail.text}`);
    });

    call.addEventListener('self', (e) => {
      document.body.dataset.peerId = e.detail.id;
      $('self-tile').dataset.selfId = e.detail.id;
    });
    call.addEventListener('signaling', (e) => this.renderSignaling(e.detail));
    call.addEventListener('participant-added', (e) => {
      const p = e.detail;
      this.renderTile(p);
      this.renderGrid();
      chat.system(' joined', displayName(p));
      announce(`${displayName(p)} joined the call`);
    });
    call.addEventListener('participant-updated', (e) => {
      const p = e.detail;
      const prev = grid.querySelector(`.tile[data-peer-id="${CSS.escape(p.id)}"]`)?.dataset.state;
      this.renderTile(p);
      if (prev === p.state) return;
      if (p.state === 'connected') setTimeout(() => this.diag?.poll(), STATS_AFTER_CONNECT_MS);
      if (p.state === 'failed') announce(`Connection to ${displayName(p)} failed, retrying`);
      if (p.state === 'reconnecting') announce(`Reconnecting to ${displayName(p)}`);
    });
    call.addEventListener('participant-removed', (e) => {
      const p = e.detail;
      removeTile(grid, p.id);
      this.renderGrid();
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
      if (reason === 'left') return; // leave() already showed its screen
      const maxPeers = this.call?.maxPeers ?? DEFAULT_MAX_PEERS;
      this.teardown();
      devices.stop();
      this.views.showEnd(reason, { maxPeers });
    });

    call.start();
    this.wakeLock.keep(true);
    panel.open(matchMedia(WIDE_SCREEN).matches ? 'chat' : null, false);
  }

  renderTile(p) {
    const grid = this.grid;
    return renderTile(grid, p, displayName(p), {
      speakerId: this.devices.media?.speakerId,
      onAutoplayBlocked: () => notice('Your browser blocked sound from the call.', 'warn', {
        label: 'Enable sound',
        run: () => {
          for (const v of grid.querySelectorAll('.tile.remote video')) { v.muted = false; v.play().catch(() => {}); }
        },
      }),
    });
  }

  renderGrid() {
    const remotes = this.call ? this.call.participants.size : 0;
    $('waiting').hidden = remotes > 0;
    this.grid.dataset.count = String(remotes + 1 + (remotes ? 0 : 1)); // alone, the waiting card takes a cell
    this.grid.dataset.remotes = String(remotes);
    document.title = remotes ? `Pinhole · ${remotes + 1} in call` : 'Pinhole · waiting';
  }

  renderSignaling({ state, detail }) {
    document.body.dataset.signaling = state;
    document.body.dataset.signalingDetail = detail || '';
    const retry = { label: 'Retry now', run: () => this.call?.sig.retryNow() };
    if (state === 'open') {
      banner(null);
      if (this.wasReconnecting) announce('Reconnected to the server');
      this.wasReconnecting = false;
    } else if (state === 'connecting') {
      banner(detail === 'unreachable'
        ? 'Can’t reach the server (offline, or too many attempts and rate limited). Retrying…'
        : 'Connecting…', { kind: detail ? 'error' : 'info', action: detail ? retry : null });
    } else if (state === 'reconnecting') {
      banner(detail === 'unreachable'
        ? 'Can’t reach the server (offline or rate limited). Your call continues; retrying…'
        : 'Connection to the server lost — reconnecting. Your call continues.', { kind: 'warn', action: retry });
      if (!this.wasReconnecting) announce('Connection to the server lost, reconnecting');
      this.wasReconnecting = true;
    } else {
      banner(null);
    }
  }

  /** Our own Leave (or going back in history, `quiet`: no end screen). */
  leave({ quiet = false } = {}) {
    if (!this.call) return;
    this.call.leave();
    this.teardown();
    this.devices.stop();
    document.body.dataset.signaling = 'closed';
    delete document.body.dataset.peerId;
    if (!quiet) {
      announce('You left the call');
      this.views.showEnd('left', {});
    }
  }

  teardown() {
    this.wakeLock.keep(false);
    this.diag?.stop();
    this.files?.dispose();
    for (const t of this.grid.querySelectorAll('.tile.remote')) removeTile(this.grid, t.dataset.peerId);
    delete $('self-tile').dataset.selfId;
    this.call = this.chat = this.files = this.diag = null;
    this.panel.open(null, false);
    banner(null);
    notice(null);
  }
}
