/**
 * Datasets on the agent: downloaded (http(s), or from control for sources that are paths like
 * `/v1/…`), verified by sha256, cached by sha256 in a size-bounded LRU on disk, archives extracted
 * with the safe extractor. Datasets without a sha256 are fetched into the task's own directory and
 * not cached (nothing to key them by). Named `datasets` resolve under configured roots.
 */
import { randomUUID } from 'node:crypto';
import { access, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { DatasetSpec } from '../../shared/api-types.js';
import { TaskFailure } from '../../shared/errors.js';
import { systemClock, type Clock } from '../../shared/time.js';
import { downloadVerified } from './download.js';
import { safeExtractSnapshot, type ExtractLimits } from './extract.js';
import { checkSourceAllowed } from './source-policy.js';

export interface DatasetCacheOptions {
  /** Cache directory (e.g. <data-dir>/datasets). */
  root: string;
  /** Total size the cache may keep (least recently used entries not in use are evicted). */
  maxBytes: number;
  allowPrivate?: boolean;
  /** Base URL and auth headers for sources that are control paths (`/v1/…`). */
  controlUrl?: string;
  controlHeaders?: Record<string, string>;
  extractLimits?: ExtractLimits;
  /** Largest single download (default 50 GiB). */
  maxDownloadBytes?: number;
  clock?: Clock;
}

interface CacheEntry {
  bytes: number;
  last_used: number;
  /** Path relative to the entry's directory. */
  rel: string;
}

const SHA256 = /^[0-9a-f]{64}$/;
const isArchive = (p: string) => /\.(tar\.gz|tgz|tar)$/i.test(p);

export class DatasetCache {
  private index: Record<string, CacheEntry> | undefined;
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly pins = new Map<string, number>();
  /** Pins held by a task (owner key → sha256s): released all at once when it ends. */
  private readonly owned = new Map<string, Set<string>>();
  private readonly clock: Clock;

  constructor(private readonly opts: DatasetCacheOptions) {
    this.clock = opts.clock ?? systemClock;
  }

  /**
   * Makes `spec` available locally and returns its path (a directory for archives, else the file).
   * Cached entries stay pinned (never evicted) until release(spec) is called, or, with an
   * `owner`, until releaseOwner(owner). `workDir` receives uncached (no sha256) datasets.
   */
  async ensure(spec: DatasetSpec, opts: { workDir: string; signal?: AbortSignal; owner?: string }): Promise<string> {
    const label = `dataset ${spec.name}`;
    const { url, headers, trusted } = this.resolveSource(spec);
    const name = safeName(basename(new URL(url).pathname) || 'data', label);
    if (!spec.sha256) {
      if (!trusted) await checkSourceAllowed(url, { allowPrivate: this.opts.allowPrivate ?? false, what: label });
      const dir = join(opts.workDir, `dataset-${safeName(spec.name, label)}`);
      await mkdir(dir, { recursive: true });
      return this.fetchInto(url, headers, trusted, dir, name, undefined, label, opts.signal);
    }
    const sha = spec.sha256.toLowerCase();
    if (!SHA256.test(sha)) throw new TaskFailure('infrastructure', `${label}: sha256 must be 64 hex digits`);
    if (opts.owner !== undefined) this.pin(opts.owner, [spec]);
    else this.pins.set(sha, (this.pins.get(sha) ?? 0) + 1);
    try {
      const index = await this.load();
      const hit = index[sha];
      if (hit && (await exists(join(this.opts.root, sha, hit.rel)))) {
        hit.last_used = this.clock.now();
        await this.save();
        return join(this.opts.root, sha, hit.rel);
      }
      let p = this.inflight.get(sha);
      if (!p) {
        p = (async () => {
          if (!trusted) await checkSourceAllowed(url, { allowPrivate: this.opts.allowPrivate ?? false, what: label });
          const tmp = join(this.opts.root, `.tmp-${randomUUID()}`);
          await mkdir(tmp, { recursive: true });
          try {
            const local = await this.fetchInto(url, headers, trusted, tmp, name, sha, label, opts.signal);
            const rel = basename(local);
            await rm(join(this.opts.root, sha), { recursive: true, force: true });
            await rename(tmp, join(this.opts.root, sha));
            const index2 = await this.load();
            index2[sha] = { bytes: await du(join(this.opts.root, sha)), last_used: this.clock.now(), rel };
            await this.evict();
            await this.save();
            return join(this.opts.root, sha, rel);
          } finally {
            await rm(tmp, { recursive: true, force: true });
          }
        })().finally(() => this.inflight.delete(sha));
        this.inflight.set(sha, p);
      }
      return await p;
    } catch (err) {
      // An owner's pins go when it ends (its task fails on this error); anonymous ones now.
      if (opts.owner === undefined) this.release(spec);
      throw err;
    }
  }

  /**
   * Pins the cached datasets of `specs` for `owner` without fetching anything: a task resumed after
   * an agent restart still uses them (pins live in memory only). Idempotent; bad entries are skipped.
   */
  pin(owner: string, specs: readonly DatasetSpec[] | undefined): void {
    for (const spec of Array.isArray(specs) ? specs : []) {
      const sha = typeof spec?.sha256 === 'string' ? spec.sha256.toLowerCase() : '';
      if (!SHA256.test(sha)) continue;
      let set = this.owned.get(owner);
      if (!set) this.owned.set(owner, (set = new Set()));
      set.add(sha);
    }
  }

  /** Everything `owner` pinned may be evicted again (idempotent). */
  releaseOwner(owner: string): void {
    this.owned.delete(owner);
  }

  /** In use by a task: never evicted. */
  isPinned(sha: string): boolean {
    if (this.pins.has(sha)) return true;
    for (const set of this.owned.values()) if (set.has(sha)) return true;
    return false;
  }

  /** The task using `spec` is done with it; its cache entry may be evicted again. */
  release(spec: DatasetSpec): void {
    const sha = spec.sha256?.toLowerCase();
    if (!sha) return;
    const n = (this.pins.get(sha) ?? 0) - 1;
    if (n > 0) this.pins.set(sha, n);
    else this.pins.delete(sha);
  }

  async totalBytes(): Promise<number> {
    return Object.values(await this.load()).reduce((s, e) => s + e.bytes, 0);
  }

  private resolveSource(spec: DatasetSpec): { url: string; headers: Record<string, string>; trusted: boolean } {
    if (spec.source.startsWith('/')) {
      if (!this.opts.controlUrl) throw new TaskFailure('infrastructure', `dataset ${spec.name}: source ${spec.source} is a control path, but no control URL is configured`);
      return { url: new URL(spec.source, this.opts.controlUrl).toString(), headers: this.opts.controlHeaders ?? {}, trusted: true };
    }
    return { url: spec.source, headers: {}, trusted: false };
  }

  /** Downloads into dir; extracts archives into dir/data. Returns the local path. */
  private async fetchInto(url: string, headers: Record<string, string>, trusted: boolean, dir: string, name: string, sha: string | undefined, label: string, signal?: AbortSignal): Promise<string> {
    const file = join(dir, name);
    await downloadVerified(url, file, {
      headers,
      label,
      ...(sha ? { sha256: sha } : {}),
      ...(trusted ? {} : { allowPrivate: this.opts.allowPrivate ?? false }),
      ...(this.opts.maxDownloadBytes ? { maxBytes: this.opts.maxDownloadBytes } : {}),
      ...(signal ? { signal } : {}),
    });
    if (!isArchive(new URL(url).pathname)) return file;
    const out = join(dir, 'data');
    await safeExtractSnapshot(file, out, this.opts.extractLimits);
    await rm(file, { force: true });
    return out;
  }

  private async evict(): Promise<void> {
    const index = await this.load();
    let total = Object.values(index).reduce((s, e) => s + e.bytes, 0);
    const candidates = Object.entries(index)
      .filter(([sha]) => !this.isPinned(sha))
      .sort((a, b) => a[1].last_used - b[1].last_used);
    for (const [sha, e] of candidates) {
      if (total <= this.opts.maxBytes) break;
      await rm(join(this.opts.root, sha), { recursive: true, force: true });
      delete index[sha];
      total -= e.bytes;
    }
  }

  private async load(): Promise<Record<string, CacheEntry>> {
    if (this.index) return this.index;
    await mkdir(this.opts.root, { recursive: true });
    let index: Record<string, CacheEntry> = {};
    try {
      const parsed: unknown = JSON.parse(await readFile(join(this.opts.root, 'index.json'), 'utf8'));
      if (parsed && typeof parsed === 'object') index = parsed as Record<string, CacheEntry>;
    } catch {
      /* no index yet, or a torn one: start empty (entries on disk are re-fetched) */
    }
    for (const [sha, e] of Object.entries(index)) {
      if (!SHA256.test(sha) || typeof e?.bytes !== 'number' || typeof e.rel !== 'string' || !(await exists(join(this.opts.root, sha, e.rel)))) delete index[sha];
    }
    this.index = index;
    return index;
  }

  private async save(): Promise<void> {
    const tmp = join(this.opts.root, `index.json.${randomUUID()}`);
    await writeFile(tmp, JSON.stringify(this.index ?? {}));
    await rename(tmp, join(this.opts.root, 'index.json'));
  }
}

/** A named dataset under one of the configured roots; names are plain names, never paths. */
export async function resolveNamedDataset(name: string, roots: string[]): Promise<string> {
  if (!name || name.includes('/') || name.includes('\\') || name === '.' || name === '..' || name.includes('..') || name.includes('\0')) {
    throw new TaskFailure('infrastructure', `dataset name ${JSON.stringify(name)} is not a plain name`);
  }
  for (const root of roots) {
    const p = join(root, name);
    if (await exists(p)) return p;
  }
  throw new TaskFailure('infrastructure', `dataset ${name} not found under ${roots.length ? roots.join(', ') : '(no dataset roots configured)'}`);
}

function safeName(name: string, label: string): string {
  const n = name.replace(/[^a-zA-Z0-9_.-]/g, '_');
  if (!n || n === '.' || n === '..') throw new TaskFailure('infrastructure', `${label}: unusable name ${JSON.stringify(name)}`);
  return n;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

async function du(p: string): Promise<number> {
  const s = await stat(p);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const e of await readdir(p)) total += await du(join(p, e));
  return total;
}
