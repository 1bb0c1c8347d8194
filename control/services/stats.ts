/** Queue statistics and the scheduler's status summary, computed from the store. */
import type { QueueStats } from '../../shared/api-types.js';
import { iso } from '../../shared/time.js';
import type { Store } from '../store/types.js';

const DAY = 24 * 3600 * 1000;

/** completed/failed count tasks that ended during the current UTC day. */
export function queueStats(store: Store, now: number): QueueStats {
  const dayStart = new Date(now).toISOString().slice(0, 10);
  const s: QueueStats = { queued: 0, running: 0, completed: 0, failed: 0, workers: 0 };
  for (const t of store.values('tasks')) {
    if (t.status === 'queued') s.queued++;
    else if (t.status === 'preparing' || t.status === 'running' || t.status === 'collecting') s.running++;
    else if ((t.status === 'completed' || t.status === 'failed') && t.ended_at?.startsWith(dayStart)) s[t.status]++;
  }
  for (const w of store.values('workers')) if (w.status === 'active') s.workers++;
  return s;
}

export function schedulerStatus(store: Store, now: number) {
  const since = now - DAY;
  const out = {
    workers_total: 0,
    workers_active: 0,
    workers_draining: 0,
    batch_queue_depth: 0,
    service_queue_depth: 0,
    tasks_running: 0,
    tasks_completed_24h: 0,
    reservations_active: 0,
    timestamp: iso(now),
  };
  for (const w of store.values('workers')) {
    if (w.status === 'offline') continue;
    out.workers_total++;
    if (w.status === 'active') out.workers_active++;
    else out.workers_draining++;
  }
  for (const t of store.values('tasks')) {
    if (t.status === 'queued') t.slot_kind === 'service' ? out.service_queue_depth++ : out.batch_queue_depth++;
    else if (t.status === 'preparing' || t.status === 'running' || t.status === 'collecting') out.tasks_running++;
    else if (t.status === 'completed' && t.ended_at && Date.parse(t.ended_at) >= since) out.tasks_completed_24h++;
  }
  for (const r of store.values('reservations')) if (r.status === 'active' && Date.parse(r.expires_at) > now) out.reservations_active++;
  return out;
}
