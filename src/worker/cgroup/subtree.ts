import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A worker's subtree is `<prefix>@<host>@<fleet>` in the v2 hierarchy and in each v1
 * hierarchy it uses; its leaves are `<id>@<run>` below each (the worker's own leaf,
 * `worker`, has no `@`). The fleet id (keys.fleetId) keeps two installations with the same
 * prefix and host id on one machine out of each other's subtree: each lists, kills and
 * removes leaves of its own only.
 */
export function subtreeName(prefix: string, hostId: string, fleet: string): string {
  return `${prefix}@${hostId}@${fleet}`;
}

/** The subtree of a release before fleet ids: its leaves are this fleet's only where its Redis holds their record. */
export function legacySubtreeName(prefix: string, hostId: string): string {
  return `${prefix}@${hostId}`;
}

/** Leaf names found under any of the subtree's directories, sorted; none when they are gone. */
export function leafNames(dirs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const d of dirs) {
    try {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory() && e.name.includes('@')) out.add(e.name);
    } catch {
      // this hierarchy's subtree is gone (or was never made)
    }
  }
  return [...out].sort();
}

const rmdirQuiet = (d: string): void => {
  try {
    rmdirSync(d);
  } catch {
    // populated, in use, or not there: rmdir never removes a cgroup with a process in it
  }
};

/** Removes a subtree's own directories where nothing is left in them: no leaf is touched. */
export function removeSubtreeDirs(dirs: readonly string[]): void {
  for (const d of dirs) rmdirQuiet(d);
}

/**
 * Removes the empty leaves, then the subtree itself once no leaf is left; returns the leaves
 * that stay (each holds a process). An empty leaf is one whose removal failed when its run
 * ended, or one a killed worker left: kept, it would keep the subtree forever. The worker's
 * own leaf keeps the subtree while the worker lives in it.
 */
export function removeSubtree(dirs: readonly string[]): string[] {
  for (const leaf of leafNames(dirs)) for (const d of dirs) rmdirQuiet(join(d, leaf));
  const left = leafNames(dirs);
  if (left.length === 0) removeSubtreeDirs(dirs);
  return left;
}
