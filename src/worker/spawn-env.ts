import { COOKIE, OWNER, RUN } from './tree.js';

/**
 * The environment of a managed process: the runner's own without its REAPQ_* and REDIS_*
 * variables (credentials and settings meant for the runner), then the user's pairs, then
 * the cookie, which the user cannot override because containment depends on it.
 */
export function buildEnv(
  runnerEnv: NodeJS.ProcessEnv,
  userEnv: Record<string, string>,
  id: string,
  owner: string,
  port: number | null,
  run: string | null = null,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(runnerEnv)) {
    if (v === undefined || k.startsWith('REAPQ_') || k.startsWith('REDIS_')) continue;
    env[k] = v;
  }
  Object.assign(env, userEnv);
  if (port !== null) env.PORT = String(port);
  env[COOKIE] = id;
  env[OWNER] = owner;
  if (run !== null) env[RUN] = run;
  return env;
}
