/**
 * The agent's durable state in its data dir: a stable worker id, and one record per task it holds
 * (assignment, grant, runtime handle, buffered status frames, acknowledged log offset). A record
 * is rewritten with a single write system call, so a kill -9 leaves either the old or the new one.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FailureKind } from '../../shared/api-types.js';
import type { AgentTaskState, TaskAssignment, TaskStatusMessage } from '../../shared/protocol.js';
import type { SidecarRecord } from '../plugins/sidecars.js';
import { EXIT_FILE, KILLED_FILE } from '../runtime/process.js';
import type { RuntimeHandle } from '../runtime/types.js';
import { FileRemover } from './file-remover.js';
import type { Allocation } from './slots.js';

export interface TaskRecord {
  assignment: TaskAssignment;
  state: AgentTaskState;
  allocation?: Allocation;
  handle?: RuntimeHandle;
  exit_code?: number;
  error?: string;
  failure_kind?: FailureKind;
  /** Status frames not yet acknowledged by control, oldest first. */
  outbox: TaskStatusMessage[];
  /** Bytes of the log control has confirmed. */
  log_acked: number;
  cancel_requested?: boolean;
  /** The task's running sidecars (pid + start time, port): a restarted agent adopts them. */
  sidecars?: SidecarRecord[];
}

/** Records up to one page are rewritten in place (one page is copied whole or not at all). */
const IN_PLACE_MAX = 4096;
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;
export const isSafeTaskId = (id: unknown): id is string => typeof id === 'string' && SAFE_ID.test(id);

export class AgentState {
  readonly tasksDir: string;
  readonly cacheDir: string;
  /** Task dirs known to exist: a save needs no mkdir each time. */
  private readonly made = new Set<string>();
  /** Open record files of live tasks (closed when the task's files are removed). */
  private readonly open = new Map<string, { fd: number; size: number }>();
  /** Task dirs being removed (in the background, see remove). */
  private readonly removing = new Map<string, Promise<void>>();
  private readonly remover = new FileRemover();

  constructor(readonly dataDir: string) {
    this.tasksDir = join(dataDir, 'tasks');
    this.cacheDir = join(dataDir, 'cache');
    mkdirSync(this.tasksDir, { recursive: true, mode: 0o700 });
  }

  /** The worker id, created once and kept: control recognises the host across restarts by it. */
  async workerId(): Promise<string> {
    const file = join(this.dataDir, 'worker-id');
    try {
      const id = (await readFile(file, 'utf8')).trim();
      if (/^[A-Za-z0-9_.-]{1,128}$/.test(id)) return id;
    } catch {
      /* first start */
    }
    const id = `w-${randomUUID()}`;
    await writeAtomic(file, `${id}\n`);
    return id;
  }

  taskDir(taskId: string): string {
    if (!isSafeTaskId(taskId)) throw new Error(`unsafe task id ${JSON.stringify(taskId)}`);
    return join(this.tasksDir, taskId);
  }

  paths(taskId: string) {
    const dir = this.taskDir(taskId);
    return { dir, workspace: join(dir, 'workspace'), run: join(dir, 'run'), log: join(dir, 'task.log'), record: join(dir, 'record.json') };
  }

  /**
   * Rewrites the record in place with one pwrite() on a descriptor kept open for the task: no
   * temp file, rename or open per save (each of those is a directory change ext4 journals; they
   * were most of the agent's per-task cost). One write system call of a few KiB cannot be torn by
   * an agent kill -9; a shorter record is padded with spaces (JSON ignores them) so no old bytes
   * remain. No fsync: records must survive an agent crash, and the runtime's exit file is the
   * truth about the task. Synchronous on purpose: page-cache work costs microseconds in-thread
   * and about ten times that in libuv pool hand-offs.
   */
  async save(rec: TaskRecord): Promise<void> {
    const removing = this.removing.get(rec.assignment.task_id);
    if (removing) await removing;
    const p = this.paths(rec.assignment.task_id);
    let h = this.open.get(p.record);
    if (!h) {
      if (!this.made.has(p.dir)) {
        mkdirSync(p.dir, { recursive: true });
        this.made.add(p.dir);
      }
      // No O_TRUNC: an existing record (after a restart) stays whole until it is overwritten.
      const fd = openSync(p.record, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o600);
      h = { fd, size: fstatSync(fd).size };
      this.open.set(p.record, h);
    }
    let data = Buffer.from(JSON.stringify(rec), 'utf8');
    if (data.length > IN_PLACE_MAX || h.size > IN_PLACE_MAX) {
      // Larger than a page: the kernel copies page by page and a kill can land between pages.
      // Temp file + rename keeps such a record whole; the next save opens the new file.
      this.closeRecord(p.record);
      const tmp = `${p.record}.${process.pid}.${++seq}.tmp`;
      writeFileSync(tmp, data, { mode: 0o600 });
      renameSync(tmp, p.record);
      return;
    }
    if (data.length < h.size) data = Buffer.concat([data, Buffer.alloc(h.size - data.length, 0x20)]);
    const n = writeSync(h.fd, data, 0, data.length, 0);
    if (n !== data.length) throw new Error(`short write of ${p.record} (${n} of ${data.length} bytes)`);
    h.size = data.length;
  }

  private closeRecord(file: string): void {
    const h = this.open.get(file);
    if (!h) return;
    this.open.delete(file);
    try {
      closeSync(h.fd);
    } catch {
      /* already closed */
    }
  }

  /** Every record that parses; a torn or foreign file is skipped (and reported), never fatal. */
  async loadAll(onBad: (dir: string, err: unknown) => void = () => undefined): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for (const name of await readdir(this.tasksDir).catch(() => [] as string[])) {
      if (!isSafeTaskId(name)) continue;
      try {
        const rec = JSON.parse(await readFile(join(this.tasksDir, name, 'record.json'), 'utf8')) as TaskRecord;
        if (rec?.assignment?.task_id !== name || !Array.isArray(rec.outbox)) throw new Error('not a task record');
        out.push(rec);
      } catch (err) {
        onBad(name, err);
      }
    }
    return out;
  }

  /**
   * Deletes a task's files. The usual layout (record, log, run files, empty workspace) goes with a
   * handful of unlink/rmdir calls; anything else (a snapshot in the workspace) with a recursive rm.
   */
  async remove(taskId: string): Promise<void> {
    const p = this.paths(taskId);
    this.made.delete(p.dir);
    this.closeRecord(p.record);
    // On the remover's thread (each unlink/rmdir waits for ext4's journal); a save of the same
    // task meanwhile (a new epoch) waits for it, so the removal never takes the new record.
    const done = this.remover
      .remove(p.dir, [p.record, p.log, join(p.run, EXIT_FILE), join(p.run, KILLED_FILE)], [p.run, p.workspace, p.dir])
      .finally(() => {
        if (this.removing.get(taskId) === settled) this.removing.delete(taskId);
      });
    const settled = done.catch(() => undefined);
    this.removing.set(taskId, settled);
    await done;
  }
}

let seq = 0;
async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${++seq}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await rename(tmp, file);
}
