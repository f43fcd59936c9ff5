import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tempDir } from '../../../fixtures/tree.js';
import type { FileEntry, ResourceEntry, Root } from '@bookcrate/format';
import { Store } from './store.js';
import { STAGING_FILE, ImportStaging } from './staging.js';

const sha = (i: number | string): string => createHash('sha256').update(String(i)).digest('hex');
const root = { format: 'bookcrate/1', bundle: { id: 'county', title: '县级资源包', version: 1, created: '2026-12-02T00:00:00Z' },
  collections: [{ id: 'photos', title: '老照片', path: '老照片', files: 0, bytes: 0 }], layout: { set: 'set1', volumes: [{ index: 1, segments: [] }] },
  totals: { files: 0, dirs: 1, bytes: 0 } } as unknown as Root;
const photo = (i: number): FileEntry => ({ path: `老照片/${String(i).padStart(6, '0')}.jpg`, type: 'file', size: i, mtime: 0, sha256: sha(i), xxh64: '0'.repeat(16), resource: 'r' });
async function* iter<T>(xs: Iterable<T>): AsyncGenerator<T> {
  yield* xs;
}
/** A store with one version of `n` photos (all pending) and its staging attached. */
async function storeWith(n: number): Promise<{ s: Store; vid: number; staging: ImportStaging }> {
  const s = await Store.open(await tempDir('staging-'), { create: true });
  const rows = [{ entry: { path: '老照片', type: 'dir', size: 0, mtime: 0 } as FileEntry, volume: 1 }, ...Array.from({ length: n }, (_, i) => ({ entry: photo(i), volume: 1 }))];
  const resources: ResourceEntry[] = [{ id: 'r', collection: 'photos', title: '老照片' }];
  const v = await s.addVersion(root, Buffer.from('root'), Buffer.from('sig'), '1'.repeat(64), iter(rows), iter(resources));
  return { s, vid: v.id, staging: ImportStaging.open(s) };
}

