// The stateless Worker's routes, headers and limits, against the real runtime (`wrangler dev`).
// Run: node --test tests/integration/routes.test.mjs   (after `make worker`)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { roomCode, fakeIp, fakeIpv6Net, waitFor, inOneRateWindow, ROOT } from '../support/stack.mjs';
import { Client, integrationSuite } from '../support/client.mjs';

const SECRET = 'integration-test-secret-not-used-anywhere-else';
const TURN_URLS = 'turn:127.0.0.1:3478?transport=udp turn:127.0.0.1:3478?transport=tcp';
const suite = integrationSuite({
  workers: {
    // TURN configured; the first Worker, the one suite.connect reaches.
    relay: { vars: { TURN_SECRET: SECRET, TURN_URLS, TURN_TTL_SECONDS: '600', ALLOWED_ORIGINS: 'https://allowed.example' } },
    // TURN not configured.
    plain: { vars: { STUN_URLS: 'stun:127.0.0.1:3478' } },
  },
});

const version = readFileSync(join(ROOT, 'Cargo.toml'), 'utf8').match(/^version = "(.+)"/m)[1];

test('GET /health', async () => {
  const r = await fetch(`${suite.relay.url}/health`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('strict-transport-security'), 'max-age=63072000', 'the Worker\'s own responses too');
  assert.deepEqual(await r.json(), { status: 'ok', version });
});

function checkAppHeaders(h) {
  const csp = h.get('content-security-policy');
  assert.ok(csp, 'CSP present');
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
  assert.deepEqual(directives['default-src'], ["'self'"]);
  assert.deepEqual(directives['script-src'], ["'self'"]);
  assert.deepEqual(directives['connect-src'], ["'self'"]);
  assert.deepEqual(directives['media-src'], ["'self'", 'blob:']);
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval') && !csp.includes('http'), csp);
  const pp = h.get('permissions-policy');
  for (const f of ['camera', 'microphone', 'display-capture']) assert.match(pp, new RegExp(`${f}=\\(self\\)`));
  assert.equal(h.get('referrer-policy'), 'no-referrer');
  assert.equal(h.get('x-content-type-options'), 'nosniff');
  assert.equal(h.get('strict-transport-security'), 'max-age=63072000');
}

test('the app shell is served at / and at any room-code path, with the security headers', async () => {
  const home = await fetch(`${suite.relay.url}/`);
  assert.equal(home.status, 200);
  const html = await home.text();
  assert.match(html, /<script type="module" src="\/js\/app\.js"><\/script>/);
  checkAppHeaders(home.headers);
  for (const code of ['k7m-q2xp-9rt', '482913']) {
    const r = await fetch(`${suite.relay.url}/${code}`, { headers: { 'sec-fetch-mode': 'navigate', accept: 'text/html' } });
    assert.equal(r.status, 200, code);
    assert.equal(await r.text(), html, `${code} serves the same shell`);
    checkAppHeaders(r.headers);
  }
  const js = await fetch(`${suite.relay.url}/js/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  checkAppHeaders(js.headers);
});

test('the app loads nothing from another origin', () => {
  const files = [];
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(html|js|css|svg)$/.test(f)) files.push(p);
    }
  };
  walk(join(ROOT, 'public'));
  assert.ok(files.length > 3);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    // Any absolute URL other than the SVG namespace would be a third-party load.
    const urls = [...text.matchAll(/(?:https?|wss?):\/\/[^\s"'`)]+|(?:src|href|action)\s*=\s*["']\/\/[^"']+/gi)]
      .map((m) => m[0])
      .filter((u) => !u.startsWith('http://www.w3.org/'));
    assert.deepEqual(urls, [], `${f} references another origin`);
    assert.ok(!/stun:[a-z]/i.test(text), `${f} names a third-party STUN server`);
  }
});

test('unknown /api paths are 404 JSON', async () => {
  for (const p of ['/api/nope', '/api', '/api/ice-servers/extra']) {
    const r = await fetch(`${suite.relay.url}${p}`);
    assert.equal(r.status, 404, p);
    assert.deepEqual(await r.json(), { error: 'notFound' });
  }
});

// Room codes over /ws/<code> (bad ones are 400 JSON before any upgrade) are one table in
// hostile.test.mjs.

test('signaling without an upgrade is 426', async () => {
  const r = await fetch(`${suite.relay.url}/ws/${roomCode()}`);
  assert.equal(r.status, 426);
  assert.equal((await r.json()).error, 'upgradeRequired');
});

test('signaling refuses other sites\' pages with 403 before any upgrade; own pages and non-browser clients connect', async () => {
  const room = roomCode();
  for (const headers of [
    { origin: 'https://evil.example' },
    { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'cross-site' },
    { origin: 'null' },
  ]) {
    const err = await suite.connect(room, { headers }).then(() => null, (e) => e);
    assert.equal(err?.status, 403, JSON.stringify(headers));
    assert.equal(JSON.parse(err.body).error, 'forbidden');
  }
  const own = new URL(suite.relay.url).origin;
  const sockets = [
    await suite.connect(room, { headers: { origin: own, 'sec-fetch-site': 'same-origin' } }),
    await suite.connect(room, { headers: { origin: 'https://allowed.example', 'sec-fetch-site': 'cross-site' } }),
    await suite.connect(room), // no Origin: not a browser
  ];
  // The refused attempts left the room usable.
  const a = await suite.join(room, { name: 'A' });
  assert.ok(a.id);
  for (const s of [...sockets, a]) s.ws.close();
});

