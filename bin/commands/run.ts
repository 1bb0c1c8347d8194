/** `fetchml run`, `fetchml submit`, `fetchml snapshot push`. */
import type { Command } from 'commander';
import { clientOptions, lazy } from './common.js';
import { collect, intArg, numberArg } from './parsers.js';

const load = () => import('../handlers/run.js');

export function registerRunCommands(program: Command): void {
  const run = program
    .command('run')
    .description('snapshot this folder, run ENTRYPOINT on the fleet, stream its output, exit with its code')
    .argument('<entrypoint>', 'program or script to run, e.g. train.py or python')
    .argument('[args...]', 'arguments for it (put them after -- if they look like fetchml flags)')
    .option('--gpus <n>', 'GPUs per node', intArg(0, 1024))
    .option('--gpu-type <type>', 'GPU model, e.g. A100')
    .option('--cpus <n>', 'CPU cores per node', numberArg(0))
    .option('--memory <gb>', 'memory per node in GB', numberArg(0))
    .option('--nodes <n>', 'number of nodes (multi-node job)', intArg(1, 4096))
    .option('--priority <n>', 'priority 1-10 (higher runs sooner)', intArg(1, 10))
    .option('--image <image>', 'container image (docker/podman workers)')
    .option('--dataset <spec>', 'NAME=SHA256@URL[:MOUNT] (repeatable)', collect)
    .option('--plugin <spec>', 'NAME[:MODE], MODE sidecar|remote|disabled (repeatable)', collect)
    .option('--experiment <name>', 'experiment to file the task under (created if missing)')
    .option('--name <job>', 'job name (default: the entrypoint)')
    .option('--dir <dir>', 'code folder to snapshot (default: the current folder)')
    .option('--detach', 'submit and print the task id without following it')
    .option('--cancel-on-interrupt', 'Ctrl-C cancels the task instead of detaching')
    .allowUnknownOption()
    .addHelpText(
      'after',
      '\nExamples:\n  $ fetchml run train.py --epochs 3 --gpus 1\n  $ fetchml run --gpus 8 --nodes 2 --image pytorch/pytorch -- torchrun train.py --gpus 8',
    )
    .action(lazy(load, (m) => m.runCommand));
  clientOptions(run);

  clientOptions(
    program
      .command('submit')
      .description('submit many tasks at once from a JSON Lines file (one CreateTaskRequest a line)')
      .requiredOption('--file <path>', 'jobs.jsonl, or - for stdin')
      .option('--batch-size <n>', 'tasks per request (max 1000)', intArg(1, 1000), 1000)
      .addHelpText('after', '\nExample:\n  $ fetchml submit --file jobs.jsonl   # {"job_name":"sweep-1","entrypoint":"train.py","args":"--lr 0.1"}')
      .action(lazy(load, (m) => m.submitCommand)),
  );

  const snapshot = program.command('snapshot').description('code snapshots');
  clientOptions(
    snapshot
      .command('push')
      .description('upload a folder as a snapshot (if control lacks it) and print its sha256')
      .argument('[dir]', 'folder', '.')
      .addHelpText('after', '\nExample:\n  $ fetchml snapshot push ./my-project')
      .action(lazy(load, (m) => m.snapshotPushCommand)),
  );
}
