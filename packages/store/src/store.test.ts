import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { tempDir } from '../../../fixtures/tree.js';
import type { FileEntry, ResourceEntry, Root } from '@bookcrate/format';
import { Store, resourceSortKey } from './store.js';
import { catalogWriteError } from './objects.js';
import { ImportStaging } from './staging.js';
import { keptRootHashes } from './kept-roots.js';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('a new store and the folder it is asked for in', () => {
  it('refuses a folder that holds other things, and leaves it as it was', async () => {
    const dir = await tempDir('bookcrate-store-');
    await mkdir(join(dir, 'library'));
    await writeFile(join(dir, 'library', '馆藏目录.xlsx'), 'the librarian\'s own');
    await writeFile(join(dir, 'notes.txt'), 'mine');
    await expect(Store.open(dir, { create: true })).rejects.toMatchObject({
      code: 'USAGE', message: `${dir} already holds other things (library, notes.txt) and is not a bookcrate store`,
      hint: `give a new or empty folder for the store, e.g. ${join(dir, 'bookcrate-store')}`,
      say: { id: 'store-not-empty' },
    });
    expect((await readdir(dir)).sort()).toEqual(['library', 'notes.txt']);
    expect(await readdir(join(dir, 'library'))).toEqual(['馆藏目录.xlsx']);
  });

  it('names the store when given a folder inside one (its library/, where the readers\' files are)', async () => {
    const dir = await tempDir('bookcrate-store-');
    (await Store.open(dir, { create: true })).close();
    for (const inside of [join(dir, 'library'), join(dir, 'library', 'some-bundle'), join(dir, 'objects')]) {
      for (const create of [false, true]) {
        await expect(Store.open(inside, { create })).rejects.toMatchObject({
          code: 'USAGE', message: `${inside} is inside the bookcrate store ${dir}, not a store itself`,
          hint: `give the store's own folder: --store ${dir}`, say: { id: 'inside-store' },
        });
      }
    }
    expect(await readdir(join(dir, 'library'))).toEqual(['.versions']);
  });

  it.skipIf(process.getuid?.() !== 0)('on a disk mounted read-only, says so (a recursive mkdir would have said ENOENT)', async () => {
    const mnt = await tempDir('bookcrate-store-ro-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    try {
      await mkdir(join(mnt, 'store'));
      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      for (const dir of [join(mnt, 'store'), join(mnt, 'new', 'store')]) {
        await expect(Store.open(dir, { create: true })).rejects.toMatchObject({
          code: 'IO', message: expect.stringMatching(/cannot create the store folder .*: its disk is mounted read-only$/), say: { id: 'store-read-only' },
        });
      }
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('uses a new folder, an empty one, a disk\'s root (lost+found, OS clutter), and one a killed first run left its folders in', async () => {
    const base = await tempDir('bookcrate-store-');
    const fresh = join(base, 'new', 'store');
    const root = join(base, 'disk-root');
    await mkdir(join(root, 'lost+found'), { recursive: true });
    await mkdir(join(root, 'System Volume Information'));
    await writeFile(join(root, 'desktop.ini'), '');
    await mkdir(join(root, '.Trash-1000'));
    const killed = join(base, 'killed');
    for (const d of ['objects', 'parts', 'tmp', 'library']) await mkdir(join(killed, d), { recursive: true });
    for (const dir of [fresh, root, killed]) {
      const store = await Store.open(dir, { create: true });
      store.close();
      // and then, a store, it opens again whatever it holds
      (await Store.open(dir, { create: true })).close();
    }
  });
});

describe('Store.inTransaction (a transaction held open across awaits)', () => {
  it('shows its writes to other connections only after it returns, and none of them when it throws', async () => {
    const dir = await tempDir();
    const writer = await Store.open(dir, { create: true });
    const reader = await Store.open(dir, { readonly: true });
    try {
      await writer.inTransaction(async () => {
        writer.pinKey('aa', 'PEM-A', 'test');
        await new Promise((r) => setTimeout(r, 20));
        expect(writer.trustedKeys().map((k) => k.fingerprint)).toEqual(['aa']); // its own connection sees it
        expect(reader.trustedKeys()).toEqual([]); // another does not, yet
      });
      expect(reader.trustedKeys().map((k) => k.fingerprint)).toEqual(['aa']);
      await expect(writer.inTransaction(async () => {
        writer.pinKey('bb', 'PEM-B', 'test');
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('the sync failed');
      })).rejects.toThrow('the sync failed');
      expect(writer.trustedKeys().map((k) => k.fingerprint)).toEqual(['aa']);
    } finally {
      reader.close();
      writer.close();
    }
  });

  it('leaves nothing when its process is killed with SIGKILL while it waits', async () => {
    const dir = await tempDir();
    (await Store.open(dir, { create: true })).close();
    // A real process: pins a key inside the transaction, says so, then waits (as an import waits for its sync).
    const script = `
      const { Store } = await import(${JSON.stringify(DIST)});
      const s = await Store.open(${JSON.stringify(dir)});
      await s.inTransaction(async () => {
        s.pinKey('cc', 'PEM-C', 'test');
        process.stdout.write('inside\\n');
        await new Promise(() => setTimeout(() => undefined, 60_000));
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const closed = new Promise<string | null>((r) => child.on('close', (_c, signal) => r(signal)));
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('inside')) child.kill('SIGKILL');
    });
    expect(await closed).toBe('SIGKILL');
    const s = await Store.open(dir);
    try {
      expect(s.trustedKeys()).toEqual([]);
      // and the store takes writes again (no lock left behind)
      s.pinKey('dd', 'PEM-D', 'test');
      expect(s.trustedKeys().map((k) => k.fingerprint)).toEqual(['dd']);
    } finally {
      s.close();
    }
  });
});

describe('a version into the catalog, and the collections a library carries (import --only)', () => {
  // Two collections whose folders share a prefix, to show a folder matches whole path components only.
  const root = (version: number) => ({
    format: 'bookcrate/1',
    bundle: { id: 'county', title: '县级资源包', version, created: '2026-12-02T00:00:00Z' },
    collections: [
      { id: 'opera', title: '京剧', path: '京剧', files: 2, bytes: 3 },
      { id: 'clips', title: '京剧选段', path: '京剧选段', files: 1, bytes: 1 },
    ],
    layout: { set: `set${version}`, volumes: [{ index: 1, segments: [] }] },
    totals: { files: 3, dirs: 2, bytes: 4 },
  }) as unknown as Root;
  const file = (path: string, sha: string, resource: string): FileEntry => ({ path, type: 'file', size: 1, mtime: 0, sha256: sha.repeat(64), xxh64: '0'.repeat(16), resource });
  const entries = [
    { entry: { path: '京剧', type: 'dir', size: 0, mtime: 0 } as FileEntry, volume: 1 },
    { entry: file('京剧/霸王别姬.mp4', 'a', 'r-opera'), volume: 1 },
    { entry: file('京剧/贵妃醉酒.mp4', 'b', 'r-opera'), volume: 1 },
    { entry: { path: '京剧选段', type: 'dir', size: 0, mtime: 0 } as FileEntry, volume: 1 },
    { entry: file('京剧选段/选段一.mp4', 'c', 'r-clips'), volume: 1 },
  ];
  const resources: ResourceEntry[] = [
    { id: 'r-clips', collection: 'clips', title: '京剧选段集锦' },
    { id: 'r-opera', collection: 'opera', title: '京剧名段' },
  ];
  async function* iter<T>(xs: T[]): AsyncGenerator<T> {
    yield* xs;
  }
  const add = (s: Store, version: number) => s.addVersion(root(version), Buffer.from(`root${version}`), Buffer.from('sig'), `${version}`.repeat(64), iter(entries), iter(resources));

  it('lists a collection\'s resources with numbers by value (第2册 before 第10册), also in a store made before the order (schema 3)', async () => {
    const titles = ['三国演义 第10册', '三国演义 第2册', '三国演义 第1册', '三国演义 第002册（修订）', '三国演义 第100册', '京剧名段'];
    const many: ResourceEntry[] = titles.map((title, i) => ({ id: `r${i}`, collection: 'opera', title }));
    const dir = await tempDir();
    const s = await Store.open(dir, { create: true });
    try {
      const v = (await s.addVersion(root(1), Buffer.from('root1'), Buffer.from('sig'), '1'.repeat(64), iter(entries), iter(many))).id;
      expect(s.resources(v, 'opera', 50, 0).map((r) => r.title)).toEqual([
        '三国演义 第1册', '三国演义 第2册', '三国演义 第002册（修订）', '三国演义 第10册', '三国演义 第100册', '京剧名段',
      ]);
      expect(s.resources(v, 'opera', 2, 2).map((r) => r.title)).toEqual(['三国演义 第002册（修订）', '三国演义 第10册']);
      expect(resourceSortKey('第2册（1957年版）')).toBe('第000000000002册（000000001957年版）');
    } finally {
      s.close();
    }
    // The migration on a store whose rows have no key yet: they keep their titles' order, and the store opens.
    const db = new Database(join(dir, 'catalog.sqlite'));
    db.exec("UPDATE resources SET sort_key = title; DELETE FROM schema_migrations WHERE version = 4; DROP INDEX resources_by_collection; CREATE INDEX resources_by_collection ON resources (version_id, collection, title); ALTER TABLE resources DROP COLUMN sort_key;");
    db.close();
    const again = await Store.open(dir, { create: true });
    try {
      const v = again.allVersions()[0]!.id;
      expect(again.resources(v, 'opera', 50, 0)).toHaveLength(titles.length);
    } finally {
      again.close();
    }
  });

  it('finds a resource by its files\' names and says which files; an older store is searched without them, then brought up to date', async () => {
    const named = [
      { entry: file('京剧/霸王别姬/第一场 别姬.mp4', 'a', 'r-opera'), volume: 1 },
      { entry: file('京剧/霸王别姬/第二场 乌江.mp4', 'b', 'r-opera'), volume: 1 },
      { entry: file('京剧/贵妃醉酒.mp4', 'c', 'r-drunk'), volume: 1 },
      { entry: file('京剧选段/霸王别姬全剧.mp4', 'd', 'r-full'), volume: 1 },
    ];
    const resourcesOf: ResourceEntry[] = [
      { id: 'r-opera', collection: 'opera', title: '京剧名段' },
      { id: 'r-drunk', collection: 'opera', title: '贵妃醉酒' }, // a file that is its own resource
      { id: 'r-full', collection: 'clips', title: '霸王别姬（全剧）', description: '梅兰芳 1955' },
    ];
    const dir = await tempDir();
    const s = await Store.open(dir, { create: true });
    const ids = (v: number, q: string) => s.search(v, q).map((r) => r.id);
    const found = (v: number, q: string, limit?: number) => {
      const { files, more } = s.matchingFiles(v, s.resource(v, ids(v, q)[0]!)!, q, limit);
      return { files: files.map((f) => f.path), more };
    };
    try {
      const v = (await s.addVersion(root(1), Buffer.from('root1'), Buffer.from('sig'), '1'.repeat(64), iter(named), iter(resourcesOf))).id;
      // What the names add: the path below the collection, without extensions, without what the title says.
      expect(s.db.prepare('SELECT r.id, n.names FROM resource_names n JOIN resources r ON r.rowid = n.rowid ORDER BY r.id').all()).toEqual([
        { id: 'r-full', names: '霸王别姬全剧' }, // its title has a 「（」 in the middle
        { id: 'r-opera', names: '霸王别姬\n第一场 别姬\n第二场 乌江' },
      ]);
      expect(ids(v, '乌江')).toEqual(['r-opera']); // a short word: LIKE over the names
      expect(found(v, '乌江')).toEqual({ files: ['京剧/霸王别姬/第二场 乌江.mp4'], more: false });
      expect(ids(v, '第一场 京剧')).toEqual(['r-opera']); // one word in the title, one in a file's name
      expect(found(v, '第一场 京剧')).toEqual({ files: ['京剧/霸王别姬/第一场 别姬.mp4'], more: false });
      expect(found(v, '场', 1)).toEqual({ files: ['京剧/霸王别姬/第一场 别姬.mp4'], more: true });
      expect(ids(v, '霸王别姬')).toEqual(['r-full', 'r-opera']); // a title before a folder's name
      expect(found(v, '霸王别姬')).toEqual({ files: [], more: false }); // r-full: its title says it
      expect(ids(v, '贵妃醉酒')).toEqual(['r-drunk']);
      expect(ids(v, '梅兰芳 全剧')).toEqual(['r-full']);
      expect(ids(v, 'mp4')).toEqual([]); // extensions are not names
    } finally {
      s.close();
    }

    // The shape of schema 4: the index over three fields of resources, no names.
    const db = new Database(join(dir, 'catalog.sqlite'));
    db.exec(`DROP TRIGGER resources_ad; DROP TABLE resources_fts; DROP TABLE resource_names; DELETE FROM schema_migrations WHERE version = 5;
      CREATE VIRTUAL TABLE resources_fts USING fts5 (title, creator, description, content = 'resources', content_rowid = 'rowid', tokenize = 'trigram');
      CREATE TRIGGER resources_ai AFTER INSERT ON resources BEGIN
        INSERT INTO resources_fts (rowid, title, creator, description) VALUES (new.rowid, new.title, new.creator, new.description);
      END;
      CREATE TRIGGER resources_ad AFTER DELETE ON resources BEGIN
        INSERT INTO resources_fts (resources_fts, rowid, title, creator, description) VALUES ('delete', old.rowid, old.title, old.creator, old.description);
      END;
      INSERT INTO resources_fts (resources_fts) VALUES ('rebuild');`);
    db.close();
    // serve opens it read-only (no migration): the metadata is searched as before.
    const reader = await Store.open(dir, { readonly: true });
    try {
      const v = reader.allVersions()[0]!.id;
      expect(reader.search(v, '霸王别姬').map((r) => r.id)).toEqual(['r-full']);
      expect(reader.search(v, '京剧 全剧').map((r) => r.id)).toEqual([]);
      expect(reader.search(v, '梅兰芳').map((r) => r.id)).toEqual(['r-full']);
      // The next writer (an import, a mirror round) migrates it; the reader, still open, sees the names.
      const writer = await Store.open(dir, { create: true });
      try {
        expect(writer.search(v, '乌江').map((r) => r.id)).toEqual(['r-opera']);
        expect(reader.search(v, '霸王别姬').map((r) => r.id)).toEqual(['r-full', 'r-opera']);
        // Rows deleted with their resources, from the index and the names alike.
        writer.db.prepare('DELETE FROM resources WHERE version_id = ?').run(v);
        expect(writer.db.prepare('SELECT count(*) FROM resource_names').pluck().get()).toBe(0);
        expect(writer.db.prepare(`SELECT count(*) FROM resources_fts WHERE resources_fts MATCH '"霸王别姬"'`).pluck().get()).toBe(0);
      } finally {
        writer.close();
      }
    } finally {
      reader.close();
    }
  });

  it('finds what a version brings: its resources the current version lacks, carried ones only', async () => {
    const s = await Store.open(await tempDir(), { create: true });
    try {
      const v1 = (await add(s, 1)).id;
      expect(s.versionById(v1)!.compared_with).toBeNull(); // the bundle's first version here: nothing is new
      expect(s.newResourceCount(v1)).toBe(0);
      s.db.prepare("UPDATE versions SET state = 'complete', is_current = 1 WHERE id = ?").run(v1);
      const more: ResourceEntry[] = [
        ...resources,
        { id: 'r-new-opera', collection: 'opera', title: '京剧 新到' },
        { id: 'r-new-clip', collection: 'clips', title: '选段 新到' },
      ];
      const v2 = (await s.addVersion(root(2), Buffer.from('root2'), Buffer.from('sig'), '2'.repeat(64), iter(entries), iter(more))).id;
      expect(s.versionById(v2)!.compared_with).toBe(1);
      expect(s.newResources(v2, 10, 0).map((r) => r.id)).toEqual(['r-new-opera', 'r-new-clip']);
      expect(s.newResources(v2, 1, 1).map((r) => r.id)).toEqual(['r-new-clip']);
      expect(s.newResourceCount(v2)).toBe(2);
      s.carryCollections('county', ['clips']);
      expect(s.newResources(v2, 10, 0).map((r) => r.id)).toEqual(['r-new-clip']);
      expect(s.newResourceCount(v2)).toBe(1);
      // Its rows go with the version.
      s.db.prepare("UPDATE versions SET state = 'complete', is_current = 0 WHERE id = ?").run(v2);
      for (const v of [3, 4]) {
        const id = (await s.addVersion(root(v), Buffer.from(`root${v}`), Buffer.from('sig'), `${v}`.repeat(64), iter(entries), iter(resources))).id;
        s.db.prepare("UPDATE versions SET state = 'complete' WHERE id = ?").run(id);
      }
      expect(keptRootHashes(s.dir), 'each version\'s signed root is kept outside the catalog too').toEqual(['1', '2', '3', '4'].map((d) => d.repeat(64)));
      expect(s.dropOldVersions('county')).toEqual([v1, v2]);
      expect(s.db.prepare('SELECT count(*) FROM new_resources WHERE version_id = ?').pluck().get(v2)).toBe(0);
      expect(keptRootHashes(s.dir), 'and forgotten with it').toEqual(['3', '4'].map((d) => d.repeat(64)));
    } finally {
      s.close();
    }
  });

  it('finds what a version changes: files new or with other content in resources readers had, carried ones only', async () => {
    const s = await Store.open(await tempDir(), { create: true });
    try {
      const v1 = (await add(s, 1)).id;
      s.db.prepare("UPDATE versions SET state = 'complete', is_current = 1 WHERE id = ?").run(v1);
      expect(s.updatedResourceCount(v1)).toBe(0);
      const changed = [
        { entry: { path: '京剧', type: 'dir', size: 0, mtime: 0 } as FileEntry, volume: 1 },
        { entry: { ...file('京剧/霸王别姬.mp4', 'a', 'r-opera'), mtime: 99 }, volume: 1 }, // only its time: not changed
        { entry: file('京剧/贵妃醉酒.mp4', 'e', 'r-opera'), volume: 1 }, // other content
        { entry: file('京剧/锁麟囊.mp4', 'f', 'r-opera'), volume: 1 }, // a new episode
        { entry: { path: '京剧选段', type: 'dir', size: 0, mtime: 0 } as FileEntry, volume: 1 }, // 选段一 removed: nothing new in r-clips
        { entry: file('京剧选段/新到一.mp4', 'g', 'r-new'), volume: 1 }, // a new resource: listed as new, not as updated
      ];
      const more: ResourceEntry[] = [...resources, { id: 'r-new', collection: 'clips', title: '新到选段' }];
      const v2 = (await s.addVersion(root(2), Buffer.from('root2'), Buffer.from('sig'), '2'.repeat(64), iter(changed), iter(more))).id;
      expect(s.newResources(v2, 10, 0).map((r) => r.id)).toEqual(['r-new']);
      expect(s.updatedResources(v2, 10, 0).map((r) => [r.id, r.changedFiles])).toEqual([['r-opera', 2]]);
      expect(s.updatedResourceCount(v2)).toBe(1);
      expect(s.changesAmong(v2, ['r-opera', 'r-new', 'r-clips', 'nope'])).toEqual(new Map([['r-opera', 'updated'], ['r-new', 'new']]));
      expect([...s.changedAmong(v2, ['京剧/霸王别姬.mp4', '京剧/贵妃醉酒.mp4', '京剧/锁麟囊.mp4', '京剧选段/新到一.mp4'])].sort())
        .toEqual(['京剧/贵妃醉酒.mp4', '京剧/锁麟囊.mp4']);
      s.carryCollections('county', ['clips']);
      expect(s.updatedResources(v2, 10, 0)).toEqual([]);
      expect(s.updatedResourceCount(v2)).toBe(0);
      // Its rows go with the version.
      s.db.prepare("UPDATE versions SET state = 'complete', is_current = 0 WHERE id = ?").run(v2);
      for (const v of [3, 4]) {
        const id = (await s.addVersion(root(v), Buffer.from(`root${v}`), Buffer.from('sig'), `${v}`.repeat(64), iter(entries), iter(resources))).id;
        s.db.prepare("UPDATE versions SET state = 'complete' WHERE id = ?").run(id);
      }
      expect(s.dropOldVersions('county')).toEqual([v1, v2]);
      for (const t of ['updated_resources', 'updated_files']) expect(s.db.prepare(`SELECT count(*) FROM ${t} WHERE version_id = ?`).pluck().get(v2)).toBe(0);
    } finally {
      s.close();
    }
  });

  it('keeps the network root of a version held from disks, serves it by its hash, and forgets it with the version (schema 9)', async () => {
    const dir = await tempDir();
    const s = await Store.open(dir, { create: true });
    try {
      const v1 = (await add(s, 1)).id;
      const net = 'e'.repeat(64);
      expect(s.servableRoot(net)).toBeUndefined();
      expect(s.servableRoot('1'.repeat(64)), 'a disk root is not served').toBeUndefined();
      s.keepNetworkRoot(v1, net, Buffer.from('{"network":1}'), Buffer.from('sig-n'));
      expect(s.networkRootOf(v1)).toMatchObject({ root_sha256: net });
      expect(s.servableRoot(net)).toEqual({ root_json: Buffer.from('{"network":1}'), root_sig: Buffer.from('sig-n') });
      // A renewed root for the same version (the center re-signed it) takes the old one's place.
      s.keepNetworkRoot(v1, 'f'.repeat(64), Buffer.from('{"network":2}'), Buffer.from('sig-f'));
      expect(s.servableRoot(net)).toBeUndefined();
      s.forgetVersion(v1);
      expect(s.servableRoot('f'.repeat(64))).toBeUndefined();
      // The id comes back for the next version, without the forgotten one's network root.
      const again = (await add(s, 2)).id;
      expect(again).toBe(v1);
      expect(s.networkRootOf(again)).toBeUndefined();
    } finally {
      s.close();
    }
  });

  it('bytesToAdmit: what an import of a volume still has to write, each content once, without what the store holds', async () => {
    const s = await Store.open(await tempDir(), { create: true });
    try {
      const v1 = (await add(s, 1)).id;
      expect(s.bytesToAdmit(v1, 1)).toEqual({ files: 3, bytes: 3 });
      expect(s.bytesToAdmit(v1, 2)).toEqual({ files: 0, bytes: 0 }); // nothing of it starts on volume 2
      // the content of 霸王别姬 arrives (from this version); the next version's files with it need nothing
      s.commitObjects(v1, [{ sha256: 'a'.repeat(64), size: 1 }]);
      const v2 = (await add(s, 2)).id;
      expect(s.bytesToAdmit(v2, 1)).toEqual({ files: 2, bytes: 2 });
      // import --only: the files under those folders (whole path components: 京剧 is not 京剧选段)
      expect(s.bytesToAdmit(v2, 1, ['京剧选段'])).toEqual({ files: 1, bytes: 1 });
      expect(s.bytesToAdmit(v2, 1, ['京剧'])).toEqual({ files: 1, bytes: 1 });
      // two files of one content: written once
      const twins = [{ entry: file('京剧/甲.mp4', 'e', 'r-opera'), volume: 1 }, { entry: file('京剧/乙.mp4', 'e', 'r-opera'), volume: 1 }];
      const v3 = (await s.addVersion(root(3), Buffer.from('root3'), Buffer.from('sig'), '3'.repeat(64), iter(twins), iter(resources))).id;
      expect(s.bytesToAdmit(v3, 1)).toEqual({ files: 1, bytes: 1 });
    } finally {
      s.close();
    }
  });

  it('addVersion says how many file rows are in after each transaction', async () => {
    const s = await Store.open(await tempDir(), { create: true });
    try {
      const heard: number[] = [];
      const many = Array.from({ length: 25_000 }, (_, i) => ({ entry: file(`京剧/${String(i).padStart(5, '0')}.jpg`, 'd', 'r-opera'), volume: 1 }));
      const v = await s.addVersion(root(1), Buffer.from('root'), Buffer.from('sig'), '1'.repeat(64), iter(many), iter(resources), 'disk', (n) => heard.push(n));
      expect(heard).toEqual([10_000, 20_000, 25_000]);
      expect(s.fileCounts(v.id).pending).toBe(25_000);
    } finally {
      s.close();
    }
  });

  it('awaits, fetches and shows only what is carried; widening it clears the journal, and new versions carry the same', async () => {
    const s = await Store.open(await tempDir(), { create: true });
    try {
      const v1 = (await add(s, 1)).id;
      expect(s.carriedCollections('county')).toEqual([]); // nothing listed: all carried
      expect(s.pendingCount(v1)).toBe(5);

      // A first --only, before anything of the bundle is in: the library carries that collection alone.
      expect(s.carryCollections('county', ['clips'])).toBe(false);
      expect(s.carriedCollections('county')).toEqual(['clips']);
      expect(s.pendingCount(v1)).toBe(2); // the clips folder and its file; not 京剧 although its name is a prefix
      expect(s.missingPage(v1, '').map((f) => f.path)).toEqual(['京剧选段/选段一.mp4']);
      expect(s.missingTotals(v1)).toEqual({ objects: 1, bytes: 1 });
      expect(s.fileCounts(v1)).toEqual({ present: 0, damaged: 0, pending: 2, notCarried: 3 });
      expect(s.collections(v1).map((c) => c.id)).toEqual(['clips']);
      expect(s.resources(v1, 'opera', 10, 0)).toEqual([]);
      expect(s.resource(v1, 'r-opera')).toBeUndefined();
      expect(s.search(v1, '京剧').map((r) => r.id)).toEqual(['r-clips']); // LIKE (two characters)
      expect(s.search(v1, '京剧名段').map((r) => r.id)).toEqual([]); // full text (three or more)
      expect(s.search(v1, '京剧选段').map((r) => r.id)).toEqual(['r-clips']);

      // The carried files arrive; the segment is journaled.
      const staging = ImportStaging.open(s);
      staging.add('京剧选段/选段一.mp4', 'c'.repeat(64), 1, true);
      staging.add('京剧选段', null, 0, false);
      s.commitSegments(v1, [1], s.startImport(v1, 1, 'disk'), staging.cut(), []);
      staging.close();
      expect(s.pendingCount(v1)).toBe(0);
      expect([...s.segmentsDone(v1)]).toEqual([1]);

      // A version that arrives now carries the same collection.
      const v2 = (await add(s, 2)).id;
      expect(s.pendingCount(v2)).toBe(2);

      // Adding a collection: its files are awaited again, and the disks must be read again for them.
      expect(s.carryCollections('county', ['opera'])).toBe(true);
      expect(s.carriedCollections('county')).toEqual(['clips', 'opera']);
      expect(s.pendingCount(v1)).toBe(3);
      expect([...s.segmentsDone(v1)]).toEqual([]);
      expect(s.collections(v1).map((c) => c.id)).toEqual(['opera', 'clips']);
      // Already carrying every collection: --all changes nothing.
      expect(s.carryCollections('county', 'all')).toBe(false);
      expect(s.carriedCollections('county')).toEqual([]);
      // With files of the bundle in, --only no longer narrows what a library carries.
      expect(s.carryCollections('county', ['clips'])).toBe(false);
      expect(s.carriedCollections('county')).toEqual([]);
      expect(s.pendingCount(v1)).toBe(3);
    } finally {
      s.close();
    }
  });
});

describe('catalogWriteError', () => {
  it('a catalog that cannot grow is the store\'s disk being full (NO_SPACE, in the librarian\'s words), not a bug', async () => {
    const db = new Database(join(await tempDir('catalog-full-'), 'full.sqlite'));
    let caught: unknown;
    try {
      // SQLite's own limit on the file's size: the same SQLITE_FULL a full filesystem gives
      db.pragma('max_page_count = 8');
      db.exec('CREATE TABLE t (x TEXT)');
      const ins = db.prepare('INSERT INTO t VALUES (?)');
      for (let i = 0; i < 1000; i++) ins.run('x'.repeat(1000));
    } catch (e) {
      caught = e;
    } finally {
      db.close();
    }
    expect((caught as { code?: string }).code).toBe('SQLITE_FULL');
    expect(catalogWriteError(caught, '/library/store/catalog.sqlite')).toMatchObject({
      code: 'NO_SPACE', message: expect.stringMatching(/disk is full/), say: { id: 'store-full', args: { path: '/library/store/catalog.sqlite' } },
    });
    const other = new Error('something else');
    expect(catalogWriteError(other, '/library/store/catalog.sqlite')).toBe(other);
  });
});
