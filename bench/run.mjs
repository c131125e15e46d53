// `npm run bench`: runs the benches one after another (each in a process of its own, so one
// bench's processes and handles never leak into the next), then regenerates BENCHMARKS.md and
// bench/charts/*.svg. Arguments: bench names to run a subset. Exits non-zero if any failed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './lib.mjs';
import { BENCHES, generate } from './report.mjs';

const names = process.argv.slice(2);
const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
if (unknown.length) {
  console.error(`unknown bench ${unknown.join(', ')}; known: ${BENCHES.map((b) => b.name).join(', ')}`);
  process.exit(2);
}
const todo = names.length ? BENCHES.filter((b) => names.includes(b.name)) : BENCHES;

let current = null;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    // The bench cleans up on its own signal; wait for it to go.
    if (current) current.kill(sig);
    else process.exit(130);
  });
}

const failed = [];
for (const b of todo) {
  const code = await new Promise((res) => {
    current = spawn(process.execPath, [join(ROOT, 'bench', `${b.name}.mjs`)], { stdio: 'inherit', cwd: ROOT });
    current.once('exit', (c, s) => res(c ?? (s ? 128 : 1)));
  });
  current = null;
  if (code === 130) process.exit(130);
  if (code !== 0) failed.push(b.name);
}

console.log(`\nwrote ${generate()} and bench/charts/`);
if (failed.length) {
  console.error(`FAILED: ${failed.join(', ')}`);
  process.exit(1);
}
