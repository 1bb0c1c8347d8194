/**
 * The one typed client of the FetchML HTTP API (undici). The CLI and the tests both use it, so
 * what the tests exercise is what users run. Errors: `ApiError` for 4xx/5xx answers,
 * `ControlUnreachableError` when control cannot be reached at all.
 */
import { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import type {
  ApiKeyView,
  AuditEvent,
  AuditEventType,
  CreateTaskRequest,
  Experiment,
  HealthResponse,
  JupyterService,
  PluginConfig,
  PluginStatus,
  QueueStats,
  Reservation,
  Role,
  Task,
  TaskList,
  TaskStatus,
  VerificationResult,
  Worker,
} from './api-types.js';
import { ApiError, ControlUnreachableError } from './api-client-errors.js';

export { ApiError, ControlUnreachableError };

export interface ClientOptions {
  url: string;
  apiKey?: string;
  /** Parallel connections to control (batch submission uses several). */
  connections?: number;
  /** Per-request header timeout in ms (streams are exempt from the body timeout). */
  timeoutMs?: number;
}

export interface ListTasksQuery {
  status?: TaskStatus;
  user_id?: string;
  limit?: number;
  offset?: number;
}
export interface AuditQuery {
  from?: string;
  to?: string;
  event_type?: AuditEventType;
  user_id?: string;
  limit?: number;
  offset?: number;
}
export interface SchedulerStatus {
  workers_total?: number;
  workers_active?: number;
  workers_draining?: number;
  batch_queue_depth?: number;
  service_queue_depth?: number;
  tasks_running?: number;
  tasks_completed_24h?: number;
  reservations_active?: number;
  timestamp?: string;
}
export interface ChainRoot {
  root_hash: string;
  timestamp?: string;
  total_events: number;
}
export interface Plugin {
  name?: string;
  description?: string;
  enabled?: boolean;
  mode?: string;
  status?: PluginStatus;
  config?: PluginConfig;
  requires_restart?: boolean;
  version?: string;
}
export interface CreateReservationRequest {
  gpu_count: number;
  gpu_type?: string;
  node_count?: number;
  expires_minutes?: number;
}
export interface ServerSentEvent {
  event: string;
  data: string;
  id?: string;
}
export type SnapshotProgress = (sentBytes: number, totalBytes: number) => void;

type Query = Record<string, string | number | boolean | undefined>;

export class FetchmlClient {
  readonly url: string;
  private readonly apiKey: string | undefined;
  private readonly dispatcher: Dispatcher;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.apiKey = opts.apiKey;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.dispatcher = new Agent({ connections: opts.connections ?? 8, keepAliveTimeout: 10_000 });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  // ---- tasks -------------------------------------------------------------------------------
  health = () => this.json<HealthResponse>('GET', '/health');
  createTask = (req: CreateTaskRequest) => this.json<Task>('POST', '/v1/tasks', { body: req });
  /** One request for many tasks (POST /v1/tasks/batch, at most 1000 per call). */
  async createTasks(reqs: CreateTaskRequest[]): Promise<Task[]> {
    const res = await this.json<{ tasks: Task[] } | Task[]>('POST', '/v1/tasks/batch', { body: { tasks: reqs } });
    return Array.isArray(res) ? res : res.tasks;
  }
  listTasks = (q: ListTasksQuery = {}) => this.json<TaskList>('GET', '/v1/tasks', { query: { ...q } });
  getTask = (id: string) => this.json<Task>('GET', `/v1/tasks/${enc(id)}`);
  cancelTask = (id: string) => this.json<void>('DELETE', `/v1/tasks/${enc(id)}`);
  setPriority = (id: string, priority: number) =>
    this.json<Task>('PATCH', `/v1/scheduler/jobs/${enc(id)}/priority`, { body: { priority } });
  /** The task's log; `node` selects a rank of a multi-node task (default 0, the task's own log). */
  async taskLogs(id: string, opts: { node?: number } = {}): Promise<string> {
    const res = await this.send('GET', `/v1/tasks/${enc(id)}/logs`, { query: { node: opts.node } });
    return res.body.text();
  }
  /**
   * Streams the task's log (`?follow=true`) into `onText` until control ends the stream (the task
   * ended) or `signal` aborts. `skipBytes` drops bytes already shown, for reconnecting.
   * Returns the number of bytes of log seen in total.
   */
  async followLogs(id: string, onText: (text: string) => void, opts: { signal?: AbortSignal; skipBytes?: number; node?: number } = {}): Promise<number> {
    const res = await this.send('GET', `/v1/tasks/${enc(id)}/logs`, { query: { follow: true, node: opts.node }, signal: opts.signal, stream: true });
    const decoder = new TextDecoder();
    let seen = 0;
    const skip = opts.skipBytes ?? 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const start = Math.max(0, Math.min(chunk.length, skip - seen));
        seen += chunk.length;
        if (start < chunk.length) onText(decoder.decode(chunk.subarray(start), { stream: true }));
      }
    } catch (err) {
      if (!opts.signal?.aborted) throw err;
    }
    const rest = decoder.decode();
    if (rest) onText(rest);
    return Math.max(seen, skip);
  }

  // ---- queue, workers, scheduler -----------------------------------------------------------
  queue = () => this.json<QueueStats>('GET', '/v1/queue');
  workers = () => this.json<Worker[]>('GET', '/v1/scheduler/workers');
  worker = (id: string) => this.json<Worker>('GET', `/v1/scheduler/workers/${enc(id)}`);
  drainWorker = (id: string, opts: { deadlineSeconds?: number; reason?: string } = {}) =>
    this.json<void>('DELETE', `/v1/scheduler/workers/${enc(id)}`, {
      query: { deadline_seconds: opts.deadlineSeconds, reason: opts.reason },
    });
  undrainWorker = (id: string) => this.json<Worker>('POST', `/v1/scheduler/workers/${enc(id)}/undrain`);
  schedulerStatus = () => this.json<SchedulerStatus>('GET', '/v1/scheduler/status');
  /** Server-sent events of the scheduler's state until `signal` aborts or control ends the stream. */
  schedulerStream(onEvent: (e: ServerSentEvent) => void, signal?: AbortSignal): Promise<void> {
    return this.sse('/v1/scheduler/status/stream', onEvent, signal);
  }
  /** Server-sent events of one task's progress. */
  taskStream(id: string, onEvent: (e: ServerSentEvent) => void, signal?: AbortSignal): Promise<void> {
    return this.sse(`/v1/scheduler/jobs/${enc(id)}/stream`, onEvent, signal);
  }
  reservations = () => this.json<Reservation[]>('GET', '/v1/scheduler/reservations');
  createReservation = (req: CreateReservationRequest) => this.json<Reservation>('POST', '/v1/scheduler/reservations', { body: req });

  // ---- audit, keys, plugins ----------------------------------------------------------------
  auditEvents = (q: AuditQuery = {}) =>
    this.json<{ events: AuditEvent[]; total: number; limit: number; offset: number }>('GET', '/v1/audit/events', { query: { ...q } });
  auditVerify = () => this.json<VerificationResult>('POST', '/v1/audit/verify');
  auditRoot = () => this.json<ChainRoot>('GET', '/v1/audit/chain-root');
  createKey = (req: { user_id: string; role: Role }) => this.json<ApiKeyView>('POST', '/v1/keys', { body: req });
  listKeys = () => this.json<ApiKeyView[]>('GET', '/v1/keys');
  revokeKey = (id: string) => this.json<void>('DELETE', `/v1/keys/${enc(id)}`);
  plugins = () => this.json<Plugin[]>('GET', '/v1/plugins');
  plugin = (name: string) => this.json<Plugin>('GET', `/v1/plugins/${enc(name)}`);
  pluginConfig = (name: string) => this.json<PluginConfig>('GET', `/v1/plugins/${enc(name)}/config`);
  setPluginConfig = (name: string, config: PluginConfig) => this.json<Plugin>('PUT', `/v1/plugins/${enc(name)}/config`, { body: config });
  disablePlugin = (name: string) => this.json<void>('DELETE', `/v1/plugins/${enc(name)}/config`);
  pluginHealth = (name: string) => this.json<HealthResponse>('GET', `/v1/plugins/${enc(name)}/health`);

  // ---- experiments, jupyter ----------------------------------------------------------------
  experiments = () => this.json<Experiment[]>('GET', '/v1/experiments');
  createExperiment = (req: { name: string; description?: string }) => this.json<Experiment>('POST', '/v1/experiments', { body: req });
  jupyterServices = () => this.json<JupyterService[]>('GET', '/v1/jupyter/services');
  startJupyter = (req: { name: string; workspace?: string; image?: string }) =>
    this.json<JupyterService>('POST', '/v1/jupyter/services', { body: req });
  stopJupyter = (id: string) => this.json<void>('DELETE', `/v1/jupyter/services/${enc(id)}`);

  // ---- snapshots ---------------------------------------------------------------------------
  async hasSnapshot(sha256: string): Promise<boolean> {
    const res = await this.send('HEAD', `/v1/snapshots/${enc(sha256)}`, { okStatuses: [404] });
    await res.body.dump();
    return res.statusCode === 200;
  }
  /** Uploads the tar.gz bytes; true when control stored them now (201), false if it had them (200). */
  async putSnapshot(sha256: string, bytes: Buffer, onProgress?: SnapshotProgress): Promise<boolean> {
    const total = bytes.length;
    const CHUNK = 256 * 1024;
    async function* chunks() {
      for (let off = 0; off < total; off += CHUNK) {
        const piece = bytes.subarray(off, Math.min(total, off + CHUNK));
        yield piece;
        onProgress?.(off + piece.length, total);
      }
    }
    const res = await this.send('PUT', `/v1/snapshots/${enc(sha256)}`, {
      rawBody: Readable.from(chunks()),
      headers: { 'content-type': 'application/gzip', 'content-length': String(total) },
    });
    await res.body.dump();
    if (total === 0) onProgress?.(0, 0);
    return res.statusCode === 201;
  }

  // ---- transport ---------------------------------------------------------------------------
  private async json<T>(method: Dispatcher.HttpMethod, path: string, opts: { body?: unknown; query?: Query } = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await res.body.text();
    if (res.statusCode === 204 || text.length === 0) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(res.statusCode, 'BAD_RESPONSE', `control answered ${method} ${path} with non-JSON: ${text.slice(0, 200)}`);
    }
  }

  private async send(
    method: Dispatcher.HttpMethod,
    path: string,
    opts: {
      body?: unknown;
      rawBody?: Readable;
      query?: Query;
      headers?: Record<string, string>;
      signal?: AbortSignal;
      stream?: boolean;
      okStatuses?: number[];
    },
  ): Promise<Dispatcher.ResponseData> {
    const target = this.url + path + queryString(opts.query);
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (this.apiKey) headers['x-api-key'] = this.apiKey;
    let body: string | Readable | undefined = opts.rawBody;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(target, {
        method,
        headers,
        body,
        dispatcher: this.dispatcher,
        signal: opts.signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: opts.stream ? 0 : this.timeoutMs,
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (isConnectionError(err)) throw new ControlUnreachableError(this.url, err);
      throw err;
    }
    if (res.statusCode >= 400 && !opts.okStatuses?.includes(res.statusCode)) {
      const text = method === 'HEAD' ? '' : await res.body.text().catch(() => '');
      if (method === 'HEAD') await res.body.dump();
      throw toApiError(res.statusCode, text, res.headers);
    }
    return res;
  }

  private async sse(path: string, onEvent: (e: ServerSentEvent) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.send('GET', path, { signal, stream: true, headers: { accept: 'text/event-stream' } });
    const parser = new SseParser(onEvent);
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) parser.push(decoder.decode(chunk, { stream: true }));
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  }
}

