import { beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileEntries, findVolumes, openVolume, resourceEntries } from '@bookcrate/volume';
import type { FileEntry, ResourceEntry } from '@bookcrate/format';
import { buildTree, tempDir, SAMPLE_TREE } from '../../../fixtures/tree.js';
import { pack, type PackProgress } from './pack.js';

let work: string;
beforeAll(async () => {
  work = await tempDir('bookcrate-pack-');
  await buildTree(join(work, 'src'), SAMPLE_TREE);
});

describe('pack from a recipe with catalog metadata', () => {
  it('records catalog resources, derives the rest from the tree, and reports progress', async () => {
    await mkdir(join(work, 'recipe'), { recursive: true });
    await writeFile(join(work, 'recipe', 'courses.csv'), 'id,title,creator,date,files\r\nCDOI-1,中国古代书籍史,"李明, 国家图书馆",2026-03-01,第1讲 中国古代书籍史\r\n');
    await writeFile(join(work, 'recipe', 'comics.jsonl'), JSON.stringify({ id: 'CDOI-2', title: '西游记', files: '西游记.pdf' }) + '\n');
    await writeFile(join(work, 'recipe', 'r.json'), JSON.stringify({
      bundle: { id: 'test-bundle', title: '测试资源包', version: 3 },
      collections: [
        { id: 'courses', title: '国图公开课', source: '../src/国图公开课', metadata: 'courses.csv', type: 'course', language: 'zh' },
        { id: 'comics', title: '中华连环画', source: '../src/中华连环画', metadata: 'comics.jsonl' },
      ],
    }));
    const events: PackProgress[] = [];
    const { privateKey } = generateKeyPairSync('ed25519');
    const r = await pack({
      input: join(work, 'recipe', 'r.json'), outs: [join(work, 'out')], key: privateKey,
      diskSize: 64e6, segmentSize: 8 * 1024 * 1024, onProgress: (e) => events.push(e),
    });
    expect(r.verify.every((v) => v.ok)).toBe(true);
    expect(new Set(events.map((e) => e.phase))).toEqual(new Set(['scan', 'plan', 'write', 'finalize', 'verify']));
    const [dir] = await findVolumes(join(work, 'out'));
    const vol = await openVolume(dir!);
    expect(vol.root.bundle).toMatchObject({ id: 'test-bundle', version: 3, title: '测试资源包' });
    expect(vol.root.collections.map((c) => [c.id, c.title, c.files])).toEqual([['comics', '中华连环画', 4], ['courses', '国图公开课', 4]]); // bundle path order
    const resources: ResourceEntry[] = [];
    for await (const e of resourceEntries(vol)) resources.push(e);
    expect(resources.find((x) => x.id === 'CDOI-1')).toMatchObject({ title: '中国古代书籍史', creator: '李明, 国家图书馆', type: 'course', language: 'zh', collection: 'courses' });
    expect(resources.find((x) => x.id === 'comics/三国演义 第一册')).toMatchObject({ title: '三国演义 第一册', collection: 'comics' });
    const files: FileEntry[] = [];
    for await (const e of fileEntries(vol)) files.push(e);
    expect(files.find((f) => f.path === '国图公开课/第1讲 中国古代书籍史/讲义.pdf')?.resource).toBe('CDOI-1');
    expect(files.find((f) => f.path === '中华连环画/西游记.pdf')?.resource).toBe('CDOI-2');
    expect(files.find((f) => f.path === '国图公开课/第2讲 敦煌遗书/第1集.mp4')?.resource).toBe('courses/第2讲 敦煌遗书');
  });

  it('names the recipe problem and the way out', async () => {
    await writeFile(join(work, 'bad.json'), JSON.stringify({ bundle: { id: 'x', title: 't' }, collections: [{ id: 'a', title: 'A', source: 'nowhere' }] }));
    await expect(pack({ input: join(work, 'bad.json'), outs: [], dryRun: true })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/not a directory/) });
    await writeFile(join(work, 'bad2.json'), '{"bundle": {"id": "x"}}');
    await expect(pack({ input: join(work, 'bad2.json'), outs: [], dryRun: true })).rejects.toMatchObject({ code: 'RECIPE', hint: expect.stringMatching(/schema/) });
  });
});

