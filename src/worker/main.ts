import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../shared/clock.js';
import type { Config } from '../shared/config.js';
import { DEFAULT_FORKERS, DEFAULT_START_CONCURRENCY } from '../shared/defaults.js';
import { DeployStore } from '../shared/deploy-store.js';
import { EventStore } from '../shared/event-store.js';
import { fleetView } from '../shared/fleet-view.js';
import { JobQueues, stillWanted } from '../shared/job-queues.js';
import { makeKeys, type Keys } from '../shared/keys.js';
import type { Logger } from '../shared/logger.js';
import { connect } from '../shared/redis.js';
import { writeUsage } from '../shared/usage.js';
import type { CgroupManager, ContainmentInfo, ContainmentWish } from './cgroup/manager.js';
import { Consumers } from './consumers.js';
import { backgroundWork } from './background.js';
import { chooseContainment } from './containment.js';
import { Controller } from './controller/controller.js';
import { DeployRunner } from './deploy/runner.js';
import { DeploySweep } from './deploy-sweep.js';
import { Drain } from './drain.js';
import { DueJobs, watchedStarts } from './due-jobs.js';
import { Forker } from './forker.js';
import { HostHeartbeat } from './heartbeat.js';
import { legacySubtreeName, subtreeName } from './cgroup/subtree.js';
import { fleetIdentity } from './fleet-id.js';
import { holdHostId, type HostLease } from './host-lease.js';
import { linuxOs, type HostOs } from './host-os.js';
import type { Self } from './tree.js';
import { JobRouter } from './job-router.js';
import { LogShipper } from './log-shipper.js';
import { ReconcilePasses } from './passes.js';
import { loadPolicy, type Policy } from './policy.js';
import { PortAllocator } from './ports.js';
import { Reaper } from './reaper.js';
import { reconcileHost, type ReconcileReport } from './reconcile/execute.js';
import { clusterPass, type ClusterDeps, type ClusterReport } from './reconcile/lost-hosts.js';
import { recoverBeforeWork } from './recovery.js';
import { warnOnFewReplicas, watchLease, watchRedis } from './redis-health.js';
import { startZombieSweep } from './zombie-sweep.js';

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
  /** Every timer, timestamp and duration of the worker (default: the system's clocks). */
  clock?: Clock;
  /**
   * Children the process running the worker spawned in a session of their own (the dev's
   * Redis): its own, never a run's orphans, and libuv reaps them.
   */
  ownChildren?: readonly number[];
}

export interface WorkerHandle {
  readonly hostId: string;
  /** This host of this fleet, as its processes' cookies name it. */
  readonly me: Self;
  readonly controller: Controller;
  reconcile(): Promise<ReconcileReport>;
  clusterPass(): Promise<ClusterReport | null>;
  /** Stops taking work, finishes in-flight jobs, leaves managed processes running. */
  close(): Promise<void>;
}

export { VERSION } from '../shared/version.js';

/**
 * Boots a worker: becomes subreaper, recovers this host's processes from the record
 * before taking any job, then serves the shared start queue and its own host queue. It
 * wires the worker's rooms (docs/architecture.md): the controller, reconcile passes and
 * boot recovery, the job router, drain, heartbeat and deploy sweep.
 */
