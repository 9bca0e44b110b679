// Live TURN secret rotation (issue 4, turn/README.md "Rotating the secret"): a relay-only call
// runs in Chromium through a real coturn while every step of `turn/rotate-secret --local` runs
// against that coturn's userdb and the Worker's env file, and the Worker is restarted when its
// secret changes (what `wrangler secret put` does in production: a deploy).
// Checks: the running call's media never stops (bytesReceived sampled all along) and it keeps
// its connections; a new relay-only call connects after `start` and after `finish`; credentials
// signed with the old secret (a fresh pair, and the very ones the running call's browsers hold)
// are refused by coturn once `finish` has removed it. No secret is ever printed.
// Run: node --test --test-concurrency=1 tests/browser/rotation.test.mjs   (after `make worker`)
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { roomCode, tempDir, cleanupTempDirs, ROOT } from '../support/stack.mjs';
import {
  join as joinRoom, waitConnected, waitVideoFlowing, peerStats, closeAll, sampleBytes, strictlyIncreasing, turnCredentials,
  browserSuite, engines,
} from '../support/browser.mjs';
import { turnadminWrapper, restCredential } from '../support/coturn.mjs';

const execFileP = promisify(execFile);
const OLD = randomBytes(24).toString('base64url'); // test-only, never printed
const suite = browserSuite({ coturn: [OLD], workers: (coturn) => ({ stack: { vars: coturn.workerVars(OLD) } }) });
const test = engines(['chromium']); // this file's tests run in Chromium only
const dir = tempDir('rotate-browser');
after(cleanupTempDirs);
const outputs = []; // everything rotate-secret printed, checked for secrets at the end

async function rotate(...args) {
  const r = await execFileP(join(ROOT, 'turn', 'rotate-secret'),
    ['--local', '--root', dir, '--db', suite.coturn.db, '--dev-vars', suite.stack.envFile, '--state', join(dir, 'rotate.state'), ...args],
    { env: { ...process.env, TURNADMIN: turnadminWrapper(dir), WRANGLER: '/bin/false' } },
  ).catch((e) => {
    outputs.push(e.stdout ?? '', e.stderr ?? '');
    throw new Error(`rotate-secret ${args.join(' ')} failed with ${e.code}`); // output not shown: it is checked for secrets only
  });
  outputs.push(r.stdout, r.stderr);
  return r.stdout;
}
const workerSecret = () => /^TURN_SECRET=(.*)$/m.exec(readFileSync(suite.stack.envFile, 'utf8'))?.[1];

/** A new relay-only call on the current Worker: connects via coturn, video flows, then hangs up. */
async function newRelayCall() {
  const room = roomCode('rot');
  const ps = [];
  try {
    ps.push(await joinRoom(suite.browser, suite.stack.url, room, { relay: true }));
    ps.push(await joinRoom(suite.browser, suite.stack.url, room, { relay: true }));
    const [a, b] = ps;
    await Promise.all([waitConnected(a.page, [b.id], { path: 'relay' }), waitConnected(b.page, [a.id], { path: 'relay' })]);
    await waitVideoFlowing(b.page, a.id, { frames: 5 });
    assert.equal((await peerStats(b.page, a.id)).localCandidateType, 'relay');
    const creds = await turnCredentials(a.page);
    assert.equal(await suite.coturn.allocationCode(creds.username, creds.credential), 200, 'the Worker\'s current credentials allocate');
    assert.deepEqual(ps.flatMap((p) => p.errors), []);
  } finally {
    await closeAll(ps);
  }
}

test('rotating the TURN secret live: the call keeps flowing, new calls connect, old credentials are refused', async (t) => {
  const room = roomCode('live');
  const a = await joinRoom(suite.browser, suite.stack.url, room, { relay: true });
  const b = await joinRoom(suite.browser, suite.stack.url, room, { relay: true });
  const call = [a, b];
  try {
    await Promise.all([waitConnected(a.page, [b.id], { path: 'relay' }), waitConnected(b.page, [a.id], { path: 'relay' })]);
    await Promise.all([waitVideoFlowing(a.page, b.id, { frames: 5 }), waitVideoFlowing(b.page, a.id, { frames: 5 })]);
    for (const [me, other] of [[a, b], [b, a]]) {
      await me.page.evaluate((id) => { window.pinhole.call.participants.get(id).peer.pc.__kept = true; }, other.id);
    }
    // The old-secret credentials this call's browser holds (valid for the TTL, an hour).
    const held = await a.page.evaluate(() => window.pinhole.call.ice.value.iceServers.find((s) => s.username));
    assert.ok(held?.username && held.credential);
    assert.equal(await suite.coturn.allocationCode(held.username, held.credential), 200);

    const sampler = sampleBytes([[a.page, b.id], [b.page, a.id]], { interval: 500 });
    const step = async (what, fn) => {
      const t0 = Date.now();
      await fn();
      t.diagnostic(`${what}: ${Date.now() - t0} ms`);
    };

    // 1 + 2: new secret into coturn, then the Worker; restart it as a deploy would.
    await step('rotate-secret start', () => rotate('start'));
    const NEW = workerSecret();
    assert.ok(NEW && NEW !== OLD, 'the Worker\'s env file got a new secret');
    await step('Worker restart', () => suite.stack.restart());
    await step('call signaling resumed', () => Promise.all(call.map((p) => p.page.waitForFunction(() =>
      document.body.dataset.signaling === 'open', null, { timeout: 30_000 }))));
    assert.equal(await suite.coturn.secretCode(OLD), 200, 'mid-rotation: the old secret is still accepted');
    assert.equal(await suite.coturn.secretCode(NEW), 200, 'mid-rotation: the new secret is accepted');
    const minted = await turnCredentials(a.page);
    assert.ok(minted.credential === restCredential(NEW, minted.username), 'the restarted Worker signs with the new secret');
    await step('new relay call after start', newRelayCall);

    // 3: remove the old secret.
    await step('rotate-secret finish', () => rotate('--force', 'finish'));
    assert.equal(await suite.coturn.secretCode(OLD), 401, 'a fresh old-secret credential is refused');
    assert.equal(await suite.coturn.allocationCode(held.username, held.credential), 401, 'the old credentials the browser holds are refused');
    assert.equal(await suite.coturn.secretCode(NEW), 200, 'the new secret works');
    await step('new relay call after finish', newRelayCall);

    // The running call never stopped and still uses its original relayed connections.
    await Promise.all([waitVideoFlowing(a.page, b.id, { frames: 5 }), waitVideoFlowing(b.page, a.id, { frames: 5 })]);
    const series = await sampler.stop();
    assert.equal(strictlyIncreasing(series), null);
    t.diagnostic(`running call sampled ${series[0].length}× over ${series[0].at(-1).t - series[0][0].t} ms`);
    for (const [me, other] of [[a, b], [b, a]]) {
      const s = await peerStats(me.page, other.id);
      assert.equal(s.localCandidateType, 'relay');
      assert.equal(s.connectionState, 'connected');
      assert.ok(await me.page.evaluate((id) => window.pinhole.call.participants.get(id).peer.pc.__kept, other.id), 'same RTCPeerConnection');
    }
    assert.deepEqual(call.flatMap((p) => p.errors), []);
  } finally {
    await closeAll(call);
  }
  // No output of rotate-secret ever contained a secret.
  const secrets = [OLD, workerSecret()];
  assert.ok(outputs.length >= 4);
  for (const out of outputs) for (const s of secrets) assert.ok(!out.includes(s), 'a secret appeared in rotate-secret output');
});
