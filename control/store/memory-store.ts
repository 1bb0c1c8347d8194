/** The Store with nothing on disk: for unit tests and anything that needs no durability. */
import type { AuditEvent, AuditEventDraft, VerificationResult } from '../../shared/api-types.js';
import { iso, systemClock, type Clock } from '../../shared/time.js';
import { MemoryAuditHistory } from '../audit/audit-history.js';
import { verifyChain } from '../audit/chain.js';
import { StoreCore } from './state-core.js';
import type { AuditCheckpoint, Mutation, Store } from './types.js';

export function createMemoryStore(opts: { clock?: Clock } = {}): Store {
  const clock = opts.clock ?? systemClock;
  const history = new MemoryAuditHistory(); // everything in memory: tests hold few events
  const core = new StoreCore(clock, history);
  let closed = false;
  return {
    get: (coll, id) => core.get(coll, id),
    values: (coll) => core.values(coll),
    count: (coll) => core.count(coll),
    async commit(mutations: readonly Mutation[], audit: readonly AuditEventDraft[] = []): Promise<AuditEvent[]> {
      if (closed) throw new Error('store is closed');
      core.validate(mutations, audit);
      JSON.stringify(mutations); // the journal store refuses what JSON cannot hold; so does this one
      const events = core.chain(audit); // may throw: nothing applied yet
      core.apply(mutations);
      return events;
    },
    auditEvents: (q) => core.auditEvents(q),
    auditRoot: () => core.auditRoot(),
    async verifyAudit(checkpoint?: AuditCheckpoint): Promise<VerificationResult> {
      // Round-trip through JSON so the check sees what a file would hold.
      const entries = history.events.map((e) => ({ event: JSON.parse(JSON.stringify(e)) as AuditEvent }));
      return verifyChain(entries, checkpoint, iso(clock.now()));
    },
    async snapshot() {},
    async close() {
      closed = true;
    },
  };
}
