// The shape of a join, read from the page's own timeline (public/js/timeline.js,
// window.pinhole.timeline), its resource timing and what a protocol client sees — order and
// counts, never durations: what the pre-join screen prepares, who makes which connection when,
// how many offers a call takes to start, and when video goes from half to full resolution.
// Run: node --test --test-concurrency=1 tests/browser/join.test.mjs   (after `make worker`)
import assert from 'node:assert/strict';
import { roomCode, waitFor } from '../support/stack.mjs';
import { Client } from '../support/client.mjs';
import { openRoom, join, joinPair, waitConnected, waitVideoFlowing, waitSignaling, browserSuite, engines } from '../support/browser.mjs';

const suite = browserSuite();
const { open } = suite;
const test = engines(['chromium']); // this file's tests run in Chromium only // participants of the running test, closed after it

const timeline = (page) => page.evaluate(() => window.pinhole.timeline.entries);
/** The marks called `name` (about participant `peer`, when given). */
const marks = (entries, name, peer) => entries.filter((e) => e.name === name && (peer === undefined || e.peer === peer));

test('the pre-join screen fetches the ICE servers and opens the camera; "Join" reuses both', async () => {
  const p = await openRoom(suite.browser, suite.stack.url, roomCode());
  open.push(p);
  await p.page.waitForFunction(() => window.pinhole.timeline.entries.some((e) => e.name === 'ice-servers'), null, { timeout: 10_000 });
  await p.page.evaluate(() => { window.pinhole.media.camera.__prejoin = true; });
  await p.page.getByRole('button', { name: 'Join', exact: true }).click();
  await waitSignaling(p.page, 'open');

  const entries = await timeline(p.page);
  const [joined] = marks(entries, 'join');
  const requests = await p.page.evaluate(() => performance.getEntriesByType('resource')
    .filter((r) => new URL(r.name).pathname === '/api/ice-servers').map((r) => r.startTime));
  assert.equal(requests.length, 1, `one /api/ice-servers request in all, got ${requests.length}`);
  assert.ok(requests[0] < joined.t, 'requested before the click, not by the join');
  assert.ok(marks(entries, 'ice-servers')[0].t < joined.t, 'and answered before it');
  assert.equal(marks(entries, 'media-request').length, 1, 'the camera and microphone were asked for once');
  assert.ok(marks(entries, 'media-ready')[0].t < joined.t);
  assert.equal(await p.page.evaluate(() => !!window.pinhole.media.camera.__prejoin), true, 'the call sends the preview\u2019s camera track');
});

/**
 * In the page: records, for each participant-added, whether its connection already existed.
 * `click`: presses "Join" first (which makes window.pinhole.call at once), so nothing is missed.
 */
function watchAdded(click) {
  if (click) document.getElementById('btn-join').click();
  window.__added = [];
  window.pinhole.call.addEventListener('participant-added', (e) => window.__added.push(!!e.detail.peer?.pc));
}

test('a call starts with one offer/answer round, on one bundled transport, each connection made before its tile', async () => {
  const room = roomCode();
  const a = await join(suite.browser, suite.stack.url, room); // in the room
  open.push(a);
  await a.page.evaluate(watchAdded, false);
  const b = await openRoom(suite.browser, suite.stack.url, room); // joins
  open.push(b);
  await b.page.evaluate(watchAdded, true);
  b.id = await waitSignaling(b.page, 'open');
  await Promise.all([waitConnected(a.page, [b.id]), waitConnected(b.page, [a.id])]);
  await Promise.all([waitVideoFlowing(a.page, b.id, { frames: 5 }), waitVideoFlowing(b.page, a.id, { frames: 5 })]);
  const [ta, tb] = await Promise.all([timeline(a.page), timeline(b.page)]);
  const count = (entries, peer) => Object.fromEntries(['offer-sent', 'offer-received', 'answer-sent', 'answer-received']
    .map((n) => [n, marks(entries, n, peer).length]));
  assert.deepEqual(count(tb, a.id), { 'offer-sent': 1, 'offer-received': 0, 'answer-sent': 0, 'answer-received': 1 }, 'the newcomer offers once');
  assert.deepEqual(count(ta, b.id), { 'offer-sent': 0, 'offer-received': 1, 'answer-sent': 1, 'answer-received': 0 }, 'the side in the room only answers');
  // max-bundle: the offerer gathers for its first m-line only, not once per m-line.
  const mids = new Set(marks(tb, 'local-candidate', a.id).map((e) => e.detail.mid));
  assert.equal(mids.size, 1, `candidates for one transport, got m-lines ${[...mids]}`);
  // The UI heard of each participant after its connection was made (the offer did not wait for it).
  for (const p of [a, b]) assert.deepEqual(await p.page.evaluate(() => window.__added), [true]);
});

test('the side in the room makes its connection when the newcomer arrives, and offers only if no offer comes', async () => {
  const room = roomCode();
  const a = await join(suite.browser, suite.stack.url, room);
  open.push(a);
  // A protocol client as the newcomer: it never offers.
  const c = await Client.join(suite.stack.wsUrl(room), { name: 'silent' });
  try {
    const first = await a.page.waitForFunction((id) => {
      const peer = window.pinhole.call.participants.get(id)?.peer;
      return peer && { initiator: peer.initiator, signalingState: peer.pc.signalingState, local: !!peer.pc.localDescription };
    }, c.id, { timeout: 10_000 }).then((h) => h.jsonValue());
    assert.deepEqual(first, { initiator: false, signalingState: 'stable', local: false },
      'a connection ready to answer, made on peerJoined (not by the fallback, which offers)');
    // The fallback: the offer never came, so the side in the room offers, with audio, video and data.
    const offer = await c.next((m) => m.type === 'signal' && m.from === a.id && m.data?.description?.type === 'offer', 15_000);
    for (const media of ['audio', 'video', 'application']) assert.match(offer.data.description.sdp, new RegExp(`^m=${media} `, 'm'));
    const entries = await timeline(a.page);
    assert.ok(marks(entries, 'pc-created', c.id)[0].t < marks(entries, 'offer-sent', c.id)[0].t);
  } finally {
    c.ws.close();
  }
});

test('each side sends video at half resolution until connected, then at full resolution', async () => {
  const [a, b] = await joinPair(suite.browser, suite.stack.url, open);
  await Promise.all([waitConnected(a.page, [b.id]), waitConnected(b.page, [a.id])]);
  for (const [me, other] of [[a, b], [b, a]]) {
    // The sender's own parameters, once it has gone to full resolution…
    await waitFor(() => me.page.evaluate((id) =>
      window.pinhole.call.participants.get(id).peer.tx.video.sender.getParameters().encodings.every((e) => (e.scaleResolutionDownBy ?? 1) === 1), other.id),
    { timeout: 15_000, interval: 200, what: `full-resolution video to ${other.id}` });
    // …and on the way there: half from the first offer or answer, full only after connecting.
    const entries = await timeline(me.page);
    const scales = marks(entries, 'video-scale', other.id);
    assert.deepEqual(scales.map((e) => e.detail.scale), [2, 1], `${me === a ? 'answering' : 'offering'} side`);
    assert.ok(scales[0].t < marks(entries, 'pc-connected', other.id)[0].t, 'half resolution before the connection');
    assert.ok(scales[1].t > marks(entries, 'pc-connected', other.id)[0].t, 'full resolution after it');
  }
});
