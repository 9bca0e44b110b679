// The app's own behaviour around a call, in headless Chromium against the real local Worker:
// room codes from "Start a new call", joining by PIN, invalid codes, the remembered name,
// permission denied, keyboard shortcuts and the diagnostics panel.
// Run: node --test --test-concurrency=1 tests/browser/app.test.mjs   (after `make worker`)
import assert from 'node:assert/strict';
import { startWorker, roomCode, panicsIn, waitFor } from '../support/stack.mjs';
import { join, joinPair, waitConnected, peerStats, recordAnnouncements, browserSuite, engines } from '../support/browser.mjs';

const suite = browserSuite();
const { open } = suite;
const test = engines(['chromium']); // this file's tests run in Chromium only // participants of the running test, closed after it

async function home() {
  const ctx = await suite.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const p = { ctx, page, errors: [] };
  page.on('pageerror', (e) => p.errors.push(e.message));
  open.push(p);
  await page.goto(`${suite.stack.url}/`);
  await page.waitForFunction(() => document.body.dataset.view === 'home');
  return p;
}

test('"Start a new call" opens a fresh, readable code with at least 50 bits', async () => {
  const { page } = await home();
  await page.getByLabel(/name/i).first().fill('Ana');
  await page.getByRole('button', { name: 'Start a new call' }).click();
  await page.waitForFunction(() => document.body.dataset.view === 'prejoin');
  const code = new URL(page.url()).pathname.slice(1);
  const { alphabet, codes } = await page.evaluate(async () => {
    const m = await import('/js/roomcode.js');
    return { alphabet: m.ALPHABET, codes: Array.from({ length: 500 }, () => m.generateCode()) };
  });
  const shape = new RegExp(`^[${alphabet}]{3}-[${alphabet}]{4}-[${alphabet}]{4}$`);
  assert.match(code, shape);
  for (const c of codes) assert.match(c, shape);
  assert.equal(new Set(codes).size, codes.length, 'codes repeat');
  assert.ok(!/[01ilo]/.test(alphabet), 'ambiguous characters in the alphabet');
  const bits = 11 * Math.log2(alphabet.length);
  assert.ok(bits >= 50, `${bits.toFixed(1)} bits`);
  // Every character of the alphabet shows up across 500 codes (the generator is not biased
  // toward a subset).
  assert.equal(new Set(codes.join('').replace(/-/g, '')).size, alphabet.length);
  // The name is remembered for next time.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.view === 'prejoin');
  assert.equal(await page.locator('#pre-name').inputValue(), 'Ana');
});

test('"Join" takes a 6-digit PIN or an invite link, and refuses an invalid code', async () => {
  const { page } = await home();
  const input = page.locator('#join-code');
  await input.fill('not a code!');
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.locator('#join-error').waitFor({ state: 'visible' });
  assert.equal(await page.evaluate(() => document.body.dataset.view), 'home');
  await input.fill('482913');
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.waitForFunction(() => document.body.dataset.view === 'prejoin');
  assert.equal(new URL(page.url()).pathname, '/482913');
  await page.goto(`${suite.stack.url}/`);
  await page.waitForFunction(() => document.body.dataset.view === 'home');
  await page.locator('#join-code').fill(`${suite.stack.url}/K7M-Q2XP-9RTZ`);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.waitForFunction(() => document.body.dataset.view === 'prejoin');
  assert.equal(new URL(page.url()).pathname, '/k7m-q2xp-9rtz');
});

test('an invalid code in the URL shows a clear banner', async () => {
  const ctx = await suite.browser.newContext();
  const page = await ctx.newPage();
  open.push({ ctx, page, errors: [] });
  await page.goto(`${suite.stack.url}/Bad_Code!`);
  await page.waitForFunction(() => document.body.dataset.signaling === 'invalid' || /Invalid room code/.test(document.getElementById('banner')?.textContent ?? ''));
  assert.match(await page.locator('#banner').textContent(), /Invalid room code/);
});

