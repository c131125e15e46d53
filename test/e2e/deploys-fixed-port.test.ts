import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/local-redis.js';
import { carriersOf, cli, useWorker } from '../helpers/workers.js';

const t = useWorker('h-fixed');

/** Serves its id on PORT; exits at once when the port is taken, as many servers do. */
const server = [
  process.execPath,
  '-e',
  `const s = require('node:http').createServer((q, r) => r.end(process.env.REAPQ_PROCESS_ID));
   s.on('error', (e) => { console.error(e.code); process.exit(1); });
   s.listen(Number(process.env.PORT), '127.0.0.1');`,
];

async function answer(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  return res.text();
}

describe('a service on a fixed port', () => {
  it('is deployed and restarted stop-first whatever was asked, and says so', async () => {
    const port = await freePort();
    const first = await cli(t.env, ['deploy', 'fx', '--port', String(port), '--ready-http', '/', '--wait', '--', ...server]);
    expect(first.code, first.stderr).toBe(0);
    const note = `port ${port} is fixed: deployed stop-first, not start-first (a fixed port cannot be held twice)`;
    expect(first.stderr).toContain(`note: fx ${first.stdout.trim()}: ${note}`);
    expect(await t.client.getDeploy(first.stdout.trim())).toMatchObject({ strategy: 'stop-first', note, state: 'succeeded' });
    expect(await answer(port)).toBe('fx-r1-0');

    // restart asks for start-first: the new replica would find the port taken and exit.
    const again = await cli(t.env, ['restart', 'fx', '--wait']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(note);
    const d = await t.client.getDeploy(again.stdout.trim());
    expect(d).toMatchObject({ strategy: 'stop-first', state: 'succeeded', cause: 'restart of r1', note });
    expect(await answer(port)).toBe('fx-r2-0');
    expect(carriersOf('fx-r1-0')).toEqual([]);
    const history = await cli(t.env, ['service', 'fx']);
    expect(history.stdout).toContain(`(${note})`);

    // Asked for stop-first, there is nothing to say.
    const asked = await t.client.deploy({ service: 'fx', command: server, port, strategy: 'stop-first' });
    expect(asked.note).toBeNull();
    expect((await t.client.waitForDeploy(asked.id, { timeoutMs: 30_000 })).state).toBe('succeeded');

    const stop = await cli(t.env, ['stop', '--service', 'fx', '--wait']);
    expect(stop.code, stop.stderr).toBe(0);
    for (const id of ['fx-r1-0', 'fx-r2-0', 'fx-r3-0']) expect(carriersOf(id)).toEqual([]);
  });
});
