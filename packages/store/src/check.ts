import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { closeSync, fsyncSync, linkSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { AlignedBufferPool, BookcrateError } from '@bookcrate/format';
import { syncFolderSync } from './durable.js';
import { storeIoError } from './objects.js';
import type { Store, StoreDamage } from './store.js';
import { publishTree, visibleTreeDir } from './tree.js';

/**
 * `bookcrate check`: whether the store still holds what its catalog says it does (docs/store.md,
 * "Checking the store"). A county library keeps 4 TB on one disk for years; sectors go bad, a
 * cable fails, someone edits a PDF in the readers' tree (a hard link: the object itself). Every
 * object is read back and hashed (`fast`: only its presence and size), and each one that is not
 * what its name says stops being trusted: its files become damaged, as a damaged disk's are, so
 * `serve` stops offering them, `status` lists them and the next mirror round, or an import of a
 * disk that holds them, brings them back. The readers' trees are checked too, and a bundle's tree
 * that lost or changed files is built again from the objects.
 *
 * Objects go by in SHA-256 order, a page at a time; each page is committed with the check's place,
 * so a check stopped after hours goes on where it was. Within a page they are read in the order of
 * their inodes, which on ext4 and NTFS is close to where they lie on the disk: a hard disk reads
 * them with short seeks instead of in random (hash) order.
 */

export interface CheckOptions {
  /** presence and size only: minutes for a 4 TB store */
  fast?: boolean;
  /** start from the first object even if the last check of this mode was stopped part way */
  restart?: boolean;
  onProgress?: (p: CheckProgress) => void;
  /** the most bytes a page reads (default 1 GiB; one object at least): how long a writer that asks may wait */
  pageBytes?: number;
  /**
   * Called after each page is committed: the caller's lock lets an import or a mirror round that
   * asked for the store go first (YieldingLock.yieldIfWanted), and this returns once it has it back.
   */
  between?: () => Promise<unknown>;
}

export interface CheckProgress {
  phase: 'objects' | 'tree' | 'rebuild';
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface BadObject {
  sha256: string;
  size: number;
  reason: StoreDamage;
  detail: string;
  /** the files it held for readers, now damaged (the first 100 of each object) */
  files: { bundle: string; version: number; path: string }[];
}

export interface TreeCheck {
  bundle: string;
  version: number;
  files: number;
  /**
   * a file readers should see that is not there, or not the file the catalog has, or one they
   * should not see that is there (a damaged one: a check stopped before it put the tree right)
   * (the first 100)
   */
  problems: { path: string; reason: 'missing' | 'changed' | 'damaged' }[];
  problemCount: number;
  /** the tree was built again from the objects (it lost or changed files, or its version did) */
  rebuilt: boolean;
}

export interface CheckReport {
  store: string;
  mode: 'full' | 'fast';
  /** what the check stopped before this run had already done (objects, bytes, bad ones), when it went on from there */
  resumed: { objects: number; bytes: number; bad: number } | null;
  /** every object of the store, the ones done before a resume included */
  checked: { objects: number; bytes: number };
  /** the bad objects this run found (the first 1000) */
  bad: BadObject[];
  badCount: number;
  /** files of any version this run recorded as damaged */
  damagedFiles: number;
  /**
   * objects gone from objects/ whose bytes the readers' tree still held (a hard link keeps them
   * after the object's name is deleted): checked against their hash and put back, not recorded bad
   */
  recovered: number;
  trees: TreeCheck[];
  /**
   * The catalog file itself (a full check: SQLite's quick_check, every page read): a bad sector
   * under catalog.sqlite is worse than one under a film. null in a fast check.
   */
  catalog: { problems: string[] } | null;
  seconds: number;
  ok: boolean;
}

/** Objects a page; each page is one commit of the check's place… */
const PAGE = 512;
/**
 * …and at most this many bytes (but one object at least): a writer that asks for the store waits
 * for the end of the page, which on a hard disk is then seconds, not the hour a page of 512 films took.
 */
const PAGE_BYTES = 1 << 30;
/** Files at or above this are read alone (a hard disk serves one long read best)… */
const LARGE = 8 << 20;
/** …those below it and at or above SMALL four at once, through the thread pool… */
const MEDIUM_AT_ONCE = 4;
/**
 * …and those below this (a photo, a page of a comic, most files of a big library) with one
 * synchronous open, read and close each on this thread: a round trip through the thread pool per
 * system call cost more than the read itself (200,000 files of 8–700 bytes: docs/performance.md, run BG).
 */
const SMALL = 256 << 10;
/** The one buffer small files are read into: one byte more than the largest, so a file that grew reads longer. */
const smallBuffer = Buffer.allocUnsafe(SMALL + 1);
const SHOWN = 1000;
/** Two aligned read buffers per file being hashed: one is read into while the other is hashed. */
const buffers = new AlignedBufferPool(1 << 20);

type Outcome = { ok: true } | { ok: false; reason: StoreDamage; detail: string };

/** Errors that say the store cannot be checked here at all (not that an object is bad). */
function environmentError(e: unknown, path: string): BookcrateError | undefined {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new BookcrateError('IO', `cannot read ${path}: permission denied`, {
      hint: 'run bookcrate check as the user that runs import and mirror (or as administrator / root)',
      cause: e,
      say: { id: 'store-unusable', args: { path, reason: (e as Error).message } },
    });
  }
  return undefined;
}

/**
 * SHA-256 of a file, the next megabyte read while this one is hashed. Returns the digest and the
 * bytes read (a file cut short or grown since it was stored reads a size other than the catalog's).
 */
async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  let reading = buffers.take();
  let spare = buffers.take();
  try {
    let pos = 0;
    let pending = fh.read(reading, 0, reading.length, 0);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      const filled = reading;
      pos += bytesRead;
      reading = spare;
      pending = fh.read(reading, 0, reading.length, pos);
      h.update(filled.subarray(0, bytesRead));
      spare = filled;
    }
    return { sha256: h.digest('hex'), bytes: pos };
  } finally {
    // A read still under way must end before its buffer goes back to the pool.
    buffers.give(spare);
    buffers.give(reading);
    await fh.close();
  }
}