test('camera and microphone denied: clear help, and joining without media still works', async () => {
  const room = roomCode();
  const ctx = await suite.browser.newContext();
  await ctx.addInitScript(() => {
    const deny = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    navigator.mediaDevices.getUserMedia = deny;
  });
  const page = await ctx.newPage();
  const p = { ctx, page, errors: [] };
  page.on('pageerror', (e) => p.errors.push(e.message));
  open.push(p);
  await page.goto(`${suite.stack.url}/${room}`);
  const help = page.locator('#media-help');
  await help.waitFor({ state: 'visible' });
  assert.match(await help.textContent(), /blocking/i);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.waitForFunction(() => document.body.dataset.signaling === 'open');
  const other = await join(suite.browser, suite.stack.url, room);
  open.push(other);
  const deniedId = await page.evaluate(() => document.body.dataset.peerId);
  await waitConnected(other.page, [deniedId]);
  await other.page.waitForFunction((id) => document.querySelector(`.tile[data-peer-id="${id}"]`)?.dataset.muted === 'true', deniedId);
});

test('keyboard shortcuts toggle mute, but not while typing a message; Details shows the path', async () => {
  const [a, b] = await joinPair(suite.browser, suite.stack.url, open);
  await waitConnected(a.page, [b.id], { path: 'direct' });
  const mute = a.page.locator('#btn-mute');
  assert.equal(await mute.getAttribute('aria-pressed'), 'false');
  await a.page.locator('body').press('m');
  await a.page.waitForFunction(() => document.getElementById('btn-mute').getAttribute('aria-pressed') === 'true');
  await b.page.waitForFunction((id) => document.querySelector(`.tile[data-peer-id="${id}"]`)?.dataset.muted === 'true', a.id);
  // Typing an "m" in the chat box is text, not a shortcut.
  // The chat panel is open by default at this width; open it otherwise.
  if (!(await a.page.getByLabel('Message').isVisible())) await a.page.locator('#btn-chat').click();
  await a.page.getByLabel('Message').type('mmm');
  assert.equal(await mute.getAttribute('aria-pressed'), 'true');
  assert.equal(await a.page.getByLabel('Message').inputValue(), 'mmm');
  // The diagnostics panel names the path and measures the round trip.
  await a.page.locator('#btn-diag').click();
  const section = a.page.locator(`#diag-body [data-peer-id="${b.id}"]`);
  await section.waitFor({ state: 'visible' });
  await a.page.waitForFunction((id) => {
    const t = document.querySelector(`#diag-body [data-peer-id="${id}"]`)?.textContent ?? '';
    return /direct/.test(t) && /\d+ ms/.test(t);
  }, b.id, { timeout: 20_000 });
});

test('Invite copies the link; at phone size every control is a large, named touch target', async () => {
  const room = roomCode();
  const ctx = await suite.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: suite.stack.url });
  const page = await ctx.newPage();
  const p = { ctx, page, errors: [] };
  page.on('pageerror', (e) => p.errors.push(e.message));
  open.push(p);
  await page.goto(`${suite.stack.url}/${room}`);
  await page.waitForFunction(() => document.body.dataset.view === 'prejoin');
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.waitForFunction(() => document.body.dataset.signaling === 'open');
  // The waiting state shows the link.
  assert.equal(await page.locator('#wait-link').textContent(), `${suite.stack.url}/${room}`);
  const controls = await page.locator('.controls button').evaluateAll((buttons) =>
    buttons
      .filter((b) => b.offsetParent !== null)
      .map((b) => {
        const r = b.getBoundingClientRect();
        const name = (b.getAttribute('aria-label') || b.textContent || '').trim();
        return { id: b.id, name, w: r.width, h: r.height, right: r.right };
      }));
  assert.ok(controls.length >= 4, JSON.stringify(controls));
  for (const c of controls) {
    assert.ok(c.name.length > 0, `${c.id} has no accessible name`);
    assert.ok(c.w >= 44 && c.h >= 44, `${c.id} is ${c.w}×${c.h}`);
    assert.ok(c.right <= 390 + 1, `${c.id} is off screen`);
  }
  assert.ok(await page.getByRole('button', { name: 'Leave call' }).isVisible());
  const inline = await page.locator('video').evaluateAll((vs) => vs.every((v) => v.hasAttribute('playsinline')));
  assert.ok(inline, 'every video plays inline');
  // Touch devices may get the share sheet instead; the copy button in the waiting state copies.
  await page.locator('#wait-copy').click();
  await page.waitForFunction(async (url) => (await navigator.clipboard.readText()) === url, `${suite.stack.url}/${room}`);
});

