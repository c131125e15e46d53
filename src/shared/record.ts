import { z } from 'zod';
import { FINAL_STATES, LIVE_STATES, STATES, type State } from './states.js';

/**
 * Observed states of a managed process, and the only transitions between them.
 *
 *   pending   -> starting (spawn_begun), stopped (stop_requested: never spawned, nothing to stop),
 *                failed (start_failed: its pinned host is unknown or dead)
 *   starting  -> running (spawned), failed (spawn_failed), lost (lost)
 *   running   -> stopping (stop_requested, signal_sent), exited (exited), lost (lost)
 *   stopping  -> stopped (stopped: tree verified gone), lost (lost)
 *   exited, failed, lost -> pending (restart_scheduled), failed (gave_up)
 *   stopped   is final.
 *
 * `desired` is what the user wants and only stop_requested moves it (to stopped). Events
 * that report facts without a state change (drift, adopted, signal_sent on a dead record,
 * exited while stopping, kill_pending) are legal wherever they can happen; see reducer.ts.
 */
export { STATES, FINAL_STATES, LIVE_STATES, type State };
export const StateSchema = z.enum(STATES);

export const RESTART_POLICIES = ['never', 'on-failure', 'always'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

/** Signals a user may ask for. Numbers are Linux's. */
export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
} as const;
export type SignalName = keyof typeof SIGNALS;
export const SignalSchema = z
  .string()
  .transform((s) => (s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`))
  .pipe(z.enum(Object.keys(SIGNALS) as [SignalName, ...SignalName[]], { message: `must be one of ${Object.keys(SIGNALS).join(', ')}` }));

// BullMQ refuses integer job ids and ids containing ':', and the id is the start job's id.
export const ProcessIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'letters, digits, _ . - only (1-128)')
  .refine((s) => !/^\d+$/.test(s), 'must not be a plain integer')
  // The id names files (logs/ID.log): `.` and `..` would name directories.
  .refine((s) => s !== '.' && s !== '..', 'must not be . or ..');

const noNul = (s: string) => !s.includes('\0');
/** Host ids and key prefixes: they end up inside Redis key names and hash tags. */
export const HOST_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const HostIdSchema = z
  .string()
  .regex(HOST_ID_PATTERN, 'letters, digits, _ . - only (1-64)')
  .refine((s) => s !== '.' && s !== '..', 'must not be . or ..');
export const GraceMsSchema = z.number().int().min(0).max(3_600_000);

const Port = z.number().int().min(1).max(65535);
const ReadyTimeout = { timeoutMs: z.number().int().min(1).max(3_600_000).default(30_000) };
/**
 * How to know a process is ready: a TCP port accepting, an HTTP path answering 2xx, or a
 * line of its output matching. Without it, `running` means spawned.
 */
export const ReadySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('tcp'), port: Port.optional(), ...ReadyTimeout }),
  z.object({
    kind: z.literal('http'),
    path: z.string().startsWith('/', 'must start with /').max(2048),
    port: Port.optional(),
    ...ReadyTimeout,
  }),
  z.object({
    kind: z.literal('log'),
    pattern: z
      .string()
      .min(1)
      .max(1000)
      .refine((p) => {
        try {
          new RegExp(p);
          return true;
        } catch {
          return false;
        }
      }, 'must be a valid regular expression'),
    ...ReadyTimeout,
  }),
]);
export type Ready = z.infer<typeof ReadySchema>;

/** The first character of `s` that an HTTP request line cannot carry as it is, named for a user. */
function unsendableInPath(s: string): string | null {
  // Node's http client refuses anything outside U+0021-U+00FF ('Request path contains
  // unescaped characters'), and a raw byte past ASCII means nothing agreed on the wire.
  const i = s.search(/[^\x21-\x7e]/);
  if (i < 0) return null;
  const code = s.codePointAt(i)!;
  const what = code === 0x20 ? 'a space' : code < 0x20 || code === 0x7f ? 'a control character' : 'a character outside ASCII';
  let encoded: string;
  try {
    encoded = encodeURIComponent(String.fromCodePoint(code));
  } catch {
    encoded = 'its UTF-8 bytes'; // a lone surrogate has none
  }
  return `contains ${what} (U+${code.toString(16).toUpperCase().padStart(4, '0')}) at ${i}: percent-encode it (${encoded})`;
}

/**
 * A readiness check as a producer may ask for it: on top of the shape, refused when it
 * cannot work (a path no HTTP request can carry, a log pattern that spans lines when output
 * is matched one line at a time). Stored records keep ReadySchema, so one written before
 * this check still parses.
 */
export const ReadyInputSchema = ReadySchema.superRefine((r, ctx) => {
  if (r.kind === 'http') {
    const bad = unsendableInPath(r.path);
    if (bad) ctx.addIssue({ code: 'custom', path: ['path'], message: bad });
  }
  if (r.kind === 'log' && r.pattern.includes('\n'))
    ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'contains a line break: output is matched one line at a time' });
});

const BYTE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
/** Below this a process cannot even start; above it the number is a typo. */
export const MEMORY_MIN = 4 * 1024 ** 2;
export const MEMORY_MAX = 2 ** 50;
/** A size: bytes as a number, or `512M`, `1.5G`, `65536K` (binary units; `Mi`, `MB` and `MiB` mean the same). */
const byteSize = (min: number, minWords: string) =>
  z
    .union([
      z.number(),
      z
        .string()
        .regex(/^\d+(\.\d+)?\s*([KMGT]i?B?|B)?$/i, 'must be a number of bytes or look like 512M, 1.5G')
        .transform((s) => {
          const [, n, u] = /^(\d+(?:\.\d+)?)\s*([KMGT])?/i.exec(s)!;
          return Math.floor(Number(n) * BYTE_UNITS[(u ?? '').toUpperCase()]!);
        }),
    ])
    .pipe(
      z.number().int('must be a whole number of bytes').min(min, `must be at least ${minWords}`).max(MEMORY_MAX, 'must be at most 1024T'),
    );
export const MemorySchema = byteSize(MEMORY_MIN, '4M');
/** The size at which a process's log file is rotated (REAPQ_LOG_MAX_BYTES's floor). */
export const LogMaxBytesSchema = byteSize(4096, '4K');
export const LogKeepSchema = z.number().int('must be a whole number').min(0, 'must be at least 0').max(1000, 'must be at most 1000');
/** A process's own log rotation; each null takes the worker's REAPQ_LOG_* setting. */
export const LogSettingsSchema = z.object({
  maxBytes: z.number().int().nullable(),
  keep: z.number().int().nullable(),
  gzip: z.boolean().nullable(),
});
export type LogSettings = z.infer<typeof LogSettingsSchema>;
export const CpusSchema = z.number().min(0.01, 'must be at least 0.01').max(1024, 'must be at most 1024');
export const PidsMaxSchema = z
  .number()
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(4_194_304, 'must be at most 4194304');
/** Limits of one run; each null when not asked for. Enforced only in cgroup mode. */
export const LimitsSchema = z.object({
  memory: z.number().int().nullable(),
  cpus: z.number().nullable(),
  pidsMax: z.number().int().nullable(),
});
export type Limits = z.infer<typeof LimitsSchema>;

/** What a producer asks for. The same schema validates the client call, the HTTP body and the job. */
export const StartSpecSchema = z.object({
  id: ProcessIdSchema.optional(),
  // A name is a handle typed on a command line and printed in one table cell: a line break
  // or an escape sequence in it would forge lines of `ls` or move an operator's terminal.
  name: z
    .string()
    .max(200)
    .superRefine((n, ctx) => {
      const i = n.search(/[\x00-\x1f\x7f]/);
      if (i >= 0)
        ctx.addIssue({
          code: 'custom',
          message: `contains a control character (U+${n.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}) at ${i}`,
        });
    })
    .optional(),
  command: z
    .array(z.string().max(65_536).refine(noNul, 'must not contain NUL'))
    .min(1, 'must name a program')
    .max(4096)
    .refine((c) => (c[0] ?? '') !== '', 'the program must not be empty'),
  cwd: z.string().min(1).refine(noNul, 'must not contain NUL').optional(),
  env: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid variable name'), z.string().refine(noNul, 'must not contain NUL'))
    .optional(),
  port: z.union([z.literal('auto'), z.number().int().min(1).max(65535)]).optional(),
  restart: z.enum(RESTART_POLICIES).optional(),
  graceMs: GraceMsSchema.optional(),
  host: HostIdSchema.optional(),
  ready: ReadyInputSchema.optional(),
  /** Memory limit: bytes or `512M`; an OOM kill ends the run with reason `oom`. */
  memory: MemorySchema.optional(),
  /** CPU limit in CPUs (0.5 = half of one). */
  cpus: CpusSchema.optional(),
  /** Most processes (and threads) the tree may hold at once. */
  pidsMax: PidsMaxSchema.optional(),
  /** Its log file is rotated at this size (default REAPQ_LOG_MAX_BYTES). */
  logMaxBytes: LogMaxBytesSchema.optional(),
  /** Rotated copies kept (default REAPQ_LOG_KEEP). */
  logKeep: LogKeepSchema.optional(),
  /** Rotated copies gzipped (default REAPQ_LOG_GZIP). */
  logGzip: z.boolean().optional(),
  /**
   * The program daemonizes: it may exit 0 once it has forked its service, and the record is
   * running while the service lives. Followed by its cgroup, or (process mode) its pid file.
   */
  daemon: z.boolean().optional(),
  /** Where the daemon writes its main pid (relative to cwd); needs daemon. */
  pidFile: z
    .string()
    .min(1)
    .max(4096)
    .refine((p) => !/[\x00-\x1f\x7f]/.test(p), 'must not contain a control character')
    .optional(),
});
export type StartSpec = z.input<typeof StartSpecSchema>;

export const StopOptionsSchema = z.object({
  signal: SignalSchema.optional(),
  graceMs: GraceMsSchema.optional(),
});
export type StopOptions = z.input<typeof StopOptionsSchema>;

/** How a process ended, first cause wins (see reducer). */
export const END_REASONS = [
  'exited',
  'signaled',
  'stopped',
  'killed',
  'spawn-failed',
  'not-ready',
  'lost',
  'crash-loop',
  'drift',
  'oom',
] as const;

export const ProcessRecordSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  state: StateSchema,
  desired: z.enum(['running', 'stopped']),
  host: z.string().nullable(),
  pid: z.number().int().nullable(),
  pgid: z.number().int().nullable(),
  command: z.array(z.string()),
  cwd: z.string().nullable(),
  port: z.number().int().nullable(),
  restartPolicy: z.enum(RESTART_POLICIES),
  restarts: z.number().int(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  error: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
  version: z.number().int(),
  // Extensions beyond the public contract.
  env: z.record(z.string(), z.string()),
  requestedPort: z.union([z.literal('auto'), z.number().int()]).nullable(),
  requestedHost: z.string().nullable(),
  graceMs: z.number().int().nullable(),
  sid: z.number().int().nullable(),
  startTime: z.number().int().nullable(),
  bootId: z.string().nullable(),
  stopSignal: z.string().nullable(),
  killDeadline: z.number().int().nullable(),
  killPending: z.array(z.number().int()),
  endReason: z.enum(END_REASONS).nullable(),
  crashLoop: z.number().int(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  // Added after the first release: projections written before them still parse.
  ready: ReadySchema.nullable().default(null),
  readyAt: z.string().nullable().default(null),
  /** The current run (one per spawn); events of other runs are refused. */
  runId: z.string().nullable().default(null),
  /** How the current (or last) run is contained: its own cgroup, or group/session/cookie. */
  containment: z.enum(['cgroup', 'process']).nullable().default(null),
  /** Cgroup mode: the run's leaf cgroup (v2 path). */
  cgroup: z.string().nullable().default(null),
  /** The service and revision of a deploy's replica (null for a plain start). */
  service: z.string().nullable().default(null),
  revision: z.number().int().nullable().default(null),
  /** Limits asked for (cgroup mode enforces them); null when none. */
  limits: LimitsSchema.nullable().default(null),
  /** The process this one was started in place of by a restart (a plain process: stop, then start anew). */
  restartOf: z.string().nullable().default(null),
  /** OOM kills in the current run's cgroup, with the memory limit they hit. */
  oom: z.object({ kills: z.number().int(), limit: z.number().int().nullable() }).nullable().default(null),
  /** Its own log rotation (logMaxBytes, logKeep, logGzip of the start); null: the worker's settings. */
  logs: LogSettingsSchema.nullable().default(null),
  /** Log write failures of the current run (log_lost): the last error and when, how often, unshipped bytes dropped. */
  logLoss: z.object({ error: z.string(), at: z.string(), times: z.number().int(), lostBytes: z.number().int() }).nullable().default(null),
  /** At most one copy runs, partitions included: its host stops it when cut from Redis, others wait for that (src/worker/at-most-one.ts). */
  atMostOne: z.boolean().default(false),
  /** Started as a daemon (start --daemon): running while its service lives, not while its launcher does. */
  daemon: z.boolean().default(false),
  /** The daemon's pid file, as given (relative to cwd); null when none. */
  pidFile: z.string().nullable().default(null),
  /** A daemon's main process once it is up (from its pid file, or its tree): the run's leader from then on, so also `pid`. */
  mainPid: z.number().int().nullable().default(null),
});
export type ProcessRecord = z.infer<typeof ProcessRecordSchema>;

/** A final state that the record's restart policy will leave on its own. */
export function mayRestart(rec: ProcessRecord): boolean {
  if (rec.desired === 'stopped' || rec.state === 'stopped' || rec.state === 'failed') return false;
  if (rec.restartPolicy === 'always') return true;
  return rec.restartPolicy === 'on-failure' && (rec.state === 'lost' || rec.exitCode !== 0);
}
