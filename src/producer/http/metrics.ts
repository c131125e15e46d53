import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { STATES, type ProcessRecord } from '../../shared/record.js';
import type { ReapqClient } from '../client.js';
import type { HostInfo } from '../../shared/hosts.js';
import type { UsageEntry } from '../../shared/usage.js';
import type { ApiContext } from './context.js';

interface Snapshot {
  counts: Array<{ state: string; host: string; count: number }>;
  hosts: HostInfo[];
}

/**
 * A registry of this api's own: the node process's default metrics plus gauges computed
 * from Redis on each scrape. One read of the counts and hosts serves every gauge of a
 * scrape; the counts are kept by the append itself, so a scrape costs the same with 100
 * records or 100k (it used to read every record).
 */
// eslint-disable-next-line max-lines-per-function -- table-shaped: one prom-client metric per entry
export function makeMetrics(client: ReapqClient): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const snapshot = oncePerScrape(async (): Promise<Snapshot> => {
    const [counts, hosts] = await Promise.all([client.admin.counts(), client.hosts()]);
    return { counts, hosts };
  });
  // Each host's live index (not its whole history) is read once per scrape for every gauge
  // that looks at records: kill pending and usage.
  const live = oncePerScrape(async (): Promise<Array<{ host: string; records: ProcessRecord[] }>> => {
    const { hosts } = await snapshot();
    return Promise.all(hosts.map(async (h) => ({ host: h.hostId, records: await client.admin.live(h.hostId) })));
  });

  new Gauge({
    name: 'reapq_processes',
    help: 'Managed processes by observed state and host (host "" until one takes the process).',
    labelNames: ['state', 'host'] as const,
    registers: [registry],
    async collect() {
      const { counts } = await snapshot();
      this.reset();
      const hosts = new Set(counts.filter((c) => c.count > 0).map((c) => c.host));
      if (hosts.size === 0) hosts.add('');
      // Every state for every host, so a state that empties reads 0 instead of vanishing.
      for (const host of hosts) for (const state of STATES) this.set({ state, host }, 0);
      for (const c of counts) if (hosts.has(c.host) && c.count > 0) this.set({ state: c.state, host: c.host }, c.count);
    },
  });

  new Gauge({
    name: 'reapq_kill_pending_processes',
    help: 'Processes with members that survived SIGKILL (uninterruptible sleep), by host.',
    labelNames: ['host'] as const,
    registers: [registry],
    async collect() {
      const perHost = await live();
      this.reset();
      // A kill still pending keeps a record in its host's live index.
      for (const { host, records } of perHost) this.set({ host }, records.filter((r) => r.killPending.length > 0).length);
    },
  });

  /** A gauge with one sample per host that ever heartbeated, read from its heartbeat. */
  const perHost = (name: string, help: string, value: (h: HostInfo) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['host'] as const,
      registers: [registry],
      async collect() {
        const { hosts } = await snapshot();
        this.reset();
        for (const h of hosts) this.set({ host: h.hostId }, value(h));
      },
    });
  perHost('reapq_host_up', '1 while a host heartbeats, 0 once its heartbeat is stale or it shut down.', (h) => (h.alive ? 1 : 0));
  perHost('reapq_host_heartbeat_timestamp_seconds', 'When the host last heartbeated (unix seconds).', (h) => h.at / 1000);

  new Gauge({
    name: 'reapq_host_state',
    help: 'One sample per host and state, 1 for the state it is in: up, draining, down (shut down cleanly) or lost (heartbeat expired).',
    labelNames: ['host', 'state'] as const,
    registers: [registry],
    async collect() {
      const { hosts } = await snapshot();
      this.reset();
      for (const h of hosts) {
        const now = hostState(h);
        for (const state of HOST_STATES) this.set({ host: h.hostId, state }, state === now ? 1 : 0);
      }
    },
  });

  // Worker counters travel in each host's heartbeat; they reset when a worker restarts,
  // which Prometheus' rate() handles as a counter reset.
  const counter = (name: string, help: string, pick: (c: Record<string, number>) => number) => perHost(name, help, (h) => pick(h.counters));
  counter('reapq_starts_total', 'Processes spawned by the host since its worker started.', (c) => c.starts ?? 0);
  counter('reapq_exits_total', 'Runs that ended on their own (not stopped by reapq).', (c) => c.exits ?? 0);
  counter('reapq_restarts_total', 'Restarts scheduled by restart policies after a run ended on its own.', (c) => c.restarts ?? 0);
  counter(
    'reapq_crash_loop_gave_up_total',
    'Processes failed instead of restarted: too many short runs in a row (end reason crash-loop).',
    (c) => c.gaveUp ?? 0,
  );
  counter('reapq_spawn_failures_total', 'Spawns that failed (missing binary, bad cwd).', (c) => c.spawnFailures ?? 0);
  counter('reapq_stops_total', 'Trees stopped and verified gone.', (c) => c.stops ?? 0);
  counter('reapq_stop_escalations_total', 'Stops that needed SIGKILL after the grace period.', (c) => c.escalations ?? 0);
  counter('reapq_stop_duration_seconds_sum', 'Total time from stop job to verified gone.', (c) => (c.stopMsTotal ?? 0) / 1000);
  counter('reapq_stop_duration_seconds_count', 'Stops measured in reapq_stop_duration_seconds_sum.', (c) => c.stops ?? 0);
  counter('reapq_zombies_reaped_total', 'Inherited zombies reaped by the worker.', (c) => c.reaped ?? 0);
  counter(
    'reapq_corrupt_seen_total',
    'Reads that met a corrupt record or event stream (skipped, logged with its id).',
    (c) => c.corrupt ?? 0,
  );
  counter('reapq_reconcile_passes_total', 'Reconcile passes run.', (c) => c.reconcilePasses ?? 0);
  counter('reapq_reconcile_duration_seconds_sum', 'Total time spent in reconcile passes.', (c) => (c.reconcileMsTotal ?? 0) / 1000);

  new Gauge({
    name: 'reapq_drift_total',
    help: 'Drift found and repaired by reconcile passes, by kind of action.',
    labelNames: ['host', 'kind'] as const,
    registers: [registry],
    async collect() {
      const { hosts } = await snapshot();
      this.reset();
      for (const h of hosts) {
        for (const [k, v] of Object.entries(h.counters)) if (k.startsWith('drift.')) this.set({ host: h.hostId, kind: k.slice(6) }, v);
      }
    },
  });

  // Per-process cgroup usage, bounded: the PER_PROCESS_TOP live processes using the most
  // memory get their own id label; the rest are summed per host under id="_other", so a
  // host with 10,000 processes still exports at most PER_PROCESS_TOP + hosts series each.
  const usageRows = oncePerScrape(async (): Promise<UsageRow[]> => {
    const rows: UsageRow[] = [];
    for (const { host, records } of await live()) {
      const usage = await client.usage(records.filter((r) => r.containment === 'cgroup'));
      for (const [id, u] of usage) rows.push({ ...u, id, host });
    }
    return topUsage(rows, PER_PROCESS_TOP);
  });
  const perProcess = (name: string, help: string, value: (u: UsageRow) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['id', 'host'] as const,
      registers: [registry],
      async collect() {
        const rows = await usageRows();
        this.reset();
        for (const u of rows) {
          const v = value(u);
          if (v !== null) this.inc({ id: u.id, host: u.host }, v);
        }
      },
    });
  perProcess(
    'reapq_process_memory_bytes',
    'Memory of a process tree (its cgroup), top processes by memory; the rest as id="_other".',
    (u) => u.memoryBytes,
  );
  perProcess('reapq_process_cpu_seconds_total', 'CPU time of a process tree (its cgroup) in its current run.', (u) => u.cpuMs / 1000);
  perProcess('reapq_process_pids', 'Processes in a process tree (its cgroup).', (u) => u.pids);

  new Gauge({
    name: 'reapq_queue_jobs',
    help: 'Jobs waiting, active or delayed in the shared start and deploy queues and each host queue.',
    labelNames: ['queue', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const { name, counts } of await client.admin.queueCounts()) {
        for (const status of ['waiting', 'delayed', 'active'] as const) this.set({ queue: name, status }, counts[status]);
      }
    },
  });

  return registry;
}

