// Helpers for the browser tier (tests/browser/) and bench/browser-join.mjs: Debian's headless
// Chromium and Firefox ESR, both driven by puppeteer-core (Chromium over CDP through a pipe,
// Firefox over WebDriver BiDi), fake camera/microphone, one browser context per participant
// (separate storage, like separate people), and readers for the app's DOM contract
// (public/js/app.js) and for real media statistics (RTCPeerConnection.getStats() of the app's
// own connections, reached through window.pinhole.call).
//
// Contract (also used by tests/network/, which runs Chromium inside network namespaces):
// - launchBrowser({ engine = 'chromium' | 'firefox', executablePath, args, prefs }) → a Browser.
//   `executablePath` replaces /usr/bin/chromium or /usr/bin/firefox-esr — e.g. a wrapper script
//   `exec ip netns exec <ns> /usr/bin/chromium "$@"` (Chromium is driven over a pipe, so it works
//   from inside a namespace; Firefox is driven over a loopback WebSocket, so it does not).
//   `args` are extra command-line arguments (appended to CHROMIUM_ARGS / FIREFOX_ARGS), `prefs`
//   extra Firefox preferences (merged over FIREFOX_PREFS; ignored for Chromium).
// - Browser: { engine, version, newContext({ viewport, isMobile, hasTouch }), close() }.
//   Context: { newPage(), addInitScript(fn, arg), grantPermissions(perms, { origin }), close() }.
//   Page: the subset of a Playwright-style page the tests use, on both engines: evaluate(fn, arg),
//   waitForFunction(fn, arg, { timeout, polling }), goto, reload, url, on('pageerror'|'request'|…),
//   addInitScript, keyboard, and locators — locator(css, { hasText }), getByRole(role, { name,
//   exact }), getByLabel(text) with click, fill, press, type, selectOption, setInputFiles,
//   waitFor({ state }), isVisible, count, textContent, getAttribute, inputValue, evaluateAll, and.
//   `page.raw` is the puppeteer Page. Downloads: `downloadLink(locator)` (no download events).
// - openRoom, join, joinPair, waitSignaling, selfId, tiles, waitTile, waitConnected, peerStats,
//   waitVideoFlowing, sampleBytes, strictlyIncreasing, closeAll, closeChecked, shutdown,
//   browserSuite, turnCredentials, recordAnnouncements, announcements: as documented on each.
//   A participant is { ctx, page, errors, id, engine }. Where a helper takes `browser`, it also
//   takes an array of browsers (one per participant, in join order) for mixed-engine calls.
// - engines(list) / scenario(): every test says which engines it runs in (see below).
import puppeteer from 'puppeteer-core';
import assert from 'node:assert/strict';
import { test, before, after, afterEach } from 'node:test';
import { waitFor, panicsIn, startWorker, roomCode } from './stack.mjs';
import { startCoturn } from './coturn.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const FIREFOX = '/usr/bin/firefox-esr';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
  // Grant camera/microphone/screen without a prompt and use Chromium's synthetic devices (a
  // moving test pattern, a beep, and a fake "screen:…" source for getDisplayMedia). Three
  // cameras, so switching camera mid-call can be tested: fake_device_0 is I420, fake_device_1
  // emulates a Y16 depth camera (WebRTC's encoder takes no frames from it) and fake_device_2 an
  // MJPEG webcam. There are always three fake microphones and three fake speakers.
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream=device-count=3',
  // Several participants share one browser; none of them is ever the foreground tab, and a
  // throttled background page would starve its media and timers.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
  // Autoplay as a page with a camera has it on desktop (the autoplay simulation of a phone adds
  // --autoplay-policy=document-user-activation-required instead, which wins being later).
  '--autoplay-policy=no-user-gesture-required',
];
export const FIREFOX_ARGS = [];
/**
 * Firefox ESR's equivalents: fake camera (one "Default Video Device", coloured frames) and fake
 * microphone (one "Default Audio Device", a tone) granted without a prompt; no audio output
 * device is listed and getDisplayMedia has no screen headless (NotFoundError).
 */
