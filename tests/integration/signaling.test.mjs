// Protocol v1 against the real Workers runtime (workerd via `wrangler dev`), real WebSockets.
// Run: node --test tests/integration/signaling.test.mjs   (after `make worker`)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roomCode, waitFor } from '../support/stack.mjs';
import { integrationSuite } from '../support/client.mjs';

// Every client a test opens is left after it.
const suite = integrationSuite();
const { join, connect } = suite;

test('join order: welcome first, peerJoined to the others, names cleaned', async () => {
  const room = roomCode();
  const a = await join(room, { name: '  Ana\u0007 ' });
  assert.match(a.id, /^[0-9a-f]{16}$/);
  assert.deepEqual(a.welcome.peers, []);
  assert.equal(a.welcome.maxPeers, 4);
  assert.ok(a.welcome.resumeToken.length >= 22);
  const b = await connect(room);
  b.send({ type: 'join', v: 1, name: 'Bo' });
  const first = await b.next();
  assert.equal(first.type, 'welcome', 'welcome is the first server message');
  assert.deepEqual(first.peers, [{ id: a.id, name: 'Ana' }]);
  assert.notEqual(first.id, a.id);
  assert.deepEqual(await a.next(), { type: 'peerJoined', id: first.id, name: 'Bo' });
});

test('room codes are case-insensitive', async () => {
  const room = roomCode('case');
  const a = await join(room);
  const b = await join(room.toUpperCase());
  assert.deepEqual(b.welcome.peers.map((p) => p.id), [a.id]);
});

