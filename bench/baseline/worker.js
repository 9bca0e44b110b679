// The smallest Worker + Durable Object shaped like Pinhole: one object per room, hibernatable
// WebSockets, one durable write per connection and a deleteAll when the room empties. It is the
// floor the Durable Object design itself sets, for comparison only; never deployed. No
// validation, no limits, no resume: a baseline, not a server.
// - bench/soak-compare.mjs sends plain text, relayed to every other socket of the room.
// - bench/load.mjs --baseline speaks a minimal signaling protocol: `{"type":"join"}` is answered
//   `{"type":"welcome","id"}` (the id is the socket's tag); `{"type":"signal","to","data"}` is
//   relayed to the socket tagged `to` as `{"type":"signal","from","data"}`; `{"type":"leave"}`
//   closes the socket.
export class Room {
  constructor(ctx) {
    this.ctx = ctx;
    // Keep-alives answered by the runtime without waking the object, as Pinhole does.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('ping', 'pong'));
  }

  async fetch() {
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [crypto.randomUUID().slice(0, 16)]);
    await this.ctx.storage.put('sockets', this.ctx.getWebSockets().length);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, message) {
    if (typeof message === 'string' && message.startsWith('{')) {
      const m = JSON.parse(message);
      const id = this.ctx.getTags(ws)[0];
      if (m.type === 'join') return ws.send(JSON.stringify({ type: 'welcome', id }));
      if (m.type === 'leave') return ws.close(1000, 'left');
      const [to] = this.ctx.getWebSockets(m.to);
      to?.send(JSON.stringify({ type: 'signal', from: id, data: m.data }));
      return;
    }
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
