import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cp, open, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '@bookcrate/store';
import { buildTree, pseudoRandomBytes, tempDir } from '../../../fixtures/tree.js';
import { exists, jsonLines, killWhen, run, smallFilesystemForTest, snapshot, startServe } from './testkit.js';

/**
 * `bookcrate check --rebuild-catalog`: a store whose catalog.sqlite is damaged or gone gets a new
 * one from what its own disk holds (the kept signed roots, the manifest parts, the objects), each
 * thing checked; the old file is kept. Compared with the catalog the imports had made.
 */

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const objectPath = (store: string, bytes: Buffer) => { const h = sha256(bytes); return join(store, 'objects', h.slice(0, 2), h); };
/** The readers' folder as path → SHA-256 (comparing the Buffers themselves with toEqual takes a minute for 15 MB). */
const readersDigests = async (store: string) => new Map([...(await snapshot(join(store, 'library', 'county')))].map(([p, b]) => [p, sha256(b)]));
const result = (stdout: string) => jsonLines(stdout).find((l) => l.event === 'result') as Record<string, unknown> & { ok: boolean };

/** What the catalog says, as rows without ids (a rebuilt catalog numbers its versions anew). */
function catalogFacts(store: string) {
  const db = new Database(join(store, 'catalog.sqlite'), { readonly: true });
  try {
    const q = (sql: string) => db.prepare(sql).all();
    return {
      versions: q(`SELECT bundle_id, version, set_id, title, root_sha256, root_json, root_sig, volumes, files, bytes, state, is_current, origin
        FROM versions ORDER BY bundle_id, version`),
      volumes: q('SELECT v.bundle_id, v.version, x.volume, x.state FROM volumes x JOIN versions v ON v.id = x.version_id ORDER BY 1, 2, 3'),
      segments: q('SELECT v.bundle_id, v.version, s.segment FROM import_segments s JOIN versions v ON v.id = s.version_id ORDER BY 1, 2, 3'),
      // every column but `volume`: the store does not keep which disk held a file (docs/store.md)
      files: q(`SELECT v.bundle_id, v.version, f.path, f.type, f.size, f.mtime, f.sha256, f.xxh64, f.resource, f.state, f.carried
        FROM files f JOIN versions v ON v.id = f.version_id ORDER BY 1, 2, 3`),
      resources: q(`SELECT v.bundle_id, v.version, r.id, r.collection, r.title, r.creator, r.type, r.language, r.date, r.description, r.sort_key, n.names
        FROM resources r JOIN versions v ON v.id = r.version_id LEFT JOIN resource_names n ON n.rowid = r.rowid ORDER BY 1, 2, 3`),
      collections: q('SELECT v.bundle_id, v.version, c.id, c.title, c.path, c.files, c.bytes, c.position, c.carried FROM collections c JOIN versions v ON v.id = c.version_id ORDER BY 1, 2, c.position'),
      brought: q(`SELECT v.bundle_id, v.version, r.id FROM new_resources n JOIN versions v ON v.id = n.version_id JOIN resources r ON r.rowid = n.rowid
        UNION ALL SELECT v.bundle_id, v.version, 'updated:' || u.path FROM updated_files u JOIN versions v ON v.id = u.version_id ORDER BY 1, 2, 3`),
      objects: q('SELECT sha256, size FROM objects ORDER BY sha256'),
      keys: q('SELECT fingerprint, pem FROM trusted_keys'),
      damaged: q('SELECT v.bundle_id, v.version, d.path, d.reason FROM damaged d JOIN versions v ON v.id = d.version_id ORDER BY 1, 2, 3'),
    };
  } finally {
    db.close();
  }
}

/** A key, a recipe of two collections, and a function that packs version n of a source folder. */
async function center(work: string) {
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  const pack = async (version: number, src: string, extra: string[] = []): Promise<string> => {
    const recipe = join(work, `r${version}.json`);
    await writeFile(recipe, JSON.stringify({
      bundle: { id: 'county', title: '县级资源包', version },
      collections: [{ id: 'photos', title: '老照片', source: join(src, '老照片') }, { id: 'opera', title: '地方戏', source: join(src, '地方戏') }],
    }));
    const out = join(work, `disks-v${version}`);
    const r = await run(['pack', recipe, '--key', join(work, 'center.key'), '--out', out, '--no-verify', ...extra]);
    expect(r.code, r.stderr).toBe(0);
    return out;
  };
  return { pack, pub: join(work, 'center.pub') };
}

