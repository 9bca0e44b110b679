// Helpers for the browser tier (tests/browser/) and bench/browser-join.mjs: Debian's headless
// Chromium driven by playwright-core, fake camera/microphone, one BrowserContext per participant
// (separate storage, like separate people), and readers for the app's DOM contract (public/js/app.js)
// and for real media statistics (RTCPeerConnection.getStats() of the app's own connections,
// reached through window.pinhole.call).
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { before, after, afterEach } from 'node:test';
import { waitFor, panicsIn, startWorker, roomCode } from './stack.mjs';
import { startCoturn } from './coturn.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  // Grant camera/microphone/screen without a prompt and use Chromium's synthetic devices (a
  // moving test pattern, a beep, and a fake "screen:…" source for getDisplayMedia). Three
  // cameras, so switching camera mid-call can be tested: fake_device_0 is I420, fake_device_1
  // emulates a Y16 depth camera (WebRTC's encoder takes no frames from it) and fake_device_2 an
  // MJPEG webcam. There are always three fake microphones and three fake speakers.
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream=device-count=3',
  // Several participants share one browser; none of them is ever the foreground tab, and a
  // throttled background page would starve its media and timers.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
];

/** `executablePath` (e.g. a wrapper that runs Chromium in a network namespace) and extra `args`
 * are for the network lab; `engine` is 'chromium' (the only one this driver runs). */
export function launchBrowser({ engine = 'chromium', executablePath = CHROMIUM, args = [] } = {}) {
  if (engine !== 'chromium') throw new Error(`launchBrowser: engine ${engine} is not supported by this driver`);
  return chromium.launch({ executablePath, args: [...CHROMIUM_ARGS, ...args] });
}

/**
 * Page init script: the app asks for a 1280×720, 30 fps camera; with up to five participants in
 * one headless browser on a 2-core machine, encoding and decoding that for every pair of a mesh
 * starves everything else (joins took tens of seconds). The tests assert that video flows, not
 * its resolution, so the fake camera is asked for 320×180 at 15 fps instead. The benchmark keeps
 * the app's own constraints (small: false).
 */
function smallCamera() {
  const gum = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = function (c) {
    if (c?.video) {
      const v = typeof c.video === 'object' ? c.video : {};
      c = { ...c, video: { ...v, width: { ideal: 320 }, height: { ideal: 180 }, frameRate: { ideal: 15, max: 15 } } };
    }
    return gum.call(this, c);
  };
}

/**
 * Opens `<base>/<room>` in a fresh context (≥ 1000 px wide, so the chat panel is open) and
 * returns { ctx, page, errors } at the pre-join screen with the camera preview running.
 * `errors` collects uncaught page exceptions (tests assert it stays empty).
 * `small` (default) caps the camera at 320×180, 15 fps — see smallCamera.
 */
export async function openRoom(browser, base, room, { relay = false, width = 1280, name, small = true } = {}) {
  const ctx = await browser.newContext({ viewport: { width, height: 800 }, acceptDownloads: true });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  if (small) await page.addInitScript(smallCamera);
  if (name) await page.addInitScript((n) => localStorage.setItem('pinhole:prefs', JSON.stringify({ name: n })), name);
  // Requests still open, named in the error if the app never comes up (twice in ~100 loads on a
  // heavily loaded machine, page.goto's "load" never came; this says which request hung).
  const pending = new Set();
  page.on('request', (r) => pending.add(r));
  page.on('requestfinished', (r) => pending.delete(r));
  page.on('requestfailed', (r) => pending.delete(r));
  try {
    // The condition that matters is the app's pre-join screen with the camera running, not the
    // load event (which also waits for the favicon and the stylesheet).
    await page.goto(`${base}/${room}${relay ? '?relay=1' : ''}`, { waitUntil: 'commit' });
    await page.waitForFunction(() => document.body?.dataset.view === 'prejoin' && !!window.pinhole?.media?.camera, null, { timeout: 30_000 });
  } catch (e) {
    e.message += `\nrequests still pending: ${[...pending].map((r) => r.url()).join(' ') || 'none'}`;
    throw e;
  }
  return { ctx, page, errors };
}

/** Clicks "Join" and waits for the welcome: resolves with the participant, including its own `id`. */
export async function join(browser, base, room, opts = {}) {
  const p = await openRoom(browser, base, room, opts);
  await p.page.getByRole('button', { name: 'Join', exact: true }).click();
  p.id = await waitSignaling(p.page, 'open');
  return p;
}

/** Two participants join `room` (default: a fresh one), each pushed to `open` for the after-test
 * checks; resolves with `[a, b, room]`. `opts` as for openRoom (e.g. `{ relay: true }`). */