export const FIREFOX_PREFS = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Firefox ignores loopback candidates and loopback TURN servers unless told otherwise; every
  // test here runs on 127.0.0.1 (a real address, as in tests/network/, does not need this).
  'media.peerconnection.ice.loopback': true,
  'media.autoplay.default': 0,
  'media.autoplay.blocking_policy': 0,
  // Each participant has its own window, but no window has focus; nothing may be throttled.
  'media.suspend-bkgnd-video.enabled': false,
  'dom.min_background_timeout_value': 4,
  'dom.min_background_timeout_value_without_budget_throttling': 4,
  'dom.timeout.enable_budget_timer_throttling': false,
  'privacy.webrtc.legacyGlobalIndicator': false,
  'privacy.webrtc.hideGlobalIndicator': true,
  'browser.tabs.remote.autostart': true,
};

/** Engines a test can name; `ENGINES.firefox` is skipped with a reason where it is not installed. */
export const ENGINES = ['chromium', 'firefox'];

/**
 * Launches one headless browser of `engine`. See the contract at the top of this file.
 * Resolves with a Browser wrapper ({ engine, version, raw, newContext, close }).
 */
export async function launchBrowser({ engine = 'chromium', executablePath, args = [], prefs = {} } = {}) {
  let raw;
  if (engine === 'chromium') {
    raw = await puppeteer.launch({
      browser: 'chrome', executablePath: executablePath ?? CHROMIUM, headless: true, pipe: true,
      args: [...CHROMIUM_ARGS, ...args], defaultViewport: null, protocolTimeout: 60_000,
    });
  } else if (engine === 'firefox') {
    raw = await puppeteer.launch({
      browser: 'firefox', executablePath: executablePath ?? FIREFOX, headless: true,
      args: [...FIREFOX_ARGS, ...args], extraPrefsFirefox: { ...FIREFOX_PREFS, ...prefs }, defaultViewport: null,
      protocolTimeout: 60_000,
    });
  } else {
    throw new Error(`unknown engine ${engine} (chromium or firefox)`);
  }
  return new Browser(engine, raw, await raw.version());
}

class Browser {
  constructor(engine, raw, version) {
    this.engine = engine;
    this.raw = raw;
    this.version = version;
  }

  /** A fresh context (own cookies and storage). Firefox ignores isMobile/hasTouch (no BiDi emulation for them). */
  async newContext({ viewport = { width: 1280, height: 800 }, isMobile = false, hasTouch = false } = {}) {
    return new Context(this, await this.raw.createBrowserContext(), { viewport, isMobile, hasTouch });
  }

  close() { return this.raw.close(); }
}

class Context {
  constructor(browser, raw, opts) {
    this.browser = browser;
    this.raw = raw;
    this.opts = opts;
    this.scripts = [];
    this.pages = [];
  }

  /** A page in its own window (Firefox: a tab of a shared window would be hidden, and throttled). */
  async newPage() {
    const raw = await this.raw.newPage(this.browser.engine === 'firefox' ? { type: 'window' } : undefined);
    const { viewport, isMobile, hasTouch } = this.opts;
    await raw.setViewport(this.browser.engine === 'chromium' ? { ...viewport, isMobile, hasTouch } : viewport);
    const page = new Page(raw, this);
    for (const [fn, arg] of this.scripts) await raw.evaluateOnNewDocument(fn, arg);
    this.pages.push(page);
    return page;
  }

  /** Runs `fn(arg)` in every document of pages made after this call, before the app's scripts. */
  addInitScript(fn, arg) { this.scripts.push([fn, arg]); }

  /** Playwright's 'clipboard-write' is CDP's 'clipboard-sanitized-write' (what writeText needs). */
  grantPermissions(perms, { origin }) {
    const all = perms.flatMap((p) => (p === 'clipboard-write' ? [p, 'clipboard-sanitized-write'] : [p]));
    return this.raw.overridePermissions(origin, all);
  }

  close() { return this.raw.close(); }
}

// ---------------------------------------------------------------------------------------------
// Locators: resolved inside the page by FIND (a chain of steps, each narrowing the previous
// matches), so the same code runs in both engines. Roles and accessible names are computed the
// simple way this app needs (aria-labelledby, aria-label, <label>, text content, title).

