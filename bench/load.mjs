// Load: N rooms × 4 peers run a realistic signaling script at once against the local runtime
// (`wrangler dev`, workerd) and, with --peerjs, the same workload against PeerJS server (npm
// `peer`) in the same run, side by side. Prints figures and Pinhole/PeerJS ratios.
// Run (after `make worker`): node bench/load.mjs [--rooms 200] [--peerjs] [--baseline]
//      [--ramp-seconds 30] [--cap-seconds 240] [--via proxy|runtime] [--no-deflate]
// --baseline also runs the workload against bench/baseline/, the smallest JavaScript Durable
// Object that relays by addressee (no validation, limits or resume): the floor the Durable
// Object design sets on this machine, under the same runtime and the same --via/--no-deflate.
// --via runtime connects Pinhole's clients to the runtime workerd's own port instead of wrangler
// dev's public one, skipping the dev proxy (never present in production). --no-deflate makes the
// clients not offer permessage-deflate (browsers always offer it; workerd accepts it, PeerJS
// server declines it), to show what compression costs.
// Script per room: all 4 peers join; for each of the 6 pairs the lower peer sends an offer
// (~2.5 KB SDP) and trickles 20 ICE candidates (one per 20 ms); the other answers on the offer
// and trickles 20 back; when every message of the room has arrived, all 4 leave. Room starts
// are spread evenly over --ramp-seconds (0 = all at once, flat out). Every payload carries a
// unique id, its room and its addressee, so lost, duplicated, misrouted and cross-room
// messages are counted. Bounded by --rooms and by --cap-seconds per server.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { startWorker, roomCode } from '../tests/support/stack.mjs';
import {
  PINHOLE_BENCH, BASELINE,
  WebSocket, percentiles, rssKiB, cpuSeconds, workerdPids, assertSameRuntime, machineHeader, candidate, joinPinhole, leavePinhole, pool, sleep,
  startPeerServer, runtimeEntry,
} from './lib.mjs';

const { values: opt } = parseArgs({
  options: {
    rooms: { type: 'string', default: '200' },
    peerjs: { type: 'boolean', default: false },
    baseline: { type: 'boolean', default: false },
    'ramp-seconds': { type: 'string', default: '30' },
    'cap-seconds': { type: 'string', default: '240' },
    via: { type: 'string', default: 'proxy' },
    'no-deflate': { type: 'boolean', default: false },
  },
});
const ROOMS = Number(opt.rooms);
const RAMP_MS = Number(opt['ramp-seconds']) * 1000;
const CAP_MS = Number(opt['cap-seconds']) * 1000;
const DEFLATE = !opt['no-deflate'];
if (!['proxy', 'runtime'].includes(opt.via)) throw new Error('--via is proxy or runtime');
const PEERS = 4;
const CANDIDATES = 20;
const TRICKLE_MS = 20;
const CONNECT_CONCURRENCY = 16; // rooms joining at once; each room's peers join one by one
const PAIRS = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]];
const PER_ROOM = PAIRS.length * 2 * (1 + CANDIDATES);
const SDP = `v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n${'a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\r\n'.repeat(20)}`;

/** Pinhole: rooms are Durable Objects; a signal names its addressee, the server stamps `from`.
 * The baseline Worker speaks enough of the same protocol to run the same clients. */
async function durableObjectServer(name, workerOptions) {
  const stack = await startWorker(workerOptions);
  const base = opt.via === 'runtime' ? (await runtimeEntry(workerdPids().runtime)).replace(/^http/, 'ws') : null;
  return {
    name,
    pids: () => {
      const p = workerdPids();
      return { server: p.runtime, proxy: p.proxy, check: () => assertSameRuntime(p) };
    },
    room: () => (base ? `${base}/ws/${roomCode('load')}` : stack.wsUrl(roomCode('load'))),
    async join(room, onSignal, onOther) {
      const peer = await joinPinhole(room, (m) => (m.type === 'signal' ? onSignal(m.from, m.data) : onOther(m)), { deflate: DEFLATE });
      return {
        id: peer.id,
        extensions: peer.ws.extensions,
        signal: (to, kind, data) => peer.send({ type: 'signal', to, data: { kind, ...data } }),
        keepAlive: () => peer.ws.readyState === WebSocket.OPEN && peer.ws.send('ping'),
        leave: () => leavePinhole(peer),
      };
    },
    log: () => stack.log(),
    stop: () => stack.stop(),
  };
}

