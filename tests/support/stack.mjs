// The local stack for every Node tier and the benchmarks: a real `wrangler dev` (workerd) on a
// free loopback port with its own state directory and vars (coturn: ./coturn.mjs), and what
// the tiers share: polling with a deadline, free ports, temp directories, room codes, and
// readers for the runtime's log and storage.
// Every process runs in its own process group and is killed as a group, so no stale server
// outlives a test run.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync, existsSync, readdirSync, renameSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes, randomInt } from 'node:crypto';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'node_modules', '.bin');

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function waitFor(check, { timeout = 10_000, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A free TCP port on 127.0.0.1 (also checked free for UDP when `udp` is set). */
export async function freePort({ udp = false } = {}) {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    if (!udp) return port;
    const ok = await new Promise((resolve) => {
      const s = createSocket('udp4');
      s.on('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

const tempDirs = [];
/** A fresh directory under the system temp dir, removed by cleanupTempDirs(). */
export function tempDir(tag) {
  const d = mkdtempSync(join(tmpdir(), `pinhole-${tag}-`));
  tempDirs.push(d);
  return d;
}
/** Removes the directories tempDir() made (call once every process using them has stopped). */
export function cleanupTempDirs() {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A fresh random room code per test. */
export function roomCode(prefix = 't') {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** A client IP for the `cf-connecting-ip` header, so each test has its own rate-limit bucket
 * (workerd locally takes the header as given; in production Cloudflare sets it). These are
 * benchmarking-range addresses used only as header values; no traffic goes to them. */
export function fakeIp() {
  return `198.18.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

/** A random IPv6 /64 in the documentation range; `host(n)` is an address in it. */
export function fakeIpv6Net() {
  const hex = () => randomInt(0, 0x10000).toString(16);
  const prefix = `2001:db8:${hex()}:${hex()}`;
  return { prefix, host: (n) => `${prefix}:${hex()}:${hex()}:${hex()}:${(n & 0xffff).toString(16)}` };
}

// The rate limiter counts in fixed windows aligned to the clock (Math.floor(now / period)), as
// Cloudflare's and Miniflare's simple limiters do: a run of requests that straddles a window
// boundary legitimately sees a fresh quota half-way. Runs `attempt` (which must use a fresh key,
// e.g. fakeIp(), each time) and, only if a boundary passed while it ran, runs it once more.
export async function inOneRateWindow(attempt, periodSeconds = 60) {
  const windowNow = () => Math.floor(Date.now() / (periodSeconds * 1000));
  for (let tries = 0; ; tries++) {
    const start = windowNow();
    try {
      return await attempt();
    } catch (err) {
      if (tries > 0 || windowNow() === start) throw err;
    }
  }
}

// Process groups still running; killed when this process exits however it exits, so a crashed
// test or benchmark never leaves a workerd or coturn behind.
const live = new Set();
process.on('exit', () => {
  for (const child of live) signalGroup(child, 'SIGKILL');
});
// 'exit' does not run when a signal ends the process, so handle the usual ones too (an orphaned
// workerd can keep spinning a core).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    for (const child of live) signalGroup(child, 'SIGKILL');
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
  });
}

/** Spawns `command` in a process group of its own (`options` as for spawn), killed when this
 * process exits. */
export function spawnGroup(command, args, options = {}) {
  const child = spawn(command, args, { ...options, detached: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Sends `signal` to the whole process group of `child` (ignored when it is gone). */
export function signalGroup(child, signal = 'SIGTERM') {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group has already exited
  }
}

async function exited(child, timeout) {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  let timer;
  const result = await Promise.race([
    new Promise((r) => child.once('exit', () => r(true))),
    new Promise((r) => (timer = setTimeout(() => r(false), timeout))),
  ]);
  clearTimeout(timer);
  return result;
}

/** Ends the process group of `child`: SIGTERM (after a SIGCONT, in case it was paused), then
 * SIGKILL if it has not exited within `grace` ms. */
export async function stopGroup(child, grace) {
  signalGroup(child, 'SIGCONT');
  signalGroup(child);
  if (!(await exited(child, grace))) {
    signalGroup(child, 'SIGKILL');
    await exited(child, 5000);
  }
}

/**
 * Starts `wrangler dev` on a free port with its own persisted state and vars.
 * `vars` are written to an env file (never on a command line). Returns helpers to reach it,
 * restart it (the deploy case: every object restarts, storage survives) and stop it.
 *
 * The network lab (tests/network/) runs it elsewhere: `netns` (a network namespace it runs in),
 * `ip` (the address it listens on, default 127.0.0.1), `host` (the name in its URLs, default
 * `ip`), `https` ({ cert, key, ca } PEM paths: serve HTTPS with that certificate; `ca` lets the
 * health check verify it). With `netns` the health check runs inside the namespace too.
 */
export async function startWorker({ vars = {}, port, config: otherConfig, netns, ip = '127.0.0.1', host = ip, https } = {}) {
  if (!otherConfig && !existsSync(join(ROOT, 'build', 'index.js'))) throw new Error('build/ is missing: run `make worker` first');
  const dir = mkdtempSync(join(tmpdir(), 'pinhole-dev-'));
  const state = join(dir, 'state');
  mkdirSync(state);
  const envFile = join(dir, 'vars.env');
  writeFileSync(envFile, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
  port ??= await freePort();
  const inspector = await freePort();
  // The tests run the prebuilt bundle: a copy of wrangler.toml without [build], so editing src/
  // while a suite runs never rebuilds or reloads the Worker under it.
  // `config` (another wrangler.toml, e.g. the benchmarks' baseline Worker) is used as it is.
  const config = otherConfig ?? join(ROOT, '.wrangler.test.toml');
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8').replace(/^\[build\]\n(?:(?!\[).*\n)*/m, '');
  if (!otherConfig && (!existsSync(config) || readFileSync(config, 'utf8') !== toml)) {
    const tmp = `${config}.${process.pid}`;
    writeFileSync(tmp, toml);
    renameSync(tmp, config); // atomic: parallel suites may write it at the same moment
  }
  let child;
  let output = '';
  let allOutput = '';
  const base = `${https ? 'https' : 'http'}://${host}:${port}`;

  // workerd binds some ports of its own, picked at random; rarely one is taken by then (by a
  // browser or another runtime on this machine) and workerd gives up. Start again, a few times.
  async function start() {
    for (let attempt = 1; ; attempt++) {
      const clash = await startOnce();
      if (!clash) return;
      await stopGroup(child, 10_000);
      if (attempt === 3) throw new Error(`wrangler dev could not bind its ports:\n${output.slice(-3000)}`);
    }
  }

  async function startOnce() {
    output = '';
    const args = ['dev', '--config', config, '--ip', ip, '--port', String(port), '--inspector-port', String(inspector),
      '--persist-to', state, '--env-file', envFile, '--show-interactive-dev-session=false', '--log-level', 'log',
      ...(https ? ['--local-protocol', 'https', '--https-key-path', https.key, '--https-cert-path', https.cert] : [])];
    child = spawnGroup(
      netns ? 'ip' : join(BIN, 'wrangler'),
      netns ? ['netns', 'exec', netns, join(BIN, 'wrangler'), ...args] : args,
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true', FORCE_COLOR: '0' },
      },
    );
    const onData = (d) => {
      output += d;
      allOutput += d;
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const c = child;
    const up = await waitFor(
      async () => {
        if (/Address already in use/.test(output)) return 'clash';
        if (c.exitCode !== null) throw new Error(`wrangler dev exited:\n${output.slice(-3000)}`);
        if (netns) return probeIn(netns, `${base}/health`, https?.ca);
        const r = await fetch(`${base}/health`);
        return r.ok;
      },
      { timeout: 120_000, interval: 100, what: 'wrangler dev to answer /health' },
    );
    return up === 'clash';
  }

  async function stop() {
    if (!child) return;
    await stopGroup(child, 10_000);
    child = undefined;
  }

  await start();
  return {
    port,
    /** wrangler dev's DevTools inspector port (Chrome DevTools Protocol; e.g. CPU profiles). */
    inspectorPort: inspector,
    /** wrangler's --persist-to directory (Durable Object SQLite files live under it). */
    state,
    url: base,
    wsUrl: (code) => `${https ? 'wss' : 'ws'}://${host}:${port}/ws/${code}`,
    /** Everything the runtime printed since the first start. */
    log: () => allOutput,
    /** The Worker's `{"event":…}` log lines so far, parsed (see logEvents). */
    events: (name, fields) => logEvents(allOutput, name, fields),
    /** The env file the vars are read from at every (re)start (`KEY=value` lines, like .dev.vars),
     * e.g. for `turn/rotate-secret --local --dev-vars`. */
    envFile,
    /** Replaces the vars; they take effect at the next restart(), as a deploy would. */
    setVars(next) {
      writeFileSync(envFile, Object.entries(next).map(([k, v]) => `${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
    },
    async restart() {
      await stop();
      await start();
    },
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True when GET `url` answers 2xx from inside network namespace `netns` (a short-lived node
 * there; `ca`: a PEM file of extra trusted CAs). */
function probeIn(netns, url, ca) {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e',
      'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))', url],
    { stdio: 'ignore', env: { ...process.env, ...(ca ? { NODE_EXTRA_CA_CERTS: ca } : {}) } });
    p.on('exit', (code) => resolve(code === 0));
  });
}

/**
 * The Worker's metadata log lines (`{"event":<name>,…}`, one JSON object a line) in `log`,
 * parsed, in order: those named `name` (all when it is omitted) whose fields equal every one of
 * `fields`, e.g. `logEvents(log, 'grace_start', { room: tag })`. A last line still being
 * written (no newline yet) is left for the next read.
 */
export function logEvents(log, name, fields = {}) {
  const prefix = name === undefined ? '{"event":' : `{"event":${JSON.stringify(name)}`;
  const want = Object.entries(fields);
  return log
    .split('\n')
    .slice(0, -1)
    .filter((l) => l.startsWith(prefix))
    .map((l) => JSON.parse(l))
    .filter((e) => want.every(([k, v]) => e[k] === v));
}

/** Lines in the runtime log that mean the WASM instance panicked or hit an unhandled error. */
export function panicsIn(log) {
  return log
    .split('\n')
    .filter((l) => /panicked at|RuntimeError: unreachable|unreachable executed|Uncaught|workerd\/.*error/i.test(l));
}

/**
 * What a Room Durable Object has stored, read from workerd's SQLite files under `state`:
 * `{ rows, alarm, alarmAt }` per object id (file name; `alarmAt` in ms since the epoch, when an
 * alarm is set). Read-only; workerd keeps writing meanwhile.
 * Two sqlite3 processes in all, however many objects, so a soak's thousand rooms take seconds.
 */
export function roomStorage(state) {
  const dir = join(state, 'v3', 'do', 'pinhole-Room');
  if (!existsSync(dir)) return {};
  const ids = readdirSync(dir).filter((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite').map((f) => f.slice(0, -7));
  // File names are object ids (hex) minted by workerd, so they are safe inside the script.
  const open = (file) => `.open --readonly "${join(dir, file)}"\n`;
  const run = (script) =>
    execFileSync('sqlite3', ['-batch', '-bail', ':memory:'], { input: script, encoding: 'utf8', maxBuffer: 256 << 20 })
      .split('\n').filter(Boolean).map((l) => l.split('|'));
  const out = Object.fromEntries(ids.map((id) => [id, { rows: 0, alarm: false }]));
  let script = ids
    .map((id) => `${open(`${id}.sqlite`)}SELECT '${id}', name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%';\n`)
    .join('');
  // workerd keeps alarm times in nanoseconds since the epoch.
  if (existsSync(join(dir, 'metadata.sqlite'))) script += `${open('metadata.sqlite')}SELECT '', actor_id, scheduled_time / 1000000 FROM _cf_ALARM;\n`;
  const tables = [];
  for (const [id, name, at] of run(script)) {
    if (id === '') out[name] = { ...(out[name] ?? { rows: 0 }), alarm: true, alarmAt: Number(at) };
    else tables.push([id, name]);
  }
  const counts = tables.map(([id, t]) => `${open(`${id}.sqlite`)}SELECT '${id}', count(*) FROM "${t.replaceAll('"', '""')}";\n`);
  for (const [id, n] of counts.length ? run(counts.join('')) : []) out[id].rows += Number(n);
  return out;
}
