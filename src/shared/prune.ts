import type { EventStore } from './event-store.js';
import { FINAL_STATES, mayRestart, type ProcessRecord } from './record.js';

/** Finished longer ago than the cutoff, and nothing (no restart) will bring it back. */
export function prunable(r: ProcessRecord, cutoff: number): boolean {
  if (!FINAL_STATES.has(r.state) || mayRestart(r) || r.killPending.length > 0) return false;
  const ended = r.endedAt ? Date.parse(r.endedAt) : Date.parse(r.updatedAt);
  return ended <= cutoff;
}

/** Deletes prunable records with their event and log streams; returns their ids. */
export async function prune(store: EventStore, cutoff: number): Promise<string[]> {
  const removed: string[] = [];
  for (const r of await store.all()) if (prunable(r, cutoff) && (await store.remove(r))) removed.push(r.id);
  return removed;
}

/**
 * Compacts the event streams of records finished before the cutoff (see EventStore.compact);
 * returns how many were compacted.
 */
export async function compactFinished(store: EventStore, cutoff: number): Promise<number> {
  let n = 0;
  for (const r of await store.all()) {
    if (!FINAL_STATES.has(r.state) || mayRestart(r) || !r.endedAt || Date.parse(r.endedAt) > cutoff) continue;
    if ((await store.hasStream(r.id)) && (await store.compact(r))) n++;
  }
  return n;
}
