/**
 * /ws: task events for clients. Envelopes (JSON text frames):
 *   {type:'task_update', task}  {type:'task_complete', task}  {type:'pong'} (answer to {type:'ping'})
 *   {type:'error', error}
 * Auth: X-API-Key header, `api_key` query parameter, or subprotocol `fetchml-key.<key>` (browsers).
 * A user gets only their own tasks' events; admins get all.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Task } from '../../shared/api-types.js';
import { isFinalStatus } from '../../shared/api-types.js';
import type { ControlContext } from '../context.js';
import type { Authenticator } from '../http/auth.js';
import { TokenBuckets } from '../http/rate-limit.js';
import type { Metrics } from '../metrics.js';
import type { Actor } from '../services/actor.js';

const KEY_PROTOCOL = 'fetchml-key.';
/** A client that cannot keep up with this much unsent data is disconnected. */
const MAX_BUFFERED = 4 * 1024 * 1024;

export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}) {
  const traceId = randomUUID();
  const body = JSON.stringify({ error: message, code, trace_id: traceId });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Trace-Id: ${traceId}\r\n${extra}Connection: close\r\n\r\n${body}`,
  );
}

export function createClientWs(ctx: ControlContext, auth: Authenticator, metrics: Metrics) {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: ctx.config.wsMaxMessageBytes,
    // Echo the plain 'fetchml' protocol if offered, else the key protocol (browsers require an echo).
    handleProtocols: (protocols) => (protocols.has('fetchml') ? 'fetchml' : ([...protocols].find((p) => p.startsWith(KEY_PROTOCOL)) ?? false)),
  });

  const serve = (ws: WebSocket, actor: Actor) => {
    metrics.wsClients.inc();
    const buckets = new TokenBuckets(ctx.config.wsMessagesPerSecond, ctx.config.wsMessagesPerSecond * 2, () => ctx.clock.now());
    const send = (msg: object) => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED) return ws.close(1013, 'client too slow');
      ws.send(JSON.stringify(msg));
    };
    const onTask = (task: Task) => {
      if (actor.kind !== 'key' || (actor.role !== 'admin' && task.user_id !== actor.user_id)) return;
      const { output: _o, ...t } = ctx.tasks.present(task);
      send({ type: isFinalStatus(task.status) ? 'task_complete' : 'task_update', task: t });
    };
    ctx.events.on('task', onTask);
    ws.on('message', (data, isBinary) => {
      if (!buckets.take('c').allowed) return ws.close(1008, 'rate limit exceeded');
      let msg: unknown;
      try {
        msg = isBinary ? undefined : JSON.parse(data.toString());
      } catch {
        msg = undefined;
      }
      const type = msg && typeof msg === 'object' ? (msg as { type?: unknown }).type : undefined;
      if (type === 'ping') send({ type: 'pong' });
      else if (type === 'pong') return;
      else send({ type: 'error', error: 'expected a JSON text frame {"type":"ping"}' });
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      ctx.events.off('task', onTask);
      metrics.wsClients.dec();
    });
  };

  return {
    async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
      socket.on('error', () => socket.destroy());
      const ip = req.socket.remoteAddress ?? 'unknown';
      const url = new URL(req.url ?? '/', 'http://x');
      const protoKey = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((s) => s.trim())
        .find((p) => p.startsWith(KEY_PROTOCOL))
        ?.slice(KEY_PROTOCOL.length);
      const key = (typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined) ?? url.searchParams.get('api_key') ?? protoKey;
      const actor = key ? auth.identify({ 'x-api-key': key }, {}, false, false, ip) : undefined;
      if (!actor) {
        const { limited, headers } = await auth.failed(ip, key ? 'invalid credential' : 'missing credential', 'GET /ws');
        return limited
          ? rejectUpgrade(socket, 429, 'RATE_LIMITED', 'Too many failed authentication attempts', headers)
          : rejectUpgrade(socket, 401, 'UNAUTHORIZED', 'Invalid or missing API key');
      }
      const limit = auth.take(actor);
      if (!limit.allowed) return rejectUpgrade(socket, 429, 'RATE_LIMITED', 'Rate limit exceeded', limit.headers);
      wss.handleUpgrade(req, socket, head, (ws) => serve(ws, actor));
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}
export type ClientWs = ReturnType<typeof createClientWs>;
