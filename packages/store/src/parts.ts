import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CacheAwareReads } from '@bookcrate/volume/cache-aware';
import { storeIoError } from './objects.js';
import type { Store } from './store.js';
import { renameMakingFolder } from './tree-link.js';

/** Where a part is written before its rename into parts/. */
const tempPartPath = (store: Store): string => join(store.paths.tmp, `part-${process.pid}-${randomBytes(6).toString('hex')}`);

/**
 * Manifest parts kept in the store (`parts/<aa>/<sha256>.jsonl`): the trees of the versions it
 * holds, so the next mirror round reads unchanged parts locally and fetches only what changed.
 * They are a cache with a checksum for a name — every reader checks a part against the hash its
 * parent gives — so they are written by rename but not fsynced: a part lost in a power cut is
 * simply fetched again.
 */
export async function savePart(store: Store, sha256: string, bytes: Buffer): Promise<void> {
  const final = store.paths.part(sha256);
  const tmp = tempPartPath(store);
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

/**
 * Keeps a part that was checked against its parent's hash, unless the store has it already (a file
 * of its name and size: the name is the hash, and a reader checks the bytes again). Synchronous:
 * for a thread of its own that reads the parts anyway (the import's catalog thread), where each
 * part's four trips through libuv's thread pool and their promises cost more than the writes.
 */
export function keepCheckedPartSync(store: Store, sha256: string, bytes: Buffer): void {
  const final = store.paths.part(sha256);
  if (statSync(final, { throwIfNoEntry: false })?.size === bytes.length) return;
  const tmp = tempPartPath(store);
  try {
    writeFileSync(tmp, bytes);
    renameMakingFolder(tmp, final);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // not written, or already renamed
    }
    throw storeIoError(e, final);
  }
}

export async function readStoredPart(store: Store, sha256: string): Promise<Buffer | undefined> {
  const path = store.paths.part(sha256);
  // A mirror round reads every part of the new version its store already holds (tens of thousands
  // for a million files): on this thread while the page cache answers, as a volume's parts are
  // read (@bookcrate/volume's CacheAwareReads), else through libuv's pool.
  try {
    return await storedPartReads.read(() => readFileSync(path), () => readFile(path), (bytes) => bytes?.length ?? 0);
  } catch {
    return undefined;
  }
}

const storedPartReads = new CacheAwareReads();
