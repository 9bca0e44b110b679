// What a call needs before its first offer, prepared while the pre-join screen shows so that
// the join does not wait for it: the ICE servers (GET /api/ice-servers; ice.js refreshes them if
// they come close to expiry before the click) and the DTLS certificate every connection of the
// call shares (RTCPeerConnection.generateCertificate, otherwise made once per connection while
// its first offer or answer waits). The call (call.js) takes both over on "Join".

import { IceServers } from './ice.js';

/** ECDSA P-256, what browsers generate by default (RSA keys take far longer to make). */
const CERTIFICATE_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' };

export class CallWarmup {
  constructor() {
    this.ice = new IceServers();
    this.ice.get();
    /** Resolves to an RTCCertificate, or null where the browser cannot make one (then each connection makes its own). */
    this.certificate = (async () => RTCPeerConnection.generateCertificate(CERTIFICATE_ALGORITHM))().catch((err) => {
      console.warn('[warmup] certificate:', err?.message ?? err);
      return null;
    });
  }

  /** For a pre-join screen left without joining. */
  stop() { this.ice.stop(); }
}
