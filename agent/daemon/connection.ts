/**
 * The agent's one WebSocket to control: connects (Bearer token), says hello, and reconnects with
 * jittered, clamped back-off for as long as the agent runs. Running work never depends on it.
 * Timers and randomness are injectable so reconnect behaviour is tested without waiting.
 */
import WebSocket from 'ws';
import type { Logger } from '../../shared/logger.js';
import { AGENT_CONNECT_PATH, MAX_FRAME_BYTES, parseFrame, type AgentMessage, type ControlMessage, type HelloMessage, type WelcomeMessage } from '../../shared/protocol.js';
import { writeBatcher } from '../../shared/write-batching.js';
import { backoffDelay } from './backoff.js';

export interface ConnectionTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}
const realTimers: ConnectionTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

export interface ConnectionOptions {
  control: string;
  token: string;
  logger: Logger;
  hello: () => HelloMessage;
  onWelcome: (w: WelcomeMessage) => void;
  onMessage: (m: ControlMessage) => void;
  onDown: () => void;
  random?: () => number;
  timers?: ConnectionTimers;
}

/** http(s)://host:port[/base] → ws(s)://host:port[/base]/v1/agents/connect */
export function connectUrl(control: string): string {
  const u = new URL(control);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  else if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`--control must be an http(s) URL, got ${control}`);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${AGENT_CONNECT_PATH}`;
  return u.toString();
}

export class AgentConnection {
  /** Frames sent in one tick leave in one write (shared/write-batching.ts). */
  private batch: (() => void) | undefined;
  private ws: WebSocket | undefined;
  private ready = false;
  private attempt = 0;
  private retryTimer: unknown;
  private stopped = false;
  private lastRefusal = '';
  private readonly url: string;
  private readonly timers: ConnectionTimers;

  constructor(private readonly o: ConnectionOptions) {
    this.url = connectUrl(o.control);
    this.timers = o.timers ?? realTimers;
  }

  get connected(): boolean {
    return this.ready;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  /** Sends when welcomed; false means "not now" (callers keep what they must resend). */
  send(m: AgentMessage): boolean {
    if (!this.ready || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.batch?.();
    this.ws.send(JSON.stringify(m));
    return true;
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((r) => {
        ws.once('close', () => r());
        ws.close(1000, 'agent stopping');
        setTimeout(() => {
          ws.terminate();
          r();
        }, 1000).unref();
      });
    }
  }

  private open(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url, { headers: { authorization: `Bearer ${this.o.token}` }, maxPayload: MAX_FRAME_BYTES, handshakeTimeout: 10_000 });
    this.ws = ws;
    ws.on('upgrade', (res) => (this.batch = writeBatcher(res.socket)));
    ws.on('open', () => ws.send(JSON.stringify(this.o.hello())));
    ws.on('unexpected-response', (_req, res) => {
      const why = res.statusCode === 401 ? 'control refused the agent token (HTTP 401): check --token / FETCHML_AGENT_TOKEN' : `control answered HTTP ${res.statusCode} to the agent connection`;
      this.refused(why);
      res.resume();
      ws.terminate();
    });
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? undefined : parseFrame<ControlMessage>(data.toString());
      if (!m) return;
      if (m.type === 'welcome') {
        this.ready = true;
        this.attempt = 0;
        this.lastRefusal = '';
        this.o.logger.info({ worker: m.worker_id }, 'connected to control');
        this.o.onWelcome(m);
      } else if (m.type === 'error') {
        this.refused(`control refused the agent: ${m.code}: ${m.message}`);
      } else this.o.onMessage(m);
    });
    ws.on('error', (err) => this.o.logger.debug({ err }, 'control connection error'));
    ws.on('close', () => {
      const was = this.ready;
      this.ready = false;
      if (this.ws === ws) this.ws = undefined;
      if (was) {
        this.o.logger.warn('lost the connection to control; tasks keep running, reconnecting');
        this.o.onDown();
      }
      this.scheduleRetry();
    });
  }

  /** Said once per distinct reason, at error level: an operator has to act on these. */
  private refused(why: string): void {
    if (why !== this.lastRefusal) this.o.logger.error(why);
    this.lastRefusal = why;
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++, this.o.random);
    this.retryTimer = this.timers.setTimeout(() => this.open(), delay);
  }
}