/** Incremental text/event-stream parser (events end at a blank line; comments start with ':'). */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  constructor(private readonly onEvent: (e: ServerSentEvent) => void) {}
  push(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + (this.buffer.startsWith('\r\n', nl) ? 2 : 1));
      this.line(line);
    }
  }
  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0 || this.event) {
        this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), ...(this.id ? { id: this.id } : {}) });
      }
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') this.id = value;
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

function toApiError(status: number, text: string, headers: Record<string, string | string[] | undefined>): ApiError {
  let message = text.trim() || `HTTP ${status}`;
  let code = 'HTTP_' + status;
  let traceId: string | undefined;
  try {
    const body = JSON.parse(text) as { error?: unknown; code?: unknown; trace_id?: unknown; message?: unknown };
    if (typeof body.error === 'string') message = body.error;
    else if (typeof body.message === 'string') message = body.message;
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.trace_id === 'string') traceId = body.trace_id;
  } catch {
    // not JSON: keep the text
  }
  const headerTrace = headers['x-trace-id'];
  traceId ??= typeof headerTrace === 'string' ? headerTrace : undefined;
  return new ApiError(status, code, message.slice(0, 2000), traceId);
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

function isConnectionError(err: unknown): boolean {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if ((e as { name?: unknown }).name === 'AggregateError') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
