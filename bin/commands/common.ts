/** Shared pieces of the command definitions: client flags and the lazy action wrapper. */
import type { Command } from 'commander';

export interface ClientFlags {
  url?: string;
  apiKey?: string;
  json?: boolean;
  debug?: boolean;
}

/** Flags every command that talks to control has (program options are positional, so each command declares them). */
export function clientOptions(cmd: Command, opts: { json?: boolean } = { json: true }): Command {
  cmd.option('--url <url>', 'control URL (default: FETCHML_URL, the profile, or http://127.0.0.1:9101)');
  cmd.option('--api-key <key>', 'API key (default: FETCHML_API_KEY or the profile)');
  if (opts.json !== false) cmd.option('--json', 'print JSON (stable, for scripts)');
  cmd.option('--debug', 'print stack traces of errors');
  return cmd;
}

export interface ActionContext {
  args: string[];
  opts: Record<string, unknown> & ClientFlags;
  cmd: Command;
}
export type Handler = (ctx: ActionContext) => Promise<number | void>;

/**
 * An action that imports its handler only when the command runs, then ends the process with the
 * handler's exit code (open keep-alive sockets or streams must not hold the CLI open).
 */
export function lazy<M>(load: () => Promise<M>, pick: (m: M) => Handler): (...a: unknown[]) => Promise<void> {
  return async (...a: unknown[]) => {
    const cmd = a[a.length - 1] as Command;
    const ctx: ActionContext = { args: cmd.args.slice(), opts: cmd.opts(), cmd };
    ctx.args = (cmd.processedArgs as unknown[]).flatMap((v) => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]));
    const code = (await pick(await load())(ctx)) ?? 0;
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(code);
  };
}
