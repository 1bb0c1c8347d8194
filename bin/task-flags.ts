/** Parsing of `run`'s task flags into a CreateTaskRequest (pure; usage errors are UsageError). */
import type { CreateTaskRequest, DatasetSpec, PluginConfig, PluginMode } from '../shared/api-types.js';
import { UsageError } from './errors.js';

/** `NAME=SHA256@URL[:MOUNT]` → DatasetSpec; MOUNT is an absolute path after the URL's last `:`. */
export function parseDatasetFlag(flag: string): DatasetSpec {
  const usage = `--dataset "${flag}": expected NAME=SHA256@URL[:MOUNT], e.g. imagenet=<64 hex>@https://data.example/imagenet.tar:/data/imagenet`;
  const eq = flag.indexOf('=');
  const at = flag.indexOf('@', eq + 1);
  if (eq <= 0 || at < 0) throw new UsageError(usage);
  const name = flag.slice(0, eq);
  const sha256 = flag.slice(eq + 1, at).toLowerCase();
  let source = flag.slice(at + 1);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) throw new UsageError(`${usage} (bad NAME "${name}")`);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new UsageError(`${usage} (SHA256 must be 64 hex characters)`);
  let mount: string | undefined;
  const colon = source.lastIndexOf(':');
  if (colon > 0 && source[colon + 1] === '/' && source.slice(0, colon).includes('://') && !source.slice(colon).startsWith('://')) {
    mount = source.slice(colon + 1);
    source = source.slice(0, colon);
  }
  try {
    const u = new URL(source);
    if (!['http:', 'https:', 's3:', 'file:'].includes(u.protocol)) throw new Error();
  } catch {
    throw new UsageError(`${usage} (bad URL "${source}")`);
  }
  if (mount !== undefined && (!mount.startsWith('/') || mount.split('/').includes('..'))) {
    throw new UsageError(`${usage} (MOUNT must be an absolute path without "..")`);
  }
  return { name, sha256, source, ...(mount ? { mount_path: mount } : {}) };
}

const PLUGIN_MODES: readonly PluginMode[] = ['sidecar', 'remote', 'disabled'];

/** `NAME[:MODE]` flags → plugin_configs. */
export function parsePluginFlags(flags: readonly string[]): Record<string, PluginConfig> {
  const out: Record<string, PluginConfig> = {};
  for (const flag of flags) {
    const [name = '', mode, ...rest] = flag.split(':');
    if (!/^[a-z0-9][a-z0-9_-]*$/i.test(name) || rest.length > 0) throw new UsageError(`--plugin "${flag}": expected NAME[:MODE]`);
    if (mode !== undefined && !(PLUGIN_MODES as readonly string[]).includes(mode)) {
      throw new UsageError(`--plugin "${flag}": MODE must be one of ${PLUGIN_MODES.join(', ')}`);
    }
    out[name] = mode ? { enabled: mode !== 'disabled', mode: mode as PluginMode } : { enabled: true };
  }
  return out;
}

export interface RunFlags {
  gpus?: number;
  gpuType?: string;
  cpus?: number;
  memory?: number;
  nodes?: number;
  priority?: number;
  image?: string;
  dataset?: string[];
  plugin?: string[];
  experiment?: string;
  name?: string;
}

/** Joins argv words into the API's single `args` string, quoting what the shell would split. */
export function joinArgs(words: readonly string[]): string {
  return words.map((w) => (w !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export function buildTaskRequest(entrypoint: string, args: readonly string[], flags: RunFlags, snapshotId?: string): CreateTaskRequest {
  if (!entrypoint || entrypoint.startsWith('-')) throw new UsageError(`expected an ENTRYPOINT before "${entrypoint}" (put flags for the script after --)`);
  const base = entrypoint.split('/').pop() ?? entrypoint;
  const req: CreateTaskRequest = {
    job_name: flags.name ?? base.replace(/\.[a-z0-9]+$/i, '').slice(0, 128) ?? 'job',
    entrypoint,
  };
  if (args.length > 0) req.args = joinArgs(args);
  if (snapshotId) req.snapshot_id = snapshotId;
  if (flags.gpus !== undefined) req.gpu = flags.gpus;
  if (flags.gpuType) req.gpu_type = flags.gpuType;
  if (flags.cpus !== undefined) req.cpu = flags.cpus;
  if (flags.memory !== undefined) req.memory_gb = flags.memory;
  if (flags.nodes !== undefined) req.node_count = flags.nodes;
  if (flags.priority !== undefined) req.priority = flags.priority;
  if (flags.image) req.image = flags.image;
  if (flags.dataset?.length) req.dataset_specs = flags.dataset.map(parseDatasetFlag);
  if (flags.plugin?.length) req.plugin_configs = parsePluginFlags(flags.plugin);
  if (flags.experiment) req.experiment_id = flags.experiment;
  return req;
}
