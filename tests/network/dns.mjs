// The lab's DNS server (run inside the server namespace by world.mjs): answers A queries for the
// names given as `name=ip` arguments on UDP <ip>:53, an empty NOERROR for their other record
// types, and NXDOMAIN for every other name. Chromium resolves the ICE servers' host names for
// its UDP STUN/TURN sockets through DNS (an /etc/hosts entry alone left it with no UDP
// candidates at all in the lab), so the lab has a resolver, as any network does.
// Usage: node dns.mjs <listen ip> name=ip…  (prints "ready" once bound)
import dgram from 'node:dgram';

const [listen, ...pairs] = process.argv.slice(2);
const names = new Map(pairs.map((p) => p.split('=')).map(([n, ip]) => [n.toLowerCase(), ip]));

function answer(q) {
  if (q.length < 12) return null;
  const id = q.readUInt16BE(0);
  const flags = q.readUInt16BE(2);
  if (flags & 0x8000 || q.readUInt16BE(4) !== 1) return null; // a response, or not exactly one question
  let off = 12;
  const labels = [];
  while (off < q.length && q[off] !== 0) {
    const len = q[off];
    if (len > 63 || off + 1 + len > q.length) return null;
    labels.push(q.subarray(off + 1, off + 1 + len).toString('latin1'));
    off += 1 + len;
  }
  off += 1;
  if (off + 4 > q.length) return null;
  const qtype = q.readUInt16BE(off);
  const question = q.subarray(12, off + 4);
  const ip = names.get(labels.join('.').toLowerCase());
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  // QR, opcode 0, AA, RD copied; RA; RCODE 3 (NXDOMAIN) for unknown names.
  header.writeUInt16BE(0x8400 | (flags & 0x0100) | 0x0080 | (ip ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  const records = [];
  if (ip && qtype === 1) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the name of the question
    rr.writeUInt16BE(1, 2); // A
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(60, 6); // TTL
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((o, i) => rr.writeUInt8(Number(o), 12 + i));
    records.push(rr);
  }
  header.writeUInt16BE(records.length, 6);
  return Buffer.concat([header, question, ...records]);
}

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, r) => {
  const a = answer(msg);
  if (a) sock.send(a, r.port, r.address);
});
sock.bind(53, listen, () => process.stdout.write('ready\n'));
