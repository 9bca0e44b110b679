// The call app end to end in headless Chromium and Firefox with fake media, against the real
// local Worker (wrangler dev): media, mesh, room full, chat, files, mute/camera state, screen
// share, hang-up. Each test's title names its engines (participants in join order).
// Run: node --test --test-concurrency=1 tests/browser/call.test.mjs   (after `make worker`)
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { roomCode, waitFor } from '../support/stack.mjs';
import {
  openRoom, joinAll as joinEach, tiles, waitTile, waitConnected, peerStats, waitVideoFlowing, browserSuite, engines, downloadLink,
} from '../support/browser.mjs';

const suite = browserSuite({ engines: ['chromium', 'firefox'] });
const { open } = suite; // participants of the running test, closed after it
/** Engine combinations: the call core runs Firefox↔Firefox and mixed; the rest Chromium only. */
const chromium = engines(['chromium']);
const core = engines(['chromium', 'firefox', 'chromium+firefox']);
const mesh = engines(['chromium', 'chromium+firefox+firefox']);

/** How the encoder checks below poll getStats(). */
const STATS_POLL = { timeout: 15_000, interval: 200 };

/** `n` participants of the engines `combo` join `room` one after the other. */
const joinAll = (room, n, combo = 'chromium', opts = {}) => joinEach(suite.pick(combo), suite.stack.url, open, room, n, opts);

engines(['chromium', 'firefox', 'chromium+firefox', 'firefox+chromium'])('2 peers connect directly and each receives video', async (t, combo) => {
  const [a, b] = await joinAll(roomCode(), 2, combo);
  assert.notEqual(a.id, b.id);
  await Promise.all([
    waitConnected(a.page, [b.id], { path: 'direct' }),
    waitConnected(b.page, [a.id], { path: 'direct' }),
  ]);
  for (const [me, other] of [[a, b], [b, a]]) {
    const s = await waitVideoFlowing(me.page, other.id, { frames: 15 });
    assert.equal(s.connectionState, 'connected');
    assert.ok(s.frameWidth > 0, 'decoded frames have a size');
    assert.ok(s.audioBytesReceived > 0, 'audio arrives too');
    assert.ok(['host', 'srflx', 'prflx'].includes(s.localCandidateType), `direct path, got ${s.localCandidateType}`);
    // The <video> of the tile actually renders the remote stream (its clock advances).
    await me.page.waitForFunction((id) => {
      const v = document.querySelector(`.tile.remote[data-peer-id="${id}"] video`);
      if (!v || !(v.videoWidth > 0) || v.paused) return false;
      v.__t0 ??= v.currentTime;
      return v.currentTime > v.__t0;
    }, other.id, { timeout: 10_000 });
    // Every engine here decodes VP8 and Opus (Firefox has no H.264): the app prefers them.
    assert.equal(s.videoCodec, 'video/VP8', 'VP8 video');
    assert.equal(s.audioCodec, 'audio/opus', 'Opus audio');
  }
});

mesh('3-peer mesh: every page has 2 connected remote tiles receiving video', async (t, combo) => {
  const ps = await joinAll(roomCode(), 3, combo);
  const ids = ps.map((p) => p.id);
  assert.equal(new Set(ids).size, 3);
  await Promise.all(ps.map((p) => waitConnected(p.page, ids.filter((id) => id !== p.id))));
  await Promise.all(ps.flatMap((p) => ids.filter((id) => id !== p.id).map((id) => waitVideoFlowing(p.page, id, { frames: 10 }))));
});

chromium('4 peers fill the room; a 5th sees "room full"', async () => {
  const room = roomCode();
  const ps = await joinAll(room, 4);
  assert.equal(new Set(ps.map((p) => p.id)).size, 4);
  const fifth = await openRoom(suite.browser, suite.stack.url, room);
  open.push(fifth);
  await fifth.page.getByRole('button', { name: 'Join', exact: true }).click();
  await fifth.page.waitForFunction(() => document.body.dataset.signaling === 'full', null, { timeout: 15_000 });
  await fifth.page.getByRole('heading', { name: 'This room is full' }).waitFor({ state: 'visible', timeout: 5000 });
  assert.equal(await fifth.page.evaluate(() => document.body.dataset.peerId ?? null), null, 'the 5th got no id');
  // Nobody inside saw a 5th participant.
  for (const p of ps) {
    const ts = await tiles(p.page);
    assert.equal(ts.length, 3, 'three remote tiles each');
    assert.ok(ts.every((t) => ps.some((q) => q.id === t.id)));
  }
});

