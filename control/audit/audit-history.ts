/**
 * Where the store keeps the audit events it has chained or read: all in memory (the memory store,
 * tests) or a bounded window plus an index over audit.jsonl (the journal store,
 * file-audit-history.ts). The store core only appends and queries; both answer queries alike.
 */
import type { AuditEvent } from '../../shared/api-types.js';
import type { AuditQuery } from '../store/types.js';
import type { ChainHead } from './chain.js';
import { queryAuditEvents } from './query.js';

export interface AuditHistory {
  /** Events held (indexed), in log order. */
  readonly count: number;
  /** The last event's place in the chain as loaded (GENESIS when there is none). */
  readonly loadedHead: ChainHead | undefined;
  /** Records an event that follows the last one (its line is appended to the log in this order). */
  append(e: AuditEvent): void;
  /** Oldest first, with the exact number of matches. */
  query(q: AuditQuery): { events: AuditEvent[]; total: number };
}

export class MemoryAuditHistory implements AuditHistory {
  readonly events: AuditEvent[] = [];
  readonly loadedHead = undefined;
  get count(): number {
    return this.events.length;
  }
  append(e: AuditEvent): void {
    this.events.push(e);
  }
  query(q: AuditQuery): { events: AuditEvent[]; total: number } {
    return queryAuditEvents(this.events, q);
  }
}
