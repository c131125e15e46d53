/**
 * The forker: a small process the worker starts, that does nothing but spawn managed
 * processes and report their exits. fork() copies the page tables of the process that
 * forks, so spawning from this ~45 MB process instead of the ~95 MB worker is about half
 * again as fast, and the worker's event loop never stalls on a fork. Imports stay minimal
 * on purpose. The worker (a subreaper, and this process's parent) still inherits every
 * orphan of the trees.
 */
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { parseStat } from '../shared/proc-stat.js';
import type { ForkerReply, ForkerRequest } from './forker-protocol.js';

const send = (m: ForkerReply): void => {
  process.send?.(m);
};

// After a spawn the forker is still in that run's leaf. It goes home once the requests
// already received are done (setImmediate runs after the IPC messages of one read), so in
// a burst it moves leaf to leaf: one move per spawn instead of two. Each move writes every
// hierarchy (four files on a hybrid host), about a third of a spawn's cost here.
let home: string[] | null = null;
let goingHome: NodeJS.Immediate | null = null;

function goHome(): void {
  goingHome = null;
  if (home) leave(home, String(process.pid));
  home = null;
}

/** Home after the requests already received, if a run's leaf holds the forker now. */
function goHomeSoon(): void {
  if (home) goingHome = setImmediate(goHome);
}

process.on('message', (m: ForkerRequest) => {
  if (goingHome) clearImmediate(goingHome);
  goingHome = null;
  // A request without a cgroup must not be born in the previous run's leaf.
  if (!m.cgroup && home) goHome();
  let fd: number;
  let logOffset: number;
  try {
    fd = openSync(m.logFile, 'a');
    logOffset = fstatSync(fd).size;
  } catch (err) {
    goHomeSoon();
    send({
      t: 'failed',
      req: m.req,
      code: (err as NodeJS.ErrnoException).code ?? null,
      message: `cannot open its log: ${(err as Error).message}`,
    });
    return;
  }
  let child;
  const self = String(process.pid);
  let entered = !m.cgroup;
  try {
    // The child is forked inside the leaf: everything it ever starts is born there. For v1
    // hierarchies the file is `tasks` and only this (the forking) thread moves.
    if (m.cgroup) {
      home = m.cgroup.leave;
      for (const f of m.cgroup.enter) writeFileSync(f, self);
    }
    entered = true;
    child = spawn(m.file, m.args, {
      cwd: m.cwd,
      env: m.env,
      detached: true, // setsid(): the child leads a new session and process group
      stdio: ['ignore', fd, fd],
      ...(m.uid !== null && m.gid !== null ? { uid: m.uid, gid: m.gid } : {}),
    });
  } catch (err) {
    const where = entered ? '' : 'cannot enter its cgroup: ';
    const code = entered ? ((err as NodeJS.ErrnoException).code ?? null) : null;
    send({ t: 'failed', req: m.req, code, message: where + (err as Error).message });
    return;
  } finally {
    closeSync(fd);
    goHomeSoon();
  }
  // Before yielding: until libuv runs, the child cannot have been reaped, so even an
  // instant exit leaves a stat to read.
  const pid = child.pid;
  let stat = null;
  try {
    stat = pid !== undefined ? parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')) : null;
  } catch {
    stat = null;
  }
  child.once('error', (err) => send({ t: 'failed', req: m.req, code: (err as NodeJS.ErrnoException).code ?? null, message: err.message }));
  child.once('spawn', () => {
    if (pid === undefined || !stat) send({ t: 'failed', req: m.req, code: null, message: 'exited before its identity could be read' });
    else send({ t: 'spawned', req: m.req, pid, pgid: stat.pgid, sid: stat.sid, startTime: stat.startTime, logOffset });
  });
  child.once('exit', (code, signal) => {
    if (pid !== undefined) send({ t: 'exit', id: m.id, pid, code, signal });
  });
  child.unref();
});

function leave(files: string[], self: string): void {
  for (const f of files) {
    try {
      writeFileSync(f, self);
    } catch {
      // Staying in a leaf would put the next child in the wrong one: the worker restarts us.
      process.exit(70);
    }
  }
}

// The worker is gone (crash or shutdown): the processes stay, the next worker adopts them.
process.on('disconnect', () => process.exit(0));
// Signals meant for the worker's process group are not for this process.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