/**
 * One read shared by every gauge of a scrape: the first collect starts it, the others of
 * the same scrape await it, and it is forgotten once settled so the next scrape reads anew.
 */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | null = null;
  return () => {
    if (!current) {
      current = read();
      const clear = () => {
        current = null;
      };
      current.then(clear, clear);
    }
    return current;
  };
}

export const HOST_STATES = ['up', 'draining', 'down', 'lost'] as const;

/** A host's state for reapq_host_state: its heartbeat's word while it beats (or said down), else lost. */
export function hostState(h: HostInfo): (typeof HOST_STATES)[number] {
  if (h.state === 'down') return 'down';
  return h.alive ? h.state : 'lost';
}

/** Most processes with an id label of their own in the per-process usage metrics. */
export const PER_PROCESS_TOP = 50;

type UsageRow = UsageEntry & { id: string };

/** The `top` rows by memory as they are; every other row folded into one `_other` row per host. */
export function topUsage(rows: UsageRow[], top: number): UsageRow[] {
  const sorted = [...rows].sort((a, b) => (b.memoryBytes ?? 0) - (a.memoryBytes ?? 0) || a.id.localeCompare(b.id));
  const out = sorted.slice(0, top);
  const other = new Map<string, UsageRow>();
  for (const u of sorted.slice(top)) {
    const o = other.get(u.host) ?? { ...u, id: '_other', cpuMs: 0, memoryBytes: 0, memoryPeakBytes: null, pids: 0 };
    o.cpuMs += u.cpuMs;
    o.memoryBytes = (o.memoryBytes ?? 0) + (u.memoryBytes ?? 0);
    o.pids += u.pids;
    other.set(u.host, o);
  }
  return [...out, ...other.values()];
}

export function registerMetricsRoute(app: FastifyInstance, { client }: ApiContext): void {
  const registry = makeMetrics(client);
  app.get('/metrics', async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
}