test('a signal reaches only its `to`, with `from` stamped by the server', async () => {
  const room = roomCode();
  const a = await join(room);
  const b = await join(room);
  const c = await join(room);
  const data = { sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n', type: 'offer', n: 1.5, nested: [null, { x: true }] };
  a.send({ type: 'signal', to: b.id, from: c.id, data });
  const got = await b.next((m) => m.type === 'signal');
  assert.deepEqual(got, { type: 'signal', from: a.id, data });
  // c must not have received it: everything a sent before this marker has been relayed.
  a.signal(c.id, 'marker');
  const atC = await c.next((m) => m.type === 'signal');
  assert.deepEqual(atC, { type: 'signal', from: a.id, data: 'marker' });
  assert.equal(a.inbox.filter((m) => m.type === 'signal').length, 0);
});

test('no cross-room leakage', async () => {
  const r1 = roomCode('x');
  const r2 = roomCode('y');
  const a1 = await join(r1);
  const b1 = await join(r1);
  const a2 = await join(r2);
  assert.deepEqual(a2.welcome.peers, []);
  // A peer id from another room is unknown here.
  a2.signal(a1.id, 'hello?');
  await a2.error('unknownPeer');
  a1.signal(b1.id, 'in-room');
  await b1.next((m) => m.type === 'signal' && m.data === 'in-room');
  await a2.ping();
  assert.equal(a2.inbox.filter((m) => m.type === 'peerJoined' || m.type === 'signal').length, 0);
});

test('room full: the fifth join gets roomFull and close 4003', async () => {
  const room = roomCode();
  for (let i = 0; i < 4; i++) await join(room);
  const e = await connect(room);
  e.send({ type: 'join', v: 1 });
  assert.equal((await e.next()).code, 'roomFull');
  assert.equal((await e.closedWith()).code, 4003);
});

test('bad input gets its error and the room keeps working', async () => {
  const room = roomCode();
  const a = await join(room);
  const b = await join(room);
  const cases = [
    ['not json', 'badMessage'],
    ['{"type":"shout"}', 'badMessage'],
    ['{"type":"signal","to":"zz","data":1}', 'badMessage'],
    ['{"type":"signal","to":"0123456789abcdef","data":1}', 'unknownPeer'],
    // Joining twice, signalling yourself and many more: hostile.test.mjs.
  ];
  for (const [frame, code] of cases) {
    a.send(frame);
    const err = await a.error(code);
    assert.equal(typeof err.message, 'string');
  }
  a.send(Buffer.from([0xff, 0x00, 0x01]));
  await a.error('badMessage');
  assert.ok(a.open, 'the socket stays open after bad messages');
  a.signal(b.id, 'still works');
  assert.equal((await b.next((m) => m.type === 'signal')).data, 'still works');
});

test('messages before join get notJoined; unsupported version closes 4002', async () => {
  const room = roomCode();
  const a = await connect(room);
  a.send({ type: 'signal', to: '0123456789abcdef', data: 1 });
  await a.error('notJoined');
  a.send({ type: 'leave' });
  await a.error('notJoined');
  a.send({ type: 'join', v: 2 });
  await a.error('unsupportedVersion');
  assert.equal((await a.closedWith()).code, 4002);
});

test('oversize frame gets tooLarge and close 1009; others unaffected', async () => {
  const room = roomCode();
  const a = await join(room);
  const b = await join(room);
  a.signal(b.id, 'x'.repeat(65 * 1024));
  await a.error('tooLarge');
  assert.equal((await a.closedWith()).code, 1009);
  const c = await join(room);
  c.signal(b.id, 'after');
  assert.equal((await b.next((m) => m.type === 'signal')).data, 'after');
  // A frame just under the limit is relayed.
  const big = 'y'.repeat(60 * 1024);
  c.signal(b.id, big);
  assert.equal((await b.next((m) => m.type === 'signal' && m.data.length === big.length)).data, big);
});

test('flood: rateLimited past the burst, then close 1008; the room keeps working', async () => {
  const room = roomCode();
  const a = await join(room);
  const b = await join(room);
  for (let i = 0; i < 400; i++) a.signal(b.id, i);
  await a.error('rateLimited');
  assert.equal((await a.closedWith(10_000)).code, 1008);
  const c = await join(room);
  c.signal(b.id, 'calm');
  await b.next((m) => m.type === 'signal' && m.data === 'calm');
  // Counted only now: a's close and b's frames travel on different sockets, so the close can
  // arrive first; the room sends to b in order, so everything relayed from a came before 'calm'.
  const relayed = b.inbox.filter((m) => m.type === 'signal' && m.data !== 'calm').length;
  // The burst is 50 and the join took one token; more refill while the flood arrives.
  assert.ok(relayed >= 49 && relayed < 400, `relayed ${relayed} of 400`);
});

test('leave: peerLeft to the others and the socket closes 1000', async () => {
  const room = roomCode();
  const a = await join(room);
  const b = await join(room);
  b.send({ type: 'leave' });
  assert.equal((await b.closedWith()).code, 1000);
  assert.deepEqual(await a.next((m) => m.type === 'peerLeft'), { type: 'peerLeft', id: b.id });
  // The place is free again: a new peer sees only a.
  const c = await join(room);
  assert.deepEqual(c.welcome.peers.map((p) => p.id), [a.id]);
});

test('ping is answered pong', async () => {
  const a = await connect(roomCode());
  assert.equal(await a.ping(), 'pong');
});

test('a client close is reciprocated', async () => {
  const a = await join(roomCode());
  a.ws.close(4100, 'bye');
  assert.equal((await a.closedWith()).code, 4100);
});

test('a socket that never joins is closed 4008 after the join timeout', async () => {
  const a = await connect(roomCode());
  // The close frame arrives at 10 s; workerd may hold the TCP connection up to ~10 s more
  // after a close sent from an alarm, and `ws` reports the close only when TCP ends.
  const { code } = await a.closedWith(30_000);
  assert.equal(code, 4008);
});

test('a room holds at most 2 × maxPeers sockets that have not joined; the next upgrade gets 503', async () => {
  const room = roomCode();
  const a = await join(room, { name: 'A' });
  const waiting = [];
  for (let i = 0; i < 2 * a.welcome.maxPeers; i++) waiting.push(await connect(room));
  const err = await connect(room).then(() => null, (e) => e);
  assert.equal(err?.status, 503);
  assert.equal(JSON.parse(err.body).error, 'roomBusy');
  assert.ok(Number(err.headers['retry-after']) > 0);
  await waitFor(() => suite.stack.events('room_busy', { peers: 1 }).length > 0, { what: 'room_busy logged' });
  // The waiting sockets are untouched and may still join; one joining frees a place.
  const { id } = await waiting[0].joinRoom({ name: 'B' });
  assert.equal((await a.next((m) => m.type === 'peerJoined')).id, id);
  const next = await connect(room);
  await next.joinRoom({ name: 'C' });
  for (const c of [a, next, ...waiting]) c.ws.close();
});

test('a full room keeps an absent peer\'s place for 10 s of its grace, then a newcomer takes it', async () => {
  const room = roomCode();
  const [a, b, c, d] = [await join(room, { name: 'A' }), await join(room, { name: 'B' }), await join(room, { name: 'C' }), await join(room, { name: 'D' })];
  const leftAt = Date.now();
  d.ws.terminate(); // gone without leave: grace
  const early = await connect(room);
  early.send({ type: 'join', v: 1 });
  await early.error('roomFull');
  assert.equal((await early.closedWith()).code, 4003);
  let newcomer;
  await waitFor(async () => {
    const e = await connect(room);
    e.send({ type: 'join', v: 1, name: 'E' });
    const first = await e.next((m) => m.type === 'welcome' || m.type === 'error');
    if (first.type === 'welcome') return (newcomer = Object.assign(e, { id: first.id }));
    e.ws.close();
    return false;
  }, { timeout: 25_000, interval: 500, what: 'a newcomer joins' });
  assert.ok(Date.now() - leftAt >= 9_500, `the place was kept ${Date.now() - leftAt} ms`);
  assert.deepEqual(await a.next((m) => m.type === 'peerLeft'), { type: 'peerLeft', id: d.id });
  assert.equal((await a.next((m) => m.type === 'peerJoined' && m.name === 'E')).id, newcomer.id);
  // D, back inside its 30 s grace, finds its session gone and the room full.
  const back = await connect(room);
  back.send({ type: 'join', v: 1, resume: d.token });
  await back.error('resumeFailed');
  await back.error('roomFull');
  for (const x of [a, b, c, newcomer]) x.ws.close();
});
