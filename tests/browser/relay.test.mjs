// Relay-only calls (`?relay=1`, iceTransportPolicy "relay") through a real loopback coturn whose
// credentials come from the running Worker's /api/ice-servers — and, as the control that proves
// the relay path is real, the same call with a Worker whose TURN_SECRET coturn does not know.
// Run: node --test --test-concurrency=1 tests/browser/relay.test.mjs   (after `make worker`)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { roomCode, waitFor } from '../support/stack.mjs';
import { join, joinPair, waitConnected, peerStats, waitVideoFlowing, turnCredentials, browserSuite, engines } from '../support/browser.mjs';

// Test-only secrets, never printed.
const SECRET = randomBytes(24).toString('base64url');
const WRONG = randomBytes(24).toString('base64url');
const suite = browserSuite({
  coturn: [SECRET],
  workers: (coturn) => ({
    good: { vars: coturn.workerVars(SECRET) }, // sharing SECRET with coturn
    bad: { vars: coturn.workerVars(WRONG) }, // signing with a secret coturn does not have
  }),
  engines: ['chromium', 'firefox'],
});
const { open } = suite;
const chromium = engines(['chromium']); // participants of the running test, closed after it

engines(['chromium', 'firefox', 'chromium+firefox'])('a relay-only call connects through the local coturn', async (t, combo) => {
  const [a, b] = await joinPair(suite.pick(combo), suite.good.url, open, { relay: true });
  await Promise.all([
    waitConnected(a.page, [b.id], { path: 'relay' }),
    waitConnected(b.page, [a.id], { path: 'relay' }),
  ]);
  for (const [me, other] of [[a, b], [b, a]]) {
    const s = await waitVideoFlowing(me.page, other.id, { frames: 10 });
    assert.equal(s.localCandidateType, 'relay', 'the selected pair\'s local candidate is a relay candidate');
    assert.ok(s.localCandidates.length > 0 && s.localCandidates.every((t) => t === 'relay'),
      `only relay candidates are gathered: ${s.localCandidates}`);
  }
});

chromium('with a TURN secret coturn does not know, a relay-only call does not connect', async () => {
  const [a, b] = await joinPair(suite.browser, suite.bad.url, open, { relay: true });
  // Record any moment either tile reaches "connected" (not just its state at the end).
  for (const p of [a, b]) {
    await p.page.evaluate(() => {
      window.__everConnected = false;
      const check = () => {
        if (document.querySelector('.tile.remote[data-state="connected"]')) window.__everConnected = true;
      };
      new MutationObserver(check).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'], childList: true });
      check();
    });
  }
  // Both sides finish gathering (coturn answered 401 to the Allocate) with no relay candidate,
  // and with relay-only policy no other kind may be used: there is nothing to connect with.
  for (const [me, other] of [[a, b], [b, a]]) {
    const s = await waitFor(async () => {
      const s = await peerStats(me.page, other.id);
      return s?.iceGatheringState === 'complete' && s;
    }, { timeout: 20_000, interval: 200, what: 'ICE gathering to complete' });
    assert.deepEqual(s.localCandidates, [], 'no candidate at all (no relay: coturn refused the credentials)');
  }
  // A call with the right secret connects in ~1-3 s here; allow far more before calling it.
  await assert.rejects(
    Promise.any([a, b].map((p) => p.page.waitForFunction(() => window.__everConnected, null, { timeout: 12_000, polling: 100 }))),
    'no tile may reach data-state=connected',
  );
  for (const [me, other] of [[a, b], [b, a]]) {
    assert.equal(await me.page.evaluate(() => window.__everConnected), false);
    const s = await peerStats(me.page, other.id);
    assert.notEqual(s.connectionState, 'connected');
    assert.equal(s.localCandidateType, null, 'no selected candidate pair');
  }
});

/** Allocate on coturn with the credentials the page was given; the STUN answer code. */
async function allocateWith(page) {
  const { username, credential } = await turnCredentials(page);
  return suite.coturn.allocationCode(username, credential);
}

chromium('coturn accepts the good Worker\'s credentials and refuses the mismatched one\'s', async () => {
  const [g, b] = await Promise.all([join(suite.browser, suite.good.url, roomCode()), join(suite.browser, suite.bad.url, roomCode())]);
  open.push(g, b);
  assert.equal(await allocateWith(g.page), 200);
  assert.equal(await allocateWith(b.page), 401);
});
