import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { BookcrateError } from '@bookcrate/format';
import { rowInserter } from './rows.js';
import type { Store } from './store.js';

/**
 * What an import's next commit will record about each file, kept on disk instead of in memory
 * (docs/store.md, "Import", step 5, "Staged, not held"): a segment may hold a million tiny files,
 * and a few hundred bytes of JavaScript each until the commit made the import's memory grow with
 * them (docs/performance.md, "Run AM").
 *
 * The rows live in a scratch database in the store's tmp/, attached to the store's own catalog
 * connection: its writes take no lock of the catalog (the catalog thread writes the manifest
 * meanwhile), and the commit's set-based statements read it in the same transaction that marks the
 * files present. A batch (one commit's rows) fills one of two tables, `staged0` and `staged1`, in
 * turn: at most two batches are alive at once (one being gathered while the one before waits for
 * its sync), and a recorded batch's table is emptied whole, at the cost of its pages, not its rows.
 */
export class ImportStaging {
  /** Rows not yet in the table (flushed in one transaction when full, and at every cut). */
  private buffer: StagedRow[] = [];
  /** The batch being gathered. */
  private current: LiveBatch = { table: 0, written: new WrittenObjects() };
  /** The batch cut before it, until a commit has recorded it. */
  private committing: (LiveBatch & { batch: StagedBatch }) | undefined;
  /** Set when a recorded batch's table could not be emptied: nothing more can be staged. */
  private broken: unknown;
  private readonly st: { insert: (rows: readonly StagedRow[]) => void; find: Statement; page: Statement; clear: Statement }[];

  /**
   * @param afterKilledRun the scratch database of an import that did not end was found: objects it
   * put into objects/ may be there without a row (the importer adopts the whole ones after a hash).
   */
  private constructor(private readonly store: Store, readonly file: string, readonly afterKilledRun: boolean) {
    const db = store.db;
    this.st = TABLES.map((t) => ({
      insert: rowInserter<StagedRow>(db, `staging.${t}`, ['path', 'sha256', 'size', 'written', 'k'], (r, out, at) => {
        out[at] = r.path;
        out[at + 1] = r.sha256;
        out[at + 2] = r.size;
        out[at + 3] = r.written;
        out[at + 4] = r.written === 2 ? digestKey(r.sha256!) : null;
      }),
      find: db.prepare(`SELECT 1 FROM staging.${t} WHERE k = ? AND written = 2 AND sha256 = ?`).pluck(),
      page: db.prepare(`SELECT rowid AS id, sha256 FROM staging.${t} WHERE rowid > ? AND written > 0 ORDER BY rowid LIMIT ?`),
      clear: db.prepare(`DELETE FROM staging.${t}`),
    }));
  }

  /**
   * Attaches a fresh scratch database (a killed run's is removed first: the caller holds the
   * store's lock, so no other import uses it). Not inside a transaction.
   */
  static open(store: Store): ImportStaging {
    const file = join(store.paths.tmp, STAGING_FILE);
    // Only a run killed by a signal or a power cut leaves it: an import that ends, or fails, removes it.
    const afterKilledRun = existsSync(file);
    removeScratch(file);
    const db = store.db;
    db.prepare('ATTACH DATABASE ? AS staging').run(file);
    try {
      // Scratch: its journal in memory (a rollback still works), never synced, a small cache.
      db.pragma('staging.journal_mode = MEMORY');
      db.pragma('staging.synchronous = OFF');
      db.pragma(`staging.cache_size = -${CACHE_KIB}`);
      for (const t of TABLES) {
        db.exec(`CREATE TABLE staging.${t} (
          path TEXT NOT NULL,         -- the bundle path of a present file or folder
          sha256 TEXT,                -- NULL for a folder
          size INTEGER NOT NULL,
          written INTEGER NOT NULL,   -- 0: its object was already there; 1: put into objects/ by this
                                      -- run (not yet recorded); 2: the same, past the batch's EXACT_MAX
          k INTEGER                   -- rows with written = 2: the digest's first 52 bits, indexed
        );
        CREATE INDEX staging.${t}_written ON ${t} (k) WHERE written = 2;`);
      }
    } catch (e) {
      db.exec('DETACH DATABASE staging');
      removeScratch(file);
      throw e;
    }
    return new ImportStaging(store, file, afterKilledRun);
  }

  /** A present file (sha256 given) or folder (null) for the next commit; `written`: its object is this run's. */
  add(path: string, sha256: string | null, size: number, written: boolean): void {
    this.buffer.push({ path, sha256, size, written: written ? this.current.written.add(sha256!) : 0 });
    if (this.buffer.length >= FLUSH_ROWS) this.flush();
  }

  /**
   * Whether this run wrote the object of this content and no commit has recorded it yet (a second
   * file with that content is then not written again). Exact: a batch's first EXACT_MAX written
   * objects are held in memory; past them, a Bloom filter answers "no" and the table's index "yes".
   */
  hasWritten(sha256: string): boolean {
    return this.wroteIn(this.current, sha256) || (!!this.committing && this.wroteIn(this.committing, sha256));
  }

  private wroteIn(b: LiveBatch, sha256: string): boolean {
    const answer = b.written.has(sha256);
    if (answer !== 'maybe') return answer;
    this.flush(); // the buffered rows too
    return this.st[b.table]!.find.get(digestKey(sha256), sha256) !== undefined;
  }

