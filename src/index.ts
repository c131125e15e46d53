export { ReapqClient, type ClientOptions, type ListFilter } from './producer/client.js';
export { InputError, NotFoundError, WaitError, TimeoutError, SettledError, ConflictError } from './shared/errors.js';
export { STATES, FINAL_STATES, StartSpecSchema, StopOptionsSchema, ProcessRecordSchema } from './shared/record.js';
export type { ProcessRecord, StartSpec, StopOptions, State, RestartPolicy } from './shared/record.js';
export { EventSchema } from './shared/events.js';
export type { ReapqEvent, StoredEvent, EventType } from './shared/events.js';
