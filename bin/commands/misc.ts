import type { Command } from 'commander';

export function registerMiscCommands(_program: Command): void {
  // filled in with the client commands (issue 5)
}