  /** Ends the batch being gathered (rows added from now on go to the next one). */
  cut(): StagedBatch {
    if (this.committing) {
      throw new BookcrateError('INTERNAL', 'a batch of the import was cut before the one before it was recorded');
    }
    this.flush();
    const batch: StagedBatch = { table: `staging.${TABLES[this.current.table]}`, written: this.current.written.count };
    this.committing = { ...this.current, batch };
    this.current = { table: this.current.table === 0 ? 1 : 0, written: new WrittenObjects() };
    return batch;
  }

  /** The object paths this batch wrote, read in pages (for an fsync of each where syncfs is unavailable). */
  *objectPaths(batch: StagedBatch): Generator<string> {
    const c = this.committing;
    if (c?.batch === batch) yield* this.writtenIn(c.table);
  }

  /** A commit recorded this batch: its table is emptied for the batch after next. */
  recorded(batch: StagedBatch): void {
    const c = this.committing;
    if (c?.batch !== batch) return;
    this.committing = undefined;
    try {
      this.st[c.table]!.clear.run();
    } catch (e) {
      // The commit has succeeded; a failure here (a full disk) must not undo it, and the next cut
      // would find the rows still there: the import stops, and its rerun starts a fresh table.
      this.broken = e;
    }
  }

  /**
   * The objects this run wrote that no commit recorded (removed after a failure). Asks nothing to
   * be written: the failure may be a full disk.
   */
  *unrecordedObjects(): Generator<string> {
    const buffered = this.buffer.filter((r) => r.written > 0).map((r) => r.sha256!);
    if (this.committing) yield* this.writtenIn(this.committing.table);
    yield* this.writtenIn(this.current.table);
    for (const sha256 of buffered) yield this.store.paths.object(sha256);
  }

  /** Detaches and removes the scratch database. Not inside a transaction. */
  close(): void {
    this.buffer = [];
    try {
      this.store.db.exec('DETACH DATABASE staging');
    } finally {
      removeScratch(this.file);
    }
  }

  /** All or none of the buffered rows go in; after a failure (a full disk) they stay in the buffer. */
  private flush(): void {
    if (this.broken) throw this.broken;
    if (this.buffer.length === 0) return;
    const rows = this.buffer;
    const insert = this.st[this.current.table]!.insert;
    this.store.db.transaction(() => insert(rows))();
    this.buffer = [];
  }

  /** Paged (no statement stays open between pages: other statements run on the connection meanwhile). */
  private *writtenIn(table: 0 | 1): Generator<string> {
    for (let after = 0; ;) {
      const rows = this.st[table]!.page.all(after, PAGE_ROWS) as { id: number; sha256: string }[];
      for (const r of rows) yield this.store.paths.object(r.sha256);
      if (rows.length < PAGE_ROWS) return;
      after = rows[rows.length - 1]!.id;
    }
  }
}

/** One commit's staged rows: the table that holds them (all its rows), and how many objects this run wrote. */
export interface StagedBatch {
  readonly table: string;
  readonly written: number;
}

interface LiveBatch {
  table: 0 | 1;
  written: WrittenObjects;
}

interface StagedRow {
  path: string;
  sha256: string | null;
  size: number;
  written: 0 | 1 | 2;
}

type Statement = Database.Statement<unknown[]>;

export const STAGING_FILE = 'import-staging.sqlite';
const TABLES = ['staged0', 'staged1'] as const;
const FLUSH_ROWS = 256;
const PAGE_ROWS = 512;
const CACHE_KIB = 2048;

function removeScratch(file: string): void {
  for (const f of [file, `${file}-journal`]) rmSync(f, { force: true });
}

/** The first 52 bits of a digest (hex), exact as a JavaScript number: a small index key. */
const digestKey = (sha256: string): number => parseInt(sha256.slice(0, 13), 16);

/**
 * The objects one batch wrote, for hasWritten: the first EXACT_MAX in a set (~110 bytes each),
 * the rest in a Bloom filter backed by the table's index. The index is only for those: kept for
 * every row it cost ~3–6 µs a file on the importing thread, where a set lookup costs nothing.
 */
class WrittenObjects {
  count = 0;
  private readonly exact = new Set<string>();
  private bloom: BloomFilter | undefined;
  /** Records a written object; returns its `written` value in the table (2: indexed). */
  add(sha256: string): 1 | 2 {
    this.count++;
    if (this.exact.size < EXACT_MAX) {
      this.exact.add(sha256);
      return 1;
    }
    (this.bloom ??= new BloomFilter()).add(sha256);
    return 2;
  }
  has(sha256: string): boolean | 'maybe' {
    if (this.exact.has(sha256)) return true;
    return this.bloom?.has(sha256) ? 'maybe' : false;
  }
}
const EXACT_MAX = 16_384;

/**
 * A fixed-size Bloom filter of SHA-256 digests (hex): no false negatives, so "no" skips the
 * table. 2^21 bits (256 KiB), 3 probes taken from the digest itself (already uniform): below 2%
 * false positives up to 200,000 objects; past that it only asks the table more often.
 */
class BloomFilter {
  private readonly bits = new Uint32Array(BLOOM_BITS / 32);
  add(sha256: string): void {
    for (let i = 0; i < BLOOM_PROBES; i++) {
      const b = probe(sha256, i);
      this.bits[b >>> 5]! |= 1 << (b & 31);
    }
  }
  has(sha256: string): boolean {
    for (let i = 0; i < BLOOM_PROBES; i++) {
      const b = probe(sha256, i);
      if ((this.bits[b >>> 5]! & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}
const BLOOM_BITS = 1 << 21;
const BLOOM_PROBES = 3;
// probes from hex digits 13 onwards: the first 13 are the index key, independent of these
const probe = (sha256: string, i: number): number => parseInt(sha256.slice(13 + i * 6, 19 + i * 6), 16) & (BLOOM_BITS - 1);
