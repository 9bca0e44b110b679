// What a cold start costs: compiling and instantiating the Worker's WASM, and the first
// requests a fresh runtime answers. Prints figures, not pass/fail.
//  1. Compile and instantiate-ready: `new WebAssembly.Module(bytes)` in headless Chromium's V8
//     (the same engine generation as workerd's; Node 20's V8 cannot read the module's exnref
//     instructions), median of --compiles runs, for each --wasm file given (default
//     build/index_bg.wasm), so two builds can be compared in one run. Sizes beside it.
//  2. First requests: a fresh `wrangler dev` per run (--starts); from the moment it first
//     answers /health, the time of the first WebSocket join in a new room (a cold Durable
//     Object: its module instantiated, the object constructed, the room loaded), then of a
//     second join in another room (warm isolate, cold object), then of a relayed message.
// Run (after `make worker`): node bench/coldstart.mjs [--starts 5] [--compiles 20]
//      [--wasm a.wasm,b.wasm]
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { launchBrowser } from '../tests/support/browser.mjs';
import { ROOT, startWorker, roomCode } from '../tests/support/stack.mjs';
import { Client } from '../tests/support/client.mjs';
import { machineHeader, median } from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    starts: { type: 'string', default: '5' },
    compiles: { type: 'string', default: '20' },
    wasm: { type: 'string', default: join(ROOT, 'build', 'index_bg.wasm') },
  },
});

console.log(machineHeader(`node bench/coldstart.mjs ${process.argv.slice(2).join(' ')}`.trim()));

const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  for (const file of opt.wasm.split(',')) {
    const bytes = readFileSync(file);
    const times = await page.evaluate(({ b64, n }) => {
      const u8 = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const out = [];
      for (let i = 0; i < n; i++) {
        // V8 caches compiled modules by their bytes: a custom section that differs each time
        // (id 0, size 6, name "b", a 4-byte payload holding the counter) makes every compile cold.
        const bytes = new Uint8Array(u8.length + 8);
        bytes.set(u8);
        bytes.set([0, 6, 1, 98, i & 255, (i >> 8) & 255, 7, 7], u8.length);
        const t0 = performance.now();
        const module = new WebAssembly.Module(bytes);
        out.push(performance.now() - t0);
        if (!module) throw new Error('no module');
      }
      return out;
    }, { b64: bytes.toString('base64'), n: Number(opt.compiles) });
    console.log(`compile ${file}: ${bytes.length} B raw, ${gzipSync(bytes, { level: 9 }).length} B gzip, ` +
      `median ${median(times).toFixed(2)} ms [${Math.min(...times).toFixed(2)}–${Math.max(...times).toFixed(2)}] over ${times.length}`);
  }
} finally {
  await browser.close();
}

const steps = { firstJoin: [], secondJoin: [], relay: [] };
for (let i = 0; i < Number(opt.starts); i++) {
  const stack = await startWorker();
  try {
    const timedJoin = async (room) => {
      const t0 = performance.now();
      const c = await Client.join(stack.wsUrl(room), { name: 'Cold' });
      return { c, ms: performance.now() - t0 };
    };
    const first = await timedJoin(roomCode('cold'));
    const second = await timedJoin(roomCode('cold'));
    steps.firstJoin.push(first.ms);
    steps.secondJoin.push(second.ms);
    // A relay between two peers of a warm room: the reference the cold figures compare with.
    const room = roomCode('warm');
    const a = await Client.join(stack.wsUrl(room), { name: 'A' });
    const b = await Client.join(stack.wsUrl(room), { name: 'B' });
    const t0 = performance.now();
    a.signal(b.id, { n: 1 });
    await b.next((m) => m.type === 'signal');
    steps.relay.push(performance.now() - t0);
    for (const c of [first.c, second.c, a, b]) c.drop();
  } finally {
    await stack.stop();
  }
}
if (Number(opt.starts) === 0) process.exit(0);
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms [${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}] over ${xs.length}`;
console.log(`first join on a fresh runtime (module instantiated, object constructed): ${fmt(steps.firstJoin)}`);
console.log(`second join, another room (warm isolate, new object): ${fmt(steps.secondJoin)}`);
console.log(`a relayed signal in a warm room: ${fmt(steps.relay)}`);
