/** Human output: aligned tables sized to the terminal, colour only where it belongs, units. */

export interface ColorOptions {
  isTTY?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Colour only on a TTY, never with NO_COLOR (any value) or TERM=dumb; FORCE_COLOR=1 forces it. */
export function colorEnabled(opts: ColorOptions = {}): boolean {
  const env = opts.env ?? process.env;
  if ('NO_COLOR' in env && env.NO_COLOR !== undefined) return false;
  if (env.FORCE_COLOR === '1') return true;
  if (env.TERM === 'dumb') return false;
  return opts.isTTY ?? process.stdout.isTTY === true;
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type Color = keyof typeof CODES;

export function paint(text: string, color: Color, enabled = colorEnabled()): string {
  return enabled ? `\u001b[${CODES[color]}m${text}\u001b[0m` : text;
}

const STATUS_COLORS: Record<string, Color> = {
  completed: 'green',
  active: 'green',
  healthy: 'green',
  running: 'cyan',
  preparing: 'cyan',
  collecting: 'cyan',
  queued: 'yellow',
  draining: 'yellow',
  starting: 'yellow',
  failed: 'red',
  offline: 'red',
  error: 'red',
  unhealthy: 'red',
  cancelled: 'gray',
  stopped: 'gray',
};
export function paintStatus(status: string, enabled = colorEnabled()): string {
  const c = STATUS_COLORS[status];
  return c ? paint(status, c, enabled) : status;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
export function visibleLength(s: string): number {
  return [...s.replace(ANSI, '')].length;
}

/** Cuts `s` to `width` visible characters with an ellipsis (drops colour when it has to cut). */
export function truncate(s: string, width: number): string {
  if (visibleLength(s) <= width) return s;
  const plain = [...s.replace(ANSI, '')];
  return width <= 1 ? plain.slice(0, width).join('') : `${plain.slice(0, width - 1).join('')}…`;
}

export interface TableOptions {
  /** Terminal width; columns shrink (widest first, down to 6) to fit. Default: stdout's columns or unlimited. */
  width?: number;
  color?: boolean;
}

/** Left-aligned columns separated by two spaces, with a header row; no trailing spaces. */
export function formatTable(headers: string[], rows: string[][], opts: TableOptions = {}): string {
  const color = opts.color ?? colorEnabled();
  const width = opts.width ?? (process.stdout.isTTY ? process.stdout.columns : undefined) ?? Infinity;
  const cols = headers.length;
  const widths = headers.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const gap = 2;
  const total = () => widths.reduce((a, b) => a + b, 0) + gap * (cols - 1);
  while (total() > width) {
    let widest = 0;
    for (let i = 1; i < cols; i++) if (widths[i]! > widths[widest]!) widest = i;
    if (widths[widest]! <= 6) break;
    widths[widest] = Math.max(6, widths[widest]! - (total() - width));
  }
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const cut = truncate(c ?? '', widths[i]!);
        return i === cols - 1 ? cut : cut + ' '.repeat(widths[i]! - visibleLength(cut));
      })
      .join(' '.repeat(gap))
      .replace(/\s+$/, '');
  const head = line(headers.map((h) => h.toUpperCase()));
  return [color ? paint(head, 'bold', true) : head, ...rows.map(line)].join('\n') + '\n';
}

/** 850ms, 12s, 3m05s, 1h02m, 2d03h. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** 512 B, 1.5 KiB, 20 MiB, 3.2 GiB. */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** "3m05s ago" style age of an ISO time, relative to `now`. */
export function age(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  return Number.isFinite(t) ? `${humanDuration(Math.max(0, now - t))} ago` : '-';
}

/** Stable JSON for scripts: two-space indent, trailing newline. */
export function jsonOut(value: unknown): string {
  return `${JSON.stringify(value ?? null, null, 2)}\n`;
}
