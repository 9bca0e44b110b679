// Hibernation, session resume, grace expiry, liveness and "no trace", against the real runtime.
// Run: node --test tests/integration/hibernation.test.mjs   (after `make worker`)
// Slow on purpose in places: eviction needs the object idle for ~25 s locally, and the liveness
// timeout is 30 s at its shortest. Those waits are the behaviour under test, not sleeps that
// paper over a race; everything else waits for events with deadlines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { roomCode, roomStorage, waitFor } from '../support/stack.mjs';
import { integrationSuite } from '../support/client.mjs';

const GRACE_S = 5;
const IDLE_S = 30;
// Every client a test opens is left after it (most tests leave them themselves).
const suite = integrationSuite({ workers: { stack: { vars: { RESUME_GRACE_SECONDS: String(GRACE_S), IDLE_TIMEOUT_SECONDS: String(IDLE_S) } } } });
const { connect, join } = suite;

/** Log events named `name` of one room, found by its tag. */
const events = (tag, name) => suite.stack.events(name, { room: tag });
const joinEvents = () => suite.stack.events('join');

/** Joins `n` clients to `room` and returns them with the room's log tag. Log lines arrive
 * asynchronously, so this waits for the join event that reports `n` peers. */
async function joinRoomLogged(room, n) {
  const joinsBefore = joinEvents().length;
  const clients = [];
  for (let i = 0; i < n; i++) clients.push(await join(room));
  const ev = await waitFor(() => joinEvents().slice(joinsBefore).find((e) => e.peers === n), { what: 'the join to be logged' });
  return { clients, tag: ev.room };
}

/** Keeps a socket's keep-alive going (what browsers do every ~20 s) until stopped. */
function keepAlive(client, everyMs) {
  const t = setInterval(() => client.open && client.ws.send('ping'), everyMs);
  return () => clearInterval(t);
}

test('hibernation: pings are answered without waking the object; routing and ids survive eviction', async () => {
  const room = roomCode('hib');
  const { clients: [a, b], tag } = await joinRoomLogged(room, 2);
  // Idle long enough for workerd to evict the object (locally it did so between 15 and 25 s
  // without events), answering keep-alives all along. Eviction is the runtime's choice, so a
  // nap that did not end in one is retried (the signal that ends each nap wakes it).
  let evicted = false;
  for (let nap = 0; nap < 3 && !evicted; nap++) {
    const loadsBefore = events(tag, 'room_loaded').length;
    const deadline = Date.now() + 25_000;
    let pongs = 0;
    while (Date.now() < deadline) {
      await a.ping();
      await b.ping();
      pongs += 2;
      await delay(4_000);
    }
    assert.ok(pongs >= 10);
    assert.equal(events(tag, 'room_loaded').length, loadsBefore, 'a ping woke the object');
    a.signal(b.id, `after nap ${nap}`);
    assert.deepEqual(await b.next((m) => m.type === 'signal'), { type: 'signal', from: a.id, data: `after nap ${nap}` });
    b.signal(a.id, 'and back');
    assert.equal((await a.next((m) => m.type === 'signal')).from, b.id);
    // A new room_loaded means the object was rebuilt from storage and attachments. It is logged
    // before the relay, but log lines travel separately from frames: give it a moment to land.
    evicted = await waitFor(() => events(tag, 'room_loaded').length === loadsBefore + 1, { timeout: 3_000 })
      .catch(() => false);
  }
  assert.ok(evicted, 'the object was never evicted');
  const c = await join(room);
  assert.deepEqual(c.welcome.peers.map((p) => p.id).sort(), [a.id, b.id].sort());
  await Promise.all([a.leave(), b.leave(), c.leave()]);
});

