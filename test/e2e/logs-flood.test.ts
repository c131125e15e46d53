import { existsSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { LogShipper, realLogFiles } from '../../src/worker/log-shipper.js';
import { makeKeys } from '../../src/shared/keys.js';
import { makeLogger } from '../../src/shared/logger.js';
import { connect } from '../../src/shared/redis.js';
import { streamField } from '../../src/shared/stream-fields.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { until, useWorker } from '../helpers/workers.js';
import { tempDir } from '../helpers/cleanup.js';

const MAX = 1024 * 1024;
const t = useWorker('h-flood', { REAPQ_LOG_MAX_BYTES: String(MAX), REAPQ_LOG_LINES: '30000' });

describe('logs under a flood', () => {
  it('shows the newest line, marks the gap and keeps the file near its cap', async () => {
    // 20 MB of 100-byte lines as fast as `yes` writes them (far faster than shipping), then one last line.
    const flood = `yes ${'x'.repeat(99)} | head -c 20000000; echo LAST-LINE; exec sleep 1000`;
    const rec = await t.client.start({ command: ['sh', '-c', flood] });
    await t.client.waitFor(rec.id, 'running');
    await until(async () => (await t.client.logs(rec.id, 1))[0] === 'LAST-LINE', 60_000, 'the last line in Redis');
    // Kept lines must hold what was shipped after the last jump (256 KiB, or up to the 1 MiB cap after a rotation), marker included.
    const lines = await t.client.logs(rec.id, 30_000);
    expect(lines.some((l) => /^\[reapq: \d+ bytes of output not shipped/.test(l))).toBe(true);
    const file = join(t.env.REAPQ_DATA_DIR!, 'logs', `${rec.id}.log`);
    // Rotation follows the file's size, not what was shipped: it ends below the cap, with
    // at most the cap kept in .1.
    await until(() => statSync(file).size < MAX, 10_000, 'the file below its cap');
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(MAX);
    await t.client.stop(rec.id);
    await t.client.waitFor(rec.id, 'stopped');
  }, 120_000);
});

describe('log rotation keeps REAPQ_LOG_KEEP files, gzipped with REAPQ_LOG_GZIP', () => {
  const dir = tempDir('rotation');
  const redis = connect(testRedisUrl(), 'command');
  afterAll(async () => {
    await redis.quit();
  });
  const rotations = async (shipper: LogShipper, file: string, n: number) => {
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < 500; i++) appendFileSync(file, `rotation ${r} line ${i}\n`);
      await shipper.pump();
      expect(statSync(file).size).toBe(0);
    }
  };

  it('shifts .1.gz to .2.gz ... up to keep, dropping the oldest', async () => {
    const keys = makeKeys(randomPrefix());
    const opts = { maxLines: 10_000, maxFileBytes: 4096, intervalMs: 60_000, keep: 3, gzip: true };
    const shipper = new LogShipper(redis, keys, makeLogger('silent'), opts);
    const file = join(dir, 'g.log');
    writeFileSync(file, '');
    await shipper.track('g', file, 0);
    await rotations(shipper, file, 5);
    expect([1, 2, 3, 4].map((i) => existsSync(`${file}.${i}.gz`))).toEqual([true, true, true, false]);
    expect(existsSync(`${file}.1`)).toBe(false);
    // Newest first: .1 holds the last rotation's tail, .3 the third from last.
    const text = (i: number) => gunzipSync(readFileSync(`${file}.${i}.gz`)).toString();
    expect(text(1).trimEnd().split('\n').at(-1)).toBe('rotation 4 line 499');
    expect(text(3).trimEnd().split('\n').at(-1)).toBe('rotation 2 line 499');
    expect(Buffer.byteLength(text(1))).toBeLessThanOrEqual(4096);
    shipper.close();
  });

  it('keeps no copy with keep 0, and shifts plain files when gzip is off', async () => {
    const keys = makeKeys(randomPrefix());
    const none = new LogShipper(redis, keys, makeLogger('silent'), { maxLines: 10_000, maxFileBytes: 4096, intervalMs: 60_000, keep: 0 });
    const a = join(dir, 'none.log');
    writeFileSync(a, '');
    await none.track('none', a, 0);
    await rotations(none, a, 2);
    expect(existsSync(`${a}.1`)).toBe(false);
    none.close();
    const plain = new LogShipper(redis, keys, makeLogger('silent'), { maxLines: 10_000, maxFileBytes: 4096, intervalMs: 60_000, keep: 2 });
    const b = join(dir, 'plain.log');
    writeFileSync(b, '');
    await plain.track('plain', b, 0);
    await rotations(plain, b, 3);
    expect([1, 2, 3].map((i) => existsSync(`${b}.${i}`))).toEqual([true, true, false]);
    expect(readFileSync(`${b}.2`, 'utf8').trimEnd().split('\n').at(-1)).toBe('rotation 1 line 499');
    plain.close();
  });
});

describe('log rotation on a full disk', () => {
  const dir = tempDir('fulldisk');
  const redis = connect(testRedisUrl(), 'command');
  afterAll(async () => {
    await redis.quit();
  });

  it('truncates without a copy when the copy fails, and says so in the log stream', async () => {
    const keys = makeKeys(randomPrefix());
    // The copy fails as it does on a full disk, after writing part of .1.
    const files = {
      ...realLogFiles,
      copyTail(_from: string, to: string) {
        writeFileSync(to, 'partial');
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    };
    const shipper = new LogShipper(redis, keys, makeLogger('silent'), { maxLines: 10_000, maxFileBytes: 4096, intervalMs: 60_000 }, files);
    const file = join(dir, 'p.log');
    writeFileSync(file, '');
    await shipper.track('p', file, 0);
    for (let i = 0; i < 600; i++) appendFileSync(file, `line ${i}\n`);
    await shipper.pump();
    expect(statSync(file).size).toBe(0);
    expect(existsSync(`${file}.1`)).toBe(false);
    appendFileSync(file, 'after\n');
    await shipper.pump();
    const rows = await redis.xrange(keys.logs('p'), '-', '+');
    const texts = rows.map(([, f]) => streamField(f, 'l'));
    expect(texts.slice(0, 2)).toEqual(['line 0', 'line 1']);
    expect(texts.at(-1)).toBe('after');
    expect(readFileSync(file, 'utf8')).toBe('after\n');
    shipper.close();
  });
});
