/** Content-addressed snapshot blobs: <data-dir>/snapshots/<sha256>, written via temp file + fsync + rename. */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, type ReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FetchmlError } from '../../shared/errors.js';

const SHA = /^[0-9a-f]{64}$/;

export interface BlobStore {
  has(sha256: string): Promise<boolean>;
  /** Streams `body` in; 'created' or 'exists'. Throws 422 on a hash mismatch, 413 past `maxBytes`. */
  put(sha256: string, body: Readable, maxBytes: number): Promise<'created' | 'exists'>;
  open(sha256: string): Promise<{ stream: ReadStream; size: number } | undefined>;
  path(sha256: string): string;
}

export function createBlobStore(dataDir: string): BlobStore {
  const dir = join(dataDir, 'snapshots');
  mkdirSync(dir, { recursive: true });
  const path = (sha: string) => {
    if (!SHA.test(sha)) throw new FetchmlError('BAD_REQUEST', 'not a sha256');
    return join(dir, sha);
  };
  const has = (sha: string) => stat(path(sha)).then(() => true, () => false);
  return {
    has,
    path,
    async put(sha, body, maxBytes) {
      const final = path(sha);
      const tmp = join(dir, `.tmp-${randomUUID()}`);
      const fh = await open(tmp, 'w', 0o644);
      const hash = createHash('sha256');
      let size = 0;
      try {
        for await (const chunk of body) {
          const buf = chunk as Buffer;
          size += buf.length;
          if (size > maxBytes) {
            body.destroy();
            throw new FetchmlError('PAYLOAD_TOO_LARGE', `snapshot larger than ${maxBytes} bytes`);
          }
          hash.update(buf);
          await fh.write(buf);
        }
        const got = hash.digest('hex');
        if (got !== sha) throw new FetchmlError('VALIDATION_ERROR', `body hashes to ${got}, not ${sha}`);
        await fh.sync();
      } catch (err) {
        await fh.close().catch(() => undefined);
        await rm(tmp, { force: true });
        throw err;
      }
      await fh.close();
      if (await has(sha)) {
        await rm(tmp, { force: true });
        return 'exists';
      }
      await rename(tmp, final);
      const d = await open(dir, 'r');
      await d.sync().finally(() => d.close());
      return 'created';
    },
    async open(sha) {
      const p = path(sha);
      const st = await stat(p).catch(() => undefined);
      if (!st) return undefined;
      return { stream: createReadStream(p), size: st.size };
    },
  };
}
