import { expect } from 'vitest';
import type { ReapqClient } from '../../src/index.js';

/** A web app answering its version on PORT; `delayMs` before it listens. */
export const versionApp = (version: string, delayMs = 0): string[] => [
  process.execPath,
  '-e',
  `setTimeout(() => require('node:http').createServer((q, s) => s.end('${version}')).listen(process.env.PORT), ${delayMs})`,
];

/** Ready once GET / answers. */
export const httpReady = (timeoutMs: number) => ({ kind: 'http' as const, path: '/', timeoutMs });

/** What the app on a port answers to GET /. */
export async function answer(port: number | null): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  return res.text();
}

/** Stops a service and waits for that deploy to succeed. */
export async function stopService(client: ReapqClient, name: string): Promise<void> {
  const d = await client.stopService(name);
  expect((await client.waitForDeploy(d.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
}
