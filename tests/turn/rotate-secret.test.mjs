// Run: node --test tests/turn/rotate-secret.test.mjs
//
// Drives turn/rotate-secret --local against a throwaway root (PINHOLE_ROOT-style --root): a temp
// .dev/turndb userdb served by a real loopback coturn (turn/turnserver.local.conf) and a temp
// .dev.vars. Checks every step of the runbook against coturn itself: both secrets authenticate
// mid-rotation, finish refuses to run early, old credentials get 401 after finish while new ones
// (and an allocation made with the old secret before the switch) keep working; --dry-run changes
// nothing; re-running start/finish is a no-op; and no run ever prints a secret.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, cleanupTempDirs, tempDir, waitFor } from "../support/stack.mjs";
import { LOCAL_REALM, listSecrets, startCoturn, tryAllocate, turnadminWrapper } from "../support/coturn.mjs";

const execFileP = promisify(execFile);
const SCRIPT = join(ROOT, "turn/rotate-secret");
const REALM = LOCAL_REALM;
const OLD = "old-" + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);

let root, db, devVars, state, ta, port, server;
const outputs = []; // every stdout/stderr of the script, checked for secrets at the end
const allSecrets = [OLD]; // every secret that existed during the tests

async function rotate(...args) {
  try {
    const r = await execFileP(SCRIPT, ["--local", "--root", root, ...args], {
      env: { ...process.env, TURNADMIN: ta, WRANGLER: "/bin/false" },
    });
    outputs.push(r.stdout, r.stderr);
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    outputs.push(e.stdout ?? "", e.stderr ?? "");
    return { code: e.code, out: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

const sha256 = (s) => createHash("sha256").update(s).digest("hex");
const devVarsSecret = () => /^TURN_SECRET=(.*)$/m.exec(readFileSync(devVars, "utf8"))?.[1];
const secretHashes = async () => (await listSecrets(ta, db, REALM)).map(sha256).sort();

before(async () => {
  root = tempDir("rotate");
  mkdirSync(join(root, ".dev"));
  db = join(root, ".dev/turndb");
  devVars = join(root, ".dev.vars");
  state = join(root, ".dev/pinhole-rotate-secret.state");
  ta = turnadminWrapper(root);
  writeFileSync(devVars, `# local secrets\nALLOWED_ORIGINS=http://localhost:8787\nTURN_SECRET=${OLD}\nOTHER=1\n`);
  // turn/turnserver.local.conf on the temp root's userdb, seeded with the old secret.
  server = await startCoturn({ dir: root, db, secrets: [OLD], logPath: join(root, ".dev/turnserver.log") });
  port = server.port;
});

after(async () => {
  await server?.stop();
  cleanupTempDirs();
});

test("full rotation: start, both secrets valid, finish gated by TTL, old refused after", async () => {
  assert.equal(await server.secretCode(OLD), 200, "seeded secret works");
  const before = await secretHashes();
  assert.deepEqual(before, [sha256(OLD)]);

  // --dry-run start changes nothing
  const dry = await rotate("--dry-run", "start");
  assert.equal(dry.code, 0, dry.out);
  assert.match(dry.out, /<new secret>/);
  assert.deepEqual(await secretHashes(), before);
  assert.equal(devVarsSecret(), OLD);
  assert.ok(!existsSync(state), "dry run wrote no state");

  // An allocation made with the old secret before the switch, kept open through the rotation.
  const longLived = await tryAllocate(port, OLD);
  assert.equal(longLived.code, 200);

  const start = await rotate("start");
  assert.equal(start.code, 0, start.out);
  const NEW = devVarsSecret();
  assert.ok(NEW && NEW !== OLD && NEW.length >= 32, ".dev.vars got a new secret");
  allSecrets.push(NEW);
  assert.deepEqual(await secretHashes(), [sha256(OLD), sha256(NEW)].sort(), "coturn holds old + new");
  const vars = readFileSync(devVars, "utf8");
  assert.match(vars, /^# local secrets$/m);
  assert.match(vars, /^ALLOWED_ORIGINS=http:\/\/localhost:8787$/m);
  assert.match(vars, /^OTHER=1$/m);
  assert.equal((vars.match(/TURN_SECRET=/g) ?? []).length, 1);
  assert.equal(statSync(state).mode & 0o777, 0o600, "state file is 0600");
  assert.ok(!readFileSync(state, "utf8").includes(NEW), "state keeps no secret once the Worker has it");

  // Mid-rotation both secrets authenticate (clients holding old credentials still allocate).
  assert.equal(await server.secretCode(OLD), 200);
  assert.equal(await server.secretCode(NEW), 200);

  // Idempotent start: no second new secret, .dev.vars unchanged.
  const again = await rotate("start");
  assert.equal(again.code, 0, again.out);
  assert.match(again.out, /already pending/);
  assert.deepEqual(await secretHashes(), [sha256(OLD), sha256(NEW)].sort());
  assert.equal(devVarsSecret(), NEW);

  // finish refuses before TTL + margin (defaults 3600 + 300 s)
  const early = await rotate("finish");
  assert.notEqual(early.code, 0);
  assert.match(early.out, /too early/);
  assert.equal((await secretHashes()).length, 2);

  const status = await rotate("status");
  assert.equal(status.code, 0);
  assert.match(status.out, /coturn holds 2 secret\(s\)/);
  assert.match(status.out, /The new secret is among them: yes/);
  assert.match(status.out, /sets TURN_SECRET \(the new secret\)/);

  // --dry-run finish --force changes nothing
  const dryFinish = await rotate("--dry-run", "--force", "finish");
  assert.equal(dryFinish.code, 0, dryFinish.out);
  assert.equal((await secretHashes()).length, 2);
  assert.ok(existsSync(state));

  const fin = await rotate("--force", "finish");
  assert.equal(fin.code, 0, fin.out);
  assert.deepEqual(await secretHashes(), [sha256(NEW)], "only the new secret is left");
  assert.ok(!existsSync(state));

  // Old credentials are refused for new allocations; new ones work.
  assert.equal(await server.secretCode(OLD), 401);
  assert.equal(await server.secretCode(NEW), 200);

  // The allocation made with the old secret keeps refreshing and adding permissions: coturn
  // checks its requests against the key it stored when the allocation authenticated.
  try {
    assert.equal((await longLived.client.refresh(600)).code, 200);
    assert.equal((await longLived.client.createPermission("127.0.0.1")).code, 200);
  } finally {
    await longLived.client.release();
  }

  // finish twice is a no-op
  const twice = await rotate("finish");
  assert.equal(twice.code, 0, twice.out);
  assert.match(twice.out, /nothing to do/);
  assert.deepEqual(await secretHashes(), [sha256(NEW)]);
});

test("finish runs without --force once TTL + margin have passed", async () => {
  const prev = devVarsSecret();
  const start = await rotate("--ttl", "1", "--margin", "0", "start");
  assert.equal(start.code, 0, start.out);
  const NEW = devVarsSecret();
  allSecrets.push(NEW);
  assert.notEqual(NEW, prev);
  // Poll (no fixed sleep) until the 1 s TTL has passed and finish agrees to run.
  const fin = await waitFor(
    async () => {
      const r = await rotate("finish");
      return r.code === 0 ? r : null;
    },
    { timeout: 10_000, interval: 250, what: "finish to be allowed" },
  );
  assert.match(fin.out, /removed/);
  assert.deepEqual(await secretHashes(), [sha256(NEW)]);
  assert.equal(await server.secretCode(prev), 401);
  assert.equal(await server.secretCode(NEW), 200);
});

test("no run printed a secret", async () => {
  const known = [...allSecrets, ...(await listSecrets(ta, db, REALM))];
  assert.ok(outputs.length > 10);
  for (const out of outputs) {
    for (const s of known) assert.ok(!out.includes(s), "a secret appeared in rotate-secret's output");
  }
});
