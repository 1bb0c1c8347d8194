/**
 * Appends framed records to the current journal segment and their audit lines to audit.jsonl,
 * with group commit: whatever queued while one write+fsync ran goes out in the next one, so many
 * concurrent commits share one fsync. A commit resolves once its journal record (which holds its
 * audit events too) is fsync'd and its audit lines are written to audit.jsonl. The audit file's
 * own fsync runs beside the next journal round instead of before the acknowledgement: it is a
 * view the journal can rebuild (start-up re-appends events the journal holds and audit.jsonl
 * lacks), and journal segments are only deleted once the audit lines are durable too (waitDurable).
 * That takes one fsync off every acknowledged write. After any I/O failure the writer stops
 * taking commits (fail-stop).
 */
import { writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from './snapshot-file.js';

export const segmentName = (n: number) => `journal-${String(n).padStart(6, '0')}.log`;
export const SEGMENT_PATTERN = /^journal-(\d{6,})\.log$/;

interface Pending {
  frame: Buffer;
  audit: string;
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class JournalWriter {
  private queue: Pending[] = [];
  private running = false;
  private rotateRequests: Array<{ resolve: (n: number) => void; reject: (e: Error) => void }> = [];
  private durableWaiters: Array<{ seq: number; resolve: () => void; reject: (e: Error) => void }> = [];
  private idleWaiters: Array<() => void> = [];
  failure: Error | undefined;
  /** Up to which seq audit.jsonl is fsync'd as well (≤ durableSeq). */
  auditDurableSeq: number;
  private auditTarget = 0;
  private auditDirty = false;
  private auditRunning = false;
  /** How many write+fsync rounds ran (group commit makes this far smaller than the commits). */
  flushes = 0;
  /** Records written since the writer opened, for the snapshot trigger. */
  onFlushed: (() => void) | undefined;

  private constructor(
    private readonly dir: string,
    private segment: number,
    private journal: FileHandle,
    private readonly audit: FileHandle,
    /** Up to which seq journal records are fsync'd (and their audit lines written): acknowledged. */
    public durableSeq: number,
  ) {
    this.auditDurableSeq = durableSeq;
  }

  static async open(dir: string, segment: number, auditFile: string, durableSeq: number): Promise<JournalWriter> {
    const journal = await open(join(dir, segmentName(segment)), 'a', 0o600);
    const audit = await open(auditFile, 'a', 0o600);
    await fsyncDir(dir);
    return new JournalWriter(dir, segment, journal, audit, durableSeq);
  }

  get currentSegment(): number {
    return this.segment;
  }

  append(frame: Buffer, audit: string, seq: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ frame, audit, seq, resolve, reject });
      this.kick();
    });
  }

  /** Later records go to a new segment; resolves with its number once it exists. */
  rotate(): Promise<number> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.rotateRequests.push({ resolve, reject });
      this.kick();
    });
  }

  /** Resolves once records up to `seq` and their audit lines are both fsync'd. */
  waitDurable(seq: number): Promise<void> {
    if (this.auditDurableSeq >= seq) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.durableWaiters.push({ seq, resolve, reject }));
  }

  async close(): Promise<void> {
    while (this.running || this.auditRunning) await new Promise<void>((r) => this.idleWaiters.push(r));
    await this.journal.close();
    await this.audit.close();
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // Next tick: commits made in the same tick share the first write too.
    process.nextTick(() => void this.loop());
  }

  private async loop(): Promise<void> {
    let batch: Pending[] = [];
    try {
      while (this.queue.length > 0 || this.rotateRequests.length > 0) {
        if (this.rotateRequests.length > 0) {
          const reqs = this.rotateRequests.splice(0);
          await this.switchSegment();
          for (const r of reqs) r.resolve(this.segment);
          continue;
        }
        batch = this.queue.splice(0);
        // write() in-thread (it only copies into the page cache; a trip through the libuv pool
        // costs more than the copy), fsync through the pool (that one waits for the disk).
        writeAllSync(this.journal.fd, Buffer.concat(batch.map((p) => p.frame)));
        await this.journal.datasync();
        let audit = '';
        for (const p of batch) audit += p.audit;
        // Written before the acknowledgement (a kill -9 keeps it); fsync'd by syncAudit.
        if (audit !== '') writeAllSync(this.audit.fd, Buffer.from(audit, 'utf8'));
        this.flushes++;
        this.durableSeq = batch[batch.length - 1]!.seq;
        for (const p of batch) p.resolve();
        batch = [];
        this.syncAudit(this.durableSeq, audit !== '');
      }
    } catch (err) {
      this.fail(err as Error, batch);
    } finally {
      this.running = false;
      if (!this.auditRunning) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** fsyncs audit.jsonl up to `seq` (coalesced: one fsync covers every round written before it). */
  private syncAudit(seq: number, wrote: boolean): void {
    this.auditTarget = Math.max(this.auditTarget, seq);
    if (wrote) this.auditDirty = true;
    if (this.auditRunning) return;
    this.auditRunning = true;
    void (async () => {
      try {
        while (this.auditDurableSeq < this.auditTarget && !this.failure) {
          const target = this.auditTarget;
          const dirty = this.auditDirty;
          this.auditDirty = false;
          if (dirty) await this.audit.datasync();
          this.auditDurableSeq = target;
          this.durableWaiters = this.durableWaiters.filter((w) => (w.seq <= this.auditDurableSeq ? (w.resolve(), false) : true));
          this.onFlushed?.();
        }
      } catch (err) {
        this.fail(err as Error, []);
      } finally {
        this.auditRunning = false;
        if (!this.running) for (const w of this.idleWaiters.splice(0)) w();
      }
    })();
  }

  private async switchSegment(): Promise<void> {
    const next = this.segment + 1;
    const fh = await open(join(this.dir, segmentName(next)), 'a', 0o600);
    await fsyncDir(this.dir);
    const old = this.journal;
    this.journal = fh;
    this.segment = next;
    await old.close();
  }

  private fail(cause: Error, batch: Pending[]): void {
    const err = new Error(`store journal write failed; the store no longer accepts changes: ${cause.message}`, { cause });
    this.failure = err;
    for (const p of [...batch, ...this.queue.splice(0)]) p.reject(err);
    for (const r of this.rotateRequests.splice(0)) r.reject(err);
    for (const w of this.durableWaiters.splice(0)) w.reject(err);
  }
}

function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}