test('new connections per client IP are limited: 429 with Retry-After before any upgrade', async () => {
  await inOneRateWindow(async () => {
    const ip = fakeIp();
    const room = roomCode();
    const sockets = [];
    try {
      // A room each: the limit is per client, and a room takes only 8 unjoined sockets.
      for (let i = 0; i < 30; i++) sockets.push(await suite.connect(roomCode(), { ip }));
      const err = await suite.connect(room, { ip }).then(() => null, (e) => e);
      assert.equal(err?.status, 429);
      assert.ok(Number(err.headers['retry-after']) > 0);
      assert.equal(JSON.parse(err.body).error, 'rateLimited');
      // Another client is not affected.
      sockets.push(await suite.connect(room, { ip: fakeIp() }));
    } finally {
      for (const s of sockets) s.ws.close();
    }
  });
});

function iceFetch(stack, headers = {}, ip = fakeIp()) {
  return fetch(`${stack.url}/api/ice-servers`, { headers: { 'cf-connecting-ip': ip, ...headers } });
}

test('GET /api/ice-servers mints coturn REST credentials', async () => {
  const before = Math.floor(Date.now() / 1000);
  const r = await iceFetch(suite.relay, { 'sec-fetch-site': 'same-origin', origin: suite.relay.url });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('cache-control'), 'no-store');
  const body = await r.json();
  assert.equal(body.relay, true);
  assert.equal(body.ttl, 600);
  assert.ok(body.expiresAt >= before + 600 && body.expiresAt <= before + 602);
  assert.deepEqual(body.iceServers[0], { urls: ['stun:127.0.0.1:3478'] });
  const turn = body.iceServers[1];
  assert.deepEqual(turn.urls, TURN_URLS.split(' '));
  const [expiry, id] = turn.username.split(':');
  assert.equal(Number(expiry), body.expiresAt);
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(turn.credential, createHmac('sha1', SECRET).update(turn.username).digest('base64'));
  // The id is random per request.
  const again = await (await iceFetch(suite.relay, { 'sec-fetch-site': 'same-origin' })).json();
  assert.notEqual(again.iceServers[1].username.split(':')[1], id);
});

test('/api/ice-servers refuses other origins with 403', async () => {
  for (const headers of [
    { origin: 'https://evil.example' },
    { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'cross-site' },
    { origin: 'null' },
  ]) {
    const r = await iceFetch(suite.relay, headers);
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.equal((await r.json()).error, 'forbidden');
  }
  const allowed = await iceFetch(suite.relay, { origin: 'https://allowed.example', 'sec-fetch-site': 'cross-site' });
  assert.equal(allowed.status, 200, 'ALLOWED_ORIGINS adds an origin');
  // ... whose pages may read the answer (CORS); nobody else is told they may.
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://allowed.example');
  assert.match(allowed.headers.get('vary') ?? '', /origin/i);
  const refused = await iceFetch(suite.relay, { origin: 'https://evil.example' });
  assert.equal(refused.headers.get('access-control-allow-origin'), null);
  const own = await iceFetch(suite.relay, { origin: new URL(suite.relay.url).origin, 'sec-fetch-site': 'same-origin' });
  assert.equal(own.status, 200);
  assert.equal(own.headers.get('access-control-allow-origin'), null, 'same-origin needs no CORS header');
});

test('IPv6 clients are limited per /64, not per address', async () => {
  await inOneRateWindow(async () => {
    const net = fakeIpv6Net();
    const room = roomCode();
    const sockets = [];
    try {
      // A fresh address for every connection, all in one /64.
      // A room each: the limit is per client, and a room takes only 8 unjoined sockets.
      for (let i = 0; i < 30; i++) sockets.push(await suite.connect(roomCode(), { ip: net.host(i) }));
      const err = await suite.connect(room, { ip: net.host(30) }).then(() => null, (e) => e);
      assert.equal(err?.status, 429);
      // The next /64 is another subscriber.
      sockets.push(await suite.connect(room, { ip: fakeIpv6Net().host(1) }));
    } finally {
      for (const s of sockets) s.ws.close();
    }
  });
});

test('/api/ice-servers is rate limited per client IP', async () => {
  await inOneRateWindow(async () => {
    const ip = fakeIp();
    for (let i = 0; i < 30; i++) assert.equal((await iceFetch(suite.relay, {}, ip)).status, 200);
    const r = await iceFetch(suite.relay, {}, ip);
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    assert.equal((await iceFetch(suite.relay, {}, fakeIp())).status, 200);
  });
});

test('TURN not configured: STUN only, relay false, logged once', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await iceFetch(suite.plain, { 'sec-fetch-site': 'same-origin' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const body = await r.json();
    assert.deepEqual(body.iceServers, [{ urls: ['stun:127.0.0.1:3478'] }]);
    assert.equal(body.relay, false);
    assert.ok(!JSON.stringify(body).includes('credential') && !JSON.stringify(body).includes('username'));
  }
  // Log lines reach us asynchronously but in order: after a later event's line has arrived,
  // every turn_unconfigured line the three requests could have caused is in.
  const joins = () => suite.plain.events('join').length;
  const joinsBefore = joins();
  const c = await Client.join(suite.plain.wsUrl(roomCode('marker')));
  await waitFor(() => joins() > joinsBefore, { what: 'the marker join to be logged' });
  await c.leave();
  assert.equal(suite.plain.events('turn_unconfigured').length, 1);
});
