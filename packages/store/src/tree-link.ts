import { linkSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';

// A module of its own, with nothing but node's fs: the import's writer thread loads it
// (`@bookcrate/store/tree-link`) without the rest of the store and its SQLite. Both functions put a
// file at a path whose folder usually exists: they make the folder only when the first try says it
// is missing (a mkdir first, for each of thousands of files, cost more than the renames).

/** Renames `from` to `to`, making `to`'s folder when it is missing (a shard folder of objects/ or parts/). */
export function renameMakingFolder(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dirname(to), { recursive: true });
    renameSync(from, to);
  }
}

/**
 * Hard-links an object to `linkPath` in a tree being built, making the folders above it when they
 * are missing. False (and nothing thrown) when the filesystem cannot: the tree is then built from
 * the catalog instead (buildVersionTree), which copies what it cannot link.
 */
export function linkIntoTree(objectPath: string, linkPath: string): boolean {
  try {
    linkSync(objectPath, linkPath);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return false;
  }
  try {
    mkdirSync(dirname(linkPath), { recursive: true });
    linkSync(objectPath, linkPath);
    return true;
  } catch {
    return false;
  }
}
