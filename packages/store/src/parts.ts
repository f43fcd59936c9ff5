import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { storeIoError } from './objects.js';
import type { Store } from './store.js';

/**
 * Manifest parts kept in the store (`parts/<aa>/<sha256>.jsonl`): the trees of the versions it
 * holds, so the next mirror round reads unchanged parts locally and fetches only what changed.
 * They are a cache with a checksum for a name — every reader checks a part against the hash its
 * parent gives — so they are written by rename but not fsynced: a part lost in a power cut is
 * simply fetched again.
 */
export async function savePart(store: Store, sha256: string, bytes: Buffer): Promise<void> {
  const final = store.paths.part(sha256);
  const tmp = join(store.paths.tmp, `part-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(tmp, bytes);
    // The shard folder usually exists: making sure of it first (a mkdir per part, which takes the
    // parent folder's lock) cost more than the rename when thousands of parts are kept at once.
    await rename(tmp, final).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
      await mkdir(dirname(final), { recursive: true });
      await rename(tmp, final);
    });
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw storeIoError(e, final);
  }
}

export async function readStoredPart(store: Store, sha256: string): Promise<Buffer | undefined> {
  try {
    return await readFile(store.paths.part(sha256));
  } catch {
    return undefined;
  }
}
