// Where the runtime's CPU goes per relayed message: a V8 CPU profile of the Worker's isolate,
// taken through wrangler dev's DevTools inspector while 2-peer rooms relay a burst of ICE
// candidates straight to the runtime (no dev proxy, no compression). Prints busy µs per message
// and the functions with the most self time. JavaScript frames are wrangler's bundle (the
// wasm-bindgen glue); WASM frames have no names because `make worker` strips them.
// Run (after `make worker`): node bench/profile.mjs [--server pinhole|baseline] [--rooms 40]
//      [--messages 300]
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import CDP from 'chrome-remote-interface';
import { startWorker, roomCode } from '../tests/support/stack.mjs';
import { PINHOLE_BENCH, BASELINE, joinPinhole, leavePinhole, pool, candidate, runtimeEntry, workerdPids, machineHeader, sleep } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    server: { type: 'string', default: 'pinhole' },
    rooms: { type: 'string', default: '40' },
    messages: { type: 'string', default: '300' },
    save: { type: 'string' }, // write the .cpuprofile here (opens in Chrome DevTools)
  },
});
const ROOMS = Number(opt.rooms);
const N = Number(opt.messages);
if (!['pinhole', 'baseline'].includes(opt.server)) throw new Error('--server is pinhole or baseline');

console.log(machineHeader(`node bench/profile.mjs ${process.argv.slice(2).join(' ')}`.trim()));
const stack = await startWorker(opt.server === 'pinhole' ? PINHOLE_BENCH : BASELINE);
const wall = setTimeout(() => stack.stop().finally(() => process.exit(2)), 180_000);
try {
  const base = (await runtimeEntry(workerdPids().runtime)).replace(/^http/, 'ws');
  // wrangler dev lists one target, the Worker's isolate.
  const [target] = await (await fetch(`http://127.0.0.1:${stack.inspectorPort}/json`)).json();
  const devtools = await CDP({ target: target.webSocketDebuggerUrl, local: true }); // local: its own protocol copy
  const { Profiler, Debugger } = devtools;
  // Source of the bundle, to print the line a JavaScript frame starts on (the glue is minified:
  // the line says more than its one-letter name).
  const scripts = new Map();
  Debugger.scriptParsed(({ scriptId, url }) => url && scripts.set(url, scriptId));
  await Debugger.enable();

  const rooms = [];
  await pool([...Array(ROOMS).keys()], 8, async () => {
    const url = `${base}/ws/${roomCode('prof')}`;
    let got = 0;
    let done;
    const all = new Promise((resolve) => (done = resolve));
    const onMessage = (m) => m.type === 'signal' && ++got === N && done();
    rooms.push({ peers: [await joinPinhole(url, onMessage, { deflate: false }), await joinPinhole(url, () => {}, { deflate: false })], all });
  });
  await Profiler.enable();
  await Profiler.setSamplingInterval({ interval: 100 }); // µs
  await Profiler.start();
  const t0 = performance.now();
  // Each room's second peer sends N candidates to the first, 20 at a time, 5 ms apart.
  await Promise.all(rooms.map(async ({ peers: [a, b], all }) => {
    for (let n = 0; n < N; n++) {
      b.send({ type: 'signal', to: a.id, data: { kind: 'candidate', ...candidate({}) } });
      if (n % 20 === 19) await sleep(5);
    }
    await all;
  }));
  const seconds = (performance.now() - t0) / 1000;
  const { profile } = await Profiler.stop();
  if (opt.save) writeFileSync(opt.save, JSON.stringify(profile));

  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const where = new Map();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    const key = `${functionName || '(anonymous)'} ${url ? `${url.split('/').pop()}:${lineNumber + 1}` : ''}`.trim();
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    if (url) where.set(key, { url, lineNumber, columnNumber: nodes.get(id).callFrame.columnNumber });
    total += dt;
    if (functionName === '(idle)') idle += dt;
  });
  const busy = total - idle;
  const messages = ROOMS * N;
  console.log(`${opt.server}: ${messages} messages relayed in ${seconds.toFixed(2)} s, all delivered`);
  console.log(`isolate busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms profiled → ${(busy / messages).toFixed(1)} µs per message`);
  console.log('self time, top 20 (share of busy time):');
  for (const [k, v] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 20)) {
    console.log(`  ${(v / 1000).toFixed(1).padStart(7)} ms ${((100 * v) / busy).toFixed(1).padStart(5)} %  ${k}${await sourceAt(where.get(k))}`);
  }
  await devtools.close();

  async function sourceAt(at) {
    // Profile frames may name a script by its file name only.
    const url = at && [...scripts.keys()].find((u) => u === at.url || u.endsWith(`/${at.url}`));
    const scriptId = url && scripts.get(url);
    if (!scriptId) return '';
    const { scriptSource } = await Debugger.getScriptSource({ scriptId });
    const line = scriptSource.split('\n')[at.lineNumber] ?? '';
    // A glue import is an anonymous function after its `__wbg_<name>_<hash>:` key.
    const glue = line.slice(Math.max(0, at.columnNumber - 120), at.columnNumber).match(/(__wbg_\w+?)_[0-9a-f]{16}\b(?!.*__wbg_)/)?.[1];
    return `   ${glue ?? line.slice(at.columnNumber, at.columnNumber + 60).trim()}`;
  }
  for (const { peers } of rooms) await Promise.all(peers.map(leavePinhole));
} finally {
  clearTimeout(wall);
  await stack.stop();
}