function FIND(chain, scope = [document]) {
  const norm = (s) => (s ?? '').replace(/\s+/g, ' ').trim();
  const matches = (text, m) => {
    text = norm(text);
    if (m.re) return new RegExp(m.re[0], m.re[1]).test(text);
    return m.exact ? text === norm(m.s) : text.toLowerCase().includes(norm(m.s).toLowerCase());
  };
  const shown = (el) => !el.closest('[aria-hidden="true"]') && (el.checkVisibility ? el.checkVisibility({ visibilityProperty: true }) : true);
  const text = (n) => {
    if (n.nodeType === 3) return n.data;
    if (n.nodeType !== 1 || n.getAttribute('aria-hidden') === 'true' || n.hidden || n.tagName === 'TEMPLATE') return '';
    if (n !== n.ownerDocument.documentElement && getComputedStyle(n).display === 'none') return '';
    return n.getAttribute('aria-label') ?? [...n.childNodes].map(text).join('');
  };
  const labelled = (el) => {
    const ids = el.getAttribute('aria-labelledby');
    if (ids) return ids.split(/\s+/).map((id) => text(document.getElementById(id) ?? document.createElement('i'))).join(' ');
    if (el.hasAttribute('aria-label')) return el.getAttribute('aria-label');
    if (el.labels?.length) return [...el.labels].map(text).join(' ');
    return null;
  };
  const ROLES = {
    button: 'button, [role=button], input[type=button], input[type=submit], input[type=reset]',
    textbox: 'textarea, input:not([type]), input[type=text], input[type=search], input[type=email], input[type=url], input[type=tel], [role=textbox]',
    heading: 'h1, h2, h3, h4, h5, h6, [role=heading]',
    link: 'a[href], [role=link]',
    checkbox: 'input[type=checkbox], [role=checkbox]',
    combobox: 'select, [role=combobox]',
  };
  const implicit = (el, role) => !el.hasAttribute('role') || el.getAttribute('role') === role;
  const name = (el, role) => labelled(el) ?? (['button', 'link', 'heading'].includes(role) ? text(el) : null)
    ?? el.getAttribute('title') ?? el.getAttribute('placeholder') ?? (el.tagName === 'INPUT' ? el.value : '') ?? '';
  let els = scope;
  for (const step of chain) {
    if (step.nth !== undefined) {
      els = els.slice(step.nth, step.nth + 1);
      continue;
    }
    const next = new Set();
    for (const root of els) {
      if (step.and) {
        const other = new Set(FIND(step.and));
        if (other.has(root)) next.add(root);
        continue;
      }
      const list = step.css ? root.querySelectorAll(step.css)
        : step.role ? [...root.querySelectorAll(ROLES[step.role])].filter((el) => implicit(el, step.role) && shown(el) && (!step.name || matches(name(el, step.role), step.name)))
          : [...root.querySelectorAll('input, textarea, select, button, [aria-label], [aria-labelledby]')].filter((el) => {
            const l = labelled(el);
            return l !== null && matches(l, step.label);
          });
      for (const el of list) if (!step.hasText || matches(el.textContent, step.hasText)) next.add(el);
    }
    els = [...next];
  }
  return els;
}

const textMatcher = (m, exact = false) => (m instanceof RegExp ? { re: [m.source, m.flags] } : { s: String(m), exact });
const expr = (chain, then) => `(${FIND.toString()})(${JSON.stringify(chain)})${then}`;
/** In-page visibility as Playwright defines it: a non-empty box and not visibility:hidden. */
const VISIBLE = '((el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== "hidden"; })';

class Locator {
  constructor(page, chain) {
    this.page = page;
    this.chain = chain;
  }

  locator(css, { hasText } = {}) { return new Locator(this.page, [...this.chain, { css, hasText: hasText === undefined ? undefined : textMatcher(hasText) }]); }
  getByRole(role, { name, exact = false } = {}) { return new Locator(this.page, [...this.chain, { role, name: name === undefined ? undefined : textMatcher(name, exact) }]); }
  getByLabel(text, { exact = false } = {}) { return new Locator(this.page, [...this.chain, { label: textMatcher(text, exact) }]); }
  and(other) { return new Locator(this.page, [...this.chain, { and: other.chain }]); }
  first() { return new Locator(this.page, [...this.chain, { nth: 0 }]); }

  /** fn(element, arg) in the page, on the first match (once attached). */
  async evaluate(fn, arg) {
    const h = await this.handle({ visible: false });
    try { return await h.evaluate(fn, arg); } finally { await h.dispose(); }
  }

  count() { return this.page.raw.evaluate(expr(this.chain, '.length')); }
  isVisible() { return this.page.raw.evaluate(expr(this.chain, `.some(${VISIBLE})`)); }

