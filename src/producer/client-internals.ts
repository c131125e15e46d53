import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../shared/config.js';
import type { EventStore } from '../shared/event-store.js';
import type { JobQueues } from '../shared/job-queues.js';
import type { Keys } from '../shared/keys.js';
import type { StreamReader } from './stream-reader.js';

/** What a ReapqClient holds and keeps to itself: its Admin and the package's tests build on it. */
export interface ClientInternals {
  config: Config;
  keys: Keys;
  store: EventStore;
  connection: Redis;
  /** Every queue the client puts jobs on. */
  jobs: JobQueues;
  /** The BullMQ queue of that name on the client's connection. */
  queue(name: string): Queue;
  /** Runs fn on the queue, rebuilding it after a failed call (see JobQueues.on). */
  onQueue<T>(name: string, fn: (q: Queue) => Promise<T>): Promise<T>;
  /** The client's one blocking reader. */
  streams(): StreamReader;
}
