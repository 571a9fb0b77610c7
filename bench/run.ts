/**
 * `npm run bench`: every benchmark in turn, each in its own process so one
 * phase's leftovers cannot skew the next. Set DATABASE_URL=postgres://… to add
 * PostgreSQL figures where a benchmark supports it.
 *
 *   npm run bench                                  # all of them, default sizes
 *   npm run bench -- ingest --count 5000 --soak 20 # only bench/ingest.ts, with its flags
 *
 * Leading words name the benchmarks to run (file names without `.ts`); the
 * rest is handed to each of them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const all = ['ingest', 'delivery', 'sqlite-commit', 'signalling', 'cluster', 'connectors'].filter((name) =>
  existsSync(join(__dirname, `${name}.ts`)),
);
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith('--'));
const named = firstFlag < 0 ? args : args.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : args.slice(firstFlag);
const unknown = named.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`No benchmark ${unknown.join(', ')}; there are: ${all.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const name of named.length > 0 ? named : all) {
  console.log(`\n## bench/${name}.ts\n`);
  const result = spawnSync(
    process.execPath,
    ['--expose-gc', '-r', 'ts-node/register/transpile-only', join(__dirname, `${name}.ts`), ...flags],
    { stdio: 'inherit' },
  );
  if (result.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
