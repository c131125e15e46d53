import { z } from 'zod';
import { currentVersion, downcast, upcast, type RawEvent } from './event-versions.js';
import { mustDecodeStored } from './stored.js';
import { HostIdSchema, LimitsSchema, LogSettingsSchema, ReadySchema, RESTART_POLICIES } from './record.js';

/**
 * Every change of a managed process is one of these events, in the current shape of its
 * type. `v` is the version of its type's shape (src/shared/event-versions.ts): a reader
 * upcasts an older one and refuses a newer one with a clear error instead of guessing.
 * `at` is epoch milliseconds from the writer's clock.
 */
const base = { v: z.number().int().positive(), at: z.number().int().nonnegative() };
/**
 * The run an event is about. Every spawn of a record is a run with its own id; an event
 * for a run that is no longer the record's current one is refused (by the reducer and by
 * the append script), so a worker that woke up late can never settle someone else's run.
 * Optional: events written before runs existed, and events about no run, carry none.
 */
const run = { run: z.string().min(1).max(64).optional() };

const SpecInEvent = z.object({
  name: z.string().nullable(),
  command: z.array(z.string()).min(1),
  cwd: z.string().nullable(),
  env: z.record(z.string(), z.string()),
  port: z.union([z.literal('auto'), z.number().int()]).nullable(),
  restart: z.enum(RESTART_POLICIES),
  graceMs: z.number().int().nullable(),
  host: z.string().nullable(),
  ready: ReadySchema.nullable(),
  /** Set on the replicas of a deploy: the service and the revision they belong to. */
  service: z.string().nullable(),
  revision: z.number().int().nullable(),
  limits: LimitsSchema.nullable(),
  /**
   * Set when `reapq restart` of a plain process started this one in its place: the id it
   * replaces. Optional, not versioned: absent reads as none, and an older reader drops it.
   */
  restartOf: z.string().optional(),
  /** The start's own log rotation. Optional, not versioned, as restartOf: an older reader drops it and rotates as its host says. */
  logs: LogSettingsSchema.optional(),
  /** A replica that runs at most one copy (a deploy's atMostOne). Optional, not versioned, as restartOf: an older reader drops it. */
  atMostOne: z.boolean().optional(),
  /**
   * A daemon (start --daemon): its pid file, if any. Optional, not versioned, as logs: an
   * older reader drops it and runs the program as a plain process.
   */
  daemon: z.object({ pidFile: z.string().nullable() }).optional(),
});

