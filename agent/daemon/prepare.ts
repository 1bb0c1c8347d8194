/**
 * Wires the task preparation (snapshot download + safe extraction, datasets) to the workspace
 * module. Kept apart from the runner so the runner is tested with a fake preparer.
 */
import { TaskFailure } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { AgentConfig } from '../config.js';
import type { Preparer } from './task-runner.js';

export function createPreparer(cfg: Readonly<AgentConfig>, _cacheDir: string, _logger: Logger): Preparer {
  return async ({ assignment }) => {
    if (assignment.snapshot_id || assignment.dataset_specs?.length || assignment.datasets?.length) {
      throw new TaskFailure('infrastructure', `snapshots and datasets are not supported by this agent build (control ${cfg.control})`);
    }
    return { mounts: [], env: {} };
  };
}
