/**
 * REDIS_URL -> what to connect to. Pure: no I/O, so every form is unit-tested.
 *
 *   redis://[user:pass@]host:port[/db]            one Redis, passed to ioredis unchanged
 *   rediss://...                                  the same over TLS
 *   redis+cluster://[user:pass@]h1:p1,h2:p2       Redis Cluster; any reachable nodes seed the
 *   rediss+cluster://...                          topology (port default 6379), TLS with rediss
 *   redis+sentinel://[user:pass@]h1:26379,h2:26379/<masterName>[/<db>]
 *   rediss+sentinel://...                         Sentinel (port default 26379); TLS to the
 *                                                 sentinels and to the master with rediss
 *
 * Credentials in the URL authenticate to the data nodes (the cluster's nodes, or Sentinel's
 * master); they are percent-decoded. Sentinels with an ACL of their own take
 * `?sentinelUsername=...&sentinelPassword=...`. Anything else in the query, a path on a
 * cluster URL (a cluster has only db 0) or a malformed node is an error, so a typo fails
 * at boot instead of connecting somewhere unexpected. Errors never repeat the credentials.
 */

import { InputError } from './errors.js';

export interface RedisNode {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'standalone'; url: string }
  | {
      kind: 'cluster';
      nodes: RedisNode[];
      tls: boolean;
      username?: string;
      password?: string;
    }
  | {
      kind: 'sentinel';
      sentinels: RedisNode[];
      /** The master name the sentinels monitor. */
      name: string;
      db: number;
      tls: boolean;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
    };

/** A REDIS_URL that cannot be used: bad input (CLI exit code 2), raised before connecting. */
export class RedisUrlError extends InputError {
  override name = 'RedisUrlError';
  constructor(reason: string) {
    super(`invalid REDIS_URL: ${reason}`);
  }
}

const SCHEME = /^(rediss?)(?:\+(cluster|sentinel))?:\/\//i;
const DEFAULT_PORT = { cluster: 6379, sentinel: 26379 } as const;
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._-]+)?$/;
const SENTINEL_QUERY = new Set(['sentinelUsername', 'sentinelPassword']);

export function parseRedisUrl(url: string): RedisTarget {
  const m = SCHEME.exec(url);
  if (!m)
    throw new RedisUrlError(
      'Redis URL must start with redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://',
    );
  const mode = m[2]?.toLowerCase() as 'cluster' | 'sentinel' | undefined;
  // A single Redis keeps exactly the behaviour it had: ioredis parses the URL itself.
  if (!mode) return { kind: 'standalone', url };
  const tls = m[1]!.toLowerCase() === 'rediss';
  const scheme = m[0].slice(0, -3);

  let rest = url.slice(m[0].length);
  const hash = rest.indexOf('#');
  if (hash >= 0) throw new RedisUrlError(`${scheme} URL must not have a #fragment`);
  let query = '';
  const q = rest.indexOf('?');
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  const slash = rest.indexOf('/');
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash + 1) : '';

  const at = authority.lastIndexOf('@');
  const auth = at >= 0 ? parseUserInfo(authority.slice(0, at), scheme) : {};
  const nodes = parseNodes(authority.slice(at + 1), DEFAULT_PORT[mode], scheme);
  const params = parseQuery(query, scheme);

  if (mode === 'cluster') {
    if (path !== '') throw new RedisUrlError(`${scheme} URL takes no path: a cluster has only database 0`);
    if (params.size > 0) throw new RedisUrlError(`${scheme} URL takes no query parameters (got ${[...params.keys()].join(', ')})`);
    return { kind: 'cluster', nodes, tls, ...auth };
  }

  const [rawName = '', rawDb, ...extra] = path.split('/');
  const name = decode(rawName, 'master name', scheme);
  if (name === '') throw new RedisUrlError(`${scheme} URL needs the master name as its path: ${scheme}://host:26379/mymaster`);
  if (extra.length > 0 || rawDb === '') throw new RedisUrlError(`${scheme} URL path is /<masterName>[/<db>]`);
  let db = 0;
  if (rawDb !== undefined) {
    if (!/^\d{1,5}$/.test(rawDb)) throw new RedisUrlError(`${scheme} URL: database must be a number, got ${JSON.stringify(rawDb)}`);
    db = Number(rawDb);
  }
  for (const k of params.keys()) {
    if (!SENTINEL_QUERY.has(k))
      throw new RedisUrlError(`${scheme} URL: unknown query parameter ${JSON.stringify(k)} (known: ${[...SENTINEL_QUERY].join(', ')})`);
  }
  const sentinelUsername = params.get('sentinelUsername');
  const sentinelPassword = params.get('sentinelPassword');
  return {
    kind: 'sentinel',
    sentinels: nodes,
    name,
    db,
    tls,
    ...auth,
    ...(sentinelUsername !== undefined && sentinelUsername !== '' ? { sentinelUsername } : {}),
    ...(sentinelPassword !== undefined && sentinelPassword !== '' ? { sentinelPassword } : {}),
  };
}

