// Soak: many join/leave cycles and many real Durable Object alarms against the local runtime
// (`wrangler dev`, workerd), checking every message on the way and printing the runtime's
// memory before, during and after. Memory and speed are printed figures, not pass/fail; the
// exit status is non-zero only for correctness failures (a lost, misrouted, duplicated or
// unexpected message, an alarm that never fired or fired early, storage left behind by an
// emptied room, a panic in the runtime log: 1), or when the run measured nothing (the wall-clock
// cap reached, or wrangler dev restarting workerd under it: 2).
// Run (after `make worker`): node bench/soak.mjs [--cycles 1000] [--concurrency 16]
//      [--alarm-rooms 100] [--alarm-cycles 10] [--idle-seconds 20] [--cap-seconds 360]
//
// Phase 1, join/leave: --cycles cycles, each in a fresh room (a new Durable Object, created
//   and emptied): 2 peers (3 in every 5th cycle, 4 in every 10th) join one after another,
//   each sends 3 ICE-candidate-like signals to every other peer, then they leave one by one,
//   each leave confirmed by peerLeft at the others. In every 10th cycle the first peer drops
//   its socket without `leave` instead, and the others wait for its grace period to end
//   (peerLeft from the alarm) before leaving.
// Phase 2, alarms: --alarm-rooms lanes run at once, --alarm-cycles cycles each. A lane keeps
//   an anchor peer in its own room (pinging every 20 s, as browsers do). Four cycles in five
//   are a grace expiry: a second peer joins, trades a signal with the anchor, drops its socket,
//   and the anchor must get peerLeft after RESUME_GRACE_SECONDS (the alarm). One in five is a
//   join timeout, run beside the grace chain: a socket to a fresh room that never joins must
//   be closed 4008 after 10 s (the alarm; the room then empties itself). No room ever has two
//   things falling due at once, so each observed effect is a distinct alarm invocation; the
//   runtime log's grace_expired and 4008 close events are counted as a cross-check.
// RESUME_GRACE_SECONDS is set to its minimum (5) so the phase fits in about a minute; the join
// timeout is fixed at 10 s. Every wait has a deadline and the whole run a cap.
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { startWorker, roomCode, fakeIp, panicsIn, roomStorage, logEvents } from '../tests/support/stack.mjs';
import {
  WebSocket, percentiles, rssKiB, fdCount, cpuSeconds, workerdPids, machineHeader, candidate,
  joinPinhole, pool, sleep, waitFor,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    cycles: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
    'alarm-rooms': { type: 'string', default: '100' },
    'alarm-cycles': { type: 'string', default: '10' },
    'idle-seconds': { type: 'string', default: '20' },
    'cap-seconds': { type: 'string', default: '360' },
  },
});
const CYCLES = Number(opt.cycles);
const CONCURRENCY = Number(opt.concurrency);
const LANES = Number(opt['alarm-rooms']);
const LANE_CYCLES = Number(opt['alarm-cycles']);
const IDLE_MS = Number(opt['idle-seconds']) * 1000;
const CAP_MS = Number(opt['cap-seconds']) * 1000;
const GRACE_MS = 5_000;
const JOIN_TIMEOUT_MS = 10_000; // RoomConfig.join_timeout_ms, not configurable
const SIGNALS = 3; // per ordered pair of peers in a join/leave cycle
const SLACK_MS = 25_000; // how late an alarm may be before it counts as never fired
const EARLY_MS = 500; // timer granularity allowed before a deadline

const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
console.log(machineHeader(`node bench/soak.mjs ${process.argv.slice(2).join(' ')}`.trim()));
const stack = await startWorker({ vars: { RESUME_GRACE_SECONDS: String(GRACE_MS / 1000) } });
const pids = workerdPids();

// ---- correctness bookkeeping ---------------------------------------------------------------

const failures = new Map(); // kind → { count, examples }
function fail(kind, detail) {
  const f = failures.get(kind) ?? { count: 0, examples: [] };
  f.count++;
  if (f.examples.length < 3) f.examples.push(detail);
  failures.set(kind, f);
}
const counts = { signalsSent: 0, signalsDelivered: 0, joins: 0, leaves: 0, drops: 0, dropPeerLeft: 0 };

