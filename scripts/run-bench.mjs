// Runs every benchmark under dist/bench (or those matching FETCHML_BENCH_FILTER) one after
// another, so they do not compete for the machine's cores. Each prints a markdown section;
// paste the output into BENCHMARKS.md together with the machine and date it prints first.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

const dir = 'dist/bench';
const filter = process.env.FETCHML_BENCH_FILTER;
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bench.js') && (!filter || f.includes(filter))).sort() : [];
console.log(`# FetchML benchmarks — ${new Date().toISOString().slice(0, 10)}`);
console.log(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`);
let failed = 0;
for (const f of files) {
  const r = spawnSync(process.execPath, ['--expose-gc', `${dir}/${f}`], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
