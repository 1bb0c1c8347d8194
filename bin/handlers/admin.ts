/** Administrator commands: audit chain, API keys, plugins. */
import type { AuditEventType, PluginConfig, PluginMode, Role } from '../../shared/api-types.js';
import type { ActionContext } from '../commands/common.js';
import { UsageError } from '../errors.js';
import { age, formatTable, paint, paintStatus } from '../output.js';
import { withSession } from './context.js';

export async function auditEventsCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const list = await s.client.auditEvents({
      event_type: opts.type as AuditEventType | undefined,
      user_id: opts.user as string | undefined,
      from: opts.from as string | undefined,
      to: opts.to as string | undefined,
      limit: Number(opts.limit ?? 100),
      offset: Number(opts.offset ?? 0),
    });
    s.print(list, () =>
      formatTable(
        ['seq', 'time', 'type', 'user', 'resource', 'ok', 'hash'],
        list.events.map((e) => [String(e.sequence_num), e.timestamp, e.event_type, e.user_id ?? '-', e.resource ?? '-', e.success ? 'yes' : paint('no', 'red'), e.event_hash.slice(0, 12)]),
      ) + `(${list.events.length} of ${list.total})\n`,
    );
    return 0;
  });
}

export async function auditVerifyCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const r = await s.client.auditVerify();
    s.print(r, () =>
      r.valid
        ? `${paint('valid', 'green')}: ${r.total_events} events, root ${r.chain_root_hash}\n`
        : `${paint('TAMPERED', 'red')}: first bad sequence number ${r.first_tampered ?? '?'}${r.reason ? ` (${r.reason})` : ''}; ${r.total_events} events\n`,
    );
    return r.valid ? 0 : 1;
  });
}

export async function auditRootCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const r = await s.client.auditRoot();
    s.print(r, () => `${r.root_hash}  (${r.total_events} events${r.timestamp ? `, ${r.timestamp}` : ''})\n`);
    return 0;
  });
}

export async function keysCreateCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const k = await s.client.createKey({ user_id: String(opts.user), role: (opts.role as Role | undefined) ?? 'user' });
    s.print(k, () => `${k.key ?? ''}\n`);
    if (!s.json) s.err(`key ${k.id} for ${k.user_id} (${k.role}); it is shown only this once\n`);
    return 0;
  });
}

export async function keysListCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const list = await s.client.listKeys();
    s.print(list, () => formatTable(['id', 'user', 'role', 'created'], list.map((k) => [k.id, k.user_id, k.role, age(k.created_at)])));
    return 0;
  });
}

export async function keysRevokeCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    await s.client.revokeKey(args[0]!);
    s.print({ id: args[0], revoked: true }, () => `revoked ${args[0]}\n`);
    return 0;
  });
}

export async function pluginsListCommand({ opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const list = await s.client.plugins();
    s.print(list, () =>
      formatTable(
        ['name', 'enabled', 'mode', 'status', 'version'],
        list.map((p) => [p.name ?? '-', p.enabled ? 'yes' : 'no', p.mode ?? '-', p.status?.status ? paintStatus(p.status.status) : '-', p.version ?? '-']),
      ),
    );
    return 0;
  });
}

export async function pluginsGetCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    const p = await s.client.plugin(args[0]!);
    s.print(p, () => `${JSON.stringify(p, null, 2)}\n`);
    return 0;
  });
}

/** `--setting key=value` flags → settings object (values that parse as JSON keep their type). */
export function parseSettings(flags: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`--setting "${f}": expected KEY=VALUE`);
    const raw = f.slice(eq + 1);
    let value: unknown = raw;
    if (/^(true|false|null|-?\d+(\.\d+)?)$/.test(raw)) value = JSON.parse(raw);
    out[f.slice(0, eq)] = value;
  }
  return out;
}

export async function pluginsSetCommand({ args, opts }: ActionContext): Promise<number> {
  const config: PluginConfig = {};
  if (opts.mode) {
    config.mode = opts.mode as PluginMode;
    config.enabled = opts.mode !== 'disabled';
  } else config.enabled = true;
  if (typeof opts.image === 'string') config.image = opts.image;
  if (Array.isArray(opts.setting)) config.settings = parseSettings(opts.setting as string[]);
  return withSession(opts, async (s) => {
    const p = await s.client.setPluginConfig(args[0]!, config);
    s.print(p, () => `plugin ${args[0]} configured${p?.requires_restart ? ' (restart required)' : ''}\n`);
    return 0;
  });
}

export async function pluginsDisableCommand({ args, opts }: ActionContext): Promise<number> {
  return withSession(opts, async (s) => {
    await s.client.disablePlugin(args[0]!);
    s.print({ name: args[0], disabled: true }, () => `plugin ${args[0]} disabled\n`);
    return 0;
  });
}