export async function runWorker(config: Config, log: Logger, opts: WorkerOptions = {}): Promise<WorkerHandle> {
  // Before any connection: a bad policy must stop the worker at once, not leave it half up.
  const policy = loadPolicy(process.env);
  const { hostId } = config;
  const hlog = log.child({ hostId });
  const keys = makeKeys(config.prefix);
  const redis = connect(config.redisUrl, 'command');
  const redisHealth = watchRedis(redis, hlog);
  const [os, clock] = [opts.os ?? linuxOs, opts.clock ?? systemClock];
  // Before anything of the host is touched (its cgroup subtree, its processes).
  const lease = await holdHostId(config, hlog, { redis, keys, os, clock });
  // Before the cgroup subtree and the processes too: it names which of them are this fleet's.
  const fleet = await fleetIdentity(redis, keys);
  hlog.info({ fleet }, 'fleet id read');
  const subtree = { name: subtreeName(config.prefix, hostId, fleet), legacyName: legacySubtreeName(config.prefix, hostId) };
  const { cgroups, containment } = chooseContainment(opts.containment ?? 'auto', policy, subtree, hlog);
  const maxProcesses = opts.maxProcesses ?? policy.maxProcesses ?? Infinity;
  const core = startCore(config, hlog, {
    ...{ redis, keys, policy, cgroups, containment, os, forkers: opts.forkers, clock, fleet },
    ownChildren: opts.ownChildren ?? [],
  });
  const { controller, deploys } = core;
  const { passes, cluster, schedule } = reconcilePasses(config, hlog, core, lease);
  await recoverBeforeWork(passes, hlog);

  const drain: Drain = new Drain({ redis, drainKey: keys.drain, hostId, starts: () => consumers.start, log: hlog });
  const router = new JobRouter({
    controller,
    deploys,
    passes,
    clusterPass: (o) => clusterPass(cluster, o),
    maxProcesses,
    draining: () => drain.draining,
    stopBoundMs: config.defaultGraceMs + 15_000,
    reconcileMs: config.reconcileMs,
    due: core.due,
    requeueStarts: (queue, entries, delayMs, deferrals) => core.jobs.addStarts(queue, entries, delayMs, deferrals),
    stillWanted: (entries) => stillWanted(core.store, entries),
    log: hlog,
    clock: core.clock,
  });
  const concurrency = opts.concurrency ?? DEFAULT_START_CONCURRENCY;
  const consumers = openConsumers(config, keys, { handle: router.handle, concurrency, redisDown: () => redisHealth.down, log: hlog });
  const passTimer = await schedule();

  const heartbeat = hostHeartbeat(config, hlog, { core, passes, containment, maxProcesses, lease });
  const deploySweep = new DeploySweep(deploys, hlog);
  const renewConsumers = async () => {
    consumers.renew();
    await drain.reapply();
  };
  await heartbeat.beat('up');
  const tick = async () => {
    await drain.check();
    await heartbeat.beat(drain.draining ? 'draining' : 'up');
    await passes.renewIfStuck(renewConsumers);
    await deploySweep.onBeat();
  };
  await tick();
  await warnOnFewReplicas(redis, config.waitReplicas, hlog);
  heartbeat.every(tick);
  const leaseWatch = watchLease({
    clock,
    hostId,
    ttlMs: config.heartbeatMs * 3,
    lastBeatSent: () => heartbeat.lastBeatSent,
    stopCopies: (why) => controller.stopAtMostOne(why),
    log: hlog,
  });
  hlog.info({ concurrency, forkers: opts.forkers ?? DEFAULT_FORKERS, maxProcesses: opts.maxProcesses ?? null }, 'worker ready');

  let closing: Promise<void> | null = null;
  return {
    hostId,
    me: core.me,
    controller,
    reconcile: () => passes.run(true),
    clusterPass: () => clusterPass(cluster),
    close: () => {
      leaseWatch.cancel();
      passTimer.cancel();
      return (closing ??= shutdown(core, { heartbeat, consumers, lease, log: hlog }));
    },
  };
}

/**
 * The host's reconcile passes (a job on its own queue every reconcileMs, timed on the
 * monotonic clock) and the fleet pass, with what each reads and writes.
 */
function reconcilePasses(config: Config, log: Logger, core: ReturnType<typeof startCore>, lease: HostLease) {
  const { redis, keys, store, jobs, controller } = core;
  const { hostId } = config;
  const cluster: ClusterDeps = {
    redis,
    store,
    keys,
    log,
    hostId,
    now: core.clock.now,
    enqueueStart: core.enqueueStart,
    ensureStartJob: (rec, batched) => jobs.ensureStart(rec, batched),
    retentionMs: config.retentionMs,
    defaultGraceMs: config.defaultGraceMs,
  };
  const host = {
    controller,
    store,
    os: core.os,
    reaper: core.reaper,
    log,
    hostId,
    me: core.me,
    clock: core.clock,
    foreignLogged: new Set<string>(),
  };
  const passes = new ReconcilePasses({
    // A pass is where a worker thawed after a takeover would act first (adopt, stop orphans).
    pass: async (o) => {
      await lease.check();
      return reconcileHost(host, o);
    },
    saveUsage: core.cgroups ? () => writeUsage(redis, keys.usage, controller.usageSnapshot()) : null,
    reconcileMs: config.reconcileMs,
    log,
    clock: core.clock,
  });
  const q = keys.hostQueue(hostId);
  const schedule = async () => {
    // A release before this one ran passes from a BullMQ job scheduler (see passes.every): it goes.
    await jobs.on(q, (queue) => queue.removeJobScheduler(`reconcile.${hostId}`));
    return passes.every(() => jobs.on(q, (queue) => queue.add('reconcile', {}, { removeOnComplete: true, removeOnFail: 100 })));
  };
  return { passes, cluster, schedule };
}

