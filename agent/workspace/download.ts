/**
 * Streaming download with a size cap and sha256 check (undici). The file appears at destFile only
 * when complete and verified (written to a .part file, then renamed).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { TaskFailure } from '../../shared/errors.js';
import { isIP } from 'node:net';
import { addressProblem, policyLookup } from './source-policy.js';

export interface DownloadOptions {
  sha256?: string;
  headers?: Record<string, string>;
  /** Refuse bodies larger than this (default 50 GiB). */
  maxBytes?: number;
  /** Names the thing in errors ("dataset mnist", "snapshot abc…"). */
  label?: string;
  /** When set, the connection itself enforces the source policy (see source-policy.ts). */
  allowPrivate?: boolean;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
}

const policyAgents = new Map<boolean, Agent>();
function policyAgent(allowPrivate: boolean): Agent {
  let a = policyAgents.get(allowPrivate);
  if (!a) {
    a = new Agent({ connect: { lookup: policyLookup(allowPrivate) } as never });
    policyAgents.set(allowPrivate, a);
  }
  return a;
}

/** Downloads `url` to `destFile`; resolves with the sha256 (hex) and size. */
export async function downloadVerified(url: string, destFile: string, opts: DownloadOptions = {}): Promise<{ sha256: string; bytes: number }> {
  const label = opts.label ?? url;
  const maxBytes = opts.maxBytes ?? 50 * 1024 ** 3;
  const part = `${destFile}.part-${process.pid}-${Date.now()}`;
  await mkdir(dirname(destFile), { recursive: true });
  const dispatcher = opts.dispatcher ?? (opts.allowPrivate === undefined ? undefined : policyAgent(opts.allowPrivate));
  if (opts.allowPrivate !== undefined) {
    // Sockets skip the lookup for IP literals, so check those here.
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    const problem = isIP(host) ? addressProblem(host, opts.allowPrivate) : undefined;
    if (problem) throw new TaskFailure('infrastructure', `download of ${label} from ${url} refused: ${problem}`);
  }
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, { method: 'GET', headers: opts.headers ?? {}, signal: opts.signal, ...(dispatcher ? { dispatcher } : {}) });
  } catch (err) {
    throw new TaskFailure('infrastructure', `download of ${label} from ${url} failed: ${(err as Error).message}`);
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    throw new TaskFailure('infrastructure', `download of ${label} from ${url} failed: HTTP ${res.statusCode}`);
  }
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    res.body.on('error', () => undefined);
    res.body.destroy();
    throw new TaskFailure('infrastructure', `${label} is ${declared} bytes, over the ${maxBytes} byte limit`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      if (bytes > maxBytes) return cb(new TaskFailure('infrastructure', `${label} is over the ${maxBytes} byte limit`));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(res.body, meter, createWriteStream(part));
  } catch (err) {
    await rm(part, { force: true });
    if (err instanceof TaskFailure) throw err;
    throw new TaskFailure('infrastructure', `download of ${label} from ${url} failed: ${(err as Error).message}`);
  }
  const got = hash.digest('hex');
  if (opts.sha256 && got !== opts.sha256.toLowerCase()) {
    await rm(part, { force: true });
    throw new TaskFailure('infrastructure', `sha256 mismatch for ${label}: expected ${opts.sha256.toLowerCase()}, got ${got}`);
  }
  await rename(part, destFile);
  return { sha256: got, bytes };
}
