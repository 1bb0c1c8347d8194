/** What every client command needs: the layered config, one client, output helpers. */
import { FetchmlClient } from '../../shared/api-client.js';
import { loadCliConfig, type CliConfig } from '../../shared/cli-config.js';
import type { ClientFlags } from '../commands/common.js';
import { UsageError } from '../errors.js';
import { jsonOut } from '../output.js';

export interface ClientSession {
  client: FetchmlClient;
  config: CliConfig;
  json: boolean;
  out(text: string): void;
  err(text: string): void;
  /** Prints `value` as JSON when --json, else the human text. */
  print(value: unknown, human: () => string): void;
}

export async function openSession(flags: ClientFlags, opts: { connections?: number } = {}): Promise<ClientSession> {
  let config: CliConfig;
  try {
    config = await loadCliConfig({ url: flags.url, apiKey: flags.apiKey });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const client = new FetchmlClient({ url: config.url, apiKey: config.apiKey, connections: opts.connections });
  const json = flags.json === true;
  const out = (t: string) => void process.stdout.write(t);
  const err = (t: string) => void process.stderr.write(t);
  return {
    client,
    config,
    json,
    out,
    err,
    print: (value, human) => out(json ? jsonOut(value) : human()),
  };
}

/** Runs `fn` with a session and closes its client afterwards. */
export async function withSession<T>(flags: ClientFlags, fn: (s: ClientSession) => Promise<T>, opts?: { connections?: number }): Promise<T> {
  const s = await openSession(flags, opts);
  try {
    return await fn(s);
  } finally {
    await s.client.close().catch(() => undefined);
  }
}
