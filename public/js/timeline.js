// The page's own timeline of joining and connecting: performance.now() marks of each step (the
// click, media, socket, welcome, ICE servers, offers and answers, candidates, ICE and connection
// states, the first remote frame), so that where a join spends its time is a measured figure
// (bench/browser-join.mjs) and the order of the steps can be asserted (tests/browser/join.test.mjs).
// Always on: a mark is one array push and one performance.mark() (also shown by DevTools'
// Performance panel as "pinhole:<name>"), and a call makes a few dozen of them.
// Read as window.pinhole.timeline: {origin (performance.timeOrigin), entries [{name, t, peer?, detail?}]}.

/** Entries kept; later marks are dropped (a call that renegotiates for hours stays bounded). */
const MAX_ENTRIES = 1000;

export const timeline = { origin: performance.timeOrigin, entries: [] };

/**
 * Records step `name` now; `peer` names the remote participant it concerns, if any, and `detail`
 * is a small plain object about it (a candidate's type, a frame's size).
 */
export function mark(name, peer, detail) {
  if (timeline.entries.length >= MAX_ENTRIES) return;
  const t = performance.now();
  const entry = { name, t };
  if (peer) entry.peer = peer;
  if (detail) entry.detail = detail;
  timeline.entries.push(entry);
  performance.mark(`pinhole:${name}`, { startTime: t, detail: peer || detail ? { peer, ...detail } : null });
}
