// getStats() → per-participant figures: path (direct/relay, from the selected candidate pair's
// local candidate; the pair is transport.selectedCandidatePairId in Chromium and Safari, the
// pair marked `selected` in Firefox, which has no transport stats), transport (udp/tcp/tls: relayProtocol for relay candidates, else protocol),
// RTT, bitrate in/out, packet loss, video resolution/fps. Polled every POLL_MS for every peer (the
// tiles' data-path needs it even with the panel closed); the panel renders when visible.

import { h } from './ui.js';
import { displayName } from './call.js';

const POLL_MS = 2000;

export function summarize(report, prev) {
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  let pair = null;
  for (const s of byId.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) ?? pair;
  }
  if (!pair) {
    for (const s of byId.values()) {
      if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) { pair = s; break; }
    }
  }
  const local = pair ? byId.get(pair.localCandidateId) : null;
  const remote = pair ? byId.get(pair.remoteCandidateId) : null;
  const out = {
    ts: performance.now(),
    path: local ? (local.candidateType === 'relay' ? 'relay' : 'direct') : null,
    transport: local ? (local.candidateType === 'relay' ? local.relayProtocol || 'udp' : local.protocol) : null,
    localType: local?.candidateType ?? null,
    remoteType: remote?.candidateType ?? null,
    rtt: null,
    bytesIn: 0,
    bytesOut: 0,
    packetsIn: 0,
    lost: 0,
    framesDecoded: 0,
    video: null,
  };
  let mediaRtt = null;
  for (const s of byId.values()) {
    if (s.type === 'inbound-rtp') {
      out.bytesIn += s.bytesReceived ?? 0;
      out.packetsIn += s.packetsReceived ?? 0;
      out.lost += Math.max(0, s.packetsLost ?? 0);
      if (s.kind === 'video') {
        out.framesDecoded += s.framesDecoded ?? 0;
        if (s.frameWidth) out.video = `${s.frameWidth}×${s.frameHeight}${s.framesPerSecond ? ` @ ${Math.round(s.framesPerSecond)} fps` : ''}`;
      }
    } else if (s.type === 'outbound-rtp') {
      out.bytesOut += s.bytesSent ?? 0;
    } else if (s.type === 'remote-inbound-rtp' && s.roundTripTime != null) {
      mediaRtt ??= s.roundTripTime;
    }
  }
  // The ICE round trip of the selected pair; Firefox has none there (no currentRoundTripTime on
  // its candidate pairs), so the RTCP round trip of the media (remote-inbound-rtp) instead.
  const rtt = pair?.currentRoundTripTime ?? mediaRtt;
  if (rtt != null) out.rtt = Math.round(rtt * 1000);
  if (prev) {
    const dt = (out.ts - prev.ts) / 1000;
    if (dt > 0) {
      out.kbpsIn = Math.max(0, Math.round(((out.bytesIn - prev.bytesIn) * 8) / dt / 1000));
      out.kbpsOut = Math.max(0, Math.round(((out.bytesOut - prev.bytesOut) * 8) / dt / 1000));
    }
    const dLost = out.lost - prev.lost;
    const dRecv = out.packetsIn - prev.packetsIn;
    out.loss = dLost + dRecv > 0 ? Math.max(0, (dLost / (dLost + dRecv)) * 100) : 0;
  }
  return out;
}

export class Diagnostics {
  constructor(call, { body, isVisible, onUpdate }) {
    this.call = call;
    this.body = body;
    this.isVisible = isVisible;
    this.onUpdate = onUpdate; // (participant) when path changed
    this.timer = setInterval(() => this.poll(), POLL_MS);
    this.busy = false;
  }

  async poll() {
    if (this.busy) return;
    this.busy = true;
    try {
      for (const p of [...this.call.participants.values()]) {
        if (!p.peer || p.peer.closed) continue;
        try {
          const s = summarize(await p.peer.pc.getStats(), p.stats);
          p.stats = s;
          if (s.path && s.path !== p.path && p.state === 'connected') {
            p.path = s.path;
            this.onUpdate(p);
          }
        } catch { /* the connection closed while polling: it has no stats any more */ }
      }
      if (this.isVisible()) this.render();
    } finally {
      this.busy = false;
    }
  }

  render() {
    const { call } = this;
    const ice = call.ice.value;
    const rows = (pairs) => h('dl', {}, ...pairs.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', { text: v ?? '—' })]));
    const sections = [
      h('section', { class: 'diag-peer' },
        h('h3', { text: 'This device' }),
        rows([
          ['Peer id', call.selfId],
          ['Signaling', call.sig.state + (call.sig.detail ? ` (${call.sig.detail})` : '')],
          ['Relay (TURN)', ice ? (ice.relay ? 'configured' : 'not configured') : 'unknown'],
          ['ICE policy', call.relayOnly ? 'relay only' : 'all'],
          ['Credentials expire', ice ? new Date(ice.expiresAt * 1000).toLocaleTimeString() : null],
        ])),
    ];
    for (const p of call.participants.values()) {
      const s = p.stats;
      const pc = p.peer?.pc;
      sections.push(h('section', { class: 'diag-peer', 'data-peer-id': p.id },
        h('h3', { text: displayName(p) }),
        rows([
          ['State', p.state],
          ['ICE', pc ? `${pc.iceConnectionState} / ${pc.signalingState}` : 'waiting for offer'],
          ['Path', s?.path ? `${s.path} · ${s.transport ?? '?'}` : null],
          ['Candidates', s?.localType ? `${s.localType} → ${s.remoteType}` : null],
          ['Round trip', s?.rtt != null ? `${s.rtt} ms` : null],
          ['Bitrate', s?.kbpsIn != null ? `↓ ${s.kbpsIn} kb/s · ↑ ${s.kbpsOut} kb/s` : null],
          ['Packet loss', s?.loss != null ? `${s.loss.toFixed(1)} %` : null],
          ['Video in', s?.video],
        ])));
    }
    this.body.replaceChildren(...sections);
  }

  stop() { clearInterval(this.timer); }
}