core('chat both ways', async (t, combo) => {
  const [a, b] = await joinAll(roomCode(), 2, combo);
  await Promise.all([waitConnected(a.page, [b.id]), waitConnected(b.page, [a.id])]);
  const say = async (p, text) => {
    await p.page.getByRole('textbox', { name: 'Message' }).fill(text);
    await p.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  };
  const heard = (p, from, text) => p.page.waitForFunction(([from, text]) =>
    [...document.querySelectorAll('#chat-log li.msg:not(.mine)')].some((li) =>
      li.dataset.from === from && li.querySelector('.text')?.textContent === text), [from, text], { timeout: 10_000 });
  const hello = `hello from a ${randomBytes(4).toString('hex')}`;
  const reply = `and back from b <b>${randomBytes(4).toString('hex')}</b>`;
  await say(a, hello);
  await heard(b, a.id, hello);
  await say(b, reply);
  await heard(a, b.id, reply); // as text: the markup is not interpreted
  assert.equal(await a.page.locator('#chat-log b').count(), 0);
  // Each message arrives once, and the sender sees its own.
  assert.equal(await b.page.locator('#chat-log li.msg:not(.mine) .text', { hasText: hello }).count(), 1);
  assert.equal(await a.page.locator('#chat-log li.msg.mine .text', { hasText: hello }).count(), 1);
});

