// The smallest Worker + Durable Object shaped like Pinhole, for comparing the local runtime's
// memory (bench/soak-compare.mjs): one object per room, hibernatable WebSockets, one durable
// write per connection and a deleteAll when the room empties, and every message relayed to the
// other sockets of the room. No protocol, no validation — a baseline, not a server.
export class Room {
  constructor(ctx) {
    this.ctx = ctx;
  }

  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    await this.ctx.storage.put('sockets', this.ctx.getWebSockets().length);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, message) {
    for (const other of this.ctx.getWebSockets()) if (other !== ws) other.send(message);
  }

  async webSocketClose(ws, code) {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, '');
    const left = this.ctx.getWebSockets().filter((w) => w !== ws && w.readyState === WebSocket.OPEN);
    if (left.length === 0) await this.ctx.storage.deleteAll();
  }
}

export default {
  fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === '/health') return Response.json({ status: 'ok' });
    const room = /^\/ws\/([a-z0-9-]{1,64})$/.exec(pathname)?.[1];
    if (!room || request.headers.get('Upgrade') !== 'websocket') return new Response('not found', { status: 404 });
    return env.ROOM.get(env.ROOM.idFromName(room)).fetch(request);
  },
};
