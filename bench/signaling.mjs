// Signaling benchmarks on the local runtime (`wrangler dev`, workerd), printing figures, not
// pass/fail: relay latency A → room → B, throughput through one room, the first relay after a
// hibernation wake, and memory per idle connection.
// Run: make bench   (or, after `make worker`: node bench/signaling.mjs [--round-trips 2000]
//      [--per-sender 5000] [--idle-sockets 200] [--wakes 3] [--idle-seconds 25])
// Goals (issue 3): relay p50 ≤ 1 ms / p99 ≤ 10 ms, ≥ 3,000 relayed msg/s in one room,
// first relay after a wake ≤ 10 ms. Bounded: every wait has a deadline; it stops by itself.
import { parseArgs } from 'node:util';
import { startWorker, roomCode } from '../tests/support/stack.mjs';
import {
  PINHOLE_BENCH, percentiles, median, rssKiB, cpuSeconds, workerdPids, assertSameRuntime, machineHeader, candidate, joinPinhole, leavePinhole, pool, sleep,
  waitFor,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    'round-trips': { type: 'string', default: '2000' },
    'per-sender': { type: 'string', default: '5000' },
    'idle-sockets': { type: 'string', default: '200' },
    wakes: { type: 'string', default: '3' },
    'idle-seconds': { type: 'string', default: '25' },
  },
});
const ROUND_TRIPS = Number(opt['round-trips']);
const PER_SENDER = Number(opt['per-sender']);
const IDLE_SOCKETS = Number(opt['idle-sockets']);
const WAKES = Number(opt.wakes);
const IDLE_MS = Number(opt['idle-seconds']) * 1000;

console.log(machineHeader(`node bench/signaling.mjs ${process.argv.slice(2).join(' ')}`.trim()));
// The per-socket bucket is raised to its maximum so it is never what limits a throughput run;
// the per-IP connection limit is avoided by a distinct cf-connecting-ip per client.
const stack = await startWorker(PINHOLE_BENCH);
const url = () => stack.wsUrl(roomCode('bench'));
const kib = (pid) => (pid ? rssKiB(pid) : NaN);

/** Resolves with the next value passed to the returned `settle`, or rejects after `ms`. */
function deferred(ms, what) {
  let settle;
  const promise = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    settle = (v) => (clearTimeout(t), resolve(v));
  });
  return { promise, settle };
}

/** Two joined peers in a fresh room; `onSignal(msg, receivedAt)` fires on B. Returns the room tag too. */
async function pair(onSignal) {
  const joins = stack.events('join').length;
  const room = url();
  const a = await joinPinhole(room);
  const b = await joinPinhole(room, (m) => m.type === 'signal' && onSignal(m, performance.now()));
  await waitFor(() => stack.events('join').length >= joins + 2, { what: 'join events in the log' });
  return { a, b, tag: stack.events('join').at(-1).room };
}

async function relayLatency() {
  let pending;
  const { a, b } = await pair((m, at) => {
    if (m.from !== a.id) throw new Error('signal not stamped with its sender');
    pending.settle(at - m.data.t);
  });
  const samples = [];
  const warmup = 200;
  for (let i = 0; i < warmup + ROUND_TRIPS; i++) {
    pending = deferred(5000, `relay ${i}`);
    a.send({ type: 'signal', to: b.id, data: candidate({ seq: i, t: performance.now() }) });
    const ms = await pending.promise;
    if (i >= warmup) samples.push(ms);
  }
  const frame = JSON.stringify({ type: 'signal', to: b.id, data: candidate({ seq: 1000, t: performance.now() }) });
  await Promise.all([leavePinhole(a), leavePinhole(b)]);
  return { frameBytes: Buffer.byteLength(frame), ...percentiles(samples) };
}

