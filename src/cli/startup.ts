import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../shared/errors.js';
import { envFileTemplate, systemdUnits } from './systemd-units.js';

const out = (s: string): void => void process.stdout.write(`${s}\n`);

/** `reapq startup systemd`: units that start a worker and the api at boot. */
export function registerStartupCommand(program: Command): void {
  program
    .command('startup')
    .description('print (--install: write) systemd units that run the worker and the api at boot')
    .argument('<init>', 'systemd (the one supported)')
    .option('--install', 'write the units to /etc/systemd/system (or --dir), and the environment file if missing')
    .option('--dir <dir>', 'write the units here instead of /etc/systemd/system')
    .option('--environment-file <path>', 'the REDIS_URL / REAPQ_* file both units read', '/etc/reapq/reapq.env')
    .option('--user <name>', "the worker's user (default root)")
    .option('--listen <host:port>', "the api's address", '127.0.0.1:8080')
    .action((init: string, o) => {
      if (init !== 'systemd') throw new InputError(`startup: ${JSON.stringify(init)} is not supported (systemd is)`);
      const envFile = resolve(String(o.environmentFile));
      if (o.user !== undefined && !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(String(o.user)))
        throw new InputError(`--user: invalid user name ${JSON.stringify(o.user)}`);
      if (!/^[^\s]+:\d{1,5}$/.test(String(o.listen)))
        throw new InputError(`--listen must look like HOST:PORT, not ${JSON.stringify(o.listen)}`);
      // (Not --env-file: Node 20 reads a file so named from anywhere in its argv.)
      // The bin this command runs from: the units start the same install with the same node.
      const units = systemdUnits({ node: process.execPath, bin: realpathSync(process.argv[1]!), envFile, user: o.user, listen: o.listen });
      if (!o.install && o.dir === undefined) {
        for (const u of units) out(`# ---- ${u.name}\n${u.text}`);
        return;
      }
      const dir = resolve(String(o.dir ?? '/etc/systemd/system'));
      mkdirSync(dir, { recursive: true });
      for (const u of units) {
        writeFileSync(join(dir, u.name), u.text);
        out(`wrote ${join(dir, u.name)}`);
      }
      if (!existsSync(envFile)) {
        mkdirSync(dirname(envFile), { recursive: true });
        // 0600: it is where REAPQ_API_TOKEN and a Redis password go.
        writeFileSync(envFile, envFileTemplate(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'), { mode: 0o600 });
        out(`wrote ${envFile} (edit REDIS_URL and the rest there)`);
      }
      out(`then: systemctl daemon-reload && systemctl enable --now ${units.map((u) => u.name).join(' ')}`);
    });
}
