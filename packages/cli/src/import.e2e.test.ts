import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, createPrivateKey } from 'node:crypto';
import { cp, mkdir, open, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { encodeMemberHeader, encodeVolumeDoc, signRoot, sha256Hex } from '@bookcrate/format';
import { storePaths } from '@bookcrate/store';
import { buildTree, tempDir, SAMPLE_TREE } from '../../../fixtures/tree.js';
import { BIN, catalogView, digests, jsonLines, killWhen, listing, run, smallFilesystemForTest, snapshot, start, startServe, exists, sameFiles } from './testkit.js';
import { flip } from './testkit.js';

const MiB = 1024 * 1024;
const EPOCH = { SOURCE_DATE_EPOCH: '1764374400' };
let work: string;
let src: string;
let key: string;
let pub: string;
let vols: string[];

/** Objects the catalog lists whose file is missing or of another size; files marked present without their object. */
async function rowsWithoutObjects(store: string): Promise<string[]> {
  const db = new Database(join(store, 'catalog.sqlite'), { readonly: true });
  try {
    const out: string[] = [];
    for (const o of db.prepare('SELECT sha256, size FROM objects').all() as { sha256: string; size: number }[]) {
      const size = await stat(storePaths(store).object(o.sha256)).then((s) => s.size, () => -1);
      if (size !== o.size) out.push(`object ${o.sha256}: ${size < 0 ? 'missing' : `${size} bytes, the catalog says ${o.size}`}`);
    }
    const orphans = db.prepare("SELECT path FROM files WHERE type = 'file' AND state = 'present' AND sha256 NOT IN (SELECT sha256 FROM objects)").all() as { path: string }[];
    for (const f of orphans) out.push(`file ${f.path}: present, but its object is not recorded`);
    return out;
  } finally {
    db.close();
  }
}

/** Every file (not folder) under a folder, as paths relative to it. */
async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function importJson(args: string[], env: Record<string, string> = {}) {
  const r = await run(['import', ...args, '--json'], env);
  return { ...r, report: jsonLines(r.stdout).find((e) => e.event === 'result') as Record<string, unknown> | undefined };
}

beforeAll(async () => {
  work = await tempDir('bookcrate-import-');
  src = join(work, 'src');
  await buildTree(src, SAMPLE_TREE);
  await buildTree(src, { 地方戏专题视频: { '黄梅戏.mp4': 9 * MiB + 123 } });
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  key = join(work, 'center.key');
  pub = join(work, 'center.pub');
  const out = join(work, 'disks');
  expect((await run(['pack', src, '--key', key, '--out', out, '--disk-size', '16MB', '--segment-size', '4MiB'], EPOCH)).code).toBe(0);
  vols = (await readdir(out)).sort().map((n) => join(out, n));
  expect(vols.length).toBeGreaterThanOrEqual(2);
});

describe('import', () => {
  let reference: string;
  it('imports a multi-volume set in reverse order; the version appears to readers only when complete', async () => {
    reference = join(work, 'store-ref');
    const last = await importJson([vols[vols.length - 1]!, '--store', reference, '--trust', pub]);
    expect(last.code, last.stderr).toBe(0);
    expect(last.report!.versionComplete).toBe(false);
    expect(await exists(join(reference, 'library', 'src'))).toBe(false);
    const st = await run(['status', '--store', reference, '--json']);
    const status = jsonLines(st.stdout)[0] as { versions: { volumesIn: number[]; volumesAwaited: number[] }[] };
    expect(status.versions[0]!.volumesIn).toEqual([vols.length]);
    expect(status.versions[0]!.volumesAwaited.length).toBe(vols.length - 1);
    // The readers' home page says why there is nothing to browse yet (it said "import a disk").
    const serve = await startServe(reference);
    try {
      const home = await (await fetch(serve.url + '/')).text();
      const awaited = Array.from({ length: vols.length - 1 }, (_, i) => i + 1).join('、');
      expect(home).toContain(`版本 1 正在导入：已导入第 ${vols.length} 盘，还需导入第 ${awaited} 盘（可按任意顺序）`);
      expect(home).not.toContain('导入一块资源盘后再来看看');
    } finally {
      serve.child.kill();
    }
    for (const v of vols.slice(0, -1).reverse()) expect((await importJson([v, '--store', reference])).code).toBe(0);
    const zh = await run(['status', '--store', reference], { LANG: 'zh_CN.UTF-8' });
    expect(zh.stdout).toMatch(/已完整，读者可见/);
    // the browsable tree: readable paths hard-linked to the objects, byte-identical to the source
    const lib = join(reference, 'library', 'src');
    expect(await readlink(lib)).toMatch(/^\.versions\//);
    const a = await readFile(join(src, '国图公开课/第1讲 中国古代书籍史/第1集.mp4'));
    expect((await readFile(join(lib, '国图公开课/第1讲 中国古代书籍史/第1集.mp4'))).equals(a)).toBe(true);
    expect((await stat(join(lib, '地方戏专题视频/黄梅戏.mp4'))).nlink).toBeGreaterThanOrEqual(2);
    expect((await stat(join(lib, '老照片/待整理'))).isDirectory()).toBe(true);
    // a second import of the same volume copies nothing again
    const again = await importJson([vols[0]!, '--store', reference]);
    expect((again.report!.imported as { files: number }).files).toBe(0);
  });

  it('imports everything but the damaged file, records it as missing, and says so; a good copy of the disk repairs it', async () => {
    const disk = join(work, 'damaged-disk');
    await cp(vols[0]!, disk, { recursive: true });
    const seg = join(disk, 'segments', (await readdir(join(disk, 'segments'))).sort()[0]!);
    await flip(seg, 5000);
    const store = join(work, 'store-damaged');
    const r = await importJson([disk, '--store', store, '--trust', pub]);
    expect(r.code).toBe(1);
    const damaged = r.report!.damaged as { path: string; reason: string; expected: string; actual: string }[];
    expect(damaged).toHaveLength(1);
    expect(damaged[0]!.reason).toBe('hash');
    expect((r.report!.imported as { files: number }).files).toBeGreaterThan(1);
    const st = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { damaged: number; damagedFiles: { path: string }[] }[] };
    expect(st.versions[0]!.damaged).toBe(1);
    expect(st.versions[0]!.damagedFiles[0]!.path).toBe(damaged[0]!.path);
    const told = await run(['status', '--store', store]);
    expect(told.stdout).toMatch(/damaged files come with the next mirror round, or import a good copy of their disk/);
    // The import's whole report, saved in the store, printed again later (to print or file it).
    const again = await run(['status', '--store', store, '--import', '1']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Import #1, started \d{4}-\d\d-\d\d \d\d:\d\d \(done\), from /);
    expect(again.stdout).toContain(`Result: 1 damaged file(s) were NOT imported`);
    expect(again.stdout).toContain(damaged[0]!.path);
    const none = await run(['status', '--store', store, '--import', '99'], { LANG: 'zh_CN.UTF-8' });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('本资源库没有第 99 次导入的记录');
    // The same disk again goes through its journaled segments for the damaged file (the others are
    // in the store), and says it is damaged still: not "every file is in the store".
    const text = await run(['import', disk, '--store', store], { LANG: 'zh_CN.UTF-8' });
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/结论：有 1 个损坏文件未导入/);
    // A good copy of the disk (the center sends another) repairs it: that file alone is copied.
    const good = await importJson([vols[0]!, '--store', store]);
    expect(good.code, good.stderr).toBe(0);
    expect(good.report).toMatchObject({ damaged: [], imported: { files: 1 }, resumedSegments: 0 });
    expect((good.report!.alreadyPresent as { files: number }).files).toBe((r.report!.imported as { files: number }).files);
    const after = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { damaged: number }[] };
    expect(after.versions[0]!.damaged).toBe(0);
    expect(await rowsWithoutObjects(store)).toEqual([]);
    // and then there is nothing left to do
    const done = await run(['import', vols[0]!, '--store', store]);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/this volume was imported before: nothing was left to do/);
  });

  it('refuses a volume signed by another key once a key is pinned, and a first import nobody confirmed', async () => {
    const other = join(work, 'other');
    expect((await run(['keygen', '--out', other])).code).toBe(0);
    const out = join(work, 'other-disks');
    expect((await run(['pack', src, '--key', `${other}.key`, '--out', out, '--disk-size', '16MB', '--segment-size', '4MiB', '--no-verify'], EPOCH)).code).toBe(0);
    const foreign = join(out, (await readdir(out)).sort()[0]!);
    const r = await run(['import', foreign, '--store', reference]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not the trusted key/);
    const fresh = await run(['import', vols[0]!, '--store', join(work, 'store-unconfirmed')]);
    expect(fresh.code).toBe(3);
    expect(fresh.stderr).toMatch(/--yes/);
    // the librarian reads the same refusals in Chinese, fingerprints and flags intact
    const zh = await run(['import', foreign, '--store', reference], { LANG: 'zh_CN.UTF-8' });
    expect(zh.code).toBe(3);
    expect(zh.stderr).toMatch(/^bookcrate：这张盘由密钥 [0-9a-f ]+ 签名，不是已信任的密钥 [0-9a-f ]+\n  处理办法：/);
    const zhFresh = await run(['import', vols[0]!, '--store', join(work, 'store-unconfirmed')], { LANG: 'zh_CN.UTF-8' });
    expect(zhFresh.stderr).toMatch(/首次导入.*尚未经过确认[\s\S]*处理办法：.*--yes/);
    // The center's private key given for trust (it would work: node derives the public key from it)
    // is refused and named, and nothing is pinned: it must never be on a county's PC.
    const privateTrust = await run(['import', vols[0]!, '--store', join(work, 'store-private'), '--trust', `${other}.key`]);
    expect(privateTrust.code).toBe(3);
    expect(privateTrust.stderr).toContain(`${other}.key is a private key, not the center's public key\n  what to do: give the public key (center.pub`);
    expect(await exists(join(work, 'store-private', 'catalog.sqlite'))).toBe(false);
    const zhVerify = await run(['verify', foreign, '--fast', '--pubkey', `${other}.key`], { LANG: 'zh_CN.UTF-8' });
    expect(zhVerify.code).toBe(3);
    expect(zhVerify.stderr).toContain(`${other}.key 是私钥，不是国家中心的公钥`);
    expect(zhFresh.stderr).not.toMatch(/[A-Za-z]{4,} (the|is|has|not) /); // no English sentence left in it
    expect((await run(['import', vols[0]!, '--store', join(work, 'store-yes'), '--yes'])).code).toBe(0);
  });

  it('carries only the collections asked for: --only, a second --only on the same disk, --all', async () => {
    const recipe = join(work, 'partial.json');
    await writeFile(recipe, JSON.stringify({
      bundle: { id: 'partial', title: '部分收藏', version: 1 },
      collections: [
        { id: 'gov', title: '政府公开信息', source: join(src, '政府公开信息') },
        { id: 'comics', title: '中华连环画', source: join(src, '中华连环画') },
        { id: 'photos', title: '老照片', source: join(src, '老照片') },
      ],
    }));
    const disks = join(work, 'partial-disks');
    expect((await run(['pack', recipe, '--key', key, '--out', disks, '--no-verify'], EPOCH)).code).toBe(0);
    const status = async (store: string) => jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as {
      keys: unknown[]; versions: { state: string; current: boolean; carried: 'all' | { id: string }[]; pending: number; notCarried: number }[];
    };
    const shown = async (store: string) => (await readdir(join(store, 'library', 'partial'))).sort();
    const store = join(work, 'store-partial');

    // A name the bundle does not have is refused before anything is pinned or recorded.
    const bad = await run(['import', disks, '--store', store, '--trust', pub, '--only', '京剧']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--only 京剧: no such collection.*\n.*gov \(政府公开信息\)/);
    expect(await status(store)).toMatchObject({ keys: [], versions: [] });

    // The first --only: the library carries that collection alone, and readers see it at once.
    const first = await run(['import', disks, '--store', store, '--trust', pub, '--only', '政府公开信息', '--json']);
    expect(first.code).toBe(0);
    const report = jsonLines(first.stdout).find((e) => e.event === 'result')!;
    expect(report).toMatchObject({ versionComplete: true, current: true, imported: { files: 1 }, carriesOnly: ['政府公开信息'] });
    expect(await shown(store)).toEqual(['政府公开信息']);
    expect((await status(store)).versions[0]).toMatchObject({ state: 'complete', carried: [{ id: 'gov' }], pending: 0 });
    expect((await status(store)).versions[0]!.notCarried).toBeGreaterThan(0);

    // A plain import of the same disk keeps to what the library carries: nothing left to do.
    const plain = await run(['import', disks, '--store', store]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/this volume was imported before: nothing was left to do/);
    // ...and says so, not that every file of the disk is in (found by hand: it did)
    expect(plain.stdout).toContain('this library carries only 政府公开信息 (import --all adds the other collections)');
    expect(plain.stdout).toContain('Result: every file of this volume that the library takes is in the store');
    expect(await shown(store)).toEqual(['政府公开信息']);

    // Another --only adds a collection: the same disk is read again for it, nothing already in is copied again.
    const more = jsonLines((await run(['import', disks, '--store', store, '--only', 'comics', '--json'])).stdout).find((e) => e.event === 'result')!;
    expect(more).toMatchObject({ resumedSegments: 0, current: true, alreadyPresent: { files: 0 } });
    expect((more.imported as { files: number }).files).toBeGreaterThan(1);
    expect(await shown(store)).toEqual(['中华连环画', '政府公开信息']);

    // --all carries everything again; the store then equals one that imported the whole disk.
    expect((await run(['import', disks, '--store', store, '--only', 'gov', '--all'])).code).toBe(2);
    expect((await run(['import', disks, '--store', store, '--all'])).code).toBe(0);
    // --only as a librarian types it: a folder the shell completed, several names with commas.
    const typed = join(work, 'store-partial-typed');
    expect((await run(['import', disks, '--store', typed, '--trust', pub, '--only', '中华连环画/', '--only', 'gov，photos'])).code).toBe(0);
    expect(await shown(typed)).toEqual(['中华连环画', '政府公开信息', '老照片']);
    const narrow = join(work, 'store-partial-narrow');
    expect((await run(['import', disks, '--store', narrow, '--trust', pub, '--only', 'gov'])).stdout).toMatch(/\d+ file\(s\) not selected \(--only\)\nResult: every file of this volume that the library takes/);
    expect((await run(['import', disks, '--store', join(work, 'store-partial-typo'), '--trust', pub, '--only', 'gov,京剧'])).stderr).toMatch(/--only 京剧: no such collection/);
    expect(await shown(store)).toEqual(['中华连环画', '政府公开信息', '老照片']);
    expect((await status(store)).versions[0]).toMatchObject({ carried: 'all', notCarried: 0, pending: 0 });
    const whole = join(work, 'store-partial-whole');
    expect((await run(['import', disks, '--store', whole, '--trust', pub])).code).toBe(0);
    expect(catalogView(store)).toEqual(catalogView(whole));
    expect(await snapshot(join(store, 'library', 'partial'))).toEqual(await snapshot(join(whole, 'library', 'partial')));
  });

  it('reads from the disk only what it imports: files of collections not carried, and files the store has, are passed over unread', async () => {
    // Files of several MiB: passing over one beats the reads ahead of the importer (3 × 2 MiB).
    const tree = join(work, 'src-passed');
    await buildTree(tree, { 课程: { 'a.mp4': 20 * MiB + 1, 'b.mp4': 12 * MiB + 7 }, 戏曲: { 'c.mp4': 24 * MiB + 3, 'd.pdf': 300_001 }, 照片: { 'e.jpg': 30_000 } });
    const recipe = (version: number, dir: string) => JSON.stringify({
      bundle: { id: 'passed', title: '跳读', version },
      collections: [['courses', '课程'], ['opera', '戏曲'], ['photos', '照片']].map(([id, folder]) => ({ id, title: folder, source: join(dir, folder!) })),
    });
    const packed = async (version: number, dir: string): Promise<{ disk: string; bytes: number }> => {
      await writeFile(join(work, `passed-${version}.json`), recipe(version, dir));
      const disk = join(work, `passed-disk-${version}`);
      expect((await run(['pack', join(work, `passed-${version}.json`), '--key', key, '--out', disk, '--no-verify'], EPOCH)).code).toBe(0);
      const [vol] = await readdir(disk);
      const segments = join(disk, vol!, 'segments');
      let bytes = 0;
      for (const n of await readdir(segments)) bytes += (await stat(join(segments, n))).size;
      return { disk, bytes };
    };
    type Report = { bytesRead: number; bytesSkipped: number; imported: { files: number }; alreadyPresent: { files: number; bytes: number } };
    const imported = async (args: string[]): Promise<Report> => {
      const r = await importJson(args);
      expect(r.code, r.stderr).toBe(0);
      return r.report as unknown as Report;
    };
    // The trees compared by their files' SHA-256 (a failed comparison of 20 MiB buffers would print them).
    const v1 = await packed(1, tree);
    const store = join(work, 'store-passed');

    // One collection of three: the other two's 24 MiB are not read.
    const only = await imported([v1.disk, '--store', store, '--trust', pub, '--only', 'courses']);
    expect(only.imported.files).toBe(2);
    expect(only.bytesRead + only.bytesSkipped).toBe(v1.bytes);
    expect(only.bytesSkipped).toBeGreaterThan(12 * MiB);
    expect(only.bytesRead).toBeLessThan(v1.bytes - 12 * MiB);

    // The rest: the 32 MiB already in the store are passed over, the others read and checked.
    const rest = await imported([v1.disk, '--store', store, '--all']);
    expect(rest).toMatchObject({ imported: { files: 3 }, alreadyPresent: { files: 2, bytes: 32 * MiB + 8 } });
    expect(rest.bytesRead + rest.bytesSkipped).toBe(v1.bytes);
    expect(rest.bytesSkipped).toBeGreaterThan(20 * MiB);
    const whole = join(work, 'store-passed-whole');
    const all = await imported([v1.disk, '--store', whole, '--trust', pub]);
    expect(all.bytesSkipped).toBe(0);
    expect(catalogView(store)).toEqual(catalogView(whole));
    expect(await digests(join(store, 'library', 'passed'))).toEqual(await digests(join(whole, 'library', 'passed')));

    // The next version's disk (a changed PDF, a new photo): it reads little more than what changed.
    const tree2 = join(work, 'src-passed-2');
    await cp(tree, tree2, { recursive: true });
    await buildTree(tree2, { 戏曲: { 'd.pdf': 400_003 }, 照片: { 'f.jpg': 50_000 } }, { n: 7 });
    const v2 = await packed(2, tree2);
    // The tree readers were shown until now: once version 2 is shown, it is the spare (below).
    const treeFolder = async (): Promise<{ name: string; ino: number }> => {
      const name = (await readlink(join(store, 'library', 'passed'))).split('/').pop()!;
      return { name, ino: (await stat(join(store, 'library', '.versions', 'passed', name))).ino };
    };
    const v1Tree = await treeFolder();
    const next = await imported([v2.disk, '--store', store]);
    expect(next).toMatchObject({ imported: { files: 2 }, alreadyPresent: { files: 4 } });
    // What readers find new: the photo, and the opera collection's changed PDF.
    expect((next as unknown as { brought: unknown }).brought).toEqual({ comparedWith: 1, newResources: 1, updatedResources: 1 });
    const st = await run(['status', '--store', store]);
    expect(st.stdout).toContain('  against version 1, readers find 1 new resource(s) and 1 resource(s) with new or changed files (the home page lists them)');
    expect((jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { version: number; brought?: unknown }[] }).versions
      .map((v) => [v.version, v.brought])).toEqual([[1, undefined], [2, { comparedWith: 1, newResources: 1, updatedResources: 1 }]]);
    expect(next.bytesRead + next.bytesSkipped).toBe(v2.bytes);
    expect(next.bytesRead).toBeLessThan(16 * MiB);
    const fresh = join(work, 'store-passed-2');
    expect((await run(['import', v2.disk, '--store', fresh, '--trust', pub])).code).toBe(0);
    expect(await digests(join(store, 'library', 'passed'))).toEqual(await digests(join(fresh, 'library', 'passed')));
    expect(await digests(join(store, 'library', 'passed'))).toEqual(await digests(tree2));

    // A third version's disk: its tree is version 1's, the spare, changed in place by what differs
    // (docs/store.md, "Import", step 7), not a link per file of the version as the import goes.
    const tree3 = join(work, 'src-passed-3');
    await cp(tree2, tree3, { recursive: true });
    await rm(join(tree3, '照片', 'e.jpg'));
    await rm(join(tree3, '戏曲', 'd.pdf'));
    await buildTree(tree3, { 照片: { 新: { 'g.jpg': 20_000 } }, 戏曲: { 'd.pdf': 300_001 } }, { n: 9 });
    const v3 = await packed(3, tree3);
    const third = await imported([v3.disk, '--store', store]);
    expect(third).toMatchObject({ imported: { files: 2 }, alreadyPresent: { files: 4 } });
    expect(third.bytesRead).toBeLessThan(16 * MiB);
    const v3Tree = await treeFolder();
    expect(v3Tree.name).toMatch(/^v3-/);
    expect(v3Tree.ino, 'version 3\'s tree is version 1\'s folder, changed in place').toBe(v1Tree.ino);
    expect(await listing(join(store, 'library', 'passed'))).toEqual(await listing(tree3));
    // The librarian is told, in her language.
    const zh = await run(['import', v2.disk, '--store', join(work, 'store-passed-zh'), '--trust', pub, '--only', 'photos', '--lang', 'zh']);
    expect(zh.code, zh.stderr).toBe(0);
    expect(zh.stdout).toMatch(/盘上有 [\d.]+ MiB 的内容无需读取，已直接跳过/);
  });

  it('refuses an older version once a newer one is in the store', async () => {
    const v2src = join(work, 'src-v2');
    await cp(src, v2src, { recursive: true });
    await writeFile(join(v2src, '政府公开信息', '新通知.pdf'), 'new');
    const recipe = (version: number, dir: string) => JSON.stringify({ bundle: { id: 'county', title: '县级资源包', version }, collections: [{ id: 'gov', title: '政府公开信息', source: join(dir, '政府公开信息') }] });
    await writeFile(join(work, 'r1.json'), recipe(1, src));
    await writeFile(join(work, 'r2.json'), recipe(2, v2src));
    for (const n of [1, 2]) expect((await run(['pack', join(work, `r${n}.json`), '--key', key, '--out', join(work, `ver${n}`), '--disk-size', '16MB', '--segment-size', '4MiB', '--no-verify'])).code).toBe(0);
    const store = join(work, 'store-versions');
    expect((await run(['import', join(work, 'ver2'), '--store', store, '--trust', pub])).code).toBe(0);
    const old = await run(['import', join(work, 'ver1'), '--store', store]);
    expect(old.code).toBe(3);
    expect(old.stderr).toMatch(/newer version 2/);
    const zh = await run(['import', join(work, 'ver1'), '--store', store, '--lang', 'zh']);
    expect(zh.stderr).toMatch(/这张盘是「县级资源包」的版本 1，而资源库中已有更新的版本 2/);
  });

  it('a version left incomplete once a newer one is complete: it leaves the catalog, and its other volumes are refused as older', async () => {
    const recipe = (version: number) => JSON.stringify({
      bundle: { id: 'superseded', title: '被取代', version },
      collections: [{ id: 'gov', title: '政府公开信息', source: join(src, '政府公开信息') }, { id: 'opera', title: '地方戏专题视频', source: join(src, '地方戏专题视频') }],
    });
    for (const n of [1, 2]) await writeFile(join(work, `superseded-${n}.json`), recipe(n));
    const v1 = join(work, 'superseded-v1');
    const v2 = join(work, 'superseded-v2');
    expect((await run(['pack', join(work, 'superseded-1.json'), '--key', key, '--out', v1, '--disk-size', '9MB', '--segment-size', '4MiB', '--no-verify'])).code).toBe(0);
    expect((await run(['pack', join(work, 'superseded-2.json'), '--key', key, '--out', v2, '--no-verify'])).code).toBe(0);
    const firsts = (await readdir(v1)).sort();
    expect(firsts.length).toBeGreaterThanOrEqual(2);
    const store = join(work, 'store-superseded');
    expect((await run(['import', join(v1, firsts[0]!), '--store', store, '--trust', pub])).code).toBe(0);
    expect((await run(['import', v2, '--store', store])).code).toBe(0);
    // Shown, version 2 lets go of what came before the previous complete version: the set left
    // incomplete is no longer awaited, nor listed (collectGarbage, as after a mirror's switch).
    const st = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { version: number; volumesIn: number[]; volumesAwaited: number[]; supersededBy?: number }[] };
    expect(st.versions.map((v) => v.version)).toEqual([2]);
    expect(st.versions[0]).toMatchObject({ volumesAwaited: [] });
    expect((await run(['status', '--store', store])).stdout).not.toMatch(/version 1|awaited: [0-9]/);
    // and indeed the first version's other volumes are refused now
    expect((await run(['import', join(v1, firsts[1]!), '--store', store])).code).toBe(3);
  });

  it('a complete version with a damaged file, once a newer version is complete: its damage needs no fetching, in status and on the status page', async () => {
    // Found by hand: after the mirror brought version 2, status still listed version 1's damaged
    // file with "the damaged files come with the next mirror round", which never happens.
    const src2 = join(work, 'src-replaced-v2');
    await cp(join(src, '政府公开信息'), join(src2, '政府公开信息'), { recursive: true });
    await writeFile(join(src2, '政府公开信息', '新通知.pdf'), 'new');
    const recipe = (version: number, dir: string) => JSON.stringify({ bundle: { id: 'replaced', title: '被替换', version }, collections: [{ id: 'gov', title: '政府公开信息', source: join(dir, '政府公开信息') }] });
    for (const [n, dir] of [[1, src], [2, src2]] as const) {
      await writeFile(join(work, `replaced-${n}.json`), recipe(n, dir));
      expect((await run(['pack', join(work, `replaced-${n}.json`), '--key', key, '--out', join(work, `replaced-v${n}`), '--no-verify'])).code).toBe(0);
    }
    const v1 = join(work, 'replaced-v1', 'replaced-vol1-of-1');
    await flip(join(v1, 'segments', 'v01-s000001.tar'), 100_000); // inside 2026年工作报告.pdf
    const store = join(work, 'store-replaced');
    expect((await run(['import', v1, '--store', store, '--trust', pub])).code).toBe(1);
    type Status = { versions: { version: number; damaged: number; replacedBy?: number }[] };
    const before = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as Status;
    expect(before.versions).toMatchObject([{ version: 1, damaged: 1 }]);
    expect(before.versions[0]!.replacedBy).toBeUndefined();
    expect((await run(['status', '--store', store])).stdout).toMatch(/2026年工作报告\.pdf\n  the damaged files come with the next mirror round/);

    expect((await run(['import', join(work, 'replaced-v2'), '--store', store])).code).toBe(0);
    const after = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as Status;
    expect(after.versions.find((v) => v.version === 1)).toMatchObject({ damaged: 1, replacedBy: 2 });
    expect(after.versions.find((v) => v.version === 2)!.replacedBy).toBeUndefined();
    const text = (await run(['status', '--store', store])).stdout;
    expect(text).toMatch(/version 1: complete, replaced by version 2\n  volumes in: 1; awaited: none\n  files: 1 \(present 0, damaged 1, awaiting a volume 0\)\n  its 1 damaged file\(s\) need no fetching: readers see version 2\n/);
    expect(text).not.toMatch(/next mirror round/);
    expect((await run(['status', '--store', store, '--lang', 'zh'])).stdout).toMatch(/版本 1：已完整，已由版本 2 取代[\s\S]*其中 1 个损坏文件无需再补齐：读者看到的是版本 2/);
    // Times as the PC's clock shows them (a Chinese PC is 8 hours from the UTC the catalog keeps).
    const started = (jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { imports: { started: string }[] }).imports[0]!.started;
    const beijing = new Date(Date.parse(started) + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');
    expect((await run(['status', '--store', store], { TZ: 'Asia/Shanghai' })).stdout).toContain(`  #2 ${beijing} done volume 1 `);

    // The librarian's status page: version 1 shown as replaced, and no damaged file left to act on.
    const { child, url } = await startServe(store);
    try {
      const page = await (await fetch(`${url}/status?lang=en`)).text();
      expect(page).toContain('complete (replaced by version 2)');
      expect(page).toContain('No damaged or missing files.');
      expect(page).not.toContain('2026年工作报告.pdf');
    } finally {
      child.kill();
    }
  });

  it('a library fed by disks alone: each new version shown lets what only the versions before the previous one used go, as a mirror does', async () => {
    // Found by hand: only the mirror collected garbage, so a county without one kept every
    // quarter's replaced files until its disk was full.
    const tree = join(work, 'gc-src');
    await buildTree(tree, { 老照片: { 'keep.jpg': 50_000, 'v1.jpg': 60_000 } });
    const disks: string[] = [];
    for (const v of [1, 2, 3]) {
      if (v > 1) {
        await rm(join(tree, '老照片', `v${v - 1}.jpg`));
        await writeFile(join(tree, '老照片', `v${v}.jpg`), Buffer.alloc(60_000, v));
      }
      await writeFile(join(work, `gc-${v}.json`), JSON.stringify({ bundle: { id: 'gc', title: '季度', version: v }, collections: [{ id: 'photos', title: '老照片', source: join(tree, '老照片') }] }));
      disks.push(join(work, `gc-disk-${v}`));
      expect((await run(['pack', join(work, `gc-${v}.json`), '--key', key, '--out', disks[v - 1]!, '--no-verify'])).code).toBe(0);
    }
    const store = join(work, 'store-gc');
    const objectOf = async (v: number): Promise<string> => {
      const db = new Database(join(store, 'catalog.sqlite'), { readonly: true });
      try {
        return (db.prepare("SELECT sha256 FROM files WHERE path = ? LIMIT 1").get(`老照片/v${v}.jpg`) as { sha256: string }).sha256;
      } finally {
        db.close();
      }
    };
    expect((await run(['import', disks[0]!, '--store', store, '--trust', pub, '--gc-after', '0s'])).code).toBe(0);
    const v1Object = storePaths(store).object(await objectOf(1));
    const second = await run(['import', disks[1]!, '--store', store, '--gc-after', '0s', '--lang', 'zh']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('  与第 1 版相比，新增 1 项资源（首页“新到资源”列出）'); // v2.jpg (v1.jpg went)
    const v2Object = storePaths(store).object(await objectOf(2));
    // version 1 is the previous one: kept, and so is what it uses
    expect(await exists(v1Object)).toBe(true);
    expect((await run(['import', disks[2]!, '--store', store, '--gc-after', '0s'])).code).toBe(0);
    const st = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { version: number }[] };
    expect(st.versions.map((v) => v.version)).toEqual([2, 3]);
    expect(await exists(v1Object)).toBe(false);
    expect(await exists(v2Object)).toBe(true);
    const library = await readdir(join(store, 'library', 'gc', '老照片'));
    expect(library.sort()).toEqual(['keep.jpg', 'v3.jpg']);
    expect((await readFile(join(store, 'library', 'gc', '老照片', 'v3.jpg'))).equals(Buffer.alloc(60_000, 3))).toBe(true);
  });

  it('a second import into the same store at once is refused clearly, or waits with --wait', async () => {
    const store = join(work, 'store-busy');
    const first = start(['import', vols[0]!, '--store', store, '--trust', pub]);
    const done = new Promise((r) => first.on('close', r));
    while (!(await exists(join(store, 'lock')))) await new Promise((r) => setTimeout(r, 2));
    const second = await run(['import', vols[1]!, '--store', store]);
    await done;
    if (second.code !== 0) {
      expect(second.code).toBe(6);
      expect(second.stderr).toMatch(/another bookcrate/);
    }
    const waited = start(['import', vols[0]!, '--store', store, '--wait']);
    const waitedCode = new Promise((r) => waited.on('close', r));
    expect((await run(['import', vols[1]!, '--store', store, '--wait'])).code).toBe(0);
    expect(await waitedCode).toBe(0);
  });

  it('a store folder that cannot be made is refused at once, naming it (not a hang: node 20 loops on a recursive mkdir under /proc)', async () => {
    const proc = await run(['import', vols[0]!, '--store', '/proc/bookcrate-store/library', '--trust', pub]);
    expect(proc.code).toBe(4);
    expect(proc.stderr).toMatch(/cannot create the store folder \/proc\/bookcrate-store/);
    const file = join(work, 'a-file');
    await writeFile(file, 'x');
    const under = await run(['import', vols[0]!, '--store', join(file, 'store'), '--trust', pub]);
    expect(under.code).toBe(4);
    expect(under.stderr).toMatch(/a-file exists and is not a folder/);
  }, 20_000);
});

