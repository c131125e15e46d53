export { ReapqClient, type ClientOptions, type ListFilter, type LogEntry } from './producer/client.js';
export {
  InputError,
  NotFoundError,
  WaitError,
  TimeoutError,
  SettledError,
  ConflictError,
  ReplicationError,
  RedisRefusedError,
} from './shared/errors.js';
export type { RedisRefusal } from './shared/errors.js';
export { STATES, FINAL_STATES, StartSpecSchema, StopOptionsSchema, ProcessRecordSchema } from './shared/record.js';
export type { ProcessRecord, StartSpec, StopOptions, State, RestartPolicy } from './shared/record.js';
export { EventSchema } from './shared/events.js';
export type { ReapqEvent, StoredEvent, EventType } from './shared/events.js';
export { DeployRequestSchema, DeployRecordSchema, DeployEventSchema, STRATEGIES } from './shared/deploy.js';
export type { DeployRecord, DeployRequest, DeployEvent, DeployState, Strategy } from './shared/deploy.js';
export type { ServiceInfo, ServiceDetail, ServiceProcess } from './producer/deploys.js';
export type { StoredDeployEvent } from './shared/deploy-store.js';
export type { FsckResult } from './producer/fsck.js';
export type { Problem as FsckProblem } from './shared/fsck.js';
