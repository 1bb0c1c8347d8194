/**
 * Snapshots of the whole state, written through lowdb (the project's embedded store) with an
 * adapter that makes them durable and atomic: temp file, fsync, rename, fsync the directory.
 * lowdb's own JSONFile adapter never fsyncs, and its preset goes in-memory under NODE_ENV=test.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Low, type Adapter } from 'lowdb';
import { COLLECTION_NAMES, type CollectionName } from './types.js';

export const SNAPSHOT_FORMAT = 'fetchml-store-snapshot';

export interface SnapshotData {
  format: typeof SNAPSHOT_FORMAT;
  version: 1;
  /** The last journal record whose changes the snapshot holds; replay starts after it. */
  journal_seq: number;
  written_at: string;
  collections: Record<CollectionName, unknown[]>;
}

export function emptySnapshot(): SnapshotData {
  const collections = {} as Record<CollectionName, unknown[]>;
  for (const c of COLLECTION_NAMES) collections[c] = [];
  return { format: SNAPSHOT_FORMAT, version: 1, journal_seq: 0, written_at: new Date(0).toISOString(), collections };
}

export class SnapshotUnreadableError extends Error {
  constructor(file: string, why: string) {
    super(`store snapshot ${file} is unreadable: ${why}. Refusing to start over existing data; restore it from a backup.`);
    this.name = 'SnapshotUnreadableError';
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A lowdb adapter: whole-file JSON, written atomically and durably. */
export class DurableJsonAdapter implements Adapter<SnapshotData> {
  constructor(private readonly file: string) {}

  async read(): Promise<SnapshotData | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new SnapshotUnreadableError(this.file, `not JSON (${(err as Error).message})`);
    }
    const problem = checkShape(data);
    if (problem) throw new SnapshotUnreadableError(this.file, problem);
    return data as SnapshotData;
  }

  async write(data: SnapshotData): Promise<void> {
    const tmp = `${dirname(this.file)}/.${basename(this.file)}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(data));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
    await fsyncDir(dirname(this.file));
  }
}

function checkShape(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return 'not an object';
  const d = data as Partial<SnapshotData>;
  if (d.format !== SNAPSHOT_FORMAT || d.version !== 1) return `unknown format ${String(d.format)} v${String(d.version)}`;
  if (!Number.isSafeInteger(d.journal_seq)) return 'journal_seq missing';
  if (typeof d.collections !== 'object' || d.collections === null) return 'collections missing';
  for (const c of COLLECTION_NAMES) {
    const list = (d.collections as Record<string, unknown>)[c];
    if (list !== undefined && !Array.isArray(list)) return `collection ${c} is not a list`;
  }
  return undefined;
}

export function openSnapshotDb(file: string): Low<SnapshotData> {
  return new Low<SnapshotData>(new DurableJsonAdapter(file), emptySnapshot());
}