  /** Waits for the state ('visible' default, 'attached', 'hidden', 'detached'). */
  async waitFor({ state = 'visible', timeout = 30_000 } = {}) {
    const cond = { visible: `.some(${VISIBLE})`, attached: '.length > 0', hidden: `.every((el) => !${VISIBLE}(el))`, detached: '.length === 0' }[state];
    try {
      await this.page.raw.waitForFunction(expr(this.chain, cond), { timeout, polling: 100 });
    } catch (e) {
      e.message = `${e.message} (locator ${JSON.stringify(this.chain)} to be ${state})`;
      throw e;
    }
  }

  /** The first match, once there is a visible one (what an action waits for). */
  async handle({ visible = true, timeout = 30_000 } = {}) {
    await this.waitFor({ state: visible ? 'visible' : 'attached', timeout });
    const h = await this.page.raw.evaluateHandle(expr(this.chain, visible ? `.find(${VISIBLE})` : '[0]'));
    return h.asElement();
  }

  async click(opts) { const h = await this.handle(opts); try { await h.click(); } finally { await h.dispose(); } }
  async fill(value) {
    const h = await this.handle();
    try {
      await h.evaluate((el, v) => {
        el.focus();
        el.value = v;
        el.dispatchEvent(new Event('input', { bubbles: true }));
        el.dispatchEvent(new Event('change', { bubbles: true }));
      }, value);
    } finally { await h.dispose(); }
  }
  async press(key) { const h = await this.handle(); try { await h.focus(); await this.page.raw.keyboard.press(key); } finally { await h.dispose(); } }
  async type(text) { const h = await this.handle(); try { await h.type(text); } finally { await h.dispose(); } }
  async selectOption(value) { const h = await this.handle(); try { await h.select(value); } finally { await h.dispose(); } }

