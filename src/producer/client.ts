import { explainRefusals } from './refusals.js';
import type { Redis } from 'ioredis';
import { systemClock } from '../shared/clock.js';
import { loadConfig, type Config } from '../shared/config.js';
import { ConflictError, InputError, NotFoundError, SettledError, TimeoutError } from '../shared/errors.js';
import { EventStore, isLive, PAGE_ORDERS, type PageOrder } from '../shared/event-store.js';
import type { StoredEvent } from '../shared/events.js';
import { daemonProblem, type DaemonAsk } from '../shared/daemon.js';
import { readHosts, type HostInfo } from '../shared/hosts.js';
import { fleetView, type FleetView } from '../shared/fleet-view.js';
import { newId } from '../shared/ids.js';
import { JobQueues } from '../shared/job-queues.js';
import { makeKeys, type Keys } from '../shared/keys.js';
import {
  FINAL_STATES,
  HostIdSchema,
  mayRestart,
  ProcessIdSchema,
  StartSpecSchema,
  StateSchema,
  StopOptionsSchema,
  type ProcessRecord,
  type StartSpec,
  type State,
  type StopOptions,
} from '../shared/record.js';
import { parseInput } from '../shared/input.js';
import { reduce } from '../shared/reducer.js';
import { requestStart, requestStop, type RequestDeps } from '../shared/requests.js';
import { hostLookup } from '../shared/pinned-host.js';
import { connect } from '../shared/redis.js';
import { readUsage, type UsageEntry } from '../shared/usage.js';
import { streamField } from '../shared/stream-fields.js';
import { StreamReader } from './stream-reader.js';
import { Admin } from './admin.js';
import type { ClientInternals } from './client-internals.js';
import { oversize, specLimits, type SpecLimits } from '../shared/spec-size.js';
import type { DeployRecord, DeployRequest } from '../shared/deploy.js';
import { DeployStore, type StoredDeployEvent } from '../shared/deploy-store.js';
import { Deploys, type ApplyResult, type ServiceDetail, type ServiceInfo } from './deploys.js';

export interface ClientOptions {
  redisUrl?: string;
  prefix?: string;
  /** Defaults for what the environment does not say (REAPQ_DEFAULT_GRACE_MS, ...). */
  env?: NodeJS.ProcessEnv;
}

export interface ListFilter {
  state?: State;
  host?: string;
}

export interface PageQuery extends ListFilter {
  /** Where the previous page ended (its `cursor`); absent for the first page. */
  cursor?: string;
  /** Records per page (default 100, at most 1000). */
  limit?: number;
  /** Creation order: 'oldest' first (the default) or 'newest' first. */
  order?: PageOrder;
}

export interface Page {
  records: ProcessRecord[];
  /** Records of this page that could not be read (left out of `records`), by id with the first problem. */
  corrupt: Array<{ id: string; problem: string }>;
  /** Pass as `cursor` for the next page; null after the last one. */
  cursor: string | null;
}

const StrictStartSpec = StartSpecSchema.strict();
const StrictStopOptions = StopOptionsSchema.strict();

/** A malformed id is bad input (HTTP 400, CLI exit 2), never a lookup that finds nothing. */
/** One output line of a process and when its worker shipped it (epoch ms, from the stream entry's id). */
export interface LogEntry {
  at: number;
  line: string;
}

const stampMs = (stamp: string): number => Number(stamp.split('-')[0]);

function checkId(id: unknown): void {
  parseInput(ProcessIdSchema, id, `invalid id ${JSON.stringify(id)}`);
}

/**
 * What a backend uses: every call validates its input with the schemas the worker uses,
 * writes an event, and enqueues a job. It never signals anything itself.
 */
export class ReapqClient {
  private readonly config: Config;
  private readonly keys: Keys;
  private readonly store: EventStore;
  private readonly versions: FleetView;
  private readonly redis: Redis;
  private connectionError: Error | undefined;
  private readonly jobs: JobQueues;
  private readonly requests: RequestDeps;
  private reader: StreamReader | null = null;
  /**
   * Records this client's own start(), stop() and waitFor() just returned, by id, with when
   * (monotonic ms): a waitFor that follows at once (the backend's start-then-wait)
   * subscribes from that version instead of reading the record again, and a stop that
   * follows a wait appends on it (its version check still guards the append). Only for a
   * moment: the stream a wait subscribes to still holds every later entry then (a finished
   * record's stream is compacted a minute after it ends, never sooner).
   */
  private readonly justWritten = new Map<string, { rec: ProcessRecord; at: number }>();
  private readonly limits: SpecLimits;
  private readonly deploys: Deploys;

