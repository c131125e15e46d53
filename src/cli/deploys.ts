import type { Command } from 'commander';
import { z } from 'zod';
import { STRATEGIES, type DeployEvent, type DeployRecord, type RevisionStatus } from '../shared/deploy.js';
import { WaitError } from '../shared/errors.js';
import { readApplyFile } from './apply-file.js';
import { nothingIn, type WithClient } from './redis-target.js';
import type { ProcessRecord } from '../shared/record.js';
import { resolve, restartProcess } from '../producer/handles.js';
import type { ReapqClient } from '../producer/client.js';
import type { ServiceInfo } from '../producer/deploys.js';
import { humanMs, useColor } from './format.js';
import { flag, IntFlag } from './options.js';
import { specFlags, specFrom } from './spec-flags.js';

const out = (s: string): void => void process.stdout.write(`${s}\n`);
const json = (v: unknown) => out(JSON.stringify(v, null, 2));
const StrategyFlag = z.enum(STRATEGIES, { message: `must be one of ${STRATEGIES.join(', ')}` });

/** One line per deploy step, as `deploy --wait` prints it. */
export function deployStepLine(e: DeployEvent): string {
  switch (e.type) {
    case 'requested':
      if (e.kind === 'scale') return `queued scale of ${e.service} to ${e.replicas}`;
      return `queued ${e.kind === 'stop' ? 'stop' : `r${e.revision}`} of ${e.service}${e.cause ? ` (${e.cause})` : ''}`;
    case 'began':
      return `began${e.previous ? `: r${e.previous.revision} serves (${e.previous.processes.join(', ')})` : ': nothing serves yet'}`;
    case 'superseded':
      return `superseded by ${e.by}`;
    case 'revision_started':
      return `${e.process} started (replica ${e.replica + 1})`;
    case 'replica_ready':
      return `${e.process} ready`;
    case 'previous_stopped':
      return `${e.process} stopped, its whole tree gone`;
    case 'rollback_begun':
      return `rolling back: ${e.reason}`;
    case 'previous_restarted':
      return `${e.process} started again`;
    case 'succeeded':
      return 'succeeded';
    case 'rolled_back':
      return 'rolled back';
  }
}

/** A deploy that runs otherwise than asked (a fixed port runs stop-first) says so, one line on stderr. */
function tellNote(rec: DeployRecord): void {
  if (rec.note) process.stderr.write(`note: ${rec.service} ${rec.id}: ${rec.note}\n`);
}

/** What every deploy-making command prints: its note, then the deploy followed (--wait), as JSON, or its id. */
async function answerDeploy(c: ReapqClient, rec: DeployRecord, o: { wait?: boolean; json?: boolean }, timeoutMs: number): Promise<void> {
  tellNote(rec);
  if (o.wait) return followDeploy(c, rec, !!o.json, timeoutMs);
  if (o.json) json(rec);
  else out(rec.id);
}

/** Follows a deploy to its end, one step a line on stderr; exit 1 unless it succeeded. */
export async function followDeploy(c: ReapqClient, rec: DeployRecord, asJson: boolean, timeoutMs: number): Promise<void> {
  const tty = process.stderr.isTTY && !asJson;
  const color = tty && useColor();
  const t0 = Date.now();
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  process.once('SIGINT', () => ac.abort());
  try {
    for await (const { event } of c.followDeploy(rec.id, 0, ac.signal)) {
      const line = deployStepLine(event);
      const bad = event.type === 'rollback_begun' || event.type === 'rolled_back' || event.type === 'superseded';
      if (tty) {
        const mark = color ? (bad ? '\x1b[31m✗\x1b[0m' : '\x1b[32m✓\x1b[0m') : bad ? 'x' : '*';
        process.stderr.write(`${mark} ${humanMs(Date.now() - t0).padStart(6)}  ${line}\n`);
      } else process.stderr.write(`${rec.service} ${rec.id} ${line}\n`);
    }
  } finally {
    clearTimeout(timer);
  }
  const fin = await c.getDeploy(rec.id);
  if (asJson) json(fin);
  else out(rec.id);
  if (fin.state !== 'succeeded') {
    if (ac.signal.aborted && fin.state !== 'rolled_back' && fin.state !== 'superseded')
      throw new WaitError(`deploy ${rec.id} is still ${fin.state} after ${timeoutMs} ms`);
    throw new WaitError(`deploy ${rec.id} ${fin.state.replace('_', ' ')}${fin.reason ? `: ${fin.reason}` : ''}`);
  }
}

