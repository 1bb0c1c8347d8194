import type { Command } from 'commander';

export function registerRunCommands(_program: Command): void {
  // filled in with the client commands (issue 5)
}
