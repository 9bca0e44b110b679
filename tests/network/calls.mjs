// A two-party (or mesh) call between lab sites in the real app, and what it took: the path from
// the app's own diagnostics (window.pinhole.call … stats, public/js/diagnostics.js) and from the
// selected candidate pair in getStats(), and join → connected / first remote frame from the
// page's timeline (public/js/timeline.js). Shared by the lab's tests and bench/network.mjs.
/* global window, document, CSS -- functions passed to page.evaluate() run in the page */
import { roomCode, waitFor } from '../support/stack.mjs';
import { join, waitConnected, waitVideoFlowing } from '../support/browser.mjs';

/** The selected pair of the app's connection to `peerId`, as getStats() and the app see it. */
export function pathOf(page, peerId) {
  return page.evaluate(async (id) => {
    const p = window.pinhole.call?.participants.get(id);
    const pc = p?.peer?.pc;
    if (!pc) return null;
    const byId = new Map();
    (await pc.getStats()).forEach((s) => byId.set(s.id, s));
    let pair = null;
    for (const s of byId.values()) if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId);
    if (!pair) return null;
    const l = byId.get(pair.localCandidateId);
    const r = byId.get(pair.remoteCandidateId);
    return {
      local: l?.candidateType ?? null, remote: r?.candidateType ?? null,
      protocol: l?.protocol ?? null, relayProtocol: l?.relayProtocol ?? null, url: l?.url ?? null,
      localAddress: l?.address ?? null, remoteAddress: r?.address ?? null,
      // The app's own view (diagnostics.js summarize(), polled every 2 s) and its tile.
      app: p.stats ? { path: p.stats.path, transport: p.stats.transport, localType: p.stats.localType, remoteType: p.stats.remoteType } : null,
      tilePath: document.querySelector(`.tile.remote[data-peer-id="${CSS.escape(id)}"]`)?.dataset.path ?? null,
    };
  }, peerId);
}

/** Waits until the app's diagnostics have seen the selected pair too (polled every 2 s). */
export function waitPath(page, peerId, timeout = 10_000) {
  return waitFor(async () => {
    const p = await pathOf(page, peerId);
    return p?.app?.path && p.tilePath && p;
  }, { timeout, interval: 200, what: 'the app to show the call\'s path' });
}

/** The first time (ms after the page's own 'join' mark, the Join click) of mark `name` for
 * `peer`, or null. */
export function sinceJoin(page, name, peer) {
  return page.evaluate(([n, id]) => {
    const es = window.pinhole.timeline.entries;
    const j = es.find((e) => e.name === 'join');
    const e = es.find((x) => x.name === n && (!id || x.peer === id) && (!j || x.t >= j.t));
    return j && e ? Math.round(e.t - j.t) : null;
  }, [name, peer]);
}

/**
 * Site `a` joins a fresh room, then site `b`; both wait for the connection and decoding remote
 * video. `pages` collects the participants (for the caller's afterEach). Returns
 * { a, b, path: { a, b } (pathOf each side), connectedMs, frameMs } — the times of the joining
 * side (b), from its Join click.
 */
export async function twoPartyCall(w, aName, bName, { relay = false, timeout = 30_000, pages = [] } = {}) {
  const room = roomCode('net');
  const [ba, bb] = await Promise.all([w.browser(aName), w.browser(bName)]);
  const a = await join(ba, w.url, room, { relay });
  pages.push(a);
  const b = await join(bb, w.url, room, { relay });
  pages.push(b);
  await Promise.all([waitConnected(a.page, [b.id], { timeout }), waitConnected(b.page, [a.id], { timeout })]);
  await Promise.all([waitVideoFlowing(a.page, b.id, { frames: 10, timeout }), waitVideoFlowing(b.page, a.id, { frames: 10, timeout })]);
  const [pa, pb] = await Promise.all([waitPath(a.page, b.id), waitPath(b.page, a.id)]);
  const [connectedMs, frameMs] = await Promise.all([sinceJoin(b.page, 'pc-connected', a.id), sinceJoin(b.page, 'remote-frame', a.id)]);
  return { a, b, path: { a: pa, b: pb }, connectedMs, frameMs };
}

/** 'host' | 'srflx' | 'prflx' | 'relay/udp' | 'relay/tcp' | 'relay/tls' for one side's pair. */
export function pathClass(p) {
  if (p.local === 'relay') return `relay/${p.relayProtocol ?? 'udp'}`;
  return p.local;
}
