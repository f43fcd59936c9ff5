import Database from 'better-sqlite3';
import type { KeyObject } from 'node:crypto';
import { opendirSync, readdirSync, readFileSync, renameSync, statfsSync, statSync, unlinkSync, type Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  BookcrateError, decodeFileEntry, decodeResourceEntry, decodeRoot, keyFingerprint, loadPublicKey, publicKeyPem, readTreeLines, segmentTable, verifyRootSignature,
  type PartRef, type Root,
} from '@bookcrate/format';
import { syncFolderSync, writeDurablySync } from './durable.js';
import { checkStore, recoverObjectFromTree, type CheckProgress, type CheckReport } from './check.js';
import { keptKeys, keptRootHashes, keptShown, readKeptRoot } from './kept-roots.js';
import { acquireLock } from './lock.js';
import { catalogWriteError, storeIoError } from './objects.js';
import { readStoredPart } from './parts.js';
import { Store, storePaths } from './store.js';
import { shownVersionOnDisk, visibleTreeDir } from './tree.js';

/**
 * `bookcrate check --rebuild-catalog` (docs/store.md, "Rebuilding the catalog"): a new catalog made
 * from what the store's own disk holds, for a catalog.sqlite that SQLite says is damaged (a bad
 * sector, a disk that lied about a flush before a power cut) or that is gone. Without it the way
 * back was every disk again, or 4 TB over a county's link.
 *
 * What it is made from: the signed roots kept in roots/ (kept-roots.ts), checked against the trusted
 * key; their manifest parts in parts/, each checked against its hash as it is read; the objects in
 * objects/, each read back and hashed by a full check before anything is shown as theirs. What it
 * cannot know, it says: a disk version that was not complete is left for its disks to bring again
 * (the store does not keep which volume holds which file), and the import history, mirror rounds and
 * earlier checks are lost with the old file, which is kept beside the new one.
 *
 * Crash-safe: the new catalog is built as tmp/catalog-rebuild.sqlite and takes catalog.sqlite's place
 * by rename only when it is whole and checked. Killed while it is built, the next run starts it again;
 * killed during its check (hours for 4 TB), the next run goes on with the check where it was.
 */

export interface RebuildOptions {
  /** the center's key, PEM (`--trust center.pub`); otherwise the old catalog's, otherwise the store's copy */
  trustPem?: string;
  /** check sizes only, not the bytes (minutes instead of hours; objects nothing uses are not kept) */
  fast?: boolean;
  /** rebuild even though the catalog opens and SQLite finds nothing wrong in it */
  force?: boolean;
  /** wait for a writer holding the store instead of stopping */
  wait?: boolean;
  onProgress?: (p: RebuildProgress) => void;
}

export type RebuildProgress = Omit<CheckProgress, 'phase'> & { phase: CheckProgress['phase'] | 'listing' | 'manifest' };

export interface RebuiltVersion {
  bundle: string;
  version: number;
  set: string;
  origin: 'disk' | 'network';
  files: number;
  /** complete (and shown, if newest), or left waiting for its volumes or the mirror */
  state: 'complete' | 'incomplete';
  current: boolean;
  /** carried files whose object the store no longer holds, recorded damaged (a version readers had) */
  missing: number;
}

export interface RebuildReport {
  store: string;
  /** where the old catalog was put (kept: nothing is deleted), or null if there was none */
  oldCatalog: string | null;
  /** what SQLite said of the old catalog, and what could still be read from it */
  oldCatalogProblems: string[];
  salvaged: { keys: number; carried: number; versions: number };
  key: { fingerprints: string[]; from: 'given' | 'old-catalog' | 'store' };
  versions: RebuiltVersion[];
  /** kept roots not rebuilt, and why */
  skipped: { root: string; bundle?: string; version?: number; reason: string }[];
  /** disk versions left out because they were not complete: import their volumes again */
  incompleteDiskVersions: { bundle: string; version: number; set: string; volumes: number }[];
  /** older disk versions that were not complete and that nothing awaits (readers have a newer one): left out */
  superseded: { bundle: string; version: number }[];
  /** object files found in objects/; `recovered`: objects it lacked that the readers' tree still held whole */
  objects: { found: number; bytes: number; recovered: number };
  /** the check of the new catalog (every object hashed, or sizes with fast) */
  check: CheckReport;
  /** the check was one a killed run had started */
  resumed: boolean;
  seconds: number;
  ok: boolean;
}