/** PeerJS: one flat namespace of client-chosen ids; `{type, dst, payload}` is relayed with `src`. */
async function peerjsServer() {
  const srv = await startPeerServer();
  const KIND = { offer: 'OFFER', answer: 'ANSWER', candidate: 'CANDIDATE' };
  return {
    name: 'PeerJS',
    pids: () => ({ server: srv.pid }),
    room: () => randomBytes(4).toString('hex'),
    join: (room, onSignal, onOther) =>
      new Promise((resolve, reject) => {
        const id = `${room}-${randomBytes(6).toString('hex')}`;
        const ws = new WebSocket(srv.url(id, randomBytes(8).toString('hex')), { perMessageDeflate: DEFLATE });
        const send = (o) => ws.send(JSON.stringify(o));
        ws.once('error', reject);
        ws.on('message', (raw) => {
          const m = JSON.parse(raw.toString());
          if (m.type === 'OPEN') {
            return resolve({
              id,
              extensions: ws.extensions,
              signal: (dst, kind, data) => send({ type: KIND[kind], dst, payload: { kind, ...data } }),
              keepAlive: () => ws.readyState === WebSocket.OPEN && send({ type: 'HEARTBEAT' }),
              leave: () =>
                new Promise((done) => {
                  if (ws.readyState !== WebSocket.OPEN) return done();
                  ws.once('close', done);
                  ws.close(1000);
                }),
            });
          }
          if (m.payload?.kind) onSignal(m.src, m.payload);
          else onOther(m);
        });
      }),
    stop: () => srv.stop(),
  };
}

