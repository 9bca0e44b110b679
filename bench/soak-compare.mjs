// Is the local runtime's memory growth in the soak (bench/soak.mjs) Pinhole's, or the runtime's?
// Runs the same join/leave cycle against Pinhole and against a baseline Worker that does the
// least a room server must (bench/baseline/: one Durable Object per room, hibernatable
// WebSockets, a durable write per connection, deleteAll when empty, relay), each under its own
// `wrangler dev`, and prints the runtime workerd's RSS before, during and after.
// Run (after `make worker`): node bench/soak-compare.mjs [--cycles 1000] [--lanes 16]
// One cycle: a fresh room; two clients connect (Pinhole: and join); each sends one message that
// the other must receive; both leave (Pinhole: `leave`; baseline: close) and see the close.
import { parseArgs } from 'node:util';
import { startWorker, roomCode, fakeIp } from '../tests/support/stack.mjs';
import { PINHOLE_BENCH, BASELINE, WebSocket, rssKiB, workerdPids, assertSameRuntime, machineHeader, joinPinhole, leavePinhole, pool, sleep, waitFor } from './lib.mjs';

const { values: opt } = parseArgs({
  options: { cycles: { type: 'string', default: '1000' }, lanes: { type: 'string', default: '16' } },
});
const CYCLES = Number(opt.cycles);
const LANES = Number(opt.lanes);
const IDLE_MS = 20_000;

/** Resolves with the next message `ws` receives (within 10 s). */
const nextMessage = (ws) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error('no message within 10 s')), 10_000);
  ws.once('message', (d) => (clearTimeout(t), resolve(d.toString())));
});

const servers = {
  async Pinhole() {
    const stack = await startWorker(PINHOLE_BENCH);
    return {
      stack,
      async cycle(n) {
        const url = stack.wsUrl(roomCode('cmp'));
        const got = { a: [], b: [] };
        let wake = () => {};
        const on = (k) => (m) => {
          if (m.type === 'signal') (got[k].push(m), wake());
        };
        const a = await joinPinhole(url, on('a'));
        const b = await joinPinhole(url, on('b'));
        a.send({ type: 'signal', to: b.id, data: `a${n}` });
        b.send({ type: 'signal', to: a.id, data: `b${n}` });
        await waitFor(() => got.a.length && got.b.length, { timeout: 10_000, what: `cycle ${n}'s signals` });
        if (got.b[0].data !== `a${n}` || got.b[0].from !== a.id || got.a[0].data !== `b${n}`) throw new Error(`cycle ${n}: wrong delivery`);
        await Promise.all([leavePinhole(a), leavePinhole(b)]);
      },
    };
  },
  async baseline() {
    const stack = await startWorker(BASELINE);
    const open = (url) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { 'cf-connecting-ip': fakeIp() } });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
    const close = (ws) => new Promise((resolve) => {
      ws.once('close', resolve);
      ws.close(1000);
    });
    return {
      stack,
      async cycle(n) {
        const url = stack.wsUrl(roomCode('cmp'));
        const a = await open(url);
        const b = await open(url);
        const [toB, toA] = [nextMessage(b), nextMessage(a)];
        a.send(`a${n}`);
        b.send(`b${n}`);
        if ((await toB) !== `a${n}` || (await toA) !== `b${n}`) throw new Error(`cycle ${n}: wrong delivery`);
        await Promise.all([close(a), close(b)]);
      },
    };
  },
};

console.log(machineHeader(`node bench/soak-compare.mjs ${process.argv.slice(2).join(' ')}`.trim()));
const rows = [];
for (const [name, start] of Object.entries(servers)) {
  const server = await start();
  try {
    for (let i = 0; i < 20; i++) await server.cycle(-i); // warm-up: first objects, JIT
    const pids = workerdPids();
    const rss = () => rssKiB(pids.runtime);
    const samples = [[0, rss()]];
    const t0 = performance.now();
    let done = 0;
    await pool(Array.from({ length: CYCLES }, (_, i) => i), LANES, async (i) => {
      await server.cycle(i);
      if (++done % 250 === 0) samples.push([done, rss()]);
    });
    const seconds = (performance.now() - t0) / 1000;
    const idle = [];
    for (let t = 0; t < IDLE_MS; t += 5000) {
      await sleep(5000); // sampling an idle runtime, not waiting for an outcome
      idle.push(rss());
    }
    assertSameRuntime(pids);
    const start = samples[0][1];
    const end = Math.min(...idle);
    rows.push({ name, seconds, samples, start, end });
    console.log(`\n${name}: ${CYCLES} cycles, ${LANES} at a time, in ${seconds.toFixed(1)} s; 0 wrong deliveries`);
    console.log(`  runtime RSS KiB by cycle: ${samples.map(([c, k]) => `${c}: ${k}`).join(', ')}`);
    console.log(`  after ${IDLE_MS / 1000} s idle (lowest of ${idle.length} samples): ${end}`);
    console.log(`  growth ${end - start} KiB = ${(((end - start) * 1024) / CYCLES / 1000).toFixed(1)} KB per cycle`);
  } finally {
    await server.stack.stop();
  }
}
const [p, b] = rows;
console.log(`\nPinhole / baseline growth per cycle: ${((p.end - p.start) / Math.max(1, b.end - b.start)).toFixed(2)}`);
