import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { every, type Clock } from '../shared/clock.js';
import type { Config } from '../shared/config.js';
import type { Keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { luaScript } from '../shared/lua.js';
import { decodeStoredOrNull } from '../shared/stored.js';
import type { HostOs } from './host-os.js';

const CLAIM_LUA = luaScript('claim-host.lua');
const RENEW_LUA = luaScript('renew-host.lua');
const RELEASE_LUA = luaScript('release-host.lua');

/** Who serves a host id: what its lease key holds. */
export const LeaseHolderSchema = z.object({
  token: z.string(),
  pid: z.number().int(),
  machine: z.string(),
  bootId: z.string().nullable(),
  /** The holder's PID namespace (/proc/self/ns/pid): its pid means something only there. */
  pidNs: z.string().nullable(),
  /** Start time of pid (clock ticks since boot): a reused pid is not the holder. */
  startTime: z.number().nullable(),
  /** When it claimed the host id, on Redis' clock. */
  since: z.number(),
});
export type LeaseHolder = z.infer<typeof LeaseHolderSchema>;

/** What this worker can see of a holder from where it runs. */
export interface Here {
  bootId: string | null;
  pidNs: string | null;
  startTimeOf(pid: number): number | null;
}

/**
 * Pure: a holder that provably died, so its lease may be taken before it lapses: one of
 * this machine's boot and PID namespace whose pid is gone or now another process. From
 * anywhere else (another machine, another namespace) nothing is provable: wait for the lapse.
 */
export function provablyGone(h: LeaseHolder, here: Here): boolean {
  if (!h.bootId || !h.pidNs || h.bootId !== here.bootId || h.pidNs !== here.pidNs) return false;
  const now = here.startTimeOf(h.pid);
  return now === null || (h.startTime !== null && now !== h.startTime);
}

export class HostIdTakenError extends Error {
  constructor(hostId: string, h: LeaseHolder) {
    super(
      `host id ${hostId} is served by another live worker: pid ${h.pid} on ${h.machine} since ${new Date(h.since).toISOString()}; stop that worker or give this one another --host-id (REAPQ_HOST_ID)`,
    );
  }
}

export interface LeaseDeps {
  redis: Redis;
  /** keys.hostLease(hostId) */
  key: string;
  hostId: string;
  /** The lease lapses this long after its last renewal (the heartbeat's ttl). */
  ttlMs: number;
  os: HostOs;
  clock: Clock;
  log: Logger;
}

function here(os: HostOs): Here {
  let pidNs: string | null = null;
  try {
    pidNs = readlinkSync('/proc/self/ns/pid');
  } catch {
    // No namespace to tell: no holder can be shown dead, leases just lapse.
  }
  let bootId: string | null = null;
  try {
    bootId = os.table.bootId();
  } catch {
    // Likewise.
  }
  return { bootId, pidNs, startTimeOf: (pid) => os.table.stat(pid)?.startTime ?? null };
}

type ClaimReply = [1, string] | [0, string, number];

/**
 * Claims the host id before the worker touches anything of the host. A live holder's lease
 * is waited out once (a worker killed moments ago stops renewing it within its ttl); one
 * still renewed after that is another live worker: HostIdTakenError. A holder of this
 * machine shown dead is taken over at once.
 */
export async function claimHostId(deps: LeaseDeps): Promise<HostLease> {
  const me = here(deps.os);
  const token = randomBytes(12).toString('hex');
  const mine = JSON.stringify({
    token,
    pid: deps.os.selfPid,
    machine: hostname(),
    bootId: me.bootId,
    pidNs: me.pidNs,
    startTime: me.startTimeOf(deps.os.selfPid),
  });
  let waited = false;
  for (let takeOver = ''; ;) {
    const reply = (await deps.redis.eval(CLAIM_LUA, 1, deps.key, token, mine, deps.ttlMs, takeOver)) as ClaimReply;
    if (reply[0] === 1) return new HostLease(deps, reply[1]);
    const [, value, pttl] = reply;
    const holder = decodeStoredOrNull(LeaseHolderSchema, value, 'host lease');
    if (holder && provablyGone(holder, me) && takeOver !== value) {
      deps.log.warn({ holder: holder.pid }, 'host id held by a worker of this machine that is gone: taking it over');
      takeOver = value;
      continue;
    }
    if (waited && holder) throw new HostIdTakenError(deps.hostId, holder);
    waited = true;
    const waitMs = Math.max(0, pttl) + 100;
    deps.log.info(
      { holder: holder?.pid, machine: holder?.machine, waitMs },
      'host id held by another worker: waiting for its lease to lapse',
    );
    await deps.clock.sleep(waitMs);
  }
}

/** This worker's hold on its host id: renewed every beat, given up at a clean shutdown. */
export class HostLease {
  private timer: { cancel(): void } | null = null;
  private failing = false;
  private onLost: ((holder: string) => void) | null = null;
  private gone = false;

  constructor(
    private readonly deps: LeaseDeps,
    /** The lease's value as claimed: renewals and the release match it exactly. */
    readonly value: string,
  ) {}

  /**
   * Renews every `everyMs`. A lease another worker took (this one was away longer than
   * the ttl) calls `lost` once: this worker must stop serving the host id at once.
   */
  keep(everyMs: number, lost: (holder: string) => void): void {
    const { deps } = this;
    this.onLost = lost;
    this.timer = every(
      deps.clock,
      everyMs,
      () => {
        void (deps.redis.eval(RENEW_LUA, 1, deps.key, this.value, deps.ttlMs) as Promise<[number, string?]>).then(
          ([ok, found]) => {
            this.failing = false;
            if (ok === 1 || !this.timer) return;
            this.lost(found ?? '');
          },
          (err: Error) => {
            // One line per streak: during a Redis outage every beat fails, and the outage has its own line.
            if (!this.failing) deps.log.warn({ err: err.message }, 'host lease renewal failed');
            this.failing = true;
          },
        );
      },
      // What keeps a worker running is its queues and its processes, not this timer.
      { unref: true },
    );
  }

  /**
   * Another worker holds the host id now, as a renewal, a fenced heartbeat or a check
   * found: the keeper's `lost` is called once, whichever finds it first.
   */
  lost(holder: string): void {
    if (this.gone) return;
    this.gone = true;
    this.stop();
    this.onLost?.(holder);
  }

  /**
   * Before a pass acts on the host's processes: one read of the lease. A worker frozen
   * past its ttl (SIGSTOP, a VM paused) whose host id another worker took meanwhile learns
   * it here, before it adopts or stops anything, instead of at its next renewal. A lease
   * that lapsed with nobody taking it is still this worker's (the renewal puts it back).
   */
  async check(): Promise<void> {
    const cur = await this.deps.redis.get(this.deps.key);
    if (cur !== null && cur !== this.value) this.lost(cur);
    if (this.gone) throw new Error(`host id ${this.deps.hostId} is served by another worker now`);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  async release(): Promise<void> {
    this.stop();
    await this.deps.redis.eval(RELEASE_LUA, 1, this.deps.key, this.value);
  }
}

/**
 * One live worker per host id: claimed at boot (or refused with
 * who holds it), renewed every beat. One that finds its lease taken (it was away longer
 * than the ttl, and another worker took the host over) exits at once: the processes are
 * the new worker's now, and two workers adopting them would fight.
 */
export async function holdHostId(
  config: Config,
  log: Logger,
  d: { redis: Redis; keys: Keys; os: HostOs; clock: Clock },
): Promise<HostLease> {
  const deps = { ...d, key: d.keys.hostLease(config.hostId), hostId: config.hostId, ttlMs: config.heartbeatMs * 3, log };
  const lease = await claimHostId(deps).catch((err: unknown) => {
    d.redis.disconnect();
    throw err;
  });
  lease.keep(config.heartbeatMs, (found) => {
    log.error({ holder: found }, `host id ${config.hostId} was taken over by another worker while this one was away: exiting`);
    process.exit(1);
  });
  return lease;
}
