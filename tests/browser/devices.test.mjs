// Devices mid-call, in headless Chromium with its fake devices (three cameras, three microphones,
// three speakers — see CHROMIUM_ARGS): switching camera sends the new camera without
// renegotiating, and choosing a speaker routes every remote participant's audio to it
// (setSinkId), including participants who join later.
// Run: node --test --test-concurrency=1 tests/browser/devices.test.mjs   (after `make worker`)
import assert from 'node:assert/strict';
import { join, joinPair, waitConnected, waitVideoFlowing, peerStats, browserSuite, engines } from '../support/browser.mjs';

const suite = browserSuite();
const { open } = suite;
const test = engines(['chromium']); // this file's tests run in Chromium only // participants of the running test, closed after it

async function pair() {
  const [a, b, room] = await joinPair(suite.browser, suite.stack.url, open);
  await Promise.all([waitConnected(a.page, [b.id]), waitConnected(b.page, [a.id])]);
  return [a, b, room];
}

/** Opens the settings panel (where the device pickers live during a call) if it is closed. */
async function settings(page, select) {
  if (!(await page.locator(select).isVisible())) await page.getByRole('button', { name: 'Settings' }).click();
  await page.locator(select).waitFor({ state: 'visible' });
  return page.locator(`${select} option`).evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));
}

test('switching camera mid-call: the other side receives the new camera, no renegotiation', async () => {
  const [a, b] = await pair();
  await waitVideoFlowing(b.page, a.id, { frames: 5 });
  const options = await settings(a.page, '#sel-cam');
  assert.equal(options.length, 3, `three fake cameras listed: ${JSON.stringify(options)}`);
  const before = await a.page.evaluate(() => window.pinhole.media.camera.getSettings().deviceId);
  // fake_device_2 is the MJPEG webcam (fake_device_1 is a depth camera; see CHROMIUM_ARGS).
  const next = options.find((o) => o.label === 'fake_device_2');
  assert.ok(next && next.value !== before, `switching from ${before} to ${JSON.stringify(next)}`);
  const sdpBefore = await a.page.evaluate((id) => window.pinhole.call.participants.get(id).peer.pc.localDescription.sdp, b.id);

  await a.page.locator('#sel-cam').selectOption(next.value);
  await a.page.waitForFunction((dev) => window.pinhole.media.camera?.getSettings().deviceId === dev, next.value);
  // The connection now sends the new camera (the encoder's source is the new track)…
  await a.page.waitForFunction(([peer, dev]) =>
    window.pinhole.call.participants.get(peer)?.peer?.tx.video?.sender.track?.getSettings().deviceId === dev, [b.id, next.value]);
  const encoded = await a.page.evaluate(async (peer) => {
    const pc = window.pinhole.call.participants.get(peer).peer.pc;
    const track = window.pinhole.media.camera;
    return new Promise((resolve) => {
      const check = async () => {
        const stats = [...(await pc.getStats()).values()];
        const out = stats.find((s) => s.type === 'outbound-rtp' && s.kind === 'video');
        const src = out && stats.find((s) => s.id === out.mediaSourceId);
        if (src?.trackIdentifier === track.id) resolve(track.label);
        else setTimeout(check, 100);
      };
      check();
    });
  }, b.id);
  assert.notEqual(encoded, '', 'the encoder is fed from the new camera');
  // …the old camera is released (its light goes off)…
  assert.equal(await a.page.evaluate((dev) => window.pinhole.media.camera.getSettings().deviceId !== dev, before), true);
  // …the other side keeps decoding video, and it took no new offer/answer (replaceTrack).
  await waitVideoFlowing(b.page, a.id, { frames: 10 });
  const after = await a.page.evaluate((id) => window.pinhole.call.participants.get(id).peer.pc.localDescription.sdp, b.id);
  assert.equal(after, sdpBefore, 'no renegotiation');
  // The choice is remembered for the next call.
  assert.equal(await a.page.evaluate(() => JSON.parse(localStorage.getItem('pinhole:prefs')).videoId), next.value);
});

test('choosing a speaker routes every remote participant\u2019s audio to it, also for later joiners', async () => {
  const [a, b, room] = await pair();
  const options = await settings(a.page, '#sel-spk');
  assert.ok(options.length >= 2, `fake speakers listed: ${JSON.stringify(options)}`);
  const sinks = () => a.page.evaluate(() => [...document.querySelectorAll('.tile.remote video')].map((v) => v.sinkId));
  assert.deepEqual(await sinks(), [''], 'the default output to begin with');
  const choice = options.find((o) => o.value && o.value !== 'default');

  await a.page.locator('#sel-spk').selectOption(choice.value);
  await a.page.waitForFunction((id) => [...document.querySelectorAll('.tile.remote video')].every((v) => v.sinkId === id), choice.value);

  // A third participant's tile plays through the chosen speaker from the start.
  const c = await join(suite.browser, suite.stack.url, room);
  open.push(c);
  await waitConnected(a.page, [b.id, c.id]);
  await a.page.waitForFunction((id) => {
    const vs = [...document.querySelectorAll('.tile.remote video')];
    return vs.length === 2 && vs.every((v) => v.sinkId === id);
  }, choice.value, { timeout: 10_000 });
  // Audio is still being received from both.
  for (const other of [b, c]) {
    const first = (await peerStats(a.page, other.id)).audioBytesReceived;
    await waitVideoFlowing(a.page, other.id, { frames: 3 });
    assert.ok((await peerStats(a.page, other.id)).audioBytesReceived > first, 'audio keeps arriving');
  }
  assert.equal(await a.page.evaluate(() => JSON.parse(localStorage.getItem('pinhole:prefs')).speakerId), choice.value);
});
