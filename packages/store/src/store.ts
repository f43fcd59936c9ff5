import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BookcrateError, type CollectionInfo, type FileEntry, type ResourceEntry, type Root } from '@bookcrate/format';
import { openCatalog, type DB } from './db.js';
import { acquireLock } from './lock.js';

/** Paths inside a store directory (docs/store.md, "Layout"). */
export const storePaths = (dir: string) => ({
  catalog: join(dir, 'catalog.sqlite'),
  objects: join(dir, 'objects'),
  object: (sha256: string) => join(dir, 'objects', sha256.slice(0, 2), sha256),
  tmp: join(dir, 'tmp'),
  library: join(dir, 'library'),
  versions: join(dir, 'library', '.versions'),
  lock: join(dir, 'lock'),
});

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
}

const now = (): string => new Date().toISOString();

/**
 * The local library store: objects by SHA-256 on disk, the SQLite catalog, the browsable tree.
 * This package is the only one that touches SQLite; every statement the importer, `status` and
 * `serve` need is a method here.
 */
export class Store {
  readonly paths: ReturnType<typeof storePaths>;
  private constructor(readonly dir: string, readonly db: DB) {
    this.paths = storePaths(dir);
  }

  /** Opens (creating when asked) a store. Writers also take the store lock. */
  static async open(dir: string, opts: { create?: boolean; readonly?: boolean } = {}): Promise<Store> {
    const p = storePaths(dir);
    if (opts.create) {
      for (const d of [dir, p.objects, p.tmp, p.library, p.versions]) {
        try {
          await mkdir(d, { recursive: true });
        } catch (e) {
          throw new BookcrateError('IO', `cannot create the store folder ${d}: ${(e as Error).message}`, { hint: 'check the --store path and its permissions', cause: e });
        }
      }
    } else if (!(await stat(p.catalog).then(() => true, () => false))) {
      throw new BookcrateError('USAGE', `${dir} is not a bookcrate store (no catalog.sqlite)`, { hint: 'import a volume into it first: bookcrate import <disk> --store <dir>' });
    }
    return new Store(dir, openCatalog(p.catalog, { readonly: !!opts.readonly }));
  }

  lock(what: string, wait = false): Promise<() => Promise<void>> {
    return acquireLock(this.paths.lock, { what, wait });
  }

  close(): void {
    this.db.close();
  }

  // ---- trust ----

  trustedKeys(): { fingerprint: string; pem: string; source: string; pinned_at: string }[] {
    return this.db.prepare('SELECT fingerprint, pem, source, pinned_at FROM trusted_keys ORDER BY pinned_at').all() as never;
  }

  pinKey(fingerprint: string, pem: string, source: string): void {
    this.db.prepare('INSERT OR IGNORE INTO trusted_keys (fingerprint, pem, source, pinned_at) VALUES (?, ?, ?, ?)').run(fingerprint, pem, source, now());
  }

  // ---- versions ----

  version(bundleId: string, version: number): VersionRow | undefined {
    return this.db.prepare('SELECT * FROM versions WHERE bundle_id = ? AND version = ?').get(bundleId, version) as VersionRow | undefined;
  }

  versionById(id: number): VersionRow | undefined {
    return this.db.prepare('SELECT * FROM versions WHERE id = ?').get(id) as VersionRow | undefined;
  }

  newestVersion(bundleId: string): VersionRow | undefined {
    return this.db.prepare('SELECT * FROM versions WHERE bundle_id = ? ORDER BY version DESC LIMIT 1').get(bundleId) as VersionRow | undefined;
  }

  currentVersions(): VersionRow[] {
    return this.db.prepare('SELECT * FROM versions WHERE is_current = 1 ORDER BY bundle_id').all() as VersionRow[];
  }

  allVersions(): VersionRow[] {
    return this.db.prepare('SELECT * FROM versions ORDER BY bundle_id, version').all() as VersionRow[];
  }

