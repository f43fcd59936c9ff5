import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BookcrateError, decodeRoot, treePartRefs, type PartRef } from '@bookcrate/format';
import { readStoredPart } from './parts.js';
import type { Store } from './store.js';

/** How long an object no version uses stays in the store before it is deleted (`mirror --gc-after`). */
export const DEFAULT_GC_AFTER_MS = 7 * 86_400_000;

/**
 * After a version of `bundle` became current (a mirror round's switch, or an import that showed
 * it): versions older than the previous complete one leave the catalog, objects no version uses
 * are deleted once they have been unused for `retentionMs`, and so are parts no kept version's
 * trees reference and temp files of abandoned rounds. Without it a library fed by disks alone
 * would keep every quarter's replaced content until its disk is full. Run under the store's lock.
 */
export async function collectGarbage(store: Store, bundle: string, retentionMs = DEFAULT_GC_AFTER_MS): Promise<void> {
  const dropped = store.dropOldVersions(bundle);
  // The parts of files spanning volumes (tmp/parts/<sha256>-<offset>) that no version lacks any
  // more: the file was assembled, came with the mirror, or its version left the catalog. A damaged
  // assembly keeps its parts for the good copy of one disk (import.ts, assembleParts). Before the
  // early return below: a store of one version has them too.
  const partsDir = join(store.paths.tmp, 'parts');
  for (const name of await readdir(partsDir).catch(() => [] as string[])) {
    const sha = /^([0-9a-f]{64})-\d+$/.exec(name)?.[1];
    if (sha && !store.lacksObject(sha)) await unlink(join(partsDir, name)).catch(() => undefined);
  }
  // A store holding one version, with nothing waiting to expire, has nothing to collect: its first
  // import (of 200,000 files, ~0.3 s of queries and part reads) is spared the looking.
  if (dropped.length === 0 && store.allVersions().length === 1 && !store.db.prepare('SELECT 1 FROM gc_candidates LIMIT 1').get()) return;
  for (const sha of store.collectObjects(retentionMs)) await unlink(store.paths.object(sha)).catch(() => undefined);
  // Parts: keep every part of every version still in the catalog.
  const keep = new Set<string>();
  const local = async (ref: PartRef): Promise<Buffer> => {
    const b = await readStoredPart(store, ref.sha256);
    if (!b) throw new BookcrateError('IO', `manifest part ${ref.sha256} is not in the store`);
    return b;
  };
  try {
    for (const v of store.allVersions()) {
      const root = decodeRoot(store.versionByRoot(v.root_sha256)!.root_json);
      for (const [tree, name] of [[root.files, 'files'], [root.resources, 'resources'], [root.chunks, 'chunks']] as const) {
        if (tree) for await (const ref of treePartRefs(tree, local, name)) keep.add(ref.sha256);
      }
    }
  } catch {
    return; // an index part is missing locally: collect nothing rather than guess
  }
  const cutoff = Date.now() - retentionMs;
  for (const shard of await readdir(store.paths.parts).catch(() => [] as string[])) {
    for (const name of await readdir(join(store.paths.parts, shard)).catch(() => [] as string[])) {
      const sha = name.replace(/\.jsonl$/, '');
      if (keep.has(sha)) continue;
      const p = join(store.paths.parts, shard, name);
      const st = await stat(p).catch(() => undefined);
      if (st && st.mtimeMs < cutoff) await unlink(p).catch(() => undefined);
    }
  }
  for (const name of await readdir(store.paths.tmp).catch(() => [] as string[])) {
    if (!/^(net|part)-/.test(name)) continue;
    const p = join(store.paths.tmp, name);
    const st = await stat(p).catch(() => undefined);
    if (st && st.mtimeMs < cutoff) await unlink(p).catch(() => undefined);
  }
}