export async function joinPair(browser, base, open, opts = {}, room = roomCode()) {
  const a = await join(browser, base, room, opts);
  open.push(a);
  const b = await join(browser, base, room, opts);
  open.push(b);
  return [a, b, room];
}

/** Waits for body[data-signaling=state]; returns body[data-peer-id]. */
export async function waitSignaling(page, state, timeout = 15_000) {
  await page.waitForFunction((s) => document.body.dataset.signaling === s && (s !== 'open' || !!document.body.dataset.peerId), state, { timeout });
  return page.evaluate(() => document.body.dataset.peerId ?? null);
}

export const selfId = (page) => page.evaluate(() => document.body.dataset.peerId ?? null);

/** Remote tiles as plain objects: [{ id, state, path, muted, cameraOff, screen }]. */
export function tiles(page) {
  return page.evaluate(() => [...document.querySelectorAll('.tile.remote')].map((t) => ({
    id: t.dataset.peerId, state: t.dataset.state, path: t.dataset.path ?? null,
    muted: t.dataset.muted, cameraOff: t.dataset.cameraOff, screen: t.dataset.screen ?? null,
  })));
}

/**
 * Waits until the tile of `peerId` matches every given data-* attribute (`undefined` = don't care,
 * `null` = attribute absent), e.g. { state: 'connected', path: 'direct' }.
 */
export async function waitTile(page, peerId, want, timeout = 20_000) {
  await page.waitForFunction(([id, w]) => {
    const t = document.querySelector(`.tile.remote[data-peer-id="${CSS.escape(id)}"]`);
    if (!t) return false;
    return Object.entries(w).every(([k, v]) => v === undefined || (t.dataset[k] ?? null) === v);
  }, [peerId, want], { timeout });
}

/** Waits for a connected tile for each of `ids` (and no other remote tile). */
export async function waitConnected(page, ids, { path, timeout = 25_000 } = {}) {
  await page.waitForFunction(([ids, path]) => {
    const ts = [...document.querySelectorAll('.tile.remote')];
    return ts.length === ids.length && ids.every((id) => ts.some((t) =>
      t.dataset.peerId === id && t.dataset.state === 'connected' && (!path || t.dataset.path === path)));
  }, [ids, path ?? null], { timeout });
}

/**
 * getStats() of the app's connection to `peerId`: inbound video/audio counters, the outgoing
 * video track, the selected candidate pair's local candidate type, and ICE gathering facts.
 */
export function peerStats(page, peerId) {
  return page.evaluate(async (id) => {
    const p = window.pinhole.call?.participants.get(id);
    const pc = p?.peer?.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    const out = {
      framesDecoded: 0, videoBytesReceived: 0, audioBytesReceived: 0, bytesReceived: 0, frameWidth: 0,
      localCandidateType: null, remoteCandidateType: null, encodedTrack: null,
      connectionState: pc.connectionState, iceGatheringState: pc.iceGatheringState,
    };
    let pair = null;
    for (const s of byId.values()) {
      if (s.type === 'inbound-rtp') {
        out.bytesReceived += s.bytesReceived ?? 0;
        if (s.kind === 'video') {
          out.framesDecoded += s.framesDecoded ?? 0;
          out.videoBytesReceived += s.bytesReceived ?? 0;
          out.frameWidth = s.frameWidth ?? 0;
        } else out.audioBytesReceived += s.bytesReceived ?? 0;
      }
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
      // The track the video encoder is fed from right now (outbound-rtp → media-source).
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.encodedTrack = byId.get(s.mediaSourceId)?.trackIdentifier ?? null;
    }
    if (pair) {
      out.localCandidateType = byId.get(pair.localCandidateId)?.candidateType ?? null;
      out.remoteCandidateType = byId.get(pair.remoteCandidateId)?.candidateType ?? null;
    }
    // Every candidate gathered so far is in the local description (Chromium adds them as they come).
    const sdp = pc.localDescription?.sdp ?? '';
    out.localCandidates = [...sdp.matchAll(/^a=candidate:.* typ (\w+)/gm)].map((m) => m[1]);
    const tx = p.peer.tx.video;
    const track = tx?.sender.track ?? null;
    out.outgoingVideo = track ? { id: track.id, label: track.label, displaySurface: track.getSettings().displaySurface ?? null } : null;
    return out;
  }, peerId);
}

/** Waits until `peerId`'s inbound video has decoded `frames` more frames and received more bytes. */
export async function waitVideoFlowing(page, peerId, { frames = 10, timeout = 20_000 } = {}) {
  let first = null;
  return waitFor(async () => {
    const s = await peerStats(page, peerId);
    if (!s) return false;
    first ??= s;
    return s.framesDecoded >= first.framesDecoded + frames && s.videoBytesReceived > first.videoBytesReceived && s;
  }, { timeout, interval: 200, what: `video from ${peerId} to keep decoding` });
}