/** Imports the one volume a single-disk pack wrote into `store`, pinning the key. */
async function importDisk(disk: string, store: string, pub: string): Promise<void> {
  const r = await run(['import', join(disk, (await readdir(disk))[0]!), '--store', store, '--trust', pub]);
  expect(r.code, r.stderr).toBe(0);
}

/** A bad sector over the catalog's header: SQLite then says "file is not a database". */
async function overwriteCatalogHeader(store: string): Promise<void> {
  const fh = await open(join(store, 'catalog.sqlite'), 'r+');
  await fh.write(Buffer.from('not a database!!'), 0, 16, 0);
  await fh.close();
}

const TWO_DISKS = ['--disk-size', '16MB', '--segment-size', '4MiB'];

describe('bookcrate check --rebuild-catalog', () => {
  it('rebuilds a damaged catalog from the store\'s own files: the same versions, files, resources and search; the damaged catalog kept', async () => {
    const work = await tempDir('bookcrate-rebuild-');
    const { pack, pub } = await center(work);
    const v1 = join(work, 'v1');
    await buildTree(v1, {
      老照片: { '天安门1959.jpg': 3_000_000, '长城.jpg': 3_000_000, '说明.txt': '老照片说明\n' },
      地方戏: { 川剧: { '变脸.mp4': 4_000_000 }, 越剧: { '梁祝.mp4': 4_000_000 }, empty: {} },
    });
    const v2 = join(work, 'v2');
    await cp(v1, v2, { recursive: true });
    await writeFile(join(v2, '老照片', '颐和园.jpg'), pseudoRandomBytes(500_000, 99));
    await writeFile(join(v2, '老照片', '说明.txt'), '老照片说明（第二版）\n');
    const disks1 = await pack(1, v1, TWO_DISKS);
    const vols1 = (await readdir(disks1)).sort();
    expect(vols1, 'version 1 spans two disks').toHaveLength(2);
    const disks2 = await pack(2, v2);
    const store = join(work, 'store');
    for (const vol of [join(disks1, vols1[1]!), join(disks1, vols1[0]!), ...(await readdir(disks2)).map((v) => join(disks2, v))]) {
      const r = await run(['import', vol, '--store', store, '--trust', pub]);
      expect(r.code, r.stderr).toBe(0);
    }
    // What a rebuild needs beside the parts and objects is kept outside the catalog.
    const kept = await readdir(join(store, 'roots'));
    expect(kept.filter((n) => /^[0-9a-f]{64}\.json$/.test(n))).toHaveLength(2);
    expect(kept.filter((n) => n.endsWith('.pub'))).toHaveLength(1);
    const shownNote = kept.find((n) => n.startsWith('shown-'))!;
    expect(JSON.parse(await readFile(join(store, 'roots', shownNote), 'utf8'))).toMatchObject({ bundle: 'county', version: 2 });
    const before = catalogFacts(store);
    const readersBefore = await readersDigests(store);
    const searchBefore = await (async () => {
      const s = await Store.open(store, { readonly: true });
      try {
        const v = s.currentVersion('county')!;
        return ['川剧', '梁祝', '说明'].map((q) => s.search(v.id, q).map((r) => r.id));
      } finally {
        s.close();
      }
    })();
    expect(searchBefore.every((hits) => hits.length > 0)).toBe(true);

    // A bad sector over the catalog's header: every command says it, and names the way out.
    await overwriteCatalogHeader(store);
    const status = await run(['status', '--store', store]);
    expect(status.code).toBe(4);
    expect(status.stderr).toContain('bookcrate check --store <store> --rebuild-catalog');

    const rebuilt = await run(['check', '--store', store, '--rebuild-catalog', '--json']);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    const report = result(rebuilt.stdout) as unknown as {
      ok: boolean; oldCatalog: string; oldCatalogProblems: string[]; key: { from: string };
      versions: { version: number; state: string; current: boolean; missing: number }[]; objects: { found: number; recovered: number };
      check: { mode: string; badCount: number; checked: { objects: number } }; incompleteDiskVersions: unknown[]; skipped: unknown[];
    };
    expect(report).toMatchObject({ ok: true, key: { from: 'store' }, incompleteDiskVersions: [], skipped: [], objects: { recovered: 0 } });
    expect(report.oldCatalogProblems.join()).toMatch(/not a database/);
    expect(report.versions.map((v) => [v.version, v.state, v.current, v.missing])).toEqual([[1, 'complete', false, 0], [2, 'complete', true, 0]]);
    expect(report.check).toMatchObject({ mode: 'full', badCount: 0, checked: { objects: before.objects.length } });
    // The damaged catalog is kept, whole, beside the new one.
    expect((await readFile(report.oldCatalog)).subarray(0, 16).toString()).toBe('not a database!!');
    expect(await exists(join(store, 'tmp', 'catalog-rebuild.sqlite'))).toBe(false);

    const after = catalogFacts(store);
    expect(after).toEqual(before);
    expect(await readersDigests(store)).toEqual(readersBefore);
    const s = await Store.open(store, { readonly: true });
    try {
      const v = s.currentVersion('county')!;
      expect(['川剧', '梁祝', '说明'].map((q) => s.search(v.id, q).map((r) => r.id))).toEqual(searchBefore);
    } finally {
      s.close();
    }
    // The new catalog is one every command uses: status, check, an import of a disk it holds.
    expect((await run(['status', '--store', store])).stdout).toContain('version 2: complete, visible to readers');
    expect((await run(['check', '--store', store, '--fast'])).code).toBe(0);
    const again = await run(['import', join(disks2, (await readdir(disks2))[0]!), '--store', store, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(result(again.stdout), 'its segments are journaled: nothing is read').toMatchObject({ bytesRead: 0, resumedSegments: 1 });

    // A sound catalog is not rebuilt (its history would be lost) unless asked with --force.
    const sound = await run(['check', '--store', store, '--rebuild-catalog'], { LANG: 'zh_CN.UTF-8' });
    expect(sound.code).toBe(2);
    expect(sound.stderr).toMatch(/能正常打开，SQLite 也没有发现问题：不需要重建/);
    // A serve that runs meanwhile opens the new catalog by itself (no restart needed).
    const served = await startServe(store);
    try {
      const statusPage = async () => (await fetch(`${served.url}/status`)).text();
      expect(await statusPage(), 'the import after the first rebuild is in this catalog\'s history').toContain('disks-v2');
      const forced = await run(['check', '--store', store, '--rebuild-catalog', '--force', '--trust', pub, '--json']);
      expect(forced.code, forced.stderr).toBe(0);
      expect(result(forced.stdout)).toMatchObject({ ok: true, key: { from: 'given' }, salvaged: { versions: 2, keys: 1 } });
      expect(catalogFacts(store)).toEqual(before);
      await new Promise((r) => setTimeout(r, 2100));
      expect(await statusPage(), 'the new catalog has no imports').not.toContain('disks-v2');
      expect(served.stderr()).toContain('the store\'s catalog was replaced (rebuilt)');
      const search = await fetch(`${served.url}/search?q=${encodeURIComponent('梁祝')}`);
      expect(search.status).toBe(200);
      expect(await search.text()).toContain('梁祝');
    } finally {
      served.child.kill();
    }
  });

  it('takes back from the readers\' folder what objects/ lost; records the rest damaged for the disk to bring; leaves an unfinished disk version to its disks', async () => {
    const work = await tempDir('bookcrate-rebuild-lost-');
    const { pack, pub } = await center(work);
    const v1 = join(work, 'v1');
    await buildTree(v1, { 老照片: { '天安门.jpg': 30_000, '长城.jpg': 40_000, '故宫.jpg': 50_000 }, 地方戏: { '变脸.mp4': 60_000 } });
    const v2 = join(work, 'v2');
    await cp(v1, v2, { recursive: true });
    await writeFile(join(v2, '地方戏', '梁祝.mp4'), pseudoRandomBytes(9_000_000, 7));
    await writeFile(join(v2, '地方戏', '黄梅戏.mp4'), pseudoRandomBytes(9_000_000, 8));
    const disk1 = await pack(1, v1);
    const disks2 = await pack(2, v2, TWO_DISKS);
    const vols2 = (await readdir(disks2)).sort();
    expect(vols2).toHaveLength(2);
    const store = join(work, 'store');
    for (const vol of [join(disk1, (await readdir(disk1))[0]!), join(disks2, vols2[0]!)]) {
      const r = await run(['import', vol, '--store', store, '--trust', pub]);
      expect(r.code, r.stderr).toBe(0);
    }
    const before = catalogFacts(store);
    // objects/ loses two files: one the readers' folder still holds (a hard link keeps its bytes),
    // and one gone from both.
    const kept = '老照片/天安门.jpg';
    const lost = '老照片/长城.jpg';
    await unlink(objectPath(store, await readFile(join(v1, kept))));
    await unlink(objectPath(store, await readFile(join(v1, lost))));
    await unlink(join(store, 'library', 'county', lost));
    // And the catalog is deleted.
    for (const side of ['', '-wal', '-shm']) await rm(join(store, `catalog.sqlite${side}`), { force: true });

    // No command starts the store over beside what it holds.
    for (const args of [['status', '--store', store], ['import', join(disk1, (await readdir(disk1))[0]!), '--store', store, '--trust', pub]]) {
      const r = await run(args, { LANG: 'zh_CN.UTF-8' });
      expect(r.code, args[0]).toBe(2);
      expect(r.stderr).toContain(`bookcrate：资源库 ${store} 的目录数据库 catalog.sqlite 不见了，但资源文件还在`);
      expect(r.stderr).toContain(`bookcrate check --store ${store} --rebuild-catalog`);
    }
    expect(await exists(join(store, 'catalog.sqlite'))).toBe(false);

    // Without the old catalog or the store's copy of the key, the versions cannot be checked: the center's key is asked for.
    const keyCopy = (await readdir(join(store, 'roots'))).find((n) => n.endsWith('.pub'))!;
    await unlink(join(store, 'roots', keyCopy));
    const noKey = await run(['check', '--store', store, '--rebuild-catalog'], { LANG: 'zh_CN.UTF-8' });
    expect(noKey.code).toBe(3);
    expect(noKey.stderr).toContain('请给出中心的公钥：bookcrate check --store <资源库> --rebuild-catalog --trust <center.pub>');
    const zh = await run(['check', '--store', store, '--rebuild-catalog', '--trust', pub, '--report', join(work, '重建报告.txt')], { LANG: 'zh_CN.UTF-8' });
    expect(zh.code, zh.stderr).toBe(1);
    expect(zh.stdout).toContain('旧的目录数据库：没有（catalog.sqlite 不在）');
    expect(zh.stdout).toContain('资源库 objects 文件夹中缺失的 1 个文件在读者目录中仍完好，已放回');
    expect(zh.stdout).toContain('county 版本 1：4 个条目，完整，已提供给读者；其中 1 个文件已不在资源库中，记为损坏');
    expect(zh.stdout).toContain('county 版本 2（共 2 张盘）尚未导入完整：请再次导入它的盘');
    expect(zh.stdout).toContain('结论：目录数据库已重建，损坏或缺失的文件或需要再次导入的盘已记下');
    expect((await readFile(join(work, '重建报告.txt'), 'utf8')).startsWith('\ufeff')).toBe(true);
    expect((await readFile(objectPath(store, await readFile(join(v1, kept))))).equals(await readFile(join(v1, kept))), 'put back from the readers\' folder').toBe(true);

    const after = catalogFacts(store);
    expect(after.damaged).toEqual([{ bundle_id: 'county', version: 1, path: lost, reason: 'store-missing' }]);
    expect(after.versions.map((v) => (v as { version: number }).version), 'the unfinished version 2 is left to its disks').toEqual([1]);
    const withoutLost = (f: { version: number; path: string; state: string }) => (f.version === 1 && f.path === lost ? { ...f, state: 'damaged' } : f);
    expect(after.files).toEqual((before.files as { version: number; path: string; state: string }[]).filter((f) => f.version === 1).map(withoutLost));
    expect(await exists(join(store, 'library', 'county', lost))).toBe(false);

    // The disks bring back what is missing: version 1's lost photo, then version 2, reading only what the store lacks.
    const back = await run(['import', join(disk1, (await readdir(disk1))[0]!), '--store', store]);
    expect(back.code, back.stderr).toBe(0);
    for (const vol of vols2) {
      const r = await run(['import', join(disks2, vol), '--store', store, '--json']);
      expect(r.code, r.stderr).toBe(0);
    }
    const done = catalogFacts(store);
    expect(done.damaged).toEqual([]);
    expect(done.versions.map((v) => [(v as { version: number }).version, (v as { state: string }).state, (v as { is_current: number }).is_current])).toEqual([[1, 'complete', 0], [2, 'complete', 1]]);
    expect((await readFile(join(store, 'library', 'county', lost))).equals(await readFile(join(v2, lost)))).toBe(true);
    expect((await run(['check', '--store', store])).code).toBe(0);
  });

  it('killed while it checks the objects, the same command goes on from there; the damaged catalog stays until the new one is whole', async () => {
    const work = await tempDir('bookcrate-rebuild-kill-');
    const { pack, pub } = await center(work);
    const src = join(work, 'v1');
    const photos: Record<string, number> = {};
    for (let i = 0; i < 2500; i++) photos[`${i}.jpg`] = 600 + (i % 400);
    await buildTree(src, { 老照片: photos, 地方戏: { '变脸.mp4': 3_000_000 } });
    const disk = await pack(1, src);
    const store = join(work, 'store');
    await importDisk(disk, store, pub);
    const before = catalogFacts(store);
    await overwriteCatalogHeader(store);

    const building = join(store, 'tmp', 'catalog-rebuild.sqlite');
    const checkedSoFar = (): number => {
      try {
        const db = new Database(building, { readonly: true, fileMustExist: true });
        try {
          const row = db.prepare('SELECT objects FROM store_checks ORDER BY id DESC LIMIT 1').get() as { objects: number } | undefined;
          return row?.objects ?? 0;
        } finally {
          db.close();
        }
      } catch {
        return 0;
      }
    };
    let killed = false;
    for (let attempt = 0; attempt < 5 && !killed; attempt++) {
      killed = await killWhen(['check', '--store', store, '--rebuild-catalog'], {}, async () => checkedSoFar() >= 512);
      if (!killed) {
        // Finished before the kill: put the damage back and try again.
        await cp(join(store, (await readdir(store)).find((n) => n.startsWith('catalog.damaged-') && n.endsWith('.sqlite'))!), join(store, 'catalog.sqlite'));
      }
    }
    expect(killed, 'the rebuild was killed during its check').toBe(true);
    // Until the new catalog is whole, the damaged one stays where it was.
    expect((await readFile(join(store, 'catalog.sqlite'))).subarray(0, 16).toString()).toBe('not a database!!');
    expect(checkedSoFar()).toBeGreaterThanOrEqual(512);

    const resumed = await run(['check', '--store', store, '--rebuild-catalog', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const r = result(resumed.stdout) as unknown as { resumed: boolean; check: { resumed: { objects: number } | null; checked: { objects: number } } };
    expect(r.resumed).toBe(true);
    expect(r.check.resumed!.objects).toBeGreaterThanOrEqual(512);
    expect(r.check.checked.objects).toBe(before.objects.length);
    const after = catalogFacts(store);
    expect(after).toEqual(before);
  });

  it('a version whose manifest part the store lost is not rebuilt, and its disk brings it back', async () => {
    const work = await tempDir('bookcrate-rebuild-part-');
    const { pack, pub } = await center(work);
    const src = join(work, 'v1');
    await buildTree(src, { 老照片: { '天安门.jpg': 30_000, '长城.jpg': 40_000 }, 地方戏: { '变脸.mp4': 60_000 } });
    const disk = await pack(1, src);
    const vol = join(disk, (await readdir(disk))[0]!);
    const store = join(work, 'store');
    await importDisk(disk, store, pub);
    const before = catalogFacts(store);
    // The files tree's one part (parts are a cache: not fsynced, a power cut may take one).
    const root = JSON.parse(await readFile(join(store, 'roots', `${(before.versions[0] as { root_sha256: string }).root_sha256}.json`), 'utf8')) as { files: { parts: { sha256: string }[] } };
    const part = root.files.parts[0]!.sha256;
    await unlink(join(store, 'parts', part.slice(0, 2), `${part}.jsonl`));
    for (const side of ['', '-wal', '-shm']) await rm(join(store, `catalog.sqlite${side}`), { force: true });
    const r = await run(['check', '--store', store, '--rebuild-catalog', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const report = result(r.stdout) as unknown as { versions: unknown[]; skipped: { version: number; reason: string }[] };
    expect(report.versions).toEqual([]);
    expect(report.skipped.map((x) => x.version)).toEqual([1]);
    expect(report.skipped[0]!.reason).toContain(part);
    expect(catalogFacts(store).files, 'nothing of the version is left half in').toEqual([]);
    // Its disk brings the version back; the files the store holds are not written again.
    const again = await run(['import', vol, '--store', store, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const after = catalogFacts(store);
    expect(after.files).toEqual(before.files);
    expect(after.versions).toEqual(before.versions);
  });

  it('a disk too full for the new catalog: said so, the old one untouched; with room, the same command finishes', async (ctx) => {
    const work = await tempDir('bookcrate-rebuild-full-');
    const mnt = await smallFilesystemForTest(join(work, 'smallfs'), '32m');
    if (!mnt) return ctx.skip();
    const { pack, pub } = await center(work);
    const src = join(work, 'v1');
    await buildTree(src, { 老照片: { '天安门.jpg': 30_000, '长城.jpg': 40_000 }, 地方戏: { '变脸.mp4': 60_000 } });
    const disk = await pack(1, src);
    const store = join(mnt, 'store');
    await importDisk(disk, store, pub);
    const before = catalogFacts(store);
    await overwriteCatalogHeader(store);
    // Everything but a few KiB taken by another file.
    const free = () => Number(execFileSync('df', ['--output=avail', '-B1', mnt], { encoding: 'utf8' }).split('\n')[1]);
    await writeFile(join(mnt, 'filler'), Buffer.alloc(Math.max(0, free() - 16 * 1024)));
    const full = await run(['check', '--store', store, '--rebuild-catalog'], { LANG: 'zh_CN.UTF-8' });
    expect(full.code, full.stderr).toBe(4);
    expect(full.stderr).toMatch(/^bookcrate：资源库所在的磁盘已满/);
    expect((await readFile(join(store, 'catalog.sqlite'))).subarray(0, 16).toString(), 'the old catalog is untouched').toBe('not a database!!');
    await rm(join(mnt, 'filler'));
    const r = await run(['check', '--store', store, '--rebuild-catalog', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(catalogFacts(store)).toEqual(before);
  });

  it('a check puts back an object whose name was deleted while the readers\' folder still holds its bytes', async () => {
    const work = await tempDir('bookcrate-check-putback-');
    const { pack, pub } = await center(work);
    const src = join(work, 'v1');
    await buildTree(src, { 老照片: { '天安门.jpg': 30_000, '长城.jpg': 300_000 }, 地方戏: { '变脸.mp4': 9_000_000 } });
    const disk = await pack(1, src);
    const store = join(work, 'store');
    await importDisk(disk, store, pub);
    for (const p of ['老照片/天安门.jpg', '地方戏/变脸.mp4']) await unlink(objectPath(store, await readFile(join(src, p))));
    const r = await run(['check', '--store', store, '--json']);
    expect(r.code, r.stdout).toBe(0);
    expect(result(r.stdout)).toMatchObject({ ok: true, badCount: 0, recovered: 2 });
    for (const p of ['老照片/天安门.jpg', '地方戏/变脸.mp4']) {
      const obj = objectPath(store, await readFile(join(src, p)));
      expect((await stat(obj)).ino, 'linked back: the same file as the reader\'s').toBe((await stat(join(store, 'library', 'county', p))).ino);
    }
    expect((await run(['status', '--store', store, '--json'])).stdout).not.toContain('store-missing');
  });
});