test('switching the microphone mid-call keeps audio flowing to the other side', async () => {
  const [a, b] = await joinPair(suite.browser, suite.stack.url, open);
  await waitConnected(a.page, [b.id]);
  await waitConnected(b.page, [a.id]);
  if (!(await a.page.locator('#sel-mic').isVisible())) await a.page.locator('#btn-settings').click();
  const options = await a.page.locator('#sel-mic option').evaluateAll((os) => os.map((o) => o.value));
  assert.ok(options.length >= 2, `fake devices offer ${options.length} microphone(s)`);
  const before = await a.page.evaluate(() => window.pinhole.media.audio?.getSettings().deviceId);
  const next = options.find((v) => v && v !== before);
  await a.page.locator('#sel-mic').selectOption(next);
  await a.page.waitForFunction((id) => window.pinhole.media.audio?.getSettings().deviceId === id, next);
  // The new track is what the connection sends, and the other side keeps receiving audio.
  await a.page.waitForFunction((args) => {
    const p = window.pinhole.call.participants.get(args.peer);
    return p?.peer?.tx.audio?.sender.track?.getSettings().deviceId === args.dev;
  }, { peer: b.id, dev: next });
  const first = (await peerStats(b.page, a.id)).audioBytesReceived;
  await waitFor(async () => (await peerStats(b.page, a.id)).audioBytesReceived > first + 2000, { timeout: 10_000, what: 'audio to keep arriving' });
});

test('ICE servers are refreshed before they expire and applied to live connections', async (t) => {
  // A Worker whose credentials live 60 s (the minimum): the app refreshes them ahead of expiry.
  // No coturn is needed: the call itself runs direct; what is checked is the configuration.
  const short = await startWorker({
    vars: { TURN_SECRET: 'refresh-test-secret', TURN_URLS: 'turn:127.0.0.1:9?transport=udp', TURN_TTL_SECONDS: '60' },
  });
  t.after(() => short.stop());
  const room = roomCode();
  const a = await join(suite.browser, short.url, room);
  open.push(a);
  const b = await join(suite.browser, short.url, room);
  open.push(b);
  await waitConnected(a.page, [b.id]);
  const username = () =>
    a.page.evaluate((id) => {
      const pc = window.pinhole.call.participants.get(id)?.peer?.pc;
      return pc?.getConfiguration().iceServers.find((s) => s.username)?.username ?? null;
    }, b.id);
  const first = await username();
  assert.match(first ?? '', /^\d+:/, 'the connection uses the Worker\u2019s TURN credentials');
  const expiry = Number(first.split(':')[0]);
  // Refreshed (a new username on the live connection) before the old one expires.
  await waitFor(async () => {
    const now = await username();
    return now && now !== first;
  }, { timeout: 50_000, interval: 500, what: 'fresh credentials on the live connection' });
  assert.ok(Date.now() / 1000 < expiry, 'the refresh came after the old credentials expired');
  assert.equal((await peerStats(a.page, b.id)).connectionState, 'connected', 'the call was disturbed');
  assert.deepEqual(panicsIn(short.log()), []);
});

