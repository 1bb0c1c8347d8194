/**
 * Disk fingerprint of the filesystem holding the agent's data dir (workspaces, snapshots, the
 * dataset cache): the mount through systeminformation's fsSize() at start-up, free space through
 * statfs() afterwards (one system call, cheap enough for every GPU refresh; fsSize runs `df`).
 */
import { statfs } from 'node:fs/promises';
import { realpath } from 'node:fs/promises';
import si from 'systeminformation';

export interface DiskInfo {
  /** Mount point of the filesystem holding `path`. */
  mount: string;
  total_gb: number;
  free_gb: number;
}

export interface FsEntry {
  mount: string;
  size: number;
  available: number;
}

const GIB = 1024 ** 3;
const gb = (bytes: number) => Math.floor((bytes / GIB) * 10) / 10;

/** The entry whose mount point is the longest prefix of `path` (pure). */
export function mountFor(path: string, entries: readonly FsEntry[]): FsEntry | undefined {
  let best: FsEntry | undefined;
  for (const e of entries) {
    if (!e || typeof e.mount !== 'string' || !e.mount.startsWith('/')) continue;
    const prefix = e.mount.endsWith('/') ? e.mount : `${e.mount}/`;
    if ((path === e.mount || path.startsWith(prefix)) && (!best || e.mount.length > best.mount.length)) best = e;
  }
  return best;
}

/** Free space of the filesystem holding `path`, in GB (GiB, one decimal), or undefined. */
export async function diskFreeGb(path: string): Promise<number | undefined> {
  try {
    const s = await statfs(path);
    return gb(Number(s.bavail) * Number(s.bsize));
  } catch {
    return undefined;
  }
}

export async function probeDisk(path: string, fsSize: () => Promise<FsEntry[]> = () => si.fsSize()): Promise<DiskInfo | undefined> {
  const real = await realpath(path).catch(() => path);
  let entry: FsEntry | undefined;
  try {
    entry = mountFor(real, await fsSize());
  } catch {
    entry = undefined;
  }
  if (entry && Number.isFinite(entry.size) && entry.size > 0) {
    // statfs is exact for the path; df's "available" may be rounded to KiB.
    const free = (await diskFreeGb(real)) ?? gb(entry.available);
    return { mount: entry.mount, total_gb: gb(entry.size), free_gb: free };
  }
  try {
    const s = await statfs(real);
    return { mount: real, total_gb: gb(Number(s.blocks) * Number(s.bsize)), free_gb: gb(Number(s.bavail) * Number(s.bsize)) };
  } catch {
    return undefined;
  }
}
