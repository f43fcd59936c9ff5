import { statSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { BookcrateError, isJunkName, type CollectionInfo, type FileEntry, type ResourceEntry, type Root } from '@bookcrate/format';
import { openCatalog, type DB } from './db.js';
import { forgetRootSync, keepKeySync, keepRootSync, keepShownSync, keptRootHashes } from './kept-roots.js';
import { acquireLock, YieldingLock } from './lock.js';
import { storeIoError } from './objects.js';
import { rowInserter } from './rows.js';
import { StatementCache } from './statements.js';
import type { StagedBatch } from './staging.js';

/** Paths inside a store directory (docs/store.md, "Layout"). */
export const storePaths = (dir: string) => {
  // An object's path is built for every file an import or a mirror round handles: by concatenation,
  // the same string path.join makes from a hex digest, at a fraction of its cost.
  const objects = join(dir, 'objects');
  const objectsAt = objects + sep;
  return {
    catalog: join(dir, 'catalog.sqlite'),
    objects,
    object: (sha256: string) => objectsAt + sha256.slice(0, 2) + sep + sha256,
    parts: join(dir, 'parts'),
    part: (sha256: string) => join(dir, 'parts', sha256.slice(0, 2), `${sha256}.jsonl`),
    tmp: join(dir, 'tmp'),
    library: join(dir, 'library'),
    versions: join(dir, 'library', '.versions'),
    lock: join(dir, 'lock'),
  };
};

export interface VersionRow {
  id: number;
  bundle_id: string;
  version: number;
  set_id: string;
  title: string;
  created: string;
  root_sha256: string;
  volumes: number;
  files: number;
  bytes: number;
  state: 'importing' | 'complete';
  is_current: number;
  completed_at: string | null;
  origin: 'disk' | 'network';
  /** the version its new resources were found against (schema 6); null or absent: none */
  compared_with?: number | null;
}

/** Why a check found an object of the store bad (the reason its files are recorded damaged with). */
export type StoreDamage = 'store-missing' | 'store-changed' | 'store-unreadable';

export interface StoreCheckRow {
  id: number;
  mode: 'full' | 'fast';
  started_at: string;
  finished_at: string | null;
  /** the last object checked and committed, in SHA-256 order */
  cursor: string;
  objects: number;
  bytes: number;
  bad: number;
  report: string | null;
}

/** A damaged or missing file as the catalog records it. */
export interface DamagedRow {
  version_id: number;
  path: string;
  sha256: string | null;
  reason: string;
  detail: string;
}

/** A damaged file (a row of `damaged`) of a version no newer complete version replaces: one still to fetch. */
const STILL_NEEDED = `NOT EXISTS (SELECT 1 FROM versions v JOIN versions n ON n.bundle_id = v.bundle_id AND n.version > v.version AND n.state = 'complete' WHERE v.id = damaged.version_id)`;

const now = (): string => new Date().toISOString();
/**
 * A resource's files are read through this index, named in each statement (filesOf, matchingFiles,
 * the search names): it is keyed (version, resource, path), but SQLite prefers the primary key
 * (version, path) and reads every file of the version for each resource.
 */
const BY_RESOURCE = 'INDEXED BY files_by_resource';

/** A resource row whose collection the library carries (a condition on `resources`). */
const CARRIED_RESOURCE = 'NOT EXISTS (SELECT 1 FROM collections c WHERE c.version_id = resources.version_id AND c.id = resources.collection AND c.carried = 0)';
/** The same, on a resource row named `r`. */
const CARRIED_R = CARRIED_RESOURCE.replace(/\bresources\./g, 'r.');
/**
 * Tables of a version's own that go with it: what it brought and changed (schemas 6 and 7), and the
 * network root of a version held from disks (schema 9). Cleared too under a new version's id before
 * its rows are written (an id can come back after a version was forgotten).
 */
const VERSION_CHANGES = ['new_resources', 'updated_resources', 'updated_files', 'network_roots'] as const;

/**
 * A resource title as the catalog orders it for readers: each run of digits as its value in 12
 * digits (leading zeros dropped), so 第2册 sorts before 第10册 and 第002册 beside 第2册.
 */
export function resourceSortKey(title: string): string {
  return title.replace(/\d+/g, (d) => {
    const v = d.replace(/^0+(?=\d)/, '');
    return v.length <= 12 ? v.padStart(12, '0') : v;
  });
}

/** What a store's folder holds of its own (storePaths, and SQLite's files beside the catalog). */
const STORE_NAMES = new Set(['objects', 'parts', 'tmp', 'library', 'lock', 'catalog.sqlite', 'catalog.sqlite-wal', 'catalog.sqlite-shm', 'catalog.sqlite-journal']);

/**
 * A new store needs a folder of its own: in one that holds other things (the root of the server's
 * data disk, a home folder) its files would mix with them, and a `library` folder there would be
 * taken over as the readers' tree. A folder that holds only a store's own names (a first import
 * killed before its catalog was made), a filesystem's `lost+found`, OS clutter or hidden entries is used.
 */
async function refuseForeignFolder(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // not there yet (made below), or not a folder: the mkdir below says so
  }
  // Store.open makes objects/ first: without it, a `library` or `tmp` there is someone else's.
  const ours = (n: string): boolean => STORE_NAMES.has(n) && names.includes('objects');
  // A hidden entry is a tool's or the system's (.Trash-1000 on a USB disk a Linux desktop has seen).
  const foreign = names.filter((n) => !ours(n) && n !== 'lost+found' && !isJunkName(n) && !n.startsWith('.')).sort();
  if (foreign.length === 0) return;
  const shown = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? `, … (${foreign.length} in all)` : '');
  throw new BookcrateError('USAGE', `${dir} already holds other things (${shown}) and is not a bookcrate store`, {
    hint: `give a new or empty folder for the store, e.g. ${join(dir, 'bookcrate-store')}`,
    say: { id: 'store-not-empty', args: { dir, names: shown, suggestion: join(dir, 'bookcrate-store') } },
  });
}

/** A folder inside a store (its library/, where the readers' files are) given as one: names the store. */
async function refuseInsideStore(dir: string): Promise<void> {
  for (let d = dirname(resolve(dir)), up = 0; up < 3 && d !== dirname(d); d = dirname(d), up++) {
    if (await stat(storePaths(d).catalog).then(() => true, () => false)) {
      throw new BookcrateError('USAGE', `${dir} is inside the bookcrate store ${d}, not a store itself`, {
        hint: `give the store's own folder: --store ${d}`, say: { id: 'inside-store', args: { dir, store: d } },
      });
    }
  }
}

/** `mkdir -p`, one level at a time (see Store.open): the first folder that cannot be made fails. */
async function mkdirStepwise(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    const there = await stat(d).then((st) => st.isDirectory() || 'file', () => false);
    if (there === 'file') throw Object.assign(new Error(`${d} exists and is not a folder`), { code: 'ENOTDIR' });
    if (there) break;
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    await mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}

/**
 * A store whose catalog is gone but whose kept roots are there lost its catalog (a rebuild stopped
 * between its two renames, or a file deleted by hand): it is rebuilt, not started over.
 */
function refuseLostCatalog(dir: string): void {
  if (keptRootHashes(dir).length === 0) return;
  throw new BookcrateError('USAGE', `the store ${dir} has lost its catalog (catalog.sqlite is not there; the versions it held are)`, {
    hint: `rebuild it from what the store holds: bookcrate check --store ${dir} --rebuild-catalog`, say: { id: 'catalog-missing', args: { dir } },
  });
}

/**
 * The local library store: objects by SHA-256 on disk, the SQLite catalog, the browsable tree.
 * This package is the only one that touches SQLite; every statement the importer, `status` and
 * `serve` need is a method here.
 */
export class Store {
  readonly paths: ReturnType<typeof storePaths>;
  /** the catalog file's inode when it was opened (reopenIfReplaced) */
  private catalogInode: number | undefined;
  /** whether makeCurrent notes the version shown outside the catalog (kept-roots.ts) */
  private notesShown = true;
  /** the catalog's statements, prepared once per connection (statements.ts) */
  private statements: StatementCache;

  private constructor(readonly dir: string, public db: DB, private readonly readonlyOpen = false) {
    this.paths = storePaths(dir);
    this.statements = new StatementCache(db);
    this.catalogInode = statSync(this.paths.catalog, { throwIfNoEntry: false })?.ino;
  }

  /**
   * Opens the catalog again when `catalog.sqlite` is another file than the one opened: `check
   * --rebuild-catalog` put a rebuilt one in place of a damaged one. For a long-lived writer (the
   * mirror daemon, between its rounds, under the lock), which would otherwise go on writing into
   * the old file under its new name. Returns whether it did.
   */
  reopenIfReplaced(): boolean {
    const ino = statSync(this.paths.catalog, { throwIfNoEntry: false })?.ino;
    if (ino === undefined || ino === this.catalogInode) return false;
    const next = openCatalog(this.paths.catalog, { readonly: this.readonlyOpen });
    const old = this.db;
    this.db = next;
    this.statements = new StatementCache(next);
    this.catalogInode = ino;
    old.close();
    return true;
  }