async function roomThroughput() {
  const room = url();
  const total = 4 * PER_SENDER;
  const seen = new Set();
  const oneWay = [];
  let delivered = 0, misrouted = 0, errors = 0, lastAt = 0;
  const done = deferred(120_000, 'all throughput messages delivered');
  const peers = [];
  for (let i = 0; i < 4; i++) {
    peers.push(
      await joinPinhole(room, (m) => {
        if (m.type === 'error') return errors++;
        if (m.type !== 'signal') return;
        const { src, dst, seq, t } = m.data;
        lastAt = performance.now();
        if (dst !== i || m.from !== peers[src].id) misrouted++;
        const key = `${src}:${seq}`;
        if (!seen.has(key)) (seen.add(key), delivered++, oneWay.push(lastAt - t));
        if (delivered === total) done.settle();
      }),
    );
  }
  const start = performance.now();
  // All four push at once, interleaved, each round-robin to the other three.
  for (let seq = 0; seq < PER_SENDER; seq++) {
    for (let src = 0; src < 4; src++) {
      const dst = (src + 1 + (seq % 3)) % 4;
      peers[src].send({ type: 'signal', to: peers[dst].id, data: candidate({ src, dst, seq, t: performance.now() }) });
    }
  }
  const sentIn = performance.now() - start;
  let timedOut = false;
  await done.promise.catch(() => (timedOut = true));
  const secs = ((lastAt || performance.now()) - start) / 1000;
  await Promise.all(peers.map(leavePinhole));
  return {
    sent: total, delivered, lost: total - delivered, misrouted, errors, timedOut,
    clientSendMs: sentIn.toFixed(0), seconds: secs.toFixed(2), msgsPerSecond: Math.round(delivered / secs),
    oneWayUnderLoad: percentiles(oneWay),
  };
}

/** Memory per idle connection and first relay after a wake; they share the idle wait. */
async function idleAndWake() {
  const pids = workerdPids();
  const rss = () => ({ runtimeKiB: kib(pids.runtime), proxyKiB: kib(pids.proxy) });
  const baseline = rss();

  let pending;
  const wakeRooms = [];
  for (let i = 0; i < WAKES; i++) wakeRooms.push(await pair((m, at) => pending.settle(at - m.data.t)));
  const rooms = Array.from({ length: Math.ceil(IDLE_SOCKETS / 4) }, () => url());
  const idle = (await pool(rooms, 8, async (room) => {
    const ps = [];
    for (let i = 0; i < 4; i++) ps.push(await joinPinhole(room));
    return ps;
  })).flat();
  const sockets = idle.length + 2 * WAKES;
  const connected = rss();

  // Idle: only keep-alive pings (answered by the runtime without waking an object) until
  // workerd evicts the objects. The join-timeout alarm fires ~10 s after a room's first
  // connect, so eviction comes ~10 s after that; the wait leaves a margin.
  const loadsAtRest = stack.events('room_loaded').length;
  const cpuAtRest = cpuSeconds(pids.runtime);
  const everyone = [...idle, ...wakeRooms.flatMap((r) => [r.a, r.b])];
  const until = Date.now() + IDLE_MS;
  while (Date.now() < until) {
    for (const p of everyone) p.ws.send('ping');
    await sleep(Math.min(5000, Math.max(0, until - Date.now())));
  }
  const hibernated = rss();
  const idleCpuPercent = ((100 * (cpuSeconds(pids.runtime) - cpuAtRest)) / (IDLE_MS / 1000)).toFixed(1);
  const pingWakes = stack.events('room_loaded').length - loadsAtRest;

  const wakes = [];
  for (const { a, b, tag } of wakeRooms) {
    const loads = stack.events('room_loaded', { room: tag }).length;
    const relay = async (seq) => {
      pending = deferred(10_000, 'relay after wake');
      a.send({ type: 'signal', to: b.id, data: candidate({ seq, t: performance.now() }) });
      return pending.promise;
    };
    const first = await relay(0);
    const second = await relay(1);
    // The object had really been evicted if it was rebuilt (room_loaded) to serve that relay.
    const evicted = await waitFor(
      () => stack.events('room_loaded', { room: tag }).length > loads,
      { timeout: 2000, what: 'room_loaded' },
    ).catch(() => false);
    wakes.push({ firstMs: first.toFixed(3), nextMs: second.toFixed(3), evicted: Boolean(evicted) });
  }
  await Promise.all(everyone.map(leavePinhole));
  const perConn = (a, b) => (((b - a) * 1024) / sockets).toFixed(0);
  return {
    sockets, baseline, connected, hibernated,
    bytesPerSocket: {
      runtimeConnected: perConn(baseline.runtimeKiB, connected.runtimeKiB),
      runtimeHibernated: perConn(baseline.runtimeKiB, hibernated.runtimeKiB),
      proxyConnected: perConn(baseline.proxyKiB, connected.proxyKiB),
    },
    objectsWokenByPings: pingWakes, idleCpuPercent,
    wakes,
    wakeMedianMs: median(wakes.filter((w) => w.evicted).map((w) => Number(w.firstMs)))?.toFixed(3) ?? 'n/a',
  };
}

