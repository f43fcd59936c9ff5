import type { DB } from './db.js';

/** Rows one multi-row INSERT takes: at 10 columns, 640 parameters, far below SQLite's 32,766. */
export const ROWS_PER_INSERT = 64;

/**
 * An inserter of many rows into one table: ROWS_PER_INSERT rows a statement, the rest one by one.
 * One call through better-sqlite3 (bind, step, reset) then carries 64 rows instead of one, so a
 * multi-row INSERT costs less per row than a statement per row (docs/performance.md, run AP).
 * `bind` writes a row's values, in `columns` order, into `out` from `at`. Rows go in in the order
 * given. Call it inside a transaction: see OR FAIL below.
 */
export function rowInserter<T>(db: DB, table: string, columns: readonly string[], bind: (row: T, out: unknown[], at: number) => void): (rows: readonly T[]) => void {
  const width = columns.length;
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  // OR FAIL: a statement that writes many rows and may abort halfway needs a statement journal to
  // undo its own rows (SQLite spills it to a temp file past 64 KiB: pages written, for nothing).
  // A failing row fails the statement here too, and the caller's transaction rolls back all of it.
  const head = `INSERT OR FAIL INTO ${table} (${columns.join(', ')}) VALUES `;
  const one = db.prepare(head + tuple);
  const many = db.prepare(head + Array<string>(ROWS_PER_INSERT).fill(tuple).join(', '));
  const values: unknown[] = new Array(ROWS_PER_INSERT * width);
  const single: unknown[] = new Array(width);
  return (rows) => {
    let i = 0;
    for (; i + ROWS_PER_INSERT <= rows.length; i += ROWS_PER_INSERT) {
      for (let j = 0; j < ROWS_PER_INSERT; j++) bind(rows[i + j]!, values, j * width);
      many.run(values);
    }
    for (; i < rows.length; i++) {
      bind(rows[i]!, single, 0);
      one.run(single);
    }
  };
}
