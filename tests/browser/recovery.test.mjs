// A real network failure under a live call, and what the app does about it on its own: a
// relay-only call runs through the local coturn, then coturn is frozen (SIGSTOP, so every relayed
// packet is dropped — the path dies, nothing tells the browsers). The app must notice
// (tiles go "reconnecting"), fetch fresh ICE servers and restart ICE by itself, and connect again
// on the same RTCPeerConnection once the path is back; chat and a file sent while the connection
// was down must arrive afterwards, once each and intact.
// Run: node --test --test-concurrency=1 tests/browser/recovery.test.mjs   (after `make worker`)
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import {
  joinPair, waitConnected, waitTile, waitVideoFlowing, recordAnnouncements, announcements, browserSuite, engines, downloadLink,
} from '../support/browser.mjs';

const SECRET = randomBytes(24).toString('base64url'); // test-only, never printed
// coturn is resumed after every test (a frozen one never outlives its test).
const suite = browserSuite({ coturn: [SECRET], workers: (coturn) => ({ stack: { vars: coturn.workerVars(SECRET) } }), engines: ['chromium', 'firefox'] });
const { open } = suite; // participants of the running test, closed after it
/** The ICE username fragment of `page`'s own side of the connection to `peerId`. */
const localUfrag = (page, peerId) => page.evaluate((id) =>
  /a=ice-ufrag:(\S+)/.exec(window.pinhole.call.participants.get(id).peer.pc.localDescription.sdp)[1], peerId);

engines(['chromium', 'chromium+firefox'])('a dead relay path: automatic ICE restart with fresh credentials; chat and a file sent meanwhile arrive', async (t, combo) => {
  const [a, b] = await joinPair(suite.pick(combo), suite.stack.url, open, { relay: true });
  await Promise.all([waitConnected(a.page, [b.id], { path: 'relay' }), waitConnected(b.page, [a.id], { path: 'relay' })]);
  await Promise.all([waitVideoFlowing(a.page, b.id, { frames: 5 }), waitVideoFlowing(b.page, a.id, { frames: 5 })]);

  const pairs = [[a, b], [b, a]];
  const before = {};
  for (const [me, other] of pairs) {
    before[me.id] = await localUfrag(me.page, other.id);
    // Tag the connection (to prove it is never replaced) and log the tile's states.
    await me.page.evaluate((id) => {
      window.pinhole.call.participants.get(id).peer.pc.__kept = true;
      window.__states = [];
      const tile = document.querySelector(`.tile.remote[data-peer-id="${id}"]`);
      new MutationObserver(() => window.__states.push(tile.dataset.state))
        .observe(tile, { attributes: true, attributeFilter: ['data-state'] });
    }, other.id);
  }
  await recordAnnouncements(a.page);
  // ICE server fetches from here on (the app must refresh them before restarting ICE).
  const fetches = { [a.id]: [], [b.id]: [] };
  for (const p of [a, b]) p.page.on('request', (r) => r.url().endsWith('/api/ice-servers') && fetches[p.id].push(Date.now()));

  // The app reuses ICE servers fetched in the last 20 s (a burst of restarts must not hit the
  // rate limit); let that window pass so the restart below has to fetch.
  await a.page.waitForFunction(() => Date.now() - window.pinhole.call.ice.fetchedAt > 20_000, null, { timeout: 30_000, polling: 500 });
  const downAt = Date.now();
  suite.coturn.pause();
  await Promise.all(pairs.map(([me, other]) =>
    me.page.waitForFunction((id) => ['reconnecting', 'failed'].includes(
      document.querySelector(`.tile.remote[data-peer-id="${id}"]`)?.dataset.state), other.id, { timeout: 30_000 })));
  const noticedMs = Date.now() - downAt;

  // While the connection is down: chat both ways and a file from a to b.
  const hello = `while down ${randomBytes(4).toString('hex')}`;
  const reply = `reply ${randomBytes(4).toString('hex')}`;
  for (const [p, text] of [[a, hello], [b, reply]]) {
    await p.page.getByRole('textbox', { name: 'Message' }).fill(text);
    await p.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  }
  const data = randomBytes(300 * 1024);
  const name = `down-${randomBytes(3).toString('hex')}.bin`;
  await a.page.getByLabel('Send file').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: data });

  // The app restarts ICE by itself (a new local ufrag in a new offer/answer) after fetching fresh
  // ICE servers — while the relay is still dead, so the restart cannot have been a side effect
  // of the path coming back.
  await a.page.waitForFunction(([id, old]) => {
    const pc = window.pinhole.call.participants.get(id).peer.pc;
    return !pc.localDescription.sdp.includes(`a=ice-ufrag:${old}\r`);
  }, [b.id, before[a.id]], { timeout: 30_000, polling: 200 });
  const restartedMs = Date.now() - downAt;
  // Either side may be the one that restarted (the impolite one goes first); the other answers.
  assert.ok([...fetches[a.id], ...fetches[b.id]].some((at) => at > downAt), 'fresh ICE servers were fetched for the restart');

  const upAt = Date.now();
  suite.coturn.resume();
  await Promise.all(pairs.map(([me, other]) => waitTile(me.page, other.id, { state: 'connected', path: 'relay' }, 45_000)));
  const recoveredMs = Date.now() - upAt;
  t.diagnostic(`noticed ${noticedMs} ms after the path died; ICE restarted at ${restartedMs} ms; connected ${recoveredMs} ms after it came back`);

  for (const [me, other] of pairs) {
    assert.notEqual(await localUfrag(me.page, other.id), before[me.id], 'ICE was restarted (new credentials) on both sides');
    assert.equal(await me.page.evaluate((id) => !!window.pinhole.call.participants.get(id).peer.pc.__kept, other.id), true,
      'the same RTCPeerConnection (no teardown)');
    const states = await me.page.evaluate(() => window.__states);
    assert.ok(states.includes('reconnecting') && states.at(-1) === 'connected', `tile states: ${states}`);
  }
  await Promise.all([waitVideoFlowing(a.page, b.id, { frames: 10 }), waitVideoFlowing(b.page, a.id, { frames: 10 })]);
  assert.ok((await announcements(a.page)).some((s) => s.startsWith('Reconnecting to ')), 'the outage was announced');

  // What was sent during the outage arrives, once.
  for (const [p, text] of [[b, hello], [a, reply]]) {
    const got = p.page.locator('#chat-log li.msg:not(.mine) .text', { hasText: text });
    await got.waitFor({ timeout: 30_000 });
    assert.equal(await got.count(), 1, `"${text}" delivered once`);
  }
  const item = (p) => p.page.locator('#chat-log li.msg.file', { hasText: name });
  await item(b).and(b.page.locator('[data-state=done]')).waitFor({ timeout: 30_000 });
  assert.match(await item(b).locator('.fstatus').textContent(), /SHA-256 verified/);
  const got = (await downloadLink(item(b).getByRole('link', { name: `Download ${name}` }))).data;
  assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
});
