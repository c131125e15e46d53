import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { InputError, oneLine } from '../shared/errors.js';
import { HostIdSchema } from '../shared/record.js';
import { parseRedisUrl } from '../shared/redis-url.js';

/**
 * Named Redis targets, as kubectl keeps clusters: `reapq context add prod redis://...`,
 * `reapq context use prod`. One JSON file, `$XDG_CONFIG_HOME/reapq/config.json` (else
 * `~/.config/reapq/config.json`), written 0600: a URL may hold a password.
 */
export const ContextSchema = z.object({ redisUrl: z.string(), prefix: z.string().optional() });
export type Context = z.infer<typeof ContextSchema>;
const FileSchema = z.object({
  current: z.string().nullable().default(null),
  contexts: z.record(z.string(), ContextSchema).default({}),
});
export type ContextsFile = z.infer<typeof FileSchema>;

export const ContextNameSchema = HostIdSchema;

/** Where the file is: XDG's rule (an XDG_CONFIG_HOME that is not absolute is ignored). */
export function configFile(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(base, 'reapq', 'config.json');
}

/** The file's contexts; none when it does not exist. A file that does not parse is bad input, named. */
export function readContexts(file: string): ContextsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { current: null, contexts: {} };
    throw new InputError(`cannot read ${file}: ${oneLine(err)}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file} is not JSON: ${oneLine(err)}`);
  }
  const r = FileSchema.safeParse(raw);
  if (!r.success)
    throw new InputError(`${file} is not a reapq config: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}`);
  return r.data;
}

export function writeContexts(file: string, data: ContextsFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** A context as given on the command line, checked the way the client will read it. */
export function checkContext(name: string, redisUrl: string, prefix: string | undefined): Context {
  if (!ContextNameSchema.safeParse(name).success)
    throw new InputError(`invalid context name ${JSON.stringify(name)}: letters, digits, _ . - only (1-64)`);
  parseRedisUrl(redisUrl);
  if (prefix !== undefined && !HostIdSchema.safeParse(prefix).success)
    throw new InputError(`invalid --prefix ${JSON.stringify(prefix)}: letters, digits, _ . - only (1-64)`);
  return prefix === undefined ? { redisUrl } : { redisUrl, prefix };
}
