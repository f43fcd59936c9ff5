import { rmdirSync, unlinkSync } from 'node:fs';
import { lstat, mkdir, opendir, readdir, readlink, rename, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { assertBundlePath } from '@bookcrate/format';
import { linkOrCopy, renameFile, storeIoError } from './objects.js';
import type { Store } from './store.js';

/**
 * Deletes a folder tree in flat memory. `fs.rm({recursive})` builds the work for the whole tree up
 * front (about 2 KB a file: 2 GB for a million-file version); this walks one directory handle per
 * level. Unlinks are synchronous within a directory (fast, and the event loop gets control back
 * between directories), which is what keeps a million-file delete to seconds.
 */
export async function removeTree(path: string): Promise<void> {
  for (let pass = 0; pass < 3; pass++) {
    let dir;
    try {
      dir = await opendir(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'ENOTDIR') return unlinkSync(path);
      throw e;
    }
    for await (const e of dir) {
      const p = join(path, e.name);
      if (e.isDirectory()) await removeTree(p);
      else {
        try {
          unlinkSync(p);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    }
    try {
      rmdirSync(path);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      // Entries removed while the listing ran can make it skip some: list again.
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  }
  await rm(path, { recursive: true, force: true });
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Where readers find a bundle's tree: library/<bundle> (a link to the version's folder, or the folder itself). */
export function visibleTreeDir(store: Store, bundleId: string): string {
  return join(store.paths.library, safeName(bundleId));
}

/** Where a version's browsable tree is built (`building`, hidden) and then shown (`target`). */
export function versionTreePlace(store: Store, bundleId: string, version: number, setId: string): { target: string; building: string; name: string } {
  const name = `v${version}-${setId}`;
  const target = join(store.paths.versions, safeName(bundleId), name);
  return { target, building: `${target}.building`, name };
}

/** A version's browsable tree, built in its hidden folder and not yet shown (see publishTree). */
export interface BuiltTree {
  bundleId: string;
  /** its folder once shown, under library/.versions/<bundle>/ */
  target: string;
  /** where it was built */
  building: string;
  name: string;
  links: number;
  copies: number;
}

/**
 * Builds the browsable tree of a complete version — readable paths hard-linked to the objects —
 * in a hidden folder, then switches `library/<bundle>` to it in one step (a symlink replaced by
 * rename, which is atomic), so a web server pointed at library/ only ever sees whole versions.
 * The tree readers were pointed at before is not touched until after the switch, and then kept
 * as the spare the next version's tree is made from (treeFromSpare).
 */
export async function publishTree(store: Store, versionId: number): Promise<{ dir: string; links: number; copies: number }> {
  return showVersionTree(store, await buildVersionTree(store, versionId));
}

/**
 * The first half of publishTree: the tree of the version's present files, in `<target>.building`,
 * which nothing shows. An import builds it while its last objects are being synced, inside the
 * transaction that marks them present (this connection sees those rows before the commit).
 * Made from the spare when there is one fit for it (the change's links and unlinks), otherwise
 * from the catalog (a link per file).
 */
export async function buildVersionTree(store: Store, versionId: number): Promise<BuiltTree> {
  const v = store.versionById(versionId)!;
  const { target, building, name } = versionTreePlace(store, v.bundle_id, v.version, v.set_id);
  await removeTree(building);
  const fromSpare = await treeFromSpare(store, v.bundle_id, versionId, building);
  if (fromSpare) return { bundleId: v.bundle_id, target, building, name, ...fromSpare };
  try {
    await mkdir(building, { recursive: true });
    return { bundleId: v.bundle_id, target, building, name, ...(await linkEntries(store, building, store.presentFiles(versionId))) };
  } catch (e) {
    throw storeIoError(e, building);
  }
}

/**
 * Puts entries of the catalog into a tree under `building`: a folder made, a file hard-linked to its
 * object (copied where the filesystem makes no link, with its time). Exclusive: an entry already
 * there is an error (EEXIST), not taken for the link.
 */
async function linkEntries(
  store: Store, building: string, entries: Iterable<{ path: string; type: string; sha256: string | null; mtime: number }>, opts: { exclusive?: boolean } = {},
): Promise<{ links: number; copies: number }> {
  let links = 0;
  let copies = 0;
  const made = new Set<string>();
  for (const f of entries) {
    assertBundlePath(f.path, 'catalog');
    const p = join(building, f.path);
    const parent = dirname(p);
    if (!made.has(parent)) {
      await mkdir(parent, { recursive: true });
      made.add(parent);
    }
    if (f.type === 'dir') {
      await mkdir(p, { recursive: true });
      continue;
    }
    if ((await linkOrCopy(store.paths.object(f.sha256!), p, opts)) === 'link') links++;
    else {
      copies++;
      await utimes(p, f.mtime, f.mtime);
    }
  }
  return { links, copies };
}

/**
 * The spare (docs/store.md, "Import", step 7): the tree of a version shown before, which readers
 * are no longer pointed at, kept by showVersionTree. Only one that holds exactly its version's
 * present files: named for a complete version still in the catalog that lacks no file (a tree is
 * shown only with every present file; a version no longer shown never gains present files, only
 * damaged ones), holding as many files as that version has present.
 */
async function findSpare(
  store: Store, bundleId: string, forVersionId: number | undefined, opts: { counted?: boolean } = {},
): Promise<{ dir: string; versionId: number } | undefined> {
  const bundleDir = join(store.paths.versions, safeName(bundleId));
  const shown = await shownTreeName(store, bundleId);
  let best: { dir: string; versionId: number; version: number } | undefined;
  for (const d of await readdir(bundleDir).catch(() => [] as string[])) {
    const m = TREE_NAME.exec(d);
    if (!m || d === shown || d.endsWith('.building')) continue;
    const row = store.version(bundleId, Number(m[1]));
    if (!row || row.set_id !== m[2] || row.id === forVersionId || row.state !== 'complete') continue;
    if (!best || row.version > best.version) best = { dir: join(bundleDir, d), versionId: row.id, version: row.version };
  }
  if (!best || store.missingCount(best.versionId) !== 0) return undefined;
  if (opts.counted !== false && (await countFiles(best.dir)) !== store.presentFilesOfVersion(best.versionId)) return undefined;
  return best;
}

/**
 * Whether the bundle has a spare a version's tree could be made from, by its name and the catalog
 * alone (the spare's files are counted when it is used, by buildVersionTree). An import of a later
 * version's disk asks before it starts: with a spare, it leaves the tree to the last commit (the
 * change's links and unlinks) instead of linking every file of the version as it goes.
 * `forVersionId`: the version being imported, if the catalog has it already (a spare of it is none).
 */
export async function hasSpare(store: Store, bundleId: string, forVersionId?: number): Promise<boolean> {
  return (await findSpare(store, bundleId, forVersionId, { counted: false }).catch(() => undefined)) !== undefined;
}

/** Files (anything not a folder) under `dir`, a folder handle per level. */
async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for await (const e of await opendir(dir, { bufferSize: 256 })) n += e.isDirectory() ? await countFiles(join(dir, e.name)) : 1;
  return n;
}

/**
 * Makes the version's tree in `building` from the spare, if there is one fit for it: the spare is
 * renamed there and changed in place — what the version does not hold unlinked (deepest first,
 * then the folders that leaves empty), what it holds that the spare lacks linked in — so the work
 * is that of the change between the two versions, not of the version's size. Undefined when there
 * is no spare or it turned out unfit: `building` is then gone, and the caller builds from the catalog.
 */
async function treeFromSpare(store: Store, bundleId: string, versionId: number, building: string): Promise<{ links: number; copies: number } | undefined> {
  const spare = await findSpare(store, bundleId, versionId).catch(() => undefined);
  if (!spare) return undefined;
  try {
    await renameFile(spare.dir, building);
  } catch {
    return undefined; // Windows: a reader still has a file of it open
  }
  // A file to unlink that is not there (ENOENT), or one to link that is there already (EEXIST):
  // the spare is not what it should be, and the catch below falls back.
  try {
    const emptied = new Set<string>();
    for (const f of store.treeRemovals(spare.versionId, versionId)) {
      assertBundlePath(f.path, 'catalog');
      const p = join(building, f.path);
      if (f.type === 'dir') {
        try {
          rmdirSync(p);
        } catch (e) {
          // still holds what the version keeps under it
          if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      } else unlinkSync(p);
      for (let d = dirname(f.path); d !== '.'; d = dirname(d)) emptied.add(d);
    }
    // The folders that held only what went: deepest first, so a folder emptied by its last
    // subfolder's removal is empty when its turn comes. Those the version needs come back below.
    for (const d of [...emptied].sort((a, b) => depth(b) - depth(a))) {
      try {
        rmdirSync(join(building, d));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOENT') throw e;
      }
    }
    return await linkEntries(store, building, store.treeAdditions(spare.versionId, versionId), { exclusive: true });
  } catch (e) {
    await removeTree(building).catch(() => undefined);
    // A full or failing disk is said as such; anything else the spare met (a file where a folder
    // was to be, a path refused) is the spare's doing, and the catalog's build says what remains.
    if (DISK_FAULTS.has((e as NodeJS.ErrnoException).code ?? '')) throw storeIoError(e, building);
    return undefined;
  }
}

const depth = (path: string): number => path.split('/').length;

const DISK_FAULTS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);

/** A version's tree folder: `v<N>-<set>`, or `v<N>-<set>+k` when it was shown again. */
const TREE_NAME = /^v(\d+)-(.+?)(\+\d+)?$/;

/** The name of the tree folder `library/<bundle>` links to, or undefined (none, or the tree is the folder itself). */
async function shownTreeName(store: Store, bundleId: string): Promise<string | undefined> {
  const target = await readlink(visibleTreeDir(store, bundleId)).catch(() => undefined);
  return target?.split(/[\\/]/).filter(Boolean).pop();
}

/** Removes a built tree that will not be shown (its version's commit failed). */
export async function discardVersionTree(built: BuiltTree): Promise<void> {
  await removeTree(built.building);
}

/**
 * The second half of publishTree: the built tree takes its place under library/.versions/<bundle>/,
 * `library/<bundle>` is pointed at it, and the trees it replaces are removed — but the one shown
 * until now, of another version, which stays as the spare.
 *
 * A version shown again (its damaged files repaired by a mirror round) gets a folder name of its
 * own (`v3-<set>+2`), so the tree readers are using is never emptied while they are still pointed
 * at it: the switch is the one step that changes what they see. Removing the trees it replaced is
 * tidying, not part of the switch: one that cannot be removed now (Windows keeps a folder whose
 * file a reader has open) is left, and the next switch of the bundle removes it.
 */
export async function showVersionTree(store: Store, built: BuiltTree, opts: { windows?: boolean } = {}): Promise<{ dir: string; links: number; copies: number }> {
  const { building, links, copies } = built;
  const bundleDir = dirname(built.target);
  const name = await unusedName(bundleDir, built.name);
  try {
    await renameFile(building, join(bundleDir, name));
  } catch (e) {
    throw storeIoError(e, building);
  }
  const visible = join(store.paths.library, safeName(built.bundleId));
  const replaced = await shownTreeName(store, built.bundleId);
  try {
    await pointAt(visible, join('.versions', safeName(built.bundleId), name), opts.windows ?? process.platform === 'win32');
  } catch (linkFailed) {
    // A full or failing disk is said as such.
    if (['ENOSPC', 'EDQUOT', 'EIO', 'EROFS'].includes((linkFailed as NodeJS.ErrnoException).code ?? '')) throw storeIoError(linkFailed, visible);
    // No symbolic links or junctions here (exFAT, FAT32, some network shares): the tree itself
    // takes the place.
    await putInPlace(visible, join(bundleDir, name), bundleDir).catch((e: unknown) => {
      throw storeIoError(Object.assign(new Error(`${(linkFailed as Error).message}; moving the tree into place: ${(e as Error).message}`), { code: (e as NodeJS.ErrnoException).code }), visible);
    });
  }
  // The tree readers were pointed at until now stays as the spare the next version's tree is made
  // from (treeFromSpare), unless it is of this same version (a repair: it lacked files).
  const spare = replaced && TREE_NAME.exec(replaced)?.[1] !== TREE_NAME.exec(name)?.[1] ? replaced : undefined;
  for (const d of await readdir(bundleDir)) {
    if (d !== name && d !== spare && !d.endsWith('.building')) await removeTree(join(bundleDir, d)).catch(() => undefined);
  }
  return { dir: visible, links, copies };
}

/**
 * Where the store's filesystem makes neither symbolic links nor junctions, `library/<bundle>` is the
 * tree's folder itself: the tree shown before is moved aside into .versions/<bundle>/ (and removed
 * with the other replaced trees), then the new one is moved in. Two renames: for that instant a
 * web server finds no tree, never a mix of two versions.
 */
async function putInPlace(visible: string, tree: string, bundleDir: string): Promise<void> {
  const was = await lstat(visible).catch(() => undefined);
  if (was?.isSymbolicLink()) await unlink(visible);
  else if (was) await renameFile(visible, join(bundleDir, `replaced-${Date.now()}-${process.pid}`));
  await renameFile(tree, visible);
}

/** `name`, or `name+2`, `name+3`… when a folder of that name is there already. */
async function unusedName(dir: string, name: string): Promise<string> {
  for (let k = 1; ; k++) {
    const n = k === 1 ? name : `${name}+${k}`;
    if (!(await lstat(join(dir, n)).then(() => true, () => false))) return n;
  }
}

/**
 * Points the link `visible` at `relTarget` (relative to the link's folder).
 *
 * POSIX: a symbolic link made under a temp name and renamed over the old one, so a reader follows
 * either the old tree or the new one, never nothing.
 *
 * Windows: a symbolic link there needs an administrator or Developer Mode, and a rename cannot
 * replace a folder (a link to one included). So the link is a junction, which any user may make (its
 * target is absolute: the store must stay at its drive and path, or the next switch repairs it), and
 * the old one is removed just before the new one is renamed in: for that instant a reader finds no
 * tree — never a mix of two versions.
 */
async function pointAt(visible: string, relTarget: string, windows: boolean): Promise<void> {
  const tmp = `${visible}.switch-${process.pid}`;
  await rm(tmp, { force: true });
  if (!windows) {
    await symlink(relTarget, tmp);
    await rename(tmp, visible);
    return;
  }
  await symlink(resolve(dirname(visible), relTarget), tmp, 'junction');
  try {
    await unlink(visible);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await rename(tmp, visible);
}

/**
 * The version whose tree readers see for a bundle, from the link `library/<bundle>` alone (no
 * catalog): `v<N>-<set>`, or `v<N>-<set>+k` when it was shown again after a repair. Undefined where
 * the tree is the folder itself (exFAT, FAT32) or there is none. A rebuilt catalog takes it as
 * proof that the version was complete (rebuild.ts).
 */
export async function shownVersionOnDisk(store: Store, bundleId: string): Promise<{ version: number; set: string } | undefined> {
  const m = TREE_NAME.exec((await shownTreeName(store, bundleId)) ?? '');
  return m ? { version: Number(m[1]), set: m[2]! } : undefined;
}
