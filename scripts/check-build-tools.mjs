// Run before `npm pack`: the package ships dist/, which prepack builds, and building needs
// the dev dependencies. Without them the pack would stop on a bare "tsc: not found".
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const missing = ['typescript', 'esbuild'].filter((name) => {
  try {
    require.resolve(`${name}/package.json`);
    return false;
  } catch {
    return true;
  }
});
if (missing.length > 0) {
  process.stderr.write(`npm pack builds dist/ first and needs ${missing.join(' and ')}: run \`npm ci\`, then pack again\n`);
  process.exit(1);
}