type BuildReport = Omit<RebuildReport, 'check' | 'resumed' | 'seconds' | 'ok' | 'oldCatalog'>;

interface Salvage {
  problems: string[];
  keys: string[];
  carried: { bundle_id: string; collection: string }[];
  /** versions the old catalog had as complete, by `<bundle>\n<version>` */
  complete: Set<string>;
  versions: number;
  /** whether the old catalog opened and SQLite found nothing wrong */
  sound: boolean;
}

const SQLITE_SIDE = ['', '-wal', '-shm'];

/** Reads what can still be read from the old catalog, each table on its own: a bad page loses only what is on it. */
function salvageOldCatalog(path: string): Salvage | undefined {
  if (!statSync(path, { throwIfNoEntry: false })) return undefined;
  const out: Salvage = { problems: [], keys: [], carried: [], complete: new Set(), versions: 0, sound: false };
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    out.problems.push((e as Error).message);
    return out;
  }
  try {
    try {
      const rows = db.pragma('quick_check(20)') as { quick_check: string }[];
      const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
      out.problems.push(...problems);
      out.sound = problems.length === 0;
    } catch (e) {
      out.problems.push((e as Error).message);
    }
    const attempt = (work: () => void): void => {
      try {
        work();
      } catch (e) {
        out.sound = false;
        if (!out.problems.includes((e as Error).message)) out.problems.push((e as Error).message);
      }
    };
    attempt(() => {
      out.keys = (db.prepare('SELECT pem FROM trusted_keys').all() as { pem: string }[]).map((r) => r.pem);
    });
    attempt(() => {
      out.carried = db.prepare('SELECT bundle_id, collection FROM carried_collections').all() as Salvage['carried'];
    });
    attempt(() => {
      const rows = db.prepare('SELECT bundle_id, version, state FROM versions').all() as { bundle_id: string; version: number; state: string }[];
      out.versions = rows.length;
      for (const r of rows) if (r.state === 'complete') out.complete.add(`${r.bundle_id}\n${r.version}`);
    });
  } finally {
    db.close();
  }
  return out;
}