describe('catalog files as the center makes them', () => {
  /** "CDOI-9,中国古代书籍史,李明,第1讲 中国古代书籍史" as Excel on a Chinese Windows saves plain CSV: GBK */
  const gbkRow = Buffer.concat([
    Buffer.from('id,title,creator,files\r\nCDOI-9,'), Buffer.from('d6d0b9fab9c5b4facae9bcaecab7', 'hex'), Buffer.from(','),
    Buffer.from('c0eec3f7', 'hex'), Buffer.from(','), Buffer.from('b5da31bdb220d6d0b9fab9c5b4facae9bcaecab7', 'hex'), Buffer.from('\r\n'),
  ]);
  const recipe = async (name: string, collection: Record<string, unknown>, more: Record<string, unknown>[] = []): Promise<string> => {
    await mkdir(join(work, 'catalogs'), { recursive: true });
    const path = join(work, 'catalogs', name);
    await writeFile(path, JSON.stringify({
      bundle: { id: 'catalogs', title: '目录' },
      collections: [{ id: 'courses', title: '国图公开课', source: '../src/国图公开课', ...collection }, ...more],
    }));
    return path;
  };
  const resourcesOf = async (out: string): Promise<ResourceEntry[]> => {
    const [dir] = await findVolumes(out);
    const list: ResourceEntry[] = [];
    for await (const e of resourceEntries(await openVolume(dir!))) list.push(e);
    return list;
  };

  it('refuses a GBK catalog said to be UTF-8, naming the line and showing it read as GB18030, and reads it with "metadataEncoding"', async () => {
    await mkdir(join(work, 'catalogs'), { recursive: true });
    await writeFile(join(work, 'catalogs', 'gbk.csv'), gbkRow);
    const wrong = await recipe('gbk-as-utf8.json', { metadata: 'gbk.csv' });
    const refused = pack({ input: wrong, outs: [join(work, 'catalogs', 'never')], dryRun: true });
    await expect(refused).rejects.toMatchObject({
      code: 'RECIPE',
      message: expect.stringMatching(/gbk\.csv is not UTF-8: line 2 has the byte 0xd6 .*read as GB18030 \(GBK\) that line is: CDOI-9,中国古代书籍史,李明,第1讲 中国古代书籍史$/),
      hint: expect.stringMatching(/"metadataEncoding": "gb18030"/),
    });
    const right = await recipe('gbk.json', { metadata: 'gbk.csv', metadataEncoding: 'GBK' });
    const { privateKey } = generateKeyPairSync('ed25519');
    const r = await pack({ input: right, outs: [join(work, 'catalogs', 'gbk-out')], key: privateKey });
    expect(r.verify.every((v) => v.ok)).toBe(true);
    expect(r.issues.counts['catalog-unmatched']).toBeUndefined();
    expect((await resourcesOf(join(work, 'catalogs', 'gbk-out'))).find((x) => x.id === 'CDOI-9')).toMatchObject({ title: '中国古代书籍史', creator: '李明' });
    await expect(pack({ input: await recipe('bad-enc.json', { metadata: 'gbk.csv', metadataEncoding: 'latin1' }), outs: [], dryRun: true }))
      .rejects.toMatchObject({ code: 'RECIPE', message: expect.stringMatching(/"metadataEncoding" must be one of utf-8, utf8, gb18030, gbk/) });
  });

  it('warns of a catalog file that is not in the source, matches Windows-style paths, and refuses an id given twice', async () => {
    await writeFile(join(work, 'catalogs', 'typo.csv'), '\ufeffid,title,files\r\n'
      + 'CDOI-1,中国古代书籍史,第1讲 中国古代书籍史\\讲义.pdf\r\n' // typed with a backslash
      + 'CDOI-2,敦煌遗书,第2讲 敦煌遗书;第9讲 不存在\r\n'); // the second is misspelt or missing
    const { privateKey } = generateKeyPairSync('ed25519');
    const r = await pack({ input: await recipe('typo.json', { metadata: 'typo.csv' }), outs: [join(work, 'catalogs', 'typo-out')], key: privateKey });
    expect(r.verify.every((v) => v.ok)).toBe(true);
    expect(r.issues.counts['catalog-unmatched']).toBe(1);
    expect(r.issues.kept.filter((i) => i.kind === 'catalog-unmatched')).toEqual([{
      kind: 'catalog-unmatched', severity: 'warning', path: '国图公开课/第9讲 不存在',
      detail: expect.stringMatching(/resource "CDOI-2" of the catalog names "第9讲 不存在", which is not in .*国图公开课/),
    }]);
    const [dir] = await findVolumes(join(work, 'catalogs', 'typo-out'));
    const files: FileEntry[] = [];
    for await (const e of fileEntries(await openVolume(dir!))) files.push(e);
    expect(files.find((f) => f.path === '国图公开课/第1讲 中国古代书籍史/讲义.pdf')?.resource).toBe('CDOI-1');
    expect(files.find((f) => f.path === '国图公开课/第2讲 敦煌遗书/第1集.mp4')?.resource).toBe('CDOI-2');

    await writeFile(join(work, 'catalogs', 'twice.csv'), 'id,title,files\nCDOI-1,中国古代书籍史,第1讲 中国古代书籍史\nCDOI-1,敦煌遗书,第2讲 敦煌遗书\n');
    await expect(pack({ input: await recipe('twice.json', { metadata: 'twice.csv' }), outs: [], dryRun: true }))
      .rejects.toMatchObject({ code: 'RECIPE', message: expect.stringMatching(/the resource id "CDOI-1" is given to more than one record/) });
    await writeFile(join(work, 'catalogs', 'comics.jsonl'), JSON.stringify({ id: 'CDOI-1', title: '西游记', files: '西游记.pdf' }) + '\n');
    const across = await recipe('across.json', { metadata: 'typo.csv' }, [{ id: 'comics', title: '中华连环画', source: '../src/中华连环画', metadata: 'comics.jsonl' }]);
    await expect(pack({ input: across, outs: [], dryRun: true }))
      .rejects.toMatchObject({ code: 'RECIPE', message: expect.stringMatching(/"CDOI-1" is in the catalogs of both collection "courses" and collection "comics"/) });
  });

  it('warns of collections that read the same folder, or one inside another (their files packed twice)', async () => {
    const path = await recipe('overlap.json', {}, [
      { id: 'lecture1', title: '第1讲', source: '../src/国图公开课/第1讲 中国古代书籍史' },
      { id: 'again', title: '又一次', source: '../src/国图公开课' },
      { id: 'comics', title: '中华连环画', source: '../src/中华连环画' },
    ]);
    const r = await pack({ input: path, outs: [], dryRun: true });
    expect(r.issues.counts['source-overlap']).toBe(3);
    const courses = join(work, 'src', '国图公开课');
    const lecture = join(courses, '第1讲 中国古代书籍史');
    expect(r.issues.kept.filter((i) => i.kind === 'source-overlap').map((i) => i.detail)).toEqual([
      `collection "courses" reads ${courses}, a folder that contains that of collection "lecture1" (${lecture}): the files they share are packed once for each`,
      `collection "courses" reads ${courses}, the same folder as collection "again" (${courses}): the files they share are packed once for each`,
      `collection "lecture1" reads ${lecture}, a folder inside that of collection "again" (${courses}): the files they share are packed once for each`,
    ]);
    expect(r.issues.errors).toBe(0);
  });

  it('reads a recipe saved with a byte-order mark, and refuses one that is not UTF-8', async () => {
    const path = await recipe('bom.json', {});
    const { readFile } = await import('node:fs/promises');
    await writeFile(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), await readFile(path)]));
    const planned = await pack({ input: path, outs: [], dryRun: true });
    expect(planned.bundle.title).toBe('目录');
    await writeFile(path, Buffer.concat([Buffer.from('{"bundle": {"id": "x", "title": "'), Buffer.from('b5da31bdb2', 'hex'), Buffer.from('"}, "collections": []}')]));
    await expect(pack({ input: path, outs: [], dryRun: true })).rejects.toMatchObject({ code: 'RECIPE', message: expect.stringMatching(/bom\.json is not UTF-8/) });
  });
});