type Located = { sha256: string; size: number; path: string; st: Stats | undefined; error: unknown };

/**
 * SHA-256 of a small file of `size` bytes (its `stat` said so), read whole with one synchronous read
 * (see SMALL): one byte more is asked for, so a read that returns `size` bytes has met the end and
 * no second read is needed to see it. A shorter read goes on reading.
 */
function hashSmallFileSync(path: string, size: number): { sha256: string; bytes: number } {
  const fd = openSync(path, 'r');
  try {
    let n = readSync(fd, smallBuffer, 0, Math.min(size + 1, smallBuffer.length), 0);
    if (n < size) for (let r; n < smallBuffer.length && (r = readSync(fd, smallBuffer, n, smallBuffer.length - n, n)) > 0;) n += r;
    return { sha256: createHash('sha256').update(smallBuffer.subarray(0, n)).digest('hex'), bytes: n };
  } finally {
    closeSync(fd);
  }
}

/** An object its `stat` or read failed on: gone, or unreadable (a permission error stops the check: environmentError). */
function readFailure(e: unknown, path: string): Outcome {
  const env = environmentError(e, path);
  if (env) throw env;
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, reason: 'store-missing', detail: `${path} is not there` };
  return { ok: false, reason: 'store-unreadable', detail: `${path} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
}

/** One object, as its `stat` found it: there, its size, and (full) its bytes. */
async function checkObject(o: Located, full: boolean): Promise<Outcome> {
  const { path, st } = o;
  if (!st) return readFailure(o.error, path);
  if (!st.isFile()) return { ok: false, reason: 'store-changed', detail: `${path} is not a file` };
  if (st.size !== o.size) return { ok: false, reason: 'store-changed', detail: `${path} holds ${st.size} bytes, the catalog says ${o.size}` };
  if (!full) return { ok: true };
  try {
    const got = o.size < SMALL ? hashSmallFileSync(path, o.size) : await hashFile(path);
    if (got.bytes !== o.size) return { ok: false, reason: 'store-changed', detail: `${path} read ${got.bytes} bytes, the catalog says ${o.size}` };
    if (got.sha256 !== o.sha256) return { ok: false, reason: 'store-changed', detail: `${path} hashes to ${got.sha256}` };
    return { ok: true };
  } catch (e) {
    return readFailure(e, path);
  }
}

/**
 * Runs `work` over `items` in their order: large ones alone, medium ones up to MEDIUM_AT_ONCE at
 * once, small ones one after another (their work is synchronous).
 */
async function inDiskOrder<T extends { size: number }>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  const running = new Set<Promise<void>>();
  let failed: unknown;
  const start = (item: T): void => {
    const p: Promise<void> = work(item).catch((e: unknown) => {
      failed ??= e;
    }).finally(() => running.delete(p));
    running.add(p);
  };
  for (const item of items) {
    if (failed) break;
    if (item.size >= LARGE) {
      await Promise.all(running);
      if (failed) break;
      await work(item);
      continue;
    }
    if (item.size < SMALL) {
      await work(item);
      continue;
    }
    if (running.size >= MEDIUM_AT_ONCE) await Promise.race(running);
    start(item);
  }
  await Promise.all(running);
  if (failed) throw failed;
}

export async function checkStore(store: Store, opts: CheckOptions = {}): Promise<CheckReport> {
  const started = Date.now();
  const full = !opts.fast;
  const mode = full ? 'full' : 'fast';
  // A store whose objects folder is gone is a disk not connected (or the wrong folder), not 4 TB of
  // damage: marking every file damaged would have the mirror fetch them all again.
  try {
    const st = await stat(store.paths.objects);
    if (!st.isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
  } catch (e) {
    throw new BookcrateError('IO', `the store's objects folder ${store.paths.objects} cannot be opened: ${(e as Error).message}`, {
      hint: 'check that the store\'s disk is connected and that --store names the store itself; nothing was changed',
      cause: e,
      say: { id: 'store-unusable', args: { path: store.paths.objects, reason: (e as Error).message } },
    });
  }

  // The catalog first: a full check reads every page of it (seconds for a million files).
  let catalog: CheckReport['catalog'] = null;
  if (full) {
    try {
      catalog = { problems: store.catalogProblems() };
    } catch (e) {
      catalog = { problems: [(e as Error).message] }; // SQLITE_CORRUPT and the like: said, not thrown
    }
  }

  const last = store.lastCheck();
  const resume = !opts.restart && last && last.finished_at === null && last.mode === mode ? last : undefined;
  const checkId = resume ? resume.id : store.startCheck(mode);
  let cursor = resume ? resume.cursor : '';
  const before = resume ? { objects: resume.objects, bytes: resume.bytes, bad: resume.bad } : { objects: 0, bytes: 0, bad: 0 };
  const ahead = store.objectTotals(cursor);
  const total = { objects: before.objects + ahead.objects, bytes: before.bytes + ahead.bytes };
  const done = { objects: before.objects, bytes: before.bytes };
  const bad: BadObject[] = [];
  let badCount = 0;
  let damagedFiles = 0;
  let recovered = 0;
  const versionsHit = new Set<number>();
  const progress = (phase: CheckProgress['phase'], filesDone: number, filesTotal: number, bytesDone: number, bytesTotal: number): void =>
    opts.onProgress?.({ phase, filesDone, filesTotal, bytesDone, bytesTotal });
  progress('objects', done.objects, total.objects, done.bytes, total.bytes);

  const version = new Map<number, { bundle: string; version: number } | undefined>();
  const versionOf = (id: number) => {
    if (!version.has(id)) {
      const v = store.versionById(id);
      version.set(id, v && { bundle: v.bundle_id, version: v.version });
    }
    return version.get(id);
  };

  for (;;) {
    const rows = store.objectsAfter(cursor, PAGE);
    if (rows.length === 0) break;
    let take = 1;
    const most = opts.pageBytes ?? PAGE_BYTES;
    for (let bytes = rows[0]!.size; take < rows.length && bytes + rows[take]!.size <= most; take++) bytes += rows[take]!.size;
    const page = rows.slice(0, take);
    // Inodes first (one stat each), then the reads in inode order. Synchronous: a stat is a few
    // microseconds, a round trip through the thread pool more.
    const located: Located[] = page.map((o) => {
      const path = store.paths.object(o.sha256);
      try {
        return { ...o, path, st: statSync(path), error: undefined };
      } catch (error) {
        return { ...o, path, st: undefined, error };
      }
    });
    located.sort((a, b) => (a.st?.ino ?? 0) - (b.st?.ino ?? 0));
    const pageBad: { sha256: string; size: number; reason: StoreDamage; detail: string }[] = [];
    const pageDone = { objects: 0, bytes: 0 };
    await inDiskOrder(located, async (o) => {
      const outcome = await checkObject(o, full);
      if (!outcome.ok) pageBad.push({ sha256: o.sha256, size: o.size, reason: outcome.reason, detail: outcome.detail });
      pageDone.objects++;
      pageDone.bytes += o.size;
      progress('objects', done.objects + pageDone.objects, total.objects, done.bytes + pageDone.bytes, total.bytes);
    });
    // An object whose name is gone may still be whole under a name in the readers' tree: the tree
    // is hard links, and rebuilding it without that file would delete the last copy of good bytes.
    for (let i = pageBad.length - 1; i >= 0; i--) {
      const b = pageBad[i]!;
      if (b.reason !== 'store-missing' || !(await recoverObjectFromTree(store, b.sha256, b.size))) continue;
      pageBad.splice(i, 1);
      recovered++;
    }
    cursor = page[page.length - 1]!.sha256;
    const hit = store.recordCheckedPage(checkId, cursor, pageDone, pageBad);
    done.objects += pageDone.objects;
    done.bytes += pageDone.bytes;
    for (const f of hit) {
      versionsHit.add(f.versionId);
      damagedFiles++;
    }
    for (const b of pageBad) {
      badCount++;
      if (bad.length < SHOWN) {
        const files = hit.filter((f) => f.sha256 === b.sha256).slice(0, 100).flatMap((f) => {
          const v = versionOf(f.versionId);
          return v ? [{ ...v, path: f.path }] : [];
        });
        bad.push({ ...b, files });
      }
      // After the commit: its bytes are wrong, and the fetch that repairs it writes a new file. One
      // that could not be read is left for that fetch to replace (the fault may be the cable's).
      if (b.reason === 'store-changed') {
        await unlink(store.paths.object(b.sha256)).catch(() => undefined);
      }
    }
    // A writer that asked for the store goes first; the check goes on after it (from the next page).
    await opts.between?.();
  }

  // ---- the readers' trees ----
  const trees: TreeCheck[] = [];
  const shown = store.currentVersions().filter((v) => v.state === 'complete');
  for (const v of shown) {
    const t: TreeCheck = { bundle: v.bundle_id, version: v.version, files: 0, problems: [], problemCount: 0, rebuilt: false };
    const dir = visibleTreeDir(store, v.bundle_id);
    const filesTotal = v.files;
    let seen = 0;
    for (const f of store.presentFiles(v.id)) {
      seen++;
      if (seen % 1000 === 0) progress('tree', seen, filesTotal, 0, 0);
      if (f.type !== 'file' || !f.sha256) continue;
      t.files++;
      const problem = await treeFileProblem(join(dir, f.path), f.size, f.sha256, full);
      if (problem) {
        t.problemCount++;
        if (t.problems.length < 100) t.problems.push({ path: f.path, reason: problem });
      }
    }
    progress('tree', seen, filesTotal, 0, 0);
    // Damaged files must not be there: a check killed after it recorded them, before it rebuilt the
    // tree, left them (hard links to bytes that are wrong). (This run's own are taken out below.)
    if (!versionsHit.has(v.id)) for (const d of store.damagedFiles(v.id)) {
      if (!statSync(join(dir, d.path), { throwIfNoEntry: false })) continue;
      t.problemCount++;
      if (t.problems.length < 100) t.problems.push({ path: d.path, reason: 'damaged' });
    }
    if (t.problemCount > 0 || versionsHit.has(v.id)) {
      progress('rebuild', 0, v.files, 0, 0);
      await publishTree(store, v.id);
      t.rebuilt = true;
    }
    trees.push(t);
  }

  const report: CheckReport = {
    store: store.dir, mode, resumed: resume ? before : null, checked: done, bad, badCount, damagedFiles, recovered, trees, catalog,
    seconds: (Date.now() - started) / 1000,
    // Bad objects the stopped run found count too: a scheduled check's exit code must not lose them.
    ok: badCount + before.bad === 0 && trees.every((t) => t.problemCount === 0) && !catalog?.problems.length,
  };
  store.finishCheck(checkId, { ...report, bad: report.bad.slice(0, 100) });
  return report;
}