  /**
   * Puts a file into an <input type=file> (it may be hidden) and fires its input/change events,
   * as choosing it in the file picker would (the same File object reaches the app's handler).
   */
  async setInputFiles({ name, mimeType = 'application/octet-stream', buffer }) {
    const h = await this.handle({ visible: false });
    try {
      await h.evaluate((input, [n, type, b64]) => {
        const bin = atob(b64);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], n, { type }));
        input.files = dt.files;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        input.dispatchEvent(new Event('change', { bubbles: true }));
      }, [name, mimeType, Buffer.from(buffer).toString('base64')]);
    } finally {
      await h.dispose();
    }
  }

  async #first(then, arg) {
    await this.waitFor({ state: 'attached' });
    return this.page.raw.evaluate(`((el, arg) => ${then})(${expr(this.chain, '[0]')}, ${JSON.stringify(arg ?? null)})`);
  }
  textContent() { return this.#first('el.textContent'); }
  getAttribute(name) { return this.#first('el.getAttribute(arg)', name); }
  inputValue() { return this.#first('el.value'); }

  /** fn(elements, arg) in the page, over every match (no waiting). */
  async evaluateAll(fn, arg) {
    const h = await this.page.raw.evaluateHandle(expr(this.chain, ''));
    try { return await h.evaluate(fn, arg); } finally { await h.dispose(); }
  }
}

const WAIT_UNTIL = { commit: 'domcontentloaded', domcontentloaded: 'domcontentloaded', load: 'load' };

class Page {
  constructor(raw, ctx) {
    this.raw = raw;
    this.ctx = ctx;
    this.engine = ctx.browser.engine;
    this.keyboard = raw.keyboard;
  }

  evaluate(fn, arg) { return this.raw.evaluate(fn, arg); }
  /** Playwright's argument order (fn, arg, options); polls every 100 ms by default. */
  waitForFunction(fn, arg, { timeout = 30_000, polling = 100 } = {}) {
    return this.raw.waitForFunction(fn, { timeout, polling: polling === 'raf' ? 100 : polling }, arg);
  }
  goto(url, { waitUntil = 'load', timeout = 30_000 } = {}) { return this.raw.goto(url, { waitUntil: WAIT_UNTIL[waitUntil], timeout }); }
  reload({ waitUntil = 'load' } = {}) { return this.raw.reload({ waitUntil: WAIT_UNTIL[waitUntil] }); }
  url() { return this.raw.url(); }
  on(event, fn) { this.raw.on(event, fn); }
  addInitScript(fn, arg) { return this.raw.evaluateOnNewDocument(fn, arg); }
  locator(css, opts) { return new Locator(this, []).locator(css, opts); }
  getByRole(role, opts) { return new Locator(this, []).getByRole(role, opts); }
  getByLabel(text, opts) { return new Locator(this, []).getByLabel(text, opts); }
}

/**
 * What a click on a download link (a blob: URL with a download attribute, as files.js makes)
 * would save: { suggestedFilename, data (Buffer) }, read through the link itself.
 */
export async function downloadLink(locator) {
  const h = await locator.handle();
  try {
    const { name, b64 } = await h.evaluate(async (a) => {
      // The page's CSP (connect-src 'self') forbids fetching a blob: URL, so the Blob behind the
      // link is taken from the record rememberBlobs keeps of every object URL the page made.
      const blob = window.__blobs?.get(a.href);
      if (!blob) throw new Error(`no Blob recorded for ${a.href}`);
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let s = '';
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { name: a.download, b64: btoa(s) };
    });
    return { suggestedFilename: name, data: Buffer.from(b64, 'base64') };
  } finally {
    await h.dispose();
  }
}

/** Page init script: remembers the Blob behind each object URL (read by downloadLink). */
function rememberBlobs() {
  const create = URL.createObjectURL;
  window.__blobs = new Map();
  URL.createObjectURL = function (obj) {
    const url = create.call(URL, obj);
    if (obj instanceof Blob) window.__blobs.set(url, obj);
    return url;
  };
}

/**
 * Page init script: the app asks for a 1280×720, 30 fps camera; with up to five participants in
 * one headless browser on a 2-core machine, encoding and decoding that for every pair of a mesh
 * starves everything else (joins took tens of seconds). The tests assert that video flows, not
 * its resolution, so the fake camera is asked for 320×180 at 15 fps instead. The benchmark keeps
 * the app's own constraints (small: false).
 */
function smallCamera() {
  // Firefox runs init scripts in the new window's first about:blank too, which is no secure
  // context (so it has no MediaDevices); only the app's own documents matter.
  if (typeof MediaDevices === 'undefined') return;
  const gum = MediaDevices.prototype.getUserMedia;
  MediaDevices.prototype.getUserMedia = function (c) {
    if (c?.video) {
      const v = typeof c.video === 'object' ? c.video : {};
      c = { ...c, video: { ...v, width: { ideal: 320 }, height: { ideal: 180 }, frameRate: { ideal: 15, max: 15 } } };
    }
    return gum.call(this, c);
  };
}

/**
 * Opens `<base>/<room>` in a fresh context (≥ 1000 px wide, so the chat panel is open) and
 * returns { ctx, page, errors, engine } at the pre-join screen with the camera preview running.
 * `errors` collects uncaught page exceptions (tests assert it stays empty).
 * `small` (default) caps the camera at 320×180, 15 fps — see smallCamera. `init`: more
 * [fn, arg] init scripts (run before the app, e.g. to delete an API a browser lacks).
 * `query`: extra query string for the room URL.
 */
export async function openRoom(browser, base, room, { relay = false, width = 1280, name, small = true, init = [], query = '' } = {}) {
  const ctx = await browser.newContext({ viewport: { width, height: 800 } });
  for (const [fn, arg] of init) ctx.addInitScript(fn, arg);
  ctx.addInitScript(rememberBlobs);
  if (small) ctx.addInitScript(smallCamera);
  if (name) ctx.addInitScript((n) => location.protocol.startsWith('http') && localStorage.setItem('pinhole:prefs', JSON.stringify({ name: n })), name);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Requests still open, named in the error if the app never comes up (twice in ~100 loads on a
  // heavily loaded machine, the "load" event never came; this says which request hung).
  const pending = new Set();
  page.on('request', (r) => pending.add(r));
  page.on('requestfinished', (r) => pending.delete(r));
  page.on('requestfailed', (r) => pending.delete(r));
  const search = [relay ? 'relay=1' : '', query].filter(Boolean).join('&');
  try {
    // The condition that matters is the app's pre-join screen with the camera running, not the
    // load event (which also waits for the favicon and the stylesheet).
    await page.goto(`${base}/${room}${search ? `?${search}` : ''}`, { waitUntil: 'commit' });
    await page.waitForFunction(() => document.body?.dataset.view === 'prejoin' && !!window.pinhole?.media?.camera, null, { timeout: 30_000 });
  } catch (e) {
    e.message += `\nrequests still pending: ${[...pending].map((r) => r.url()).join(' ') || 'none'}`;
    await ctx.close().catch(() => {});
    throw e;
  }
  return { ctx, page, errors, engine: browser.engine };
}

/** Clicks "Join" and waits for the welcome: resolves with the participant, including its own `id`. */
export async function join(browser, base, room, opts = {}) {
  const p = await openRoom(browser, base, room, opts);
  await p.page.getByRole('button', { name: 'Join', exact: true }).click();
  p.id = await waitSignaling(p.page, 'open');
  return p;
}

/** Two participants join `room` (default: a fresh one), each pushed to `open` for the after-test
 * checks; resolves with `[a, b, room]`. `opts` as for openRoom (e.g. `{ relay: true }`).
 * `browser`: one browser for both, or [browserOfA, browserOfB] (a mixed-engine call). */
export async function joinPair(browser, base, open, opts = {}, room = roomCode()) {
  const list = [browser].flat();
  const [ba, bb] = [list[0], list[1 % list.length]];
  const a = await join(ba, base, room, opts);
  open.push(a);
  const b = await join(bb, base, room, opts);
  open.push(b);
  return [a, b, room];
}

/** `n` participants join `room` one after the other, as people do (which also keeps "who offers"
 * deterministic: the newcomer); `browsers` as for joinPair, cycled when shorter than `n`. */
export async function joinAll(browsers, base, open, room, n, opts = {}) {
  const list = [browsers].flat();
  const ps = [];
  for (let i = 0; i < n; i++) {
    const p = await join(list[i % list.length], base, room, opts);
    open.push(p);
    ps.push(p);
  }
  return ps;
}

/** Waits for body[data-signaling=state]; returns body[data-peer-id]. */
export async function waitSignaling(page, state, timeout = 15_000) {
  await page.waitForFunction((s) => document.body.dataset.signaling === s && (s !== 'open' || !!document.body.dataset.peerId), state, { timeout });
  return page.evaluate(() => document.body.dataset.peerId ?? null);
}

export const selfId = (page) => page.evaluate(() => document.body.dataset.peerId ?? null);

/** Remote tiles as plain objects: [{ id, state, path, muted, cameraOff, screen }]. */
export function tiles(page) {
  return page.evaluate(() => [...document.querySelectorAll('.tile.remote')].map((t) => ({
    id: t.dataset.peerId, state: t.dataset.state, path: t.dataset.path ?? null,
    muted: t.dataset.muted, cameraOff: t.dataset.cameraOff, screen: t.dataset.screen ?? null,
  })));
}

/**
 * Waits until the tile of `peerId` matches every given data-* attribute (`undefined` = don't care,
 * `null` = attribute absent), e.g. { state: 'connected', path: 'direct' }.
 */
export async function waitTile(page, peerId, want, timeout = 20_000) {
  await page.waitForFunction(([id, w]) => {
    const t = document.querySelector(`.tile.remote[data-peer-id="${CSS.escape(id)}"]`);
    if (!t) return false;
    return Object.entries(w).every(([k, v]) => v === undefined || (t.dataset[k] ?? null) === v);
  }, [peerId, want], { timeout });
}

/** Waits for a connected tile for each of `ids` (and no other remote tile). */
export async function waitConnected(page, ids, { path, timeout = 25_000 } = {}) {
  await page.waitForFunction(([ids, path]) => {
    const ts = [...document.querySelectorAll('.tile.remote')];
    return ts.length === ids.length && ids.every((id) => ts.some((t) =>
      t.dataset.peerId === id && t.dataset.state === 'connected' && (!path || t.dataset.path === path)));
  }, [ids, path ?? null], { timeout });
}

/**
 * getStats() of the app's connection to `peerId`: inbound video/audio counters, the outgoing
 * video track, the selected candidate pair's local candidate type, and ICE gathering facts.
 */
export function peerStats(page, peerId) {
  return page.evaluate(async (id) => {
    const p = window.pinhole.call?.participants.get(id);
    const pc = p?.peer?.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    const out = {
      framesDecoded: 0, videoBytesReceived: 0, audioBytesReceived: 0, bytesReceived: 0, frameWidth: 0,
      localCandidateType: null, remoteCandidateType: null, encodedTrack: null, videoCodec: null, audioCodec: null,
      connectionState: pc.connectionState, iceGatheringState: pc.iceGatheringState,
    };
    let pair = null;
    for (const s of byId.values()) {
      if (s.type === 'inbound-rtp') {
        out.bytesReceived += s.bytesReceived ?? 0;
        const codec = byId.get(s.codecId)?.mimeType ?? null;
        if (s.kind === 'video') out.videoCodec ??= codec;
        else out.audioCodec ??= codec;
        if (s.kind === 'video') {
          out.framesDecoded += s.framesDecoded ?? 0;
          out.videoBytesReceived += s.bytesReceived ?? 0;
          out.frameWidth = s.frameWidth ?? 0;
        } else out.audioBytesReceived += s.bytesReceived ?? 0;
      }
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
      // Firefox has no transport stats: its selected pair says so itself.
      if (s.type === 'candidate-pair' && s.selected && !pair) pair = s;
      // The track the video encoder is fed from right now (outbound-rtp → media-source).
      if (s.type === 'outbound-rtp' && s.kind === 'video') out.encodedTrack = byId.get(s.mediaSourceId)?.trackIdentifier ?? null;
    }
    if (pair) {
      out.localCandidateType = byId.get(pair.localCandidateId)?.candidateType ?? null;
      out.remoteCandidateType = byId.get(pair.remoteCandidateId)?.candidateType ?? null;
    }
    // Every candidate gathered so far is in the local description (Chromium adds them as they come).
    const sdp = pc.localDescription?.sdp ?? '';
    out.localCandidates = [...sdp.matchAll(/^a=candidate:.* typ (\w+)/gm)].map((m) => m[1]);
    const tx = p.peer.tx.video;
    const track = tx?.sender.track ?? null;
    out.outgoingVideo = track ? { id: track.id, label: track.label, displaySurface: track.getSettings().displaySurface ?? null } : null;
    return out;
  }, peerId);
}

/** Waits until `peerId`'s inbound video has decoded `frames` more frames and received more bytes. */
export async function waitVideoFlowing(page, peerId, { frames = 10, timeout = 20_000 } = {}) {
  let first = null;
  return waitFor(async () => {
    const s = await peerStats(page, peerId);
    if (!s) return false;
    first ??= s;
    return s.framesDecoded >= first.framesDecoded + frames && s.videoBytesReceived > first.videoBytesReceived && s;
  }, { timeout, interval: 200, what: `video from ${peerId} to keep decoding` });
}

/**
 * Samples `bytesReceived` (all inbound RTP) of each [page, peerId] link every `interval` ms
 * until stop() is called; stop() resolves with the sample series per link, for asserting that
 * media kept flowing (strictly increasing) through an outage.
 */
export function sampleBytes(links, { interval = 400 } = {}) {
  const series = links.map(() => []);
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      await Promise.all(links.map(async ([page, id], i) => {
        const s = await peerStats(page, id).catch(() => null);
        series[i].push({ t, bytes: s?.bytesReceived ?? null, frames: s?.framesDecoded ?? null });
      }));
      const wait = interval - (Date.now() - t);
      if (running && wait > 0) await new Promise((r) => setTimeout(r, wait)); // pacing of the sampler, not a wait for an outcome
    }
  })();
  return {
    series,
    async stop() {
      running = false;
      await loop;
      return series;
    },
  };
}

