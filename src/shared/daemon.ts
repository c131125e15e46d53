import type { HostInfo } from './hosts.js';

/** What of a start spec says how a daemon is followed. */
export interface DaemonAsk {
  daemon?: boolean;
  pidFile?: string;
  host?: string;
}

/**
 * Why a start cannot be run as asked for a daemon, or null. Pure. A pid file only means
 * something to a daemon; a daemon without one can be followed only by its cgroup, so a
 * host that may take the start (the pinned one, else any live host) in process mode
 * cannot run it: its service would leave the tree unseen. A host not yet seen decides at
 * its spawn (the worker refuses it with the same words).
 */
export function daemonProblem(spec: DaemonAsk, hosts: readonly HostInfo[]): string | null {
  if (spec.pidFile !== undefined && !spec.daemon) return 'pidFile: needs daemon (only a daemon has its pid file read)';
  if (!spec.daemon || spec.pidFile !== undefined) return null;
  const takers = hosts.filter((h) => (spec.host ? h.hostId === spec.host : h.alive));
  const blind = takers.find((h) => h.containment?.mode !== 'cgroup');
  return blind ? daemonUnfollowable(blind.hostId, blind.containment?.reason ?? 'a worker of an earlier release') : null;
}

/** The refusal of a daemon without a pid file on a host in process mode: at the edge, and by the worker at its spawn. */
export function daemonUnfollowable(host: string, why: string | null): string {
  return `daemon without pidFile: host ${host} runs in process mode (${why ?? 'asked for'}), where only a pid file can follow a daemon`;
}
