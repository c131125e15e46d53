import { existsSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
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