  constructor(opts: ClientOptions = {}) {
    // Options go through the same validation as the environment they stand in for.
    const env = { ...(opts.env ?? process.env) };
    if (opts.redisUrl) env.REDIS_URL = opts.redisUrl;
    if (opts.prefix) env.REAPQ_PREFIX = opts.prefix;
    this.config = loadConfig(env);
    this.limits = specLimits(env);
    this.keys = makeKeys(this.config.prefix);
    this.redis = connect(this.config.redisUrl, 'command');
    // Connection errors reach callers as rejected commands; without a listener ioredis
    // would also print each reconnect attempt.
    this.redis.on('error', (e: Error) => (this.connectionError = e));
    // One copy of what the fleet reads, for process and deploy events alike.
    this.versions = fleetView(this.redis, this.keys, this.config.heartbeatMs);
    this.store = new EventStore(this.redis, this.keys, this.config.globalEventsMax, Date.now, undefined, {
      replicas: this.config.waitReplicas,
      timeoutMs: this.config.waitTimeoutMs,
    }).writeFor(this.versions);
    this.jobs = new JobQueues(this.redis, this.keys, this.versions);
    this.requests = {
      store: this.store,
      jobs: this.jobs,
      defaultGraceMs: this.config.defaultGraceMs,
      hosts: { of: hostLookup(this.redis, this.keys.hosts) },
    };
    const inner: ClientInternals = {
      config: this.config,
      keys: this.keys,
      store: this.store,
      connection: this.redis,
      jobs: this.jobs,
      queue: (name) => this.jobs.queue(name),
      onQueue: (name, fn) => this.jobs.on(name, fn),
      streams: () => this.streams,
    };
    internals.set(this, inner);
    this.admin = new Admin(inner);
    this.deploys = new Deploys({
      store: this.store,
      keys: this.keys,
      limits: this.limits,
      deploys: new DeployStore(this.redis, this.keys).writeFor(this.versions),
      jobs: this.jobs,
      streams: () => this.streams,
      checkDaemon: (spec, what) => this.checkDaemon(spec, what),
    });
  }

  /**
   * Queues a deploy of a service: a new revision of `replicas` processes with this start
   * spec replaces the active one (`start-first`: new ready, then old stopped and verified
   * gone, one replica at a time; `stop-first`: old gone, then new), or is stopped and
   * leaves the previous one serving (`rolled_back`). Resolves once queued.
   */
  deploy(req: DeployRequest): Promise<DeployRecord> {
    return this.deploys.deploy(req);
  }

  /** Resolves with the deploy once it is over; its `state` says how (`succeeded`, `rolled_back`, `superseded`). */
  waitForDeploy(id: string, opts: { timeoutMs?: number } = {}): Promise<DeployRecord> {
    return this.deploys.waitFor(id, opts);
  }

  getDeploy(id: string): Promise<DeployRecord> {
    return this.deploys.get(id);
  }

  /** A deploy's events so far: every step, answerable after the fact. */
  deployEvents(id: string, afterVersion = 0): Promise<StoredDeployEvent[]> {
    return this.deploys.events(id, afterVersion);
  }

  /** A deploy's events as they happen, from a version on; ends after its final event. */
  followDeploy(id: string, afterVersion = 0, signal?: AbortSignal): AsyncGenerator<StoredDeployEvent> {
    return this.deploys.follow(id, afterVersion, signal);
  }

  services(): Promise<ServiceInfo[]> {
    return this.deploys.services();
  }

  /** One service with its deploy history (newest first); NotFoundError `no service NAME`. */
  service(name: string): Promise<ServiceDetail> {
    return this.deploys.service(name);
  }

  /** Deploys the spec of the revision before the active one again. */
  rollback(name: string): Promise<DeployRecord> {
    return this.deploys.rollback(name);
  }

  /** Replaces every replica of a service with a fresh one of the same spec (a start-first deploy). */
  restartService(name: string): Promise<DeployRecord> {
    return this.deploys.restart(name);
  }

