import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FIXTURES, until, useWorker } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';

const t = useWorker('h-logs', { REAPQ_LOG_MAX_BYTES: '4096', REAPQ_LOG_LINES: '100' });

describe('process logs', () => {
  it('keeps stdout and stderr readable from anywhere with reapq logs', async () => {
    const rec = await t.client.start({
      command: ['npm', 'run', 'start'],
      cwd: join(FIXTURES, 'app'),
      port: 'auto',
      ready: { kind: 'log', pattern: 'listening' },
    });
    await t.client.waitFor(rec.id, 'running', { timeoutMs: 15_000 });
    await until(async () => (await t.client.logs(rec.id)).includes('listening'), 5000, 'line shipped');
    // Another data dir: this CLI has no local file to read, only Redis.
    const r = await cli({ ...t.env, REAPQ_DATA_DIR: '/nonexistent' }, ['logs', rec.id, '--lines', '50']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('listening');
    expect(r.stdout).toContain('node server.js'); // npm's own banner, on stdout or stderr
    await t.client.stop(rec.id);
    await t.client.waitFor(rec.id, 'stopped');
  });

  it('bounds the log: the file is rotated and Redis keeps the last lines', async () => {
    const rec = await t.client.start({
      command: ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; echo done; exec sleep 1000'],
    });
    await t.client.waitFor(rec.id, 'running');
    await until(async () => (await t.client.logs(rec.id, 1))[0] === 'done', 10_000, 'all lines shipped');
    const last = await t.client.logs(rec.id, 3);
    expect(last).toEqual(['line 2998', 'line 2999', 'done']);
    // --timestamps: when each line was shipped, from its stream entry.
    const stamped = await cli(t.env, ['logs', rec.id, '--lines', '3', '--timestamps']);
    expect(stamped.code).toBe(0);
    const iso = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (.*)$/;
    const parsed = stamped.stdout
      .trimEnd()
      .split('\n')
      .map((l) => iso.exec(l));
    expect(parsed.map((m) => m?.[2])).toEqual(['line 2998', 'line 2999', 'done']);
    for (const m of parsed) expect(Math.abs(Date.now() - Date.parse(m![1]!))).toBeLessThan(60_000);
    const kept = await internalsOf(t.client).connection.xlen(internalsOf(t.client).keys.logs(rec.id));
    expect(kept).toBeLessThan(400); // capped near REAPQ_LOG_LINES (approximate trimming)
    const file = join(t.env.REAPQ_DATA_DIR!, 'logs', `${rec.id}.log`);
    await until(() => existsSync(`${file}.1`), 2000, 'rotation');
    expect(statSync(file).size).toBeLessThan(3000 * 10);
    await t.client.stop(rec.id);
    await t.client.waitFor(rec.id, 'stopped');
  });
});