/** Asserts that every series is strictly increasing (a message naming the first stall otherwise). */
export function strictlyIncreasing(series) {
  for (const [i, s] of series.entries()) {
    for (let k = 1; k < s.length; k++) {
      if (!(s[k].bytes > s[k - 1].bytes)) {
        return `link ${i}: bytesReceived did not grow between samples ${k - 1} and ${k} ` +
          `(${s[k - 1].bytes} → ${s[k].bytes}, ${s[k].t - s[k - 1].t} ms apart; ${s.length} samples)`;
      }
    }
  }
  return null;
}

/** Closes every participant's context (ignores ones already closed). */
export async function closeAll(participants) {
  await Promise.all(participants.splice(0).map((p) => p.ctx.close().catch(() => {})));
}

/** For `afterEach`: closes the test's participants; none of their pages may have thrown. */
export async function closeChecked(participants) {
  const errors = participants.flatMap((p) => p.errors ?? []);
  await closeAll(participants);
  assert.deepEqual(errors, [], 'uncaught exceptions in the app');
}

/** For `after`: closes the browser and stops the file's servers (worker stacks first, then
 * anything else with a `stop()`); no worker's runtime log may show a panic. */
export async function shutdown(browser, stacks, others = []) {
  await browser?.close();
  const panics = stacks.flatMap((s) => (s ? panicsIn(s.log()) : []));
  await Promise.all([...stacks, ...others].map((s) => s?.stop()));
  assert.deepEqual(panics, [], 'the runtime log shows a panic or uncaught error');
}

