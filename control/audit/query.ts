/** Audit log queries over the in-memory events (sequence order, oldest first). */
import type { AuditEvent } from '../../shared/api-types.js';

import type { AuditQuery } from '../store/types.js';


/** `from`/`to` are inclusive instants; an unparsable bound matches nothing rather than everything. */
export function queryAuditEvents(events: readonly AuditEvent[], q: AuditQuery): { events: AuditEvent[]; total: number } {
  const from = q.from === undefined ? undefined : Date.parse(q.from);
  const to = q.to === undefined ? undefined : Date.parse(q.to);
  if (Number.isNaN(from) || Number.isNaN(to)) return { events: [], total: 0 };
  const limit = Math.max(0, Math.floor(q.limit));
  const offset = Math.max(0, Math.floor(q.offset));
  const page: AuditEvent[] = [];
  let total = 0;
  for (const e of events) {
    if (q.event_type !== undefined && e.event_type !== q.event_type) continue;
    if (q.user_id !== undefined && e.user_id !== q.user_id) continue;
    if (from !== undefined || to !== undefined) {
      const t = Date.parse(e.timestamp);
      if (from !== undefined && !(t >= from)) continue;
      if (to !== undefined && !(t <= to)) continue;
    }
    if (total >= offset && page.length < limit) page.push(e);
    total++;
  }
  return { events: page, total };
}