test('resume after the socket drops: same id, others never see it leave, held signals in order', async () => {
  const room = roomCode('res');
  const joinsBefore = joinEvents().length;
  const a = await join(room, { name: 'Ana' });
  const b = await join(room, { name: 'Bo' });
  const { room: tag } = await waitFor(() => joinEvents().slice(joinsBefore).find((e) => e.peers === 2), { what: 'the join to be logged' });
  const token = b.token;
  b.drop();
  await b.closed;
  // Signals to b while it is away are held. Wait until the room has noticed the drop
  // (signals before that are relayed into the dead socket, as with any network).
  await waitFor(() => events(tag, 'grace_start').length > 0, { what: 'grace to start' });
  for (let i = 0; i < 5; i++) a.signal(b.id, { seq: i });
  await a.ping();
  const b2 = await connect(room);
  const welcome = await b2.joinRoom({ resume: token });
  assert.equal(welcome.id, b.id, 'same id after resume');
  assert.deepEqual(welcome.peers, [{ id: a.id, name: 'Ana' }]);
  assert.notEqual(welcome.resumeToken, token, 'a fresh token');
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await b2.next(), { type: 'signal', from: a.id, data: { seq: i } });
  }
  b2.signal(a.id, 'back');
  await a.next((m) => m.type === 'signal' && m.data === 'back');
  assert.equal(a.inbox.filter((m) => m.type === 'peerLeft').length, 0, 'a was told b left');
  assert.equal(a.inbox.filter((m) => m.type === 'peerJoined').length, 1, 'only b\u2019s first join is announced');
  // The old token was rotated away.
  const thief = await connect(room);
  thief.send({ type: 'join', v: 1, resume: token });
  await thief.error('resumeFailed');
  const w = await thief.next((m) => m.type === 'welcome');
  assert.notEqual(w.id, b.id);
  await Promise.all([a.leave(), b2.leave(), thief.leave()]);
});

test('resume with another peer\u2019s id and a forged secret fails', async () => {
  const room = roomCode('forge');
  const a = await join(room);
  const m = await connect(room);
  m.send({ type: 'join', v: 1, resume: `${a.id}.AAAAAAAAAAAAAAAAAAAAAA` });
  await m.error('resumeFailed');
  const w = await m.next((x) => x.type === 'welcome');
  assert.notEqual(w.id, a.id);
  assert.ok(a.open, 'the real peer keeps its socket');
  await Promise.all([a.leave(), m.leave()]);
});

test('resume after the dev server restarts (the deploy case)', async () => {
  const room = roomCode('deploy');
  const a = await join(room);
  const b = await join(room);
  await suite.stack.restart();
  await Promise.all([a.closed, b.closed]);
  const a2 = await connect(room);
  const b2 = await connect(room);
  const [wa, wb] = await Promise.all([a2.joinRoom({ resume: a.token }), b2.joinRoom({ resume: b.token })]);
  assert.equal(wa.id, a.id);
  assert.equal(wb.id, b.id);
  assert.deepEqual(wa.peers.map((p) => p.id), [b.id]);
  assert.deepEqual(wb.peers.map((p) => p.id), [a.id]);
  a2.signal(b.id, 'hello again');
  assert.deepEqual(await b2.next((m) => m.type === 'signal'), { type: 'signal', from: a.id, data: 'hello again' });
  await Promise.all([a2.leave(), b2.leave()]);
});

test('grace expiry: peerLeft to the others, then the token no longer resumes', async () => {
  const room = roomCode('grace');
  const a = await join(room);
  const b = await join(room);
  const dropped = Date.now();
  b.drop();
  const left = await a.next((m) => m.type === 'peerLeft', (GRACE_S + 10) * 1000);
  assert.equal(left.id, b.id);
  assert.ok(Date.now() - dropped >= GRACE_S * 1000 - 500, 'peerLeft came before the grace period ended');
  const b2 = await connect(room);
  b2.send({ type: 'join', v: 1, resume: b.token });
  await b2.error('resumeFailed');
  assert.notEqual((await b2.next((m) => m.type === 'welcome')).id, b.id);
  await Promise.all([a.leave(), b2.leave()]);
});

test('no trace: storage and alarm are gone once everyone has left', async () => {
  const before = new Set(Object.keys(roomStorage(suite.stack.state)));
  const room = roomCode('trace');
  const a = await join(room, { name: 'Secret Name' });
  const b = await join(room);
  const id = await waitFor(() => Object.keys(roomStorage(suite.stack.state)).find((k) => !before.has(k)), { what: 'the room object to be created' });
  await waitFor(() => roomStorage(suite.stack.state)[id].rows > 0 && roomStorage(suite.stack.state)[id].alarm, { what: 'roster and alarm stored' });
  await a.leave();
  await b.leave();
  await waitFor(() => {
    const s = roomStorage(suite.stack.state)[id];
    return s.rows === 0 && !s.alarm;
  }, { what: 'storage and alarm to be deleted' });
  // The Worker's logs never carry names, payloads or room codes in clear. (wrangler dev's own
  // access log, lines starting "[wrangler:", prints request paths; it is local tooling only,
  // and invocation logs are off in wrangler.toml for the same reason.)
  const ours = suite.stack.log().split('\n').filter((l) => !l.startsWith('[wrangler:'));
  assert.ok(ours.some((l) => l.startsWith('{"event":"join"')), 'the Worker logs events');
  assert.deepEqual(ours.filter((l) => l.includes('Secret Name') || l.includes(room)), []);
});

