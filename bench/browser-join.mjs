// Join latency in a real browser: median over N joins of "Join" click → remote tile connected and
// "Join" click → first remote video frame, for a direct call and for a relay-only call through a
// local coturn. Prints figures, not pass/fail. Headless Chromium with fake media on loopback, so
// it measures the app + signaling + ICE/DTLS set-up cost, not network latency.
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

async function once(browser, url, relay) {
  const room = roomCode('bench');
  const host = await join(browser, url, room, { relay, small: false });
  const guest = await openRoom(browser, url, room, { relay, small: false });
  try {
    await guest.page.evaluate(instrument);
    await guest.page.getByRole('button', { name: 'Join', exact: true }).click();
    await guest.page.waitForFunction(() => window.__bench.connected !== null && window.__bench.frame !== null, null, { timeout: 30_000 });
    const b = await guest.page.evaluate(() => window.__bench);
    await waitConnected(host.page, [await guest.page.evaluate(() => document.body.dataset.peerId)], { path: relay ? 'relay' : 'direct' });
    return { connected: b.connected - b.t0, frame: b.frame - b.t0 };
  } finally {
    await Promise.all([host.ctx.close(), guest.ctx.close()]);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const secret = randomBytes(24).toString('base64url');
const coturn = await startCoturn({ secrets: [secret] });
const [direct, relayed, browser] = await Promise.all([
  startWorker(),
  startWorker({ vars: coturn.workerVars(secret) }),
  launchBrowser(),
]);
const rows = [];
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