async function run(server) {
  const stats = { delivered: 0, duplicated: 0, misrouted: 0, crossRoom: 0, otherFrames: 0 };
  const seen = new Set();
  const oneWay = [];
  const byKind = { offer: [], answer: [], candidate: [] };
  let firstSend = Infinity, lastDelivery = 0;
  const rooms = [];

  /** Sends `kind` from `src` to `dst` in room `r`; `n` numbers the message within its direction. */
  const send = (r, src, dst, kind, n, body) => {
    const room = rooms[r];
    const t = performance.now();
    firstSend = Math.min(firstSend, t);
    room.peers[src].signal(room.peers[dst].id, kind, { r, src, dst, mid: `${r}.${src}.${dst}.${n}`, t, ...body });
  };
  const trickle = (r, src, dst) => {
    for (let n = 1; n <= CANDIDATES; n++) {
      setTimeout(() => rooms[r].live && send(r, src, dst, 'candidate', n, candidate({})), n * TRICKLE_MS);
    }
  };
  const onSignal = (r, me) => (from, d) => {
    const room = rooms[r];
    const now = performance.now();
    if (d.r !== r) return stats.crossRoom++;
    if (d.dst !== me || from !== room.peers[d.src]?.id) return stats.misrouted++;
    if (seen.has(d.mid)) return stats.duplicated++;
    seen.add(d.mid);
    stats.delivered++;
    lastDelivery = now;
    oneWay.push(now - d.t);
    byKind[d.kind].push(now - d.t);
    if (d.kind === 'offer') {
      send(r, me, d.src, 'answer', 0, { sdp: SDP });
      trickle(r, me, d.src);
    }
    if (++room.received === PER_ROOM) room.finish();
  };

  // Warm up first (module instantiation, JIT, first Durable Object), so that the idle
  // baseline is a server that has already served a room.
  const warm = server.room();
  const w = [await server.join(warm, () => {}, () => {}), await server.join(warm, () => {}, () => {})];
  w[0].signal(w[1].id, 'candidate', {});
  await Promise.all(w.map((p) => p.leave()));
  await sleep(1000);

  const { check = () => {}, ...pids } = server.pids();
  const each = (f) => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, f(pid)]));
  const rss = () => each(rssKiB);
  const cpu = () => {
    const own = process.cpuUsage();
    return { ...each(cpuSeconds), client: (own.user + own.system) / 1e6 };
  };
  const baseline = rss();
  // Keep-alive from the first connect, as browsers do (every 20 s): Pinhole closes a socket
  // silent for 60 s, and joining 800 sockets can take longer than that here.
  const keepAlive = setInterval(() => rooms.forEach((room) => room?.peers.forEach((p) => p.keepAlive())), 20_000);
  const joinMs = [];
  const connectStart = performance.now();
  await pool(Array.from({ length: ROOMS }, (_, r) => r), CONNECT_CONCURRENCY, async (r) => {
    const key = server.room();
    const room = { peers: [], received: 0, live: true };
    rooms[r] = room;
    room.done = new Promise((resolve) => (room.finish = resolve));
    for (let i = 0; i < PEERS; i++) {
      const t = performance.now();
      room.peers.push(await server.join(key, onSignal(r, i), () => stats.otherFrames++));
      joinMs.push(performance.now() - t);
    }
  });
  const connectSeconds = (performance.now() - connectStart) / 1000;
  await sleep(2000); // let the join traffic settle before reading memory
  const connected = rss();
  const cpuBefore = cpu();

  let capTimer;
  const cap = new Promise((resolve) => (capTimer = setTimeout(resolve, CAP_MS, 'cap')));
  const scripts = rooms.map(async (room, r) => {
    await sleep(ROOMS > 1 ? (RAMP_MS * r) / (ROOMS - 1) : 0);
    for (const [a, b] of PAIRS) {
      send(r, a, b, 'offer', 0, { sdp: SDP });
      trickle(r, a, b);
    }
    await room.done;
    room.live = false;
    await Promise.all(room.peers.map((p) => p.leave()));
  });
  const outcome = await Promise.race([Promise.all(scripts).then(() => 'done'), cap]);
  const allLeft = (performance.now() - firstSend) / 1000;
  clearTimeout(capTimer);
  clearInterval(keepAlive);
  rooms.forEach((room) => (room.live = false));
  if (outcome === 'cap') await Promise.all(rooms.flatMap((room) => room.peers.map((p) => p.leave())));

  check();
  const cpuAfter = cpu();
  const cpuUsed = Object.fromEntries(Object.keys(cpuAfter).map((k) => [k, (cpuAfter[k] - cpuBefore[k]).toFixed(1)]));
  const expected = ROOMS * PER_ROOM;
  const seconds = (lastDelivery - firstSend) / 1000;
  const perConn = (k) => (((connected[k] - baseline[k]) * 1024) / (ROOMS * PEERS)).toFixed(0);
  return {
    name: server.name, outcome, expected, ...stats, lost: expected - stats.delivered,
    connectSeconds: connectSeconds.toFixed(1), join: percentiles(joinMs), allLeft: allLeft.toFixed(1), seconds: seconds.toFixed(2),
    msgsPerSecond: Math.round(stats.delivered / seconds), offeredPerSecond: RAMP_MS ? Math.round(expected / (RAMP_MS / 1000)) : 'flat out',
    latency: percentiles(oneWay), byKind: Object.fromEntries(Object.entries(byKind).map(([k, xs]) => [k, percentiles(xs)])), baseline, connected, cpuUsed, extensions: rooms[0]?.peers[0]?.extensions,
    bytesPerConn: perConn('server'), proxyBytesPerConn: connected.proxy ? perConn('proxy') : undefined,
  };
}