test('Web Share where the suite.browser has it: the share sheet gets the invite link; a cancelled sheet is silent', async () => {
  // Chromium on Linux has no Web Share implementation (navigator.share is absent, so the button
  // must stay hidden); the share sheet is the operating system's, so on a touch device the
  // test stands in for it with a navigator.share that records what it was given.
  const room = roomCode();
  const desktop = await join(suite.browser, suite.stack.url, room);
  open.push(desktop);
  assert.equal(await desktop.page.evaluate(() => 'share' in navigator), false);
  assert.equal(await desktop.page.locator('#wait-share').isVisible(), false, 'no Share button without Web Share');

  const ctx = await suite.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  const p = { ctx, page, errors: [] };
  page.on('pageerror', (e) => p.errors.push(e.message));
  open.push(p);
  await page.addInitScript(() => {
    window.__shared = [];
    window.__notices = [];
    addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('notice-text');
      new MutationObserver(() => /Invite link/.test(el.textContent) && window.__notices.push(el.textContent))
        .observe(el, { childList: true, characterData: true, subtree: true });
    });
    navigator.share = async (data) => {
      window.__shared.push(data);
      // The second time the person dismisses the sheet.
      if (window.__shared.length === 2) throw new DOMException('Share canceled', 'AbortError');
    };
  });
  const other = roomCode();
  await page.goto(`${suite.stack.url}/${other}`);
  await page.waitForFunction(() => document.body.dataset.view === 'prejoin');
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.waitForFunction(() => document.body.dataset.signaling === 'open');
  const url = `${suite.stack.url}/${other}`;
  await page.getByRole('button', { name: 'Share…' }).click();
  await page.waitForFunction(() => window.__shared.length === 1);
  const first = await page.evaluate(() => window.__shared[0]);
  assert.equal(first.url, url);
  assert.ok(first.title && first.text, 'a title and text for the sheet');
  // On a touch screen the Invite button opens the sheet too (a desktop copies the link instead).
  await page.getByRole('button', { name: /invite/i }).click();
  await page.waitForFunction(() => window.__shared.length === 2);
  assert.equal((await page.evaluate(() => window.__shared[1])).url, url);
  // Dismissing the sheet is not an error: no copy-the-link fallback (checked after one more
  // share, so a fallback would have had time to show).
  await page.getByRole('button', { name: 'Share…' }).click();
  await page.waitForFunction(() => window.__shared.length === 3);
  assert.deepEqual(await page.evaluate(() => window.__notices), []);
});

test('status changes are announced to screen readers', async () => {
  const room = roomCode();
  // Narrower than 1000 px, so the chat panel is closed and new messages are announced (with the
  // panel open, the chat log itself is a polite live region).
  const a = await join(suite.browser, suite.stack.url, room, { width: 800, name: 'Ana' });
  open.push(a);
  const region = await a.page.locator('#announcer').evaluate((el) => ({ live: el.getAttribute('aria-live'), atomic: el.getAttribute('aria-atomic') }));
  assert.deepEqual(region, { live: 'polite', atomic: 'true' });
  assert.equal(await a.page.locator('#chat-log').getAttribute('aria-live'), 'polite');
  assert.equal(await a.page.locator('#banner').getAttribute('role'), 'status');
  await recordAnnouncements(a.page);
  const said = (text) => a.page.waitForFunction((t) => window.__announced.includes(t), text, { timeout: 15_000 });

  const b = await join(suite.browser, suite.stack.url, room, { name: 'Bo' });
  open.push(b);
  await said('Bo joined the call');
  await waitConnected(a.page, [b.id]);
  // Names are others' text: shown direction-isolated, so a bidi override cannot reorder the UI.
  const isolation = await a.page.evaluate((id) => ({
    tile: getComputedStyle(document.querySelector(`.tile.remote[data-peer-id="${id}"] .name`)).unicodeBidi,
    system: [...document.querySelectorAll('#chat-log li.system bdi')].map((b) => b.textContent),
  }), b.id);
  assert.deepEqual(isolation, { tile: 'isolate', system: ['Bo'] });
  await a.page.getByRole('button', { name: 'Mute', exact: true }).click();
  await said('Microphone off');
  await b.page.getByRole('textbox', { name: 'Message' }).fill('hello there');
  await b.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await said('Message from Bo: hello there');
  await a.page.evaluate(() => window.pinhole.call.sig.ws.close(4000, 'test: drop'));
  await said('Connection to the server lost, reconnecting');
  await said('Reconnected to the server');
  await b.page.getByRole('button', { name: 'Leave call' }).click();
  await said('Bo left the call');
});
