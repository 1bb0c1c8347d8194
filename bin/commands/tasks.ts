/** Researcher commands about tasks, experiments and Jupyter. */
import type { Command } from 'commander';
import { TASK_STATUSES } from '../../shared/api-types.js';
import { clientOptions, lazy } from './common.js';
import { choiceArg, intArg } from './parsers.js';

const load = () => import('../handlers/tasks.js');

export function registerTaskCommands(program: Command): void {
  clientOptions(
    program
      .command('tasks')
      .description('list tasks (yours unless --all or --user)')
      .option('--status <status>', TASK_STATUSES.join(' | '), choiceArg(TASK_STATUSES))
      .option('--user <user>', "list this user's tasks")
      .option('--all', "everyone's tasks")
      .option('--limit <n>', 'at most this many', intArg(1, 1000), 50)
      .addHelpText('after', '\nExample:\n  $ fetchml tasks --status running --all')
      .action(lazy(load, (m) => m.listTasksCommand)),
  );
  clientOptions(
    program
      .command('task')
      .description('show one task')
      .argument('<id>', 'task id')
      .addHelpText('after', '\nExample:\n  $ fetchml task 01J...')
      .action(lazy(load, (m) => m.showTaskCommand)),
  );
  clientOptions(
    program
      .command('logs')
      .description("print a task's output; -f follows it until the task ends and exits with its code")
      .argument('<id>', 'task id')
      .option('-f, --follow', 'stream until the task ends')
      .option('--node <rank>', 'rank of a multi-node task whose log to show (default 0)', intArg(0, 63))
      .addHelpText('after', '\nExamples:\n  $ fetchml logs -f 01J...\n  $ fetchml logs --node 1 01J...   # rank 1 of a multi-node task')
      .action(lazy(load, (m) => m.logsCommand)),
    { json: false },
  );
  clientOptions(
    program
      .command('cancel')
      .description('cancel tasks')
      .argument('<ids...>', 'task ids')
      .addHelpText('after', '\nExample:\n  $ fetchml cancel 01JA... 01JB...')
      .action(lazy(load, (m) => m.cancelCommand)),
  );
  clientOptions(
    program
      .command('priority')
      .description("change a queued task's priority (1-10, higher runs sooner)")
      .argument('<id>', 'task id')
      .argument('<priority>', '1-10', intArg(1, 10))
      .addHelpText('after', '\nExample:\n  $ fetchml priority 01J... 9')
      .action(lazy(load, (m) => m.priorityCommand)),
  );

  const experiments = clientOptions(
    program
      .command('experiments')
      .description('list experiments')
      .addHelpText('after', '\nExample:\n  $ fetchml experiments create resnet-sweep')
      .action(lazy(load, (m) => m.listExperimentsCommand)),
  );
  clientOptions(
    experiments
      .command('create')
      .description('create an experiment')
      .argument('<name>', 'experiment name')
      .option('--description <text>', 'what it is about')
      .action(lazy(load, (m) => m.createExperimentCommand)),
  );

  const jupyter = program.command('jupyter').description('Jupyter services on the fleet');
  clientOptions(
    jupyter
      .command('start')
      .description('start a Jupyter service')
      .argument('<name>', 'service name')
      .option('--image <image>', 'container image')
      .option('--workspace <path>', 'workspace folder on the worker')
      .addHelpText('after', '\nExample:\n  $ fetchml jupyter start notebook-1')
      .action(lazy(load, (m) => m.jupyterStartCommand)),
  );
  clientOptions(jupyter.command('list').description('list Jupyter services').action(lazy(load, (m) => m.jupyterListCommand)));
  clientOptions(
    jupyter
      .command('stop')
      .description('stop a Jupyter service')
      .argument('<id>', 'service id')
      .action(lazy(load, (m) => m.jupyterStopCommand)),
  );
}
