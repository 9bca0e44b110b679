// coturn for the TURN and browser tiers and the benchmarks: starting a real turnserver, seeding
// its userdb with turnadmin, and a tiny STUN/TURN client to talk to it (not a test file itself).
//
// The client speaks UDP (RFC 8489 / RFC 8656) instead of running turnutils_uclient: it lets the
// tests read the exact error code of each request, keep one allocation open across secret
// rotation steps, and — important for the denied-peer tests — it only ever *asks* for a
// permission or channel; it never sends data to a peer, so even a misconfigured coturn that
// granted 10.0.0.1 would relay nothing. Every socket is bound to and talks to 127.0.0.1 only,
// except in the network lab (tests/network/), which runs the client inside its own namespaces
// against the lab's coturn address (`host`).
import { execFile } from 'node:child_process';
import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { openSync, closeSync, writeFileSync, readFileSync, chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, freePort, waitFor, spawnGroup, signalGroup, stopGroup } from './stack.mjs';

const execFileP = promisify(execFile);

const TURNSERVER = '/usr/bin/turnserver';
const TURNADMIN = '/usr/bin/turnadmin';
/** The realm of turn/turnserver.local.conf. */
export const LOCAL_REALM = 'pinhole.local';

// ---------------------------------------------------------------------------------------------
// Credentials, exactly as the Worker mints them (src/turn.rs).

