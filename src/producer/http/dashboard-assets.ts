import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/**
 * Serves the dashboard's browser modules. They are TypeScript under dashboard/, compiled
 * by the same tsc build as the rest into dist/, and they import the import-free shared
 * modules (states, duration) by relative path, so each is served at its path under dist/:
 * /assets/producer/http/dashboard/index-page.js imports ../../../shared/states.js, which
 * the browser asks for as /assets/shared/states.js. Only the files listed here are served.
 */
const ASSETS = [
  'producer/http/dashboard/common.js',
  'producer/http/dashboard/index-page.js',
  'producer/http/dashboard/notable.js',
  'producer/http/dashboard/process-page.js',
  'shared/duration.js',
  'shared/states.js',
] as const;
export type Asset = (typeof ASSETS)[number];

const here = fileURLToPath(import.meta.url);
// Run from the build, the modules sit in the same dist/ as this file; run from source (the
// tests load src/ through vitest), they are read from the build that `npm test` makes first.
const DIST = here.endsWith('.ts') ? resolve(dirname(here), '../../../dist') : resolve(dirname(here), '../..');

export const assetUrl = (asset: Asset): string => `/assets/${asset}`;

export function registerDashboardAssets(app: FastifyInstance): void {
  const cache = new Map<string, string>();
  for (const asset of ASSETS) {
    app.get(assetUrl(asset), async (_request, reply) => {
      let body = cache.get(asset);
      if (body === undefined) {
        try {
          body = readFileSync(resolve(DIST, asset), 'utf8');
        } catch {
          throw new Error(`dashboard asset ${asset} is missing from ${DIST}: run npm run build`);
        }
        cache.set(asset, body);
      }
      return reply
        .type('text/javascript; charset=utf-8')
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache')
        .send(body);
    });
  }
}
