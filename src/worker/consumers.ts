import { Worker, type Processor } from 'bullmq';
import type { Redis } from 'ioredis';

export interface ConsumerOptions {
  startQueue: string;
  hostQueue: string;
  deployQueue: string;
  startConcurrency: number;
  prefix: string;
  stalledMs: number;
  onError: (err: Error) => void;
  onFailed: (job: { id?: string; name: string } | undefined, err: Error) => void;
}

/**
 * The worker's BullMQ consumers of its three queues, on a connection of their own, and
 * replaceable as a set. After a Redis Cluster failover, a BullMQ worker on the old
 * connection can stay parked in a fetch that never returns (seen in the cluster failover
 * test under load: 39 stops and an overdue reconcile job waiting in the host queue for
 * 40 s and more while the heartbeat, on the other connection, carried on; close() then
 * hung past the 15 s bound). `renew` drops them and starts a fresh set on a fresh
 * connection, which takes the waiting jobs.
 */
export class Consumers {
  start!: Worker;
  host!: Worker;
  private deploy!: Worker;
  private connection!: Redis;

  constructor(
    private readonly open: () => Redis,
    private readonly handle: Processor,
    private readonly o: ConsumerOptions,
  ) {
    this.make();
  }

  private make(): void {
    const connection = this.open();
    connection.on('error', () => undefined); // reported once through the command connection
    const common = { connection, prefix: this.o.prefix, lockDuration: this.o.stalledMs * 2, stalledInterval: this.o.stalledMs };
    this.connection = connection;
    this.start = new Worker(this.o.startQueue, this.handle, { ...common, concurrency: this.o.startConcurrency });
    this.host = new Worker(this.o.hostQueue, this.handle, { ...common, concurrency: 64 });
    // Deploys mostly wait for their processes: many run at once, one per service.
    this.deploy = new Worker(this.o.deployQueue, this.handle, { ...common, concurrency: 32 });
    for (const w of [this.start, this.host, this.deploy]) {
      w.on('error', this.o.onError);
      w.on('failed', this.o.onFailed);
    }
  }

  /**
   * A fresh set on a fresh connection; the old one is closed without waiting (its stuck
   * fetch may never return) after its connection is cut, which fails what it had in flight.
   * Jobs it held come back to the queue when their locks lapse.
   */
  renew(): void {
    const old = [this.start, this.host, this.deploy];
    const oldConnection = this.connection;
    this.make();
    oldConnection.disconnect();
    for (const w of old) void w.close(true).catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([this.start.close(), this.host.close(), this.deploy.close()]);
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
