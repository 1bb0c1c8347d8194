/**
 * Human-readable log lines for a terminal (`fetchml dev`, an agent run by hand): pino's JSON line
 * becomes `HH:MM:SS LEVEL name: message key=value …`. Under systemd (stderr not a TTY) the JSON
 * stays as it is, for journald and log shippers. FETCHML_LOG_FORMAT=json|pretty overrides.
 */
const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OWN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'v']);
const MAX_VALUE = 200;

function value(v: unknown): string {
  if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') return JSON.stringify((v as { message: string }).message);
  const s = typeof v === 'string' ? (/^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)) : JSON.stringify(v) ?? String(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE)}…` : s;
}

/** One pino JSON line → one readable line (with its newline); anything else is passed through. */
export function formatLogLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return line.endsWith('\n') ? line : `${line}\n`;
  const t = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 19) : '--:--:--';
  const level = (LEVELS[o.level as number] ?? String(o.level ?? '')).padEnd(5);
  const who = typeof o.name === 'string' ? `${o.name}: ` : '';
  const extra = Object.entries(o)
    .filter(([k]) => !OWN.has(k))
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(' ');
  return `${t} ${level} ${who}${typeof o.msg === 'string' ? o.msg : ''}${extra ? `  ${extra}` : ''}\n`;
}

export function wantPrettyLogs(env: NodeJS.ProcessEnv = process.env, isTTY = process.stderr.isTTY === true): boolean {
  if (env.FETCHML_LOG_FORMAT === 'json') return false;
  if (env.FETCHML_LOG_FORMAT === 'pretty') return true;
  return isTTY;
}
