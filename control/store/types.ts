/**
 * The store interface. Control keeps all state in memory and makes every change durable through
 * `commit` before it answers; lowdb (snapshots) + an fsync'd append-only journal is the embedded
 * implementation (journal-store.ts), `MemoryStore` the one for unit tests. A networked database
 * can implement the same interface later without touching the API or the scheduler.
 */
import type {
  AuditEvent,
  AuditEventDraft,
  Experiment,
  JupyterService,
  PluginConfig,
  Reservation,
  Role,
  Task,
  Worker,
} from '../../shared/api-types.js';

export interface StoredKey {
  id: string;
  user_id: string;
  role: Role;
  created_at: string;
  /** sha256 hex of the key; the key itself is never stored. */
  key_hash: string;
  /** Set when the key came from FETCHML_ADMIN_KEY. */
  bootstrap?: boolean;
}

/** What control remembers of a worker across restarts (drain state above all). */
export interface StoredWorker extends Worker {
  draining_reason?: string;
}

export interface StoredPlugin {
  id: string; // the plugin name
  config: PluginConfig;
  updated_at: string;
}

export interface MetaRecord {
  id: string;
  value: unknown;
}

export interface Collections {
  tasks: Task;
  experiments: Experiment;
  keys: StoredKey;
  reservations: Reservation;
  workers: StoredWorker;
  jupyter: JupyterService;
  plugins: StoredPlugin;
  meta: MetaRecord;
}
export type CollectionName = keyof Collections;
export const COLLECTION_NAMES: readonly CollectionName[] = [
  'tasks',
  'experiments',
  'keys',
  'reservations',
  'workers',
  'jupyter',
  'plugins',
  'meta',
];

export type Mutation =
  | { [C in CollectionName]: { op: 'put'; coll: C; value: Collections[C] } }[CollectionName]
  | { op: 'delete'; coll: CollectionName; id: string };

export interface AuditCheckpoint {
  root_hash: string;
  total_events: number;
}

export interface AuditQuery {
  from?: string;
  to?: string;
  event_type?: string;
  user_id?: string;
  limit: number;
  offset: number;
}

export interface Store {
  get<C extends CollectionName>(coll: C, id: string): Collections[C] | undefined;
  /** Insertion order (creation order for tasks). */
  values<C extends CollectionName>(coll: C): IterableIterator<Collections[C]>;
  count(coll: CollectionName): number;
  /**
   * Applies the mutations to memory at once (readers see them), appends them and the audit events
   * they record to the journal and the audit log, and resolves only after both are fsync'd.
   * Many concurrent commits share one fsync (group commit). Returns the audit events as chained.
   */
  commit(mutations: readonly Mutation[], audit?: readonly AuditEventDraft[]): Promise<AuditEvent[]>;

  /** Audit log reads. */
  auditEvents(q: AuditQuery): { events: AuditEvent[]; total: number };
  auditRoot(): { root_hash: string; total_events: number; timestamp: string };
  /** Recomputes the chain from genesis (re-reading the file), optionally against a saved checkpoint. */
  verifyAudit(checkpoint?: AuditCheckpoint): Promise<import('../../shared/api-types.js').VerificationResult>;

  /** Writes a snapshot now and truncates the journal (also done periodically). */
  snapshot(): Promise<void>;
  close(): Promise<void>;
}
