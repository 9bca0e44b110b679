// Room codes: 1 to ROOM_CODE_MAX_CHARS characters of [a-z0-9-], case-insensitive (lower-cased).
// Generated codes come from the browser CSPRNG and use an alphabet without look-alikes
// (no 0/o, 1/l/i): 31 symbols in 3-4-4 groups = 11 symbols ≈ 54.5 bits, e.g. "k7m-q2xp-9rtz".

import { ROOM_CODE_MAX_CHARS } from './limits.js';

export const ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';
const CODE_RE = new RegExp(`^[a-z0-9-]{1,${ROOM_CODE_MAX_CHARS}}$`);

export function generateCode(groups = [3, 4, 4]) {
  const n = groups.reduce((a, b) => a + b, 0);
  const limit = 256 - (256 % ALPHABET.length); // reject bytes ≥ 248 so every symbol is equally likely
  const out = [];
  while (out.length < n) {
    for (const b of crypto.getRandomValues(new Uint8Array(n * 2))) {
      if (b < limit && out.length < n) out.push(ALPHABET[b % ALPHABET.length]);
    }
  }
  let i = 0;
  return groups.map((g) => out.slice(i, (i += g)).join('')).join('-');
}

/** A typed or pasted code (or a whole invite link) → canonical code, or null when invalid. */
export function normalizeCode(input) {
  let s = String(input ?? '').trim();
  if (/^https?:\/\//i.test(s)) {
    try { s = new URL(s).pathname; } catch { return null; }
  }
  s = s.replace(/^\/+|\/+$/g, '');
  try { s = decodeURIComponent(s); } catch { return null; }
  s = s.toLowerCase().replace(/\s+/g, '-');
  return CODE_RE.test(s) ? s : null;
}

/** location.pathname → {view:'home'} | {view:'room', code} | {view:'invalid'} */
export function route(pathname) {
  const p = pathname.replace(/\/+$/, '');
  if (p === '' || p === '/index.html') return { view: 'home' };
  const code = normalizeCode(p.slice(1));
  return code ? { view: 'room', code } : { view: 'invalid' };
}
