import Database from 'better-sqlite3';
import { readFileSync, readdirSync } from 'node:fs';
import { BookcrateError } from '@bookcrate/format';
import { registerSearchNames } from './search-names.js';

export type DB = Database.Database;

/** Schema files live beside the package (not in src/ or dist/), so tests and builds read the same ones. */
const SQL_DIR = new URL('../sql/', import.meta.url);

/**
 * Opens the catalog: WAL (readers — `serve`, `status` — never block the importer), a busy timeout
 * for the moments two processes touch it, foreign keys on, and every numbered migration in sql/
 * applied in order inside one transaction, each recorded in schema_migrations.
 */
export function openCatalog(path: string, opts: { readonly?: boolean } = {}): DB {
  let db: DB;
  try {
    db = new Database(path, { readonly: !!opts.readonly, fileMustExist: !!opts.readonly });
  } catch (e) {
    throw new BookcrateError('IO', `cannot open the catalog ${path}: ${(e as Error).message}`, {
      hint: opts.readonly ? 'is this a bookcrate store? import a volume into it first' : 'check the --store path and its permissions',
      cause: e,
      say: { id: 'store-unusable', args: { path, reason: (e as Error).message } },
    });
  }
  db.pragma('busy_timeout = 10000');
  // better-sqlite3 builds SQLite with a 16 MB page cache per database of each connection, and an
  // import has two connections (its own and the catalog thread's) plus the temp database of a
  // commit's set-based statements: together ~30 MB of a 200 MB budget. The pages missed are in the
  // OS's page cache (the WAL was just written); with 4 MiB and 2 MiB a 200,000-file import took no
  // longer and peaked ~10 MB lower (docs/performance.md, "Run AN").
  db.pragma(`cache_size = -${CACHE_KIB}`);
  db.pragma(`temp.cache_size = -${TEMP_CACHE_KIB}`);
  registerSearchNames(db);
  if (!opts.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db);
  }
  return db;
}

/** the page cache of the catalog, per connection */
const CACHE_KIB = 4096;
/** the page cache of a connection's temp database (ephemeral tables, sorts) */
const TEMP_CACHE_KIB = 2048;

function migrate(db: DB): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)');
  const applied = new Set((db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
  const files = readdirSync(SQL_DIR).filter((f) => /^\d+-.*\.sql$/.test(f)).sort();
  const known = Math.max(0, ...files.map((f) => parseInt(f, 10)));
  const newest = Math.max(0, ...applied);
  if (newest > known) {
    throw new BookcrateError('USAGE', `this store was written by a newer bookcrate (schema ${newest}, this one knows ${known})`, {
      hint: 'install the newer bookcrate on this PC', say: { id: 'store-newer-schema', args: { schema: newest, known } },
    });
  }
  const run = db.transaction(() => {
    for (const f of files) {
      const v = parseInt(f, 10);
      if (applied.has(v)) continue;
      db.exec(readFileSync(new URL(f, SQL_DIR), 'utf8'));
      db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(v, new Date().toISOString());
    }
  });
  run.immediate();
}
