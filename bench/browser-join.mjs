// Join latency in a real browser: median over N joins of "Join" click → remote tile connected and
// "Join" click → first remote video frame, for a direct call and for a relay-only call through a
// local coturn, then where that time goes: the median time of each step of the page's own
// timeline (public/js/timeline.js) after the click, for the joining page and for the page already
// in the room (both pages' marks on one clock, performance.timeOrigin + t). Prints figures, not
// pass/fail. Headless Chromium with fake media on loopback, so it measures the app + signaling +
// ICE/DTLS set-up cost, not network latency.
// Run: node bench/browser-join.mjs [--runs 10]   (after `make worker`; not part of `make test`)
import { randomBytes } from 'node:crypto';
import { startWorker, roomCode } from '../tests/support/stack.mjs';
import { startCoturn } from '../tests/support/coturn.mjs';
import { launchBrowser, join, openRoom, waitConnected } from '../tests/support/browser.mjs';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;

/** In the joining page: times (performance.now(), ms after the click) of connected and first frame. */
function instrument() {
  const b = (window.__bench = { t0: null, connected: null, frame: null });
  document.getElementById('btn-join').addEventListener('click', () => { b.t0 = performance.now(); }, { capture: true });
  const check = () => {
    const tile = document.querySelector('.tile.remote');
    if (!tile) return;
    if (b.connected === null && tile.dataset.state === 'connected') b.connected = performance.now();
    const v = tile.querySelector('video');
    if (v && !v.__benchHooked) {
      v.__benchHooked = true;
      const first = () => { if (b.frame === null) b.frame = performance.now(); };
      if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(first);
      v.addEventListener('loadeddata', first, { once: true }); // fallback: first frame decoded
    }
  };
  new MutationObserver(check).observe(document.body, { subtree: true, childList: true, attributes: true });
}

/** The page's timeline as absolute times (ms since the epoch, one clock for every page). */
const timelineOf = (page) => page.evaluate(() => {
  const { origin, entries } = window.pinhole.timeline;
  return entries.map((e) => ({ ...e, at: origin + e.t }));
});

/**
 * The first time of each step at or after `since` (absolute ms), relative to `since`; marks
 * about other peers than `peer` are left out. The media and ICE server marks come from the
 * pre-join screen, before the click: those are kept as the (negative) time of their last
 * occurrence before it, unless they happen after it too.
 */
function steps(entries, since, peer) {
  const out = {};
  for (const e of entries) {
    if (e.peer && peer && e.peer !== peer) continue;
    const rel = e.at - since;
    const early = PREPARED.some((p) => e.name.startsWith(p));
    if (rel < 0 ? early : !(e.name in out) || out[e.name] < 0) out[e.name] = rel;
  }
  return out;
}

/** Steps the pre-join screen does before the click. */
const PREPARED = ['media-', 'ice-servers'];

async function once(browser, url, relay) {
  const room = roomCode('bench');
  const host = await join(browser, url, room, { relay, small: false });
  const guest = await openRoom(browser, url, room, { relay, small: false });
  try {
    await guest.page.evaluate(instrument);
    await guest.page.getByRole('button', { name: 'Join', exact: true }).click();
    await guest.page.waitForFunction(() => window.__bench.connected !== null && window.__bench.frame !== null, null, { timeout: 30_000 });
    const b = await guest.page.evaluate(() => window.__bench);
    const guestId = await guest.page.evaluate(() => document.body.dataset.peerId);
    await waitConnected(host.page, [guestId], { path: relay ? 'relay' : 'direct' });
    // The host's first frame from the guest, so its side of the breakdown is complete.
    await host.page.waitForFunction((id) => window.pinhole.timeline.entries.some((e) => e.name === 'remote-frame' && e.peer === id), guestId, { timeout: 30_000 });
    const [gt, ht, origin] = await Promise.all([timelineOf(guest.page), timelineOf(host.page), guest.page.evaluate(() => performance.timeOrigin)]);
    const click = origin + b.t0;
    return {
      connected: b.connected - b.t0,
      frame: b.frame - b.t0,
      guest: steps(gt, click, host.id),
      host: steps(ht, click, guestId),
    };
  } finally {
    await Promise.all([host.ctx.close(), guest.ctx.close()]);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Rows [side, step, median, runs that had it], in the order of their medians. */
function breakdown(runs) {
  const rows = [];
  for (const side of ['guest', 'host']) {
    const names = new Set(runs.flatMap((r) => Object.keys(r[side])));
    for (const name of names) {
      const xs = runs.map((r) => r[side][name]).filter((x) => x !== undefined);
      rows.push([side, name, median(xs), xs.length]);
    }
  }
  return rows.sort((a, b) => a[2] - b[2]);
}

const secret = randomBytes(24).toString('base64url');
const coturn = await startCoturn({ secrets: [secret] });
const [direct, relayed, browser] = await Promise.all([
  startWorker(),
  startWorker({ vars: coturn.workerVars(secret) }),
  launchBrowser(),
]);
const rows = [];
const details = [];
try {
  for (const [label, stack, relay] of [['direct', direct, false], ['relay (coturn)', relayed, true]]) {
    await once(browser, stack.url, relay); // warm-up (first page load, first object), not counted
    const runs = [];
    for (let i = 0; i < RUNS; i++) {
      runs.push(await once(browser, stack.url, relay));
      process.stderr.write('.');
    }
    const c = runs.map((r) => r.connected);
    const f = runs.map((r) => r.frame);
    rows.push([label, runs.length, median(c), Math.min(...c), Math.max(...c), median(f), Math.min(...f), Math.max(...f)]);
    details.push([label, breakdown(runs)]);
  }
} finally {
  await browser.close();
  await Promise.all([direct.stop(), relayed.stop(), coturn.stop()]);
}
process.stderr.write('\n');
const fmt = (x) => String(Math.round(x)).padStart(6);
console.log(`Join click → remote tile connected / first remote video frame, ms (median [min–max] of ${RUNS})`);
console.log('path             runs   connected             first frame');
for (const [label, n, cm, cmin, cmax, fm, fmin, fmax] of rows) {
  console.log(`${label.padEnd(16)} ${String(n).padStart(4)}  ${fmt(cm)} [${fmt(cmin)}–${fmt(cmax)}]  ${fmt(fm)} [${fmt(fmin)}–${fmt(fmax)}]`);
}
for (const [label, steps] of details) {
  console.log(`\n${label}: each step of the timeline, ms after the click (median of the runs that had it;`);
  console.log('guest = the joining page, host = the page already in the room; media-* come from the pre-join screen)');
  for (const [side, name, m, n] of steps) console.log(`  ${fmt(m)}  ${side.padEnd(5)}  ${name}${n < RUNS ? ` (${n} of ${RUNS} runs)` : ''}`);
}