/** Messages a peer has received but nobody has claimed yet, and the waits for them. */
function mailbox() {
  const msgs = [];
  const waiters = [];
  return {
    msgs,
    push(m) {
      const i = waiters.findIndex((w) => w.pred(m));
      if (i < 0) return msgs.push(m);
      waiters.splice(i, 1)[0].resolve(m);
    },
    /** The first message matching `pred`, or `undefined` after `ms`. */
    next(pred, ms) {
      const i = msgs.findIndex(pred);
      if (i >= 0) return Promise.resolve(msgs.splice(i, 1)[0]);
      return new Promise((resolve) => {
        const w = {
          pred,
          resolve: (m) => (clearTimeout(w.timer), resolve(m)),
          timer: setTimeout(() => (waiters.splice(waiters.indexOf(w), 1), resolve(undefined)), ms),
        };
        waiters.push(w);
      });
    },
  };
}

/** Joins `url` with a mailbox; every socket error is recorded rather than thrown. */
const joinMs = [];
async function join(url, where) {
  const box = mailbox();
  const t = performance.now();
  const peer = await joinPinhole(url, (m) => box.push(m));
  joinMs.push(performance.now() - t);
  peer.box = box;
  peer.closed = new Promise((resolve) => peer.ws.on('close', (code) => resolve(code)));
  peer.ws.on('error', (e) => fail('socket error', `${where}: ${e.message}`));
  counts.joins++;
  return peer;
}

/** `leave`; the server must close with 1000. */
async function leave(peer, where) {
  peer.send({ type: 'leave' });
  const code = await Promise.race([peer.closed, sleep(10_000).then(() => 'none within 10 s')]);
  if (code !== 1000) fail('leave not closed 1000', `${where}: ${code}`);
  if (code === 'none within 10 s') peer.ws.terminate();
  counts.leaves++;
}

/** Anything left in a mailbox at the end of a cycle was not expected (an error frame, a
 * stray signal, a second peerLeft). */
function noLeftovers(peers, where) {
  for (const p of peers) for (const m of p.box.msgs.splice(0)) fail('unexpected message', `${where}: ${JSON.stringify(m).slice(0, 200)}`);
}

// ---- memory samples ------------------------------------------------------------------------

const samples = [];
let startSample;
function sample(label) {
  const s = {
    label, at: secs(),
    runtime: rssKiB(pids.runtime), proxy: rssKiB(pids.proxy),
    fds: fdCount(pids.runtime), load: loadavg()[0].toFixed(2),
  };
  samples.push(s);
  return s;
}
function printSamples() {
  const d = (x, base) => (base === undefined ? '' : `${x - base >= 0 ? '+' : ''}${x - base}`);
  const row = (cols) => console.log(`  ${cols.map((c, i) => String(c)[i ? 'padStart' : 'padEnd'](i ? 10 : 24)).join('')}`);
  row(['point', 't (s)', 'runtime', 'Δ start', 'proxy', 'Δ start', 'rt fds', 'load1']);
  for (const s of samples) {
    row([s.label, s.at, s.runtime, d(s.runtime, startSample?.runtime), s.proxy, d(s.proxy, startSample?.proxy), s.fds, s.load]);
  }
}

// ---- phase 1: join/leave cycles ------------------------------------------------------------

const dropToPeerLeft = [];

/** One join/leave cycle in a fresh room. Resolves when the fast part is done; a drop cycle's
 * wait for the grace period is returned as `tail`, so it does not hold a pool slot idle. */
