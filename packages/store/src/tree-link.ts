import { linkSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

// A module of its own, with nothing but node's fs: the import's writer thread loads it
// (`@bookcrate/store/tree-link`) without the rest of the store and its SQLite.

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