  /**
   * Queues a scale of a service's active revision to `replicas` (after the deploys queued
   * before it): its replicas are left alone; more start with the same spec, or the
   * highest-numbered ones stop. Resolves with the deploy record (`kind: 'scale'`).
   */
  scale(name: string, replicas: number): Promise<DeployRecord> {
    return this.deploys.scale(name, replicas);
  }

  /** Queues the stop of a service's active revision (after the deploys queued before it). */
  stopService(name: string): Promise<DeployRecord> {
    return this.deploys.stop(name);
  }

  /** Deploys each service of a file whose spec changed (see Deploys.apply); `prune` stops the ones not in it. */
  apply(services: readonly unknown[], opts: { prune?: boolean } = {}): Promise<ApplyResult[]> {
    return this.deploys.apply(services, opts);
  }

  /** Removes one finished record with its events and logs; refused (ConflictError) while it may still run. */
  async delete(id: string): Promise<void> {
    checkId(id);
    const rec = await this.store.mustGet(id);
    if (isLive(rec))
      throw new ConflictError(`${id} is ${rec.state}${mayRestart(rec) ? ' with a restart to come' : ''}: stop it before deleting it`);
    if (!(await this.store.remove(rec))) throw new ConflictError(`${id} changed while it was being deleted: try again`);
  }

  /** Operator actions (drain, prune, reconcile, fleet reads) the CLI, api and dashboard use. */
  readonly admin: Admin;

  /** The last error of the Redis connection (what a failed call's message may not say). */
  get lastConnectionError(): Error | undefined {
    return this.connectionError;
  }

  /** Where this host keeps process logs (REAPQ_DATA_DIR). */
  get dataDir(): string {
    return this.config.dataDir;
  }

  /** Resolves once the request is recorded (state `pending`). The same id twice is one process. */
  async start(spec: StartSpec): Promise<ProcessRecord> {
    // Strict, as the HTTP body is: a misspelt field (`restartPolicy`) is an error, not dropped.
    const s = parseInput(StrictStartSpec, spec, 'invalid start');
    const tooBig = oversize(this.limits, s.command, s.env ?? {});
    if (tooBig) throw new InputError(`invalid start: ${tooBig}`);
    await this.checkDaemon(s, 'invalid start');
    const { id, ...rest } = s;
    return this.remember(await requestStart(this.requests, id ?? newId('p'), rest, { fresh: id === undefined }));
  }

  /** A daemon that no host that may take it can follow is refused here, before anything is written. */
  private async checkDaemon(s: DaemonAsk, what: string): Promise<void> {
    if (!s.daemon && s.pidFile === undefined) return;
    const problem = daemonProblem(s, s.daemon && s.pidFile === undefined ? await this.hosts() : []);
    if (problem) throw new InputError(`${what}: ${problem}`);
  }

  /** Records the stop; a spawned process gets a stop job on its host's queue, a queued start is withdrawn. */
  async stop(id: string, opts: StopOptions = {}): Promise<ProcessRecord> {
    checkId(id);
    const o = parseInput(StrictStopOptions, opts, 'invalid stop');
    const rec = await requestStop(this.requests, id, o, this.recent(id));
    if (!rec) throw new NotFoundError(id);
    return this.remember(rec);
  }

  private remember(rec: ProcessRecord): ProcessRecord {
    const at = systemClock.mono();
    this.justWritten.delete(rec.id);
    this.justWritten.set(rec.id, { rec, at });
    // Oldest first (insertion order): drop what is too old to be used, and any excess.
    for (const [id, w] of this.justWritten) {
      if (at - w.at < JUST_WRITTEN_MS && this.justWritten.size <= JUST_WRITTEN_MAX) break;
      this.justWritten.delete(id);
    }
    return rec;
  }

  /** The record this client wrote or waited for a moment ago, taken (used once); undefined when there is none. */
  private recent(id: string): ProcessRecord | undefined {
    const w = this.justWritten.get(id);
    this.justWritten.delete(id);
    return w && systemClock.mono() - w.at < JUST_WRITTEN_MS ? w.rec : undefined;
  }

  async get(id: string): Promise<ProcessRecord> {
    checkId(id);
    return this.store.mustGet(id);
  }

