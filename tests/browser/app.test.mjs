// The app's own behaviour around a call, in headless Chromium against the real local Worker:
// room codes from "Start a new call", joining by PIN, invalid codes, the remembered name,
// permission denied, keyboard shortcuts and the diagnostics panel.
// Run: node --test --test-concurrency=1 tests/browser/app.test.mjs   (after `make worker`)
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startWorker, roomCode, panicsIn } from '../support/stack.mjs';
import { launchBrowser, openRoom, join, waitConnected, closeAll } from '../support/browser.mjs';

let stack;
let browser;
const open = [];
before(async () => {
  [stack, browser] = await Promise.all([startWorker(), launchBrowser()]);
});
afterEach(async () => {
  const errors = open.flatMap((p) => p.errors ?? []);
  await closeAll(open.splice(0));
  assert.deepEqual(errors, [], 'uncaught exceptions in the app');
});
after(async () => {
  await browser?.close();
  const panics = stack ? panicsIn(stack.log()) : [];
  await stack?.stop();
  assert.deepEqual(panics, []);
});

async function home() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const p = { ctx, page, errors: [] };
  page.on('pageerror', (e) => p.errors.push(e.message));
  open.push(p);
  await page.goto(`${stack.url}/`);
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
  await page.goto(`${stack.url}/`);
  await page.waitForFunction(() => document.body.dataset.view === 'home');
  await page.locator('#join-code').fill(`${stack.url}/K7M-Q2XP-9RTZ`);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.waitForFunction(() => document.body.dataset.view === 'prejoin');
  assert.equal(new URL(page.url()).pathname, '/k7m-q2xp-9rtz');
});

test('an invalid code in the URL shows a clear banner', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  open.push({ ctx, page, errors: [] });
  await page.goto(`${stack.url}/Bad_Code!`);
  await page.waitForFunction(() => document.body.dataset.signaling === 'invalid' || /Invalid room code/.test(document.getElementById('banner')?.textContent ?? ''));
  assert.match(await page.locator('#banner').textContent(), /Invalid room code/);
});

test('camera and microphone denied: clear help, and joining without media still works', async () => {
  const room = roomCode();
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => {
    const deny = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
    navigator.mediaDevices.getUserMedia = deny;
  });
  const page = await ctx.newPage();
  const p = { ctx, page, errors: [] };
  page.on('pageerror', (e) => p.errors.push(e.message));
  open.push(p);
  await page.goto(`${stack.url}/${room}`);
  const help = page.locator('#media-help');
  await help.waitFor({ state: 'visible' });
  assert.match(await help.textContent(), /blocking/i);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.waitForFunction(() => document.body.dataset.signaling === 'open');
  const other = await join(browser, stack.url, room);
  open.push(other);
  const deniedId = await page.evaluate(() => document.body.dataset.peerId);
  await waitConnected(other.page, [deniedId]);
  await other.page.waitForFunction((id) => document.querySelector(`.tile[data-peer-id="${id}"]`)?.dataset.muted === 'true', deniedId);
});

test('keyboard shortcuts toggle mute, but not while typing a message; Details shows the path', async () => {
  const room = roomCode();
  const a = await join(browser, stack.url, room);
  open.push(a);
  const b = await join(browser, stack.url, room);
  open.push(b);
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