function report(x) {
  console.log(`\n${x.name}: ${ROOMS} rooms × ${PEERS} peers, ${x.expected} signals expected (${x.outcome === 'cap' ? 'CAP REACHED' : 'completed'})`);
  console.log(`  clients ${DEFLATE ? 'offer' : 'do not offer'} permessage-deflate; negotiated: ${x.extensions || 'none'}${x.name !== 'PeerJS' ? `; connected via ${opt.via === 'runtime' ? 'the runtime workerd directly' : 'wrangler dev\'s proxy'}` : ''}`);
  console.log(`  joined all ${ROOMS * PEERS} sockets in ${x.connectSeconds} s (${CONNECT_CONCURRENCY} rooms joining at a time); connect + welcome ms: p50 ${x.join.p50}  p99 ${x.join.p99}`);
  console.log(`  delivered ${x.delivered}, lost ${x.lost}, duplicated ${x.duplicated}, misrouted ${x.misrouted}, cross-room ${x.crossRoom}; other frames ${x.otherFrames}`);
  console.log(`  last room left ${x.allLeft} s after the first signal`);
  console.log(`  throughput ${x.msgsPerSecond} msg/s over ${x.seconds} s (offered: ${x.offeredPerSecond}${RAMP_MS ? ' msg/s on average' : ''})`);
  const l = x.latency;
  console.log(`  one-way relay latency, ms: p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  max ${l.max}`);
  // Offers are each room's first signals after its peers joined, up to --ramp-seconds earlier:
  // a room idle that long may have hibernated, and its first event rebuilds it.
  for (const [kind, k] of Object.entries(x.byKind)) {
    console.log(`    ${kind} (${k.n}): p50 ${k.p50}  p90 ${k.p90}  p99 ${k.p99}  max ${k.max}`);
  }
  const c = x.cpuUsed;
  console.log(`  CPU seconds during the script: server ${c.server}${c.proxy ? `, wrangler dev proxy ${c.proxy}` : ''}, load generator ${c.client}`);
  console.log(`  server RSS KiB: idle ${x.baseline.server}, with ${ROOMS * PEERS} idle sockets ${x.connected.server} → ${x.bytesPerConn} B per connection`);
  if (x.proxyBytesPerConn) {
    console.log(`  wrangler dev proxy RSS KiB (local only): idle ${x.baseline.proxy}, connected ${x.connected.proxy} → ${x.proxyBytesPerConn} B per connection`);
  }
}

// TMPDIR decides where the runtime keeps its state (e.g. /dev/shm: tmpfs), so it is part of the command.
const env = process.env.TMPDIR ? `TMPDIR=${process.env.TMPDIR} ` : '';
console.log(machineHeader(`${env}node bench/load.mjs ${process.argv.slice(2).join(' ')}`.trim()));
const results = [];
const servers = [() => durableObjectServer('Pinhole', PINHOLE_BENCH)];
if (opt.baseline) servers.push(() => durableObjectServer('Baseline DO', BASELINE));
if (opt.peerjs) servers.push(peerjsServer);
for (const start of servers) {
  const server = await start();
  // Everything is bounded: the script phase by --cap-seconds, the whole server run by this.
  const wall = setTimeout(() => {
    console.error(`${server.name}: wall-clock cap reached; runtime log tail:\n${server.log?.().slice(-3000) ?? ''}`);
    server.stop().finally(() => process.exit(2));
  }, CAP_MS + 180_000);
  try {
    results.push(await run(server));
  } catch (e) {
    console.error(`${server.name}: ${e.message}\n${server.log?.().slice(-3000) ?? ''}`);
    throw e;
  } finally {
    clearTimeout(wall);
    await server.stop();
  }
  report(results.at(-1));

}
const ratio = (a, b) => (Number(a) / Number(b)).toFixed(2);
for (const other of results.slice(1)) {
  const p = results[0];
  console.log(`\nPinhole / ${other.name} (latency and memory: lower is better; throughput: higher is better):`);
  console.log(`  p50 latency ${ratio(p.latency.p50, other.latency.p50)}, p99 latency ${ratio(p.latency.p99, other.latency.p99)}`);
  console.log(`  throughput ${ratio(p.msgsPerSecond, other.msgsPerSecond)}`);
  console.log(`  memory per idle connection ${ratio(p.bytesPerConn, other.bytesPerConn)} (runtime workerd only; the dev proxy excluded)`);
}
