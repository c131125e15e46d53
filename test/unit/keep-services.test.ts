import { describe, expect, it } from 'vitest';
import type { ProcessRecord, State } from '../../src/shared/record.js';
import { planKeep, type ServiceView } from '../../src/worker/reconcile/keep-services.js';

function rec(id: string, state: State, o: Partial<ProcessRecord> = {}): ProcessRecord {
  return { id, state, desired: 'running', host: 'h-a', restarts: 0, restartPolicy: 'never', ...o } as unknown as ProcessRecord;
}

const active = { revision: 3, deploy: 'd3', spec: { command: ['srv'] }, processes: ['web-r3-0', 'web-r3-1', 'web-r3-2'] };
const viewOf = (recs: ProcessRecord[], o: Partial<ServiceView> = {}): ServiceView => ({
  service: 'web',
  active,
  underWay: false,
  replicas: new Map(active.processes.map((id) => [id, recs.find((r) => r.id === id) ?? null])),
  ...o,
});

describe('planKeep', () => {
  it('starts again each replica of the active revision lost with its host, whatever its restart policy', () => {
    const plan = planKeep(viewOf([rec('web-r3-0', 'running'), rec('web-r3-1', 'lost', { restarts: 2 }), rec('web-r3-2', 'lost')]));
    expect(plan).toEqual([
      {
        process: 'web-r3-1',
        event: { type: 'restart_scheduled', attempt: 3, delayMs: 0 },
        reason: 'replica of web r3 lost with host h-a: started again for the service',
      },
      expect.objectContaining({ process: 'web-r3-2', event: { type: 'restart_scheduled', attempt: 1, delayMs: 0 } }),
    ]);
  });

  it('leaves alone replicas that ended on their own, were stopped, are gone, or are already on their way back', () => {
    const recs = [
      rec('web-r3-0', 'exited', { exitCode: 1 }),
      rec('web-r3-1', 'lost', { desired: 'stopped' }),
      rec('web-r3-2', 'pending', { restarts: 1 }),
    ];
    expect(planKeep(viewOf(recs))).toEqual([]);
    expect(planKeep(viewOf([rec('web-r3-0', 'failed', { error: 'crash loop' })]))).toEqual([]);
  });

  it('does nothing while a deploy of the service is under way, or with no active revision', () => {
    const lost = [rec('web-r3-0', 'lost')];
    expect(planKeep(viewOf(lost, { underWay: true }))).toEqual([]);
    expect(planKeep(viewOf(lost, { active: null }))).toEqual([]);
  });
});
