/**
 * The embedded durable Store: state in memory (StoreCore), every commit appended to an fsync'd
 * journal (group commit) together with its audit events, periodic lowdb snapshots that bound
 * replay, after which older journal segments are deleted. Files under the data dir:
 * `snapshot.json`, `journal-NNNNNN.log`, `audit.jsonl` (contract).
 */
import { mkdir, readdir, readFile, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEvent, AuditEventDraft, VerificationResult } from '../../shared/api-types.js';
import { silentLogger, type Logger } from '../../shared/logger.js';
import { iso, systemClock, type Clock } from '../../shared/time.js';
import { AUDIT_FILE_NAME, appendAuditEvents, auditLines, verifyAuditFile } from '../audit/audit-file.js';
import { DEFAULT_AUDIT_MEMORY_EVENTS, openFileAuditHistory } from '../audit/file-audit-history.js';
import { encodeRecordJson, JournalCorruptError, scanJournal } from './journal-format.js';
import { lockDataDir } from './dir-lock.js';
import { JournalWriter, SEGMENT_PATTERN, segmentName } from './journal-writer.js';
import { emptySnapshot, openSnapshotDb, SnapshotUnreadableError, type SnapshotData } from './snapshot-file.js';
import { StoreCore } from './state-core.js';
import { COLLECTION_NAMES, type AuditCheckpoint, type CollectionName, type Mutation, type Store } from './types.js';

export interface JournalStoreOptions {
  dataDir: string;
  logger?: Logger;
  clock?: Clock;
  /** Write a snapshot (and drop old journal segments) after this many commits; default 20,000. */
  snapshotEveryRecords?: number;
  /** Audit events kept parsed in memory (the newest); older ones are read from audit.jsonl. Default 100,000. */
  auditMemoryEvents?: number;
}

export const SNAPSHOT_FILE_NAME = 'snapshot.json';

export async function openJournalStore(opts: JournalStoreOptions): Promise<Store> {
  const { dataDir } = opts;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const unlock = await lockDataDir(dataDir);
  try {
    return await openLocked(opts, unlock);
  } catch (err) {
    await unlock();
    throw err;
  }
}

async function openLocked(opts: JournalStoreOptions, unlock: () => Promise<void>): Promise<Store> {
  const { dataDir } = opts;
  const logger = opts.logger ?? silentLogger;
  const clock = opts.clock ?? systemClock;
  const snapshotEvery = Math.max(1, opts.snapshotEveryRecords ?? 20_000);
  const auditFile = join(dataDir, AUDIT_FILE_NAME);

  // Every event indexed, the newest parsed (docs/api.md, "Audit log in memory").
  const audit = await openFileAuditHistory(auditFile, opts.auditMemoryEvents ?? DEFAULT_AUDIT_MEMORY_EVENTS);
  for (const w of audit.warnings) logger.warn({ file: auditFile }, `audit log problem at start-up: ${w}`);
  const history = audit.history;
  const core = new StoreCore(clock, history);
  const db = openSnapshotDb(join(dataDir, SNAPSHOT_FILE_NAME));
  await db.read();
  let snapshotSeq = db.data.journal_seq;
  for (const c of COLLECTION_NAMES) {
    const puts = (db.data.collections[c] ?? []).map((value) => ({ op: 'put', coll: c, value }) as Mutation);
    try {
      core.validate(puts, []);
    } catch (err) {
      throw new SnapshotUnreadableError(join(dataDir, SNAPSHOT_FILE_NAME), (err as Error).message);
    }
    core.apply(puts);
  }
  // The snapshot's arrays would otherwise hold every task it had until the next one: tasks deleted
  // since (the archive sweep) could never be collected. The store's maps hold what is live.
  db.data = emptySnapshot();

  const { lastSeq, lastSegment, missingAudit } = await replayJournal(dataDir, core, snapshotSeq, logger);
  if (missingAudit.length > 0) {
    logger.warn({ count: missingAudit.length }, 're-appending audit events the journal holds but audit.jsonl lacks');
    await appendAuditEvents(auditFile, missingAudit);
  }
  history.markDurable(history.count);

  const writer = await JournalWriter.open(dataDir, lastSegment, auditFile, lastSeq);
  let assignedSeq = lastSeq;
  let snapshotting: Promise<void> | undefined;
  let closed = false;
  // (journal seq, audit events chained up to it) of commits whose audit lines are not yet fsync'd:
  // the history keeps those events in memory until the writer says they are durable.
  const auditPending: Array<[number, number]> = [];
  let auditPendingHead = 0;

  const snapshot = (): Promise<void> => {
    if (snapshotting) return snapshotting;
    snapshotting = (async () => {
      try {
        const seq = assignedSeq;
        const data = captureState(core, seq, iso(clock.now()));
        const newSegment = await writer.rotate();
        // Records up to `seq` (and so their audit lines) must be durable before the snapshot is.
        await writer.waitDurable(seq);
        db.data = data;
        await db.write();
        db.data = emptySnapshot(); // see above: keep no second reference to the tasks
        snapshotSeq = seq;
        await removeSegmentsBefore(dataDir, newSegment);
      } finally {
        snapshotting = undefined;
      }
    })();
    return snapshotting;
  };

  writer.onFlushed = () => {
    let durable = -1;
    while (auditPendingHead < auditPending.length && auditPending[auditPendingHead]![0] <= writer.auditDurableSeq) {
      durable = auditPending[auditPendingHead++]![1];
    }
    if (auditPendingHead > 1024 && auditPendingHead * 2 > auditPending.length) {
      auditPending.splice(0, auditPendingHead);
      auditPendingHead = 0;
    }
    if (durable >= 0) history.markDurable(durable);
    if (!closed && !snapshotting && assignedSeq - snapshotSeq >= snapshotEvery) {
      snapshot().catch((err: unknown) => logger.error({ err }, 'periodic store snapshot failed'));
    }
  };

  return {
    get: (coll, id) => core.get(coll, id),
    values: (coll) => core.values(coll),
    count: (coll) => core.count(coll),
    async commit(mutations: readonly Mutation[], drafts: readonly AuditEventDraft[] = []): Promise<AuditEvent[]> {
      if (closed) throw new Error('store is closed');
      if (writer.failure) throw writer.failure;
      core.validate(mutations, drafts);
      // Serialise before changing anything, so a value JSON cannot hold fails without effect.
      const mutationsJson = JSON.stringify(mutations);
      const events = core.chain(drafts);
      core.apply(mutations);
      const seq = ++assignedSeq;
      if (events.length > 0) auditPending.push([seq, history.count]);
      const frame = encodeRecordJson(`{"seq":${seq},"m":${mutationsJson},"a":${JSON.stringify(events)}}`);
      await writer.append(frame, auditLines(events), seq);
      return events;
    },
    auditEvents: (q) => core.auditEvents(q),
    auditRoot: () => core.auditRoot(),
    async verifyAudit(checkpoint?: AuditCheckpoint): Promise<VerificationResult> {
      await writer.waitDurable(assignedSeq);
      return verifyAuditFile(auditFile, checkpoint, iso(clock.now()));
    },
    snapshot,
    async close() {
      if (closed) return;
      closed = true;
      if (snapshotting) await snapshotting.catch(() => undefined);
      await writer.waitDurable(assignedSeq).catch(() => undefined);
      // A snapshot on the way out makes the next start a plain read.
      if (!writer.failure && assignedSeq > snapshotSeq) await snapshot();
      await writer.close();
      history.close();
      await unlock();
    },
  };
}

