import { describe, expect, it } from 'vitest';
import type { RestartPolicy } from '../../src/shared/record.js';
import { useHosts } from '../helpers/client.js';
import { httpReady, versionApp } from '../helpers/services.js';
import { carriersOf, innerPid, until, type TestWorker } from '../helpers/workers.js';

/**
 * A service keeps its replica count when a host dies with its processes: each worker is
 * PID 1 of a PID namespace of its own (a stand-in for a separate host), and killing it
 * takes every process of the namespace with it.
 */
// Each test leaves nothing for the next: its services stopped, then its hosts.
const { c, host } = useHosts(async (client) => {
  for (const s of await client.services())
    if (s.active) await client.waitForDeploy((await client.stopService(s.name)).id, { timeoutMs: 30_000 });
});
/** The host dies: PID 1 of its namespace is killed, and the kernel kills every process in it. */
async function die(w: TestWorker): Promise<void> {
  process.kill(innerPid(w), 'SIGKILL');
  await w.stop();
}

const ready = httpReady(30_000);

/** Resolves once the service's active revision has `n` replicas running, every one on `hostId`. */
async function servedOn(service: string, n: number, hostId: string) {
  return until(
    async () => {
      const s = await c.service(service);
      const procs = s.active?.processes ?? [];
      const ok = procs.length === n && procs.every((p) => p.state === 'running' && p.host === hostId);
      return ok && s.health === 'serving' ? s : null;
    },
    30_000,
    `${service}: ${n} replicas running on ${hostId}`,
  );
}

describe('a host dies under a service', () => {
  for (const restart of ['on-failure', 'never'] as RestartPolicy[])
    it(`after a deploy succeeded (restart ${restart}): the service is back to 2 replicas on the other host`, async () => {
      const a = await host('h-a');
      const d = await c.deploy({ service: `s-${restart}`, command: versionApp('v1'), port: 'auto', ready, replicas: 2, restart });
      expect((await c.waitForDeploy(d.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
      const before = await servedOn(`s-${restart}`, 2, 'h-a');
      await host('h-b');
      await die(a);
      for (const p of before.active!.processes) await until(() => carriersOf(p.id).length === 0, 5000, `${p.id} died with h-a`);
      const after = await servedOn(`s-${restart}`, 2, 'h-b');
      expect(after.active!.revision).toBe(1);
      for (const p of after.active!.processes) expect(carriersOf(p.id)).toHaveLength(1);
    }, 60_000);

  for (const restart of ['on-failure', 'never'] as RestartPolicy[])
    it(`in the middle of a start-first deploy (restart ${restart}): it ends with 2 replicas serving on the other host`, async () => {
      const a = await host('h-a');
      const d1 = await c.deploy({ service: `mid-${restart}`, command: versionApp('v1'), port: 'auto', ready, replicas: 2, restart });
      expect((await c.waitForDeploy(d1.id, { timeoutMs: 30_000 })).state).toBe('succeeded');
      // h-b is up but drained while v2 rolls: every replica lands on h-a.
      await host('h-b');
      await c.admin.drain('h-b');
      const d2 = await c.deploy({ service: `mid-${restart}`, command: versionApp('v2', 500), port: 'auto', ready, replicas: 2, restart });
      await until(async () => (await c.getDeploy(d2.id)).ready.length === 1, 20_000, 'the first new replica ready');
      await c.admin.undrain('h-b');
      await die(a);
      const fin = await c.waitForDeploy(d2.id, { timeoutMs: 60_000 });
      expect(['succeeded', 'rolled_back']).toContain(fin.state);
      const s = await servedOn(`mid-${restart}`, 2, 'h-b');
      expect(s.active!.revision).toBe(fin.state === 'succeeded' ? d2.revision : d1.revision);
    }, 90_000);
});
