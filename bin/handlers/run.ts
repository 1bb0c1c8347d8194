/** `fetchml run` (snapshot, upload if missing, submit, follow), `submit --file`, `snapshot push`. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FetchmlClient } from '../../shared/api-client.js';
import { ApiError } from '../../shared/api-client-errors.js';
import type { CreateTaskRequest } from '../../shared/api-types.js';
import { createSnapshotArchive } from '../../shared/snapshot-archive.js';
import type { ActionContext } from '../commands/common.js';
import { UsageError } from '../errors.js';
import { humanSize, jsonOut } from '../output.js';
import { buildTaskRequest, type RunFlags } from '../task-flags.js';
import { openSession, withSession, type ClientSession } from './context.js';
import { followTask } from './follow.js';

/** Snapshots `dir` and uploads it unless control has it; returns the sha256 and whether bytes were sent. */
export async function pushSnapshot(s: ClientSession, dir: string): Promise<{ sha256: string; uploaded: boolean; bytes: number; files: number }> {
  const archive = await createSnapshotArchive(dir);
  const short = archive.sha256.slice(0, 12);
  s.err(`snapshot ${short} (${archive.files} files, ${humanSize(archive.bytes.length)} packed)\n`);
  if (await s.client.hasSnapshot(archive.sha256)) {
    s.err(`snapshot ${short} already on control: nothing to upload\n`);
    return { sha256: archive.sha256, uploaded: false, bytes: archive.bytes.length, files: archive.files };
  }
  const bar = process.stderr.isTTY ? progressBar(short) : undefined;
  await s.client.putSnapshot(archive.sha256, archive.bytes, bar);
  if (bar) process.stderr.write('\n');
  s.err(`snapshot ${short} uploaded (${humanSize(archive.bytes.length)})\n`);
  return { sha256: archive.sha256, uploaded: true, bytes: archive.bytes.length, files: archive.files };
}

function progressBar(label: string): (sent: number, total: number) => void {
  let last = -1;
  return (sent, total) => {
    const pct = total === 0 ? 100 : Math.floor((sent / total) * 100);
    if (pct === last) return;
    last = pct;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    process.stderr.write(`\ruploading ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${humanSize(sent)}/${humanSize(total)}`);
  };
}

/** Finds an experiment by id or name, creating it when missing. */
async function resolveExperiment(client: FetchmlClient, nameOrId: string): Promise<string> {
  const list = await client.experiments();
  const items = Array.isArray(list) ? list : ((list as { experiments?: typeof list }).experiments ?? []);
  const found = items.find((e) => e.id === nameOrId || e.name === nameOrId);
  if (found) return found.id;
  return (await client.createExperiment({ name: nameOrId })).id;
}

export async function runCommand({ args, opts }: ActionContext): Promise<number> {
  const [entrypoint = '', ...rest] = args;
  // commander keeps a `--` that follows an unknown option; it only separated our flags from the script's
  const sep = rest.indexOf('--');
  const scriptArgs = sep >= 0 ? [...rest.slice(0, sep), ...rest.slice(sep + 1)] : rest;
  const flags = opts as RunFlags & { detach?: boolean; cancelOnInterrupt?: boolean; dir?: string };
  const request = buildTaskRequest(entrypoint, scriptArgs, flags); // usage errors before any I/O
  const s = await openSession(opts);
  try {
    const snap = await pushSnapshot(s, resolve(flags.dir ?? '.'));
    request.snapshot_id = snap.sha256;
    if (flags.experiment) request.experiment_id = await resolveExperiment(s.client, flags.experiment);
    const task = await s.client.createTask(request);
    s.err(`task ${task.id} submitted (${task.status})\n`);
    if (flags.detach) {
      s.out(s.json ? jsonOut(task) : `${task.id}\n`);
      return 0;
    }
    return await followTask(s, task.id, { cancelOnInterrupt: flags.cancelOnInterrupt === true, logsTo: s.json ? 'stderr' : 'stdout', printFinalJson: s.json });
  } finally {
    await s.client.close().catch(() => undefined);
  }
}

/** Parses JSON Lines into task requests; the error names the line. */
export function parseJobsFile(text: string): CreateTaskRequest[] {
  const out: CreateTaskRequest[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('//')) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new UsageError(`line ${i + 1}: not valid JSON`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`line ${i + 1}: expected a JSON object (a CreateTaskRequest)`);
    const req = v as Partial<CreateTaskRequest>;
    if (typeof req.job_name !== 'string' || req.job_name === '') throw new UsageError(`line ${i + 1}: "job_name" is required`);
    out.push(req as CreateTaskRequest);
  });
  return out;
}

async function readInput(path: string): Promise<string> {
  if (path !== '-') return readFile(path, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const SUBMIT_PARALLEL = 4;

export async function submitCommand({ opts }: ActionContext): Promise<number> {
  const file = String(opts.file);
  let text: string;
  try {
    text = await readInput(file);
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const requests = parseJobsFile(text);
  if (requests.length === 0) throw new UsageError(`${file} holds no tasks`);
  const size = Number(opts.batchSize ?? 1000);
  const batches: CreateTaskRequest[][] = [];
  for (let i = 0; i < requests.length; i += size) batches.push(requests.slice(i, i + size));
  return withSession(
    opts,
    async (s) => {
      const started = Date.now();
      const results: Array<Array<{ id: string; job_name: string; status: string }> | undefined> = new Array(batches.length);
      let next = 0;
      let failure: { index: number; error: unknown } | undefined;
      const worker = async () => {
        while (!failure && next < batches.length) {
          const index = next++;
          try {
            const tasks = await s.client.createTasks(batches[index]!);
            results[index] = tasks.map((t) => ({ id: t.id, job_name: t.job_name, status: t.status }));
          } catch (error) {
            failure ??= { index, error };
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(SUBMIT_PARALLEL, batches.length) }, worker));
      const done = results.flatMap((r) => r ?? []);
      const secs = (Date.now() - started) / 1000;
      if (s.json) s.out(jsonOut({ submitted: done.length, total: requests.length, tasks: done }));
      else for (const t of done) s.out(`${t.id}\n`);
      s.err(`submitted ${done.length} of ${requests.length} tasks in ${secs.toFixed(2)} s (${Math.round(done.length / Math.max(secs, 0.001))} tasks/s, ${batches.length} request${batches.length === 1 ? '' : 's'})\n`);
      if (failure) {
        const first = failure.index * size + 1;
        if (failure.error instanceof ApiError) {
          failure.error.message = `batch of tasks ${first}-${first + batches[failure.index]!.length - 1} was refused: ${failure.error.message}`;
        }
        throw failure.error;
      }
      return 0;
    },
    { connections: SUBMIT_PARALLEL },
  );
}

export async function snapshotPushCommand({ args, opts }: ActionContext): Promise<number> {
  const dir = resolve(args[0] ?? '.');
  return withSession(opts, async (s) => {
    const r = await pushSnapshot(s, dir);
    s.print(r, () => `${r.sha256}\n`);
    return 0;
  });
}