/** `user:pass`, `:pass` or `user` (ioredis reads a lone name as the username). */
function parseUserInfo(info: string, scheme: string): { username?: string; password?: string } {
  const colon = info.indexOf(':');
  const username = decode(colon >= 0 ? info.slice(0, colon) : info, 'username', scheme);
  const password = colon >= 0 ? decode(info.slice(colon + 1), 'password', scheme) : '';
  return { ...(username !== '' ? { username } : {}), ...(password !== '' ? { password } : {}) };
}

function parseNodes(list: string, defaultPort: number, scheme: string): RedisNode[] {
  if (list === '') throw new RedisUrlError(`${scheme} URL names no host: ${scheme}://host1:port1,host2:port2`);
  const nodes: RedisNode[] = [];
  const seen = new Set<string>();
  for (const entry of list.split(',')) {
    const node = parseNode(entry, defaultPort, scheme);
    const key = `${node.host}:${node.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    nodes.push(node);
  }
  return nodes;
}

function parseNode(entry: string, defaultPort: number, scheme: string): RedisNode {
  let host: string;
  let portText: string | undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0) throw new RedisUrlError(`${scheme} URL: unclosed [ in host ${JSON.stringify(entry)}`);
    host = entry.slice(1, close);
    const after = entry.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new RedisUrlError(`${scheme} URL: bad host ${JSON.stringify(entry)}`);
    portText = after === '' ? undefined : after.slice(1);
    if (!IPV6.test(host) || !host.includes(':')) throw new RedisUrlError(`${scheme} URL: bad IPv6 address ${JSON.stringify(entry)}`);
  } else {
    const parts = entry.split(':');
    if (parts.length > 2)
      throw new RedisUrlError(`${scheme} URL: write an IPv6 host in brackets, [::1]:6379 (got ${JSON.stringify(entry)})`);
    host = parts[0]!;
    portText = parts[1];
    if (!HOSTNAME.test(host)) throw new RedisUrlError(`${scheme} URL: bad host ${JSON.stringify(entry)}`);
  }
  if (portText === undefined) return { host, port: defaultPort };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new RedisUrlError(`${scheme} URL: bad port in ${JSON.stringify(entry)}`);
  return { host, port };
}

function parseQuery(query: string, scheme: string): Map<string, string> {
  const out = new Map<string, string>();
  if (query === '') return out;
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decode(eq >= 0 ? pair.slice(0, eq) : pair, 'query parameter', scheme);
    if (out.has(key)) throw new RedisUrlError(`${scheme} URL: query parameter ${JSON.stringify(key)} given twice`);
    out.set(key, eq >= 0 ? decode(pair.slice(eq + 1), `value of ${key}`, scheme) : '');
  }
  return out;
}

function decode(s: string, what: string, scheme: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    // The value itself may be a secret: say which part is wrong, never what it is.
    throw new RedisUrlError(`${scheme} URL: bad percent-encoding in the ${what}`);
  }
}

/**
 * The URL with its password (and a sentinelPassword in the query) replaced by `***`, for
 * messages and banners. A string that does not parse as a URL keeps only its scheme.
 */
export function redactRedisUrl(url: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url)?.[0];
  if (!scheme) return '***';
  let rest = url.slice(scheme.length);
  const q = rest.indexOf('?');
  let query = '';
  if (q >= 0) {
    query = rest.slice(q).replace(/([?&]sentinelPassword=)[^&#]*/gi, '$1***');
    rest = rest.slice(0, q);
  }
  // userinfo ends at the last '@' before the path; a password may itself hold '@' or '/'.
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const info = rest.slice(0, at);
    const colon = info.indexOf(':');
    const user = colon >= 0 ? info.slice(0, colon) : info;
    // A lone name before '@' is often a password written without ':': hide it too.
    rest = `${colon >= 0 ? `${user}:***` : '***'}${rest.slice(at)}`;
  }
  return `${scheme}${rest}${query}`;
}
