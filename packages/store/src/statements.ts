import type Database from 'better-sqlite3';
import type { DB } from './db.js';

/**
 * A prepared statement as the cache hands it out: run, get and all only. Its mode is fixed when it
 * is prepared (plain rows, or the first column plucked), and it cannot be iterated: an iterator left
 * open keeps a statement busy, and the next caller of the same SQL would get "This statement is busy
 * executing a query". Statements that are iterated are prepared where they are used.
 */
export type CachedStatement = Pick<Database.Statement<unknown[], unknown>, 'run' | 'get' | 'all' | 'source' | 'reader'>;

/**
 * The catalog's prepared statements, kept for the life of a connection.
 *
 * Preparing is SQLite parsing and planning the SQL: 6–22 µs a statement here, as much as running
 * it, and a page of `serve` runs a dozen or more. With a statement prepared on every call, reading
 * every collection page of the sample store took 1.3 ms; kept here, 0.63 ms (docs/performance.md,
 * "Run BJ"). Each SQL text is prepared once per connection.
 *
 * Bounded: SQL made with a table's name or a count in it (a staging table, a search of n short
 * words) is as many texts; the least recently used beyond `limit` is dropped (and finalized by V8).
 */
export class StatementCache {
  private readonly rows = new Map<string, CachedStatement>();
  private readonly plucked = new Map<string, CachedStatement>();

  constructor(private readonly db: DB, private readonly limit = 200) {}

  /** The statement for `sql`, returning whole rows. */
  sql(sql: string): CachedStatement {
    return this.take(this.rows, sql, false);
  }

  /** The statement for `sql`, returning each row's first column alone (better-sqlite3's pluck). */
  pluck(sql: string): CachedStatement {
    return this.take(this.plucked, sql, true);
  }

  /** How many statements are kept (for the tests). */
  get size(): number {
    return this.rows.size + this.plucked.size;
  }

  private take(cache: Map<string, CachedStatement>, sql: string, pluck: boolean): CachedStatement {
    let st = cache.get(sql);
    if (st) {
      // Most recently used last: a Map keeps insertion order, so the first key is the least used.
      cache.delete(sql);
      cache.set(sql, st);
      return st;
    }
    const prepared = this.db.prepare(sql);
    st = pluck ? prepared.pluck() : prepared;
    cache.set(sql, st);
    if (cache.size > this.limit) cache.delete(cache.keys().next().value as string);
    return st;
  }
}
