import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { decodeStoredOrNull } from '../shared/stored.js';
import { procStat } from './proc-stat.js';

/**
 * `<data dir>/dev.json`: which `reapq dev` owns a data dir and where it listens. It is the
 * lock that keeps a second dev off the same Redis data, and how a CLI run in the checkout
 * finds the dev Redis without REDIS_URL. A file whose process is gone is stale and ignored.
 */
export const DevInstanceSchema = z.object({
  pid: z.number().int(),
  /** Start time of pid in clock ticks since boot (/proc/PID/stat field 22): a reused pid is not us. */
  startTicks: z.number().int(),
  redisUrl: z.string().optional(),
  prefix: z.string().optional(),
  hostId: z.string().optional(),
  apiUrl: z.string().optional(),
});
export type DevInstance = z.infer<typeof DevInstanceSchema>;

export const DEV_FILE = 'dev.json';

function isLive(i: DevInstance): boolean {
  return procStat(i.pid)?.startTicks === i.startTicks;
}

function read(file: string): DevInstance | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  // A file that does not parse counts as none, as a stale one does.
  return decodeStoredOrNull(DevInstanceSchema, text, 'dev instance file');
}

/** The live dev instance of a data dir, or null. */
export function readDevInstance(dataDir: string): DevInstance | null {
  const v = read(join(dataDir, DEV_FILE));
  return v && isLive(v) ? v : null;
}

export class DevBusyError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: DevInstance,
  ) {
    super(
      `dev already runs on ${dataDir} (pid ${holder.pid}${holder.apiUrl ? `, dashboard ${holder.apiUrl}` : ''}): use it, stop it, or give this one another REAPQ_DATA_DIR`,
    );
  }
}

/**
 * Claims the data dir for this process: an exclusive create, so two devs starting at once
 * cannot both win; a stale file (its process gone) is replaced. Throws DevBusyError.
 */
export function claimDevInstance(dataDir: string): DevInstance {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, DEV_FILE);
  const me: DevInstance = { pid: process.pid, startTicks: procStat(process.pid)?.startTicks ?? 0 };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      return me;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = read(file);
    if (holder && isLive(holder)) throw new DevBusyError(dataDir, holder);
    rmSync(file, { force: true });
  }
  throw new Error(`could not claim ${file}: another reapq dev is starting on it`);
}

/** Rewrites our own file (atomically) once more is known: where Redis and the api listen. */
export function updateDevInstance(dataDir: string, info: DevInstance): void {
  const file = join(dataDir, DEV_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(info));
  renameSync(tmp, file);
}

/** Removes the file if it is still ours. */
export function releaseDevInstance(dataDir: string, me: DevInstance): void {
  const file = join(dataDir, DEV_FILE);
  const v = read(file);
  if (v && v.pid === me.pid && v.startTicks === me.startTicks) rmSync(file, { force: true });
}

/**
 * The dev instance a CLI run should use when REDIS_URL is unset: REAPQ_DATA_DIR's if that is
 * set, else `data/` of the current directory or of a parent up to the project root (the first
 * directory with a package.json), so `npx reapq ls` anywhere in the checkout finds it.
 */
export function findDevInstance(env: NodeJS.ProcessEnv, cwd: string): { dataDir: string; instance: DevInstance } | null {
  const candidates: string[] = [];
  if (env.REAPQ_DATA_DIR) candidates.push(resolve(cwd, env.REAPQ_DATA_DIR));
  else {
    for (let dir = resolve(cwd); ; dir = dirname(dir)) {
      candidates.push(join(dir, 'data'));
      if (existsSync(join(dir, 'package.json')) || dirname(dir) === dir) break;
    }
  }
  for (const dataDir of candidates) {
    const instance = readDevInstance(dataDir);
    if (instance?.redisUrl) return { dataDir, instance };
  }
  return null;
}