  async list(filter: ListFilter = {}): Promise<ProcessRecord[]> {
    if (filter.state !== undefined) parseInput(StateSchema, filter.state, 'invalid state');
    if (filter.host !== undefined) parseInput(HostIdSchema, filter.host, 'invalid host');
    const recs = filter.host ? await this.store.ofHost(filter.host) : await this.store.all();
    return recs.filter((r) => !filter.state || r.state === filter.state);
  }

  /**
   * One page of records in creation order (oldest first, or newest first with
   * `order: 'newest'`). Its cost follows `limit`, not the history kept: `reapq ls` and
   * the dashboard read pages. With a filter, pages are
   * read until `limit` records match, at most 10 pages' worth, so a page may come back
   * short with a cursor still to follow.
   */
  async listPage(q: PageQuery = {}): Promise<Page> {
    if (q.state) parseInput(StateSchema, q.state, 'invalid state');
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new InputError(`invalid limit ${JSON.stringify(q.limit)}: a whole number from 1 to 1000`);
    const order = q.order ?? 'oldest';
    if (!PAGE_ORDERS.includes(order)) throw new InputError(`invalid order ${JSON.stringify(q.order)}: oldest or newest`);
    const records: ProcessRecord[] = [];
    const corrupt: Page['corrupt'] = [];
    let cursor: string | null = q.cursor ?? null;
    let scanned = 0;
    do {
      const page = await this.store.page(cursor ?? undefined, limit - records.length, order);
      scanned += page.records.length + page.corrupt.length;
      corrupt.push(...page.corrupt);
      for (const r of page.records) if ((!q.state || r.state === q.state) && (!q.host || r.host === q.host)) records.push(r);
      cursor = page.cursor;
    } while (cursor && records.length < limit && scanned < limit * 10);
    return { records, corrupt, cursor };
  }

  /**
   * Cgroup usage (CPU, memory, peak, processes) of these records' current runs, as their
   * workers last read it; records in process mode, or not read yet, are absent.
   */
  async usage(recs: ReadonlyArray<Pick<ProcessRecord, 'id' | 'runId'>>): Promise<Map<string, UsageEntry>> {
    return readUsage(
      this.redis,
      this.keys.usage,
      recs.map((r) => r.id),
      new Map(recs.map((r) => [r.id, r.runId])),
    );
  }

  /** Every host that ever sent a heartbeat, with whether it is still alive. */
  hosts(): Promise<HostInfo[]> {
    return readHosts(this.redis, this.keys.hosts);
  }

  async events(id: string, afterVersion = 0): Promise<StoredEvent[]> {
    checkId(id);
    const evs = await this.store.readEvents(id, afterVersion);
    if (evs.length === 0 && afterVersion === 0) await this.store.mustGet(id);
    return evs;
  }

  /** Yields events as they are appended, from a version on; ends when the signal aborts. */
  async *follow(id: string, afterVersion = 0, signal?: AbortSignal): AsyncGenerator<StoredEvent> {
    checkId(id);
    let after = afterVersion;
    // Subscribed before the catch-up read, so nothing appended in between is missed.
    const sub = this.streams.subscribe(this.keys.stream(id), `${after}-0`);
    try {
      for (const e of await this.store.readEvents(id, after)) {
        after = e.version;
        yield e;
      }
      while (!signal?.aborted && !sub.closed) {
        for (const { id: sid, fields } of await sub.next(60_000, signal)) {
          const e = EventStore.decodeEntry(sid, fields);
          if (e.version <= after) continue;
          after = e.version;
          yield e;
        }
      }
    } finally {
      sub.close();
    }
  }

  /** The last `lines` output lines of a process, shipped to Redis by its worker, oldest first. */
  async logs(id: string, lines = 100): Promise<string[]> {
    return (await this.logEntries(id, lines)).map((e) => e.line);
  }

  /** As logs(), each line with `at`: epoch ms when its worker shipped it (within a moment of its writing). */
  async logEntries(id: string, lines = 100): Promise<LogEntry[]> {
    checkId(id);
    await this.store.mustGet(id);
    if (lines <= 0) return [];
    const rows = await this.redis.xrevrange(this.keys.logs(id), '+', '-', 'COUNT', lines);
    return rows.reverse().map(([stamp, f]) => ({ at: stampMs(stamp), line: streamField(f, 'l') ?? '' }));
  }

  /** Yields output lines as they are shipped, starting after the current end. */
  async *followLogs(id: string, signal?: AbortSignal): AsyncGenerator<string> {
    for await (const e of this.followLogEntries(id, signal)) yield e.line;
  }