test('alarm: moved later only in a commit the room makes anyway; relaying writes nothing', async () => {
  const JOIN_DEADLINE_MS = 10_000;
  const before = new Set(Object.keys(roomStorage(suite.stack.state)));
  const room = roomCode('alarm');
  const alarmOf = (id) => roomStorage(suite.stack.state)[id]?.alarmAt;
  // An open socket that has not joined needs the alarm at its join deadline.
  let t = Date.now();
  const a = await connect(room);
  const id = await waitFor(() => Object.keys(roomStorage(suite.stack.state)).find((k) => !before.has(k) && alarmOf(k)), { what: 'the join-deadline alarm' });
  assert.ok(alarmOf(id) <= Date.now() + JOIN_DEADLINE_MS, `alarm at +${alarmOf(id) - t} ms, expected the join deadline`);
  // The join writes the roster; in that commit the alarm moves to the idle deadline, so no
  // alarm fires (and wakes the room) 10 s after every connect.
  t = Date.now();
  await a.joinRoom();
  // (3 s: well before the old alarm would fire and reschedule by itself.)
  await waitFor(() => alarmOf(id) >= t + IDLE_S * 1000 - 1000, { timeout: 3000, what: `the alarm to move to the idle deadline (at +${alarmOf(id) - t} ms)` });
  // A second socket pulls it back to its own join deadline, and its join pushes it out again.
  const b = await connect(room);
  await waitFor(() => alarmOf(id) <= Date.now() + JOIN_DEADLINE_MS, { timeout: 3000, what: 'the alarm to move to the new join deadline' });
  t = Date.now();
  await b.joinRoom();
  await waitFor(() => alarmOf(id) >= t + IDLE_S * 1000 - 1000, { timeout: 3000, what: 'the alarm to move to the idle deadline again' });
  // Relaying keeps the peers alive without writing: the stored alarm does not move.
  const settled = alarmOf(id);
  for (let i = 0; i < 20; i++) a.signal(b.id, { i });
  await b.next((m) => m.type === 'signal' && m.data.i === 19);
  assert.equal(alarmOf(id), settled, 'relaying moved the stored alarm');
  await Promise.all([a.leave(), b.leave()]);
  await waitFor(() => !roomStorage(suite.stack.state)[id]?.alarm, { what: 'the alarm to be deleted' });
});

test('log: one line per room event; the close that answers a leave is not logged again', async () => {
  const room = roomCode('log');
  const { clients: [a, b, c], tag } = await joinRoomLogged(room, 3);
  await a.leave();
  c.drop(); // no close frame: the runtime reports 1006, the peer enters grace
  await waitFor(() => events(tag, 'grace_start').length === 1, { what: 'grace_start to be logged' });
  await b.leave();
  await waitFor(() => events(tag, 'room_cleared').length === 1, { timeout: (GRACE_S + 10) * 1000, what: 'the room to be cleared after grace' });
  const count = (name) => events(tag, name).length;
  assert.deepEqual(
    Object.fromEntries(['join', 'leave', 'socket_closed', 'close', 'grace_start', 'grace_expired', 'room_cleared'].map((n) => [n, count(n)])),
    { join: 3, leave: 2, socket_closed: 1, close: 0, grace_start: 1, grace_expired: 1, room_cleared: 1 },
  );
  assert.deepEqual(events(tag, 'socket_closed').map((e) => e.code), [1000], '1006 on the wire is answered and logged as 1000');
});

test('liveness: a silent socket is closed and its peer leaves after grace; a pinging one stays', async () => {
  const room = roomCode('live');
  const silent = await join(room);
  const alive = await join(room);
  const stop = keepAlive(alive, 5_000);
  try {
    const left = await alive.next((m) => m.type === 'peerLeft', (IDLE_S + GRACE_S + 30) * 1000);
    assert.equal(left.id, silent.id);
    assert.ok(alive.open, 'the socket that kept pinging was closed');
    assert.equal((await silent.closedWith(30_000)).code, 1001);
  } finally {
    stop();
  }
  await alive.leave();
});
