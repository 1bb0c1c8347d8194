/** Writes `n` tasks straight into a store in the data dir (batches of 1,000), for benches that start with a full queue. */
import { randomUUID } from 'node:crypto';
import type { Task } from '../shared/api-types.js';
import { silentLogger } from '../shared/logger.js';
import { systemClock } from '../shared/time.js';
import { openJournalStore } from '../control/store/journal-store.js';
import type { Mutation } from '../control/store/types.js';

export async function preloadTasks(dataDir: string, n: number, extra: (j: number) => Partial<Task> = () => ({})): Promise<void> {
  const store = await openJournalStore({ dataDir, logger: silentLogger, clock: systemClock });
  const now = new Date().toISOString();
  for (let i = 0; i < n; i += 1000) {
    const batch: Mutation[] = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const t: Task = {
        id: randomUUID(), job_name: `pre-${j}`, status: 'queued', priority: (j % 10) + 1,
        created_at: now, queued_at: now, updated_at: now, user_id: `user-${j % 50}`, retry_count: 0, max_retries: 3,
        node_count: 1, slot_kind: 'batch', epoch: 0, ...extra(j),
      };
      batch.push({ op: 'put', coll: 'tasks', value: t });
    }
    await store.commit(batch);
  }
  await store.snapshot();
  await store.close();
}
