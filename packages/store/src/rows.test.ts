import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { ROWS_PER_INSERT, rowInserter } from './rows.js';

type Row = { n: number; name: string | null };

function table(): Database.Database {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE t (n INTEGER NOT NULL, name TEXT NOT NULL CHECK (name <> 'bad'), PRIMARY KEY (n))`);
  return db;
}
const bind = (r: Row, out: unknown[], at: number): void => {
  out[at] = r.n;
  out[at + 1] = r.name;
};
const rows = (count: number, from = 0): Row[] => Array.from({ length: count }, (_, i) => ({ n: from + i, name: `第${from + i}行` }));

describe('rowInserter: many rows to a statement, the same rows as one statement each', () => {
  it('inserts every row, in order, whether the count is a multiple of the statement size or not', () => {
    for (const count of [0, 1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1, 3 * ROWS_PER_INSERT + 7]) {
      const db = table();
      const insert = rowInserter<Row>(db, 't', ['n', 'name'], bind);
      db.transaction(() => insert(rows(count)))();
      // rowid order is insertion order: each row went in once, in the order given
      expect(db.prepare('SELECT n, name FROM t ORDER BY rowid').all(), `${count} rows`).toEqual(rows(count));
      db.close();
    }
  });

  it('a failing row (constraint) fails the call, and the enclosing transaction keeps none of its rows', () => {
    const db = table();
    const insert = rowInserter<Row>(db, 't', ['n', 'name'], bind);
    db.transaction(() => insert(rows(10)))();
    for (const bad of [{ n: 100, name: null }, { n: 101, name: 'bad' }, { n: 5, name: 'again' }]) {
      // the bad row in the middle of a multi-row statement, after rows it already wrote
      const batch = [...rows(30, 1000), bad, ...rows(100, 2000)];
      expect(() => db.transaction(() => insert(batch))()).toThrow(/constraint/i);
      expect((db.prepare('SELECT count(*) AS c FROM t').get() as { c: number }).c).toBe(10);
    }
    // and the connection is usable afterwards
    db.transaction(() => insert(rows(70, 500)))();
    expect((db.prepare('SELECT count(*) AS c FROM t').get() as { c: number }).c).toBe(80);
    db.close();
  });
});
