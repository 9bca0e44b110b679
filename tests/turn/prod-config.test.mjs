// Run: node --test tests/turn/prod-config.test.mjs
//
// Starts the real coturn (/usr/bin/turnserver, Debian package) with turn/turnserver.conf,
// changed only where a test machine must differ (see ADAPTED below), and checks what the
// production template promises: TURN REST credentials from secrets in the userdb authenticate,
// a wrong secret and an expired username get 401, and relaying to private/loopback/metadata
// addresses is refused with 403 Forbidden IP. The negative control runs the same file without
// its denied-peer-ip lines and shows 10.0.0.1 and 169.254.169.254 would then be granted, and
// the loopback-only dev config shows 127.0.0.1 granted — so the 403s come from our
// configuration, not from something that can never succeed.
//
// Only 127.0.0.1 is ever contacted. 10.0.0.1 and 169.254.169.254 are only *named* in
// CreatePermission/ChannelBind requests; the client never sends data to a peer (coturn only
// relays after a permission exists, and relays on Send/ChannelData, which we never send).

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, cleanupTempDirs, freePort, tempDir, waitFor } from "../support/stack.mjs";
import { nowUnix, restCredential, restUsername, startCoturn, tryAllocate } from "../support/coturn.mjs";

const PROD_CONF = readFileSync(join(ROOT, "turn/turnserver.conf"), "utf8");
const REALM = "pinhole.test";
const SECRET = "prod-test-secret-" + Math.random().toString(36).slice(2);

// Keys whose values are replaced for the test machine; every other line is used verbatim.
const ADAPTED = new Set([
  "listening-ip",
  "relay-ip",
  "external-ip", // dropped: no NAT on loopback
  "listening-port",
  "tls-listening-port",
  "aux-server",
  "min-port",
  "max-port",
  "cert", // a throwaway self-signed certificate
  "pkey",
  "userdb", // a temp SQLite userdb seeded with turnadmin
  "realm", // the template has a placeholder
  "log-file", // a temp file instead of /var/log
]);

function confKey(line) {
  const t = line.trim();
  if (!t || t.startsWith("#")) return null;
  return t.split("=")[0].trim();
}

async function adapt({ dir, withDenied = true }) {
  const p = {
    port: await freePort({ udp: true }),
    tls: await freePort({ udp: true }),
    aux: await freePort({ udp: true }),
  };
  const relayMin = 20000 + Math.floor(Math.random() * 30000);
  const values = {
    "listening-ip": "127.0.0.1",
    "relay-ip": "127.0.0.1",
    "listening-port": String(p.port),
    "tls-listening-port": String(p.tls),
    "aux-server": `127.0.0.1:${p.aux}`,
    "min-port": String(relayMin),
    "max-port": String(relayMin + 200),
    cert: join(dir, "cert.pem"),
    pkey: join(dir, "key.pem"),
    userdb: join(dir, "turndb"),
    realm: REALM,
    "log-file": join(dir, "turnserver.log"),
  };
  const out = [];
  const seen = new Set();
  for (const line of PROD_CONF.split("\n")) {
    const k = confKey(line);
    if (k === null) continue;
    seen.add(k);
    if (!withDenied && k === "denied-peer-ip") continue;
    if (ADAPTED.has(k)) {
      if (k in values) out.push(`${k}=${values[k]}`);
      // A second, IPv6 relay address so the IPv6 denied ranges can be exercised too.
      if (k === "relay-ip") out.push("relay-ip=::1");
      continue;
    }
    out.push(line.trim());
  }
  for (const k of Object.keys(values)) assert.ok(seen.has(k), `template lost its ${k}= line`);
  out.push(`pidfile=${join(dir, "turnserver.pid")}`);
  const conf = join(dir, withDenied ? "prod.conf" : "prod-without-denied.conf");
  writeFileSync(conf, out.join("\n") + "\n");
  return { conf, ...p };
}

function makeCert(dir) {
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=turn.test",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
  ], { stdio: "ignore" });
}