describe('ImportStaging: what the next commit records, on disk instead of in memory (docs/store.md, "Import", step 5)', () => {
  it('a commit marks exactly its batch present and adds its objects; the batches alternate between two tables', async () => {
    const { s, vid, staging } = await storeWith(3000);
    try {
      const imp = s.startImport(vid, 1, 'disk');
      staging.add('老照片', null, 0, false);
      for (let i = 0; i < 1000; i++) staging.add(photo(i).path, sha(i), i, true); // more than one flush of 256
      const first = staging.cut();
      expect(first).toEqual({ table: 'staging.staged0', written: 1000 });
      // the next batch is gathered while the first one waits for its sync
      for (let i = 1000; i < 1500; i++) staging.add(photo(i).path, sha(i), i, i % 2 === 0);
      expect([...staging.objectPaths(first)]).toHaveLength(1000); // paged: 512 at a time
      expect([...staging.objectPaths(first)][999]).toBe(s.paths.object(sha(999)));
      s.commitSegments(vid, [1], imp, first, []);
      staging.recorded(first);
      expect(s.fileCounts(vid)).toMatchObject({ present: 1001, pending: 2000 }); // the folder, and the 1,000 files
      expect((s.db.prepare('SELECT count(*) AS n FROM objects').get() as { n: number }).n).toBe(1000);
      expect((s.db.prepare('SELECT count(*) AS n FROM staging.staged0').get() as { n: number }).n).toBe(0);

      const second = staging.cut();
      expect(second).toEqual({ table: 'staging.staged1', written: 250 });
      s.commitSegments(vid, [2], imp, second, [{ path: photo(2999).path, sha256: sha(2999), reason: 'hash', detail: 'damaged' }]);
      staging.recorded(second);
      expect(s.fileCounts(vid)).toMatchObject({ present: 1501, damaged: 1, pending: 1499 });
      expect([...s.segmentsDone(vid)].sort()).toEqual([1, 2]);
      // the third batch goes to the first table again, emptied when its batch was recorded
      staging.add(photo(1500).path, sha(1500), 1500, true);
      expect(staging.cut()).toEqual({ table: 'staging.staged0', written: 1 });
    } finally {
      staging.close();
      s.close();
    }
  });

  it('knows, exactly, which objects this run wrote that no commit recorded: past 16,384 in a batch too (then from its index)', async () => {
    const { s, staging } = await storeWith(0);
    try {
      const n = 20_000;
      for (let i = 0; i < n; i++) staging.add(`p/${i}`, sha(i), 1, true);
      staging.add('p/present', sha('already there'), 1, false); // an object that was durable already: not this run's
      for (const i of [0, 16_383, 16_384, 19_999]) expect(staging.hasWritten(sha(i)), `object ${i}`).toBe(true);
      // Digests never written: every one a "no", whether the Bloom filter said no or maybe.
      let no = 0;
      for (let i = n; i < n + 5000; i++) if (!staging.hasWritten(sha(i))) no++;
      expect(no).toBe(5000);
      expect(staging.hasWritten(sha('already there'))).toBe(false);
      // The batch being committed still counts until it is recorded; the next one counts as well.
      const batch = staging.cut();
      staging.add('q/0', sha('next'), 1, true);
      expect(staging.hasWritten(sha(19_999))).toBe(true);
      expect(staging.hasWritten(sha('next'))).toBe(true);
      staging.recorded(batch);
      expect(staging.hasWritten(sha(19_999))).toBe(false);
      expect(staging.hasWritten(sha(16_384))).toBe(false);
      expect(staging.hasWritten(sha('next'))).toBe(true);
    } finally {
      staging.close();
      s.close();
    }
  });

  it('after a failure, names every object of the run no commit recorded, even those a full disk kept out of the table', async () => {
    const { s, staging } = await storeWith(0);
    try {
      const batch = (() => {
        for (let i = 0; i < 300; i++) staging.add(`a/${i}`, sha(i), 1, i % 3 !== 0);
        return staging.cut();
      })();
      s.commitSegments(1, [1], 0, batch, []);
      staging.recorded(batch); // recorded: not to be removed
      staging.add('b/kept', sha('kept'), 1, false); // not this run's object
      for (let i = 300; i < 800; i++) staging.add(`b/${i}`, sha(i), 1, true);
      const committing = staging.cut();
      // SQLite's own limit on the file's size: the same SQLITE_FULL a full disk gives
      const pages = (s.db.pragma('staging.page_count', { simple: true }) as number);
      s.db.pragma(`staging.max_page_count = ${pages}`);
      let full: unknown;
      let last = 0; // the last row added: its add() is the one whose flush failed
      try {
        for (last = 800; last < 2000; last++) staging.add(`c/${last}`, sha(last), 1, true);
      } catch (e) {
        full = e;
      }
      expect((full as { code?: string }).code).toBe('SQLITE_FULL');
      expect(last).toBeLessThan(2000);
      // Every object of the batch being committed and of the one being gathered, including the rows
      // the failed flush could not write (they were put into objects/ all the same); not those
      // of the recorded batch, nor the one that was already there.
      const expected = new Set<string>();
      for (let i = 300; i <= last; i++) expected.add(s.paths.object(sha(i)));
      expect(new Set(staging.unrecordedObjects())).toEqual(expected);
      expect(committing.written).toBe(500);
    } finally {
      staging.close();
      s.close();
    }
  });

  it('writes without the catalog\'s lock: an import stages while the catalog thread holds a write transaction', async () => {
    const { s, staging } = await storeWith(0);
    const other = await Store.open(s.dir);
    try {
      other.db.exec('BEGIN IMMEDIATE'); // the catalog thread, in one of its transactions
      other.db.prepare('INSERT INTO trusted_keys (fingerprint, pem, source, pinned_at) VALUES (?, ?, ?, ?)').run('ff', 'PEM', 'test', 'now');
      const t0 = Date.now();
      for (let i = 0; i < 1000; i++) staging.add(`p/${i}`, sha(i), 1, true);
      expect(staging.cut().written).toBe(1000);
      expect(Date.now() - t0).toBeLessThan(2000); // no wait for the busy timeout (10 s)
      other.db.exec('COMMIT');
    } finally {
      staging.close();
      other.close();
      s.close();
    }
  });

  it('a scratch database left by a killed run is replaced (and said to have been there), and none is left once closed', async () => {
    const s = await Store.open(await tempDir('staging-'), { create: true });
    const file = join(s.paths.tmp, STAGING_FILE);
    writeFileSync(file, 'the half-written file of a killed import');
    writeFileSync(`${file}-journal`, 'garbage');
    try {
      const staging = ImportStaging.open(s);
      expect(staging.afterKilledRun).toBe(true); // its objects may be in objects/ without rows
      staging.add('x', sha('x'), 1, true);
      expect(staging.cut().written).toBe(1);
      staging.close();
      expect(existsSync(file)).toBe(false);
      expect(existsSync(`${file}-journal`)).toBe(false);
      // and it can be attached again by the next import on the same connection, which knows no killed run
      const next = ImportStaging.open(s);
      expect(next.afterKilledRun).toBe(false);
      next.close();
    } finally {
      s.close();
    }
  });
});