/** The heartbeat: what this host runs and counts, for the fleet and /metrics. */
function hostHeartbeat(
  config: Config,
  log: Logger,
  p: { core: ReturnType<typeof startCore>; passes: ReconcilePasses; containment: ContainmentInfo; maxProcesses: number; lease: HostLease },
): HostHeartbeat {
  const { controller, reaper } = p.core;
  return new HostHeartbeat({
    redis: p.core.redis,
    hostsKey: p.core.keys.hosts,
    hostId: config.hostId,
    heartbeatMs: config.heartbeatMs,
    containment: p.containment,
    maxProcesses: p.maxProcesses,
    load: () => controller.load,
    counters: () => ({ ...controller.stats, reaped: reaper.reaped, corrupt: p.core.corruptSeen(), ...p.passes.counters }),
    log,
    clock: p.core.clock,
    lease: { key: p.core.keys.hostLease(config.hostId), value: p.lease.value, lost: (holder) => p.lease.lost(holder) },
  });
}

/** The BullMQ consumers of the start, host and deploy queues, each job to the router. */
function openConsumers(
  config: Config,
  keys: Keys,
  o: { handle: JobRouter['handle']; concurrency: number; redisDown: () => boolean; log: Logger },
): Consumers {
  return new Consumers(() => connect(config.redisUrl, 'blocking'), o.handle, {
    startQueue: keys.startQueue,
    hostQueue: keys.hostQueue(config.hostId),
    deployQueue: keys.deployQueue,
    startConcurrency: o.concurrency,
    prefix: keys.bullPrefix,
    stalledMs: config.stalledMs,
    // One line per outage comes from the command connection's watch: not one per queue here.
    onError: (err) => {
      if (!o.redisDown()) o.log.error({ err: err.message }, 'queue error');
    },
    onFailed: (job, err) => o.log.warn({ jobId: job?.id, job: job?.name, error: err.message }, 'job failed'),
  });
}

interface CoreParts {
  redis: Redis;
  keys: Keys;
  policy: Policy;
  cgroups: CgroupManager | null;
  containment: ContainmentInfo;
  os: HostOs;
  forkers: number | undefined;
  clock: Clock;
  /** The fleet's id (keys.fleetId), written into every process's cookie. */
  fleet: string;
  ownChildren: readonly number[];
}

/**
 * The parts that act on processes, started in the order they need: the record store, the
 * controller with its forker and log shipper, the subreaper and its zombie sweep.
 */