describe("production turnserver.conf", () => {
  let dir, server, cfg;

  before(async () => {
    dir = tempDir("prod");
    makeCert(dir);
    cfg = await adapt({ dir });
    server = await startCoturn({ conf: cfg.conf, port: cfg.port, dir, secrets: [SECRET], realm: REALM, logPath: join(dir, "stdout.log") });
  });

  after(async () => {
    await server?.stop();
  });

  test("the template keeps the hardening it promises", () => {
    const keys = PROD_CONF.split("\n").map(confKey).filter(Boolean);
    for (const k of ["use-auth-secret", "fingerprint", "no-cli", "no-multicast-peers", "no-tcp-relay",
      "user-quota", "total-quota", "max-bps", "bps-capacity", "no-software-attribute", "stale-nonce", "simple-log"]) {
      assert.ok(keys.includes(k), `missing ${k}`);
    }
    for (const k of ["static-auth-secret", "allow-loopback-peers", "lt-cred-mech", "no-auth"]) {
      assert.ok(!keys.includes(k), `must not contain ${k}`);
    }
    const denied = PROD_CONF.split("\n").filter((l) => l.startsWith("denied-peer-ip="));
    assert.ok(denied.length >= 20, "full denied-peer-ip set");
    for (const l of denied) assert.match(l, /^denied-peer-ip=[0-9a-f.:]+-[0-9a-f.:]+$/, `a-b range, not CIDR: ${l}`);
  });

  test("coturn accepted every line: no parse errors, all listeners up", () => {
    const log = readFileSync(join(dir, "turnserver.log"), "utf8");
    assert.doesNotMatch(log, /Wrong|Bad configuration|unknown|ERROR: Cannot/i);
    // 3478-equivalent, TLS port and the 443-equivalent aux server all listen on TCP.
    const ss = execFileSync("ss", ["-ltnH"], { encoding: "utf8" });
    for (const p of [cfg.port, cfg.tls, cfg.aux]) assert.match(ss, new RegExp(`127\\.0\\.0\\.1:${p}\\b`), `TCP ${p}`);
  });

  test("TLS is served on the TLS port and on the aux (443) port", () => {
    for (const p of [cfg.tls, cfg.aux]) {
      const out = execFileSync("openssl", ["s_client", "-connect", `127.0.0.1:${p}`, "-brief"], {
        input: "", encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], timeout: 10000,
      });
      assert.ok(out !== undefined);
    }
  });

  test("valid REST credentials authenticate", async () => {
    const { client, code } = await tryAllocate(cfg.port, SECRET);
    await client.release();
    assert.equal(code, 200);
  });

  test("a wrong secret is refused with 401", async () => {
    const { client, code } = await tryAllocate(cfg.port, SECRET + "x");
    client.close();
    assert.equal(code, 401);
  });

  test("an expired username is refused with 401", async () => {
    const { client, code } = await tryAllocate(cfg.port, SECRET, { expiry: nowUnix() - 5 });
    client.close();
    assert.equal(code, 401);
  });

  for (const peer of ["127.0.0.1", "10.0.0.1", "169.254.169.254", "192.168.1.1", "100.64.0.1", "0.0.0.1"]) {
    test(`relay to ${peer} is refused: 403 Forbidden IP at CreatePermission and ChannelBind`, async () => {
      const { client, code } = await tryAllocate(cfg.port, SECRET);
      try {
        assert.equal(code, 200);
        const perm = await client.createPermission(peer);
        assert.equal(perm.code, 403);
        assert.match(perm.reason, /Forbidden IP/);
        const chan = await client.channelBind(peer, 9);
        assert.equal(chan.code, 403);
      } finally {
        await client.release();
      }
    });
  }

  test("a public peer address is granted (the 403s are about the address)", async () => {
    // 8.8.8.8 is public, 192.0.2.x is a documentation range. Only a permission is installed;
    // nothing is sent. This caught a template line ("::-::ffff:ffff") that denied all IPv4.
    const { client, code } = await tryAllocate(cfg.port, SECRET);
    try {
      assert.equal(code, 200);
      assert.equal((await client.createPermission("8.8.8.8")).code, 200);
      assert.equal((await client.createPermission("192.0.2.10")).code, 403);
    } finally {
      await client.release();
    }
  });

  for (const peer of ["::1", "::ffff:10.0.0.1", "::ffff:8.8.8.8", "64:ff9b::a00:1", "2002:a00:1::1",
    "fd00:ec2::254", "fe80::1", "2001:db8::1", "ff02::1"]) {
    test(`IPv6 relay to ${peer} is refused with 403`, async () => {
      const { client, code } = await tryAllocate(cfg.port, SECRET, { ipv6: true });
      try {
        assert.equal(code, 200);
        const perm = await client.createPermission(peer);
        assert.equal(perm.code, 403, perm.reason);
      } finally {
        await client.release();
      }
    });
  }

  test("a public IPv6 peer is granted (the IPv6 ranges are not over-broad)", async () => {
    const { client, code } = await tryAllocate(cfg.port, SECRET, { ipv6: true });
    try {
      assert.equal(code, 200);
      assert.equal((await client.createPermission("2001:4860:4860::8888")).code, 200);
    } finally {
      await client.release();
    }
  });

  test("coturn logged the denials", async () => {
    await waitFor(
      () => /peer IP 10\.0\.0\.1 denied/.test(readFileSync(join(dir, "turnserver.log"), "utf8")),
      { what: "denial in coturn's log" },
    );
  });
});

describe("negative controls (these prove the 403s above can fail)", () => {
  test("without the denied-peer-ip lines, 10.0.0.1 and 169.254.169.254 would be granted", async () => {
    const dir = tempDir("prod-nodeny");
    makeCert(dir);
    const cfg = await adapt({ dir, withDenied: false });
    const server = await startCoturn({ conf: cfg.conf, port: cfg.port, dir, secrets: [SECRET], realm: REALM, logPath: join(dir, "stdout.log") });
    try {
      const { client, code } = await tryAllocate(cfg.port, SECRET);
      try {
        assert.equal(code, 200);
        assert.equal((await client.createPermission("10.0.0.1")).code, 200);
        assert.equal((await client.createPermission("169.254.169.254")).code, 200);
        // loopback stays refused: coturn denies it unless allow-loopback-peers
        assert.equal((await client.createPermission("127.0.0.1")).code, 403);
      } finally {
        await client.release();
      }
    } finally {
      await server.stop();
    }
  });

  test("the loopback-only dev config grants 127.0.0.1 (allow-loopback-peers)", async () => {
    const dir = tempDir("local");
    // turn/turnserver.local.conf, with its own port, userdb and relay ports passed as flags.
    const server = await startCoturn({ dir, secrets: [SECRET], logPath: join(dir, "stdout.log") });
    const { port } = server;
    try {
      const user = restUsername(nowUnix() + 60);
      const { client, code } = await tryAllocate(port, SECRET, { username: user });
      try {
        assert.equal(code, 200);
        assert.equal((await client.createPermission("127.0.0.1")).code, 200);
      } finally {
        await client.release();
      }
      assert.equal(restCredential("north", "1266890800:mbzrxpgjys"), "nbRcrnq5h6xXhyNhlwk+lDLvVVo=");
    } finally {
      await server.stop();
    }
  });
});

after(() => cleanupTempDirs());