async function joinLeaveCycle(i) {
  const where = `cycle ${i}`;
  const url = stack.wsUrl(roomCode('soak'));
  const n = i % 10 === 0 ? 4 : i % 5 === 0 ? 3 : 2;
  const drop = i % 10 === 9;
  const peers = [];
  for (let k = 0; k < n; k++) {
    const p = await join(url, where);
    const expect = peers.map((q) => q.id).sort().join();
    if (p.welcome.peers.map((q) => q.id).sort().join() !== expect) fail('wrong welcome peers', where);
    peers.push(p);
    for (const q of peers.slice(0, -1)) {
      if (!(await q.box.next((m) => m.type === 'peerJoined' && m.id === p.id, 10_000))) fail('peerJoined lost', where);
    }
  }
  // Every peer to every other, interleaved; each receiver checks sender, addressee, room and
  // order (a room relays one sender's signals to one receiver in order).
  for (let s = 0; s < SIGNALS; s++) {
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < n; j++) {
        if (j === k) continue;
        peers[k].send({ type: 'signal', to: peers[j].id, data: candidate({ c: i, src: k, dst: j, s }) });
        counts.signalsSent++;
      }
    }
  }
  await Promise.all(peers.map(async (p, j) => {
    for (let k = 0; k < n; k++) {
      if (k === j) continue;
      for (let s = 0; s < SIGNALS; s++) {
        const m = await p.box.next((x) => x.type === 'signal' && x.from === peers[k].id, 10_000);
        if (!m) fail('signal lost', `${where}: ${k} → ${j} #${s}`);
        else if (m.data.c !== i || m.data.src !== k || m.data.dst !== j || m.data.s !== s) {
          fail('signal misrouted or out of order', `${where}: ${JSON.stringify({ ...m.data, candidate: undefined })}`);
        } else counts.signalsDelivered++;
      }
    }
  }));

  const finish = async (from) => {
    for (let k = from; k < n; k++) {
      await leave(peers[k], where);
      for (const q of peers.slice(k + 1)) {
        if (!(await q.box.next((m) => m.type === 'peerLeft' && m.id === peers[k].id, 10_000))) fail('peerLeft after leave lost', where);
      }
    }
    noLeftovers(peers, where);
  };
  if (!drop) return { tail: finish(0) };
  // Drop without leave: the others must not hear of it until the grace period has run out.
  const dropped = performance.now();
  peers[0].ws.terminate();
  counts.drops++;
  return {
    tail: (async () => {
      const rest = peers.slice(1);
      const left = await Promise.all(rest.map((q) => q.box.next((m) => m.type === 'peerLeft' && m.id === peers[0].id, GRACE_MS + SLACK_MS)));
      const ms = performance.now() - dropped;
      if (left.some((m) => !m)) fail('grace never expired (join/leave phase)', where);
      else {
        counts.dropPeerLeft++;
        dropToPeerLeft.push(ms);
        if (ms < GRACE_MS - EARLY_MS) fail('grace expired early', `${where}: ${ms.toFixed(0)} ms`);
      }
      await finish(1);
    })(),
  };
}

async function joinLeavePhase(cycles, label) {
  let done = 0;
  const tails = [];
  const onDone = () => {
    done++;
    if (label && done % 100 === 0) sample(`${label} ${done}`);
  };
  const guarded = (p, i) => p.catch((e) => fail('cycle error', `cycle ${i}: ${e.message}`));
  await pool(Array.from({ length: cycles }, (_, i) => i), CONCURRENCY, async (i) => {
    const started = await guarded(joinLeaveCycle(i), i);
    if (!started) return onDone();
    // A normal cycle's leaves run in the slot too (they are quick); a drop cycle's grace wait
    // runs beside the pool.
    const tail = guarded(started.tail, i).then(onDone);
    if (i % 10 === 9) tails.push(tail);
    else await tail;
  });
  await Promise.all(tails);
}

// ---- phase 2: alarms -----------------------------------------------------------------------

const alarm = { grace: [], joinTimeout: [], graceFired: 0, joinTimeoutFired: 0 };
const warm = { joinTimeout: [], joinTimeoutFired: 0 };
let alarmsDone = 0;
const alarmDone = () => {
  alarmsDone++;
  if (alarmsDone % 100 === 0) sample(`alarm ${alarmsDone}`);
};