function captureState(core: StoreCore, seq: number, at: string): SnapshotData {
  const collections = {} as Record<CollectionName, unknown[]>;
  for (const c of COLLECTION_NAMES) collections[c] = core.entries(c);
  return { format: 'fetchml-store-snapshot', version: 1, journal_seq: seq, written_at: at, collections };
}

async function listSegments(dataDir: string): Promise<number[]> {
  const names = await readdir(dataDir);
  const nums: number[] = [];
  for (const n of names) {
    const m = SEGMENT_PATTERN.exec(n);
    if (m) nums.push(Number(m[1]));
  }
  return nums.sort((a, b) => a - b);
}

async function removeSegmentsBefore(dataDir: string, segment: number): Promise<void> {
  for (const n of await listSegments(dataDir)) {
    if (n < segment) await unlink(join(dataDir, segmentName(n)));
  }
}

/** Applies every journal record after the snapshot, in order; cuts off a torn final record. */
async function replayJournal(
  dataDir: string,
  core: StoreCore,
  snapshotSeq: number,
  logger: Logger,
): Promise<{ lastSeq: number; lastSegment: number; missingAudit: AuditEvent[] }> {
  const segments = await listSegments(dataDir);
  let lastSeq = snapshotSeq;
  const missingAudit: AuditEvent[] = [];
  for (const [i, n] of segments.entries()) {
    const file = join(dataDir, segmentName(n));
    const buf = await readFile(file);
    const scan = scanJournal(buf, file);
    if (scan.torn) {
      if (i !== segments.length - 1) throw new JournalCorruptError(file, scan.torn.offset, `${scan.torn.why} in a closed segment`);
      logger.warn(
        { file, offset: scan.torn.offset, dropped_bytes: buf.length - scan.validEnd },
        `store journal: dropping a torn final record (${scan.torn.why}); it was never acknowledged`,
      );
      await truncate(file, scan.validEnd);
    }
    for (const [k, rec] of scan.records.entries()) {
      if (rec.seq <= lastSeq) continue; // already in the snapshot
      const offset = scan.offsets[k] ?? 0;
      if (rec.seq !== lastSeq + 1) {
        throw new JournalCorruptError(file, offset, `record ${rec.seq} follows ${lastSeq}: journal records are missing`);
      }
      try {
        core.validate(rec.m, []);
      } catch (err) {
        throw new JournalCorruptError(file, offset, (err as Error).message);
      }
      core.apply(rec.m);
      for (const e of rec.a) {
        if (e.sequence_num > core.auditHead.sequence_num) {
          core.pushAudit(e);
          missingAudit.push(e);
        }
      }
      lastSeq = rec.seq;
    }
  }
  return { lastSeq, lastSegment: segments[segments.length - 1] ?? 1, missingAudit };
}
