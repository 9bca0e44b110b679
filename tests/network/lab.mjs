// The network lab: a small simulated internet in Linux network namespaces, built from code and
// always torn down (after a passing or failing run, on an uncaught error and on SIGINT/SIGTERM/
// SIGHUP; a lab whose process was SIGKILLed is swept by the next run).
//
//   ┌──────────────────────────── <lab>-inet: bridge br0, 203.0.113.1/24 ────────────────────────┐
//   │  the "internet" segment. 203.0.113.1 is a sink: every namespace's default route, it does   │
//   │  not forward, so traffic to an address that exists nowhere is dropped silently (trap 2 of  │
//   │  ../shared/TOOLCHAIN.md: an ENETUNREACH makes coturn close the whole allocation).          │
//   └───┬───────────────────┬──────────────────────┬──────────────────────────┬──────────────────┘
//    <lab>-srv           <lab>-<site>-r (router) <lab>-<site>-r …         <lab>-<site>-c (open site:
//    203.0.113.10 web    wan 203.0.113.x         (carrier NAT: -r is the   a public address on
//    203.0.113.11 TURN   lan 10.S.0.1/24 ─ NAT    CGN, -h the home router   the bridge)
//                        <lab>-<site>-c 10.S.0.2  behind it in 100.64.S/24)
//
// A site's router: nftables masquerade on "wan" (endpoint-independent mapping; `random,fully-random`
// for a symmetric NAT), unsolicited inbound dropped before conntrack confirms it (trap 1), and
// optionally a firewall (UDP dropped, or nothing but TCP 443 out). `tc` shapes its wan link.
// Names resolve through /etc/netns/<ns>/hosts, which `ip netns exec` bind-mounts as /etc/hosts.
//
// Every name this module creates starts with `pinlab<pid>-`, which is how cleanup finds them.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

export const NET = '203.0.113';
export const SINK = `${NET}.1`;
export const WEB_IP = `${NET}.10`;
export const TURN_IP = `${NET}.11`;
/** The lab's DNS server (tests/network/dns.mjs, in the server namespace). */
export const DNS_IP = `${NET}.53`;
export const WEB_HOST = 'pinhole.lab.test';
export const TURN_HOST = 'turn.lab.test';
const NETNS_ETC = '/etc/netns';
const PREFIX = 'pinlab';

/** Why the lab cannot run here (null when it can): it needs root, `ip`, `nft` and `tc`. */
export function labUnavailable() {
  if (process.platform !== 'linux') return 'the network lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the network lab needs root (ip netns, nft, tc); CI runs it as root';
  for (const tool of ['ip', 'nft', 'tc', 'openssl', 'certutil']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `the network lab needs \`${tool}\` (.ci/run installs it)`;
  }
  const probe = `${PREFIX}probe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  spawnSync('ip', ['netns', 'del', probe]);
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr.trim()}`;
  return null;
}

function sh(cmd, args, input) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}
const quiet = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' });

/** Every lab namespace on this machine (any run), as names. */
export function labNamespaces() {
  return sh('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith(PREFIX));
}

/** What a lab left behind: namespaces, /etc/netns entries (processes and qdiscs live inside
 * namespaces, and a namespace is only deleted once its processes are gone). */
export function leftovers({ owner } = {}) {
  const mine = (n) => n.startsWith(owner ? `${PREFIX}${owner}-` : PREFIX);
  const etc = existsSync(NETNS_ETC) ? readdirSync(NETNS_ETC).filter(mine) : [];
  return { namespaces: labNamespaces().filter(mine), etc };
}

/** Kills every process inside namespace `ns`, then deletes it and its /etc/netns entry. */
function removeNamespace(ns) {
  for (let i = 0; i < 20; i++) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
    if (!pids.length) break;
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('sleep', ['0.05']); // synchronous (exit handlers cannot await): let the kernel reap them
  }
  quiet('ip', ['netns', 'del', ns]);
  rmSync(join(NETNS_ETC, ns), { recursive: true, force: true });
}

/** Removes the namespaces of lab runs whose process no longer exists (e.g. one SIGKILLed). */
export function sweepStale() {
  const alive = (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return e.code === 'EPERM';
    }
  };
  const names = [...labNamespaces(), ...(existsSync(NETNS_ETC) ? readdirSync(NETNS_ETC).filter((n) => n.startsWith(PREFIX)) : [])];
  for (const n of new Set(names)) {
    const pid = Number(/^pinlab(\d+)-/.exec(n)?.[1]);
    if (pid && pid !== process.pid && !alive(pid)) removeNamespace(n);
  }
}

const labs = new Set();
function destroyAll() {
  for (const lab of labs) lab.destroySync();
}
let hooked = false;
function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', destroyAll);
  // stack.mjs ends the process on these signals (after killing its process groups), which runs
  // the 'exit' hook above; when stack.mjs is not loaded, do the same here.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      destroyAll();
      if (process.listenerCount(signal) === 1) process.exit(128 + { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal]);
    });
  }
}

