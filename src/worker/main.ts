import { readableVersions } from '../shared/event-versions.js';
import { EVENT_TYPES } from '../shared/events.js';
import { DelayedError, type Job } from 'bullmq';
import type { Config } from '../shared/config.js';
import { InputError } from '../shared/errors.js';
import { writeUsage } from '../shared/usage.js';
import { DEFAULT_FORKERS, DEFAULT_START_CONCURRENCY } from '../shared/defaults.js';
import { EventStore } from '../shared/event-store.js';
import { parseJob } from '../shared/jobs.js';
import { JobQueues } from '../shared/job-queues.js';
import { makeKeys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import type { Redis } from 'ioredis';
import type { ProcessRecord } from '../shared/record.js';
import { connect } from '../shared/redis.js';
import { linuxOs, type HostOs } from './host-os.js';
import { Forker } from './forker.js';
import { LogShipper } from './log-shipper.js';
import { loadPolicy } from './policy.js';
import { PortAllocator } from './ports.js';
import { Reaper } from './reaper.js';
import { reconcileHost, type ReconcileReport } from './reconcile/execute.js';
import { clusterPass, type ClusterReport } from './reconcile/lost-hosts.js';
import { Controller } from './controller/controller.js';
import { probeCgroups, type ContainmentInfo, type ContainmentWish } from './cgroup/manager.js';
import { DeployStore } from '../shared/deploy-store.js';
import { DeployRunner } from './deploy/runner.js';
import { Consumers } from './consumers.js';

/** Every this many passes, reconcile also reads the records that ended lately (see reconcileHost). */
const SWEEP_EVERY = 10;
/**
 * How far before the previous sweep the next one reads, for ends recorded while it read.
 * Ends are scored by the clock of whoever recorded them: on a live host that is its own
 * worker; what another host records (a lost host's records) its boot pass reads anyway.
 */
const SWEEP_OVERLAP_MS = 10_000;

export interface WorkerOptions {
  /** Start jobs handled at once. */
  concurrency?: number;
  /** Live processes this host takes before leaving starts to other hosts. */
  maxProcesses?: number;
  /** Forker processes spawning in parallel. */
  forkers?: number;
  os?: HostOs;
  /** cgroup: every run in its own cgroup (refuses to start where impossible); process; auto (default): cgroup where possible. */
  containment?: ContainmentWish;
}

export interface WorkerHandle {
  readonly hostId: string;
  readonly controller: Controller;
  reconcile(): Promise<ReconcileReport>;
  clusterPass(): Promise<ClusterReport | null>;
  /** Stops taking work, finishes in-flight jobs, leaves managed processes running. */
  close(): Promise<void>;
}

export { VERSION } from '../shared/version.js';
import { VERSION } from '../shared/version.js';

/**
 * Boots a worker: becomes subreaper, recovers this host's processes from the record
 * before taking any job, then serves the shared start queue and its own host queue.
 */
export async function runWorker(config: Config, log: Logger, opts: WorkerOptions = {}): Promise<WorkerHandle> {
  // Before any connection: a bad policy must stop the worker at once, not leave it half up.
  const policy = loadPolicy(process.env);
  const os = opts.os ?? linuxOs;
  const keys = makeKeys(config.prefix);
  const hlog = log.child({ hostId: config.hostId });
  // Before the forker starts: it must be born where the worker ends up (delegation may move it).
  const wish = opts.containment ?? 'auto';
  const probed = wish === 'process' ? null : probeCgroups(`${config.prefix}@${config.hostId}`);
  if (wish === 'cgroup' && !probed?.manager) throw new InputError(`--containment cgroup is not possible here: ${probed?.info.reason}`);
  const cgroups = probed?.manager ?? null;
  if (
    !cgroups &&
    (Object.values(policy.limits.defaults).some((v) => v !== null) || Object.values(policy.limits.max).some((v) => v !== null))
  )
    throw new InputError(
      `REAPQ_DEFAULT_* and REAPQ_MAX_* limits need cgroup mode, which is not available: ${probed?.info.reason ?? 'asked for process mode'}`,
    );
  const containment: ContainmentInfo = probed?.info ?? { mode: 'process', reason: 'asked for process mode', limits: [], kill: null };
  if (cgroups) hlog.info({ containment }, 'cgroup mode: every run in its own cgroup');
  else hlog.info({ containment }, 'process mode: runs contained by process group, session and cookie');
  const redis = connect(config.redisUrl, 'command');
  // One line per outage, not one per reconnect attempt; processes keep running meanwhile.
  let redisDown = false;
  redis.on('error', (err) => {
    if (!redisDown) hlog.error({ err: err.message }, 'Redis unreachable: processes keep running, retrying with backoff');
    redisDown = true;
  });
  redis.on('ready', () => {
    if (redisDown) hlog.info('Redis reachable again: catching up');
    redisDown = false;
  });
  // Counted (reapq_corrupt_seen_total), so a record nobody reads the log for still shows.
  let corruptSeen = 0;
  const store = new EventStore(
    redis,
    keys,
    config.globalEventsMax,
    Date.now,
    (processId, problem) => {
      corruptSeen++;
      hlog.error({ processId, problem }, 'corrupt data: skipped');
    },
    { replicas: config.waitReplicas, timeoutMs: config.waitTimeoutMs },
  );
  // Background work never ends the worker: a rejection is logged with what it was for.
  const background = (what: string, ctx: Record<string, unknown>, p: Promise<unknown>) => {
    p.catch((err: unknown) => hlog.error({ ...ctx, err: (err as Error)?.message ?? String(err) }, `${what} failed`));
  };
  const onUnhandled = (err: unknown) =>
    hlog.error({ err: (err as Error)?.stack ?? String(err) }, 'unhandled rejection (a bug): the worker carries on');
  process.on('unhandledRejection', onUnhandled);
  const owner = `${config.prefix}/${config.hostId}`;
  const maxProcesses = opts.maxProcesses ?? policy.maxProcesses ?? Infinity;
  const jobs = new JobQueues(redis, keys);
  const enqueueStart = (rec: ProcessRecord, delayMs: number) => jobs.enqueueStart(rec, delayMs);
  const deployRunner = new DeployRunner({
    deploys: new DeployStore(redis, keys),
    store,
    log: hlog,
    owner,
    jobs,
    defaultGraceMs: config.defaultGraceMs,
    now: Date.now,
  });
  let subreaper = false;
  const shipper = new LogShipper(redis, keys, hlog, { maxLines: config.logLines, maxFileBytes: config.logMaxBytes, intervalMs: 250 });
  const ownChildren = new Set<number>();
  // The forker's callbacks run only after it has spawned something, by when sup exists.
  const forker = new Forker(
    { onExit: (id, pid, code, signal) => sup.forkedExit(id, pid, code, signal), onLost: () => sup.forkerLost() },
    hlog,
    ownChildren,
    opts.forkers ?? DEFAULT_FORKERS,
  );
  const sup: Controller = new Controller({
    config,
    owner,
    store,
    os,
    log: hlog,
    ports: new PortAllocator(redis, keys.ports(config.hostId), config.portRange),
    enqueueStart,
    now: Date.now,
    runnerEnv: process.env,
    policy,
    shipper,
    isSubreaper: () => subreaper,
    forker,
    ownChildren,
    background,
    cgroups,
    containment,
    saveUsage: (entries) => writeUsage(redis, keys.usage, entries),
  });
  const reaper = new Reaper(os.table, os.selfPid, sup.ownChildren);
  subreaper = reaper.becomeSubreaper();
  // After prctl, so the forker and everything it spawns are descendants of a subreaper
  // whatever the kernel version (before 4.11 only processes forked afterwards were marked).
  forker.start();
  if (subreaper) hlog.info('child subreaper set: orphaned descendants re-parent to this worker');
  else hlog.warn('could not become a child subreaper (koffi/prctl unavailable): escaped descendants go to init');

  // SIGCHLD tells us a child changed state; the sweep reaps only inherited zombies.
  let sweepQueued = false;
  const sweepSoon = () => {
    if (sweepQueued) return;
    sweepQueued = true;
    setImmediate(() => {
      sweepQueued = false;
      const pids = reaper.sweep();
      if (pids.length) hlog.debug({ pids }, 'reaped inherited zombies');
    });
  };
  process.on('SIGCHLD', sweepSoon);
  const sweepTimer = setInterval(sweepSoon, 1000);

  const rdeps = { controller: sup, store, os, reaper, log: hlog, hostId: config.hostId, owner, now: Date.now };
  const cdeps = {
    redis,
    store,
    keys,
    log: hlog,
    hostId: config.hostId,
    now: Date.now,
    enqueueStart,
    ensureStartJob: (rec: ProcessRecord) => jobs.ensureStart(rec),
    retentionMs: config.retentionMs,
  };
  const passes = { reconcilePasses: 0, reconcileMsTotal: 0 } as Record<string, number>;
  let lastSweepAt = Date.now();
  let lastPassAt = Date.now();
  const reconcile = async (full = false): Promise<ReconcileReport> => {
    const n = passes.reconcilePasses ?? 0;
    const sweep = full || n % SWEEP_EVERY === 0;
    const startedAt = Date.now();
    const report = await reconcileHost(rdeps, full ? { full: true } : sweep ? { finishedSince: lastSweepAt - SWEEP_OVERLAP_MS } : {});
    if (sweep) lastSweepAt = startedAt;
    lastPassAt = Date.now();
    // Usage figures are refreshed by the pass: one HSET for every run held here.
    if (cgroups)
      await writeUsage(redis, keys.usage, sup.usageSnapshot()).catch((err) =>
        hlog.warn({ err: (err as Error).message }, 'usage not stored'),
      );
    passes.reconcilePasses = (passes.reconcilePasses ?? 0) + 1;
    passes.reconcileMsTotal = (passes.reconcileMsTotal ?? 0) + report.durationMs;
    for (const a of report.actions) passes[`drift.${a.kind}`] = (passes[`drift.${a.kind}`] ?? 0) + 1;
    return report;
  };
  const recovery = await reconcile(true);
  hlog.info({ actions: recovery.actions.length, records: recovery.records }, 'recovered before taking work');

  let draining = false;
  let reserved = 0;
  const handle = async (job: Job, token?: string): Promise<unknown> => {
    const parsed = parseJob(job.name, job.data);
    switch (parsed.name) {
      case 'start':
        // Counted before the first await: concurrent start jobs must not all see room.
        if ((sup.load + reserved >= maxProcesses || draining) && token) {
          // Full or drained: hand the start back so a host with room takes it. (A paused
          // worker may still hold one job it fetched before the pause.)
          await job.moveToDelayed(Date.now() + 250, token);
          throw new DelayedError();
        }
        reserved++;
        try {
          const out = await sup.start(parsed.data.id, job.id);
          if (out.kind === 'deferred' && token) {
            // Retryable (no free port now): the job waits and comes back, with backoff.
            const n = Number((job.data as { deferrals?: unknown }).deferrals ?? 0) || 0;
            await job.updateData({ ...(job.data as object), deferrals: n + 1 });
            await job.moveToDelayed(Date.now() + Math.min(500 * 2 ** n, 30_000), token);
            throw new DelayedError();
          }
        } finally {
          reserved--;
        }
        return null;
      case 'stop':
        await sup.stop(parsed.data.id, config.defaultGraceMs + 15_000);
        return null;
      case 'deploy': {
        // Another runner holds the service (or this worker is closing): the job comes back
        // and finds the service's deploys as far as they got.
        const out = await deployRunner.runService(parsed.data.service);
        if (out !== 'done' && token) {
          await job.moveToDelayed(Date.now() + 250, token);
          throw new DelayedError();
        }
        return null;
      }
      case 'reconcile': {
        const report = await reconcile(parsed.data.full === true);
        const cluster = await clusterPass(cdeps, parsed.data.full === true ? {} : { holdMs: config.reconcileMs }).catch((err) => {
          hlog.warn({ err: (err as Error).message }, 'cluster pass failed');
          return null;
        });
        return { ...report, cluster };
      }
    }
  };

  const consumers = new Consumers(() => connect(config.redisUrl, 'blocking'), handle, {
    startQueue: keys.startQueue,
    hostQueue: keys.hostQueue(config.hostId),
    deployQueue: keys.deployQueue,
    startConcurrency: opts.concurrency ?? DEFAULT_START_CONCURRENCY,
    prefix: keys.bullPrefix,
    stalledMs: config.stalledMs,
    onError: (err) => {
      if (!redisDown) hlog.error({ err: err.message }, 'queue error');
    },
    onFailed: (job, err) => hlog.warn({ jobId: job?.id, job: job?.name, error: err.message }, 'job failed'),
  });
  const scheduleReconcile = () =>
    jobs
      .queue(keys.hostQueue(config.hostId))
      .upsertJobScheduler(
        `reconcile.${config.hostId}`,
        { every: config.reconcileMs },
        { name: 'reconcile', data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } },
      );
  await scheduleReconcile();

  const beat = async (state: 'up' | 'draining' | 'down') => {
    const counters = { ...sup.stats, reaped: reaper.reaped, corrupt: corruptSeen, ...passes };
    const value = JSON.stringify({
      hostId: config.hostId,
      pid: process.pid,
      version: VERSION,
      state,
      load: sup.load,
      capacity: Number.isFinite(maxProcesses) ? maxProcesses : null,
      containment,
      events: readableVersions(EVENT_TYPES),
      at: Date.now(),
      ttlMs: config.heartbeatMs * 3,
      counters,
    });
    await redis.hset(keys.hosts, config.hostId, value);
  };
  await beat('up');
  // Draining is asked for in Redis (reapq drain), so it reaches the worker wherever it runs;
  // a drained worker stops fetching starts but still serves stops and reconcile passes.
  let beats = 0;
  const tick = async () => {
    const want = (await redis.sismember(keys.drain, config.hostId)) === 1;
    if (want !== draining) {
      draining = want;
      if (want) await consumers.start.pause(true);
      else await consumers.start.resume();
      hlog.info({ draining }, draining ? 'draining: no new starts' : 'drain lifted: taking starts');
    }
    await beat(draining ? 'draining' : 'up');
    // Redis answers, yet no reconcile pass for this long: the host queue's consumer is stuck.
    if (Date.now() - lastPassAt > Math.max(10 * config.reconcileMs, 15_000)) {
      hlog.error({ sinceLastPassMs: Date.now() - lastPassAt }, 'no reconcile pass: queue consumers stuck, renewing them');
      lastPassAt = Date.now();
      consumers.renew();
      if (draining) await consumers.start.pause(true);
      await scheduleReconcile();
    }
    // Every 10th beat: a deploy that no runner holds and whose job got lost or failed is
    // enqueued again (a second job is harmless: runners take the service's lease).
    if (++beats % 10 === 0)
      for (const service of await deployRunner.sweep(beats)) hlog.info({ service }, 'deploy without a runner: enqueued again');
  };
  await tick();
  await warnOnFewReplicas(redis, config.waitReplicas, hlog);
  const beatTimer = setInterval(() => void tick().catch((err) => hlog.warn({ err: err.message }, 'heartbeat failed')), config.heartbeatMs);
  hlog.info(
    {
      concurrency: opts.concurrency ?? DEFAULT_START_CONCURRENCY,
      forkers: opts.forkers ?? DEFAULT_FORKERS,
      maxProcesses: opts.maxProcesses ?? null,
    },
    'worker ready',
  );

  let closing: Promise<void> | null = null;
  return {
    hostId: config.hostId,
    controller: sup,
    reconcile: () => reconcile(true),
    clusterPass: () => clusterPass(cdeps),
    close() {
      closing ??= (async () => {
        clearInterval(beatTimer);
        await beat('draining').catch(() => undefined);
        deployRunner.close();
        await consumers.close();
        await sup.idle();
        sup.close();
        await forker.close();
        await shipper.pump().catch(() => undefined);
        shipper.close();
        clearInterval(sweepTimer);
        cgroups?.close();
        process.off('SIGCHLD', sweepSoon);
        await beat('down').catch(() => undefined);
        process.off('unhandledRejection', onUnhandled);
        await jobs.close();
        await store.close();
        await redis.quit().catch(() => redis.disconnect());
        hlog.info({ leftRunning: sup.load }, 'worker stopped; managed processes left for the next worker');
      })();
      return closing;
    },
  };
}

/**
 * With REAPQ_REDIS_WAIT_REPLICAS, says so at boot when the master has fewer replicas than
 * that: every append then fails until enough connect. (On a Cluster the INFO comes from one
 * node, not necessarily the master of the prefix's slot; the check is then skipped.)
 */
async function warnOnFewReplicas(redis: Redis, wanted: number, log: Logger): Promise<void> {
  if (wanted === 0 || (redis as unknown as { isCluster?: boolean }).isCluster) return;
  const info = await redis.info('replication').catch(() => '');
  const connected = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? NaN);
  if (connected < wanted)
    log.warn(
      { connectedReplicas: connected, waitReplicas: wanted },
      'the Redis master has fewer replicas than REAPQ_REDIS_WAIT_REPLICAS: every record append fails until enough are connected',
    );
}
