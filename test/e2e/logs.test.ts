import { existsSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, FIXTURES, until, useWorker } from '../helpers/workers.js';
import { internalsOf } from '../../src/producer/client.js';

const t = useWorker('h-logs', { REAPQ_LOG_MAX_BYTES: '4096', REAPQ_LOG_LINES: '100' });

describe('process logs', () => {
  it("rotates a process's log as its start says: --log-max-bytes, --log-keep, --log-gzip", async () => {
    // Four bursts of about 10 KB, apart: the shipper catches up and rotates after each.
    const loop =
      'for b in 1 2 3 4; do i=0; while [ $i -lt 1000 ]; do echo "line $b $i"; i=$((i+1)); done; sleep 0.6; done; echo done; exec sleep 1000';
    const r = await cli(t.env, ['start', '--log-max-bytes', '8K', '--log-keep', '2', '--log-gzip', '--', 'sh', '-c', loop]);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    const rec = await t.client.waitFor(id, 'running');
    expect(rec.logs).toEqual({ maxBytes: 8192, keep: 2, gzip: true });
    await until(async () => (await t.client.logs(id, 1))[0] === 'done', 15_000, 'all lines shipped');
    const file = join(t.env.REAPQ_DATA_DIR!, 'logs', `${id}.log`);
    // Rotations at 8K (not the worker's 4096), two gzipped copies kept.
    await until(() => existsSync(`${file}.2.gz`), 5000, 'two rotated copies');
    expect([existsSync(`${file}.1.gz`), existsSync(`${file}.3.gz`), existsSync(`${file}.1`)]).toEqual([true, false, false]);
    const newest = gunzipSync(readFileSync(`${file}.1.gz`)).toString();
    expect(Buffer.byteLength(newest)).toBeGreaterThan(4096);
    expect(Buffer.byteLength(newest)).toBeLessThanOrEqual(8192);
    const shown = await cli(t.env, ['show', id]);
    expect(shown.stdout).toMatch(/^logs +rotated at 8\.0K, 2 kept, gzipped \(the rest as its host says\)$/m);
    for (const [args, line] of [
      [['--log-keep', '-1'], /^reapq: invalid --log-keep/],
      [['--log-max-bytes', '1K'], /^reapq: invalid --log-max-bytes "1K": must be at least 4K/],
    ] as const) {
      const bad = await cli(t.env, ['start', ...args, '--', 'true']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(line);
    }
    await t.client.stop(id);
    await t.client.waitFor(id, 'stopped');
  });

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
    const startedAt = Date.now();
    const rec = await t.client.start({
      command: ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; echo done; exec sleep 1000'],
    });
    await t.client.waitFor(rec.id, 'running');
    await until(async () => (await t.client.logs(rec.id, 1))[0] === 'done', 10_000, 'all lines shipped');
    const last = await t.client.logs(rec.id, 3);
    expect(last).toEqual(['line 2998', 'line 2999', 'done']);
    // --timestamps: when each line was shipped, from its stream entry.
    const stamped = await cli(t.env, ['logs', rec.id, '--lines', '3', '--timestamps']);
    const readAt = Date.now();
    expect(stamped.code).toBe(0);
    const iso = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (.*)$/;
    const parsed = stamped.stdout
      .trimEnd()
      .split('\n')
      .map((l) => iso.exec(l));
    expect(parsed.map((m) => m?.[2])).toEqual(['line 2998', 'line 2999', 'done']);
    // Shipped in this test: after it started the process, before it read them (one clock: this machine's).
    for (const m of parsed) expect(Date.parse(m![1]!)).toBeGreaterThanOrEqual(startedAt);
    for (const m of parsed) expect(Date.parse(m![1]!)).toBeLessThanOrEqual(readAt);
    const kept = await internalsOf(t.client).connection.xlen(internalsOf(t.client).keys.logs(rec.id));
    expect(kept).toBeLessThan(400); // capped near REAPQ_LOG_LINES (approximate trimming)
    const file = join(t.env.REAPQ_DATA_DIR!, 'logs', `${rec.id}.log`);
    await until(() => existsSync(`${file}.1`), 2000, 'rotation');
    expect(statSync(file).size).toBeLessThan(3000 * 10);
    await t.client.stop(rec.id);
    await t.client.waitFor(rec.id, 'stopped');
  });
});
