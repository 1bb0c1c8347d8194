/** Operator commands: workers, queue, scheduler, reservations. */
import type { Command } from 'commander';
import { clientOptions, lazy } from './common.js';
import { intArg } from './parsers.js';

const load = () => import('../handlers/operators.js');

export function registerOperatorCommands(program: Command): void {
  const workers = clientOptions(
    program
      .command('workers')
      .description('list workers (drain / undrain / show one with the subcommands)')
      .addHelpText('after', '\nExamples:\n  $ fetchml workers\n  $ fetchml workers drain gpu-07 --deadline 30m --reason "driver update"')
      .action(lazy(load, (m) => m.listWorkersCommand)),
  );
  clientOptions(
    workers.command('show').description('show one worker').argument('<id>', 'worker id').action(lazy(load, (m) => m.showWorkerCommand)),
  );
  clientOptions(
    workers
      .command('drain')
      .description('stop giving a worker new tasks; running ones get until the deadline')
      .argument('<id>', 'worker id')
      .option('--deadline <duration>', 'how long running tasks may still run, e.g. 30m, 2h')
      .option('--reason <text>', 'why (shown to users and audited)')
      .action(lazy(load, (m) => m.drainCommand)),
  );
  clientOptions(
    workers.command('undrain').description('let a draining worker take tasks again').argument('<id>', 'worker id').action(lazy(load, (m) => m.undrainCommand)),
  );

  clientOptions(
    program
      .command('queue')
      .description('queue statistics')
      .addHelpText('after', '\nExample:\n  $ fetchml queue --json')
      .action(lazy(load, (m) => m.queueCommand)),
  );

  const scheduler = program.command('scheduler').description('scheduler state');
  clientOptions(
    scheduler
      .command('status')
      .description('scheduler status; --watch follows its event stream')
      .option('--watch', 'stream changes (SSE) until Ctrl-C')
      .addHelpText('after', '\nExample:\n  $ fetchml scheduler status --watch')
      .action(lazy(load, (m) => m.schedulerStatusCommand)),
  );

  const reservations = clientOptions(
    program
      .command('reservations')
      .description('list active reservations')
      .addHelpText('after', '\nExample:\n  $ fetchml reservations create --gpus 8 --gpu-type H100 --nodes 2 --expires 30m')
      .action(lazy(load, (m) => m.listReservationsCommand)),
  );
  clientOptions(
    reservations
      .command('create')
      .description('reserve capacity')
      .requiredOption('--gpus <n>', 'GPUs per node', intArg(1, 1024))
      .option('--gpu-type <type>', 'GPU model')
      .option('--nodes <n>', 'nodes', intArg(1, 4096))
      .option('--expires <duration>', 'how long it holds, e.g. 30m', '30m')
      .action(lazy(load, (m) => m.createReservationCommand)),
  );
}
