/**
 * Turns a task's `entrypoint` and `args` into an argv. Nothing here is ever run by a shell: the
 * strings are split the way a shell would split them (shell-quote), and anything a shell would
 * interpret (operators, globs, `$VAR`, comments) is refused with a clear error instead.
 */
import { parse } from 'shell-quote';
import { TaskFailure } from './errors.js';

/** Splits one string into words; throws TaskFailure('entrypoint') on shell syntax we will not run. */
export function splitWords(text: string, what = 'entrypoint'): string[] {
  if (hasCommandSubstitution(text)) {
    throw new TaskFailure(
      'entrypoint',
      `${what} ${JSON.stringify(text)} uses shell syntax (\`…\` command substitution), but it is not run by a shell; ` +
        `use an explicit shell such as: /bin/bash -c "…"`,
    );
  }
  const open = unclosedQuote(text);
  if (open) throw new TaskFailure('entrypoint', `${what} ${JSON.stringify(text)} has an unclosed ${open} quote`);
  const words: string[] = [];
  // Substitutions come back as marker objects so that `$HOME` is refused rather than silently emptied.
  const entries = parse(text, (name: string) => ({ op: `$${name}` }) as unknown as string);
  for (const entry of entries) {
    if (typeof entry === 'string') {
      words.push(entry);
      continue;
    }
    const e = entry as { op?: string; pattern?: string; comment?: string };
    const shown = e.op === 'glob' ? `glob ${e.pattern}` : e.comment !== undefined ? `comment #${e.comment}` : String(e.op);
    throw new TaskFailure(
      'entrypoint',
      `${what} ${JSON.stringify(text)} uses shell syntax (${shown}), but it is not run by a shell; ` +
        `quote it, or use an explicit shell such as: /bin/bash -c "…"`,
    );
  }
  return words;
}

/**
 * The argv for an entrypoint: `train.py` → python3 train.py ARGS, `run.sh` → bash run.sh ARGS,
 * anything else as split (argv[0] is the program, so `/bin/bash -c "…"` works).
 */
export function entrypointArgv(entrypoint: string, args?: string): string[] {
  const words = splitWords(entrypoint, 'entrypoint');
  const first = words[0];
  if (first === undefined || first === '') throw new TaskFailure('entrypoint', 'entrypoint is empty');
  const extra = args === undefined || args.trim() === '' ? [] : splitWords(args, 'args');
  if (first.endsWith('.py')) return ['python3', ...words, ...extra];
  if (first.endsWith('.sh')) return ['bash', ...words, ...extra];
  return [...words, ...extra];
}

/** shell-quote keeps backticks as literal text; a shell would run them, so refuse them outside single quotes. */
function hasCommandSubstitution(text: string): boolean {
  let single = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && !single) i++;
    else if (c === "'") single = !single;
    else if (c === '`' && !single) return true;
  }
  return false;
}

/** shell-quote silently closes an unterminated quote at the end; a shell would refuse it, and so do we. */
function unclosedQuote(text: string): 'single' | 'double' | undefined {
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
    } else if (c === '\\') i++;
    else if (c === quote) quote = undefined;
    else if (!quote && (c === "'" || c === '"')) quote = c;
  }
  return quote === "'" ? 'single' : quote === '"' ? 'double' : undefined;
}
