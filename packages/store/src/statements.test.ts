import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { rename } from 'node:fs/promises';
import { tempDir } from '../../../fixtures/tree.js';
import { StatementCache } from './statements.js';
import { Store } from './store.js';

function table(): Database.Database {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
  db.prepare('INSERT INTO t (k, v) VALUES (1, \'一\'), (2, \'二\')').run();
  return db;
}

/** Counts the statements a connection prepares from here on. */
function countPrepares(db: Database.Database): () => number {
  let n = 0;
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    n++;
    return prepare(sql);
  }) as typeof db.prepare;
  return () => n;
}

describe('the catalog\'s statement cache', () => {
  it('prepares each SQL text once, and keeps rows and plucked columns apart', () => {
    const db = table();
    const prepares = countPrepares(db);
    const cache = new StatementCache(db);
    const sql = 'SELECT v FROM t WHERE k = ?';
    for (let i = 0; i < 100; i++) {
      expect(cache.sql(sql).get(1)).toEqual({ v: '一' });
      expect(cache.pluck(sql).get(2)).toBe('二');
    }
    // A plucked statement does not change what the same SQL's rows statement returns, either way round.
    expect(cache.sql(sql).all(2)).toEqual([{ v: '二' }]);
    expect(prepares()).toBe(2);
    expect(cache.size).toBe(2);
  });

  it('keeps at most its limit, dropping the least recently used', () => {
    const db = table();
    const prepares = countPrepares(db);
    const cache = new StatementCache(db, 3);
    const q = (n: number): string => `SELECT v FROM t WHERE k = ${n}`;
    for (const n of [1, 2, 3]) cache.sql(q(n));
    cache.sql(q(1)); // used again: now the most recent
    cache.sql(q(4)); // the fourth drops q(2), the least recently used
    expect(cache.size).toBe(3);
    expect(prepares()).toBe(4);
    cache.sql(q(1));
    cache.sql(q(3));
    expect(prepares()).toBe(4);
    cache.sql(q(2));
    expect(prepares()).toBe(5);
  });

  it('is what a store\'s reading methods use: a reader\'s page does not prepare its statements again', async () => {
    const dir = await tempDir('bookcrate-statements-');
    const store = await Store.open(dir, { create: true });
    try {
      const prepares = countPrepares(store.db);
      const ask = (): void => {
        store.currentVersions();
        store.trustedKeys();
        store.imports(20);
        store.damagedStillNeeded(500);
        store.search(1, '敦煌 讲座');
        store.search(1, '京剧');
      };
      ask();
      const first = prepares();
      expect(first).toBeGreaterThan(0);
      for (let i = 0; i < 50; i++) ask();
      expect(prepares()).toBe(first);
    } finally {
      store.close();
    }
  });

  it('the change counter, a kept statement, still moves when another connection commits, and only then', async () => {
    const dir = await tempDir('bookcrate-statements-');
    const writer = await Store.open(dir, { create: true });
    const reader = await Store.open(dir, { readonly: true });
    try {
      const first = reader.changeCounter();
      reader.currentVersions();
      expect(reader.changeCounter()).toBe(first);
      writer.pinKey('cd'.repeat(16), '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n', 'test');
      const second = reader.changeCounter();
      expect(second).not.toBe(first);
      expect(reader.changeCounter()).toBe(second);
    } finally {
      reader.close();
      writer.close();
    }
  });

  it('prepares afresh on the connection a replaced catalog is reopened on', async () => {
    const dir = await tempDir('bookcrate-statements-');
    const store = await Store.open(dir, { create: true });
    const other = await tempDir('bookcrate-statements-');
    const second = await Store.open(other, { create: true });
    second.pinKey('ab'.repeat(16), '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n', 'test');
    second.close();
    try {
      expect(store.trustedKeys()).toEqual([]);
      // What `check --rebuild-catalog` does: the old catalog and its WAL put aside, another file in its place.
      for (const side of ['-wal', '-shm', '']) await rename(store.paths.catalog + side, `${store.paths.catalog}.old${side}`);
      await rename(second.paths.catalog, store.paths.catalog);
      expect(store.reopenIfReplaced()).toBe(true);
      expect(store.trustedKeys().map((k) => k.fingerprint)).toEqual(['ab'.repeat(16)]);
    } finally {
      store.close();
    }
  });
});
