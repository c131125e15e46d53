import { COOKIE, FLEET, OWNER, RUN, type Self } from './tree.js';

/**
 * The environment of a managed process: the runner's own without its REAPQ_* and REDIS_*
 * variables (credentials and settings meant for the runner), then the user's pairs, then
 * the cookie, which the user cannot override because containment depends on it. REAPQ_OWNER
 * stays `<prefix>/<host>` as older releases wrote it (they read it back after a downgrade);
 * REAPQ_FLEET beside it tells two installations with the same owner apart.
 */
export function buildEnv(
  runnerEnv: NodeJS.ProcessEnv,
  userEnv: Record<string, string>,
  id: string,
  me: Self,
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
  env[OWNER] = me.owner;
  env[FLEET] = me.fleet;
  if (run !== null) env[RUN] = run;
  return env;
}