describe('hostile input', () => {
  it('a tar member rewritten as a symlink to ../../ is never followed; nothing is written outside the store', async () => {
    const disk = join(work, 'hostile-disk');
    await cp(vols[0]!, disk, { recursive: true });
    const seg = join(disk, 'segments', (await readdir(join(disk, 'segments'))).sort()[0]!);
    // Replace the first member's headers (1536 bytes) with a symlink member of the same length.
    const evil = encodeMemberHeader({ path: '../../evil-link', type: 'file', length: 0, mtime: 0 });
    evil[1024 + 156] = '2'.charCodeAt(0); // typeflag: symlink
    Buffer.from('/etc/passwd').copy(evil, 1024 + 157);
    const h = await open(seg, 'r+');
    await h.write(evil, 0, evil.length, 0);
    await h.close();
    const store = join(work, 'deep', 'a', 'store-hostile');
    await mkdir(store, { recursive: true });
    const r = await importJson([disk, '--store', store, '--trust', pub]);
    expect([0, 1]).toContain(r.code);
    expect((r.report!.headerProblems as unknown[]).length + (r.report!.damaged as unknown[]).length).toBeGreaterThan(0);
    expect(await readdir(join(work, 'deep'))).toEqual(['a']);
    expect((await readdir(join(work, 'deep', 'a'))).sort()).toEqual(['store-hostile']);
    expect(await exists(join(store, 'evil-link'))).toBe(false);
  });

  // The manifest goes into the catalog while the segments are read (docs/store.md, "Import", step
  // 4): an entry near the end is met after objects of the entries before it were written. The
  // import is refused all the same, and none of those objects is kept.
  it.each(['first', 'last'] as const)('a manifest with a path that escapes, even correctly signed, is refused, and no object stays (the bad entry %s)', async (where) => {
    const disk = join(work, `escape-disk-${where}`);
    await cp(vols[0]!, disk, { recursive: true });
    const rootPath = join(disk, 'bookcrate', 'root.json');
    const root = JSON.parse(await readFile(rootPath, 'utf8'));
    expect(root.files.depth).toBe(1);
    const at = where === 'first' ? 0 : root.files.parts.length - 1;
    const ref = root.files.parts[at];
    const part = (await readFile(join(disk, 'bookcrate', 'parts', `${ref.sha256}.jsonl`), 'utf8')).split('\n');
    let line = where === 'first' ? 0 : part.length - 1;
    while (part[line] === '') line--;
    const entry = JSON.parse(part[line]!);
    // first: sorts before every other path; last: after the path it extends, so the order holds
    entry.path = where === 'first' ? '../../escaped.txt' : `${entry.path}/../../../escaped.txt`;
    part[line] = JSON.stringify(entry);
    const bytes = Buffer.from(part.join('\n'));
    const sha = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(disk, 'bookcrate', 'parts', `${sha}.jsonl`), bytes);
    root.files.parts[at] = { ...ref, sha256: sha, size: bytes.length, ...(line === 0 ? { first: entry.path } : {}) };
    const rootBytes = Buffer.from(JSON.stringify(root, null, 1) + '\n');
    await writeFile(rootPath, rootBytes);
    await writeFile(join(disk, 'bookcrate', 'root.sig'), signRoot(rootBytes, createPrivateKey(await readFile(key, 'utf8'))));
    const doc = JSON.parse(await readFile(join(disk, 'bookcrate', 'volume.json'), 'utf8'));
    await writeFile(join(disk, 'bookcrate', 'volume.json'), encodeVolumeDoc({ ...doc, root: sha256Hex(rootBytes) }));
    const store = join(work, `store-escape-${where}`);
    const r = await run(['import', disk, '--store', store, '--trust', pub]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\.\.|escaped|path/);
    expect(await exists(join(work, 'escaped.txt'))).toBe(false);
    expect(await exists(join(disk, 'escaped.txt'))).toBe(false);
    expect(await filesUnder(join(store, 'objects'))).toEqual([]);
    expect((catalogView(store) as { versions: unknown[] }).versions).toEqual([]);
  });

  it('a tampered manifest root is refused', async () => {
    const disk = join(work, 'tampered-disk');
    await cp(vols[0]!, disk, { recursive: true });
    await flip(join(disk, 'bookcrate', 'root.json'), 50);
    const r = await run(['import', disk, '--store', join(work, 'store-tampered'), '--trust', pub]);
    expect(r.code).toBe(3);
  });
});

