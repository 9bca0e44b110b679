// The lab's servers and browsers on top of lab.mjs (the network lab's tests and
// bench/network.mjs): a throwaway CA and one server certificate for the lab's two names, the
// real Worker under `wrangler dev` on https://pinhole.lab.test:443 (203.0.113.10, inside the
// server namespace only), coturn from the production turn/turnserver.conf on 203.0.113.11
// (turn.lab.test: 3478 UDP/TCP and TLS on 443 through the production aux-server listener), and
// one headless Chromium per client namespace that trusts the CA through its NSS database
// (~/.pki/nssdb, as a system would), so both the page's HTTPS and TURN-over-TLS are verified
// for real.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT, startWorker, tempDir, cleanupTempDirs, waitFor, spawnGroup, stopGroup } from '../support/stack.mjs';
import { startCoturn, addSecret, turnadminWrapper } from '../support/coturn.mjs';
import { launchBrowser } from '../support/browser.mjs';
import { Lab, WEB_HOST, WEB_IP, TURN_HOST, TURN_IP, DNS_IP } from './lab.mjs';

export const REALM = TURN_HOST;
/** A TURN server name whose address exists nowhere in the lab (packets to it vanish in the sink). */
export const DEAD_TURN_HOST = 'dead-turn.lab.test';
export const DEAD_TURN_IP = '203.0.113.12';
export const TURN_URLS = `turn:${TURN_HOST}:3478?transport=udp turn:${TURN_HOST}:3478?transport=tcp turns:${TURN_HOST}:443?transport=tcp`;

/** The lab's CA and a certificate for both lab names (openssl; EC P-256, valid two days). */
export function makePki(dir) {
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Pinhole network lab CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${TURN_HOST}`]);
  writeFileSync(join(dir, 'server.ext'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${TURN_HOST},DNS:${WEB_HOST}\n`);
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem',
    '-days', '2', '-extfile', 'server.ext']);
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

/** A HOME whose NSS database (what Chromium on Linux trusts besides its root store) trusts `ca`. */
export function nssHome(dir, ca) {
  const db = join(dir, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync('certutil', ['-d', `sql:${db}`, '-N', '--empty-password'], { stdio: 'ignore' });
  execFileSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'Pinhole network lab CA', '-i', ca], { stdio: 'ignore' });
  return dir;
}

// Keys of turn/turnserver.conf whose values a deployment fills in (the <…> placeholders and the
// paths of this machine); every other line is used as it is. external-ip is dropped as the file
// says to (no 1:1 NAT in front of the lab's coturn).
const FILLED = {
  'listening-ip': () => TURN_IP,
  'relay-ip': () => TURN_IP,
  'external-ip': () => null,
  'aux-server': () => `${TURN_IP}:443`,
  cert: (d) => d.pki.cert,
  pkey: (d) => d.pki.key,
  userdb: (d) => d.db,
  realm: () => REALM,
  'log-file': (d) => d.log,
};
/** What the lab adds: its "public" range as an allowed peer range (the production file denies
 * 203.0.113.0/24, a documentation range, which the lab uses as its internet), and a pidfile. */
const LAB_ADDED = (d) => ['allowed-peer-ip=203.0.113.0-203.0.113.255', `pidfile=${join(d.dir, 'turnserver.pid')}`];

