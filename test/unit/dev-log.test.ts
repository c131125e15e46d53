import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { devLogger } from '../../src/dev/pretty-log.js';
import { until } from '../helpers/workers.js';

function collector(): { stream: Writable; lines: () => string[] } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { stream, lines: () => out.split('\n').filter((l) => l.length > 0) };
}

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

describe('dev logs on a terminal', () => {
  it('print each entry on one line, fields inline, an error and its stack included', async () => {
    const out = collector();
    const log = devLogger('info', true, out.stream);
    log.info({ processId: 'p-1', command: ['sleep', '1000'], containment: { mode: 'cgroup', limits: ['memory', 'cpus'] } }, 'spawned');
    log.error({ err: new Error('boom\nsecond line') }, 'could not stop every process');
    log.warn({ err: 'connect ECONNREFUSED 127.0.0.1:1' }, 'heartbeat failed');
    const lines = await until(() => (out.lines().length >= 3 ? out.lines() : null), 5000, 'three entries');
    await new Promise((r) => setImmediate(r));
    expect(out.lines()).toHaveLength(3);
    const [spawned, failed, warned] = lines.map(plain);
    expect(spawned).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: spawned /);
    expect(spawned).toContain('"processId":"p-1"');
    expect(spawned).toContain('"limits":["memory","cpus"]');
    expect(failed).toContain('could not stop every process');
    expect(failed).toContain('boom\\nsecond line');
    expect(failed).toContain('"stack":"Error: boom');
    expect(warned).toContain('ECONNREFUSED');
    // the dev's own pid and host are on every entry: not repeated on a terminal
    expect(spawned).not.toMatch(/"pid"|"host"/);
  });

  it('are JSON lines when stderr is not a terminal', async () => {
    const out = collector();
    devLogger('info', false, out.stream).info({ processId: 'p-1' }, 'spawned');
    const [line] = await until(() => (out.lines().length >= 1 ? out.lines() : null), 5000, 'one entry');
    expect(JSON.parse(line!)).toMatchObject({ msg: 'spawned', processId: 'p-1', pid: process.pid });
  });
});