/**
 * The usual file-level set-up of a browser suite: the file's servers and one browser, the
 * participants each test pushes to `open` closed (and checked for page errors) after it, and
 * everything shut down (and the runtime logs checked for panics) at the end.
 *
 * - `coturn`: secrets; when given, a loopback coturn holding them is started first (`suite.coturn`)
 *   and resumed after every test, so a test that paused it never leaves it frozen.
 * - `workers(coturn)`: the file's Workers, name → startWorker options (default one, `stack`,
 *   without vars); `coturn.workerVars(secret)` gives the vars of a Worker relaying through it.
 *
 * Returns the suite `{ browser, coturn, open, stack, …each Worker under its name }`, filled in
 * once the file's `before` hook has run (read them in tests, not at load time); `stack` is the
 * first Worker.
 */
export function browserSuite({ coturn: secrets, workers = () => ({ stack: {} }), engines = ['chromium'] } = {}) {
  const suite = { stack: null, coturn: null, browser: null, browsers: {}, open: [] };
  let stacks = [];
  before(async () => {
    if (secrets) suite.coturn = await startCoturn({ secrets });
    const named = workers(suite.coturn);
    const names = Object.keys(named);
    // Settled, not all: when one part fails to start, the parts that did start are still
    // handed to `after`, which stops them (else an open browser keeps the file from exiting).
    const started = await Promise.allSettled([
      ...names.map((n) => startWorker(named[n])),
      ...engines.map((engine) => launchBrowser({ engine })),
    ]);
    const value = (r) => (r.status === 'fulfilled' ? r.value : undefined);
    stacks = started.slice(0, names.length).map(value).filter(Boolean);
    names.forEach((n, i) => (suite[n] = value(started[i])));
    engines.forEach((e, i) => (suite.browsers[e] = value(started[names.length + i])));
    suite.stack = suite[names[0]];
    suite.browser = suite.browsers[engines[0]];
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
  afterEach(async () => {
    suite.coturn?.resume();
    await closeChecked(suite.open);
  });
  after(async () => {
    const [first, ...others] = Object.values(suite.browsers).filter(Boolean);
    await Promise.all(others.map((b) => b.close()));
    await shutdown(first, stacks, [suite.coturn]);
  });
  /** The browsers for an engine combination such as 'chromium+firefox' (one per participant). */
  suite.pick = (combo) => combo.split('+').map((e) => suite.browsers[e]);
  return suite;
}

/**
 * Every browser-tier test names the engines it runs in. `engines(['chromium', 'firefox+firefox',
 * 'chromium+firefox'])` returns a `test(name, fn)` that registers one test per combination,
 * titled `name [combo]` and called as `fn(t, combo)` — a combination lists each participant's
 * engine in join order (a single engine means every participant uses it; `suite.pick(combo)`
 * gives the browsers). The browserSuite must have launched every engine named.
 */
export function engines(combos) {
  return (name, fn) => {
    for (const combo of combos) test(`${name} [${combo}]`, (t) => fn(t, combo));
  };
}

/** The TURN username/credential the page's own origin hands out now (GET /api/ice-servers). */
export async function turnCredentials(page) {
  const body = await page.evaluate(() => fetch('/api/ice-servers', { cache: 'no-store' }).then((r) => r.json()));
  const turn = body.iceServers.find((s) => [s.urls].flat().some((u) => u.startsWith('turn:')));
  return turn ? { username: turn.username, credential: turn.credential } : null;
}

/** Starts recording what the page announces to screen readers (every text the #announcer
 * live region takes); read them back with `announcements(page)`. */
export function recordAnnouncements(page) {
  return page.evaluate(() => {
    window.__announced = [];
    const el = document.getElementById('announcer');
    new MutationObserver(() => el.textContent && window.__announced.push(el.textContent))
      .observe(el, { childList: true, characterData: true, subtree: true });
  });
}
export const announcements = (page) => page.evaluate(() => window.__announced);
