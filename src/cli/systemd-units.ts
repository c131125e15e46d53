/** What `reapq startup systemd` writes: the text of each unit, from plain data. */
export interface UnitOptions {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of bin/reapq. */
  bin: string;
  /** The REAPQ_* / REDIS_URL configuration both units read. */
  envFile: string;
  /** The worker's user (default root: REAPQ_RUN_AS then runs tenants as someone else). */
  user?: string;
  /** The api's --listen. */
  listen: string;
}

export interface UnitFile {
  name: string;
  text: string;
}

// systemd splits ExecStart= on spaces and expands $ and %: quote a path that has them.
const arg = (s: string): string =>
  /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s.replace(/%/g, '%%') : JSON.stringify(s).replace(/%/g, '%%').replace(/\$/g, '$$$$');

export function systemdUnits(o: UnitOptions): UnitFile[] {
  const worker = `# reapq worker for this host (written by reapq startup systemd).
[Unit]
Description=reapq worker: runs this host's process trees
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
# Logs and the dev files live here unless the environment file says otherwise.
StateDirectory=reapq
Environment=REAPQ_DATA_DIR=/var/lib/reapq
EnvironmentFile=${o.envFile}
ExecStart=${arg(o.node)} ${arg(o.bin)} worker
${o.user ? `User=${o.user}\n` : ''}# The worker owns the cgroup subtree below this unit: it makes a cgroup per process tree,
# moves itself into a leaf of its own, and sets --memory/--cpus/--pids-max there.
Delegate=yes
# Why KillMode=process, with two signals:
# - control-group (the default) and mixed kill every process of the unit whenever the
#   worker stops, a restart and a crash included: the trees would not outlive the worker.
# - process signals only the worker. After a crash (Restart=always) or a
#   \`systemctl restart\`, the trees keep running in this unit's cgroup and the next
#   worker adopts them (identity checked by boot id, pid and start time).
# - On a restart systemd sends RestartKillSignal: SIGTERM drains the worker and leaves
#   its processes running. On a real stop (\`systemctl stop\`, shutdown, reboot) it sends
#   KillSignal: SIGUSR2 drains the worker, then stops every process of this host (SIGTERM,
#   REAPQ_DEFAULT_GRACE_MS, SIGKILL, verified gone) before it exits. Their records keep
#   their restart policies: when this host's worker runs again (systemctl start, the next
#   boot) each one that should run runs again, as PM2's resurrect would do.
# - With limits in use, systemd before 254 cannot start a new worker in this cgroup while
#   processes of the old one live (219/CGROUP): there, stop the host rather than restart.
KillMode=process
KillSignal=SIGUSR2
RestartKillSignal=SIGTERM
# Drain (at most 15 s), the grace, SIGKILL: well inside this.
TimeoutStopSec=60s
Restart=always
RestartSec=2s
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
  const api = `# reapq HTTP API, /metrics and dashboard (written by reapq startup systemd).
[Unit]
Description=reapq api: HTTP API, /metrics and dashboard
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
EnvironmentFile=${o.envFile}
ExecStart=${arg(o.node)} ${arg(o.bin)} api --listen ${arg(o.listen)}
# The api only talks to Redis: no state of its own, no privileges.
DynamicUser=yes
NoNewPrivileges=yes
Restart=always
RestartSec=2s

[Install]
WantedBy=multi-user.target
`;
  return [
    { name: 'reapq-worker.service', text: worker },
    { name: 'reapq-api.service', text: api },
  ];
}

/** The environment file's first content: every setting commented out but the Redis URL. */
export function envFileTemplate(redisUrl: string): string {
  return `# reapq configuration, read by reapq-worker.service and reapq-api.service (README, Configuration).
REDIS_URL=${redisUrl}
#REAPQ_PREFIX=reapq
#REAPQ_HOST_ID=
# Run the processes as this UID:GID (SECURITY.md), not as the worker's user (root unless
# the unit has User=).
#REAPQ_RUN_AS=65534:65534
# Required when the api listens beyond loopback.
#REAPQ_API_TOKEN=
`;
}
