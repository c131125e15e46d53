import { createServer } from 'node:net';
import type { Redis } from 'ioredis';
import { luaScript } from '../shared/lua.js';

const RELEASE_LUA = luaScript('release-port.lua');

/**
 * Hands out ports per host. The lease lives in Redis (port -> process id), so a restarted
 * worker never hands out a port a surviving process still holds; the bind probe skips
 * ports that something outside reapq already uses.
 */
export class PortAllocator {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly range: readonly [number, number],
  ) {}

  async allocate(id: string): Promise<number> {
    const [lo, hi] = this.range;
    const size = hi - lo + 1;
    const start = Math.floor(Math.random() * size);
    for (let i = 0; i < Math.min(size, 200); i++) {
      const port = lo + ((start + i) % size);
      const owner = await this.redis.hget(this.key, String(port));
      if (owner === id) return port;
      if (owner !== null) continue;
      if (!(await this.redis.hsetnx(this.key, String(port), id))) continue;
      if (await bindable(port)) return port;
      await this.release(port, id);
    }
    throw new Error(`no free port in ${lo}-${hi}`);
  }

  async release(port: number, id: string): Promise<void> {
    await this.redis.eval(RELEASE_LUA, 1, this.key, String(port), id);
  }

  async leases(): Promise<Map<number, string>> {
    const all = await this.redis.hgetall(this.key);
    return new Map(Object.entries(all).map(([p, id]) => [Number(p), id]));
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '0.0.0.0', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
