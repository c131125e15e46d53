import { procStat } from './proc-stat.js';

/**
 * Calls onGone once when any of the first `depth` ancestors of this process ends. Under
 * `npm start` the chain is npm -> sh -> node: killing npm's pid (what a supervisor or
 * `docker stop` does) leaves sh alive and re-parents it, so watching only our parent would
 * miss it. PID 1 is never watched: a process under init or tini is meant to stay.
 */
export function watchAncestors(onGone: (why: string) => void, opts: { depth?: number; intervalMs?: number } = {}): () => void {
  const chain: { pid: number; startTicks: number }[] = [];
  for (let pid = process.ppid; chain.length < (opts.depth ?? 3) && pid > 1;) {
    const s = procStat(pid);
    if (!s) break;
    chain.push({ pid, startTicks: s.startTicks });
    pid = s.ppid;
  }
  const timer = setInterval(() => {
    const gone = chain.find((a) => procStat(a.pid)?.startTicks !== a.startTicks);
    if (!gone) return;
    clearInterval(timer);
    onGone(`ancestor pid ${gone.pid} ended`);
  }, opts.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}