describe('pack of files dated outside what tar holds', () => {
  it('records a file from before 1970 at mtime 0, and the volume verifies and extracts with GNU tar', async () => {
    const src = join(work, 'dated');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, '1960年 老照片.jpg'), 'scanned with a wrong clock');
    await writeFile(join(src, 'today.txt'), 'now');
    // node's utimes takes no time before 1970; touch does
    execFileSync('touch', ['-d', '1960-01-01 00:00:00 UTC', join(src, '1960年 老照片.jpg')]);
    const { privateKey } = generateKeyPairSync('ed25519');
    const r = await pack({ input: src, outs: [join(work, 'dated-out')], key: privateKey });
    expect(r.verify.every((v) => v.ok)).toBe(true);
    const [dir] = await findVolumes(join(work, 'dated-out'));
    const files: FileEntry[] = [];
    for await (const e of fileEntries(await openVolume(dir!))) files.push(e);
    expect(files.find((f) => f.path.endsWith('1960年 老照片.jpg'))?.mtime).toBe(0);
    expect(files.find((f) => f.path.endsWith('today.txt'))!.mtime).toBeGreaterThan(1_700_000_000);
    const listing = execFileSync('tar', ['-tvf', join(dir!, 'segments', 'v01-s000001.tar')], { encoding: 'utf8' });
    expect(listing).toContain('1970-01-01');
    expect(listing).toContain('1960年 老照片.jpg');
  });
});

