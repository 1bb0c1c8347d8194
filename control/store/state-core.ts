/**
 * The state both stores share: one Map per collection (insertion order), mutations applied
 * atomically, and the audit chain's head and history (all in memory for the memory store; a window
 * plus an index over audit.jsonl for the journal store). The journal store adds durability around
 * it; the memory store is this and nothing else. Stored values are kept by reference: callers put new
 * objects instead of editing ones they got from `get`.
 */
import type { AuditEvent, AuditEventDraft } from '../../shared/api-types.js';
import { FetchmlError } from '../../shared/errors.js';
import { iso, type Clock } from '../../shared/time.js';
import { chainAuditEvent, GENESIS_HEAD, type ChainHead } from '../audit/chain.js';
import { MemoryAuditHistory, type AuditHistory } from '../audit/audit-history.js';
import { AUDIT_EVENT_TYPES } from '../../shared/api-types.js';
import { COLLECTION_NAMES, type AuditQuery, type CollectionName, type Collections, type Mutation } from './types.js';

const AUDIT_TYPES = new Set<string>(AUDIT_EVENT_TYPES);
const COLLECTIONS = new Set<string>(COLLECTION_NAMES);

export class StoreCore {
  private readonly maps = new Map<CollectionName, Map<string, unknown>>();
  private head: ChainHead;

  /** `audit`: the events read from the log (the chain continues after its last one) plus those chained since. */
  constructor(
    private readonly clock: Clock,
    readonly audit: AuditHistory = new MemoryAuditHistory(),
  ) {
    for (const c of COLLECTION_NAMES) this.maps.set(c, new Map());
    this.head = audit.loadedHead ?? GENESIS_HEAD;
  }

  get<C extends CollectionName>(coll: C, id: string): Collections[C] | undefined {
    return this.map(coll).get(id) as Collections[C] | undefined;
  }
  values<C extends CollectionName>(coll: C): IterableIterator<Collections[C]> {
    return this.map(coll).values() as IterableIterator<Collections[C]>;
  }
  count(coll: CollectionName): number {
    return this.map(coll).size;
  }
  /** All records of a collection, for snapshots. */
  entries(coll: CollectionName): unknown[] {
    return [...this.map(coll).values()];
  }

  /** Throws (before anything changes) when a mutation or draft is malformed. */
  validate(mutations: readonly Mutation[], drafts: readonly AuditEventDraft[]): void {
    if (!Array.isArray(mutations)) throw new FetchmlError('INTERNAL_ERROR', 'store: mutations must be an array');
    for (const m of mutations) {
      if (typeof m !== 'object' || m === null || !COLLECTIONS.has(m.coll)) {
        throw new FetchmlError('INTERNAL_ERROR', `store: unknown collection ${String((m as Mutation | null)?.coll)}`);
      }
      if (m.op === 'put') {
        if (typeof m.value !== 'object' || m.value === null || typeof m.value.id !== 'string' || m.value.id === '') {
          throw new FetchmlError('INTERNAL_ERROR', `store: put into ${m.coll} needs a value with a string id`);
        }
      } else if (m.op === 'delete') {
        if (typeof m.id !== 'string') throw new FetchmlError('INTERNAL_ERROR', `store: delete from ${m.coll} needs an id`);
      } else {
        throw new FetchmlError('INTERNAL_ERROR', `store: unknown op ${String((m as { op?: unknown }).op)}`);
      }
    }
    for (const d of drafts) {
      if (typeof d !== 'object' || d === null || !AUDIT_TYPES.has(d.event_type) || typeof d.success !== 'boolean') {
        throw new FetchmlError('INTERNAL_ERROR', `store: malformed audit event ${JSON.stringify(d)}`);
      }
    }
  }

  apply(mutations: readonly Mutation[]): void {
    for (const m of mutations) {
      const map = this.map(m.coll);
      if (m.op === 'put') map.set(m.value.id, m.value);
      else map.delete(m.id);
    }
  }

  /** Chains the drafts after the current head and records them. */
  chain(drafts: readonly AuditEventDraft[]): AuditEvent[] {
    const ts = iso(this.clock.now());
    const out: AuditEvent[] = [];
    let head = this.head;
    for (const d of drafts) {
      const e = chainAuditEvent(d, head, ts); // may throw (e.g. a BigInt in metadata): nothing recorded yet
      head = e;
      out.push(e);
    }
    for (const e of out) this.pushAudit(e);
    return out;
  }

  /** Records an event (chained here, or replayed from the journal); the chain continues from it. */
  pushAudit(e: AuditEvent): void {
    this.audit.append(e);
    this.head = { sequence_num: e.sequence_num, event_hash: e.event_hash };
  }

  get auditHead(): ChainHead {
    return this.head;
  }

  auditEvents(q: AuditQuery): { events: AuditEvent[]; total: number } {
    return this.audit.query(q);
  }

  auditRoot(): { root_hash: string; total_events: number; timestamp: string } {
    return { root_hash: this.head.event_hash, total_events: this.head.sequence_num, timestamp: iso(this.clock.now()) };
  }

  private map(coll: CollectionName): Map<string, unknown> {
    const m = this.maps.get(coll);
    if (!m) throw new FetchmlError('INTERNAL_ERROR', `store: unknown collection ${String(coll)}`);
    return m;
  }
}
