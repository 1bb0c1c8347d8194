/** `fetchml login` and `fetchml completion`. */
import type { Command } from 'commander';
import { FetchmlClient } from '../../shared/api-client.js';
import { normaliseUrl, profilePath, writeProfile } from '../../shared/cli-config.js';
import type { ActionContext } from '../commands/common.js';
import { UsageError } from '../errors.js';

export async function loginCommand({ opts }: ActionContext): Promise<number> {
  let url: string;
  try {
    url = normaliseUrl(String(opts.url));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const key = String(opts.key);
  if (opts.check !== false) {
    // A cheap authenticated call, so a wrong URL or key is found now rather than at the first run.
    const client = new FetchmlClient({ url, apiKey: key });
    try {
      await client.queue();
    } finally {
      await client.close().catch(() => undefined);
    }
  }
  const path = profilePath();
  await writeProfile(path, { url, api_key: key });
  process.stdout.write(`logged in to ${url}; profile saved to ${path}\n`);
  return 0;
}

interface Node {
  path: string[];
  subcommands: string[];
  options: string[];
}

function walk(cmd: Command, path: string[], out: Node[]): void {
  out.push({
    path,
    subcommands: cmd.commands.map((c) => c.name()),
    options: cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => !!x)).concat('--help'),
  });
  for (const c of cmd.commands) walk(c, [...path, c.name()], out);
}

/** Completion scripts generated from the command tree, so they never fall behind the program. */
export function completionScript(program: Command, shell: 'bash' | 'zsh'): string {
  const nodes: Node[] = [];
  walk(program, [], nodes);
  const cases = nodes
    .map((n) => `    "${n.path.join(' ')}") words="${[...n.subcommands, ...n.options].join(' ')}" ;;`)
    .join('\n');
  const bash = `# fetchml bash completion: eval "$(fetchml completion bash)"
_fetchml_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case " $(_fetchml_words "$path") " in *" $w "*) path="\${path:+$path }$w" ;; esac
  done
  COMPREPLY=( $(compgen -W "$(_fetchml_words "$path")" -- "$cur") )
}
_fetchml_words() {
  local words=""
  case "$1" in
${cases}
  esac
  echo "$words"
}
complete -F _fetchml_complete fetchml
`;
  if (shell === 'bash') return bash;
  return `#compdef fetchml
# fetchml zsh completion: eval "$(fetchml completion zsh)"
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}

export async function completionCommand({ args, cmd }: ActionContext): Promise<number> {
  let root = cmd;
  while (root.parent) root = root.parent;
  process.stdout.write(completionScript(root, args[0] as 'bash' | 'zsh'));
  return 0;
}