export const EventSchema = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('start_requested'), spec: SpecInEvent }),
  /** A worker took the start job; its spawn is under way. */
  z.object({ ...base, ...run, type: z.literal('spawn_begun'), host: HostIdSchema, port: z.number().int().nullable() }),
  /** A start that cannot be carried out now (no free port, host full, Redis blip): retried after retryInMs. */
  z.object({
    ...base,
    type: z.literal('start_deferred'),
    host: HostIdSchema,
    reason: z.string(),
    retryInMs: z.number().int().nonnegative(),
  }),
  z.object({
    ...base,
    ...run,
    type: z.literal('spawned'),
    host: HostIdSchema,
    pid: z.number().int().positive(),
    pgid: z.number().int().positive(),
    sid: z.number().int().positive(),
    startTime: z.number().int().nonnegative(),
    bootId: z.string(),
    port: z.number().int().nullable(),
    /** Cgroup mode: the run's leaf cgroup (v2 path, as /proc/<pid>/cgroup names it). */
    cgroup: z.string().min(1).max(4096).optional(),
    /** The limits the run got: asked for, or the worker's defaults. */
    limits: LimitsSchema.optional(),
    /**
     * A daemon: pid and the rest are its main process, found once its launcher (launcherPid)
     * exited 0, from its pid file or its tree. Optional, not versioned: an older reader drops it.
     */
    daemon: z.object({ from: z.enum(['pid-file', 'tree']), launcherPid: z.number().int().positive() }).optional(),
  }),
  z.object({ ...base, ...run, type: z.literal('spawn_failed'), host: HostIdSchema, error: z.string() }),
  /**
   * A pending start nothing will ever carry out: the host it is pinned to is unknown or
   * dead. It ends `failed` (endReason `spawn-failed`) with the reason, never spawned.
   */
  z.object({ ...base, type: z.literal('start_failed'), reason: z.string() }),
  z.object({ ...base, type: z.literal('stop_requested'), signal: z.string(), graceMs: z.number().int().nonnegative() }),
  /** A signal went to the group and/or escaped members. killDeadline: when SIGKILL follows (null when this was the SIGKILL). */
  z.object({
    ...base,
    ...run,
    type: z.literal('signal_sent'),
    signal: z.string(),
    pgid: z.number().int().nullable(),
    pids: z.array(z.number().int()),
    killDeadline: z.number().int().nullable(),
  }),
  /** The leader ended. code/signal are null when nobody saw its status (it died unwatched). */
  z.object({
    ...base,
    ...run,
    type: z.literal('exited'),
    code: z.number().int().nullable(),
    signal: z.string().nullable(),
    how: z.enum(['exited', 'signaled', 'unknown']),
  }),
  /** No process of the tree is left: group empty, no cookie-carrier. */
  z.object({ ...base, ...run, type: z.literal('stopped'), how: z.enum(['requested', 'escalated', 'leftovers', 'drift']) }),
  /** SIGKILL was sent but these pids survive (uninterruptible sleep). */
  z.object({ ...base, ...run, type: z.literal('kill_pending'), pids: z.array(z.number().int()) }),
  z.object({ ...base, ...run, type: z.literal('adopted'), host: HostIdSchema }),
  z.object({
    ...base,
    ...run,
    type: z.literal('drift'),
    kind: z.enum([
      'missed-exit',
      'leftovers',
      'alive-after-end',
      'pid-reused',
      'orphan',
      'host-lost',
      'stale-stop',
      'stale-run',
      // Members of the run outside its cgroup leaf (a root tenant moved them): detail names each pid, command and cgroup.
      'escaped',
    ]),
    detail: z.string(),
    pids: z.array(z.number().int()).default([]),
  }),
  z.object({ ...base, ...run, type: z.literal('lost'), reason: z.string() }),
  /** The kernel's OOM killer killed processes of the run's cgroup (kills: the total so far). */
  z.object({ ...base, ...run, type: z.literal('oom'), kills: z.number().int().positive(), limit: z.number().int().nullable() }),
  /**
   * Writing the run's log file failed (a full disk: ENOSPC; EIO): output the process wrote
   * meanwhile is lost, and the worker truncated the file to free the disk, dropping
   * `lostBytes` it had not shipped yet. Changes no state.
   */
  z.object({
    ...base,
    ...run,
    type: z.literal('log_lost'),
    error: z.string().min(1).max(32),
    lostBytes: z.number().int().nonnegative(),
    detail: z.string().max(1000),
  }),
  z.object({
    ...base,
    type: z.literal('restart_scheduled'),
    attempt: z.number().int().positive(),
    delayMs: z.number().int().nonnegative(),
  }),
  z.object({ ...base, type: z.literal('gave_up'), reason: z.string() }),
  /** The readiness check passed: only now is a process with a check `running`. */
  z.object({ ...base, ...run, type: z.literal('ready'), how: z.string() }),
  /** The readiness check never passed; its tree is stopped next. */
  z.object({ ...base, ...run, type: z.literal('not_ready'), reason: z.string() }),
  /**
   * `reapq fsck --repair` rewrote what disagreed with the events before this one (the
   * projection, an index, a lease): one line per change. It changes nothing of the record
   * but its version, so the fold of the stream is the repaired record.
   */
  z.object({ ...base, type: z.literal('repaired'), changed: z.array(z.string().max(1000)).max(200) }),
]);
export type ReapqEvent = z.infer<typeof EventSchema>;
export type EventType = ReapqEvent['type'];
/** Every event type this release knows. */
export const EVENT_TYPES: readonly EventType[] = EventSchema.options.map((o) => o.shape.type.value);
export type EventOf<T extends EventType> = Extract<ReapqEvent, { type: T }>;

/** Distributes Omit over the union so each member keeps its own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** What a writer hands to the store: `v` is added for it. */
export type NewEvent = DistributiveOmit<ReapqEvent, 'v'>;

/** What deciders return: the store stamps `v` and, when absent, `at`. */
export type EventDraft = DistributiveOmit<ReapqEvent, 'v' | 'at'> & { at?: number };

export function withVersion(e: EventDraft, now: number): ReapqEvent {
  return { ...e, at: e.at ?? now, v: currentVersion(e.type) } as ReapqEvent;
}

/** An event's JSON as stored, at the version of its type that writeVersion asks for (older readers may be about). */
export function encodeEvent(e: ReapqEvent, writeVersion: (type: EventType) => number): string {
  return JSON.stringify(downcast(e as unknown as RawEvent, writeVersion(e.type)));
}

/** An event as read back from a stream, with its position. */
export interface StoredEvent {
  id: string;
  /** Version of the record after this event: 1 for the first. */
  version: number;
  event: ReapqEvent;
}

/**
 * Parses an event read from Redis into the current shape of its type, upcasting an older
 * version; a newer version or an unknown type is a CorruptDataError that names it.
 */
export function decodeEvent(json: string): ReapqEvent {
  return mustDecodeStored(EventSchema, json, 'event', { upcast });
}
