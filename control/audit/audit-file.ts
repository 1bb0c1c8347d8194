/**
 * The audit log file (contract): `<data-dir>/audit.jsonl`, one AuditEvent a line in sequence order.
 * Loading it never refuses to start: tampering is reported as warnings and the chain continues
 * from the last readable line; only a torn final line (a crash mid-append) is cut off.
 */
import { readLines } from '../store/line-reader.js';
import { open, readFile, truncate } from 'node:fs/promises';
import type { AuditEvent, VerificationResult } from '../../shared/api-types.js';
import { ChainVerifier, GENESIS_HASH, parseAuditLine, parseAuditLines, type AuditCheckpointInput } from './chain.js';

export const AUDIT_FILE_NAME = 'audit.jsonl';

export interface LoadedAuditLog {
  events: AuditEvent[];
  /** Human-readable problems found (tampering, torn tail); empty when the log is sound. */
  warnings: string[];
}

async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Reads the whole log into memory, checking order and links (not every hash: `verify` does that).
 * The store starts with scanAuditFile (audit-file-scan.ts) instead, which gives the same warnings
 * and torn-tail handling without holding every event; this one stays as its reference in tests.
 */
export async function loadAuditFile(file: string): Promise<LoadedAuditLog> {
  const warnings: string[] = [];
  const buf = await readIfExists(file);
  if (!buf || buf.length === 0) return { events: [], warnings };
  let text = buf.toString('utf8');
  if (!text.endsWith('\n')) {
    const cut = text.lastIndexOf('\n') + 1;
    const last = text.slice(cut);
    if ('event' in parseAuditLine(last)) {
      await appendRaw(file, '\n');
      text += '\n';
    } else {
      // A crash while appending: the journal still holds the event and re-appends it.
      await truncate(file, Buffer.byteLength(text.slice(0, cut)));
      warnings.push(`audit log ${file}: dropped a torn final line (${Buffer.byteLength(last)} bytes)`);
      text = text.slice(0, cut);
    }
  }
  const events: AuditEvent[] = [];
  let expected = 1;
  let prev = GENESIS_HASH;
  let reported = false;
  for (const entry of parseAuditLines(text)) {
    if (!('event' in entry)) {
      if (!reported) warnings.push(`audit log ${file}: unreadable line where sequence ${expected} should be`);
      reported = true;
      expected++;
      continue;
    }
    const e = entry.event;
    if (!reported && (e.sequence_num !== expected || e.prev_hash !== prev)) {
      warnings.push(`audit log ${file}: chain breaks at sequence ${expected}; run verify for details`);
      reported = true;
    }
    events.push(e);
    prev = e.event_hash;
    expected = e.sequence_num + 1;
  }
  return { events, warnings };
}

/**
 * Re-reads the file from disk and verifies it from genesis (that is what detects tampering), line
 * by line in chunks: a long log is never held whole, as text or as events.
 */
export async function verifyAuditFile(
  file: string,
  checkpoint: AuditCheckpointInput | undefined,
  verifiedAt: string,
  chunkBytes = 8 * 1024 * 1024,
): Promise<VerificationResult> {
  const verifier = new ChainVerifier(checkpoint);
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return verifier.result(verifiedAt);
  }
  try {
    const { tail } = await readLines(fh, (buf, start, end) => verifier.add(parseAuditLine(buf.toString('utf8', start, end))), chunkBytes);
    // A last line without its newline is still a line (as split('\n') saw it).
    if (tail.length > 0) verifier.add(parseAuditLine(tail.toString('utf8')));
  } finally {
    await fh.close();
  }
  return verifier.result(verifiedAt);
}

export function auditLines(events: readonly AuditEvent[]): string {
  let out = '';
  for (const e of events) out += JSON.stringify(e) + '\n';
  return out;
}

/** Appends text and fsyncs it. */
export async function appendRaw(file: string, text: string): Promise<void> {
  const fh = await open(file, 'a', 0o600);
  try {
    await fh.write(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** Appends events durably (used at start-up to re-append what only the journal holds). */
export async function appendAuditEvents(file: string, events: readonly AuditEvent[]): Promise<void> {
  if (events.length > 0) await appendRaw(file, auditLines(events));
}
