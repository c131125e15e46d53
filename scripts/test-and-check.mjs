// `npm test` after the build: the suite (vitest, with any arguments given to `npm test --`)
// and the code checks (`npm run lint`, `npm run format:check`) side by side. The checks are
// single-threaded and take about 35 s of CPU; run before the suite they held one core while
// the other idled (or a busy machine's other work took it), and the suite waited for them.
// Their output is printed once the suite is done, so it never interleaves with the suite's.
// Exits non-zero when any of the three failed, naming which.
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd, args, { capture }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let out = '';
    if (capture) {
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
    }
    child.once('error', (err) => resolve({ code: 1, out: `${out}${err.message}\n` }));
    child.once('exit', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });
}

const checks = ['lint', 'format:check'].map((name) => run(npm, ['run', '--silent', name], { capture: true }).then((r) => ({ name, ...r })));
const suite = await run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)], { capture: false });
const failed = suite.code === 0 ? [] : ['vitest'];
for (const c of await Promise.all(checks)) {
  process.stdout.write(`\n> npm run ${c.name}\n${c.out}`);
  if (c.code !== 0) failed.push(`npm run ${c.name}`);
}
if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(', ')}\n`);
  process.exit(1);
}