async function graceCycle(anchor, url, where) {
  const b = await join(url, where);
  if (b.welcome.peers.map((p) => p.id).join() !== anchor.id) fail('wrong welcome peers', where);
  if (!(await anchor.box.next((m) => m.type === 'peerJoined' && m.id === b.id, 10_000))) fail('peerJoined lost', where);
  anchor.send({ type: 'signal', to: b.id, data: candidate({ where, dir: 'a→b' }) });
  b.send({ type: 'signal', to: anchor.id, data: candidate({ where, dir: 'b→a' }) });
  counts.signalsSent += 2;
  const [toB, toA] = await Promise.all([
    b.box.next((m) => m.type === 'signal', 10_000),
    anchor.box.next((m) => m.type === 'signal', 10_000),
  ]);
  for (const [m, from, dir] of [[toB, anchor, 'a→b'], [toA, b, 'b→a']]) {
    if (!m) fail('signal lost', `${where} ${dir}`);
    else if (m.from !== from.id || m.data.where !== where || m.data.dir !== dir) fail('signal misrouted or out of order', `${where} ${dir}`);
    else counts.signalsDelivered++;
  }
  const dropped = performance.now();
  b.ws.terminate();
  counts.drops++;
  const left = await anchor.box.next((m) => m.type === 'peerLeft' && m.id === b.id, GRACE_MS + SLACK_MS);
  const ms = performance.now() - dropped;
  if (!left) return fail('alarm never fired (grace expiry)', where);
  alarm.graceFired++;
  alarm.grace.push(ms);
  if (ms < GRACE_MS - EARLY_MS) fail('grace expired early', `${where}: ${ms.toFixed(0)} ms`);
  noLeftovers([anchor, b], where);
}

/** Checks still running when a cycle has moved on (a join-timeout socket's close code). */
const pendingChecks = [];

/** A socket to a fresh room that never joins: the room's alarm must close it with 4008 (and
 * the room then empties itself). */
async function joinTimeoutCycle(where, stats) {
  // Timed from the connect call: the room starts its 10 s when it accepts the socket, which is
  // after this and before the client sees 'open' (the 101 may reach a busy client late).
  const connecting = performance.now();
  const ws = new WebSocket(stack.wsUrl(roomCode('soak-jt')), { headers: { 'cf-connecting-ip': fakeIp() } });
  ws.on('message', (d) => d.toString() !== 'pong' && fail('unexpected message', `${where}: ${d.toString().slice(0, 200)}`));
  ws.on('error', (e) => fail('socket error', `${where}: ${e.message}`));
  const closeCode = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  const opened = await Promise.race([
    new Promise((resolve) => ws.once('open', () => resolve(true))),
    closeCode.then(() => false),
  ]);
  if (!opened) return fail('join-timeout socket never opened', where);
  // The close frame arrives when the alarm fires, and `ws` then leaves OPEN; its 'close' event
  // waits for TCP to end, which workerd may hold ~10 s more after a close sent from an alarm
  // (see tests/integration/signaling.test.mjs). So the alarm is timed by the state change
  // (polled every 20 ms) and the close code is checked when it comes, beside the next cycle.
  const closing = await waitFor(() => ws.readyState !== WebSocket.OPEN, { timeout: JOIN_TIMEOUT_MS + SLACK_MS, interval: 20 })
    .catch(() => false);
  if (!closing) {
    ws.terminate();
    return fail('alarm never fired (join timeout)', where);
  }
  const ms = performance.now() - connecting;
  pendingChecks.push((async () => {
    const code = await Promise.race([closeCode, sleep(SLACK_MS).then(() => 'none within 25 s')]);
    if (code !== 4008) return fail('join-timeout socket closed with another code', `${where}: ${code}`);
    stats.joinTimeoutFired++;
    stats.joinTimeout.push(ms);
    if (ms < JOIN_TIMEOUT_MS - EARLY_MS) fail('join timeout early', `${where}: ${ms.toFixed(0)} ms`);
  })());
}

