// `npm test`: the build and the code checks (`npm run build`, `npm run lint`,
// `npm run format:check`) side by side, then, once all three passed, the suite (vitest, with
// any arguments given to `npm test --`). Each of the three is single-threaded (about 45 s
// of CPU together) and none reads what another writes (the checks skip dist/), so one
// after another they left the second core idle. They are not run beside the suite: there
// they slowed the thousand-process burst and the package build enough to lengthen a loaded
// run by a minute. Each one's output is printed whole when it ends, never interleaved.
import { spawn } from 'node:child_process';

function run(cmd, args, capture) {
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

const steps = ['build', 'lint', 'format:check'].map(async (name) => {
  const r = await run('npm', ['run', name], true);
  process.stdout.write(r.out);
  return { name, code: r.code };
});
const failed = (await Promise.all(steps)).filter((s) => s.code !== 0).map((s) => `npm run ${s.name}`);
if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(', ')}\n`);
  process.exit(1);
}
const suite = await run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)], false);
process.exit(suite.code);
