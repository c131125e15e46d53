import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { shownValue } from '../../src/shared/env.js';
import { redactRedisUrl } from '../../src/shared/redis-url.js';

describe('secrets in messages', () => {
  it.each([
    ['redis://:pw@127.0.0.1:6379/0', 'redis://:***@127.0.0.1:6379/0'],
    ['rediss://user:p%40ss@r.example.com:6380', 'rediss://user:***@r.example.com:6380'],
    ['redis://secret@host', 'redis://***@host'],
    ['redis://user:a@b@host:1', 'redis://user:***@host:1'],
    ['redis+sentinel://:pw@s1:26379,s2/mymaster?sentinelPassword=spw', 'redis+sentinel://:***@s1:26379,s2/mymaster?sentinelPassword=***'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['not a url', '***'],
  ])('redacts %s', (url, shown) => {
    expect(redactRedisUrl(url)).toBe(shown);
  });

  it('never repeats a token and shows URLs without their password', () => {
    expect(shownValue('REAPQ_API_TOKEN', 'short')).toBe('(5 characters, not shown)');
    expect(shownValue('REDIS_URL', 'http://u:pw@x')).toBe('"http://u:***@x"');
    expect(shownValue('REAPQ_PREFIX', 'a b')).toBe('"a b"');
  });

  it('keeps secrets out of config errors', () => {
    expect(() => loadConfig({ REAPQ_API_TOKEN: 'tooshort' })).toThrow(
      'invalid REAPQ_API_TOKEN=(8 characters, not shown): must be at least 16 characters',
    );
    let message = '';
    try {
      loadConfig({ REDIS_URL: 'http://admin:hunter2@db:6379' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^invalid REDIS_URL="http:\/\/admin:\*\*\*@db:6379"/);
    expect(message).not.toContain('hunter2');
  });
});