describe('the early start (pack writes while its scan still walks)', () => {
  // docs/format.md, section 11: work done before the plan is known is kept only when it is
  // exactly what a pack that scanned first writes. `--volume` never starts early, so it is that pack.
  const created = '2026-01-02T03:04:05.000Z';
  const tree = async (dir: string): Promise<void> => {
    const photos: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) photos[`老照片 第${String(i).padStart(4, '0')}张.jpg`] = 300 + ((i * 7919) % 5000);
    await buildTree(dir, { 地方戏专题视频: { 'a.mp4': 3 * 1024 * 1024 + 17 }, 老照片: { 广州: photos } });
  };
  const snapshotOf = async (dir: string): Promise<Map<string, Buffer>> => {
    const { readdir, readFile, stat } = await import('node:fs/promises');
    const out = new Map<string, Buffer>();
    for (const f of (await readdir(dir, { recursive: true })).map(String).sort()) {
      if ((await stat(join(dir, f))).isFile()) out.set(f, await readFile(join(dir, f)));
    }
    return out;
  };

  it('keeps its work on a one-volume set, and writes what a pack that scanned first writes', async () => {
    const src = join(work, 'early-src');
    await tree(src);
    const { privateKey } = generateKeyPairSync('ed25519');
    const a = await pack({ input: src, outs: [join(work, 'early-a')], key: privateKey, created, segmentSize: 4 * 1024 * 1024 });
    const b = await pack({ input: src, outs: [join(work, 'early-b')], key: privateKey, created, segmentSize: 4 * 1024 * 1024, volumes: [1] });
    expect(a.earlyStart?.outcome).toBe('kept');
    expect(b.earlyStart).toBeUndefined();
    expect(a.plan).toEqual(b.plan);
    const sa = await snapshotOf(join(work, 'early-a'));
    const sb = await snapshotOf(join(work, 'early-b'));
    expect([...sa.keys()]).toEqual([...sb.keys()]);
    expect([...sa.keys()].some((k) => k.endsWith('.tar'))).toBe(true);
    for (const [k, v] of sa) expect(v.equals(sb.get(k)!), k).toBe(true);
  });

  it('undoes its work when the plan needs several volumes, and leaves no trace of it', async () => {
    const src = join(work, 'early-src2');
    await tree(src);
    const { privateKey } = generateKeyPairSync('ed25519');
    const out = join(work, 'early-c');
    // the photos alone need more than one such disk
    const r = await pack({ input: src, outs: [out], key: privateKey, created, segmentSize: 4 * 1024 * 1024, diskSize: 9e6 });
    expect(r.earlyStart?.outcome).toBe('undone');
    const n = r.plan.volumes.length;
    expect(n).toBeGreaterThan(1);
    expect(r.verify.every((v) => v.ok)).toBe(true);
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(out)).sort()).toEqual(Array.from({ length: n }, (_, i) => `early-src2-vol${i + 1}-of-${n}`));
  });
});