/**
 * Samples `bytesReceived` (all inbound RTP) of each [page, peerId] link every `interval` ms
 * until stop() is called; stop() resolves with the sample series per link, for asserting that
 * media kept flowing (strictly increasing) through an outage.
 */
export function sampleBytes(links, { interval = 400 } = {}) {
  const series = links.map(() => []);
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      await Promise.all(links.map(async ([page, id], i) => {
        const s = await peerStats(page, id).catch(() => null);
        series[i].push({ t, bytes: s?.bytesReceived ?? null, frames: s?.framesDecoded ?? null });
      }));
      const wait = interval - (Date.now() - t);
      if (running && wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing of the sampler, not a wait for an outcome
    }
  })();
  return {
    series,
    async stop() {
      running = false;
      await loop;
      return series;
    },
  };
}

/** Asserts that every series is strictly increasing (a message naming the first stall otherwise). */
export function strictlyIncreasing(series) {
  for (const [i, s] of series.entries()) {
    for (let k = 1; k < s.length; k++) {
      if (!(s[k].bytes > s[k - 1].bytes)) {
        return `link ${i}: bytesReceived did not grow between samples ${k - 1} and ${k} ` +
          `(${s[k - 1].bytes} → ${s[k].bytes}, ${s[k].t - s[k - 1].t} ms apart; ${s.length} samples)`;
      }
    }
  }
  return null;
}

/** Closes every participant's context (ignores ones already closed). */
export async function closeAll(participants) {
  await Promise.all(participants.splice(0).map((p) => p.ctx.close().catch(() => {})));
}

/** For `afterEach`: closes the test's participants; none of their pages may have thrown. */
export async function closeChecked(participants) {
  const errors = participants.flatMap((p) => p.errors ?? []);
  await closeAll(participants);
  assert.deepEqual(errors, [], 'uncaught exceptions in the app');
}

/** For `after`: closes the browser and stops the file's servers (worker stacks first, then
 * anything else with a `stop()`); no worker's runtime log may show a panic. */
export async function shutdown(browser, stacks, others = []) {
  await browser?.close();
  const panics = stacks.flatMap((s) => (s ? panicsIn(s.log()) : []));
  await Promise.all([...stacks, ...others].map((s) => s?.stop()));
  assert.deepEqual(panics, [], 'the runtime log shows a panic or uncaught error');
}

/**
 * The usual file-level set-up of a browser suite: the file's servers and one browser, the
 * participants each test pushes to `open` closed (and checked for page errors) after it, and
 * everything shut down (and the runtime logs checked for panics) at the end.
 *
 * - `coturn`: secrets; when given, a loopback coturn holding them is started first (`suite.coturn`)
 *   and resumed after every test, so a test that paused it never leaves it frozen.
 * - `workers(coturn)`: the file's Workers, name → startWorker options (default one, `stack`,
 *   without vars); `coturn.workerVars(secret)` gives the vars of a Worker relaying through it.
 *
 * Returns the suite `{ browser, coturn, open, stack, …each Worker under its name }`, filled in
 * once the file's `before` hook has run (read them in tests, not at load time); `stack` is the
 * first Worker.
 */
export function browserSuite({ coturn: secrets, workers = () => ({ stack: {} }) } = {}) {
  const suite = { stack: null, coturn: null, browser: null, open: [] };
  let stacks = [];
  before(async () => {
    if (secrets) suite.coturn = await startCoturn({ secrets });
    const named = workers(suite.coturn);
    const names = Object.keys(named);
    [stacks, suite.browser] = await Promise.all([Promise.all(names.map((n) => startWorker(named[n]))), launchBrowser()]);
    names.forEach((n, i) => (suite[n] = stacks[i]));
    [suite.stack] = stacks;
  });
  afterEach(async () => {
    suite.coturn?.resume();
    await closeChecked(suite.open);
  });
  after(() => shutdown(suite.browser, stacks, [suite.coturn]));
  return suite;
}

/** The TURN username/credential the page's own origin hands out now (GET /api/ice-servers). */
export async function turnCredentials(page) {
  const body = await page.evaluate(() => fetch('/api/ice-servers', { cache: 'no-store' }).then((r) => r.json()));
  const turn = body.iceServers.find((s) => [s.urls].flat().some((u) => u.startsWith('turn:')));
  return turn ? { username: turn.username, credential: turn.credential } : null;
}

/** Starts recording what the page announces to screen readers (every text the #announcer
 * live region takes); read them back with `announcements(page)`. */
export function recordAnnouncements(page) {
  return page.evaluate(() => {
    window.__announced = [];
    const el = document.getElementById('announcer');
    new MutationObserver(() => el.textContent && window.__announced.push(el.textContent))
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
}
export const announcements = (page) => page.evaluate(() => window.__announced);
