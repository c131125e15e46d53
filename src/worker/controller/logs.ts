import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LogSettings } from '../../shared/record.js';
import type { LogShipper } from '../log-shipper.js';

type Background = (what: string, ctx: Record<string, unknown>, p: Promise<unknown>) => void;

/** Where each run's output goes, and its shipping to Redis while the run is held. */
export class RunLogs {
  private dirMade = false;

  constructor(
    private readonly dataDir: string,
    private readonly shipper: LogShipper,
    private readonly background: Background,
  ) {}

  get dir(): string {
    return resolve(this.dataDir, 'logs');
  }

  file(id: string): string {
    return join(this.dir, `${id}.log`);
  }

  /** Made once, before the first spawn writes into it. */
  ensureDir(): void {
    if (!this.dirMade) mkdirSync(this.dir, { recursive: true });
    this.dirMade = true;
  }

  /** Ships the run's log from `fromPos`, or without one from where the stream says shipping stopped; rotated as the record says. */
  track(id: string, settings: LogSettings | null, fromPos?: number): void {
    this.background('log shipping', { processId: id }, this.shipper.track(id, this.file(id), fromPos, settings));
  }

  untrack(id: string): void {
    this.background('log shipping', { processId: id }, this.shipper.untrack(id));
  }
}
