/**
 * Task preparation, wired to the workspace module: the snapshot is downloaded from control with the
 * agent token, verified against its sha256 and safely extracted into the workspace; datasets come
 * through the sha256-keyed cache (or the configured roots, by name) and are exposed at their
 * mount_path: a symlink inside the workspace in process mode, a read-only bind mount in containers.
 */
import { mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join, normalize, posix } from 'node:path';
import type { DatasetSpec } from '../../shared/api-types.js';
import { TaskFailure } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentConfig } from '../config.js';
import type { TaskAssignment } from '../../shared/protocol.js';
import type { Mount } from '../runtime/types.js';
import { DatasetCache, downloadVerified, resolveNamedDataset, safeExtractSnapshot } from '../workspace/index.js';
import type { Preparer } from './task-runner.js';

const SHA256 = /^[0-9a-f]{64}$/;

/** A mount path inside the task's view: absolute for containers, relative to the workspace for processes. */
export function datasetTarget(spec: { name: string; mount_path?: string }): string {
  const raw = spec.mount_path && spec.mount_path.trim() ? spec.mount_path : `/datasets/${spec.name}`;
  const abs = posix.normalize(posix.join('/', raw));
  if (abs === '/' || abs.split('/').includes('..')) throw new TaskFailure('infrastructure', `dataset ${spec.name}: unusable mount_path ${JSON.stringify(spec.mount_path)}`);
  return abs;
}

/** Whose pins these are: one assignment (a reassigned task's new epoch pins on its own). */
const pinOwner = (a: TaskAssignment): string => `${a.task_id}#${a.epoch}`;

export function createPreparer(cfg: Readonly<AgentConfig>, cacheDir: string, logger: Logger, opts: { cacheMaxBytes?: number } = {}): Preparer {
  const headers = { authorization: `Bearer ${cfg.token}` };
  const base = cfg.control.replace(/\/+$/, '');
  const cache = new DatasetCache({
    root: join(cacheDir, 'datasets'),
    maxBytes: opts.cacheMaxBytes ?? Number(process.env.FETCHML_DATASET_CACHE_GB ?? 100) * 1024 ** 3,
    allowPrivate: cfg.allowPrivateSources,
    controlUrl: base,
    controlHeaders: headers,
  });
  const expose = async (workspace: string, target: string, hostPath: string, mounts: Mount[]) => {
    if (cfg.runtime === 'process') {
      const link = normalize(join(workspace, target));
      await mkdir(dirname(link), { recursive: true });
      await rm(link, { force: true, recursive: false }).catch(() => undefined);
      await symlink(hostPath, link);
    } else mounts.push({ host: hostPath, container: target, readonly: true });
  };
  const prepare: Preparer = async ({ assignment: a, workspace, signal }) => {
    const mounts: Mount[] = [];
    if (a.snapshot_id) {
      if (!SHA256.test(a.snapshot_id)) throw new TaskFailure('infrastructure', `snapshot_id ${JSON.stringify(a.snapshot_id)} is not a sha256`);
      const file = join(dirname(workspace), 'snapshot.tar.gz');
      const label = `snapshot ${a.snapshot_id.slice(0, 12)}`;
      await downloadVerified(`${base}/v1/snapshots/${a.snapshot_id}`, file, { sha256: a.snapshot_id, headers, label, signal });
      await safeExtractSnapshot(file, workspace);
      await rm(file, { force: true });
    }
    for (const spec of a.dataset_specs ?? []) {
      const s: DatasetSpec = spec;
      const path = await cache.ensure(s, { workDir: dirname(workspace), signal, owner: pinOwner(a) });
      await expose(workspace, datasetTarget(s), path, mounts);
      logger.debug({ task: a.task_id, dataset: s.name, path }, 'dataset ready');
    }
    for (const name of a.datasets ?? []) {
      const path = await resolveNamedDataset(name, cfg.datasetRoots);
      await expose(workspace, datasetTarget({ name }), path, mounts);
    }
    return { mounts, env: {} };
  };
  // Pins live in memory: a restarted agent pins its resumed tasks' datasets again before any new
  // task can fill the cache, and every task's pins go when it ends.
  prepare.pin = (a) => cache.pin(pinOwner(a), a.dataset_specs);
  prepare.release = (a) => cache.releaseOwner(pinOwner(a));
  return prepare;
}