  /** Opens (creating when asked) a store. Writers also take the store lock. */
  static async open(dir: string, opts: { create?: boolean; readonly?: boolean } = {}): Promise<Store> {
    const p = storePaths(dir);
    if (opts.create) {
      if (!(await stat(p.catalog).then(() => true, () => false))) {
        // A new catalog here would start the store over beside versions it still holds.
        refuseLostCatalog(dir);
        await refuseInsideStore(dir);
        await refuseForeignFolder(dir);
      }
      for (const d of [dir, p.objects, p.parts, p.tmp, p.library, p.versions]) {
        try {
          // The store's own folder one level at a time: node 20's recursive mkdir never returns
          // where a folder cannot be made in a parent that exists (`--store /proc/x`).
          // The others one by one below it (each one's parent is made before it): a recursive
          // mkdir reports a read-only filesystem as ENOENT, a plain one as EROFS.
          if (d === dir) await mkdirStepwise(dir);
          else {
            await mkdir(d).catch((e: NodeJS.ErrnoException) => {
              if (e.code !== 'EEXIST') throw e;
            });
          }
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EROFS') {
            throw new BookcrateError('IO', `cannot create the store folder ${d}: its disk is mounted read-only`, {
              hint: 'put the store on a disk that can be written to, or mount this one read-write', cause: e, say: { id: 'store-read-only', args: { path: d } },
            });
          }
          throw new BookcrateError('IO', `cannot create the store folder ${d}: ${(e as Error).message}`, {
            hint: 'check the --store path and its permissions', cause: e, say: { id: 'store-unusable', args: { path: d, reason: (e as Error).message } },
          });
        }
      }
    } else if (!(await stat(p.catalog).then(() => true, () => false))) {
      await refuseInsideStore(dir);
      // A folder that is not there at all: a mistyped path, or the store's disk not connected.
      if (!(await stat(dir).then(() => true, () => false))) {
        throw new BookcrateError('USAGE', `${dir} does not exist`, {
          hint: 'check the --store path (and that the store\'s disk is connected); a new store is made by `bookcrate import <disk> --store <dir>`', say: { id: 'no-such-store', args: { dir } },
        });
      }
      refuseLostCatalog(dir);
      throw new BookcrateError('USAGE', `${dir} is not a bookcrate store (no catalog.sqlite)`, {
        hint: 'import a volume into it first: bookcrate import <disk> --store <dir>', say: { id: 'not-a-store', args: { dir } },
      });
    }
    const store = new Store(dir, openCatalog(p.catalog, { readonly: !!opts.readonly }), !!opts.readonly);
    if (!opts.readonly) store.keepRecoveryCopies();
    return store;
  }

  /**
   * The catalog opened from another file of the store's folder: `bookcrate check --rebuild-catalog`
   * builds the new catalog in tmp/ before it takes the damaged one's place (rebuild.ts).
   */
  static openCatalogFile(dir: string, catalogFile: string): Store {
    const store = new Store(dir, openCatalog(catalogFile));
    // Until it takes the old one's place, what it shows is not what readers are shown: the notes
    // stay as they are (a rebuild killed part way reads them again).
    store.notesShown = false;
    return store;
  }

  /**
   * Writes the copies of the versions' signed roots and the trusted keys that a store made before
   * they were kept (kept-roots.ts) lacks: what `check --rebuild-catalog` needs besides the parts
   * and the objects. Best effort: a copy that cannot be written now is written by the next writer.
   */
  private keepRecoveryCopies(): void {
    try {
      for (const k of this.trustedKeys()) keepKeySync(this.dir, k.fingerprint, k.pem);
      for (const v of this.currentVersions()) if (v.state === 'complete') keepShownSync(this.dir, { bundle: v.bundle_id, version: v.version, root: v.root_sha256 });
      const kept = new Set(keptRootHashes(this.dir));
      const rows = this.statements.sql('SELECT id, root_sha256 FROM versions').all() as { id: number; root_sha256: string }[];
      for (const r of rows) {
        if (kept.has(r.root_sha256)) continue;
        const v = this.statements.sql('SELECT root_json, root_sig FROM versions WHERE id = ?').get(r.id) as { root_json: Buffer; root_sig: Buffer };
        keepRootSync(this.dir, r.root_sha256, v.root_json, v.root_sig);
      }
    } catch {
      // a read-only or full disk: the command itself says so when it writes
    }
  }

  /** `onYieldWait`: called once if the store is held by a check that is asked to pause for this writer. */
  lock(what: string, wait = false, onYieldWait?: (holder: string) => void): Promise<() => Promise<void>> {
    return acquireLock(this.paths.lock, { what, wait, ...(onYieldWait ? { onYieldWait } : {}) });
  }

  /** The store's lock for a writer that lets others go first when they ask (lock.ts, YieldingLock): `bookcrate check`. */
  lockYielding(what: 'check', wait = false): Promise<YieldingLock> {
    return YieldingLock.acquire(this.paths.lock, what, wait);
  }

  close(): void {
    this.db.close();
  }

  // ---- trust ----

  trustedKeys(): { fingerprint: string; pem: string; source: string; pinned_at: string }[] {
    return this.statements.sql('SELECT fingerprint, pem, source, pinned_at FROM trusted_keys ORDER BY pinned_at').all() as never;
  }

  pinKey(fingerprint: string, pem: string, source: string): void {
    try {
      keepKeySync(this.dir, fingerprint, pem);
    } catch (e) {
      throw storeIoError(e, this.dir);
    }
    this.statements.sql('INSERT OR IGNORE INTO trusted_keys (fingerprint, pem, source, pinned_at) VALUES (?, ?, ?, ?)').run(fingerprint, pem, source, now());
  }

  // ---- versions ----

  version(bundleId: string, version: number): VersionRow | undefined {
    return this.statements.sql('SELECT * FROM versions WHERE bundle_id = ? AND version = ?').get(bundleId, version) as VersionRow | undefined;
  }

  versionById(id: number): VersionRow | undefined {
    return this.statements.sql('SELECT * FROM versions WHERE id = ?').get(id) as VersionRow | undefined;
  }

  newestVersion(bundleId: string): VersionRow | undefined {
    return this.statements.sql('SELECT * FROM versions WHERE bundle_id = ? ORDER BY version DESC LIMIT 1').get(bundleId) as VersionRow | undefined;
  }

  currentVersions(): VersionRow[] {
    return this.statements.sql('SELECT * FROM versions WHERE is_current = 1 ORDER BY bundle_id').all() as VersionRow[];
  }

  allVersions(): VersionRow[] {
    return this.statements.sql('SELECT * FROM versions ORDER BY bundle_id, version').all() as VersionRow[];
  }

  /**
   * Records a version from its signed root and streams its manifest into the catalog (files as
   * 'pending', resources, collections), 10,000 rows per transaction so memory stays flat and a crash
   * leaves nothing half-visible: the version row is committed last. The staged rows are committed
   * without a sync of their own (`synchronous = NORMAL`: in WAL mode a crash may lose them, never
   * corrupt the catalog); the version row's commit is synced, and that makes them durable too (the
   * log is synced as a whole). `onFiles` hears how many file rows are in after each transaction (a
   * million-file manifest takes a minute).
   */
  async addVersion(
    root: Root, rootBytes: Buffer, sigBytes: Buffer, rootSha256: string,
    files: AsyncIterable<{ entry: FileEntry; volume: number }>, resources: AsyncIterable<ResourceEntry>,
    origin: 'disk' | 'network' = 'disk', onFiles?: (rows: number) => void,
  ): Promise<VersionRow> {
    const db = this.db;
    const existing = this.version(root.bundle.id, root.bundle.version);
    if (existing) return existing;
    // A staging id: rows are written under it, and the version row that makes them visible comes last.
    const id = this.nextVersionId();
    this.statements.sql('DELETE FROM files WHERE version_id = ?').run(id);
    this.statements.sql('DELETE FROM resources WHERE version_id = ?').run(id);
    this.statements.sql('DELETE FROM collections WHERE version_id = ?').run(id);
    for (const t of VERSION_CHANGES) this.statements.sql(`DELETE FROM ${t} WHERE version_id = ?`).run(id);
    db.pragma('foreign_keys = OFF');
    db.pragma('synchronous = NORMAL');
    try {
      type FileRow = { entry: FileEntry; volume: number };
      const insertFiles = rowInserter<FileRow>(db, 'files', ['version_id', 'path', 'type', 'size', 'mtime', 'sha256', 'xxh64', 'resource', 'volume', 'state'], ({ entry: e, volume }, out, at) => {
        out[at] = id;
        out[at + 1] = e.path;
        out[at + 2] = e.type;
        out[at + 3] = e.size;
        out[at + 4] = e.mtime;
        out[at + 5] = e.sha256 ?? null;
        out[at + 6] = e.xxh64 ?? null;
        out[at + 7] = e.resource ?? null;
        out[at + 8] = volume;
        out[at + 9] = 'pending';
      });
      const insertResources = rowInserter<ResourceEntry>(db, 'resources', ['version_id', 'id', 'collection', 'title', 'creator', 'type', 'language', 'date', 'description', 'sort_key'], (r, out, at) => {
        out[at] = id;
        out[at + 1] = r.id;
        out[at + 2] = r.collection;
        out[at + 3] = r.title;
        out[at + 4] = r.creator ?? null;
        out[at + 5] = r.type ?? null;
        out[at + 6] = r.language ?? null;
        out[at + 7] = r.date ?? null;
        out[at + 8] = r.description ?? null;
        out[at + 9] = resourceSortKey(r.title);
      });
      const batch = <T>(fn: (rows: T[]) => void) => db.transaction(fn);
      const fileBatch = batch((rows: FileRow[]) => {
        // By SHA-256: the index on it takes the rows in its own order, page after page, instead of
        // each row reaching for a page the small cache let go (docs/store.md, "Catalog").
        rows.sort(bySha256);
        insertFiles(rows);
      });
      // Each batch of resources gets its files' names (the files are in already) and its rows of
      // the search index, in the same transaction (sql/005-file-names-search.sql).
      const newestResource = this.statements.pluck('SELECT coalesce(max(rowid), 0) FROM resources');
      // The index named: without it SQLite reads the version's files by the primary key for each
      // resource (quadratic: 200,000 one-file resources did not finish in 14 minutes). MATERIALIZED:
      // otherwise the subquery is run again for the WHERE. Every entry of the resource, not only its
      // files: the index alone answers then (a folder names no resource when pack writes it), which
      // halves the names' cost (0.6 of 1.3 s for 200,000 files a hundred to a resource).
      const addNames = this.statements.sql(`WITH batch AS MATERIALIZED (
          SELECT r.rowid AS rowid, (SELECT bookcrate_search_names(f.path, r.title) FROM files f ${BY_RESOURCE}
                                    WHERE f.version_id = r.version_id AND f.resource = r.id) AS names
          FROM resources r WHERE r.rowid > ?
        )
        INSERT INTO resource_names (rowid, names) SELECT rowid, names FROM batch WHERE names IS NOT NULL`);
      const addToIndex = this.statements.sql(`INSERT INTO resources_fts (rowid, title, creator, description, names)
        SELECT r.rowid, r.title, r.creator, r.description, n.names
        FROM resources r LEFT JOIN resource_names n ON n.rowid = r.rowid WHERE r.rowid > ?`);
      const resBatch = batch((rows: ResourceEntry[]) => {
        const after = newestResource.get() as number;
        insertResources(rows);
        addNames.run(after);
        addToIndex.run(after);
      });
      let buf: FileRow[] = [];
      let rows = 0;
      for await (const f of files) {
        buf.push(f);
        if (buf.length >= 10_000) {
          fileBatch(buf);
          onFiles?.((rows += buf.length));
          buf = [];
        }
      }
      fileBatch(buf);
      onFiles?.((rows += buf.length));
      let rbuf: ResourceEntry[] = [];
      for await (const r of resources) {
        rbuf.push(r);
        if (rbuf.length >= 10_000) {
          resBatch(rbuf);
          rbuf = [];
        }
      }
      resBatch(rbuf);
      // What this version brings: its resources the version readers have now lacks (by id). One
      // pass of the unique index, ~1 s for a million resources, once per version.
      const before = this.statements.sql("SELECT id, version FROM versions WHERE bundle_id = ? AND is_current = 1 AND state = 'complete' AND version < ?")
        .get(root.bundle.id, root.bundle.version) as { id: number; version: number } | undefined;
      if (before) {
        this.statements.sql(`INSERT INTO new_resources (version_id, rowid) SELECT ?, r.rowid FROM resources r
          WHERE r.version_id = ? AND NOT EXISTS (SELECT 1 FROM resources p WHERE p.version_id = ? AND p.id = r.id)`).run(id, id, before.id);
        // And what it changed in the resources readers had (schema 7): their files that are new or
        // hold other content. One pass of the version's files by path, each looked up in the older
        // version's (an unchanged file stops there); the resources are asked about for the rest only:
        // 1.2 s for a million files. CROSS JOIN keeps the changed files first: left to choose, SQLite
        // walked every file of the version by resource for 1,500 changed ones (0.8 s instead of 12 ms).
        this.statements.sql(`INSERT INTO updated_files (version_id, path) SELECT f.version_id, f.path FROM files f
          WHERE f.version_id = ? AND f.type = 'file' AND f.resource IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM files o WHERE o.version_id = ? AND o.path = f.path AND o.sha256 IS f.sha256)
            AND EXISTS (SELECT 1 FROM resources p WHERE p.version_id = ? AND p.id = f.resource)`).run(id, before.id, before.id);
        this.statements.sql(`INSERT INTO updated_resources (version_id, rowid, files) SELECT u.version_id, r.rowid, count(*) FROM updated_files u
          CROSS JOIN files f ON f.version_id = u.version_id AND f.path = u.path
          CROSS JOIN resources r ON r.version_id = f.version_id AND r.id = f.resource
          WHERE u.version_id = ? GROUP BY r.rowid`).run(id);
      }
      db.pragma('synchronous = FULL');
      // The signed root outside the catalog too, before the row that makes the version visible:
      // with the parts and the objects it is what a damaged catalog is rebuilt from (kept-roots.ts).
      try {
        keepRootSync(this.dir, rootSha256, rootBytes, sigBytes);
      } catch (e) {
        throw storeIoError(e, this.dir);
      }
      db.transaction(() => {
        const insCol = this.statements.sql('INSERT INTO collections (version_id, id, title, path, files, bytes, position) VALUES (?, ?, ?, ?, ?, ?, ?)');
        root.collections.forEach((c: CollectionInfo, i) => insCol.run(id, c.id, c.title, c.path, c.files, c.bytes, i));
        // A library that carries only some collections of this bundle carries the same ones of the new version.
        if (this.carriedCollections(root.bundle.id).length > 0) this.markCarried(root.bundle.id, id);
        this.statements.sql(`INSERT INTO versions (id, bundle_id, version, set_id, title, created, root_sha256, root_json, root_sig, volumes, files, bytes, state, origin, compared_with)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'importing', ?, ?)`).run(
          id, root.bundle.id, root.bundle.version, root.layout?.set ?? rootSha256.slice(0, 16), root.bundle.title, root.bundle.created, rootSha256,
          rootBytes, sigBytes, root.layout?.volumes.length ?? 0, root.totals.files + root.totals.dirs, root.totals.bytes, origin, before?.version ?? null,
        );
      })();
    } finally {
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
    }
    return this.versionById(id)!;
  }

  /** The id the next addVersion stages its rows under. */
  nextVersionId(): number {
    return ((this.statements.sql('SELECT max(id) AS m FROM versions').get() as { m: number | null }).m ?? 0) + 1;
  }

  /**
   * A version's volumes as `status` and the status page show them: those in, those still awaited,
   * and the newest complete version of its bundle when there is a newer one than this. A version
   * left incomplete then awaits its missing volumes no more (`supersededBy`: an import of one is
   * refused as older); a complete one is `replacedBy` it. Either way its damaged files need no
   * fetching any more: readers see the newer version, and nothing fetches for an older one.
   */
  volumesOf(v: VersionRow): { volumesIn: number[]; volumesAwaited: number[]; supersededBy?: number; replacedBy?: number } {
    const done = new Set(this.volumeStates(v.id).filter((x) => x.state === 'done').map((x) => x.volume));
    const all = Array.from({ length: v.volumes }, (_, i) => i + 1);
    const volumesIn = all.filter((i) => done.has(i));
    const newer = this.statements.pluck("SELECT max(version) FROM versions WHERE bundle_id = ? AND version > ? AND state = 'complete'").get(v.bundle_id, v.version) as number | null;
    if (v.state === 'complete') return { volumesIn, volumesAwaited: all.filter((i) => !done.has(i)), ...(newer ? { replacedBy: newer } : {}) };
    return newer ? { volumesIn, volumesAwaited: [], supersededBy: newer } : { volumesIn, volumesAwaited: all.filter((i) => !done.has(i)) };
  }

  volumeStates(versionId: number): { volume: number; state: string; imported_at: string | null }[] {
    return this.statements.sql('SELECT volume, state, imported_at FROM volumes WHERE version_id = ? ORDER BY volume').all(versionId) as never;
  }

  startVolume(versionId: number, volume: number): void {
    this.statements.sql('INSERT OR IGNORE INTO volumes (version_id, volume, state) VALUES (?, ?, \'importing\')').run(versionId, volume);
  }

  finishVolume(versionId: number, volume: number): void {
    this.statements.sql('UPDATE volumes SET state = \'done\', imported_at = ? WHERE version_id = ? AND volume = ?').run(now(), versionId, volume);
  }

  // ---- import journal ----

  /** How many files of the version are recorded as damaged (off the damaged table's key: cheap). */
  damagedCount(versionId: number): number {
    return this.statements.pluck('SELECT count(*) FROM damaged WHERE version_id = ?').get(versionId) as number;
  }

  /** Whether some file of the version is recorded as damaged (a damaged disk's files, until a disk or the network brings them). */
  hasDamaged(versionId: number): boolean {
    return this.statements.sql('SELECT 1 FROM damaged WHERE version_id = ? LIMIT 1').get(versionId) !== undefined;
  }

  segmentsDone(versionId: number): Set<number> {
    const rows = this.statements.sql('SELECT segment FROM import_segments WHERE version_id = ?').all(versionId) as { segment: number }[];
    return new Set(rows.map((r) => r.segment));
  }

  /**
   * Commits imported segments: their objects become durable, their files present (the rows of a
   * staged batch) or damaged, and the segments are journaled as done, all in one transaction (after
   * the objects were synced to disk). The batch's rows are dropped by the caller once this returns.
   */
  commitSegments(versionId: number, segments: number[], importId: number, staged: StagedBatch,
    damaged: { path: string; sha256: string | null; reason: string; detail: string }[]): void {
    const db = this.db;
    const t = now();
    db.transaction(() => {
      // Set-based, from the batch's staging table (ImportStaging): each file is found by the
      // files primary key, and no row of the batch is ever in JavaScript. New objects go in by
      // SHA-256, the order of their table (docs/store.md, "Catalog").
      this.statements.sql(`INSERT OR IGNORE INTO objects (sha256, size, added_at) SELECT sha256, size, ? FROM ${staged.table} WHERE sha256 IS NOT NULL ORDER BY sha256`).run(t);
      // OR FAIL: no statement journal for the batch's every row (docs/store.md, "Catalog"); this transaction undoes a failure.
      this.statements.sql(`UPDATE OR FAIL files SET state = 'present' WHERE version_id = ? AND path IN (SELECT path FROM ${staged.table})`).run(versionId);
      this.statements.sql(`DELETE FROM damaged WHERE version_id = ? AND path IN (SELECT path FROM ${staged.table} WHERE sha256 IS NOT NULL)`).run(versionId);
      const dam = this.statements.sql('UPDATE files SET state = \'damaged\' WHERE version_id = ? AND path = ?');
      const damRow = this.statements.sql('INSERT OR REPLACE INTO damaged (version_id, path, sha256, reason, detail, import_id) VALUES (?, ?, ?, ?, ?, ?)');
      for (const d of damaged) {
        dam.run(versionId, d.path);
        damRow.run(versionId, d.path, d.sha256, d.reason, d.detail, importId);
      }
      const seg = this.statements.sql('INSERT OR REPLACE INTO import_segments (version_id, segment, done_at) VALUES (?, ?, ?)');
      for (const s of segments) seg.run(versionId, s, t);
    })();
  }

  /**
   * Runs `work` in one transaction that stays open across its awaits (better-sqlite3's own
   * transactions are synchronous; those run inside it become savepoints): nothing it writes is
   * visible to readers, or survives a crash, unless `work` succeeds. Only for the holder of the
   * store's lock (import, mirror), so no other writer waits behind it.
   */
  async inTransaction<T>(work: () => Promise<T>): Promise<T> {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = await work();
      this.db.exec('COMMIT');
      return result;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  /**
   * A number that changes whenever another connection (an import, a mirror round, `import --only`)
   * has committed to the catalog since this one last asked (SQLite's data_version): a reader such as
   * `serve` keeps what it read until it changes.
   */
  changeCounter(): number {
    // As a kept statement: db.pragma() prepares one on every call, and serve asks on every page.
    return this.statements.pluck('PRAGMA data_version').get() as number;
  }

  /** Carried files by state, and how many files of the version are not carried (`import --only`). */
  fileCounts(versionId: number): { present: number; damaged: number; pending: number; notCarried: number } {
    const out = { present: 0, damaged: 0, pending: 0, notCarried: 0 };
    for (const r of this.statements.sql('SELECT state, count(*) AS n FROM files WHERE version_id = ? AND carried = 1 GROUP BY state').all(versionId) as { state: 'present' | 'damaged' | 'pending'; n: number }[]) out[r.state] = r.n;
    out.notCarried = (this.statements.sql('SELECT count(*) AS n FROM files WHERE version_id = ? AND carried = 0').get(versionId) as { n: number }).n;
    return out;
  }

  /** Files and folders of this version that are present (what its browsable tree holds). */
  presentCount(versionId: number): number {
    return (this.statements.sql('SELECT count(*) AS n FROM files WHERE version_id = ? AND state = \'present\'').get(versionId) as { n: number }).n;
  }

  /**
   * What an import of `volume` still has to write into objects/: the pending files whose first byte
   * is on that volume, of the carried collections (or only of those under `folders`: `import
   * --only`), whose content the store does not hold yet, each content counted once. Objects written
   * by an import and not yet recorded by its commit are counted too.
   */
  bytesToAdmit(versionId: number, volume: number, folders?: string[]): { bytes: number; files: number } {
    const within = folders ? `AND (${folders.map(() => 'substr(path, 1, length(?)) = ?').join(' OR ')})` : 'AND carried = 1';
    const args = folders ? folders.flatMap((f) => [`${f}/`, `${f}/`]) : [];
    const row = this.statements.sql(`
      SELECT coalesce(sum(size), 0) AS bytes, count(*) AS files FROM (
        SELECT sha256, max(size) AS size FROM files
        WHERE version_id = ? AND volume = ? AND state = 'pending' AND type = 'file' ${within}
        GROUP BY sha256
      ) WHERE sha256 NOT IN (SELECT sha256 FROM objects)`).get(versionId, volume, ...args) as { bytes: number; files: number };
    return row;
  }

  /** Bytes of the carried files of a version, each path counted: what its readers' tree holds as copies where there are no hard links. */
  carriedBytes(versionId: number): number {
    return (this.statements.sql('SELECT coalesce(sum(size), 0) AS n FROM files WHERE version_id = ? AND type = \'file\' AND carried = 1').get(versionId) as { n: number }).n;
  }

  /** Carried files of this version still waiting for a volume. */
  pendingCount(versionId: number): number {
    return (this.statements.sql('SELECT count(*) AS n FROM files WHERE version_id = ? AND state = \'pending\' AND carried = 1').get(versionId) as { n: number }).n;
  }

  // ---- carried collections (import --only) ----

  /** The collections of a bundle this library carries; empty: all of them. */
  carriedCollections(bundleId: string): string[] {
    return (this.statements.sql('SELECT collection FROM carried_collections WHERE bundle_id = ? ORDER BY collection').all(bundleId) as { collection: string }[]).map((r) => r.collection);
  }

  /**
   * Adds collections to those the library carries (`import --only`), or carries all again
   * (`'all'`, `import --all`), for every version of the bundle. When that brings files back into
   * what is carried, the import journal of those versions is cleared: the next import of a disk
   * reads every segment again (files already in the store are not copied again) to bring them in.
   * Returns whether anything is carried now that was not.
   */
  carryCollections(bundleId: string, add: string[] | 'all'): boolean {
    const db = this.db;
    return db.transaction(() => {
      const before = this.carriedCollections(bundleId);
      if (add === 'all') {
        if (before.length === 0) return false;
        this.statements.sql('DELETE FROM carried_collections WHERE bundle_id = ?').run(bundleId);
      } else {
        // Carrying all already: a list would narrow it, which --only does only on a store that holds nothing of the bundle yet.
        if (before.length === 0 && this.anyFileIn(bundleId)) return false;
        const ins = this.statements.sql('INSERT OR IGNORE INTO carried_collections (bundle_id, collection) VALUES (?, ?)');
        for (const c of add) ins.run(bundleId, c);
      }
      let widened = false;
      for (const { id } of this.statements.sql('SELECT id FROM versions WHERE bundle_id = ?').all(bundleId) as { id: number }[]) {
        if (this.markCarried(bundleId, id)) {
          widened = true;
          this.statements.sql('DELETE FROM import_segments WHERE version_id = ?').run(id);
        }
      }
      return widened;
    })();
  }

  /** Whether the store already holds a file of the bundle (any version, any state but pending). */
  private anyFileIn(bundleId: string): boolean {
    return this.statements.sql(`SELECT 1 FROM files f JOIN versions v ON v.id = f.version_id
      WHERE v.bundle_id = ? AND f.state <> 'pending' LIMIT 1`).get(bundleId) !== undefined;
  }

  /**
   * Sets `carried` on a version's collections and files from the bundle's list (a file by the
   * folder of its collection; with no list, everything). Returns whether a file became carried.
   */
  private markCarried(bundleId: string, versionId: number): boolean {
    this.statements.sql(`UPDATE collections SET carried = (NOT EXISTS (SELECT 1 FROM carried_collections s WHERE s.bundle_id = @bundle)
        OR EXISTS (SELECT 1 FROM carried_collections s WHERE s.bundle_id = @bundle AND s.collection = collections.id))
      WHERE version_id = @version`).run({ bundle: bundleId, version: versionId });
    const notCarried = this.statements.sql('SELECT count(*) AS n FROM files WHERE version_id = ? AND carried = 0');
    const notBefore = (notCarried.get(versionId) as { n: number }).n;
    // OR FAIL: no statement journal for a version's every row (docs/store.md, "Catalog"); the caller's transaction undoes a failure.
    this.statements.sql(`UPDATE OR FAIL files SET carried = (NOT EXISTS (SELECT 1 FROM carried_collections s WHERE s.bundle_id = @bundle)
        OR EXISTS (SELECT 1 FROM collections c WHERE c.version_id = files.version_id AND c.carried = 1
          AND (c.path = '' OR files.path = c.path OR substr(files.path, 1, length(c.path) + 1) = c.path || '/')))
      WHERE version_id = @version`).run({ bundle: bundleId, version: versionId });
    return (notCarried.get(versionId) as { n: number }).n < notBefore;
  }

  /** `startedAt`: when the run began, if before now (an import records itself at its first commit). */
  startImport(versionId: number, volume: number, source: string, startedAt?: Date): number {
    return Number(this.statements.sql('INSERT INTO imports (version_id, volume, source, started_at, state) VALUES (?, ?, ?, ?, \'running\')').run(versionId, volume, source, startedAt?.toISOString() ?? now()).lastInsertRowid);
  }

  finishImport(id: number, state: 'done' | 'failed', report: unknown): void {
    this.statements.sql('UPDATE imports SET finished_at = ?, state = ?, report = ? WHERE id = ?').run(now(), state, JSON.stringify(report), id);
  }

  /** Marks a version complete and current (the previous current one of its bundle stops being so). */
  makeCurrent(versionId: number): void {
    const v = this.versionById(versionId)!;
    this.db.transaction(() => {
      this.statements.sql('UPDATE versions SET is_current = 0 WHERE bundle_id = ?').run(v.bundle_id);
      this.statements.sql('UPDATE versions SET state = \'complete\', is_current = 1, completed_at = coalesce(completed_at, ?) WHERE id = ?').run(now(), versionId);
    })();
    // Outside the catalog too: a rebuild takes it as proof that the version was complete.
    if (this.notesShown) try {
      keepShownSync(this.dir, { bundle: v.bundle_id, version: v.version, root: v.root_sha256 });
    } catch {
      // best effort: the next writer's keepRecoveryCopies writes it
    }
  }

  /** Journals segments as committed (a rebuilt catalog's complete disk version: an import of its disk then reads none of them). */
  journalSegments(versionId: number, segments: Iterable<number>): void {
    const ins = this.statements.sql('INSERT OR IGNORE INTO import_segments (version_id, segment, done_at) VALUES (?, ?, ?)');
    const t = now();
    this.db.transaction(() => {
      for (const s of segments) ins.run(versionId, s, t);
    })();
  }

  /** Marks a version complete without showing it (an older one than its bundle's current: a rebuilt catalog). */
  markComplete(versionId: number): void {
    this.statements.sql('UPDATE versions SET state = \'complete\', completed_at = coalesce(completed_at, ?) WHERE id = ?').run(now(), versionId);
  }

  /** Present files of a version in path order, streamed (for the browsable tree). */
  *presentFiles(versionId: number): IterableIterator<{ path: string; type: string; sha256: string | null; mtime: number; size: number }> {
    yield* this.db.prepare('SELECT path, type, sha256, mtime, size FROM files WHERE version_id = ? AND state = \'present\' ORDER BY path').iterate(versionId) as IterableIterator<never>;
  }

  /**
   * What a tree of version `from`'s present files must lose to become version `to`'s (tree.ts,
   * the spare): `from`'s present entries that `to` does not hold present with the same path, type,
   * content and time. Deepest paths first (a folder after what was in it). Streamed: one pass of
   * `from` by its primary key, each row looked up in `to`'s.
   */
  *treeRemovals(from: number, to: number): IterableIterator<{ path: string; type: string }> {
    yield* this.db.prepare(`SELECT s.path, s.type FROM files s WHERE s.version_id = ? AND s.state = 'present'
      AND NOT EXISTS (SELECT 1 FROM files n WHERE n.version_id = ? AND n.path = s.path AND n.state = 'present'
        AND n.type = s.type AND n.sha256 IS s.sha256 AND n.mtime = s.mtime)
      ORDER BY s.path DESC`).iterate(from, to) as IterableIterator<never>;
  }

  /**
   * What that tree must gain: `to`'s present entries `from` lacks (as treeRemovals compares them),
   * and every folder `to` names (a folder is named only when empty; the removals may have taken
   * it away with what was in it). In path order.
   */
  *treeAdditions(from: number, to: number): IterableIterator<{ path: string; type: string; sha256: string | null; mtime: number; size: number }> {
    yield* this.db.prepare(`SELECT n.path, n.type, n.sha256, n.mtime, n.size FROM files n WHERE n.version_id = ? AND n.state = 'present'
      AND (n.type = 'dir' OR NOT EXISTS (SELECT 1 FROM files s WHERE s.version_id = ? AND s.path = n.path AND s.state = 'present'
        AND s.type = n.type AND s.sha256 IS n.sha256 AND s.mtime = n.mtime))
      ORDER BY n.path`).iterate(to, from) as IterableIterator<never>;
  }

  /** Present files (not folders) of a version: what its readers' tree holds besides folders. */
  presentFilesOfVersion(versionId: number): number {
    return this.statements.pluck('SELECT count(*) FROM files WHERE version_id = ? AND state = \'present\' AND type = \'file\'').get(versionId) as number;
  }

  /**
   * Damaged or missing files still to be fetched (of a version no newer complete version replaces),
   * the first `limit`, newest version first, and how many there are in all: `serve`'s status page.
   */
  damagedStillNeeded(limit: number): { rows: DamagedRow[]; total: number } {
    const rows = this.statements.sql(`SELECT version_id, path, sha256, reason, detail FROM damaged WHERE ${STILL_NEEDED} ORDER BY version_id DESC, path LIMIT ?`).all(limit) as DamagedRow[];
    const total = this.statements.pluck(`SELECT count(*) FROM damaged WHERE ${STILL_NEEDED}`).get() as number;
    return { rows, total };
  }

  damagedFiles(versionId?: number): DamagedRow[] {
    return (versionId === undefined
      ? this.statements.sql('SELECT * FROM damaged ORDER BY version_id, path').all()
      : this.statements.sql('SELECT * FROM damaged WHERE version_id = ? ORDER BY path').all(versionId)) as never;
  }

  /** One import run, by its number (`status --import <n>`). */
  importRun(id: number): { id: number; version_id: number; volume: number; source: string; started_at: string; finished_at: string | null; state: string; report: string | null } | undefined {
    return this.statements.sql('SELECT * FROM imports WHERE id = ?').get(id) as never;
  }

  imports(limit = 50): { id: number; version_id: number; volume: number; source: string; started_at: string; finished_at: string | null; state: string; report: string | null }[] {
    return this.statements.sql('SELECT * FROM imports ORDER BY id DESC LIMIT ?').all(limit) as never;
  }

  // ---- the network (mirror): pointers, missing content, rounds, collection ----

  /** A version's signed root, as received. */
  versionRootJson(versionId: number): Buffer {
    return this.statements.pluck('SELECT root_json FROM versions WHERE id = ?').get(versionId) as Buffer;
  }

  versionByRoot(rootSha256: string): (VersionRow & { root_json: Buffer; root_sig: Buffer }) | undefined {
    return this.statements.sql('SELECT * FROM versions WHERE root_sha256 = ?').get(rootSha256) as never;
  }

  /** Deletes a version's rows (in the caller's transaction, or one of its own). Its kept root stays. */
  forgetVersion(versionId: number): void {
    this.db.transaction(() => {
      for (const t of ['files', 'resources', ...VERSION_CHANGES, 'collections', 'volumes', 'import_segments', 'damaged']) this.statements.sql(`DELETE FROM ${t} WHERE version_id = ?`).run(versionId);
      this.statements.sql('DELETE FROM imports WHERE version_id = ?').run(versionId);
      this.statements.sql('DELETE FROM versions WHERE id = ?').run(versionId);
    })();
  }

  private rootInUse(rootSha256: string): boolean {
    return this.statements.sql('SELECT 1 FROM versions WHERE root_sha256 = ?').get(rootSha256) !== undefined;
  }

  currentVersion(bundleId: string): VersionRow | undefined {
    return this.statements.sql('SELECT * FROM versions WHERE bundle_id = ? AND is_current = 1').get(bundleId) as VersionRow | undefined;
  }

  /**
   * Keeps the network root of a version the store holds from disks (schema 9): the caller has checked
   * its signature and that it names the same content as the version's own root (format's sameContent).
   */
  keepNetworkRoot(versionId: number, rootSha256: string, rootJson: Buffer, rootSig: Buffer): void {
    this.statements.sql(`INSERT INTO network_roots (version_id, root_sha256, root_json, root_sig) VALUES (?, ?, ?, ?)
      ON CONFLICT (version_id) DO UPDATE SET root_sha256 = excluded.root_sha256, root_json = excluded.root_json, root_sig = excluded.root_sig`)
      .run(versionId, rootSha256, rootJson, rootSig);
  }

  /** The network root kept for a version held from disks, if any. */
  networkRootOf(versionId: number): { root_sha256: string; root_json: Buffer; root_sig: Buffer } | undefined {
    return this.statements.sql('SELECT root_sha256, root_json, root_sig FROM network_roots WHERE version_id = ?').get(versionId) as never;
  }

  /**
   * A signed network root this store can serve, by its hash: a version it holds from the network,
   * or the network root kept for one it holds from disks.
   */
  servableRoot(rootSha256: string): { root_json: Buffer; root_sig: Buffer } | undefined {
    return this.statements.sql(`SELECT root_json, root_sig FROM versions WHERE root_sha256 = ? AND origin = 'network'
      UNION ALL SELECT root_json, root_sig FROM network_roots WHERE root_sha256 = ? LIMIT 1`).get(rootSha256, rootSha256) as never;
  }

  /** Keeps the newest verified pointer of a version (a renewed pointer replaces an older one). */
  savePointer(p: { bundle: string; version: number; issued: string; expires: string }, bytes: Buffer): void {
    this.statements.sql(`INSERT INTO pointers (bundle_id, version, issued, expires, bytes, fetched_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (bundle_id, version) DO UPDATE SET issued = excluded.issued, expires = excluded.expires, bytes = excluded.bytes, fetched_at = excluded.fetched_at
      WHERE excluded.issued > pointers.issued`).run(p.bundle, p.version, p.issued, p.expires, bytes, now());
  }

  /** The pointer a mirror serves on: the one of the bundle's current (complete) version. */
  servedPointer(bundleId?: string): { bundle_id: string; version: number; bytes: Buffer; expires: string } | undefined {
    return this.statements.sql(`SELECT p.bundle_id, p.version, p.bytes, p.expires FROM pointers p
      JOIN versions v ON v.bundle_id = p.bundle_id AND v.version = p.version AND v.is_current = 1
      WHERE (? IS NULL OR p.bundle_id = ?) ORDER BY p.issued DESC LIMIT 1`).get(bundleId ?? null, bundleId ?? null) as never;
  }

  /** Files and empty folders whose object is already durable become present (renames cost nothing). */
  markPresentFromObjects(versionId: number): number {
    return this.statements.sql(`UPDATE files SET state = 'present' WHERE version_id = ? AND state <> 'present' AND carried = 1
      AND (type = 'dir' OR EXISTS (SELECT 1 FROM objects o WHERE o.sha256 = files.sha256))`).run(versionId).changes;
  }

  /**
   * A page of the files a version still lacks (pending or damaged), in path order after `after`:
   * pages keep a first sync of a million files in flat memory.
   */
  missingPage(versionId: number, after: string, limit = 500): { sha256: string; size: number; path: string }[] {
    return this.statements.sql(`SELECT sha256, size, path FROM files WHERE version_id = ? AND type = 'file' AND state <> 'present' AND carried = 1 AND path > ?
      ORDER BY path LIMIT ?`).all(versionId, after, limit) as never;
  }

  /** Distinct objects a version still lacks, and their bytes. */
  missingTotals(versionId: number): { objects: number; bytes: number } {
    return this.statements.sql(`SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM
      (SELECT sha256, max(size) AS size FROM files WHERE version_id = ? AND type = 'file' AND state <> 'present' AND carried = 1 GROUP BY sha256)`).get(versionId) as never;
  }

  missingCount(versionId: number): number {
    return (this.statements.sql('SELECT count(*) AS n FROM files WHERE version_id = ? AND state <> \'present\' AND carried = 1').get(versionId) as { n: number }).n;
  }

  /** Admits fetched objects (already synced to disk): their rows, every file of the version with their hash, no longer damaged. */
  commitObjects(versionId: number, objects: { sha256: string; size: number }[]): void {
    if (objects.length === 0) return;
    const db = this.db;
    const t = now();
    db.transaction(() => {
      const obj = this.statements.sql('INSERT OR IGNORE INTO objects (sha256, size, added_at) VALUES (?, ?, ?)');
      const pres = this.statements.sql('UPDATE files SET state = \'present\' WHERE version_id = ? AND sha256 = ?');
      const undam = this.statements.sql('DELETE FROM damaged WHERE version_id = ? AND sha256 = ?');
      const ungc = this.statements.sql('DELETE FROM gc_candidates WHERE sha256 = ?');
      for (const o of objects) {
        obj.run(o.sha256, o.size, t);
        pres.run(versionId, o.sha256);
        undam.run(versionId, o.sha256);
        ungc.run(o.sha256);
      }
    })();
  }

  /** The present file of a version at a path, if its object is durable (a mirror's seed for chunk reuse). */
  presentFile(versionId: number, path: string): { sha256: string; size: number } | undefined {
    return this.statements.sql(`SELECT f.sha256, f.size FROM files f JOIN objects o ON o.sha256 = f.sha256
      WHERE f.version_id = ? AND f.path = ? AND f.type = 'file' AND f.state = 'present'`).get(versionId, path) as never;
  }

  startRound(upstream: string): number {
    return Number(this.statements.sql('INSERT INTO mirror_rounds (upstream, started_at) VALUES (?, ?)').run(upstream, now()).lastInsertRowid);
  }

  finishRound(id: number, r: { outcome: string; version: number | null; bytes: number; objects: number; report: unknown }): void {
    this.statements.sql('UPDATE mirror_rounds SET finished_at = ?, outcome = ?, version = ?, bytes = ?, objects = ?, report = ? WHERE id = ?')
      .run(now(), r.outcome, r.version, r.bytes, r.objects, JSON.stringify(r.report), id);
  }

  rounds(limit = 20): { id: number; upstream: string; started_at: string; finished_at: string | null; outcome: string | null; version: number | null; bytes: number; objects: number; report: string | null }[] {
    return this.statements.sql('SELECT * FROM mirror_rounds ORDER BY id DESC LIMIT ?').all(limit) as never;
  }

  /**
   * Forgets versions of a bundle other than its current one and the one before it (the catalog
   * rows only; the browsable tree of a non-current version is already gone).
   */
  dropOldVersions(bundleId: string): number[] {
    const keep = this.statements.sql(`SELECT id FROM versions WHERE bundle_id = ? AND state = 'complete' ORDER BY version DESC LIMIT 2`).all(bundleId) as { id: number }[];
    const newest = this.newestVersion(bundleId);
    const keepIds = new Set([...keep.map((k) => k.id), ...(newest ? [newest.id] : [])]);
    const drop = (this.statements.sql('SELECT id FROM versions WHERE bundle_id = ?').all(bundleId) as { id: number }[]).map((r) => r.id).filter((id) => !keepIds.has(id));
    if (drop.length === 0) return [];
    const roots = drop.map((id) => this.versionById(id)!.root_sha256);
    this.db.transaction(() => {
      for (const id of drop) this.forgetVersion(id);
    })();
    // After the commit: a root kept without its version is only passed over by a rebuild.
    for (const r of roots) if (!this.rootInUse(r)) forgetRootSync(this.dir, r);
    return drop;
  }

  /**
   * Objects no file of any version uses: newly unused ones are noted with the time, and those
   * unused for longer than `retentionMs` are returned and forgotten (the caller deletes the files,
   * after this commit, so a crash in between leaves only untracked files, never a row without bytes).
   */
  collectObjects(retentionMs: number): string[] {
    const t = now();
    const cutoff = new Date(Date.now() - retentionMs).toISOString();
    let expired: string[] = [];
    this.db.transaction(() => {
      this.statements.sql(`INSERT OR IGNORE INTO gc_candidates (sha256, since)
        SELECT o.sha256, ? FROM objects o WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.sha256 = o.sha256)`).run(t);
      this.statements.sql('DELETE FROM gc_candidates WHERE EXISTS (SELECT 1 FROM files f WHERE f.sha256 = gc_candidates.sha256)').run();
      expired = (this.statements.sql('SELECT sha256 FROM gc_candidates WHERE since <= ?').all(cutoff) as { sha256: string }[]).map((r) => r.sha256);
      const delObj = this.statements.sql('DELETE FROM objects WHERE sha256 = ?');
      const delCand = this.statements.sql('DELETE FROM gc_candidates WHERE sha256 = ?');
      for (const sha of expired) {
        delObj.run(sha);
        delCand.run(sha);
      }
    })();
    return expired;
  }

  // ---- checks of the store's own objects (schema 8; check.ts) ----

  /** The newest check of the store, finished or not; undefined before schema 8 or before any check. */
  lastCheck(): StoreCheckRow | undefined {
    return this.checks(1)[0];
  }

  /** The newest finished check of a mode, however many of the other mode came after it. */
  lastFinishedCheck(mode: 'full' | 'fast'): StoreCheckRow | undefined {
    if (!this.hasTable('store_checks')) return undefined;
    return this.statements.sql('SELECT * FROM store_checks WHERE mode = ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1').get(mode) as never;
  }

  checks(limit = 10): StoreCheckRow[] {
    if (!this.hasTable('store_checks')) return [];
    return this.statements.sql('SELECT * FROM store_checks ORDER BY id DESC LIMIT ?').all(limit) as never;
  }

  /**
   * SQLite's own check of the catalog file (`PRAGMA quick_check`: every page and record read, the
   * indexes' order too, without comparing each index with its table): the problems it names, the
   * first `limit`; none when the catalog is sound.
   */
  catalogProblems(limit = 20): string[] {
    const rows = this.statements.pluck(`PRAGMA quick_check(${Math.max(1, Math.floor(limit))})`).all() as string[];
    if (rows.length === 1 && rows[0] === 'ok') return [];
    // One line a problem, without SQLite's "*** in database main ***" heading.
    return rows.flatMap((r) => r.split('\n')).map((l) => l.trim()).filter((l) => l && !/^\*\*\* in database \w+ \*\*\*$/.test(l));
  }

  startCheck(mode: 'full' | 'fast'): number {
    return Number(this.statements.sql('INSERT INTO store_checks (mode, started_at) VALUES (?, ?)').run(mode, now()).lastInsertRowid);
  }

  /** Objects and their bytes after `after` in SHA-256 order (what a check has still to do). */
  objectTotals(after = ''): { objects: number; bytes: number } {
    return this.statements.sql('SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM objects WHERE sha256 > ?').get(after) as never;
  }

  /** A page of durable objects after `after`, in SHA-256 order (the primary key's). */
  objectsAfter(after: string, limit: number): { sha256: string; size: number }[] {
    return this.statements.sql('SELECT sha256, size FROM objects WHERE sha256 > ? ORDER BY sha256 LIMIT ?').all(after, limit) as never;
  }

  /**
   * Commits a page of a check, in one transaction: each bad object stops being durable (its row
   * goes), every present file that used it becomes damaged with the reason (so `serve` no longer
   * offers it, `status` lists it, and the next mirror round or an import of a disk that holds it
   * brings it back), and the check's place moves past the page. The files that became damaged are
   * returned (for the report, and the readers' trees of their versions). The bad files themselves are deleted by the caller after
   * this commit: a crash in between leaves an object file with no row, which nothing trusts.
   */
  recordCheckedPage(checkId: number, cursor: string, done: { objects: number; bytes: number },
    bad: { sha256: string; reason: StoreDamage; detail: string }[]): { versionId: number; path: string; sha256: string }[] {
    const db = this.db;
    const hit: { versionId: number; path: string; sha256: string }[] = [];
    db.transaction(() => {
      const files = this.statements.sql('SELECT version_id, path FROM files INDEXED BY files_by_sha WHERE sha256 = ? AND state = \'present\'');
      const dam = this.statements.sql('UPDATE files SET state = \'damaged\' WHERE version_id = ? AND path = ?');
      const damRow = this.statements.sql('INSERT OR REPLACE INTO damaged (version_id, path, sha256, reason, detail, import_id) VALUES (?, ?, ?, ?, ?, NULL)');
      const delObj = this.statements.sql('DELETE FROM objects WHERE sha256 = ?');
      const delCand = this.statements.sql('DELETE FROM gc_candidates WHERE sha256 = ?');
      for (const b of bad) {
        for (const f of files.all(b.sha256) as { version_id: number; path: string }[]) {
          dam.run(f.version_id, f.path);
          damRow.run(f.version_id, f.path, b.sha256, b.reason, b.detail);
          hit.push({ versionId: f.version_id, path: f.path, sha256: b.sha256 });
        }
        delObj.run(b.sha256);
        delCand.run(b.sha256);
      }
      this.statements.sql('UPDATE store_checks SET cursor = ?, objects = objects + ?, bytes = bytes + ?, bad = bad + ? WHERE id = ?')
        .run(cursor, done.objects, done.bytes, bad.length, checkId);
    })();
    return hit;
  }

  /** Where readers' trees show an object: paths of the current versions' present or damaged files with its hash (the first few). */
  treePathsOf(sha256: string): { bundle: string; path: string }[] {
    return this.statements.sql(`SELECT v.bundle_id AS bundle, f.path FROM files f INDEXED BY files_by_sha JOIN versions v ON v.id = f.version_id
      WHERE f.sha256 = ? AND v.is_current = 1 AND f.type = 'file' LIMIT 4`).all(sha256) as never;
  }

  // ---- rebuilding a damaged catalog (rebuild.ts) ----

  /** Rows for object files found in objects/ (rebuild: each is hashed by the check that follows). */
  addObjectRows(rows: readonly { sha256: string; size: number }[]): void {
    const ins = this.statements.sql('INSERT OR IGNORE INTO objects (sha256, size, added_at) VALUES (?, ?, ?)');
    const t = now();
    this.db.transaction(() => {
      for (const r of rows) ins.run(r.sha256, r.size, t);
    })();
  }

  /** Forgets objects whose size is not the size a file of the version gives their hash: they cannot be that file. */
  dropObjectsOfWrongSize(versionId: number): number {
    // One lookup of the hash index per object (a correlated IN ran the subquery over every file of
    // the version for each object: hours for 200,000).
    return this.statements.sql(`DELETE FROM objects WHERE EXISTS (SELECT 1 FROM files f INDEXED BY files_by_sha
      WHERE f.sha256 = objects.sha256 AND f.version_id = ? AND f.type = 'file' AND f.size <> objects.size)`).run(versionId).changes;
  }

  /** Forgets objects no file of any version is (a fast rebuild trusts sizes, and these have none to compare). */
  dropUnusedObjectRows(): number {
    return this.statements.sql('DELETE FROM objects WHERE NOT EXISTS (SELECT 1 FROM files f INDEXED BY files_by_sha WHERE f.sha256 = objects.sha256)').run().changes;
  }

  /**
   * The carried files of a version readers had whose object the store no longer holds: damaged
   * (`store-missing`), as a check records them, so the mirror or a disk brings them back.
   */
  recordMissingAsDamaged(versionId: number, detail: string): number {
    const db = this.db;
    return db.transaction(() => {
      this.statements.sql(`INSERT OR REPLACE INTO damaged (version_id, path, sha256, reason, detail, import_id)
        SELECT version_id, path, sha256, 'store-missing', ?, NULL FROM files
        WHERE version_id = ? AND type = 'file' AND state <> 'present' AND carried = 1`).run(detail, versionId);
      return this.statements.sql(`UPDATE files SET state = 'damaged' WHERE version_id = ? AND type = 'file' AND state <> 'present' AND carried = 1`).run(versionId).changes;
    })();
  }

  finishCheck(checkId: number, report: unknown): void {
    this.statements.sql('UPDATE store_checks SET finished_at = ?, report = ? WHERE id = ?').run(now(), JSON.stringify(report), checkId);
  }

  /** Whether an object is durable and its size (for serving it on to a lower tier). */
  objectInfo(sha256: string): { size: number } | undefined {
    return this.statements.sql('SELECT size FROM objects WHERE sha256 = ?').get(sha256) as never;
  }

  /**
   * Whether a version in the catalog still lacks this content (a file pending or damaged): the parts
   * of a file spanning volumes are kept in tmp/parts while it does (collectGarbage).
   */
  lacksObject(sha256: string): boolean {
    return this.statements.sql(`SELECT 1 FROM files WHERE sha256 = ? AND state <> 'present' LIMIT 1`).get(sha256) !== undefined && !this.objectInfo(sha256);
  }

  // ---- reading, for serve ----

  collections(versionId: number): { id: string; title: string; path: string; files: number; bytes: number; resources: number }[] {
    return this.statements.sql(`SELECT c.id, c.title, c.path, c.files, c.bytes,
        (SELECT count(*) FROM resources r WHERE r.version_id = c.version_id AND r.collection = c.id) AS resources
      FROM collections c WHERE c.version_id = ? AND c.carried = 1 ORDER BY c.position`).all(versionId) as never;
  }

  resources(versionId: number, collection: string, limit: number, offset: number): ResourceRow[] {
    return this.statements.sql(`SELECT * FROM resources WHERE version_id = ? AND collection = ? AND ${CARRIED_RESOURCE}
      ORDER BY sort_key, title LIMIT ? OFFSET ?`).all(versionId, collection, limit, offset) as ResourceRow[];
  }

  resource(versionId: number, id: string): ResourceRow | undefined {
    return this.statements.sql(`SELECT * FROM resources WHERE version_id = ? AND id = ? AND ${CARRIED_RESOURCE}`).get(versionId, id) as ResourceRow | undefined;
  }

  /**
   * A resource's files, by path. The index is named: left to itself SQLite walks the version's
   * files by the primary key, which is in path order already, instead of sorting the resource's few
   * (180 ms a resource page in a store of a million files, against 0.3 ms).
   */
  filesOf(versionId: number, resource: string): FileRow[] {
    return this.statements.sql(`SELECT path, type, size, mtime, sha256, state FROM files ${BY_RESOURCE}
      WHERE version_id = ? AND resource = ? ORDER BY path`).all(versionId, resource) as FileRow[];
  }

  /**
   * The paths of a resource's entries, read off `files_by_resource` alone (no row is visited): a
   * folder of 100,000 photos is one resource, and its page shows a hundred of them, in an order
   * SQL cannot give (serve's inReadersOrder), fetched by filesAt.
   */
  filePathsOf(versionId: number, resource: string): string[] {
    return this.statements.pluck(`SELECT path FROM files ${BY_RESOURCE} WHERE version_id = ? AND resource = ?`).all(versionId, resource) as string[];
  }

  /** Rows of the given paths of a version, in the order given (those it lacks left out). */
  filesAt(versionId: number, paths: readonly string[]): FileRow[] {
    const one = this.statements.sql('SELECT path, type, size, mtime, sha256, state FROM files WHERE version_id = ? AND path = ?');
    return paths.map((p) => one.get(versionId, p) as FileRow | undefined).filter((f): f is FileRow => f !== undefined);
  }

  /** How many of a resource's files readers can have (present). */
  presentFileCount(versionId: number, resource: string): number {
    return this.statements.pluck(`SELECT count(*) FROM files ${BY_RESOURCE} WHERE version_id = ? AND resource = ? AND type = 'file' AND state = 'present'`).get(versionId, resource) as number;
  }

  file(versionId: number, path: string): FileRow | undefined {
    return this.statements.sql('SELECT path, type, size, mtime, sha256, state, resource FROM files WHERE version_id = ? AND path = ?').get(versionId, path) as FileRow | undefined;
  }

  /**
   * The resources a version brought, that the version readers had when it arrived lacked (schema
   * 6), carried ones only, in the resources' order (the manifest's, by id), `limit` from `offset`.
   */
  newResources(versionId: number, limit: number, offset: number): ResourceRow[] {
    if (!this.hasTable('new_resources')) return [];
    return this.statements.sql(`SELECT r.* FROM new_resources n JOIN resources r ON r.rowid = n.rowid
      WHERE n.version_id = ? AND ${CARRIED_R} ORDER BY n.rowid LIMIT ? OFFSET ?`).all(versionId, limit, offset) as ResourceRow[];
  }

  /** How many resources newResources lists for a version (read from the index). */
  newResourceCount(versionId: number): number {
    if (!this.hasTable('new_resources')) return 0; // a store of schema 5 or older, opened read-only by serve
    return this.statements.pluck(`SELECT count(*) FROM new_resources n JOIN resources r ON r.rowid = n.rowid
      WHERE n.version_id = ? AND ${CARRIED_R}`).get(versionId) as number;
  }

  /**
   * What a version brings readers against the version it was compared with when it arrived (its
   * new and updated resources, carried ones only), as an import's report, a mirror round and
   * `status` say it; none for a bundle's first version here.
   */
  brought(versionId: number): VersionChanges | undefined {
    const comparedWith = this.versionById(versionId)?.compared_with;
    if (comparedWith == null) return undefined;
    return { comparedWith, newResources: this.newResourceCount(versionId), updatedResources: this.updatedResourceCount(versionId) };
  }

  /**
   * The resources readers already had that a version changed (schema 7): those with files that are
   * new or hold other content than in the version it was compared with, carried ones only, in the
   * resources' order, each with how many such files (`changedFiles`).
   */
  updatedResources(versionId: number, limit: number, offset: number): (ResourceRow & { changedFiles: number })[] {
    if (!this.hasTable('updated_resources')) return [];
    return this.statements.sql(`SELECT r.*, u.files AS changedFiles FROM updated_resources u JOIN resources r ON r.rowid = u.rowid
      WHERE u.version_id = ? AND ${CARRIED_R} ORDER BY u.rowid LIMIT ? OFFSET ?`).all(versionId, limit, offset) as never;
  }

  /** How many resources updatedResources lists for a version. */
  updatedResourceCount(versionId: number): number {
    if (!this.hasTable('updated_resources')) return 0; // a store of schema 6 or older, opened read-only by serve
    return this.statements.pluck(`SELECT count(*) FROM updated_resources u JOIN resources r ON r.rowid = u.rowid
      WHERE u.version_id = ? AND ${CARRIED_R}`).get(versionId) as number;
  }

  /** How many of a resource's files a version added or changed, the resource being one readers had (0: none, or a new one). */
  changedFileCount(versionId: number, resource: string): number {
    if (!this.hasTable('updated_resources')) return 0;
    return (this.statements.pluck(`SELECT u.files FROM resources r JOIN updated_resources u ON u.version_id = r.version_id AND u.rowid = r.rowid
      WHERE r.version_id = ? AND r.id = ?`).get(versionId, resource) as number | undefined) ?? 0;
  }

  /** Which of these resources (a page of a collection's) a version brought new, and which it updated (schemas 6 and 7). */
  changesAmong(versionId: number, ids: readonly string[]): Map<string, 'new' | 'updated'> {
    const out = new Map<string, 'new' | 'updated'>();
    if (ids.length === 0 || !this.hasTable('updated_resources')) return out;
    const one = this.statements.pluck(`SELECT CASE
        WHEN EXISTS (SELECT 1 FROM new_resources n WHERE n.version_id = r.version_id AND n.rowid = r.rowid) THEN 'new'
        WHEN EXISTS (SELECT 1 FROM updated_resources u WHERE u.version_id = r.version_id AND u.rowid = r.rowid) THEN 'updated' END
      FROM resources r WHERE r.version_id = ? AND r.id = ?`);
    for (const id of ids) {
      const change = one.get(versionId, id) as 'new' | 'updated' | null | undefined;
      if (change) out.set(id, change);
    }
    return out;
  }

  /** Which of these paths (a resource page's) a version changed in a resource readers already had. */
  changedAmong(versionId: number, paths: readonly string[]): Set<string> {
    if (paths.length === 0 || !this.hasTable('updated_files')) return new Set();
    const one = this.statements.pluck('SELECT 1 FROM updated_files WHERE version_id = ? AND path = ?');
    return new Set(paths.filter((p) => one.get(versionId, p) !== undefined));
  }

  /**
   * Full-text search over titles, creators, descriptions and the names of each resource's files
   * (schema 5; a store an older bookcrate wrote, opened read-only by `serve` before its next import
   * or mirror round, is searched without the names). Words separated by spaces (an ASCII or an
   * ideographic one) must all be found, anywhere and in any order: 敦煌 讲座 finds 敦煌壁画艺术讲座,
   * and 敦煌 讲义 finds it too, by its file 讲义.pdf. Trigram matching needs three characters;
   * shorter words (common in Chinese: 敦煌, 京剧) are matched with LIKE, beside the index where a
   * longer word uses it. A match in a file's name weighs half one in the metadata.
   */
  search(versionId: number, query: string, limit = 50): ResourceRow[] {
    return this.resourcesAt(this.searchRowids(versionId, query, limit));
  }

  /**
   * What `search` finds, best first, as the resources' rowids: a reader's query is answered a page
   * at a time, the order and the count of up to `limit` matches from one statement (the ranking
   * sorts every match anyway), and the rows for the page only (`resourcesAt`).
   */
  searchRowids(versionId: number, query: string, limit: number): number[] {
    const words = searchWords(query);
    if (words.length === 0) return [];
    const names = this.searchesFileNames();
    const long = words.filter((w) => [...w].length >= 3);
    const short = words.filter((w) => [...w].length < 3);
    const likes = short.map((w) => `%${w.replace(/[\\%_]/g, (c) => '\\' + c)}%`);
    const fields = ['r.title', 'r.creator', 'r.description', ...(names ? ['n.names'] : [])];
    const likeSql = likes.map(() => `AND (${fields.map((f) => `${f} LIKE ? ESCAPE '\\'`).join(' OR ')})`).join(' ');
    const likeArgs = likes.flatMap((l) => fields.map(() => l));
    const joinNames = names ? 'LEFT JOIN resource_names n ON n.rowid = r.rowid' : '';
    if (long.length > 0) {
      const match = long.map((w) => '"' + w.replace(/"/g, '""') + '"').join(' AND ');
      const rank = names ? 'bm25(resources_fts, 1.0, 1.0, 1.0, 0.5)' : 'rank';
      return this.statements.pluck(`SELECT r.rowid FROM resources_fts f JOIN resources r ON r.rowid = f.rowid ${joinNames}
        WHERE resources_fts MATCH ? AND r.version_id = ? AND ${CARRIED_R} ${likeSql}
        ORDER BY ${rank} LIMIT ?`).all(match, versionId, ...likeArgs, limit) as number[];
    }
    return this.statements.pluck(`SELECT r.rowid FROM resources r ${joinNames} WHERE r.version_id = ? AND ${CARRIED_R} ${likeSql}
      ORDER BY r.sort_key, r.title LIMIT ?`).all(versionId, ...likeArgs, limit) as number[];
  }

  /** Resources by their rowids, in that order (one that is gone is left out). */
  resourcesAt(rowids: readonly number[]): ResourceRow[] {
    const one = this.statements.sql('SELECT * FROM resources WHERE rowid = ?');
    return rowids.map((id) => one.get(id) as ResourceRow | undefined).filter((r): r is ResourceRow => r !== undefined);
  }

  /**
   * The files of a search result that the reader searched for: those whose path below the
   * collection holds every word of the query that the resource's title, creator and description
   * lack (case aside), in path order, at most `limit`; `more` when there are others. None when the
   * metadata holds every word (the resource itself was found).
   */
  matchingFiles(versionId: number, r: ResourceRow, query: string, limit = 3): { files: FileRow[]; more: boolean } {
    const meta = [r.title, r.creator ?? '', r.description ?? ''].join('\n').toLowerCase();
    const wanted = searchWords(query).map((w) => w.toLowerCase()).filter((w) => !meta.includes(w));
    if (wanted.length === 0) return { files: [], more: false };
    // The paths off the index alone (a folder of 100,000 photos is one resource); rows only for the ones found.
    const paths = this.db.prepare(`SELECT path FROM files ${BY_RESOURCE} WHERE version_id = ? AND resource = ? ORDER BY path`)
      .pluck().iterate(versionId, r.id) as IterableIterator<string>;
    const found: string[] = [];
    let more = false;
    for (const path of paths) {
      const below = path.slice(path.indexOf('/') + 1).toLowerCase();
      if (!wanted.every((w) => below.includes(w))) continue;
      if (found.length === limit) {
        more = true;
        break; // (which ends the statement's iterator)
      }
      found.push(path);
    }
    return { files: this.filesAt(versionId, found).filter((f) => f.type === 'file'), more };
  }

  /**
   * Whether the catalog has the files' names for the search (schema 5). Asked each time: a `serve`
   * started on an older store sees the names once an import or a mirror round has brought them in.
   */
  private searchesFileNames(): boolean {
    return this.hasTable('resource_names');
  }

  private hasTable(name: string): boolean {
    return this.statements.sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  }
}

/** A search's words: separated by ASCII or ideographic spaces, each once. */
export function searchWords(query: string): string[] {
  return [...new Set(query.split(/[\s\u3000]+/).filter(Boolean))];
}

/** What a version brings readers (Store.brought). */
export interface VersionChanges {
  /** the version number it was compared with */
  comparedWith: number;
  newResources: number;
  updatedResources: number;
}

export interface ResourceRow {
  id: string;
  collection: string;
  title: string;
  creator: string | null;
  type: string | null;
  language: string | null;
  date: string | null;
  description: string | null;
}

export interface FileRow {
  path: string;
  type: string;
  size: number;
  mtime: number;
  sha256: string | null;
  state: 'pending' | 'present' | 'damaged';
  resource?: string | null;
}

/** Manifest rows by SHA-256 (folders, which have none, first). */
function bySha256(a: { entry: FileEntry }, b: { entry: FileEntry }): number {
  const x = a.entry.sha256 ?? '';
  const y = b.entry.sha256 ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}
