import { readFileSync } from 'node:fs';

/**
 * The package's version, from its package.json: two levels up from this file both in src/
 * and in the build (dist/shared/), and the image copies package.json beside dist/.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
