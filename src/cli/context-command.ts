import type { Command } from 'commander';
import { InputError } from '../shared/errors.js';
import { redactRedisUrl } from '../shared/redis-url.js';
import { checkContext, configFile, readContexts, writeContexts, type Context, type ContextsFile } from './contexts.js';
import { table } from './format.js';
import { cliRedis } from './redis-target.js';

const out = (s: string): void => void process.stdout.write(`${s}\n`);

/** `reapq context`: where every other command goes, and the named contexts that choose it. */
export function registerContextCommands(program: Command): void {
  const ctx = program
    .command('context')
    .description('the Redis (password hidden) and prefix every command uses, and why; named contexts choose them')
    .option('--json', 'as JSON')
    .action((o) => {
      const t = cliRedis(process.env, process.cwd());
      const shown = { redis: redactRedisUrl(t.url), prefix: t.prefix, context: t.context, source: t.source, configFile: t.configFile };
      if (o.json) return out(JSON.stringify(shown, null, 2));
      out(`redis   ${shown.redis}\nprefix  ${shown.prefix}\nfrom    ${shown.source}`);
    });

  ctx
    .command('ls')
    .description('the named contexts (* marks the current one), or where it looked for them')
    .option('--json', 'as JSON')
    .action((o) => {
      const file = configFile(process.env);
      const { current, contexts } = readContexts(file);
      const names = Object.keys(contexts).sort();
      if (o.json) return out(JSON.stringify({ configFile: file, current, contexts: redacted(contexts) }, null, 2));
      if (names.length === 0) return out(`no contexts in ${file}; add one: reapq context add NAME REDIS_URL [--prefix P]`);
      const rows = [['CURRENT', 'NAME', 'REDIS', 'PREFIX']];
      for (const n of names)
        rows.push([n === current ? '*' : '', n, redactRedisUrl(contexts[n]!.redisUrl), contexts[n]!.prefix ?? 'reapq']);
      out(table(rows, false));
    });

  ctx
    .command('add')
    .description('add (or replace) a named context: a Redis URL and a key prefix')
    .argument('<name>')
    .argument('<redis-url>', 'redis://, rediss://, redis+cluster:// or redis+sentinel:// URL')
    .option('--prefix <prefix>', 'key prefix of the fleet (default reapq)')
    .option('--use', 'make it the current context')
    .action((name: string, url: string, o) =>
      change((data, file) => {
        const existed = name in data.contexts;
        data.contexts[name] = checkContext(name, url, o.prefix as string | undefined);
        if (o.use) data.current = name;
        return `context ${name} ${existed ? 'replaced' : 'added'} in ${file}${o.use ? ', now current' : ''}`;
      }),
    );

  ctx
    .command('use')
    .description('make a named context the current one (REDIS_URL, REAPQ_CONTEXT and a dev in this checkout still come first)')
    .argument('<name>')
    .action((name: string) =>
      change((data, file) => {
        const c = known(data, name, file);
        data.current = name;
        return `current context: ${name} (${redactRedisUrl(c.redisUrl)} prefix ${c.prefix ?? 'reapq'})`;
      }),
    );

  ctx
    .command('unset')
    .description('no current context: commands go to a dev in this checkout, else redis://127.0.0.1:6379')
    .action(() =>
      change((data) => {
        data.current = null;
        return 'no current context';
      }),
    );

  ctx
    .command('rm')
    .description('remove a named context')
    .argument('<name>')
    .action((name: string) =>
      change((data, file) => {
        known(data, name, file);
        delete data.contexts[name];
        if (data.current === name) data.current = null;
        return `context ${name} removed`;
      }),
    );
}

/** Reads the file, lets fn change it, writes it back and prints what fn says was done. */
function change(fn: (data: ContextsFile, file: string) => string): void {
  const file = configFile(process.env);
  const data = readContexts(file);
  const said = fn(data, file);
  writeContexts(file, data);
  out(said);
}

function known(data: ContextsFile, name: string, file: string): Context {
  const c = data.contexts[name];
  if (!c) throw new InputError(`no context ${JSON.stringify(name)} in ${file}; reapq context ls lists them`);
  return c;
}

function redacted(contexts: Record<string, { redisUrl: string; prefix?: string }>) {
  return Object.fromEntries(Object.entries(contexts).map(([n, c]) => [n, { ...c, redisUrl: redactRedisUrl(c.redisUrl) }]));
}