async function alarmLane(l) {
  // Lanes start spread over 5 s so their alarms do not all fall due in the same instant.
  await sleep((5000 * l) / Math.max(1, LANES));
  // The join timeouts run beside the grace expiries, each in a fresh room of its own, so a
  // lane takes about as long as its grace chain; every room still has one alarm due at a time.
  const joinTimeouts = Math.floor(LANE_CYCLES / 5);
  const timeouts = (async () => {
    for (let c = 0; c < joinTimeouts; c++) {
      await joinTimeoutCycle(`lane ${l} join timeout ${c}`, alarm);
      alarmDone();
    }
  })();
  const url = stack.wsUrl(roomCode('soak-alarm'));
  const anchor = await join(url, `lane ${l}`).catch((e) => fail('cycle error', `lane ${l} anchor: ${e.message}`));
  if (!anchor) return timeouts;
  const keepAlive = setInterval(() => anchor.ws.readyState === WebSocket.OPEN && anchor.ws.send('ping'), 20_000);
  try {
    for (let c = 0; c < LANE_CYCLES - joinTimeouts; c++) {
      const where = `lane ${l} grace ${c}`;
      await graceCycle(anchor, url, where).catch((e) => fail('cycle error', `${where}: ${e.message}`));
      alarmDone();
    }
  } finally {
    clearInterval(keepAlive);
  }
  await timeouts;
  await leave(anchor, `lane ${l}`);
  noLeftovers([anchor], `lane ${l}`);
}

// ---- the run -------------------------------------------------------------------------------

/** Ends a run that measured nothing meaningful, with exit status 2. */
function abandon(why) {
  console.error(`\nbench/soak.mjs: ${why} at ${secs()} s; discard this run. Samples so far:`);
  printSamples();
  for (const [kind, f] of failures) console.error(`  ${kind}: ${f.count}`);
  stack.stop().finally(() => process.exit(2));
}
const hardStop = setTimeout(() => abandon(`wall-clock cap (${CAP_MS / 1000} s) reached`), CAP_MS);
// `wrangler dev` restarts workerd when build/ or public/ changes under it (another engineer's
// build or edit on this machine), dropping every socket: what follows would be failures that
// are not the Worker's, and memory of a fresh process.
const restartWatch = setInterval(() => {
  const now = workerdPids();
  if (now.runtime !== pids.runtime || now.proxy !== pids.proxy) {
    clearInterval(restartWatch);
    abandon('wrangler dev restarted workerd (build/ or public/ changed?)');
  }
}, 1000);