function removeCatalogFile(path: string): void {
  for (const side of SQLITE_SIDE) {
    try {
      unlinkSync(path + side);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** `2026-12-04T20-15-03` for the old catalog's new name. */
const stamp = (d: Date): string => d.toISOString().slice(0, 19).replace(/:/g, '-');

/** Every file of objects/ named as an object (`<aa>/<64 hex>` starting with `aa`), with its size, a shard at a time. */
function* objectFiles(objectsDir: string): Generator<{ sha256: string; size: number }> {
  for (const shard of readdirSync(objectsDir).filter((n) => /^[0-9a-f]{2}$/.test(n)).sort()) {
    const dir = opendirSync(join(objectsDir, shard));
    try {
      for (let e: Dirent | null; (e = dir.readSync()) !== null;) {
        if (!e.isFile() || e.name.length !== 64 || !e.name.startsWith(shard) || !/^[0-9a-f]{64}$/.test(e.name)) continue;
        const st = statSync(join(objectsDir, shard, e.name), { throwIfNoEntry: false });
        if (st?.isFile()) yield { sha256: e.name, size: st.size };
      }
    } finally {
      dir.closeSync();
    }
  }
}

export async function rebuildCatalog(dir: string, opts: RebuildOptions = {}): Promise<RebuildReport> {
  const started = Date.now();
  const paths = storePaths(dir);
  const rebuildFile = join(paths.tmp, 'catalog-rebuild.sqlite');
  /** Written once the new catalog's rows are all in (before its check): what the build found. */
  const builtNote = join(paths.tmp, 'catalog-rebuild.json');
  const progress = (p: RebuildProgress) => opts.onProgress?.(p);

  // A store whose objects folder cannot be opened is a disk not connected, not a store to rebuild.
  const objectsSt = statSync(paths.objects, { throwIfNoEntry: false });
  if (!objectsSt?.isDirectory()) {
    throw new BookcrateError('IO', `the store's objects folder ${paths.objects} cannot be opened`, {
      hint: 'check that the store\'s disk is connected and that --store names the store itself; nothing was changed',
      say: { id: 'store-unusable', args: { path: paths.objects, reason: 'not there' } },
    });
  }
  const unlock = await acquireLock(paths.lock, { what: 'rebuild-catalog', wait: !!opts.wait });
  try {
    const salvage = salvageOldCatalog(paths.catalog);
    if (salvage?.sound && !opts.force) {
      throw new BookcrateError('USAGE', `the catalog ${paths.catalog} opens and SQLite finds nothing wrong in it: there is nothing to rebuild`, {
        hint: 'a rebuilt catalog loses the store\'s history (imports, mirror rounds, checks); run bookcrate check --store <dir> to check the files, or add --force to rebuild anyway',
        say: { id: 'catalog-sound', args: { path: paths.catalog } },
      });
    }

    // ---- the key the roots are checked with ----
    const given = opts.trustPem ? [opts.trustPem] : [];
    const from: RebuildReport['key']['from'] = given.length ? 'given' : salvage?.keys.length ? 'old-catalog' : 'store';
    const pems = given.length ? given : salvage?.keys.length ? salvage.keys : keptKeys(dir);
    if (pems.length === 0) {
      throw new BookcrateError('UNTRUSTED', `no trusted center key to check the store's versions with: the old catalog cannot say, and ${join(dir, 'roots')} holds none`, {
        hint: 'give the center\'s key: bookcrate check --store <dir> --rebuild-catalog --trust <center.pub> (every disk from the center carries center.pub)',
        say: { id: 'rebuild-no-key', args: { dir } },
      });
    }
    const keys = pems.map((pem) => loadPublicKey(pem, 'the trusted center key'));

    // ---- the new catalog: built, or found built by a killed run (its note says so) ----
    let store: Store | undefined;
    let built: BuildReport | undefined;
    if (statSync(rebuildFile, { throwIfNoEntry: false }) && statSync(builtNote, { throwIfNoEntry: false })) {
      try {
        built = JSON.parse(readFileSync(builtNote, 'utf8')) as BuildReport;
        store = Store.openCatalogFile(dir, rebuildFile);
      } catch {
        store?.close();
        store = undefined;
        built = undefined;
      }
    }
    let resumed = !!built;
    let check: CheckReport;
    try {
      if (!built || !store) {
        unlinkQuietly(builtNote);
        removeCatalogFile(rebuildFile);
        store = Store.openCatalogFile(dir, rebuildFile);
        built = await build(store, dir, keys, from, salvage, !!opts.fast, progress);
        // The rows into the main file before the check reads them back a page at a time.
        store.db.pragma('wal_checkpoint(TRUNCATE)');
        writeDurablySync(builtNote, JSON.stringify(built));
        resumed = false;
      }
      // A full check hashes every object the build found, and every bad one's files become
      // damaged; with fast, sizes only. It goes on where a killed run's stopped.
      const last = store.lastCheck();
      check = last?.finished_at ? (JSON.parse(last.report ?? '{}') as CheckReport) : await checkStore(store, { fast: !!opts.fast, onProgress: progress });
      // Its rows in WAL are put into the main file, and the file is closed whole, before it moves.
      store.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (e) {
      // A full disk (the new catalog is about as large as the old) is the librarian's "free some
      // space, run it again": the old catalog is untouched; the rerun goes on with the check, or
      // builds again what was not finished.
      throw rebuildWriteError(e, rebuildFile);
    } finally {
      store?.close();
    }

    // ---- the swap: the old catalog is kept under another name, the new one takes its place ----
    let oldCatalog: string | null = null;
    if (SQLITE_SIDE.some((side) => statSync(paths.catalog + side, { throwIfNoEntry: false }))) {
      oldCatalog = join(dir, `catalog.damaged-${stamp(new Date())}.sqlite`);
      // The -wal must go with its database: left beside the new catalog, SQLite would apply it
      // there. It goes first, the database last: a rename refused half way leaves no WAL behind.
      for (const side of ['-wal', '-shm', '']) {
        try {
          renameSync(paths.catalog + side, oldCatalog + side);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') continue;
          // Windows does not rename a file another program holds open.
          if (code === 'EBUSY' || code === 'EPERM' || code === 'EACCES') {
            throw new BookcrateError('BUSY', `the old catalog ${paths.catalog + side} is held open by another program, so the new one cannot take its place`, {
              hint: 'stop bookcrate serve and the mirror on this PC, then run the same command again: the rebuilt catalog is kept and only put in place',
              cause: e,
            });
          }
          throw e;
        }
      }
    }
    for (const side of ['-wal', '-shm']) {
      try {
        unlinkSync(rebuildFile + side);
      } catch {
        // closed cleanly: SQLite removed them
      }
    }
    if (SQLITE_SIDE.some((side) => statSync(paths.catalog + side, { throwIfNoEntry: false }))) {
      throw new BookcrateError('IO', `${paths.catalog} or its -wal is still there after it was put aside`, { hint: 'run the same command again' });
    }
    renameSync(rebuildFile, paths.catalog);
    syncFolderSync(dir);
    unlinkQuietly(builtNote);
    // Now what the new catalog shows is what readers are shown: the notes beside the roots follow
    // (a writer's open writes them, Store.keepRecoveryCopies).
    (await Store.open(dir)).close();

    const r = built;
    const report: RebuildReport = {
      ...r, oldCatalog, check, resumed, seconds: (Date.now() - started) / 1000,
      ok: check.ok && r.skipped.length === 0 && r.incompleteDiskVersions.length === 0 && r.versions.every((v) => v.missing === 0),
    };
    return report;
  } finally {
    await unlock();
  }
}

/** Builds the catalog's rows from the kept roots, their parts and the objects folder (see rebuildCatalog). */
async function build(
  store: Store, dir: string, keys: KeyObject[], from: RebuildReport['key']['from'], salvage: Salvage | undefined, fast: boolean,
  progress: (p: RebuildProgress) => void,
): Promise<BuildReport> {
  for (const k of keys) store.pinKey(keyFingerprint(k), publicKeyPem(k), 'rebuild');
  // The collections this library carried (import --only), when the old catalog can still say.
  const byBundle = new Map<string, string[]>();
  for (const c of salvage?.carried ?? []) byBundle.set(c.bundle_id, [...(byBundle.get(c.bundle_id) ?? []), c.collection]);
  for (const [bundle, list] of byBundle) store.carryCollections(bundle, list);

  // ---- every object file, a row each (hashed by the check before the catalog is used) ----
  const objects = { found: 0, bytes: 0 };
  let batch: { sha256: string; size: number }[] = [];
  for (const o of objectFiles(store.paths.objects)) {
    batch.push(o);
    objects.found++;
    objects.bytes += o.size;
    if (batch.length >= 10_000) {
      store.addObjectRows(batch);
      batch = [];
      progress({ phase: 'listing', filesDone: objects.found, filesTotal: 0, bytesDone: objects.bytes, bytesTotal: 0 });
    }
  }
  store.addObjectRows(batch);
  progress({ phase: 'listing', filesDone: objects.found, filesTotal: objects.found, bytesDone: objects.bytes, bytesTotal: objects.bytes });

  // ---- the kept roots, oldest version first (what each version brought is reckoned against the one before) ----
  const skipped: RebuildReport['skipped'] = [];
  const roots: { sha: string; root: Root; rootBytes: Buffer; sigBytes: Buffer }[] = [];
  for (const sha of keptRootHashes(dir)) {
    const kept = readKeptRoot(dir, sha);
    if (!kept) {
      skipped.push({ root: sha, reason: 'its root.json or root.sig is missing or damaged' });
      continue;
    }
    let failure: string | undefined;
    for (const k of keys) {
      try {
        verifyRootSignature(kept.rootBytes, kept.sigBytes, k);
        failure = undefined;
        break;
      } catch (e) {
        failure = (e as Error).message;
      }
    }
    if (failure) {
      skipped.push({ root: sha, reason: failure });
      continue;
    }
    try {
      roots.push({ sha, root: decodeRoot(kept.rootBytes), ...kept });
    } catch (e) {
      skipped.push({ root: sha, reason: (e as Error).message });
    }
  }
  roots.sort((a, b) => (a.root.bundle.id < b.root.bundle.id ? -1 : a.root.bundle.id > b.root.bundle.id ? 1 : a.root.bundle.version - b.root.bundle.version));

  const loadPart = async (ref: PartRef): Promise<Buffer> => {
    const bytes = await readStoredPart(store, ref.sha256);
    if (!bytes) throw new BookcrateError('DAMAGED', `manifest part ${ref.sha256} is not in the store's parts folder`);
    return bytes; // readTreeLines checks it against the hash its parent gives
  };
  const versions: RebuiltVersion[] = [];
  const incompleteDiskVersions: RebuildReport['incompleteDiskVersions'] = [];
  const shown = new Map<string, { version: number; set: string } | undefined>();
  /** the versions readers were shown, as noted beside the roots (the only proof on exFAT, where the tree is no link) */
  const noted = keptShown(dir);
  const notComplete: { vid: number; bundle: string; version: number; set: string; volumes: number; files: number; root: Root }[] = [];
  const superseded: RebuildReport['superseded'] = [];
  let recovered = 0;
  /** Objects of a version missing from objects/, taken back from the readers' tree where whole (check.ts, recoverObjectFromTree). */
  const recoverFromTree = async (s: Store, vid: number, treeDir: string): Promise<number> => {
    let back = 0;
    const seen = new Set<string>();
    for (let after = '', page; (page = s.missingPage(vid, after, 500)).length > 0; after = page[page.length - 1]!.path) {
      for (const f of page) {
        if (seen.has(f.sha256)) continue;
        seen.add(f.sha256);
        if (await recoverObjectFromTree(s, f.sha256, f.size, [join(treeDir, f.path)])) {
          s.addObjectRows([{ sha256: f.sha256, size: f.size }]);
          back++;
        }
      }
    }
    recovered += back;
    return back;
  };
  for (const { sha, root, rootBytes, sigBytes } of roots) {
    const bundle = root.bundle.id;
    const where = { root: sha, bundle, version: root.bundle.version };
    if (store.version(bundle, root.bundle.version)) {
      skipped.push({ ...where, reason: 'another root of the same version was rebuilt' });
      continue;
    }
    const setId = root.layout?.set ?? sha.slice(0, 16);
    if (!shown.has(bundle)) shown.set(bundle, await shownVersionOnDisk(store, bundle));
    const onDisk = shown.get(bundle);
    const wasComplete = salvage?.complete.has(`${bundle}\n${root.bundle.version}`) || noted.get(bundle)?.root === sha
      || (onDisk?.version === root.bundle.version && onDisk.set === setId);
    let vid: number;
    let files = 0;
    // addVersion stages its rows under the next id and commits the version row last.
    const stagedId = store.nextVersionId();
    try {
      const v = await store.addVersion(root, rootBytes, sigBytes, sha,
        // The store does not keep the members tree (which volume holds each file): volume 0, unknown.
        (async function* () {
          for await (const line of readTreeLines(root.files, loadPart, 'files')) yield { entry: decodeFileEntry(line, 'files'), volume: 0 };
        })(),
        (async function* () {
          for await (const line of readTreeLines(root.resources, loadPart, 'resources')) yield decodeResourceEntry(line, 'resources');
        })(),
        root.layout ? 'disk' : 'network',
        (rows) => {
          files = rows;
          progress({ phase: 'manifest', filesDone: rows, filesTotal: root.totals.files + root.totals.dirs, bytesDone: 0, bytesTotal: 0 });
        });
      vid = v.id;
    } catch (e) {
      // A part missing or damaged: the rows staged so far go (nothing else would take them away).
      store.forgetVersion(stagedId);
      skipped.push({ ...where, reason: (e as Error).message });
      continue;
    }
    store.dropObjectsOfWrongSize(vid);
    store.markPresentFromObjects(vid);
    let missing = store.missingCount(vid);
    const complete = missing === 0 || wasComplete;
    // What objects/ lost, the readers' tree may still hold (its files are hard links to the objects).
    if (complete && missing > 0 && (await recoverFromTree(store, vid, visibleTreeDir(store, bundle))) > 0) {
      store.markPresentFromObjects(vid);
      missing = store.missingCount(vid);
    }
    if (!complete && root.layout) {
      // Which of its volumes are in cannot be told, nor which volume holds a missing file: the version
      // is left out (below, once the bundle's newest complete version is known), and its disks,
      // imported again, pass over every file the store holds.
      notComplete.push({ vid, bundle, version: root.bundle.version, set: setId, volumes: root.layout.volumes.length, files, root });
      continue;
    }
    let recorded = 0;
    if (complete) {
      if (missing > 0) recorded = store.recordMissingAsDamaged(vid, 'not in the store when its catalog was rebuilt');
      markVolumesIn(store, vid, root);
      store.makeCurrent(vid);
    }
    versions.push({ bundle, version: root.bundle.version, set: setId, origin: root.layout ? 'disk' : 'network', files, state: complete ? 'complete' : 'incomplete', current: false, missing: recorded });
  }
  for (const v of notComplete) {
    // Objects a later version took back from the readers' tree may have completed it.
    store.markPresentFromObjects(v.vid);
    if (store.missingCount(v.vid) === 0) {
      markVolumesIn(store, v.vid, v.root);
      if ((store.currentVersion(v.bundle)?.version ?? 0) < v.version) store.makeCurrent(v.vid);
      else store.markComplete(v.vid);
      versions.push({ bundle: v.bundle, version: v.version, set: v.set, origin: 'disk', files: v.files, state: 'complete', current: false, missing: 0 });
      continue;
    }
    store.forgetVersion(v.vid);
    // One older than what readers have is awaited no more; a newer one needs its disks.
    if ((store.currentVersion(v.bundle)?.version ?? 0) > v.version) superseded.push({ bundle: v.bundle, version: v.version });
    else incompleteDiskVersions.push({ bundle: v.bundle, version: v.version, set: v.set, volumes: v.volumes });
  }
  versions.sort((a, b) => (a.bundle < b.bundle ? -1 : a.bundle > b.bundle ? 1 : a.version - b.version));
  for (const v of versions) v.current = store.currentVersion(v.bundle)?.version === v.version;
  if (fast) store.dropUnusedObjectRows();

  const report = {
    store: dir, oldCatalogProblems: salvage?.problems ?? [],
    salvaged: { keys: salvage?.keys.length ?? 0, carried: salvage?.carried.length ?? 0, versions: salvage?.versions ?? 0 },
    key: { fingerprints: keys.map((k) => keyFingerprint(k)), from }, versions, skipped, incompleteDiskVersions, superseded, objects: { ...objects, recovered },
  };
  return report;
}

/**
 * A complete disk version's volumes are all in, and its segments journaled: an import of one of its
 * disks then reads nothing (unless a file of it is damaged: then the import goes through them again).
 */
function markVolumesIn(store: Store, versionId: number, root: Root): void {
  if (!root.layout) return;
  for (let i = 1; i <= root.layout.volumes.length; i++) {
    store.startVolume(versionId, i);
    store.finishVolume(versionId, i);
  }
  store.journalSegments(versionId, segmentTable(root).map((_, i) => i + 1));
}

/** The disk's refusals while the new catalog is written, as the librarian meets them (the rest as they are). */
function rebuildWriteError(e: unknown, path: string): unknown {
  const sqlite = (e as { code?: string })?.code ?? '';
  // SQLite says "disk I/O error" where the -shm or the WAL could not grow (tmpfs): on a disk with
  // next to nothing free that is the same full disk.
  if (sqlite === 'SQLITE_FULL' || (sqlite.startsWith('SQLITE_IOERR') && freeBytes(dirname(path)) < 4 << 20)) {
    return catalogWriteError(Object.assign(e as Error, { code: 'SQLITE_FULL' }), path);
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code && ['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM'].includes(code)) return storeIoError(e, path);
  return e;
}

function freeBytes(dir: string): number {
  try {
    const st = statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return Infinity;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}