/**
 * NAT kinds: 'none' (a public address), 'cone' (endpoint-independent mapping), 'symmetric'
 * (a fresh random port per destination), 'cgn' (a cone home router behind a cone carrier NAT
 * in 100.64.0.0/10). Firewalls: 'none', 'noudp' (every outgoing UDP packet dropped but DNS),
 * 'tcp443' (nothing out but TCP to port 443, and DNS), 'noturn' (the TURN server unreachable).
 */
export class Lab {
  constructor() {
    sweepStale();
    hookExit();
    this.id = `${PREFIX}${process.pid}-${labs.size}`;
    this.namespaces = [];
    this.nextWan = 20;
    this.nextSubnet = 1;
    this.sites = new Map();
    this.dir = null;
    labs.add(this);
    try {
      this.inet = this._ns('inet');
      this._in(this.inet, 'ip link add br0 type bridge; ip link set br0 up; ' +
        `ip addr add ${SINK}/24 dev br0; sysctl -qw net.ipv4.ip_forward=0`);
      this.srv = this._ns('srv');
      this._wire(this.srv, 'eth0', [`${WEB_IP}/24`, `${TURN_IP}/24`, `${DNS_IP}/24`]);
      this._in(this.srv, `ip route add default via ${SINK}`);
    } catch (e) {
      this.destroySync();
      throw e;
    }
  }

  /** Namespace `<lab>-<name>` with loopback up and the lab's names in its /etc/hosts. */
  _ns(name) {
    const ns = `${this.id}-${name}`;
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    mkdirSync(join(NETNS_ETC, ns), { recursive: true });
    // The lab's names come from its DNS server (dns.mjs), never from the machine's resolver.
    writeFileSync(join(NETNS_ETC, ns, 'hosts'), '127.0.0.1 localhost\n');
    writeFileSync(join(NETNS_ETC, ns, 'resolv.conf'), `nameserver ${DNS_IP}\noptions timeout:1 attempts:2\n`);
    this._in(ns, 'ip link set lo up');
    return ns;
  }

  /** Runs a shell script inside `ns`. */
  _in(ns, script) {
    return sh('ip', ['netns', 'exec', ns, 'sh', '-euc', script]);
  }

  /** Public `ns`'s interface `ifname` on the internet bridge, with `addrs`. */
  _wire(ns, ifname, addrs) {
    const peer = `p${this.namespaces.indexOf(ns)}`;
    sh('ip', ['-n', ns, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', peer, 'netns', this.inet]);
    this._in(this.inet, `ip link set ${peer} master br0; ip link set ${peer} up`);
    this._in(ns, `${addrs.map((a) => `ip addr add ${a} dev ${ifname}; `).join('')}ip link set ${ifname} up`);
  }

  /** A veth `upIf` (in `up`, address upAddr) ↔ `downIf` (in `down`, address downAddr). */
  _link(up, upIf, upAddr, down, downIf, downAddr) {
    sh('ip', ['-n', up, 'link', 'add', upIf, 'type', 'veth', 'peer', 'name', downIf, 'netns', down]);
    this._in(up, `ip addr add ${upAddr} dev ${upIf}; ip link set ${upIf} up`);
    if (downAddr) this._in(down, `ip addr add ${downAddr} dev ${downIf}; ip link set ${downIf} up`);
  }

  _router(ns, { nat, firewall = 'none', lan = 'lan' }) {
    const masq = nat === 'symmetric' ? 'masquerade random,fully-random' : 'masquerade';
    // Even the strictest network lets its people resolve names: DNS to the lab's resolver passes.
    const dns = `oifname "wan" ip daddr ${DNS_IP} udp dport 53 accept\n      `;
    const fw = {
      none: '',
      noudp: `${dns}oifname "wan" meta l4proto udp drop`,
      tcp443: `${dns}oifname "wan" meta l4proto != tcp drop\n      oifname "wan" tcp dport != 443 drop`,
      // The TURN server is unreachable from this site (a network that blocks it, or a dead relay).
      noturn: `oifname "wan" ip daddr ${TURN_IP} drop`,
    }[firewall];
    if (fw === undefined) throw new Error(`unknown firewall ${firewall}`);
    this._in(ns, 'sysctl -qw net.ipv4.ip_forward=1');
    sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], `
table ip lab {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "wan" ct state new drop
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "wan" ct state new drop
    ${fw}
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    oifname "wan" ${masq}
  }
}
`);
    void lan;
  }

