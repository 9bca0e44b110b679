// Helpers for the coturn tests in this directory (not a test file itself).
//
// A tiny STUN/TURN client over UDP (RFC 8489 / RFC 8656) instead of turnutils_uclient: it lets
// the tests read the exact error code of each request, keep one allocation open across secret
// rotation steps, and — important for the denied-peer tests — it only ever *asks* for a
// permission or channel; it never sends data to a peer, so even a misconfigured coturn that
// granted 10.0.0.1 would relay nothing. Every socket is bound to and talks to 127.0.0.1 only.

import { spawn, execFile } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { createServer } from "node:net";
import { mkdtempSync, writeFileSync, readFileSync, chmodSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor as poll } from "../support/stack.mjs";

const execFileP = promisify(execFile);

export const TURNSERVER = "/usr/bin/turnserver";
export const TURNADMIN = "/usr/bin/turnadmin";
export const REPO = new URL("../../", import.meta.url).pathname;

// ---------------------------------------------------------------------------------------------
// Credentials, exactly as the Worker mints them (src/turn.rs).

export function restCredential(secret, username) {
  return createHmac("sha1", secret).update(username).digest("base64");
}

export function restUsername(expiryUnix) {
  return `${expiryUnix}:${randomBytes(12).toString("base64url")}`;
}

export const nowUnix = () => Math.floor(Date.now() / 1000);

export function sha256(s) {
  return createHash("sha256").update(s).digest("hex");
}

// ---------------------------------------------------------------------------------------------
// Ports, temp dirs, polling

const tempDirs = [];
export function tempDir(tag) {
  const d = mkdtempSync(join(tmpdir(), `pinhole-${tag}-`));
  tempDirs.push(d);
  return d;
}
/** Remove the temp dirs made by tempDir() (call after every coturn using them has stopped). */
export function cleanupTempDirs() {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A port free on 127.0.0.1 for TCP at the time of asking (and then tried for UDP too). */
export async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = createServer();
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const p = srv.address().port;
        srv.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise((resolve) => {
      const s = dgram.createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (udpFree && port < 60000) return port;
  }
}

/** Poll `fn` until it returns a truthy value or the deadline passes (stack.mjs's waitFor, with
 * this suite's option names). */
export const waitFor = (fn, { timeoutMs = 10000, intervalMs = 50, what = "condition" } = {}) =>
  poll(fn, { timeout: timeoutMs, interval: intervalMs, what });

// ---------------------------------------------------------------------------------------------
// turnadmin

/**
 * A turnadmin wrapper script in `dir`. turnadmin has no log option and, run as root, leaves a
 * /var/log/turn_<pid>_<date>.log behind on every call; the wrapper deletes exactly the file of
 * the turnadmin it ran, so the tests leave no system-wide trace. Used directly and as TURNADMIN
 * for turn/rotate-secret.
 */
export function turnadminWrapper(dir) {
  const path = join(dir, "turnadmin");
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
  const { stdout } = await execFileP(wrapper, ["-S", "-r", realm, "-b", db]);
  const suffix = `[${realm}]`;
  return stdout
    .split("\n")
    .filter((l) => l.endsWith(suffix) && l.length > suffix.length)
    .map((l) => l.slice(0, -suffix.length));
}

export async function addSecret(wrapper, db, realm, secret) {
  await execFileP(wrapper, ["-s", secret, "-r", realm, "-b", db]);
}

// ---------------------------------------------------------------------------------------------
// coturn process

/**
 * Start turnserver with config file `conf` in its own process group; resolves once it answers a
 * STUN Binding request on 127.0.0.1:`port`. stdout/stderr go to `logPath`.
 */
export async function startCoturn({ conf, port, args = [], logPath, cwd }) {
  const { openSync } = await import("node:fs");
  const fd = openSync(logPath, "a");
  const child = spawn(TURNSERVER, ["-c", conf, ...args], {
    cwd,
    detached: true, // own process group, killed as a group in stop()
    stdio: ["ignore", fd, fd],
  });
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
  });
  const stop = async () => {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    try {
      await waitFor(() => exited, { timeoutMs: 5000, what: "turnserver to exit" });
    } catch {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`turnserver exited early (${JSON.stringify(exited)}); see ${logPath}`);
        return stunBinding(port);
      },
      { timeoutMs: 15000, intervalMs: 100, what: `coturn on 127.0.0.1:${port}` },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { child, stop, log: () => readFileSync(logPath, "utf8") };
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
  if (typeof value === "function") return (tid) => attr(type, value(tid));
  const pad = (4 - (value.length % 4)) % 4;
  const b = Buffer.alloc(4 + value.length + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(value.length, 2);
  value.copy(b, 4);
  return b;
}