export function restCredential(secret, username) {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export function restUsername(expiryUnix) {
  return `${expiryUnix}:${randomBytes(12).toString('base64url')}`;
}

export const nowUnix = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// turnadmin

/**
 * A turnadmin wrapper script in `dir`. turnadmin has no log option and, run as root, leaves a
 * /var/log/turn_<pid>_<date>.log behind on every call; the wrapper deletes exactly the file of
 * the turnadmin it ran, so the tests leave no system-wide trace. Used directly and as TURNADMIN
 * for turn/rotate-secret.
 */
export function turnadminWrapper(dir) {
  const path = join(dir, 'turnadmin');
  writeFileSync(
    path,
    `#!/usr/bin/env bash
${TURNADMIN} "$@" & pid=$!
wait "$pid"; rc=$?
for d in /var/log/turnserver /var/log /var/tmp /tmp .; do rm -f "$d"/turn_"$pid"_*.log; done
exit "$rc"
`,
  );
  chmodSync(path, 0o755);
  return path;
}

/** The secrets stored for `realm` in the SQLite userdb `db` (never printed by the tests). */
export async function listSecrets(wrapper, db, realm) {
  const { stdout } = await execFileP(wrapper, ['-S', '-r', realm, '-b', db]);
  const suffix = `[${realm}]`;
  return stdout
    .split('\n')
    .filter((l) => l.endsWith(suffix) && l.length > suffix.length)
    .map((l) => l.slice(0, -suffix.length));
}

/** Stores `secret` for `realm` in the userdb `db`. turnadmin takes the secret only as an
 * argument (see turn/README.md); these are test secrets only. */
export async function addSecret(wrapper, db, realm, secret) {
  await execFileP(wrapper, ['-s', secret, '-r', realm, '-b', db], { cwd: dirname(wrapper) });
}

// ---------------------------------------------------------------------------------------------
// coturn process

/**
 * Starts turnserver in its own process group (killed with this process however it ends) and
 * resolves once it answers a STUN Binding request on 127.0.0.1:`port`.
 *
 * Without `conf`, it runs turn/turnserver.local.conf (loopback only, realm pinhole.local) with
 * its userdb, pidfile, listening port and a relay port range of its own passed as flags, so
 * several can run at once. With `conf` (e.g. the production template adapted by a test), that
 * file says everything and only `args` are added; `port` must then be its listening port.
 *
 * - `secrets`: stored in `db` for `realm` with turnadmin before the start.
 * - `dir`: working directory for coturn and its files; default a temp directory, removed by
 *   stop().
 * - `db`: the SQLite userdb; default `<dir>/turndb`.
 * - `port`: default a port free for UDP and TCP.
 * - `relayPorts`: `[min, max]`; default a random block of 500 in 41000..60999.
 * - `logPath`: coturn's stdout and stderr are appended to this file; default kept in memory.
 *   Either way `log()` returns them.
 *
 * - `netns`: run it inside this network namespace (the network lab); `ready` (async, true once
 *   it answers) then replaces the loopback STUN check.
 *
 * Returns `{ port, db, urls, workerVars(secret), allocationCode(username, credential),
 * secretCode(secret, opts), log(), pause(), resume(), stop() }`.
 */
export async function startCoturn({
  conf, secrets = [], realm = LOCAL_REALM, dir, db, port, relayPorts, logPath, args = [], netns, ready,
} = {}) {
  const ownDir = !dir;
  dir ??= mkdtempSync(join(tmpdir(), 'pinhole-turn-'));
  db ??= join(dir, 'turndb');
  port ??= await freePort({ udp: true });
  if (secrets.length) {
    const wrapper = turnadminWrapper(dir);
    for (const s of secrets) await addSecret(wrapper, db, realm, s);
  }
  const local = () => {
    const [min, max] = relayPorts ?? ((m) => [m, m + 499])(41000 + randomInt(0, 40) * 500);
    return [join(ROOT, 'turn', 'turnserver.local.conf'), `--userdb=${db}`, `--pidfile=${join(dir, 'turnserver.pid')}`,
      `--listening-port=${port}`, `--min-port=${min}`, `--max-port=${max}`];
  };
  const fd = logPath ? openSync(logPath, 'a') : 'pipe';
  const argv = ['-c', ...(conf ? [conf] : local()), ...args];
  const child = netns
    ? spawnGroup('ip', ['netns', 'exec', netns, TURNSERVER, ...argv], { cwd: dir, stdio: ['ignore', fd, fd] })
    : spawnGroup(TURNSERVER, argv, { cwd: dir, stdio: ['ignore', fd, fd] });
  if (logPath) closeSync(fd); // the child has its own copy
  let out = '';
  if (!logPath) {
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
  }
  const log = () => (logPath ? readFileSync(logPath, 'utf8') : out);
  async function stop() {
    await stopGroup(child, 5000);
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  }
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`coturn exited (${child.exitCode ?? child.signalCode}):\n${log().slice(-2000)}`);
        }
        return ready ? ready() : stunBinding(port);
      },
      { timeout: 15_000, interval: 100, what: `coturn on ${netns ? `port ${port} in ${netns}` : `127.0.0.1:${port}`}` },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  const urls = `turn:127.0.0.1:${port}?transport=udp turn:127.0.0.1:${port}?transport=tcp`;
  return {
    port,
    db,
    urls,
    /** Worker vars for a Worker that relays through this coturn, signing with `secret`. */
    workerVars: (secret) => ({ TURN_SECRET: secret, TURN_URLS: urls, STUN_URLS: `stun:127.0.0.1:${port}` }),
    /** Allocates once with `username`/`credential` and releases it; the STUN answer code. */
    async allocationCode(username, credential) {
      const client = new TurnClient(port);
      try {
        return (await client.allocate(username, credential)).code;
      } finally {
        await client.release();
      }
    },
    /** The same with a fresh REST credential signed with `secret` (`opts` as for tryAllocate). */
    async secretCode(secret, opts) {
      const { client, code } = await tryAllocate(port, secret, opts);
      await client.release();
      return code;
    },
    log,
    /** Freezes coturn (SIGSTOP): every relayed packet is silently dropped, like a network that
     * stopped forwarding, while its allocations and sockets stay as they were. */
    pause: () => signalGroup(child, 'SIGSTOP'),
    resume: () => signalGroup(child, 'SIGCONT'),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// STUN/TURN messages

const MAGIC = 0x2112a442;
export const METHOD = { BINDING: 0x001, ALLOCATE: 0x003, REFRESH: 0x004, CREATE_PERMISSION: 0x008, CHANNEL_BIND: 0x009 };
const ATTR = {
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_TRANSPORT: 0x0019,
};

function attr(type, value) {
  if (typeof value === 'function') return (tid) => attr(type, value(tid));
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function ipv6Bytes(ip) {
  // expand "a:b::c" (and a trailing dotted IPv4) into 16 bytes
  let [head, tail] = ip.includes('::') ? ip.split('::') : [ip, null];
  const parse = (s) => {
    if (!s) return [];
    const parts = s.split(':');
    const last = parts[parts.length - 1];
    if (last.includes('.')) {
      const o = last.split('.').map(Number);
      parts.splice(-1, 1, ((o[0] << 8) | o[1]).toString(16), ((o[2] << 8) | o[3]).toString(16));
    }
    return parts.map((h) => parseInt(h, 16));
  };
  const h = parse(head);
  const t = parse(tail);
  const words = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

/** XOR-PEER-ADDRESS value; IPv6 needs the transaction id, so this returns a function of it. */
function xorAddress(ip, port) {
  return (tid) => {
    const v6 = ip.includes(':');
    const v = Buffer.alloc(v6 ? 20 : 8);
    v.writeUInt8(v6 ? 0x02 : 0x01, 1);
    v.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
    if (v6) {
      const key = Buffer.alloc(16);
      key.writeUInt32BE(MAGIC, 0);
      tid.copy(key, 4);
      const a = ipv6Bytes(ip);
      for (let i = 0; i < 16; i++) v[4 + i] = a[i] ^ key[i];
    } else {
      const n = ip.split('.').reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
      v.writeUInt32BE((n ^ MAGIC) >>> 0, 4);
    }
    return v;
  };
}

function encode(method, tid, attrs, key) {
  let body = Buffer.concat(attrs.map((a) => (typeof a === 'function' ? a(tid) : a)));
  const header = Buffer.alloc(20);
  header.writeUInt16BE(method, 0); // class "request" = 0b00
  header.writeUInt32BE(MAGIC, 4);
  tid.copy(header, 8);
  if (key) {
    // MESSAGE-INTEGRITY covers the message with the length field already counting itself.
    header.writeUInt16BE(body.length + 24, 2);
    const mac = createHmac('sha1', key).update(Buffer.concat([header, body])).digest();
    body = Buffer.concat([body, attr(ATTR.MESSAGE_INTEGRITY, mac)]);
  }
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

function decode(buf) {
  const type = buf.readUInt16BE(0);
  const len = buf.readUInt16BE(2);
  const tid = buf.subarray(8, 20);
  const attrs = new Map();
  let off = 20;
  while (off + 4 <= 20 + len) {
    const t = buf.readUInt16BE(off);
    const l = buf.readUInt16BE(off + 2);
    if (!attrs.has(t)) attrs.set(t, buf.subarray(off + 4, off + 4 + l));
    off += 4 + l + ((4 - (l % 4)) % 4);
  }
  const cls = ((type >> 4) & 0x1) | ((type >> 7) & 0x2); // 2 = success, 3 = error
  let code = cls === 2 ? 200 : null;
  let reason = '';
  const ec = attrs.get(ATTR.ERROR_CODE);
  if (ec) {
    code = (ec[2] & 0x7) * 100 + ec[3];
    reason = ec.subarray(4).toString('utf8');
  }
  return { cls, code, reason, tid, attrs };
}

/** One STUN Binding round trip; true if coturn answered. */
export async function stunBinding(port, host) {
  const c = new TurnClient(port, host);
  try {
    const r = await c.request(METHOD.BINDING, [], { timeoutMs: 300 });
    return r.cls === 2;
  } finally {
    c.close();
  }
}

/** One TURN client = one UDP 5-tuple = at most one allocation. */
export class TurnClient {
  constructor(port, host = '127.0.0.1') {
    this.port = port;
    this.host = host;
    this.sock = dgram.createSocket('udp4');
    this.sock.bind(0, host === '127.0.0.1' ? host : '0.0.0.0');
    this.pending = new Map();
    this.sock.on('message', (msg) => {
      if (msg.length < 20) return;
      const r = decode(msg);
      const p = this.pending.get(r.tid.toString('hex'));
      if (p) p(r);
    });
  }

  close() {
    try {
      this.sock.close();
    } catch {
      // already closed
    }
  }

  /** Send a request and wait for its answer, retransmitting (RFC 8489 §6.2.1) up to a deadline. */
  request(method, attrs, { key, timeoutMs = 3000 } = {}) {
    const tid = randomBytes(12);
    const msg = encode(method, tid, attrs, key);
    return new Promise((resolve, reject) => {
      let rto = 100;
      let timer;
      const deadline = setTimeout(() => {
        clearTimeout(timer);
        this.pending.delete(tid.toString('hex'));
        reject(new Error(`no answer to STUN method 0x${method.toString(16)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const send = () => {
        this.sock.send(msg, this.port, this.host);
        timer = setTimeout(send, rto);
        rto = Math.min(rto * 2, 1000);
      };
      this.pending.set(tid.toString('hex'), (r) => {
        clearTimeout(timer);
        clearTimeout(deadline);
        this.pending.delete(tid.toString('hex'));
        resolve(r);
      });
      send();
    });
  }

  /** Authenticated request with the long-term credential mechanism; handles 401 and 438. */
  async authed(method, attrs) {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!this.nonce) {
        const r = await this.request(method, attrs);
        if (r.code !== 401) return r;
        this.realm = r.attrs.get(ATTR.REALM).toString();
        this.nonce = r.attrs.get(ATTR.NONCE).toString();
      }
      const key = createHash('md5').update(`${this.username}:${this.realm}:${this.password}`).digest();
      const r = await this.request(
        method,
        [
          ...attrs,
          attr(ATTR.USERNAME, Buffer.from(this.username)),
          attr(ATTR.REALM, Buffer.from(this.realm)),
          attr(ATTR.NONCE, Buffer.from(this.nonce)),
        ],
        { key },
      );
      if (r.code === 438) {
        this.nonce = r.attrs.get(ATTR.NONCE)?.toString();
        continue;
      }
      return r;
    }
    throw new Error('stale nonce loop');
  }

  /** Allocate a UDP relay with a TURN REST username/credential. Returns the response code. */
  async allocate(username, password, { ipv6 = false } = {}) {
    this.username = username;
    this.password = password;
    this.nonce = undefined;
    const attrs = [attr(ATTR.REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0]))];
    // REQUESTED-ADDRESS-FAMILY (RFC 6156): an IPv6 relay, to check the IPv6 peer ranges.
    if (ipv6) attrs.push(attr(0x0017, Buffer.from([0x02, 0, 0, 0])));
    const r = await this.authed(METHOD.ALLOCATE, attrs);
    if (r.code === 200) {
      const x = r.attrs.get(ATTR.XOR_RELAYED_ADDRESS);
      this.relayedPort = x.readUInt16BE(2) ^ (MAGIC >>> 16);
    }
    return r;
  }

  createPermission(peerIp) {
    return this.authed(METHOD.CREATE_PERMISSION, [attr(ATTR.XOR_PEER_ADDRESS, xorAddress(peerIp, 9))]);
  }

  channelBind(peerIp, port, channel = 0x4000) {
    const ch = Buffer.alloc(4);
    ch.writeUInt16BE(channel, 0);
    return this.authed(METHOD.CHANNEL_BIND, [attr(ATTR.CHANNEL_NUMBER, ch), attr(ATTR.XOR_PEER_ADDRESS, xorAddress(peerIp, port))]);
  }

  /** A Send indication: relays `data` to `peerIp`:`port` from the allocation (network lab only:
   * the loopback tiers never send to a peer). Resolves once it has left the socket. */
  sendIndication(peerIp, port, data) {
    const msg = encode(0x0016, randomBytes(12), [attr(ATTR.XOR_PEER_ADDRESS, xorAddress(peerIp, port)), attr(0x0013, data)]);
    return new Promise((resolve, reject) => this.sock.send(msg, this.port, this.host, (e) => (e ? reject(e) : resolve(true))));
  }

  refresh(lifetime = 600) {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(lifetime, 0);
    return this.authed(METHOD.REFRESH, [attr(ATTR.LIFETIME, l)]);
  }

  /** Release the allocation (Refresh lifetime 0) and close the socket. */
  async release() {
    if (this.relayedPort) {
      try {
        await this.refresh(0);
      } catch {
        // best effort: the allocation may already be gone
      }
    }
    this.close();
  }
}

/** Allocate with a fresh client; returns { client, code }. */
export async function tryAllocate(port, secret, { expiry = nowUnix() + 600, username, ipv6 = false, host } = {}) {
  const user = username ?? restUsername(expiry);
  const client = new TurnClient(port, host);
  const r = await client.allocate(user, restCredential(secret, user), { ipv6 });
  return { client, code: r.code, reason: r.reason };
}

