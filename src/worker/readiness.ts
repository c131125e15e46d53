import { open } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { createRequire } from 'node:module';
import type { Clock } from '../shared/clock.js';
import type { Ready } from '../shared/record.js';
import type { PortOwner } from './proc/port-owner.js';

// RE2 matches in time linear in the input: a producer's pattern such as ^(a+)+$ cannot
// freeze the worker's event loop, whatever the process prints.
const { RE2 } = createRequire(import.meta.url)('re2-wasm') as { RE2: new (p: string, flags: string) => { test(s: string): boolean } };

/** Lines longer than this are matched on their first MAX_LINE characters. */
export const MAX_LINE = 4096;

export type ProbeResult = { ok: true; how: string } | { ok: false; reason: string };

/**
 * Polls one readiness check until it passes, the deadline (monotonic ms on `clock`) passes,
 * or `gone()` says the process died (no point waiting on a dead server). Probes go to loopback: the process
 * runs on this host.
 */
export async function awaitReady(
  ready: Ready,
  ctx: {
    port: number | null;
    logFile: string;
    logOffset: number;
    deadline: number;
    gone: () => boolean;
    clock: Clock;
    /** Whether a process of this run listens on the port: an answer counts only unless it says `no` (another process holds the port). */
    owner?: (port: number) => PortOwner;
  },
): Promise<ProbeResult> {
  const port = ready.kind === 'log' ? null : (ready.port ?? ctx.port);
  if (ready.kind !== 'log' && port === null)
    return { ok: false, reason: `${ready.kind} readiness needs a port: give ready.port or --port` };
  let re: { test(s: string): boolean } | null = null;
  if (ready.kind === 'log') {
    try {
      re = new RE2(ready.pattern, 'u');
    } catch (err) {
      return {
        ok: false,
        reason: `log pattern not supported (linear-time matching has no backreferences or lookaround): ${(err as Error).message}`,
      };
    }
  }
  let logPos = ctx.logOffset;
  let carry = '';
  let foreign = false;
  for (;;) {
    let how: string | null = null;
    if (ready.kind === 'tcp' && (await tcpOpen(port!))) how = `tcp port ${port} accepting`;
    if (ready.kind === 'http') {
      const status = await httpStatus(port!, ready.path);
      // A request Node refuses to send (a path written before the spec refused it) never will be sent: the verdict is now.
      if (typeof status === 'string') return { ok: false, reason: `GET ${JSON.stringify(ready.path)} cannot be sent: ${status}` };
      if (status !== null && status >= 200 && status < 300) how = `GET ${ready.path} answered ${status}`;
    }
    if (how !== null) {
      // The answer may come from another process on the port (the replica this one replaces):
      // it counts once a process of this run is seen listening, or when that cannot be told.
      const owner = ctx.owner?.(port!) ?? 'unknown';
      if (owner !== 'no') return { ok: true, how: owner === 'yes' ? `${how}, its listening socket this run's` : how };
      foreign = true;
    }
    if (re) {
      const chunk = await readFrom(ctx.logFile, logPos);
      logPos += chunk.length;
      // Bounded: a process that never prints a newline holds at most MAX_LINE characters here.
      const lines = (carry + chunk.toString('utf8')).split('\n').map((l) => (l.length > MAX_LINE ? l.slice(0, MAX_LINE) : l));
      carry = lines.pop() ?? '';
      const hit = lines.find((l) => re!.test(l)) ?? (re.test(carry) ? carry : undefined);
      if (hit !== undefined) return { ok: true, how: `log line matched: ${hit.slice(0, 200)}` };
    }
    if (ctx.gone()) return { ok: false, reason: 'exited before it became ready' };
    if (ctx.clock.mono() >= ctx.deadline) {
      const what = foreign ? `port ${port} answered, but no process of this run listens on it` : describe(ready, port);
      return { ok: false, reason: `not ready within ${ready.timeoutMs} ms (${what})` };
    }
    await ctx.clock.sleep(100);
  }
}

function describe(ready: Ready, port: number | null): string {
  if (ready.kind === 'tcp') return `nothing accepted on port ${port}`;
  if (ready.kind === 'http') return `GET http://127.0.0.1:${port}${ready.path} never answered 2xx`;
  return `no output line matched /${ready.pattern}/`;
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setTimeout(500);
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
    s.once('timeout', () => {
      s.destroy();
      res(false);
    });
  });
}

/** The status of one GET, null when none came within a second, or why the request cannot be made at all. */
function httpStatus(port: number, path: string): Promise<number | null | string> {
  return new Promise((res) => {
    let req: ReturnType<typeof request>;
    try {
      req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: 1000 }, (r) => {
        r.resume();
        res(r.statusCode ?? null);
      });
    } catch (err) {
      res((err as Error).message);
      return;
    }
    // `timeout` is idle time: a server that dribbles its headers would hold the probe past the deadline.
    const cap = setTimeout(() => {
      req.destroy();
      res(null);
    }, 1500);
    req.once('close', () => clearTimeout(cap));
    req.once('error', () => res(null));
    req.once('timeout', () => {
      req.destroy();
      res(null);
    });
    req.end();
  });
}

async function readFrom(file: string, pos: number): Promise<Buffer> {
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size <= pos) return Buffer.alloc(0);
      const buf = Buffer.alloc(Math.min(size - pos, 1 << 18));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return Buffer.alloc(0);
  }
}
