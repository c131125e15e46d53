/**
 * The only module that knows Redis key and queue names.
 *
 * Every key lives under one hash tag `{prefix}`: the event append touches the process's
 * stream, its projection, the global stream and the indexes in one Lua call, and on a
 * Redis Cluster that only works when they share a slot. BullMQ gets the same tagged
 * prefix so its own multi-key scripts stay in that slot too.
 */
export interface Keys {
  readonly tag: string;
  /** BullMQ `prefix` option. */
  readonly bullPrefix: string;
  /** Queue that any worker with capacity takes starts from. */
  readonly startQueue: string;
  /** Queue of stop, signal and reconcile jobs for one host. */
  hostQueue(hostId: string): string;
  /** Hash: `v` (version) and `r` (record JSON). */
  record(id: string): string;
  /** Stream of one process's events; entry ids are the event order. */
  stream(id: string): string;
  /** Where the append moves a stream it cannot read (lua/append.lua names it the same way). */
  corruptStream(id: string): string;
  /**
   * List of a finished process's events (`<version> <json>`), moved out of its stream: a
   * stream keeps a preallocated node of several KB however few entries it has.
   */
  archive(id: string): string;
  /** Capped stream of one process's output lines, shipped by its worker: readable from any host. */
  logs(id: string): string;
  /** Capped stream of every event of every process. */
  readonly globalStream: string;
  /** Sorted set of every process id, scored by creation time. */
  readonly allIndex: string;
  /** Set of process ids owned by a host (its current or last host). */
  hostIndex(hostId: string): string;
  /**
   * Set of ids live on a host: not final, or final with a restart to come or a kill still
   * pending. Kept by the append script, so passes over a host cost what is live on it, not
   * its whole history.
   */
  liveIndex(hostId: string): string;
  /**
   * Sorted set of ids that stopped being live on a host, scored by when (ms), kept by the
   * append script: the periodic sweep of finished records reads those ended since the
   * last one, not the host's whole history.
   */
  endedIndex(hostId: string): string;
  /**
   * Hash `<state> <host>` -> number of records, kept by the append script: /metrics reads
   * it instead of every record. Built from the records once (countsBuilt) on older data.
   */
  readonly counts: string;
  readonly countsBuilt: string;
  /** Set once the live indexes have been built from existing records (see EventStore.liveOfHost). */
  readonly liveIndexBuilt: string;
  /** Set of ids whose record is pending (host-less, waiting for a start job): the fleet pass re-enqueues strays. */
  readonly pendingIndex: string;
  /** Hash host id -> heartbeat JSON. */
  readonly hosts: string;
  /**
   * A host id's lease (lua/claim-host.lua): who serves it (token, pid, machine, since),
   * expiring unless renewed every beat. One live worker per host id.
   */
  hostLease(hostId: string): string;
  /**
   * String with a ttl: per event type not at version 1, the version every live worker reads (0: not at all)
   * (JSON), written by the fleet pass and read by every writer once per heartbeat period.
   */
  readonly fleetVersions: string;
  /**
   * String: the fleet's identity, a random id made once (SET NX) by the first worker that
   * finds none. Each worker writes it into its cgroup subtree's name and every process's
   * cookie, so two installations on one machine (two Redis servers) with the same prefix
   * and host id never take each other's processes for their own.
   */
  readonly fleetId: string;
  /** Hash process id -> the cgroup usage of its current (or last) run (src/shared/usage.ts). */
  readonly usage: string;
  /**
   * A key written (and expiring) before a WAIT that follows no write of its own connection:
   * the replication stream is ordered, so a replica that has it has what came before.
   */
  readonly replicaMark: string;
  /** Hash port -> process id, per host. */
  ports(hostId: string): string;
  /** Held for a minute by the worker that last pruned: retention runs once a minute fleet-wide. */
  readonly pruneLock: string;
  /** Set of host ids an operator is draining: they take no new starts. */
  readonly drain: string;
  /** Lock that lets one worker of the fleet at a time run the cluster-level pass. */
  readonly clusterLock: string;
  /** Queue of deploy jobs (one per deploy, carrying its service), taken by any worker. */
  readonly deployQueue: string;
  /** Hash `v` and `r` of one deploy, like a process record. */
  deploy(id: string): string;
  /** Stream of one deploy's events; entry ids are `<version>-0`. */
  deployStream(id: string): string;
  /** Sorted set of a service's deploy ids, scored by revision. */
  serviceDeploys(service: string): string;
  /** Set of every service name that was ever deployed. */
  readonly services: string;
  /** Hash service -> last revision number handed out. */
  readonly serviceRevisions: string;
  /** Lease (token, with a ttl) of the one runner that works on a service's deploys. */
  serviceLease(service: string): string;
}

export function makeKeys(prefix: string): Keys {
  const tag = `{${prefix}}`;
  return Object.freeze({
    tag,
    bullPrefix: `${tag}:q`,
    startQueue: 'start',
    hostQueue: (hostId: string) => `host.${hostId}`,
    record: (id: string) => `${tag}:p:${id}`,
    stream: (id: string) => `${tag}:p:${id}:events`,
    corruptStream: (id: string) => `${tag}:p:${id}:events:corrupt`,
    logs: (id: string) => `${tag}:p:${id}:logs`,
    archive: (id: string) => `${tag}:p:${id}:archive`,
    globalStream: `${tag}:events`,
    allIndex: `${tag}:idx:all`,
    hostIndex: (hostId: string) => `${tag}:idx:host:${hostId}`,
    pendingIndex: `${tag}:idx:pending`,
    liveIndex: (hostId: string) => `${tag}:idx:live:${hostId}`,
    endedIndex: (hostId: string) => `${tag}:idx:ended:${hostId}`,
    liveIndexBuilt: `${tag}:idx:live-built`,
    counts: `${tag}:counts`,
    countsBuilt: `${tag}:counts-built`,
    hosts: `${tag}:hosts`,
    hostLease: (hostId: string) => `${tag}:lock:host:${hostId}`,
    fleetVersions: `${tag}:fleet-versions`,
    fleetId: `${tag}:fleet-id`,
    usage: `${tag}:usage`,
    replicaMark: `${tag}:replica-mark`,
    ports: (hostId: string) => `${tag}:ports:${hostId}`,
    clusterLock: `${tag}:lock:cluster`,
    drain: `${tag}:drain`,
    pruneLock: `${tag}:lock:prune`,
    deployQueue: 'deploy',
    deploy: (id: string) => `${tag}:d:${id}`,
    deployStream: (id: string) => `${tag}:d:${id}:events`,
    serviceDeploys: (service: string) => `${tag}:svc:${service}:deploys`,
    services: `${tag}:idx:services`,
    serviceRevisions: `${tag}:svc-revisions`,
    serviceLease: (service: string) => `${tag}:lock:svc:${service}`,
  });
}