  /** As followLogs(), each line with when it was shipped. */
  async *followLogEntries(id: string, signal?: AbortSignal): AsyncGenerator<LogEntry> {
    checkId(id);
    await this.store.mustGet(id);
    const key = this.keys.logs(id);
    const [last] = await this.redis.xrevrange(key, '+', '-', 'COUNT', 1);
    for await (const { id: stamp, fields: f } of this.streams.entries(key, last?.[0] ?? '0-0', signal))
      yield { at: stampMs(stamp), line: streamField(f, 'l') ?? '' };
  }

  /**
   * Resolves with the record once it is in one of `states`. Rejects when it settles in a
   * final state it cannot leave (no restart will come) or when the timeout passes. Waits on
   * the record's stream, so a change is seen when it is written, not at the next poll.
   */
  async waitFor(id: string, states: State | State[], opts: { timeoutMs?: number } = {}): Promise<ProcessRecord> {
    checkId(id);
    const want = new Set(Array.isArray(states) ? states : [states]);
    for (const s of want) parseInput(StateSchema, s, 'invalid state');
    const timeoutMs = opts.timeoutMs ?? 60_000;
    // Monotonic: a wall-clock step must not cut or stretch the wait.
    const deadline = systemClock.mono() + timeoutMs;
    let rec = this.recent(id) ?? (await this.store.mustGet(id));
    if (want.has(rec.state)) return this.remember(rec);
    // Any new entry of the record's stream means a new version: read the record again.
    const sub = this.streams.subscribe(this.keys.stream(id), `${rec.version}-0`);
    try {
      for (;;) {
        if (want.has(rec.state)) return this.remember(rec);
        if (FINAL_STATES.has(rec.state) && !mayRestart(rec)) {
          throw new SettledError(rec, [...want]);
        }
        const left = deadline - systemClock.mono();
        if (left <= 0)
          throw new TimeoutError(`timed out waiting for ${id} to be ${[...want].join('|')}; it is ${rec.state}`, timeoutMs, rec);
        if (sub.closed) throw new TimeoutError(`client closed while waiting for ${id}`, timeoutMs, rec);
        rec = await this.advance(id, rec, await sub.next(Math.min(left, 5000)));
      }
    } finally {
      sub.close();
    }
  }

  /**
   * The record after the stream entries a wait received: folded locally with the reducer
   * the writers used (the entries are the next versions, so the result is what Redis
   * holds, without a read per event). Anything else, or no entry within 5 s, reads it
   * again: a record removed and made anew under the same id, or a Redis that lost data, is
   * seen that way too.
   */
  private async advance(id: string, rec: ProcessRecord, entries: Array<{ id: string; fields: string[] }>): Promise<ProcessRecord> {
    let next = rec;
    for (const { id: sid, fields } of entries) {
      let e: StoredEvent;
      try {
        e = EventStore.decodeEntry(sid, fields);
      } catch {
        return this.store.mustGet(id);
      }
      if (e.version <= next.version) continue;
      const res = e.version === next.version + 1 ? reduce(next, e.event, id) : null;
      if (!res?.ok) return this.store.mustGet(id);
      next = res.record;
    }
    return entries.length > 0 ? next : this.store.mustGet(id);
  }

  /**
   * The process's one blocking reader: every wait, follow and event stream of this client
   * shares its single connection (see stream-reader.ts).
   */
  private get streams(): StreamReader {
    return (this.reader ??= new StreamReader(this.redis));
  }

  async close(): Promise<void> {
    this.reader?.close();
    this.reader = null;
    await this.jobs.close();
    await this.store.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** How long a record this client wrote stands in for a read by waitFor, and how many are kept. */
const JUST_WRITTEN_MS = 1000;
const JUST_WRITTEN_MAX = 10_000;

const internals = new WeakMap<ReapqClient, ClientInternals>();

/**
 * A client's connection, keys and store, for this package's own modules and tests; not
 * exported by the package (src/index.ts), so users see only the methods.
 */
export function internalsOf(client: ReapqClient): ClientInternals {
  return internals.get(client)!;
}

// What Redis refuses (maxmemory, a read-only replica, ...) reaches callers as a RedisRefusedError that says what to do.
explainRefusals(ReapqClient.prototype, (c) => internalsOf(c).connection);
