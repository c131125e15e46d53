import { createServer } from 'node:net';
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

/** A port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/** Stops a service and waits for that deploy to succeed. */
export async function stopService(client: ReapqClient, name: string): Promise<void> {
  const d = await client.stopService(name);
  expect((await client.waitForDeploy(d.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
}