let exitCode = 0;
try {
  sample('fresh runtime');
  // Warm-up: every path once (join, relay, leave, grace expiry, join timeout), so module
  // instantiation, JIT and first-use allocations are not counted as growth.
  await Promise.all([joinLeavePhase(20), joinTimeoutCycle('warm-up', warm)]);
  await sleep(2000);
  startSample = sample('start (after warm-up)');
  const cpu = () => ({ runtime: cpuSeconds(pids.runtime), proxy: cpuSeconds(pids.proxy), client: process.cpuUsage() });
  const cpuSince = (a) => {
    const b = cpu();
    const client = (b.client.user + b.client.system - a.client.user - a.client.system) / 1e6;
    return `CPU s: runtime ${(b.runtime - a.runtime).toFixed(1)}, dev proxy ${(b.proxy - a.proxy).toFixed(1)}, load generator ${client.toFixed(1)}`;
  };
  const cpu0 = cpu();
  const joins0 = joinMs.length;
  const dropsBefore = counts.dropPeerLeft;
  const dropSamplesBefore = dropToPeerLeft.length;

  const p1 = performance.now();
  await joinLeavePhase(CYCLES, 'join/leave');
  const p1s = (performance.now() - p1) / 1000;
  const cpu1 = cpu();
  const cpuPhase1 = cpuSince(cpu0);
  const joinsPhase1 = percentiles(joinMs.slice(joins0));

  const p2 = performance.now();
  await Promise.all(Array.from({ length: LANES }, (_, l) => alarmLane(l)));
  await Promise.all(pendingChecks);
  const p2s = (performance.now() - p2) / 1000;
  const cpuPhase2 = cpuSince(cpu1);

  // Idle: no sockets are open. Nothing is forced (no GC, no eviction request): sample what the
  // runtime keeps on its own.
  const idleFrom = performance.now();
  for (let k = 1; k * 5000 <= IDLE_MS; k++) {
    await sleep(idleFrom + k * 5000 - performance.now());
    sample(`idle ${k * 5} s`);
  }

  // Cross-checks in the runtime's own log. Log lines travel separately from frames: wait a
  // little for the last ones.
  const graceExpected = counts.drops;
  await waitFor(() => stack.events('grace_expired').length >= graceExpected, { timeout: 5000 }).catch(() => {});
  const log = stack.log();
  const graceLogged = logEvents(log, 'grace_expired').length;
  const jt = logEvents(log, 'close', { code: 4008 }).length;
  const cleared = logEvents(log, 'room_cleared').length;
  const loaded = logEvents(log, 'room_loaded').length;
  const roomsUsed = 20 + 1 + CYCLES + LANES + LANES * Math.floor(LANE_CYCLES / 5);
  if (graceLogged !== graceExpected) fail('grace_expired events ≠ drops', `${graceLogged} logged, ${graceExpected} drops`);
  const jtObserved = warm.joinTimeoutFired + alarm.joinTimeoutFired;
  if (jt !== jtObserved) fail('4008 close events ≠ observed 4008 closes', `${jt} logged, ${jtObserved} observed`);
  const panics = panicsIn(log);
  for (const p of panics) fail('panic or uncaught error in the runtime log', p.slice(0, 300));
  const otherErrors = log.split('\n').filter((l) =>
    /error|exception|warn/i.test(l) && !l.startsWith('{"event"') && !/Request\.cf|workers\.cloudflare\.com|cf\.json/i.test(l));

  // Every room used is empty again: no stored rows, no alarm (workerd's SQLite files, read-only).
  const st0 = performance.now();
  const storage = Object.values(roomStorage(stack.state));
  const stMs = performance.now() - st0;
  const leftRows = storage.filter((s) => s.rows > 0).length;
  const leftAlarms = storage.filter((s) => s.alarm).length;
  if (leftRows) fail('storage left behind by an emptied room', `${leftRows} objects with rows`);
  if (leftAlarms) fail('alarm left behind by an emptied room', `${leftAlarms} objects with an alarm`);

  // ---- report ----
  const idle = samples.filter((s) => s.label.startsWith('idle'));
  const end = samples.at(-1);
  const peak = samples.reduce((a, s) => (s.runtime > a.runtime ? s : a));
  const minIdle = idle.reduce((a, s) => (s.runtime < a.runtime ? s : a), end);
  const kib = (x) => `${x.toLocaleString('en-US')} KiB`;
  const delta = (x) => `${x >= 0 ? '+' : ''}${x.toLocaleString('en-US')} KiB (${((100 * x) / startSample.runtime).toFixed(1)} %)`;
  console.log(`\nphase 1, join/leave: ${CYCLES} cycles in fresh rooms (${CONCURRENCY} at a time) in ${p1s.toFixed(1)} s (${(CYCLES / p1s).toFixed(1)} cycles/s)`);
  console.log(`  ${cpuPhase1}; connect + welcome ms: p50 ${joinsPhase1.p50}  p99 ${joinsPhase1.p99}  max ${joinsPhase1.max}`);
  const dp = percentiles(dropToPeerLeft.slice(dropSamplesBefore));
  console.log(`  ${counts.dropPeerLeft - dropsBefore} drops without leave; drop → peerLeft (grace ${GRACE_MS / 1000} s) ms: p50 ${dp.p50}  p99 ${dp.p99}  max ${dp.max}`);
  console.log(`\nphase 2, alarms: ${LANES} lanes × ${LANE_CYCLES} cycles in ${p2s.toFixed(1)} s; ${cpuPhase2}`);
  const g = percentiles(alarm.grace);
  const j = percentiles(alarm.joinTimeout);
  console.log(`  grace expiry:  ${alarm.graceFired} alarms fired (peerLeft at the anchor); drop → peerLeft ms: p50 ${g.p50}  p90 ${g.p90}  p99 ${g.p99}  max ${g.max}`);
  console.log(`  join timeout:  ${alarm.joinTimeoutFired} alarms fired (4008 close);       connect → 4008 ms: p50 ${j.p50}  p90 ${j.p90}  p99 ${j.p99}  max ${j.max}`);
  console.log(`  alarms fired in total: ${alarm.graceFired + alarm.joinTimeoutFired} of ${LANES * LANE_CYCLES}`);
  console.log(`\nall phases (warm-up included): ${counts.joins} joins, ${counts.leaves} leaves, ${counts.drops} drops; signals ${counts.signalsDelivered} delivered of ${counts.signalsSent} sent`);
  console.log(`  runtime log: grace_expired ${graceLogged} (drops ${graceExpected}), 4008 closes ${jt} (observed ${jtObserved}), room_cleared ${cleared}, room_loaded ${loaded} (rooms used ${roomsUsed})`);
  console.log(`  storage after idle: ${storage.length} Room objects on disk, ${leftRows} with rows, ${leftAlarms} with an alarm (read in ${(stMs / 1000).toFixed(1)} s)`);
  console.log(`  runtime log: ${panics.length} panic/uncaught lines, ${otherErrors.length} other error/warning lines${otherErrors.length ? `, e.g. ${otherErrors.slice(0, 3).map((l) => JSON.stringify(l.slice(0, 160))).join(' ')}` : ''}`);

  console.log('\nmemory (VmRSS, KiB) of the runtime workerd and the wrangler dev proxy (local only):');
  printSamples();
  console.log(`\n  runtime: start ${kib(startSample.runtime)}, peak ${kib(peak.runtime)} (${peak.label}), end ${kib(end.runtime)}, lowest while idle ${kib(minIdle.runtime)}`);
  console.log(`  runtime end − start: ${delta(end.runtime - startSample.runtime)}; lowest idle − start: ${delta(minIdle.runtime - startSample.runtime)}`);
  console.log(`  proxy end − start: ${(end.proxy - startSample.proxy).toLocaleString('en-US')} KiB; runtime fds start ${startSample.fds}, end ${end.fds}`);
  // Growth per cycle over the second half of each phase, once the phase's own concurrency has
  // been reached: a leak grows with cycles, a high-water mark does not.
  for (const [prefix, what] of [['join/leave', 'join/leave cycle'], ['alarm', 'alarm cycle']]) {
    const ph = samples.filter((x) => x.label.startsWith(`${prefix} `));
    if (ph.length < 2) continue;
    const mid = ph[Math.floor((ph.length - 1) / 2)];
    const last = ph.at(-1);
    const n = Number(last.label.split(' ')[1]) - Number(mid.label.split(' ')[1]);
    const per = (k) => `${(((last[k] - mid[k]) * 1024) / n).toFixed(0)} B`;
    console.log(`  second half of the ${prefix} phase (${mid.label} → ${last.label}): runtime ${per('runtime')} per ${what}, proxy ${per('proxy')}`);
  }
  console.log('  (nothing was forced: V8 collects garbage when it chooses, and workerd may keep pages it has freed)');
} catch (e) {
  fail('run aborted', e.message);
  console.error(`\nrun aborted at ${secs()} s: ${e.stack}`);
} finally {
  clearTimeout(hardStop);
  clearInterval(restartWatch);
  await stack.stop();
}

console.log(`\ncorrectness: ${failures.size ? 'FAILED' : 'OK (no lost, misrouted, duplicated or unexpected message; every alarm fired; no panic; emptied rooms left nothing)'}`);
for (const [kind, f] of failures) console.log(`  ${kind}: ${f.count}${f.examples.length ? ` — e.g. ${f.examples.join('; ')}` : ''}`);
console.log(`total ${secs()} s`);
if (failures.size) exitCode = 1;
process.exit(exitCode);
