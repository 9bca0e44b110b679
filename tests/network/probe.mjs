// Runs inside one of the lab's network namespaces (world.mjs probe()) and prints one JSON answer:
//   stun <host> <port>                       → { ok }: coturn answered a Binding request
//   relay <host> <port> <peer ip>…           → { allocate, peers: { ip: { permission, channel } } }
//       allocates with a REST credential signed with $LAB_TURN_SECRET (never on the command
//       line), then asks for a permission and a channel to each peer; the STUN answer codes.
//   send <host> <port> <peer ip> <peer port> → { allocate, permission, sent }: with a permission
//       granted, relays one datagram to the peer through coturn (a Send indication)
//   listen <ip> <port>                       → "ready", then one JSON line per UDP datagram
//       received ({ from, data }), until killed
import dgram from 'node:dgram';
import { tryAllocate, stunBinding } from '../support/coturn.mjs';

const [cmd, ...args] = process.argv.slice(2);
const out = (v) => {
  process.stdout.write(JSON.stringify(v));
  process.exit(0);
};

if (cmd === 'stun') {
  const ok = await stunBinding(Number(args[1]), args[0]).catch(() => false);
  out({ ok });
} else if (cmd === 'relay') {
  const [host, port, ...peers] = args;
  const { client, code } = await tryAllocate(Number(port), process.env.LAB_TURN_SECRET, { host });
  const result = { allocate: code, peers: {} };
  if (code === 200) {
    let channel = 0x4000;
    for (const ip of peers) {
      const permission = (await client.createPermission(ip)).code;
      const bound = (await client.channelBind(ip, 3478, channel++)).code;
      result.peers[ip] = { permission, channel: bound };
    }
  }
  await client.release();
  out(result);
} else if (cmd === 'send') {
  const [host, port, peer, peerPort] = args;
  const { client, code } = await tryAllocate(Number(port), process.env.LAB_TURN_SECRET, { host });
  const result = { allocate: code };
  if (code === 200) {
    result.permission = (await client.createPermission(peer)).code;
    // A Send indication (0x0016) carrying XOR-PEER-ADDRESS and DATA; coturn relays it only
    // if a permission for the peer exists.
    result.sent = await client.sendIndication(peer, Number(peerPort), Buffer.from('pinhole-lab-probe'));
  }
  await client.release();
  out(result);
} else if (cmd === 'listen') {
  // Long-running: prints "ready", then one JSON line per datagram, until killed.
  const sock = dgram.createSocket('udp4');
  sock.on('message', (m, r) => process.stdout.write(`${JSON.stringify({ from: r.address, data: m.toString() })}\n`));
  sock.bind(Number(args[1]), args[0], () => process.stdout.write('ready\n'));
} else {
  process.stderr.write(`unknown probe command ${cmd}\n`);
  process.exit(2);
}
