import type { z } from 'zod';
import { InputError } from './errors.js';
import { redactRedisUrl } from './redis-url.js';

const SECRET_NAME = /TOKEN|PASSWORD|SECRET|KEY$/i;

/**
 * A bad value as an error may show it: secrets never. Token-like variables show only their
 * length; anything URL-shaped loses its password.
 */
export function shownValue(name: string, value: string | undefined): string {
  if (value === undefined) return 'unset';
  if (SECRET_NAME.test(name)) return `(${value.length} characters, not shown)`;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) return JSON.stringify(redactRedisUrl(value));
  return JSON.stringify(value);
}

/**
 * Parses the variables a schema names from an environment. An empty variable counts as
 * unset; the first bad one is an InputError naming the variable and its value, so a
 * misconfigured deploy stops at boot with one line. Secrets in it are not repeated.
 */
export function parseEnv<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv): z.infer<S> {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const parsed = schema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    throw new InputError(`invalid ${name}=${shownValue(name, picked[name])}: ${issue.message}`);
  }
  return parsed.data;
}