function startCore(config: Config, log: Logger, p: CoreParts) {
  const { redis, keys, os, cgroups, clock } = p;
  const { store, versions, corruptSeen } = openStore(config, log, p);
  const background = backgroundWork(log);
  const owner = `${config.prefix}/${config.hostId}`;
  const me = { owner, fleet: p.fleet };
  const jobs = new JobQueues(redis, keys, versions);
  const due = new DueJobs({ clock, promote: (job) => jobs.promoteIfDelayed(job) });
  const enqueueStart = watchedStarts(jobs, due);
  const deploys = new DeployRunner({
    deploys: new DeployStore(redis, keys).writeFor(versions),
    store,
    log,
    owner,
    jobs,
    defaultGraceMs: config.defaultGraceMs,
    clock,
  });
  const shipper = new LogShipper(redis, keys, log, {
    maxLines: config.logLines,
    maxFileBytes: config.logMaxBytes,
    intervalMs: 250,
    clock,
    keep: config.logKeep,
    gzip: config.logGzip,
    // Called from a pump, long after the controller below exists.
    onLoss: (id, loss) => controller.logLost(id, loss),
  });
  const ownChildren = new Set<number>(p.ownChildren);
  let subreaper = false;
  // The forker's callbacks run only after it has spawned something, by when the controller exists.
  const forker = new Forker(
    { onExit: (id, pid, code, signal) => controller.forkedExit(id, pid, code, signal), onLost: () => controller.forkerLost() },
    log,
    ownChildren,
    p.forkers ?? DEFAULT_FORKERS,
  );
  const controller: Controller = new Controller({
    config,
    me,
    store,
    os,
    log,
    ports: new PortAllocator(redis, keys.ports(config.hostId), config.portRange),
    enqueueStart,
    clock,
    runnerEnv: process.env,
    policy: p.policy,
    shipper,
    isSubreaper: () => subreaper,
    forker,
    ownChildren,
    background: background.run,
    cgroups,
    containment: p.containment,
    saveUsage: (entries) => writeUsage(redis, keys.usage, entries),
  });
  const reaper = new Reaper(os.table, os.selfPid, ownChildren);
  subreaper = reaper.becomeSubreaper();
  // After prctl, so the forker and everything it spawns are descendants of a subreaper
  // whatever the kernel version (before 4.11 only processes forked afterwards were marked).
  forker.start();
  if (subreaper) log.info('child subreaper set: orphaned descendants re-parent to this worker');
  else log.warn('could not become a child subreaper (koffi/prctl unavailable): escaped descendants go to init');
  const zombies = startZombieSweep(reaper, log, clock);
  return {
    ...{ redis, keys, clock, store, jobs, due, enqueueStart, deploys, shipper, forker, controller, reaper, zombies, cgroups, os, me },
    background,
    corruptSeen,
  };
}

/**
 * The record store, writing each event type at the version every live worker reads (as the
 * fleet pass last stored it), and a count of the corrupt data it skipped.
 */
function openStore(config: Config, log: Logger, p: Pick<CoreParts, 'redis' | 'keys' | 'clock'>) {
  // Counted (reapq_corrupt_seen_total), so a record nobody reads the log for still shows.
  let corrupt = 0;
  const onCorrupt = (processId: string, problem: string) => {
    corrupt++;
    log.error({ processId, problem }, 'corrupt data: skipped');
  };
  const wait = { replicas: config.waitReplicas, timeoutMs: config.waitTimeoutMs };
  const onVersionsError = (err: Error) => log.warn({ err: err.message }, 'fleet versions not read');
  const versions = fleetView(p.redis, p.keys, config.heartbeatMs, onVersionsError, p.clock);
  const store = new EventStore(p.redis, p.keys, config.globalEventsMax, p.clock.now, onCorrupt, wait).writeFor(versions);
  return { store, versions, corruptSeen: () => corrupt };
}

/**
 * Stops taking work, lets in-flight jobs finish, and leaves every managed process running
 * for the next worker; the heartbeat says draining, then down.
 */
async function shutdown(
  core: ReturnType<typeof startCore>,
  p: { heartbeat: HostHeartbeat; consumers: Consumers; lease: HostLease; log: Logger },
): Promise<void> {
  const { controller } = core;
  const { heartbeat } = p;
  heartbeat.stop();
  await heartbeat.beat('draining').catch(() => undefined);
  core.deploys.close();
  await p.consumers.close();
  await controller.idle();
  controller.close();
  await core.forker.close();
  await core.shipper.pump().catch(() => undefined);
  core.shipper.close();
  core.zombies.stop();
  core.due.close();
  core.cgroups?.close();
  await heartbeat.beat('down').catch(() => undefined);
  await p.lease.release().catch(() => undefined);
  core.background.stop();
  await core.jobs.close();
  await core.store.close();
  await core.redis.quit().catch(() => core.redis.disconnect());
  p.log.info({ leftRunning: controller.load }, 'worker stopped; managed processes left for the next worker');
}
