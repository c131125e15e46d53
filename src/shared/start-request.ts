import type { EventDraft } from './events.js';
import type { StartSpecSchema } from './record.js';
import type { z } from 'zod';

/** The `start_requested` event of a parsed start spec: the client's starts and a deploy's replicas write the same one. */
export function startRequested(
  s: Omit<z.output<typeof StartSpecSchema>, 'id'> & { atMostOne?: boolean },
  of: { service: string; revision: number } | null = null,
  restartOf: string | null = null,
): EventDraft {
  return {
    type: 'start_requested',
    spec: {
      name: s.name ?? null,
      command: s.command,
      cwd: s.cwd ?? null,
      env: s.env ?? {},
      port: s.port ?? null,
      restart: s.restart ?? 'never',
      graceMs: s.graceMs ?? null,
      host: s.host ?? null,
      ready: s.ready ?? null,
      service: of?.service ?? null,
      revision: of?.revision ?? null,
      limits:
        s.memory === undefined && s.cpus === undefined && s.pidsMax === undefined
          ? null
          : { memory: s.memory ?? null, cpus: s.cpus ?? null, pidsMax: s.pidsMax ?? null },
      ...(restartOf ? { restartOf } : {}),
      ...(s.logMaxBytes === undefined && s.logKeep === undefined && s.logGzip === undefined
        ? {}
        : { logs: { maxBytes: s.logMaxBytes ?? null, keep: s.logKeep ?? null, gzip: s.logGzip ?? null } }),
      ...(s.atMostOne ? { atMostOne: true } : {}),
      ...(s.daemon ? { daemon: { pidFile: s.pidFile ?? null } } : {}),
    },
  };
}
