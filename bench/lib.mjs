// Shared helpers for the benchmarks in bench/: percentiles, process memory, the machine
// header, a minimal protocol-v1 client and a PeerJS server child. Loopback only.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, totalmem, loadavg } from 'node:os';
import WebSocket from 'ws';
import { ROOT, freePort, waitFor, fakeIp } from '../tests/support/stack.mjs';

export { WebSocket };

/** `startWorker` options for Pinhole in a benchmark: the per-socket message bucket at its
 * maximum, so it never limits or drops a benchmark message (docs/PERFORMANCE.md). */
export const PINHOLE_BENCH = { vars: { MSG_RATE_PER_SECOND: '1000', MSG_BURST: '10000' } };

/** `startWorker` options for the smallest Durable Object relay, bench/baseline/. */
export const BASELINE = { config: join(ROOT, 'bench', 'baseline', 'wrangler.toml') };

/** Nearest-rank percentiles of `xs` (milliseconds), as fixed-point strings. */
export function percentiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  const f = (x) => (x === undefined ? 'n/a' : x.toFixed(3));
  return { n: s.length, p50: f(at(50)), p90: f(at(90)), p99: f(at(99)), max: f(s.at(-1)) };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

/** Resident set size of a process in KiB, from /proc/<pid>/status. */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(procFile(pid, 'status'));
  return m ? Number(m[1]) : NaN;
}

/** /proc/<pid>/<name>, or '' when the process is gone (e.g. wrangler restarted it). */
function procFile(pid, name) {
  try {
    return readFileSync(`/proc/${pid}/${name}`, 'utf8');
  } catch {
    return '';
  }
}

/** Open file descriptors of a process (sockets included), or NaN when it is gone. */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) a process has used, in seconds (clock ticks are 1/100 s on Linux). */
export function cpuSeconds(pid) {
  const stat = procFile(pid, 'stat');
  if (!stat) return NaN;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** Processes descended from this one, as `{pid, comm, args}`. */
function descendants() {
  const procs = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // comm may contain spaces; the fields after the closing parenthesis are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const args = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ');
      procs.push({ pid: Number(d), ppid, comm, args });
    } catch {
      // exited while we looked
    }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) if (!mine.has(p.pid) && mine.has(p.ppid)) (mine.add(p.pid), (grew = true));
  }
  return procs.filter((p) => p.pid !== process.pid && mine.has(p.pid));
}

/**
 * Throws unless the workerd processes are the ones in `pids`: `wrangler dev` restarts its
 * runtime when build/ changes under it (another build on this machine), dropping every socket,
 * and a run that spans a restart measures nothing meaningful.
 */
export function assertSameRuntime(pids) {
  const now = workerdPids();
  if (now.runtime !== pids.runtime || now.proxy !== pids.proxy) {
    throw new Error('wrangler dev restarted workerd during the run (build/ changed?); discard this run');
  }
}

/**
 * The two workerd processes `wrangler dev` runs for us: `runtime` (the user worker and its
 * Durable Objects; started with an inspector) and `proxy` (wrangler's dev proxy on the public
 * port, which every request and WebSocket frame also crosses locally, never in production).
 */
export function workerdPids() {
  const w = descendants().filter((p) => p.comm === 'workerd');
  return {
    runtime: w.find((p) => p.args.includes('--inspector-addr'))?.pid,
    proxy: w.find((p) => !p.args.includes('--inspector-addr'))?.pid,
  };
}

/** Date, machine and load, printed at the top of every run so PERFORMANCE.md can cite it. */
export function machineHeader(command) {
  const [l1, l5, l15] = loadavg().map((x) => x.toFixed(2));
  const wd = JSON.parse(readFileSync(`${ROOT}/node_modules/@cloudflare/workerd-linux-64/package.json`, 'utf8'));
  return [
    `command: ${command}`,
    `date: ${new Date().toISOString()}`,
    `machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `load average (1/5/15 min) at start: ${l1} ${l5} ${l15}`,
    `node ${process.version}, workerd ${wd.version}`,
  ].join('\n');
}

/** An ICE-candidate-like signal payload (~300 bytes as JSON) carrying routing checks. */
export function candidate(fields) {
  return {
    candidate:
      'candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.12 rport 46154 generation 0 ufrag Zx9b network-id 1 network-cost 10',
    sdpMid: '0',
    sdpMLineIndex: 0,
    usernameFragment: 'Zx9b',
    ...fields,
  };
}

/**
 * A protocol-v1 peer on a raw socket: `onMessage(msg)` gets every parsed server frame after
 * the welcome. Lighter than tests/support/client.mjs, whose inbox search is O(n) per message.
 */
export function joinPinhole(url, onMessage = () => {}, { deflate = true } = {}) {
  return new Promise((resolve, reject) => {
    // `ws` offers permessage-deflate like a browser does, and workerd accepts it.
    const ws = new WebSocket(url, { headers: { 'cf-connecting-ip': fakeIp() }, perMessageDeflate: deflate });
    const peer = { ws, id: undefined, send: (o) => ws.send(JSON.stringify(o)) };
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    ws.once('close', (code) => reject(new Error(`closed ${code} before welcome`)));
    ws.once('open', () => peer.send({ type: 'join', v: 1 }));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text === 'pong') return;
      const msg = JSON.parse(text);
      if (!peer.id) {
        if (msg.type !== 'welcome') return reject(new Error(`expected welcome, got ${text}`));
        peer.id = msg.id;
        peer.welcome = msg;
        return resolve(peer);
      }
      onMessage(msg);
    });
  });
}

/** Graceful leave; resolves when the server has closed the socket (or after 5 s). */
export function leavePinhole(peer) {
  return new Promise((resolve) => {
    if (peer.ws.readyState !== WebSocket.OPEN) return resolve();
    const t = setTimeout(() => (peer.ws.terminate(), resolve()), 5000);
    peer.ws.once('close', () => (clearTimeout(t), resolve()));
    peer.send({ type: 'leave' });
  });
}

/**
 * PeerJS server (npm `peer`, default options) in its own Node process on a free loopback
 * port, so its RSS can be read apart from the load generator's.
 */
export async function startPeerServer() {
  const port = await freePort();
  const code = `import { PeerServer } from 'peer';
PeerServer({ host: '127.0.0.1', port: ${port} }, () => console.log('ready'));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error('PeerJS server exited');
    return out.includes('ready');
  }, { what: 'PeerJS server to listen' });
  return {
    port,
    pid: child.pid,
    url: (id, token) => `ws://127.0.0.1:${port}/peerjs?key=peerjs&id=${id}&token=${token}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export { waitFor };

/**
 * The runtime workerd's own HTTP entry (`http://127.0.0.1:<port>`), found among the ports the
 * `runtime` process listens on as the one that answers GET /health. Connecting here skips
 * wrangler dev's proxy (a second workerd that every frame crosses locally and never in
 * production).
 */
export async function runtimeEntry(runtimePid) {
  const ss = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' });
  const ports = [...ss.matchAll(new RegExp(`127\\.0\\.0\\.1:(\\d+) .*pid=${runtimePid},`, 'g'))].map((m) => m[1]);
  for (const port of ports) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) })
      .then((r) => r.ok, () => false);
    if (ok) return `http://127.0.0.1:${port}`;
  }
  throw new Error(`no /health among the runtime's ports ${ports.join(', ')}`);
}