/**
 * A file of the readers' tree: there, its size, and whether it is the object itself (a hard link,
 * checked with the object) or a copy (exFAT, FAT32: hashed too, in a full check).
 */
async function treeFileProblem(path: string, size: number, sha256: string, full: boolean): Promise<'missing' | 'changed' | undefined> {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const env = environmentError(e, path);
    if (env) throw env;
    return 'missing';
  }
  if (!st.isFile() || st.size !== size) return 'changed';
  // A file with a second name is the object (the tree's hard link; nothing else links into it),
  // checked above. One stat, not two: a million files' tree is walked in seconds, not minutes.
  if (st.nlink > 1) return undefined;
  if (!full) return undefined;
  try {
    const got = size < SMALL ? hashSmallFileSync(path, size) : await hashFile(path);
    return got.sha256 === sha256 ? undefined : 'changed';
  } catch (e) {
    const env = environmentError(e, path);
    if (env) throw env;
    throw storeIoError(e, path);
  }
}

/**
 * Puts an object whose file is gone from objects/ back from the readers' tree, when a file there
 * with its hash still holds its bytes: the tree's files are hard links to the objects, so deleting
 * an object's name (by hand, or by a disk tool) leaves the bytes under the tree's. Each candidate is
 * hashed first; a good one is linked back under the object's name (copied, then renamed, where the
 * filesystem has no hard links). Returns whether the object is back.
 */
export async function recoverObjectFromTree(store: Store, sha256: string, size: number,
  candidates: string[] = store.treePathsOf(sha256).map((f) => join(visibleTreeDir(store, f.bundle), f.path))): Promise<boolean> {
  const target = store.paths.object(sha256);
  for (const path of candidates) {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st?.isFile() || st.size !== size) continue;
    try {
      const got = size < SMALL ? hashSmallFileSync(path, size) : await hashFile(path);
      if (got.sha256 !== sha256 || got.bytes !== size) continue;
      await mkdir(dirname(target), { recursive: true });
      try {
        linkSync(path, target);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return true;
        const tmp = join(store.paths.tmp, `recover-${process.pid}-${randomBytes(6).toString('hex')}`);
        await copyFile(path, tmp);
        const fd = openSync(tmp, 'r+');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        await rename(tmp, target);
      }
      syncFolderSync(dirname(target));
      return true;
    } catch {
      // this candidate cannot be read or linked: the next one, or the object stays missing
    }
  }
  return false;
}