core('a 5 MB file arrives byte-identical, with progress on both ends', async (t, combo) => {
  const [a, b] = await joinAll(roomCode(), 2, combo);
  await Promise.all([waitConnected(a.page, [b.id]), waitConnected(b.page, [a.id])]);
  const data = randomBytes(5 * 1024 * 1024);
  const sent = createHash('sha256').update(data).digest('hex');
  const name = `pinhole-${randomBytes(3).toString('hex')}.bin`;
  // Record every progress value and status text each side shows for file items (transfers on
  // loopback are fast, so intermediate states are caught by an observer, not by polling).
  const watch = (p) => p.page.evaluate(() => {
    window.__fileProgress = [];
    const log = document.getElementById('chat-log');
    const record = () => {
      for (const li of log.querySelectorAll('li.msg.file')) {
        const pr = li.querySelector('progress');
        window.__fileProgress.push({ value: Number(pr.value), max: Number(pr.max), status: li.querySelector('.fstatus').textContent, state: li.dataset.state });
      }
    };
    new MutationObserver(record).observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await Promise.all([watch(a), watch(b)]);
  await a.page.getByLabel('Send file').setInputFiles({ name, mimeType: 'application/octet-stream', buffer: data });
  const item = (p) => p.page.locator('#chat-log li.msg.file', { hasText: name });
  await item(b).and(b.page.locator('[data-state=done]')).waitFor({ timeout: 60_000 });
  await item(a).and(a.page.locator('[data-state=done]')).waitFor({ timeout: 15_000 });
  assert.match(await item(a).locator('.fstatus').textContent(), /Delivered/);
  assert.match(await item(b).locator('.fstatus').textContent(), /SHA-256 verified/);

  const download = await downloadLink(item(b).getByRole('link', { name: `Download ${name}` }));
  assert.equal(download.suggestedFilename, name);
  const got = download.data;
  assert.equal(got.length, data.length, 'size');
  assert.equal(createHash('sha256').update(got).digest('hex'), sent, 'SHA-256 of the downloaded file');

  // Progress was shown part-way on both ends, not just at the end.
  const senderSeen = await a.page.evaluate(() => window.__fileProgress);
  const receiverSeen = await b.page.evaluate(() => window.__fileProgress);
  assert.ok(senderSeen.some((s) => /^Sending… \d+%$/.test(s.status) && s.value > 0 && s.value < s.max),
    `sender showed partial progress: ${JSON.stringify(senderSeen.slice(0, 5))}`);
  assert.ok(receiverSeen.some((s) => /^Receiving… \d+%$/.test(s.status) && s.value > 0 && s.value < s.max),
    `receiver showed partial progress: ${JSON.stringify(receiverSeen.slice(0, 5))}`);
});

core('mute and camera off are shown on the other side', async (t, combo) => {
  const [a, b] = await joinAll(roomCode(), 2, combo);
  await Promise.all([waitConnected(a.page, [b.id]), waitConnected(b.page, [a.id])]);
  await waitTile(b.page, a.id, { muted: 'false', cameraOff: 'false' });

  await a.page.getByRole('button', { name: 'Mute', exact: true }).click();
  await waitTile(b.page, a.id, { muted: 'true', cameraOff: 'false' }, 5000);
  assert.equal(await a.page.evaluate(() => window.pinhole.media.audio.enabled), false, 'the outgoing audio track is disabled');

  await a.page.getByRole('button', { name: 'Camera off', exact: true }).click();
  await waitTile(b.page, a.id, { muted: 'true', cameraOff: 'true' }, 5000);
  assert.equal((await peerStats(a.page, b.id)).outgoingVideo, null, 'no video track is sent with the camera off');

  await a.page.getByRole('button', { name: 'Camera off', exact: true }).click();
  await a.page.getByRole('button', { name: 'Mute', exact: true }).click();
  await waitTile(b.page, a.id, { muted: 'false', cameraOff: 'false' }, 5000);
  // The new camera track reaches the other side again.
  await waitVideoFlowing(b.page, a.id, { frames: 10 });
  // And the state of b is shown to a, the other way round.
  await b.page.getByRole('button', { name: 'Mute', exact: true }).click();
  await waitTile(a.page, b.id, { muted: 'true' }, 5000);
});

chromium('screen share replaces the outgoing video track and switches back', async () => {
  const [a, b] = await joinAll(roomCode(), 2);
  await Promise.all([waitConnected(a.page, [b.id]), waitConnected(b.page, [a.id])]);
  const camera = (await peerStats(a.page, b.id)).outgoingVideo;
  assert.ok(camera, 'camera track is sent');
  assert.equal(camera.displaySurface, null);
  await waitFor(async () => (await peerStats(a.page, b.id)).encodedTrack === camera.id, { ...STATS_POLL, what: 'the encoder to use the camera track' });
  await waitTile(b.page, a.id, { screen: null });

  const share = a.page.getByRole('button', { name: 'Share screen' });
  await share.click();
  await waitTile(b.page, a.id, { screen: 'true' }, 10_000);
  const screen = (await peerStats(a.page, b.id)).outgoingVideo;
  assert.ok(screen && screen.id !== camera.id, 'a different track is sent while sharing');
  assert.equal(screen.displaySurface, 'monitor', `a display capture track (${screen.label})`);
  assert.equal(await share.getAttribute('aria-pressed'), 'true');
  // The encoder is fed from the screen track now, and b keeps decoding what it sends.
  await waitFor(async () => (await peerStats(a.page, b.id)).encodedTrack === screen.id, { ...STATS_POLL, what: 'the encoder to take the screen track' });
  await waitVideoFlowing(b.page, a.id, { frames: 10 });

  await share.click();
  await waitTile(b.page, a.id, { screen: null }, 10_000);
  const back = (await peerStats(a.page, b.id)).outgoingVideo;
  assert.equal(back?.id, camera.id, 'back to the same camera track');
  assert.equal(await share.getAttribute('aria-pressed'), 'false');
  await waitFor(async () => (await peerStats(a.page, b.id)).encodedTrack === camera.id, { ...STATS_POLL, what: 'the encoder to take the camera track again' });
  await waitVideoFlowing(b.page, a.id, { frames: 10 });
});

engines(['chromium', 'firefox+chromium+firefox'])('hang-up removes the tile on the other side within 2 s', async (t, combo) => {
  const [a, b, c] = await joinAll(roomCode(), 3, combo);
  await Promise.all([a, b, c].map((p) => waitConnected(p.page, [a, b, c].filter((q) => q !== p).map((q) => q.id))));
  // Timed inside the pages (one machine, one clock) so the driver's own latency doesn't count:
  // from the click on a to the tile's removal on b and c.
  for (const p of [b, c]) {
    await p.page.evaluate((id) => {
      window.__tileGone = null;
      const obs = new MutationObserver(() => {
        if (!document.querySelector(`.tile.remote[data-peer-id="${id}"]`)) { window.__tileGone = Date.now(); obs.disconnect(); }
      });
      obs.observe(document.body, { subtree: true, childList: true });
    }, a.id);
  }
  await a.page.evaluate(() => document.getElementById('btn-leave').addEventListener('click', () => { window.__leftAt = Date.now(); }, { capture: true }));
  await a.page.getByRole('button', { name: 'Leave call' }).click();
  const leftAt = await a.page.evaluate(() => window.__leftAt);
  for (const p of [b, c]) {
    const gone = await p.page.waitForFunction(() => window.__tileGone, null, { timeout: 5000 }).then((h) => h.jsonValue());
    assert.ok(gone - leftAt <= 2000, `tile removed ${gone - leftAt} ms after the click`);
    t.diagnostic(`tile removed ${gone - leftAt} ms after the click`);
  }
  await a.page.getByRole('heading', { name: 'You left the call' }).waitFor({ timeout: 5000 });
  // The two who stayed are still connected to each other.
  await waitConnected(b.page, [c.id]);
  await waitVideoFlowing(b.page, c.id, { frames: 5 });
});