/** `ready/desired`, with the failing ones when there are: one revision's replicas at a glance. */
const readyCell = (r: RevisionStatus) => `${r.ready}/${r.desired}${r.failing ? ` (${r.failing} failing)` : ''}`;

function servicesTable(list: ServiceInfo[]): string {
  if (list.length === 0) return 'no services';
  const rows = [['SERVICE', 'REVISION', 'PROCESSES', 'READY', 'HEALTH', 'LAST DEPLOY']];
  for (const s of list) {
    const procs = s.active?.processes.map((p) => `${p.id}@${p.host ?? '-'}:${p.port ?? '-'} ${p.state}`).join(', ') || '-';
    const last = s.lastDeploy
      ? `${s.lastDeploy.id} r${s.lastDeploy.revision} ${s.lastDeploy.state}${s.lastDeploy.reason ? ` (${s.lastDeploy.reason})` : ''}`
      : '-';
    const active = s.revisions.find((r) => r.role === 'active');
    rows.push([s.name, s.active ? `r${s.active.revision}` : '-', procs, active ? readyCell(active) : '-', s.health, last]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
  const why = list.filter((s) => s.reason).map((s) => `${s.name} ${s.health}: ${s.reason}`);
  return why.length ? `${table}\n\n${why.join('\n')}` : table;
}

/** One line per revision of a service: its role, desired, ready, starting and failing replicas. */
function revisionLines(s: ServiceInfo): string[] {
  return s.revisions.map(
    (r) =>
      `r${r.revision} ${r.role}: ${r.desired} desired, ${r.ready} ready, ${r.starting} starting, ${r.failing} failing${r.reason ? ` (${r.reason})` : ''}`,
  );
}

/**
 * What `restart` restarts: a service (by name, or by the id or name of one of its
 * replicas) gets a start-first deploy of the same spec; a plain process is stopped and its
 * spec started again as a new record linked to it (restartOf).
 */
async function restartTarget(c: ReapqClient, target: string): Promise<{ deploy: DeployRecord } | { process: ProcessRecord }> {
  const h = await resolve(c, target);
  if (h.kind === 'service') return { deploy: await c.restartService(h.service) };
  const rec = await c.get(h.id);
  if (rec.service) return { deploy: await c.restartService(rec.service) };
  return { process: await restartProcess(c, rec.id) };
}

// eslint-disable-next-line max-lines-per-function -- table-shaped: one commander entry per deploy command
export function registerDeployCommands(program: Command, withClient: WithClient): void {
  const waitFlags = (cmd: Command) =>
    cmd
      .option('--wait', 'follow the deploy, one line a step; exit 0 when it succeeded, 1 otherwise')
      .option('--json', 'print the deploy record as JSON');
  const deploy = program
    .command('deploy')
    .description('queue a deploy of a service: a new revision replaces the active one once ready, or is rolled back; prints the deploy id')
    .argument('<service>', 'service name (letters, digits, _ . -)');
  waitFlags(
    specFlags(deploy)
      .option('--strategy <s>', 'start-first (new ready, then old stopped) | stop-first (old gone, then new)', 'start-first')
      .option('--replicas <n>', 'processes of the revision, replaced one at a time', '1')
      .option(
        '--at-most-one',
        'never two copies, partitions included: a host cut from Redis stops its replica after the lease time, and no other host starts one before that (one replica, stop-first; serves nothing while cut)',
      )
      .option('--timeout-ms <ms>', 'how long each replica has to become ready before the deploy rolls back', '60000'),
  )
    .argument('<command...>', 'program and arguments, after --')
    .action(async (service: string, command: string[], o) =>
      withClient(async (c) => {
        const timeoutMs = flag('--timeout-ms', IntFlag(1), o.timeoutMs);
        const replicas = flag('--replicas', IntFlag(1), o.replicas);
        const rec = await c.deploy({
          service,
          ...specFrom(o, command),
          strategy: flag('--strategy', StrategyFlag, o.strategy),
          replicas,
          timeoutMs,
          ...(o.atMostOne ? { atMostOne: true } : {}),
        });
        return answerDeploy(c, rec, o, (replicas + 1) * timeoutMs + 60_000);
      }),
    );

  program
    .command('services')
    .description('every service: its active revision, its processes and how its last deploy went')
    .option('--json', 'as JSON')
    .action(async (o) =>
      withClient(async (c, where) => {
        const list = await c.services();
        if (o.json) json(list);
        else if (list.length === 0) out(nothingIn('services', where));
        else out(servicesTable(list));
      }),
    );

  program
    .command('service')
    .description('one service with its deploy history')
    .argument('<service>')
    .option('--json', 'as JSON')
    .action(async (name: string, o) =>
      withClient(async (c) => {
        const s = await c.service(name);
        if (o.json) return json(s);
        out(servicesTable([s]));
        out('');
        for (const l of revisionLines(s)) out(l);
        if (s.revisions.length > 0) out('');
        for (const d of s.deploys)
          out(
            `${d.id}  r${d.revision}  ${d.kind === 'deploy' ? `${d.strategy} x${d.replicas}` : d.kind === 'stop' ? 'stop' : `scale${d.previous ? ` r${d.previous.revision}` : ''} to ${d.replicas}`}  ${d.state}  ${d.createdAt}${d.cause ? `  ${d.cause}` : ''}${d.reason ? `  ${d.reason}` : ''}${d.note ? `  (${d.note})` : ''}`,
          );
      }),
    );

  const again = (name: string, what: string, call: (c: ReapqClient, s: string) => Promise<DeployRecord>) =>
    waitFlags(program.command(name).description(what).argument('<service>')).action(async (service: string, o) =>
      withClient(async (c) => {
        const rec = await call(c, service);
        return answerDeploy(c, rec, o, 30 * 60_000);
      }),
    );
  again('rollback', "deploy the previous revision's spec again", (c, s) => c.rollback(s));
  waitFlags(
    program
      .command('scale')
      .description(
        'the active revision with N replicas: its replicas are left alone; more start with the same spec, or the highest-numbered stop; prints the deploy id',
      )
      .argument('<service>')
      .argument('<replicas>'),
  ).action(async (service: string, n: string, o) => {
    const replicas = flag('replicas', IntFlag(1), n);
    return withClient(async (c) => {
      return answerDeploy(c, await c.scale(service, replicas), o, 30 * 60_000);
    });
  });
  waitFlags(
    program
      .command('restart')
      .description(
        'SERVICE|ID|NAME: a service gets every replica replaced (a start-first deploy of the same spec; a replica names its service); a plain process is stopped, then its spec started as a new process (restartOf links them); prints the deploy id or the new process id',
      )
      .argument('<target>'),
  ).action(async (target: string, o) =>
    withClient(async (c) => {
      const r = await restartTarget(c, target);
      if ('deploy' in r) {
        return answerDeploy(c, r.deploy, o, 30 * 60_000);
      }
      const rec = o.wait ? await c.waitFor(r.process.id, 'running', { timeoutMs: 60_000 }) : r.process;
      if (o.json) json(rec);
      else out(rec.id);
    }),
  );

  waitFlags(
    program
      .command('apply')
      .description(
        'deploy every service of a file whose spec changed: JSON or YAML ({"services": {"NAME": {command: [...], ...}}}), or a PM2 ecosystem file (.js, .cjs, .json: {apps: [...]}; a key reapq does not honour is a warning line)',
      )
      .argument('<file>')
      .option('--env <name>', "lay each entry's env_NAME over its env (as pm2 --env NAME)")
      .option('--prune', 'stop services not in the file'),
  ).action(async (file: string, o) => {
    // Read before connecting: a bad file is exit 2 whether or not Redis answers.
    const { entries, warnings } = await readApplyFile(file, o.env as string | undefined);
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    return withClient(async (c) => {
      const results = await c.apply(entries, { prune: !!o.prune });
      let failed = 0;
      for (const r of results) {
        if (r.deploy) tellNote(r.deploy);
        if (o.wait && r.deploy) {
          const fin = await c.waitForDeploy(r.deploy.id);
          r.deploy = fin;
          if (fin.state !== 'succeeded') failed++;
        }
        if (!o.json)
          out(
            `${r.service} ${r.action}${r.deploy ? ` ${r.deploy.id}${o.wait ? ` ${r.deploy.state}${r.deploy.reason ? ` (${r.deploy.reason})` : ''}` : ''}` : ''}`,
          );
      }
      if (o.json) json(results);
      if (failed > 0) throw new WaitError(`${failed} of ${results.filter((r) => r.deploy).length} deploys did not succeed`);
    });
  });

  program
    .command('delete')
    .description('remove one finished record with its events and logs (refused while it may still run)')
    .argument('<id>')
    .action(async (id: string) =>
      withClient(async (c) => {
        await c.delete(id);
        out(`${id} deleted`);
      }),
    );
}