function ipv6Bytes(ip) {
  // expand "a:b::c" (and a trailing dotted IPv4) into 16 bytes
  let [head, tail] = ip.includes("::") ? ip.split("::") : [ip, null];
  const parse = (s) => {
    if (!s) return [];
    const parts = s.split(":");
    const last = parts[parts.length - 1];
    if (last.includes(".")) {
      const o = last.split(".").map(Number);
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
    const v6 = ip.includes(":");
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
      const n = ip.split(".").reduce((a, o) => ((a << 8) | Number(o)) >>> 0, 0);
      v.writeUInt32BE((n ^ MAGIC) >>> 0, 4);
    }
    return v;
  };
}

function encode(method, tid, attrs, key) {
  let body = Buffer.concat(attrs.map((a) => (typeof a === "function" ? a(tid) : a)));
  const header = Buffer.alloc(20);
  header.writeUInt16BE(method, 0); // class "request" = 0b00
  header.writeUInt32BE(MAGIC, 4);
  tid.copy(header, 8);
  if (key) {
    // MESSAGE-INTEGRITY covers the message with the length field already counting itself.
    header.writeUInt16BE(body.length + 24, 2);
    const mac = createHmac("sha1", key).update(Buffer.concat([header, body])).digest();
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
  let reason = "";
  const ec = attrs.get(ATTR.ERROR_CODE);
  if (ec) {
    code = (ec[2] & 0x7) * 100 + ec[3];
    reason = ec.subarray(4).toString("utf8");
  }
  return { cls, code, reason, tid, attrs };
}

/** One STUN Binding round trip; true if coturn answered. */
export async function stunBinding(port) {
  const c = new TurnClient(port);
  try {
    const r = await c.request(METHOD.BINDING, [], { timeoutMs: 300 });
    return r.cls === 2;
  } finally {
    c.close();
  }
}

/** One TURN client = one UDP 5-tuple = at most one allocation. */
export class TurnClient {
  constructor(port) {
    this.port = port;
    this.sock = dgram.createSocket("udp4");
    this.sock.bind(0, "127.0.0.1");
    this.pending = new Map();
    this.sock.on("message", (msg) => {
      if (msg.length < 20) return;
      const r = decode(msg);
      const p = this.pending.get(r.tid.toString("hex"));
      if (p) p(r);
    });
  }

  close() {
    try {
      this.sock.close();
    } catch {}
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
        this.pending.delete(tid.toString("hex"));
        reject(new Error(`no answer to STUN method 0x${method.toString(16)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const send = () => {
        this.sock.send(msg, this.port, "127.0.0.1");
        timer = setTimeout(send, rto);
        rto = Math.min(rto * 2, 1000);
      };
      this.pending.set(tid.toString("hex"), (r) => {
        clearTimeout(timer);
        clearTimeout(deadline);
        this.pending.delete(tid.toString("hex"));
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
      const key = createHash("md5").update(`${this.username}:${this.realm}:${this.password}`).digest();
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
    throw new Error("stale nonce loop");
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
      } catch {}
    }
    this.close();
  }
}

/** Allocate with a fresh client; returns { client, code }. */
export async function tryAllocate(port, secret, { expiry = nowUnix() + 600, username, ipv6 = false } = {}) {
  const user = username ?? restUsername(expiry);
  const client = new TurnClient(port);
  const r = await client.allocate(user, restCredential(secret, user), { ipv6 });
  return { client, code: r.code, reason: r.reason };
}

export { existsSync };
