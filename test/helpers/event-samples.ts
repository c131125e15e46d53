import { readFileSync } from 'node:fs';
import type { RawEvent } from '../../src/shared/event-versions.js';

/** One stored event as a release wrote it, and what it reads as today when that is not itself. */
export interface Sample {
  'written by'?: string;
  event: RawEvent;
  'as current'?: RawEvent;
}

/** The stored samples of one event type, by version: `<dir>/<type>.json` is { "<version>": [Sample] }. */
export function samplesOf(dir: URL, type: string): Record<string, Sample[]> {
  return JSON.parse(readFileSync(new URL(`${type}.json`, dir), 'utf8')) as Record<string, Sample[]>;
}
