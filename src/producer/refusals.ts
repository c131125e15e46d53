import type { Redis } from 'ioredis';
import { refusalOf, RedisRefusedError, type MemoryFacts } from '../shared/errors.js';

/** Redis's memory figures (INFO is served even at maxmemory); null when it does not tell. */
async function memoryFacts(redis: Redis): Promise<MemoryFacts | null> {
  try {
    const info = await redis.info('memory');
    const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
    const policy = field('maxmemory_policy');
    const used = field('used_memory_human');
    const max = field('maxmemory_human');
    return policy && used && max ? { policy, used, max } : null;
  } catch {
    return null;
  }
}

/** The error a caller should see: a Redis refusal as a RedisRefusedError saying what to do, anything else as it is. */
export async function explainRefusal(err: unknown, redis: Redis): Promise<unknown> {
  if (err instanceof RedisRefusedError) return err;
  const kind = refusalOf(err);
  if (!kind) return err;
  return new RedisRefusedError(kind, kind === 'oom' ? await memoryFacts(redis) : null, err);
}

function explained(v: unknown, redis: () => Redis): unknown {
  if (v instanceof Promise)
    return v.catch(async (err: unknown) => {
      throw await explainRefusal(err, redis());
    });
  const it = v as AsyncGenerator<unknown> | null;
  if (it && typeof it === 'object' && typeof it.next === 'function' && Symbol.asyncIterator in it) {
    const step = (p: Promise<IteratorResult<unknown>>) => explained(p, redis) as Promise<IteratorResult<unknown>>;
    const wrapped: AsyncGenerator<unknown> = {
      next: (...a) => step(it.next(...a)),
      return: (x) => step(it.return(x)),
      throw: (e) => step(it.throw(e)),
      [Symbol.asyncIterator]: () => wrapped,
    };
    return wrapped;
  }
  return v;
}

/**
 * Every method of a class (its promises and async iterators) rejects with a
 * RedisRefusedError where Redis refused a command, whichever command of the call it was:
 * one place instead of a catch in each method. Other errors pass unchanged.
 */
export function explainRefusals<T extends object>(proto: T, redisOf: (self: T) => Redis): void {
  for (const name of Object.getOwnPropertyNames(proto)) {
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (name === 'constructor' || !d || typeof d.value !== 'function') continue;
    const orig = d.value as (...args: unknown[]) => unknown;
    Object.defineProperty(proto, name, {
      ...d,
      value: function (this: T, ...args: unknown[]) {
        return explained(orig.apply(this, args), () => redisOf(this));
      },
    });
  }
}
