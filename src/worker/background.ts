import type { Logger } from '../shared/logger.js';

/**
 * Background work never ends the worker: each rejection is logged with what it was for,
 * and an unhandled one (a bug) is logged and the worker carries on.
 */
export function backgroundWork(log: Logger): {
  run: (what: string, ctx: Record<string, unknown>, p: Promise<unknown>) => void;
  stop(): void;
} {
  const onUnhandled = (err: unknown) =>
    log.error({ err: (err as Error)?.stack ?? String(err) }, 'unhandled rejection (a bug): the worker carries on');
  process.on('unhandledRejection', onUnhandled);
  return {
    run: (what, ctx, p) => {
      p.catch((err: unknown) => log.error({ ...ctx, err: (err as Error)?.message ?? String(err) }, `${what} failed`));
    },
    stop: () => void process.off('unhandledRejection', onUnhandled),
  };
}