/** turn/turnserver.conf with the deployment values filled in and the lab's additions. */
export function labTurnConf(d) {
  const out = [];
  for (const line of readFileSync(join(ROOT, 'turn', 'turnserver.conf'), 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const key = t.split('=')[0].trim();
    if (key in FILLED) {
      const v = FILLED[key](d);
      if (v !== null) out.push(`${key}=${v}`);
    } else {
      if (t.includes('<')) throw new Error(`turn/turnserver.conf has a placeholder the lab does not fill: ${t}`);
      out.push(t);
    }
  }
  out.push(...LAB_ADDED(d));
  return `${out.join('\n')}\n`;
}

/** Runs `node tests/network/probe.mjs <args>` inside `ns`; resolves with its JSON answer. */
export function probe(ns, args, { ca, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'tests', 'network', 'probe.mjs'), ...args],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env, ...(ca ? { NODE_EXTRA_CA_CERTS: ca } : {}) } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`probe ${args.join(' ')} in ${ns} exited ${code}: ${err.slice(-1000)}`);
        resolve(JSON.parse(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/**
 * Builds the lab with `sites` (name → lab.site() options) and starts its servers. Returns the
 * world: { lab, site(name), worker, coturn, secret, pki, url, browser(site), stop() }.
 */
export async function startWorld(sites, { turnUrls = TURN_URLS, stunUrls } = {}) {
  const dir = tempDir('lab');
  const lab = new Lab();
  lab.dir = dir;
  const w = { lab, dir, browsers: new Map(), coturn: null, worker: null };
  try {
    for (const [name, opts] of Object.entries(sites)) lab.site(name, opts);
    w.dns = spawnGroup('ip', ['netns', 'exec', lab.srv, process.execPath, join(ROOT, 'tests', 'network', 'dns.mjs'), DNS_IP,
      `${WEB_HOST}=${WEB_IP}`, `${TURN_HOST}=${TURN_IP}`, `${DEAD_TURN_HOST}=${DEAD_TURN_IP}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      w.dns.stdout.once('data', resolve);
      w.dns.once('exit', (c) => reject(new Error(`the lab's DNS server exited (${c})`)));
    });
    w.pki = makePki(dir);
    w.secret = randomBytes(24).toString('base64url'); // test-only, never printed
    const turnDir = join(dir, 'turn');
    mkdirSync(turnDir);
    const d = { dir: turnDir, pki: w.pki, db: join(turnDir, 'turndb'), log: join(turnDir, 'turnserver.log') };
    await addSecret(turnadminWrapper(turnDir), d.db, REALM, w.secret);
    const conf = join(turnDir, 'turnserver.conf');
    writeFileSync(conf, labTurnConf(d));
    const startTurn = () => startCoturn({
      conf, dir: turnDir, port: 3478, netns: lab.srv, logPath: join(turnDir, 'stdout.log'),
      ready: () => probe(lab.srv, ['stun', TURN_IP, '3478']).then((r) => r.ok, () => false),
    });
    [w.coturn, w.worker] = await Promise.all([
      startTurn(),
      startWorker({
        netns: lab.srv, ip: WEB_IP, host: WEB_HOST, port: 443, https: w.pki,
        vars: { TURN_SECRET: w.secret, TURN_URLS: turnUrls, ...(stunUrls ? { STUN_URLS: stunUrls } : {}) },
      }),
    ]);
    w.turnLog = () => readFileSync(d.log, 'utf8');
    /** Another Worker on the lab address (port `port`) with other ICE vars (stopped by stop()). */
    w.extraWorker = async (port, vars) => {
      const x = await startWorker({ netns: lab.srv, ip: WEB_IP, host: WEB_HOST, port, https: w.pki, vars: { TURN_SECRET: w.secret, ...vars } });
      (w.extras ??= []).push(x);
      return x;
    };
    w.url = w.worker.url;
    w.site = (name) => {
      const s = lab.sites.get(name);
      if (!s) throw new Error(`no site ${name}`);
      return s;
    };
    /** The site's Chromium (one per client namespace, launched on first use). */
    w.browser = async (name) => {
      const s = w.site(name);
      if (!w.browsers.has(s.client)) {
        const home = nssHome(join(dir, `home-${name}`), w.pki.ca);
        w.browsers.set(s.client, launchBrowser({ executablePath: lab.wrapper(s.client, '/usr/bin/chromium', { HOME: home }) }));
      }
      return w.browsers.get(s.client);
    };
    w.stop = async () => {
      await Promise.all([...w.browsers.values()].map(async (b) => (await b.catch(() => null))?.close()));
      w.browsers.clear();
      await Promise.all([w.worker?.stop(), w.coturn?.stop(), stopGroup(w.dns, 2000), ...(w.extras ?? []).map((x) => x.stop())]);
      lab.destroySync();
      cleanupTempDirs();
    };
    return w;
  } catch (e) {
    await Promise.all([w.worker?.stop(), w.coturn?.stop(), w.dns && stopGroup(w.dns, 2000)]).catch(() => {});
    lab.destroySync();
    throw e;
  }
}

export { waitFor };

/** A UDP listener on `ip`:`port` inside `ns` (probe.mjs listen): resolves once bound with
 * { received: [{from, data}], stop() }. */
export async function listener(ns, ip, port) {
  const p = spawnGroup('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'tests', 'network', 'probe.mjs'), 'listen', ip, String(port)],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const received = [];
  let buf = '';
  await new Promise((resolve, reject) => {
    p.stdout.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const l of lines) {
        if (l === 'ready') resolve();
        else if (l) received.push(JSON.parse(l));
      }
    });
    p.once('exit', (c) => reject(new Error(`listener in ${ns} exited (${c})`)));
  });
  return { received, stop: () => stopGroup(p, 2000) };
}
