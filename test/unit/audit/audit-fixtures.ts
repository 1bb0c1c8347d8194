/** What the audit tests over real files share: a temp dir per case and chained events at one instant. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, AuditEventDraft } from '../../../shared/api-types.js';
import { chainAuditEvent, GENESIS_HEAD, type ChainHead } from '../../../control/audit/chain.js';

export const T0 = Date.parse('2025-03-01T00:00:00.000Z');

export async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fetchml-audit-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The drafts chained after `head`, all stamped at T0. */
export function chain(drafts: readonly AuditEventDraft[], head: ChainHead = GENESIS_HEAD): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const d of drafts) {
    const e = chainAuditEvent(d, head, new Date(T0).toISOString());
    out.push(e);
    head = e;
  }
  return out;
}
