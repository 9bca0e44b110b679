// Run: node --test tests/turn/local-stack.test.mjs
//
// The local coturn that `make dev` starts (scripts/local-turn), pointed at a throwaway directory:
// it generates a dev secret into .dev.vars (mode 600) shared with coturn's userdb, the secret
// authenticates against the running coturn, a second run keeps the secret, stop stops it, and
// no output ever contains the secret.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, cleanupTempDirs, freePort, tempDir, waitFor } from "../support/stack.mjs";
import { tryAllocate } from "../support/coturn.mjs";

const run = promisify(execFile);
const dir = tempDir("local-stack");
let port;
const env = () => ({ ...process.env, PINHOLE_DEV_DIR: join(dir, ".dev"), PINHOLE_DEV_VARS: join(dir, ".dev.vars"), TURN_PORT: String(port) });
const script = join(ROOT, "scripts", "local-turn");
const secretOf = () => readFileSync(join(dir, ".dev.vars"), "utf8").match(/^TURN_SECRET=(.+)$/m)?.[1];

after(async () => {
  await run(script, ["stop"], { env: env() }).catch(() => {});
  cleanupTempDirs();
});

test("scripts/local-turn start: a dev secret shared by .dev.vars and a running coturn", async () => {
  port = await freePort({ udp: true });
  const first = await run(script, ["start"], { env: env() });
  const secret = secretOf();
  assert.ok(secret && secret.length >= 40, "a generated secret");
  assert.equal(statSync(join(dir, ".dev.vars")).mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, ".dev.vars"), "utf8"), new RegExp(`^TURN_URLS=turn:127\\.0\\.0\\.1:${port}\\?transport=udp turn:127\\.0\\.0\\.1:${port}\\?transport=tcp$`, "m"));
  const ok = await tryAllocate(port, secret);
  ok.client.close();
  assert.equal(ok.code, 200, "the generated secret authenticates with the local coturn");
  const wrong = await tryAllocate(port, secret + "x");
  wrong.client.close();
  assert.equal(wrong.code, 401);

  const second = await run(script, ["start"], { env: env() });
  assert.equal(secretOf(), secret, "a second run keeps the secret");
  assert.match(second.stdout, /already running/);
  for (const out of [first, second]) assert.ok(!(out.stdout + out.stderr).includes(secret), "the secret was printed");

  const pid = Number(readFileSync(join(dir, ".dev", "turnserver.pid"), "utf8"));
  await run(script, ["stop"], { env: env() });
  await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, { what: "coturn to stop" });
  assert.ok(!existsSync(join(dir, ".dev", "turnserver.pid")));
});