const hardStop = setTimeout(() => {
  console.error('bench/signaling.mjs: wall-clock cap (10 min) reached');
  stack.stop().finally(() => process.exit(2));
}, 600_000);
const runtime = workerdPids();
try {
  const latency = await relayLatency();
  console.log(`\nrelay latency A → room → B, one-way, ${latency.n} sequential relays of a ${latency.frameBytes}-byte frame (ms):`);
  console.log(`  p50 ${latency.p50}  p90 ${latency.p90}  p99 ${latency.p99}  max ${latency.max}   (goal p50 ≤ 1, p99 ≤ 10)`);

  const tp = await roomThroughput();
  console.log(`\nthroughput through one room, 4 peers each pushing ${PER_SENDER} signals round-robin to the others:`);
  console.log(`  ${tp.msgsPerSecond} relayed msg/s (${tp.delivered}/${tp.sent} delivered in ${tp.seconds} s; client queued all in ${tp.clientSendMs} ms)   (goal ≥ 3000)`);
  console.log(`  lost ${tp.lost}, misrouted ${tp.misrouted}, error frames ${tp.errors}${tp.timedOut ? ', TIMED OUT' : ''}`);
  const q = tp.oneWayUnderLoad;
  console.log(`  one-way under saturation (queueing included), ms: p50 ${q.p50}  p99 ${q.p99}  max ${q.max}`);

  const iw = await idleAndWake();
  console.log(`\nmemory (VmRSS, KiB) of workerd, ${iw.sockets} joined idle sockets in ${Math.ceil(IDLE_SOCKETS / 4) + WAKES} rooms:`);
  console.log(`  runtime: idle ${iw.baseline.runtimeKiB}, connected ${iw.connected.runtimeKiB}, after ${IDLE_MS / 1000} s idle ${iw.hibernated.runtimeKiB}`);
  console.log(`  proxy (wrangler dev only): idle ${iw.baseline.proxyKiB}, connected ${iw.connected.proxyKiB}, after idle ${iw.hibernated.proxyKiB}`);
  const b = iw.bytesPerSocket;
  console.log(`  per idle socket: runtime ${b.runtimeConnected} B just connected, ${b.runtimeHibernated} B after idle; proxy ${b.proxyConnected} B`);
  console.log(`  room reloads during the idle wait (keep-alive pings must cause none): ${iw.objectsWokenByPings}; runtime CPU meanwhile ${iw.idleCpuPercent} %`);
  console.log(`\nfirst relay after a hibernation wake (${IDLE_MS / 1000} s idle with pings), ms:`);
  iw.wakes.forEach((w, i) =>
    console.log(`  wake ${i + 1}: first ${w.firstMs}, next ${w.nextMs}, evicted (room_loaded again): ${w.evicted}`),
  );
  console.log(`  median first relay after wake: ${iw.wakeMedianMs}   (goal ≤ 10)`);
  assertSameRuntime(runtime);
} finally {
  clearTimeout(hardStop);
  await stack.stop();
}
