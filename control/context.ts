/** What every part of control gets: config, store, clock, logger, events and the services. */
import { EventEmitter } from 'node:events';
import type { AuditEvent, Task, TaskStatus, Worker } from '../shared/api-types.js';
import type { Logger } from '../shared/logger.js';
import type { Clock } from '../shared/time.js';
import type { ControlConfig } from './config.js';
import type { Store } from './store/types.js';
import type { TaskService } from './services/tasks.js';
import type { LogStore } from './blobs/logs.js';
import type { BlobStore } from './blobs/snapshots.js';

export interface ControlEventMap {
  task: [task: Task, prev?: TaskStatus];
  worker: [worker: Worker];
  audit: [event: AuditEvent];
}

/** Typed in-process event bus: task transitions, worker changes, audit events. */
export class ControlEvents extends EventEmitter<ControlEventMap> {
  constructor() {
    super();
    // /ws clients and SSE streams each add a listener; they are bounded by rate limits, not by this.
    this.setMaxListeners(0);
  }
}

export interface ControlContext {
  config: ControlConfig;
  store: Store;
  logger: Logger;
  clock: Clock;
  events: ControlEvents;
  tasks: TaskService;
  logs: LogStore;
  snapshots: BlobStore;
}
