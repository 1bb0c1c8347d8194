/**
 * CLI benchmarks: `fetchml --version` cold start (median of 20, against `node -e 0`) and
 * `fetchml submit --file` of 10,000 tasks against a real control (tasks/s; Slurm's sbatch loop
 * measured ~130/s here). Run from dist/ by `npm run bench`.
 */
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fetchmlCommand } from '../test/helpers/paths.js';
import { freePort, spawnFetchml } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeRuns(cmd: string, args: string[], n: number): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  }
  return median(times);
}

const { command, args: pre } = fetchmlCommand();
const N = 20;
const nodeMs = timeRuns(process.execPath, ['-e', '0'], N);
const versionMs = timeRuns(command, [...pre, '--version'], N);
const helpMs = timeRuns(command, [...pre, '--help'], N);

await using tmp = await tempDir('fetchml-cli-bench-');
const port = await freePort();
const key = 'bench-admin-key-0123456789abcdef';
await using control = spawnFetchml(['control', '--port', String(port), '--data-dir', join(tmp.path, 'control')], {
  env: { FETCHML_ADMIN_KEY: key, FETCHML_RATE_LIMIT_RPS: '100000', FETCHML_RATE_LIMIT_BURST: '100000' },
});
await control.waitForOutput(/listening on/);
const TASKS = 10_000;
const file = join(tmp.path, 'jobs.jsonl');
await writeFile(file, Array.from({ length: TASKS }, (_, i) => JSON.stringify({ job_name: `bench-${i}`, entrypoint: 'train.py', args: `--seed ${i}` })).join('\n'));
const t0 = performance.now();
const r = spawnSync(command, [...pre, 'submit', '--file', file], {
  env: { ...process.env, FETCHML_URL: `http://127.0.0.1:${port}`, FETCHML_API_KEY: key },
  stdio: ['ignore', 'ignore', 'pipe'],
});
const submitS = (performance.now() - t0) / 1000;
if (r.status !== 0) throw new Error(`submit failed: ${r.stderr}`);

console.log('## CLI\n');
console.log(`| measure | result |\n| --- | --- |`);
console.log(`| \`node -e 0\` (median of ${N}) | ${nodeMs.toFixed(0)} ms |`);
console.log(`| \`fetchml --version\` cold start (median of ${N}) | ${versionMs.toFixed(0)} ms (+${(versionMs - nodeMs).toFixed(0)} ms over node; goal ≤ 150 ms) |`);
console.log(`| \`fetchml --help\` (median of ${N}) | ${helpMs.toFixed(0)} ms |`);
console.log(`| \`fetchml submit --file\` ${TASKS} tasks, whole process | ${submitS.toFixed(2)} s = ${Math.round(TASKS / submitS)} tasks/s (goal ≥ 1300/s) |`);
console.log(`\n${String(r.stderr).trim()}\n`);
