/**
 * The common subset of .gitignore rules, used for code snapshots (.gitignore and .fetchmlignore):
 * comments, blank lines, globs (* ? [..] **), trailing `/` for directories only, `!` negation, and
 * anchoring (a pattern with a `/` other than a trailing one is relative to its file's folder).
 * The last matching rule wins; a rule file applies to its own folder and everything below it.
 */

export interface IgnoreRule {
  /** Folder of the rule file, relative to the snapshot root ('' for the root), no trailing slash. */
  base: string;
  negate: boolean;
  dirOnly: boolean;
  /** Anchored rules match the path relative to `base`; others match the last path segment. */
  anchored: boolean;
  regex: RegExp;
  source: string;
}

export function parseIgnoreFile(text: string, base = ''): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.replace(/(?<!\\)\s+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    let negate = false;
    if (line.startsWith('!')) {
      negate = true;
      line = line.slice(1);
    } else if (line.startsWith('\\!') || line.startsWith('\\#')) {
      line = line.slice(1);
    }
    let dirOnly = false;
    if (line.endsWith('/')) {
      dirOnly = true;
      line = line.replace(/\/+$/, '');
    }
    if (line === '') continue;
    const anchored = line.includes('/');
    if (line.startsWith('/')) line = line.slice(1);
    const regex = globToRegExp(line);
    if (!regex) continue;
    rules.push({ base, negate, dirOnly, anchored, regex, source: rawLine });
  }
  return rules;
}

/** True when `relPath` (relative to the snapshot root, `/`-separated) is ignored by `rules`. */
export function isIgnored(rules: readonly IgnoreRule[], relPath: string, isDir: boolean): boolean {
  let ignored = false;
  for (const rule of rules) {
    if (rule.dirOnly && !isDir) continue;
    let rel: string;
    if (rule.base === '') rel = relPath;
    else if (relPath.startsWith(`${rule.base}/`)) rel = relPath.slice(rule.base.length + 1);
    else continue;
    const subject = rule.anchored ? rel : rel.slice(rel.lastIndexOf('/') + 1);
    if (rule.regex.test(subject)) ignored = !rule.negate;
  }
  return ignored;
}

/** Translates one gitignore glob to an anchored RegExp; undefined for a malformed pattern. */
export function globToRegExp(glob: string): RegExp | undefined {
  let re = '';
  let i = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const atEnd = i + 2 === glob.length;
        if (atStart && glob[i + 2] === '/') {
          re += '(?:.*/)?'; // `**/` : any number of folders, including none
          i += 3;
          continue;
        }
        if (atStart && atEnd) {
          re += '.*'; // trailing `/**` : everything inside
          i += 2;
          continue;
        }
        re += '[^/]*'; // `**` elsewhere acts like `*`
        i += 2;
        continue;
      }
      re += '[^/]*';
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
      } else {
        let body = glob.slice(i + 1, close);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\').replace(/^\^?\]/, (m) => m.replace(']', '\\]'))}]`;
        i = close;
      }
    } else if (c === '\\' && i + 1 < glob.length) {
      i++;
      re += escapeRe(glob[i]!);
    } else {
      re += escapeRe(c);
    }
    i++;
  }
  try {
    return new RegExp(`^${re}$`);
  } catch {
    return undefined;
  }
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