  /**
   * Adds site `name`: { nat, firewall } as described above. Returns
   * { name, client (namespace the browser runs in), router, wanIp, clientIp }.
   */
  site(name, { nat = 'cone', firewall = 'none' } = {}) {
    const wanIp = `${NET}.${this.nextWan++}`;
    const s = this.nextSubnet++;
    let site;
    if (nat === 'none') {
      const client = this._ns(`${name}-c`);
      this._wire(client, 'wan', [`${wanIp}/24`]);
      this._in(client, `ip route add default via ${SINK}`);
      site = { name, nat, firewall, client, router: null, wanIp, clientIp: wanIp };
      if (firewall !== 'none') throw new Error('an open site has no router to firewall');
    } else if (nat === 'cgn') {
      const router = this._ns(`${name}-r`); // the carrier's NAT
      const home = this._ns(`${name}-h`); // the home router behind it
      const client = this._ns(`${name}-c`);
      this._wire(router, 'wan', [`${wanIp}/24`]);
      this._in(router, `ip route add default via ${SINK}`);
      this._link(router, 'lan', `100.64.${s}.1/24`, home, 'wan', `100.64.${s}.2/24`);
      this._in(home, `ip route add default via 100.64.${s}.1`);
      this._link(home, 'lan', `192.168.${s}.1/24`, client, 'eth0', `192.168.${s}.2/24`);
      this._in(client, `ip route add default via 192.168.${s}.1`);
      this._router(router, { nat: 'cone', firewall });
      this._router(home, { nat: 'cone' });
      site = { name, nat, firewall, client, router, home, wanIp, clientIp: `192.168.${s}.2` };
    } else {
      const router = this._ns(`${name}-r`);
      const client = this._ns(`${name}-c`);
      this._wire(router, 'wan', [`${wanIp}/24`]);
      this._in(router, `ip route add default via ${SINK}`);
      this._link(router, 'lan', `10.${s}.0.1/24`, client, 'eth0', `10.${s}.0.2/24`);
      this._in(client, `ip route add default via 10.${s}.0.1`);
      this._router(router, { nat, firewall });
      site = { name, nat, firewall, client, router, wanIp, clientIp: `10.${s}.0.2` };
    }
    this.sites.set(name, site);
    return site;
  }

  /**
   * A second uplink for `site`'s client (a phone's mobile data next to its Wi-Fi): a router
   * `<name>` with its own NAT, wired to the client as interface `eth1`, down until move().
   */
  uplink(site, name, { nat = 'cone' } = {}) {
    const wanIp = `${NET}.${this.nextWan++}`;
    const s = this.nextSubnet++;
    const router = this._ns(`${name}-r`);
    this._wire(router, 'wan', [`${wanIp}/24`]);
    this._in(router, `ip route add default via ${SINK}`);
    sh('ip', ['-n', router, 'link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', site.client]);
    this._in(router, `ip addr add 10.${s}.0.1/24 dev lan; ip link set lan up`);
    this._router(router, { nat });
    return { name, router, wanIp, clientIp: `10.${s}.0.2`, gateway: `10.${s}.0.1` };
  }

  /** Moves `site`'s client from its current uplink to `to` (from uplink()): the old interface
   * goes down (its address and routes gone), the new one comes up with a new address. */
  move(site, to) {
    this._in(site.client, `ip link set eth0 down; ip addr flush dev eth0; ip addr add ${to.clientIp}/24 dev eth1; ` +
      `ip link set eth1 up; ip route replace default via ${to.gateway}`);
    site.clientIp = to.clientIp;
    site.wanIp = to.wanIp;
  }

  /** Shapes `site`'s uplink (its router's wan, both directions' egress there is the uplink):
   * `netem` options (e.g. 'loss 3% delay 100ms 20ms') or a rate cap ('rate 400kbit'). */
  shape(site, spec) {
    const ns = site.router;
    if (!ns) throw new Error('an open site has no router to shape');
    this._in(ns, `tc qdisc replace dev wan root netem ${spec}`);
  }

  /** Removes `site`'s shaping. */
  unshape(site) {
    quiet('ip', ['netns', 'exec', site.router, 'tc', 'qdisc', 'del', 'dev', 'wan', 'root']);
  }

  /** The qdiscs on `site`'s router wan (for the leftovers check). */
  qdiscs(site) {
    return this._in(site.router, 'tc qdisc show dev wan');
  }

  /** An executable that runs `command` inside `ns` with `env` (e.g. a browser's executablePath). */
  wrapper(ns, command, env = {}) {
    if (!this.dir) throw new Error('set lab.dir first');
    const path = join(this.dir, `in-${ns}-${command.split('/').pop()}`);
    const vars = Object.entries(env).map(([k, v]) => `${k}='${v}' `).join('');
    writeFileSync(path, `#!/bin/sh\nexec env ${vars}ip netns exec ${ns} ${command} "$@"\n`);
    chmodSync(path, 0o755);
    return path;
  }

  /** Argument list that runs `command args` inside `ns` (for spawn). */
  exec(ns, command, args = []) {
    return ['ip', ['netns', 'exec', ns, command, ...args]];
  }

  /** Kills everything in the lab's namespaces and deletes them (idempotent, synchronous). */
  destroySync() {
    for (const ns of this.namespaces.splice(0).reverse()) removeNamespace(ns);
    labs.delete(this);
  }
}
