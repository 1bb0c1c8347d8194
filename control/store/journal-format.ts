/**
 * Journal records on disk: [u32 LE payload length][u32 LE crc32 of payload][payload: JSON].
 * One record is one commit: its sequence number, its mutations and the audit events it chained.
 */
import * as zlib from 'node:zlib';
import type { AuditEvent } from '../../shared/api-types.js';
import type { Mutation } from './types.js';

export interface JournalRecord {
  seq: number;
  m: Mutation[];
  a: AuditEvent[];
}

export const HEADER_BYTES = 8;
/** A bound on one record, so a corrupt length field cannot make us allocate gigabytes. */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;

const zlibCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;
let table: Uint32Array | undefined;
/** crc32 (zlib's when this Node has it, else a table version with the same result). */
export function crc32(data: Uint8Array): number {
  if (zlibCrc32) return zlibCrc32(data) >>> 0;
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Frames a record whose payload JSON the caller already built (so it is serialised once). */
export function encodeRecordJson(payloadJson: string): Buffer {
  const payload = Buffer.from(payloadJson, 'utf8');
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt32LE(crc32(payload), 4);
  payload.copy(out, HEADER_BYTES);
  return out;
}

export class JournalCorruptError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    why: string,
  ) {
    super(
      `store journal ${file} is corrupt at byte offset ${offset}: ${why}. ` +
        'Refusing to start over existing data; restore the file from a backup or move it aside to start without it.',
    );
    this.name = 'JournalCorruptError';
  }
}

export interface ScanResult {
  records: JournalRecord[];
  /** Byte offset of each record, for error messages. */
  offsets: number[];
  /** Where the last whole record ends; bytes after it are a torn write. */
  validEnd: number;
  torn?: { offset: number; why: string };
}

/**
 * Reads every record of one segment. A damaged record at the very end (a crash mid-write: short
 * header, short payload, bad checksum on the final record, or zero fill) is reported as torn;
 * damage anywhere else throws JournalCorruptError.
 */
export function scanJournal(buf: Buffer, file: string): ScanResult {
  const records: JournalRecord[] = [];
  const offsets: number[] = [];
  let off = 0;
  const torn = (why: string): ScanResult => ({ records, offsets, validEnd: off, torn: { offset: off, why } });
  while (off < buf.length) {
    const remaining = buf.length - off;
    if (allZero(buf, off)) return torn('zero-filled tail');
    if (remaining < HEADER_BYTES) return torn(`short header (${remaining} bytes)`);
    const len = buf.readUInt32LE(off);
    const sum = buf.readUInt32LE(off + 4);
    if (len > MAX_RECORD_BYTES) throw new JournalCorruptError(file, off, `record length ${len} is impossible`);
    const end = off + HEADER_BYTES + len;
    if (end > buf.length) return torn(`record of ${len} bytes cut short at ${remaining - HEADER_BYTES}`);
    const payload = buf.subarray(off + HEADER_BYTES, end);
    if (crc32(payload) !== sum) {
      if (end === buf.length) return torn('checksum mismatch in the final record');
      throw new JournalCorruptError(file, off, 'checksum mismatch (and whole records follow it)');
    }
    let rec: unknown;
    try {
      rec = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      throw new JournalCorruptError(file, off, `record is not JSON (${(err as Error).message})`);
    }
    if (!isRecord(rec)) throw new JournalCorruptError(file, off, 'record has the wrong shape');
    records.push(rec);
    offsets.push(off);
    off = end;
  }
  return { records, offsets, validEnd: off };
}

function allZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

function isRecord(v: unknown): v is JournalRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return Number.isSafeInteger(r.seq) && Array.isArray(r.m) && Array.isArray(r.a);
}
