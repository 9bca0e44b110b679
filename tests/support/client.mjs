// The integration tier's helpers: a protocol-v1 test client over a real WebSocket (npm `ws`),
// with an inbox that tests wait on with deadlines instead of sleeping, and integrationSuite(),
// the file-level set-up every integration file shares.
import WebSocket from 'ws';
import assert from 'node:assert/strict';
import { before, after, afterEach } from 'node:test';
import { fakeIp, panicsIn, startWorker } from './stack.mjs';

export class Client {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.waiters = [];
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.#wake();
      });
    });
    ws.on('message', (data, isBinary) => {
      const text = data.toString();
      let msg = text;
      if (!isBinary) {
        try {
          msg = JSON.parse(text);
        } catch {
          // not JSON: kept as the raw text, for the test to assert on
        }
      }
      this.inbox.push(msg);
      this.#wake();
    });
    ws.on('error', () => {});
  }

  /** Opens a socket; rejects with `{status}` when the server answers HTTP instead of upgrading.
   * `options` go to `ws` as they are, e.g. `{ perMessageDeflate: false }`. */
  static connect(url, { ip = fakeIp(), headers = {}, options = {} } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { ...options, headers: { 'cf-connecting-ip': ip, ...headers } });
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          const err = new Error(`HTTP ${res.statusCode}`);
          Object.assign(err, { status: res.statusCode, headers: res.headers, body });
          reject(err);
        });
      });
      ws.once('error', reject);
    });
  }

  /** Connects (`connectOptions` as for connect) and joins; resolves with the client, its
   * welcome in `welcome`. */
  static async join(url, { name, resume, ...connectOptions } = {}) {
    const c = await Client.connect(url, connectOptions);
    await c.joinRoom({ name, resume });
    return c;
  }

  async joinRoom({ name, resume } = {}) {
    const msg = { type: 'join', v: 1 };
    if (name !== undefined) msg.name = name;
    if (resume !== undefined) msg.resume = resume;
    this.send(msg);
    this.welcome = await this.next((m) => m.type === 'welcome');
    this.id = this.welcome.id;
    this.token = this.welcome.resumeToken;
    return this.welcome;
  }

  #wake() {
    for (const w of [...this.waiters]) w();
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' || Buffer.isBuffer(obj) ? obj : JSON.stringify(obj));
  }

  signal(to, data) {
    this.send({ type: 'signal', to, data });
  }

  /** Removes and returns the first inbox message matching `pred`, waiting up to `timeout`. */
  next(pred = () => true, timeout = 5000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.inbox.findIndex((m) => pred(m));
        if (i >= 0) {
          done();
          resolve(this.inbox.splice(i, 1)[0]);
          return true;
        }
        if (this.closeInfo && !this.inbox.some(pred)) {
          done();
          reject(new Error(`socket closed (${this.closeInfo.code}) while waiting; inbox: ${JSON.stringify(this.inbox)}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching message within ${timeout} ms; inbox: ${JSON.stringify(this.inbox).slice(0, 500)}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      const waiter = () => check();
      if (!check()) this.waiters.push(waiter);
    });
  }

  /** The next error frame with `code`. */
  error(code, timeout) {
    return this.next((m) => m.type === 'error' && m.code === code, timeout);
  }

  /** Waits for the close and returns `{code, reason}`. */
  async closedWith(timeout = 5000) {
    let timer;
    try {
      return await Promise.race([
        this.closed,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`socket not closed within ${timeout} ms`)), timeout))),
      ]);
    } finally {
      clearTimeout(timer); // a pending deadline would keep the test process alive
    }
  }

  /** Round trip: proves every frame sent before it has been processed. */
  async ping(timeout = 5000) {
    this.ws.send('ping');
    return this.next((m) => m === 'pong', timeout);
  }

  /** Graceful hang-up (`leave`), or a plain close for a socket that never joined. */
  async leave() {
    if (this.ws.readyState === WebSocket.OPEN) {
      if (this.id) this.send({ type: 'leave' });
      else this.ws.close(1000);
      await this.closedWith().catch(() => {});
    }
  }

  /** Drops the TCP connection without a close frame (a network change, a sleeping laptop). */
  drop() {
    this.ws.terminate();
  }

  get open() {
    return this.ws.readyState === WebSocket.OPEN;
  }
}

/**
 * The usual file-level set-up of an integration suite (browserSuite() is the browser tier's):
 * the Workers named in `workers` (name → startWorker options; default one, `stack`, without
 * vars), started together before the file's tests; every client a test opens with
 * `connect`/`join` left after it; and at the end the Workers stopped and their runtime logs
 * checked for panics.
 *
 * Returns the suite: each Worker under its name, filled in once the file's `before` hook has
 * run (read them in tests, not at load time); `stack`, the first Worker, which
 * `connect(room, opts)` and `join(room, opts)` reach (`opts` as for Client.connect and
 * Client.join); and `panics(from)`, the panic lines in its log from offset `from` on, less
 * those matching `excuse` (a RegExp: a runtime message known not to be ours).
 */
export function integrationSuite({ workers = { stack: {} }, excuse } = {}) {
  const open = [];
  const track = async (pending) => {
    const client = await pending;
    open.push(client);
    return client;
  };
  const ours = (log) => panicsIn(log).filter((l) => !excuse?.test(l));
  let stacks = [];
  const suite = {
    stack: null,
    connect: (room, opts) => track(Client.connect(suite.stack.wsUrl(room), opts)),
    join: (room, opts) => track(Client.join(suite.stack.wsUrl(room), opts)),
    panics: (from = 0) => ours(suite.stack.log().slice(from)),
  };
  before(async () => {
    const names = Object.keys(workers);
    stacks = await Promise.all(names.map((n) => startWorker(workers[n])));
    names.forEach((n, i) => (suite[n] = stacks[i]));
    [suite.stack] = stacks;
  });
  afterEach(() => Promise.all(open.splice(0).map((c) => c.leave())));
  after(async () => {
    const panics = stacks.flatMap((s) => ours(s.log()));
    await Promise.all(stacks.map((s) => s.stop()));
    assert.deepEqual(panics, [], 'the runtime log shows a panic or uncaught error');
  });
  return suite;
}
