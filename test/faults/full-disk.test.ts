import { spawnSync } from 'node:child_process';
import { statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReapqClient } from '../../src/index.js';
import { onCleanup, tempDir } from '../helpers/cleanup.js';
import { randomPrefix, testRedisUrl } from '../helpers/redis.js';
import { cli, startWorker, testEnv, until } from '../helpers/workers.js';

const prefix = randomPrefix();
let c: ReapqClient;
beforeAll(() => {
  c = new ReapqClient({ redisUrl: testRedisUrl(), prefix, env: {} });
});
afterAll(async () => {
  await c.close();
});

const root = process.getuid?.() === 0;

describe('a full disk under the logs (1 MiB tmpfs data dir)', () => {
  it.skipIf(!root)(
    'is an event and a warning on the record, the log is truncated so the disk frees, and logs says what was lost',
    async () => {
      const dir = tempDir('fulldisk');
      const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { encoding: 'utf8' });
      expect(mount.status, `mount tmpfs: ${mount.stderr}`).toBe(0);
      let mounted = true;
      // Lazy: a failed test may leave the process holding its log open until the leak check ends it.
      onCleanup(() => void (mounted && spawnSync('umount', ['-l', dir])));
      const env = testEnv(testRedisUrl(), prefix, { REAPQ_DATA_DIR: dir });
      const w = await startWorker(env, 'h-full');
      // 3 MB at once fills the 1 MiB disk; then a tick every 200 ms, which lands once it is freed.
      const rec = await c.start({
        command: [
          'sh',
          '-c',
          'head -c 3000000 /dev/zero | tr "\\0" x | fold -w 99; i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.2; done',
        ],
      });
      await c.waitFor(rec.id, 'running');
      const lost = await until(async () => (await c.get(rec.id)).logLoss, 15_000, 'log_lost on the record');
      expect(lost.error).toBe('ENOSPC');
      expect((await c.events(rec.id)).map((e) => e.event.type)).toContain('log_lost');
      // Freed: the file was truncated, and later output is written and shipped again.
      expect(statfsSync(dir).bavail).toBeGreaterThan(0);
      const lines = await until(
        async () => {
          const l = await c.logs(rec.id, 1000);
          const at = l.findIndex((x) => x.includes('the disk holding this log was full (ENOSPC)'));
          return at >= 0 && l.slice(at + 1).some((x) => /^tick \d+$/.test(x)) ? l : null;
        },
        15_000,
        'the marker, then ticks',
      );
      expect(lines.find((x) => x.startsWith('[reapq: '))).toMatch(
        /output the process wrote meanwhile is lost; the log was truncated to free the disk\]$/,
      );
      expect(statSync(join(dir, 'logs', `${rec.id}.log`)).size).toBeLessThan(512 * 1024);
      const shown = await cli(env, ['show', rec.id]);
      expect(shown.stdout).toMatch(/^warning +log write failed \(ENOSPC\) once, last at \S+: output lost, .+ not shipped dropped/m);
      const logs = await cli(env, ['logs', rec.id, '--lines', '1000']);
      expect(logs.stdout).toContain('[reapq: ');

      await c.stop(rec.id, { graceMs: 1000 });
      await c.waitFor(rec.id, 'stopped', { timeoutMs: 10_000 });
      expect(await w.stop()).toBe(0);
      const umount = spawnSync('umount', [dir], { encoding: 'utf8' });
      expect(umount.status, umount.stderr).toBe(0);
      mounted = false;
    },
  );
});
