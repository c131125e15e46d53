import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/shared/config.js';
import { InputError } from '../../src/shared/errors.js';
import { parseRedisUrl, RedisUrlError } from '../../src/shared/redis-url.js';

describe('parseRedisUrl: one Redis', () => {
  it.each([
    'redis://127.0.0.1:6379',
    'rediss://user:p%40ss@redis.example.com:6380/2',
    'redis://localhost',
    'redis://:secret@10.0.0.1:6379/0?family=6',
  ])('hands %s to ioredis unchanged', (url) => {
    expect(parseRedisUrl(url)).toEqual({ kind: 'standalone', url });
  });
});

describe('parseRedisUrl: cluster', () => {
  it('reads every seed node', () => {
    expect(parseRedisUrl('redis+cluster://127.0.0.1:7000,127.0.0.1:7001,10.0.0.3:7002')).toEqual({
      kind: 'cluster',
      tls: false,
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
        { host: '10.0.0.3', port: 7002 },
      ],
    });
  });

  it('takes TLS from rediss+cluster and percent-decodes credentials', () => {
    expect(parseRedisUrl('rediss+cluster://app%3Aone:p%40ss%2Fw0rd@redis-a.internal:6380,redis-b.internal')).toEqual({
      kind: 'cluster',
      tls: true,
      username: 'app:one',
      password: 'p@ss/w0rd',
      nodes: [
        { host: 'redis-a.internal', port: 6380 },
        { host: 'redis-b.internal', port: 6379 },
      ],
    });
  });

  it('reads a password alone, a username alone, IPv6 hosts, and drops a repeated node', () => {
    expect(parseRedisUrl('redis+cluster://:pw@[::1]:7000,[fe80::1%25eth0]:7001,[::1]:7000')).toEqual({
      kind: 'cluster',
      tls: false,
      password: 'pw',
      nodes: [
        { host: '::1', port: 7000 },
        { host: 'fe80::1%25eth0', port: 7001 },
      ],
    });
    expect(parseRedisUrl('redis+cluster://reader@h:1')).toMatchObject({ username: 'reader', nodes: [{ host: 'h', port: 1 }] });
    expect(parseRedisUrl('redis+cluster://[::1]')).toMatchObject({ nodes: [{ host: '::1', port: 6379 }] });
  });

  it('uses the last @ so an unencoded @ in the password still works', () => {
    expect(parseRedisUrl('redis+cluster://u:a@b@h:7000')).toMatchObject({
      username: 'u',
      password: 'a@b',
      nodes: [{ host: 'h', port: 7000 }],
    });
  });

  it('accepts a bare trailing slash but no database or query', () => {
    expect(parseRedisUrl('redis+cluster://h:7000/')).toMatchObject({ kind: 'cluster', nodes: [{ host: 'h', port: 7000 }] });
    expect(() => parseRedisUrl('redis+cluster://h:7000/1')).toThrow(/takes no path/);
    expect(() => parseRedisUrl('redis+cluster://h:7000?x=1')).toThrow(/no query parameters/);
  });
});

describe('parseRedisUrl: sentinel', () => {
  it('reads sentinels, master name and default port 26379', () => {
    expect(parseRedisUrl('redis+sentinel://10.0.0.1:26379,10.0.0.2,sentinel-3:26380/mymaster')).toEqual({
      kind: 'sentinel',
      tls: false,
      name: 'mymaster',
      db: 0,
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: 'sentinel-3', port: 26380 },
      ],
    });
  });

  it('reads credentials, db, TLS and the sentinels own credentials', () => {
    expect(parseRedisUrl('rediss+sentinel://default:s3cret@s1:26379/prod%20master/3?sentinelUsername=sent&sentinelPassword=x%26y')).toEqual(
      {
        kind: 'sentinel',
        tls: true,
        name: 'prod master',
        db: 3,
        username: 'default',
        password: 's3cret',
        sentinelUsername: 'sent',
        sentinelPassword: 'x&y',
        sentinels: [{ host: 's1', port: 26379 }],
      },
    );
  });

  it('needs a master name, and refuses unknown parameters', () => {
    expect(() => parseRedisUrl('redis+sentinel://s1:26379')).toThrow(/master name/);
    expect(() => parseRedisUrl('redis+sentinel://s1:26379/')).toThrow(/master name/);
    expect(() => parseRedisUrl('redis+sentinel://s1/m/x')).toThrow(/database must be a number/);
    expect(() => parseRedisUrl('redis+sentinel://s1/m/1/2')).toThrow(/masterName/);
    expect(() => parseRedisUrl('redis+sentinel://s1/m/')).toThrow(/masterName/);
    expect(() => parseRedisUrl('redis+sentinel://s1/m?sentinelPasword=x')).toThrow(/unknown query parameter "sentinelPasword"/);
    expect(() => parseRedisUrl('redis+sentinel://s1/m?sentinelPassword=a&sentinelPassword=b')).toThrow(/given twice/);
  });
});

describe('parseRedisUrl: errors', () => {
  it.each([
    ['http://h:1', /must start with redis:\/\//],
    ['redis+cluster://', /names no host/],
    ['redis+cluster://h:0', /bad port/],
    ['redis+cluster://h:65536', /bad port/],
    ['redis+cluster://h:12ab', /bad port/],
    ['redis+cluster://h:7000,,h:7001', /bad host/],
    ['redis+cluster://h_:7000', /bad host/],
    ['redis+cluster://::1:7000', /IPv6 host in brackets/],
    ['redis+cluster://[::1:7000', /unclosed \[/],
    ['redis+cluster://[zz]:7000', /bad IPv6/],
    ['redis+cluster://[::1]x', /bad host/],
    ['redis+cluster://h:7000#frag', /fragment/],
  ])('rejects %s', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('is bad input that names REDIS_URL and never repeats a password', () => {
    let err: unknown;
    try {
      parseRedisUrl('redis+cluster://u:hunter2%zz@h:7000');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RedisUrlError);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^invalid REDIS_URL: .*percent-encoding in the password/);
    expect((err as Error).message).not.toContain('hunter2');
  });
});

describe('REDIS_URL in the config', () => {
  it.each([
    'redis://127.0.0.1:6379',
    'rediss://h:6380',
    'redis+cluster://127.0.0.1:7000,127.0.0.1:7001',
    'rediss+cluster://h:7000',
    'redis+sentinel://s1:26379,s2:26379/mymaster',
    'rediss+sentinel://s1/mymaster',
  ])('accepts %s', (url) => {
    expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
  });

  it.each(['http://h', 'redis+foo://h', 'cluster://h', 'redis+cluster:/h'])('rejects %s with one line naming it', (url) => {
    expect(() => loadConfig({ REDIS_URL: url })).toThrow(InputError);
    expect(() => loadConfig({ REDIS_URL: url })).toThrow(new RegExp(`invalid REDIS_URL=${JSON.stringify(url).replace(/[+/]/g, '\\$&')}`));
  });
});

describe('reconnect backoff', () => {
  it('doubles from 100 ms to a 500 ms cap, less up to a fifth at random', async () => {
    const { backoffMs } = await import('../../src/shared/redis.js');
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffMs(n, () => 0))).toEqual([100, 200, 400, 500, 500, 500]);
    expect(backoffMs(50, () => 1)).toBe(400);
  });
});