describe('import killed with SIGKILL, then run again', () => {
  for (const delay of [30, 120, 250, 400]) {
    it(`after ${delay} ms: finishes with the same content and catalog as an uninterrupted import`, async () => {
      const store = join(work, `store-killed-${delay}`);
      // First volume fully; then kill the import of the last one at a point in its run.
      for (const v of vols.slice(0, -1)) expect((await run(['import', v, '--store', store, '--trust', pub])).code).toBe(0);
      const child = start(['import', vols[vols.length - 1]!, '--store', store]);
      const closed = new Promise((r) => child.on('close', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await closed;
      // Whatever the catalog recorded is in the store: a commit's rows never get ahead of its objects
      // (the next segment is read while the commit before it waits for its sync).
      expect(await rowsWithoutObjects(store)).toEqual([]);
      const r = await run(['import', vols[vols.length - 1]!, '--store', store]);
      expect(r.code, r.stderr).toBe(0);
      const ref = join(work, 'store-ref');
      expect(catalogView(store)).toEqual(catalogView(ref));
      const a = await snapshot(join(store, 'objects'));
      const b = await snapshot(join(ref, 'objects'));
      expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
      expect((await readdir(join(store, 'tmp'))).filter((n) => n !== 'parts')).toEqual([]); // no temp file left behind
      const lib = await snapshot(join(store, 'library', 'src'));
      expect(lib.size).toBeGreaterThan(10);
    });
  }
});

describe('import killed after a large object went into objects/, before the commit recorded it', () => {
  it('the rerun adopts that object after hashing the copy in the store, instead of reading it from the disk again', async () => {
    // One segment: a.mp4's object is renamed into objects/ while b.mp4 and c.mp4 are read, and the
    // segment is committed only after them.
    const tree = join(work, 'src-adopt');
    await buildTree(tree, { 课程: { 'a.mp4': 24 * MiB + 5, 'b.mp4': 40 * MiB + 9, 'c.mp4': 40 * MiB + 11 } });
    const disk = join(work, 'adopt-disk');
    expect((await run(['pack', tree, '--key', key, '--out', disk, '--no-verify'], EPOCH)).code).toBe(0);
    const volume = join(disk, (await readdir(disk))[0]!);
    const a = sha256Hex(await readFile(join(tree, '课程', 'a.mp4')));
    const store = join(work, 'store-adopt');
    expect(await killWhen(['import', volume, '--store', store, '--trust', pub], {}, () => exists(storePaths(store).object(a)))).toBe(true);
    expect(await rowsWithoutObjects(store)).toEqual([]);
    const r = await importJson([volume, '--store', store, '--trust', pub]);
    expect(r.code, r.stderr).toBe(0);
    const report = r.report as { bytesSkipped: number; imported: { files: number }; damaged: unknown[] };
    expect(report).toMatchObject({ imported: { files: 3 }, damaged: [] });
    // a.mp4's 24 MiB were passed over (less what the reader had asked for ahead of it)
    expect(report.bytesSkipped).toBeGreaterThan(12 * MiB);
    const whole = join(work, 'store-adopt-whole');
    expect((await run(['import', volume, '--store', whole, '--trust', pub])).code).toBe(0);
    expect(catalogView(store)).toEqual(catalogView(whole));
    expect(await rowsWithoutObjects(store)).toEqual([]);
    expect(await digests(join(store, 'objects'))).toEqual(await digests(join(whole, 'objects')));
    expect(await digests(join(store, 'library', 'src-adopt'))).toEqual(await digests(tree));
  });
});

describe('import killed while it shows the version', () => {
  it('SIGKILL while the last objects are synced and the readers\' tree is built: the rerun finishes with the same content, catalog and tree', async () => {
    const store = join(work, 'store-killed-publish');
    for (const v of vols.slice(0, -1)) expect((await run(['import', v, '--store', store, '--trust', pub])).code).toBe(0);
    // Killed the moment it says it builds the tree: inside the last commit's transaction, while
    // `sync -f` runs (it builds the tree meanwhile, and shows it only after the commit).
    const child = spawn(process.execPath, [BIN, 'import', vols[vols.length - 1]!, '--store', store, '--json'], { env: { ...process.env, LANG: 'C' }, stdio: ['ignore', 'pipe', 'ignore'] });
    const closed = new Promise<string | null>((r) => child.on('close', (_code, signal) => r(signal)));
    let seen = '';
    child.stdout!.on('data', (b: Buffer) => {
      seen += b.toString('utf8');
      if (seen.includes('"phase":"publish"')) child.kill('SIGKILL');
    });
    const signal = await closed;
    expect(seen).toContain('"phase":"publish"');
    expect(signal).toBe('SIGKILL');
    // Nothing of the unfinished commit shows: the version is not current, no tree is shown for it.
    const db = new Database(join(store, 'catalog.sqlite'), { readonly: true });
    const current = db.prepare('SELECT count(*) AS n FROM versions WHERE is_current = 1').get() as { n: number };
    db.close();
    expect(current.n).toBe(0);
    expect(await exists(join(store, 'library', 'src'))).toBe(false);
    const r = await run(['import', vols[vols.length - 1]!, '--store', store]);
    expect(r.code, r.stderr).toBe(0);
    const ref = join(work, 'store-ref');
    expect(catalogView(store)).toEqual(catalogView(ref));
    const objects = await snapshot(join(store, 'objects'));
    expect([...objects.keys()].sort()).toEqual([...(await snapshot(join(ref, 'objects'))).keys()].sort());
    const lib = await snapshot(join(store, 'library', 'src'));
    const refLib = await snapshot(join(ref, 'library', 'src'));
    expect([...lib.keys()].sort()).toEqual([...refLib.keys()].sort());
    for (const [k, v] of lib) expect(v.equals(refLib.get(k)!), k).toBe(true);
    // no building folder left behind
    const versions = join(store, 'library', '.versions', 'src');
    expect((await readdir(versions)).filter((n) => n.endsWith('.building'))).toEqual([]);
  });
});

describe('a file larger than the disk\'s filesystem allows (a FAT32 USB disk: 4 GiB − 1 byte)', () => {
  // The kernel's limit stands in for FAT32's (this VM's kernel has no vfat): RLIMIT_FSIZE makes a
  // write past it fail with EFBIG, as FAT32 does past 4 GiB, once SIGXFSZ is ignored.
  const limited = (args: string[], env: Record<string, string> = {}) => spawnSync('bash', ['-c', 'trap "" XFSZ; ulimit -f 1024; exec "$0" "$@"', process.execPath, BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  it('import and pack say so and how to get past it, in the librarian\'s language, instead of "check the disk is connected"', async () => {
    const tree = join(work, 'efbig-src');
    await buildTree(tree, { 地方戏专题视频: { '全本.mp4': 3 * MiB } });
    const disk = join(work, 'efbig-disk');
    expect((await run(['pack', tree, '--key', key, '--out', disk, '--no-verify'])).code).toBe(0);
    const imp = limited(['import', disk, '--store', join(work, 'store-efbig'), '--trust', pub], { LANG: 'zh_CN.UTF-8' });
    expect(imp.status).toBe(4);
    expect(imp.stderr).toMatch(/bookcrate：无法写入 \S+：文件超过了这块磁盘的文件系统所能容纳的大小（FAT32 格式的磁盘容纳不了超过 4 GiB 的文件）\n  处理办法：请改用 NTFS、exFAT 或 ext4 格式的磁盘/);
    const packed = limited(['pack', tree, '--key', key, '--out', join(work, 'efbig-pack'), '--no-verify']);
    expect(packed.status).toBe(4);
    expect(packed.stderr).toMatch(/cannot write \S+v01-s000001\.tar\.partial: the file is larger than this disk's filesystem allows \(FAT32 holds no file over 4 GiB − 1 byte\)\n  what to do: use a disk formatted as NTFS, exFAT or ext4/);
  });
});

describe('a full disk', () => {
  it('stops with a clear message, keeps what was good, and resumes once there is room', async (ctx) => {
    const mnt = await smallFilesystemForTest(join(work, 'smallfs'), '7m');
    if (!mnt) return ctx.skip();
    const store = join(mnt, 'store');
    const big = vols[0]!;
    // past the check at the start (the test after this one), to meet the disk filling up
    const r = await run(['import', big, '--store', store, '--trust', pub, '--no-space-check']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/full/);
    expect(r.stderr).toMatch(/what to do/);
    // The objects it wrote and could not commit are removed (the next run writes them again): the
    // full disk is not left fuller. Every object file left is one the catalog lists.
    const listed = new Set((catalogView(store) as { objects: { sha256: string }[] }).objects.map((o) => storePaths(store).object(o.sha256)));
    const unlisted = (await filesUnder(join(store, 'objects'))).map((f) => join(store, 'objects', f)).filter((f) => !listed.has(f));
    expect(unlisted).toEqual([]);
    const before = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { present: number }[] };
    execFileSync('mount', ['-o', 'remount,size=64m', mnt]);
    const again = await run(['import', big, '--store', store]);
    expect(again.code, again.stderr).toBe(0);
    const after = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { present: number; damaged: number }[] };
    expect(after.versions[0]!.present).toBeGreaterThanOrEqual(before.versions[0]?.present ?? 0);
    expect(after.versions[0]!.damaged).toBe(0);
    await rm(store, { recursive: true, force: true });
  });
});

describe('a store too small for the volume', () => {
  it('is told so at the start, with how much is missing, before anything is committed; and in Chinese', async (ctx) => {
    const mnt = await smallFilesystemForTest(join(work, 'toosmall'), '7m');
    if (!mnt) return ctx.skip();
    const store = join(mnt, 'store');
    const r = await run(['import', vols[0]!, '--store', store, '--trust', pub]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/the store's disk has [\d.]+ [KM]i?B free; this volume still needs about [\d.]+ MiB there \(\d+ file\(s\) the store does not hold yet, and room for the catalog\)/);
    expect(r.stderr).toMatch(/what to do: free at least [\d.]+ [KM]i?B on the library server's disk/);
    // refused before the first commit: nothing recorded, and what was written is gone again
    const c = catalogView(store) as { objects: unknown[]; volumes: unknown[] };
    expect(c.objects).toEqual([]);
    expect(await filesUnder(join(store, 'objects'))).toEqual([]);
    // the version is in the catalog now: a second try is refused before a byte is read
    const again = await run(['import', vols[0]!, '--store', store, '--json']);
    expect(again.code).toBe(4);
    const events = jsonLines(again.stdout) as { event?: string; bytesDone?: number; messageId?: string }[];
    expect(events.filter((e) => (e.bytesDone ?? 0) > 0)).toEqual([]);
    expect(events.find((e) => e.event === 'error')).toMatchObject({ code: 'NO_SPACE', messageId: 'store-too-small' });
    const zh = await run(['import', vols[0]!, '--store', store], { LANG: 'zh_CN.UTF-8' });
    expect(zh.code).toBe(4);
    expect(zh.stderr).toMatch(/资源库所在的磁盘只剩 .+ 可用空间，而这张盘还需要约 .+MiB（资源库中还没有的 \d+ 个文件/);
    expect(zh.stderr).toMatch(/处理办法：请在图书馆服务器的磁盘上至少腾出/);
  });
});

/** The FUSE exFAT driver (Debian's exfat-fuse) on a loop device: the kernel here has no FAT or exFAT of its own. */
const canMountExfat = process.platform === 'linux' && process.getuid?.() === 0
  && ['/usr/sbin/mkfs.exfat', '/usr/sbin/mount.exfat-fuse', '/usr/sbin/losetup'].every((p) => { try { execFileSync('test', ['-x', p]); return true; } catch { return false; } });

describe.runIf(canMountExfat)('a store on an exFAT disk (no hard links, no symbolic links: a USB disk as a county formats it)', () => {
  let mnt: string | undefined;
  let loop: string | undefined;
  afterAll(() => {
    if (mnt) execFileSync('umount', [mnt]);
    if (loop) execFileSync('losetup', ['-d', loop]);
  });

  it('imports with copies instead of links, shows each version as the library folder itself, and replaces it with the next', async (ctx) => {
    const dir = await tempDir('bookcrate-exfat-');
    const img = join(dir, 'exfat.img');
    await writeFile(img, '');
    execFileSync('truncate', ['-s', '96M', img]);
    execFileSync('mkfs.exfat', [img], { stdio: 'pipe' });
    try {
      loop = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
      await mkdir(join(dir, 'mnt'));
      execFileSync('mount.exfat-fuse', [loop, join(dir, 'mnt')], { stdio: 'pipe' });
      mnt = join(dir, 'mnt');
    } catch {
      ctx.skip(); // no loop devices or no FUSE in this container
    }
    if (!mnt) return;
    // two versions of one bundle, from recipes: the second changes a file and adds one
    const source = join(dir, 'source');
    await buildTree(join(source, '课程'), { '第1讲.pdf': 300_000, '第2讲.pdf': 200_000, '封面.jpg': 4000, '封面副本.jpg': 4000 });
    const recipe = async (version: number): Promise<string> => {
      const p = join(dir, `v${version}.recipe.json`);
      await writeFile(p, JSON.stringify({ bundle: { id: 'county-exfat', title: '县馆资源', version }, collections: [{ id: 'courses', title: '课程', source: join(source, '课程') }] }));
      return p;
    };
    const disk = async (version: number): Promise<string> => {
      const out = join(dir, `disk-v${version}`);
      const r = await run(['pack', await recipe(version), '--key', key, '--out', out], EPOCH);
      expect(r.code, r.stderr).toBe(0);
      return join(out, (await readdir(out))[0]!);
    };
    const store = join(mnt, 'store');
    const lib = join(store, 'library', 'county-exfat');

    const v1 = await disk(1);
    const first = await run(['import', v1, '--store', store, '--trust', pub, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect((await stat(lib)).isDirectory()).toBe(true);
    const shown1 = await snapshot(lib);
    expect([...shown1.keys()].sort()).toEqual(['课程/第1讲.pdf', '课程/第2讲.pdf', '课程/封面.jpg', '课程/封面副本.jpg'].sort());
    expect(shown1.get('课程/第1讲.pdf')!.equals(await readFile(join(source, '课程', '第1讲.pdf')))).toBe(true);

    await writeFile(join(source, '课程', '第2讲.pdf'), Buffer.alloc(210_000, 9));
    await writeFile(join(source, '课程', '第3讲.pdf'), Buffer.alloc(50_000, 3));
    const v2 = await disk(2);
    const second = await run(['import', v2, '--store', store, '--json']);
    expect(second.code, second.stderr).toBe(0);
    const shown2 = await snapshot(lib);
    expect(shown2.get('课程/第2讲.pdf')!.equals(Buffer.alloc(210_000, 9))).toBe(true);
    expect(shown2.has('课程/第3讲.pdf')).toBe(true);
    // the replaced tree is gone, and nothing is left half-switched
    expect(await readdir(join(store, 'library', '.versions', 'county-exfat'))).toEqual([]);
    expect((await readdir(join(store, 'library'))).sort()).toEqual(['.versions', 'county-exfat']);
    const st = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { version: number; current: boolean; damaged: number }[] };
    expect(st.versions.find((v) => v.current)).toMatchObject({ version: 2, damaged: 0 });

    // bookcrate check here: the readers' files are copies, so a full check reads them too. One saved
    // over with another of the same size is found (not by --fast, which reads no bytes) and put back,
    // the folder replaced whole as at a version's switch.
    await writeFile(join(lib, '课程', '封面.jpg'), Buffer.alloc(4000, 7));
    expect((await run(['check', '--store', store, '--fast'])).code).toBe(0);
    const checked = await run(['check', '--store', store, '--json']);
    expect(checked.code, checked.stderr).toBe(0);
    const found = jsonLines(checked.stdout).find((l) => l.event === 'result') as { trees: { problems: { path: string; reason: string }[]; rebuilt: boolean }[] };
    expect(found.trees[0]).toMatchObject({ problems: [{ path: '课程/封面.jpg', reason: 'changed' }], rebuilt: true });
    expect((await readFile(join(lib, '课程', '封面.jpg'))).equals(await readFile(join(source, '课程', '封面.jpg')))).toBe(true);
    expect((await readdir(join(store, 'library'))).sort()).toEqual(['.versions', 'county-exfat']);

    // The catalog lost here, and an object of version 2 too: the readers' folder (copies, no link to
    // name the version) still holds it. The rebuild knows version 2 was shown from the note kept
    // beside the roots, copies the object back from the readers' file, and shows version 2 still.
    const shownBefore = await snapshot(lib);
    const lecture3 = createHash('sha256').update(await readFile(join(source, '课程', '第3讲.pdf'))).digest('hex');
    await rm(join(store, 'objects', lecture3.slice(0, 2), lecture3));
    for (const side of ['', '-wal', '-shm']) await rm(join(store, `catalog.sqlite${side}`), { force: true });
    const rebuilt = await run(['check', '--store', store, '--rebuild-catalog', '--json']);
    expect(rebuilt.code, rebuilt.stderr + rebuilt.stdout.slice(-2000)).toBe(0);
    expect(jsonLines(rebuilt.stdout).find((l) => l.event === 'result')).toMatchObject({
      ok: true, objects: { recovered: 1 }, versions: [{ version: 1, state: 'complete', current: false }, { version: 2, state: 'complete', current: true, missing: 0 }],
    });
    expect(await stat(join(store, 'objects', lecture3.slice(0, 2), lecture3))).toMatchObject({ size: 50_000 });
    sameFiles(await snapshot(lib), shownBefore, 'the readers\' folder after the rebuild');
    expect((await readdir(join(store, 'library'))).sort()).toEqual(['.versions', 'county-exfat']);

    // A 50 MB lecture on a disk with ~90 MB free: its object fits, but not a second copy of it in the
    // readers' tree. Said at the start, with the reason, and the store keeps version 2.
    await writeFile(join(source, '课程', '第4讲.mp4'), Buffer.alloc(50 << 20, 4));
    const v3 = await disk(3);
    const third = await run(['import', v3, '--store', store]);
    expect(third.code, third.stderr).toBe(4);
    expect(third.stderr).toMatch(/still needs about [\d.]+ MiB there \(\d+ file\(s\) the store does not hold yet, and a copy of every file in the readers' tree: this disk makes no hard links\)/);
    expect((await snapshot(lib)).get('课程/第2讲.pdf')!.equals(Buffer.alloc(210_000, 9))).toBe(true);
  });
});

describe('bundles packed from bare folders with Chinese names', () => {
  it('two of them are two bundles in one store (both were "___" once), each in the readers\' folder', async () => {
    const work = await tempDir('bookcrate-two-bundles-');
    expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
    const store = join(work, 'store');
    for (const [name, spec] of [['老照片', { 天安门: { '1959.jpg': 3000 } }], ['地方戏', { 川剧: { '变脸.mp4': 4000 } }]] as const) {
      await buildTree(join(work, name), spec);
      const disk = join(work, `disk-${name}`);
      const p = await run(['pack', join(work, name), '--key', join(work, 'center.key'), '--out', disk]);
      expect(p.code, p.stderr).toBe(0);
      const imp = await run(['import', disk, '--store', store, '--trust', join(work, 'center.pub')]);
      expect(imp.code, imp.stderr).toBe(0);
    }
    const status = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { bundle: string; title: string; current: boolean; state: string }[] };
    expect(status.versions.map((v) => [v.title, v.state, v.current]).sort()).toEqual([['地方戏', 'complete', true], ['老照片', 'complete', true]]);
    expect(new Set(status.versions.map((v) => v.bundle)).size).toBe(2);
    const trees = (await readdir(join(store, 'library'))).filter((n) => !n.startsWith('.'));
    expect(trees).toHaveLength(2);
    const files = new Set<string>();
    for (const t of trees) for (const f of (await snapshot(join(store, 'library', t))).keys()) files.add(f);
    expect([...files].sort()).toEqual(['天安门/1959.jpg', '川剧/变脸.mp4'].sort());
  });
});