  /**
   * Records a version from its signed root and streams its manifest into the catalog (files as
   * 'pending', resources, collections), 10,000 rows per transaction so memory stays flat and a crash
   * leaves nothing half-visible: the version row is committed last.
   */
  async addVersion(
    root: Root, rootBytes: Buffer, sigBytes: Buffer, rootSha256: string,
    files: AsyncIterable<{ entry: FileEntry; volume: number }>, resources: AsyncIterable<ResourceEntry>,
  ): Promise<VersionRow> {
    const db = this.db;
    const existing = this.version(root.bundle.id, root.bundle.version);
    if (existing) return existing;
    // A staging id: rows are written under it, and the version row that makes them visible comes last.
    const id = ((db.prepare('SELECT max(id) AS m FROM versions').get() as { m: number | null }).m ?? 0) + 1;
    db.prepare('DELETE FROM files WHERE version_id = ?').run(id);
    db.prepare('DELETE FROM resources WHERE version_id = ?').run(id);
    db.prepare('DELETE FROM collections WHERE version_id = ?').run(id);
    db.pragma('foreign_keys = OFF');
    try {
      const insFile = db.prepare('INSERT INTO files (version_id, path, type, size, mtime, sha256, xxh64, resource, volume, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, \'pending\')');
      const insRes = db.prepare('INSERT INTO resources (version_id, id, collection, title, creator, type, language, date, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
      const batch = <T>(fn: (rows: T[]) => void) => db.transaction(fn);
      const fileBatch = batch((rows: { entry: FileEntry; volume: number }[]) => {
        for (const { entry: e, volume } of rows) insFile.run(id, e.path, e.type, e.size, e.mtime, e.sha256 ?? null, e.xxh64 ?? null, e.resource ?? null, volume);
      });
      const resBatch = batch((rows: ResourceEntry[]) => {
        for (const r of rows) insRes.run(id, r.id, r.collection, r.title, r.creator ?? null, r.type ?? null, r.language ?? null, r.date ?? null, r.description ?? null);
      });
      let buf: { entry: FileEntry; volume: number }[] = [];
      for await (const f of files) {
        buf.push(f);
        if (buf.length >= 10_000) {
          fileBatch(buf);
          buf = [];
        }
      }
      fileBatch(buf);
      let rbuf: ResourceEntry[] = [];
      for await (const r of resources) {
        rbuf.push(r);
        if (rbuf.length >= 10_000) {
          resBatch(rbuf);
          rbuf = [];
        }
      }
      resBatch(rbuf);
      db.transaction(() => {
        const insCol = db.prepare('INSERT INTO collections (version_id, id, title, path, files, bytes, position) VALUES (?, ?, ?, ?, ?, ?, ?)');
        root.collections.forEach((c: CollectionInfo, i) => insCol.run(id, c.id, c.title, c.path, c.files, c.bytes, i));
        db.prepare(`INSERT INTO versions (id, bundle_id, version, set_id, title, created, root_sha256, root_json, root_sig, volumes, files, bytes, state)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'importing')`).run(
          id, root.bundle.id, root.bundle.version, root.layout?.set ?? '', root.bundle.title, root.bundle.created, rootSha256,
          rootBytes, sigBytes, root.layout?.volumes.length ?? 0, root.totals.files + root.totals.dirs, root.totals.bytes,
        );
      })();
    } finally {
      db.pragma('foreign_keys = ON');
    }
    return this.versionById(id)!;
  }

  volumeStates(versionId: number): { volume: number; state: string; imported_at: string | null }[] {
    return this.db.prepare('SELECT volume, state, imported_at FROM volumes WHERE version_id = ? ORDER BY volume').all(versionId) as never;
  }

  startVolume(versionId: number, volume: number): void {
    this.db.prepare('INSERT OR IGNORE INTO volumes (version_id, volume, state) VALUES (?, ?, \'importing\')').run(versionId, volume);
  }

  finishVolume(versionId: number, volume: number): void {
    this.db.prepare('UPDATE volumes SET state = \'done\', imported_at = ? WHERE version_id = ? AND volume = ?').run(now(), versionId, volume);
  }

  // ---- import journal ----

  segmentsDone(versionId: number): Set<number> {
    const rows = this.db.prepare('SELECT segment FROM import_segments WHERE version_id = ?').all(versionId) as { segment: number }[];
    return new Set(rows.map((r) => r.segment));
  }

  isObjectDurable(sha256: string): boolean {
    return this.db.prepare('SELECT 1 FROM objects WHERE sha256 = ?').get(sha256) !== undefined;
  }

  /**
   * Commits imported segments: their objects become durable, their files present or damaged, and
   * the segments are journaled as done, all in one transaction (after the objects were synced to disk).
   */
  commitSegments(versionId: number, segments: number[], importId: number,
    present: { path: string; sha256: string; size: number }[],
    damaged: { path: string; sha256: string | null; reason: string; detail: string }[],
    dirs: string[]): void {
    const db = this.db;
    const t = now();
    db.transaction(() => {
      const obj = db.prepare('INSERT OR IGNORE INTO objects (sha256, size, added_at) VALUES (?, ?, ?)');
      const pres = db.prepare('UPDATE files SET state = \'present\' WHERE version_id = ? AND path = ?');
      const dam = db.prepare('UPDATE files SET state = \'damaged\' WHERE version_id = ? AND path = ?');
      const damRow = db.prepare('INSERT OR REPLACE INTO damaged (version_id, path, sha256, reason, detail, import_id) VALUES (?, ?, ?, ?, ?, ?)');
      const undam = db.prepare('DELETE FROM damaged WHERE version_id = ? AND path = ?');
      for (const p of present) {
        obj.run(p.sha256, p.size, t);
        pres.run(versionId, p.path);
        undam.run(versionId, p.path);
      }
      for (const d of dirs) pres.run(versionId, d);
      for (const d of damaged) {
        dam.run(versionId, d.path);
        damRow.run(versionId, d.path, d.sha256, d.reason, d.detail, importId);
      }
      const seg = db.prepare('INSERT OR REPLACE INTO import_segments (version_id, segment, done_at) VALUES (?, ?, ?)');
      for (const s of segments) seg.run(versionId, s, t);
    })();
  }

  fileCounts(versionId: number): { present: number; damaged: number; pending: number } {
    const out = { present: 0, damaged: 0, pending: 0 };
    for (const r of this.db.prepare('SELECT state, count(*) AS n FROM files WHERE version_id = ? GROUP BY state').all(versionId) as { state: keyof typeof out; n: number }[]) out[r.state] = r.n;
    return out;
  }

  /** Files of this version still waiting for a volume. */
  pendingCount(versionId: number): number {
    return (this.db.prepare('SELECT count(*) AS n FROM files WHERE version_id = ? AND state = \'pending\'').get(versionId) as { n: number }).n;
  }

  startImport(versionId: number, volume: number, source: string): number {
    return Number(this.db.prepare('INSERT INTO imports (version_id, volume, source, started_at, state) VALUES (?, ?, ?, ?, \'running\')').run(versionId, volume, source, now()).lastInsertRowid);
  }

  finishImport(id: number, state: 'done' | 'failed', report: unknown): void {
    this.db.prepare('UPDATE imports SET finished_at = ?, state = ?, report = ? WHERE id = ?').run(now(), state, JSON.stringify(report), id);
  }

  /** Marks a version complete and current (the previous current one of its bundle stops being so). */
  makeCurrent(versionId: number): void {
    const v = this.versionById(versionId)!;
    this.db.transaction(() => {
      this.db.prepare('UPDATE versions SET is_current = 0 WHERE bundle_id = ?').run(v.bundle_id);
      this.db.prepare('UPDATE versions SET state = \'complete\', is_current = 1, completed_at = coalesce(completed_at, ?) WHERE id = ?').run(now(), versionId);
    })();
  }

  /** Present files of a version in path order, streamed (for the browsable tree). */
  *presentFiles(versionId: number): IterableIterator<{ path: string; type: string; sha256: string | null; mtime: number }> {
    yield* this.db.prepare('SELECT path, type, sha256, mtime FROM files WHERE version_id = ? AND state = \'present\' ORDER BY path').iterate(versionId) as IterableIterator<never>;
  }

  damagedFiles(versionId?: number): { version_id: number; path: string; sha256: string | null; reason: string; detail: string }[] {
    return (versionId === undefined
      ? this.db.prepare('SELECT * FROM damaged ORDER BY version_id, path').all()
      : this.db.prepare('SELECT * FROM damaged WHERE version_id = ? ORDER BY path').all(versionId)) as never;
  }

  imports(limit = 50): { id: number; version_id: number; volume: number; source: string; started_at: string; finished_at: string | null; state: string; report: string | null }[] {
    return this.db.prepare('SELECT * FROM imports ORDER BY id DESC LIMIT ?').all(limit) as never;
  }

  // ---- reading, for serve ----

  collections(versionId: number): { id: string; title: string; path: string; files: number; bytes: number; resources: number }[] {
    return this.db.prepare(`SELECT c.id, c.title, c.path, c.files, c.bytes,
        (SELECT count(*) FROM resources r WHERE r.version_id = c.version_id AND r.collection = c.id) AS resources
      FROM collections c WHERE c.version_id = ? ORDER BY c.position`).all(versionId) as never;
  }

  resources(versionId: number, collection: string, limit: number, offset: number): ResourceRow[] {
    return this.db.prepare('SELECT * FROM resources WHERE version_id = ? AND collection = ? ORDER BY title LIMIT ? OFFSET ?').all(versionId, collection, limit, offset) as ResourceRow[];
  }

  resource(versionId: number, id: string): ResourceRow | undefined {
    return this.db.prepare('SELECT * FROM resources WHERE version_id = ? AND id = ?').get(versionId, id) as ResourceRow | undefined;
  }

  filesOf(versionId: number, resource: string): FileRow[] {
    return this.db.prepare('SELECT path, type, size, mtime, sha256, state FROM files WHERE version_id = ? AND resource = ? ORDER BY path').all(versionId, resource) as FileRow[];
  }

  file(versionId: number, path: string): FileRow | undefined {
    return this.db.prepare('SELECT path, type, size, mtime, sha256, state, resource FROM files WHERE version_id = ? AND path = ?').get(versionId, path) as FileRow | undefined;
  }

  /**
   * Full-text search over titles, creators and descriptions. Trigram matching needs three
   * characters; one- and two-character queries (common in Chinese: 敦煌, 京剧) use LIKE instead.
   */
  search(versionId: number, query: string, limit = 50): ResourceRow[] {
    const q = query.trim();
    if (!q) return [];
    if ([...q].length >= 3) {
      const phrase = '"' + q.replace(/"/g, '""') + '"';
      return this.db.prepare(`SELECT r.* FROM resources_fts f JOIN resources r ON r.rowid = f.rowid
        WHERE resources_fts MATCH ? AND r.version_id = ? ORDER BY rank LIMIT ?`).all(phrase, versionId, limit) as ResourceRow[];
    }
    const like = `%${q.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
    return this.db.prepare(`SELECT * FROM resources WHERE version_id = ?
      AND (title LIKE ? ESCAPE '\\' OR creator LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\')
      ORDER BY title LIMIT ?`).all(versionId, like, like, like, limit) as ResourceRow[];
  }
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
