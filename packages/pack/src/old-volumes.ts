import { readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BookcrateError } from '@bookcrate/format';
import { volumeDirName, volumePaths } from '@bookcrate/volume';
import { fsyncDir, readJson } from './fsutil.js';

/** A folder of an earlier pack of the same bundle on a target, which a fresh pack replaces. */
export interface OldVolume {
  /** the target (--out) it is on */
  out: string;
  folder: string;
  /** of a whole volume: its bundle version and set; absent for what an abandoned pack left */
  version?: number;
  set?: string;
}

/**
 * The folders on the targets that a fresh pack of `bundle` replaces: volumes of this bundle in
 * another set (an earlier version, or the same version packed again), volumes of this set that
 * this run writes again (from the first byte: it is a fresh start), and folders named like its
 * volumes that are not volumes (an abandoned pack's). Other volumes of this same set are kept
 * (`--volume` packs write one set's volumes in several runs), and so is everything of other bundles. Left on
 * the disk, the old folders would take its room and be offered to the county beside the new ones
 * (which `import` then refuses as older); written over in place, a crash would leave the old
 * volume.json naming a mix of old and new segments. A target holding a newer version of the
 * bundle than the one packed is refused: packing an older selection over it is a mistake.
 */
export async function findOldVolumes(
  outs: string[], bundle: { id: string; version: number }, set: string, writes: (out: string, volume: number) => boolean,
): Promise<OldVolume[]> {
  const prefix = volumeDirName(bundle.id, 1, 1).replace(/-vol1-of-1$/, '');
  const named = new RegExp(`^${prefix.replace(/[.]/g, '\\.')}-vol\\d+-of-\\d+$`);
  const found: OldVolume[] = [];
  for (const out of outs) {
    let names: string[];
    try {
      names = await readdir(out);
    } catch {
      continue; // not made yet
    }
    for (const name of names.sort()) {
      if (!named.test(name)) continue;
      const folder = join(out, name);
      const p = volumePaths(folder);
      const doc = await readJson<{ set?: unknown; volume?: unknown }>(p.volume);
      if (!doc) {
        found.push({ out, folder });
        continue;
      }
      if (doc.set === set && !(typeof doc.volume === 'number' && writes(out, doc.volume))) continue;
      const root = await readJson<{ bundle?: { id?: unknown; version?: unknown } }>(p.root);
      if (root?.bundle?.id !== undefined && root.bundle.id !== bundle.id) continue; // another bundle whose id reads the same as a folder name
      const version = typeof root?.bundle?.version === 'number' ? root.bundle.version : undefined;
      if (version !== undefined && version > bundle.version) {
        throw new BookcrateError('USAGE', `${folder} holds version ${version} of "${bundle.id}", newer than the version ${bundle.version} being packed`, {
          hint: 'pack to another disk, or give the recipe the next version number; remove that folder first only if it is no longer wanted',
        });
      }
      found.push({ out, folder, ...(version !== undefined ? { version } : {}), set: String(doc.set) });
    }
  }
  return found;
}

/**
 * Removes old volume folders so that a crash at any point leaves no folder that claims to be a
 * volume it is not: each folder's volume.json goes first (and its removal is made durable), and
 * only then the rest. A folder without volume.json is what the next fresh pack removes anyway.
 */
export async function retireOldVolumes(old: OldVolume[]): Promise<void> {
  for (const o of old) {
    const p = volumePaths(o.folder);
    await unlink(p.volume).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await fsyncDir(p.meta).catch(() => undefined);
    await rm(o.folder, { recursive: true, force: true });
  }
}
