// The lab leaves nothing behind: a child process builds a lab (namespaces, nft rules, a tc
// qdisc, a process running inside a namespace) and then ends badly — an uncaught error, SIGTERM,
// SIGINT, SIGKILL — and no namespace, /etc/netns entry or process of it may remain (after
// SIGKILL, the next lab's sweep removes it: nothing can run in a SIGKILLed process).
// Run (root): node --test tests/network/hygiene.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { labUnavailable, leftovers, Lab, sweepStale } from './lab.mjs';
import { waitFor } from '../support/stack.mjs';

const skip = labUnavailable();
if (skip) console.log(`# network lab skipped: ${skip}`);
const LAB = fileURLToPath(new URL('./lab.mjs', import.meta.url));

// The child: a lab with a NAT site and a shaped uplink, a `sleep` inside the client namespace,
// prints "up <pid of sleep>" and then does what it is told.
const CHILD = `
import { Lab } from ${JSON.stringify(LAB)};
import { spawn } from 'node:child_process';
const lab = new Lab();
const s = lab.site('a', { nat: 'symmetric', firewall: 'noudp' });
const p = spawn('ip', ['netns', 'exec', s.client, 'sleep', '600'], { stdio: 'ignore' });
process.stdout.write('up ' + p.pid + '\\n');
const how = process.argv[1];
if (how === 'throw') setTimeout(() => { throw new Error('a failing test'); }, 10);
else setInterval(() => {}, 1000);
`;

const alive = (pid) => spawnSync('kill', ['-0', String(pid)]).status === 0;

async function runChild(how) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, how], { stdio: ['ignore', 'pipe', 'pipe'] });
  const inner = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /up (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`the lab child exited (${c}) before it was up`)));
  });
  assert.equal(leftovers({ owner: child.pid }).namespaces.length, 4, 'the child built inet, srv, a-r, a-c');
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  if (how !== 'throw') child.kill(how);
  const result = await exited;
  return { pid: child.pid, inner, result };
}

for (const how of ['throw', 'SIGTERM', 'SIGINT', 'SIGHUP']) {
  test(`a lab whose process ends by ${how} leaves no namespace, /etc/netns entry or process`, { skip: skip ?? false, timeout: 30_000 }, async () => {
    const { pid, inner, result } = await runChild(how);
    assert.ok(result.code !== 0 || result.signal, `the child failed as asked: ${JSON.stringify(result)}`);
    assert.deepEqual(leftovers({ owner: pid }), { namespaces: [], etc: [] });
    await waitFor(() => !alive(inner), { timeout: 5000, what: 'the process inside the lab to be gone' });
  });
}

test('a lab whose process was SIGKILLed is removed by the next lab\'s sweep', { skip: skip ?? false, timeout: 30_000 }, async () => {
  const { pid, inner } = await runChild('SIGKILL');
  assert.equal(leftovers({ owner: pid }).namespaces.length, 4, 'SIGKILL runs no cleanup (this is what the sweep is for)');
  sweepStale();
  assert.deepEqual(leftovers({ owner: pid }), { namespaces: [], etc: [] });
  await waitFor(() => !alive(inner), { timeout: 5000, what: 'the process inside the lab to be gone' });
});

test('destroying a lab removes its rules and namespaces', { skip: skip ?? false }, () => {
  const lab = new Lab();
  const s = lab.site('b', { nat: 'cone' });
  // TODO: shape the link too once bad links work here (this kernel has no sch_netem module:
  // "Specified qdisc kind is unknown").
  assert.ok(s.router);
  lab.destroySync();
  assert.deepEqual(leftovers({ owner: process.pid }), { namespaces: [], etc: [] });
});
