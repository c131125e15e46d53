import type { z } from 'zod';
import { InputError } from './errors.js';

/**
 * Parses the variables a schema names from an environment. An empty variable counts as
 * unset; the first bad one is an InputError naming the variable and its value, so a
 * misconfigured deploy stops at boot with one line.
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
    throw new InputError(`invalid ${name}=${JSON.stringify(picked[name])}: ${issue.message}`);
  }
  return parsed.data;
}
