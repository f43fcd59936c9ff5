import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClaimCursor, DerivedResources, catalogRecords, spillCatalogs, writeResourcesList } from './catalog.js';
import type { PackSource, SourceCollection } from './source.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bookcrate-catalog-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = async (path: string): Promise<unknown[]> => (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);

/** A source of collections whose catalogs are these JSON Lines records, written to real files. */
async function sourceOf(name: string, catalogs: Record<string, object[]>, extra: Partial<SourceCollection> = {}): Promise<PackSource> {
  const collections: SourceCollection[] = [];
  for (const [id, records] of Object.entries(catalogs)) {
    const path = join(dir, `${name}-${id}.jsonl`);
    await writeFile(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    collections.push({ id, title: id, path: id, dir: join(dir, id), metadata: { path, given: `${id}.jsonl`, digest: 'x' }, ...extra });
  }
  return { bundle: { id: 'b', title: 'b', version: 1 }, collections, origin: dir };
}

async function workDir(name: string): Promise<string> {
  return mkdtemp(join(dir, `${name}-`));
}

describe('a catalog spilled to disk, sorted in runs and merged (catalog.ts)', () => {
  it('lists every record once, sorted by id across runs and collections, with the collection\'s type where a record has none', async () => {
    // Runs of 2 records: five runs to merge.
    const source = await sourceOf('sorted', {
      courses: [
        { id: 'C-3', title: '第三讲', files: '第3讲' },
        { id: 'C-1', title: '第一讲', files: '第1讲', type: 'course' },
        { id: 'C-2', title: '第二讲', files: '第2讲;讲义/第2讲.pdf' },
      ],
      photos: [
        { id: 'P-2', title: '城门', files: '城门.jpg' },
        { id: 'A-1', title: '颐和园', files: '颐和园.jpg' },
        { id: 'P-1', title: '前门', files: '前门.jpg' },
        { id: 'Z-9', title: '故宫', files: '故宫.jpg', creator: '佚名' },
      ],
    }, { type: 'photo' });
    const w = await workDir('sorted');
    const spilled = await spillCatalogs(source, w, 2);
    expect(spilled.count).toBe(7);
    const res = await lines(spilled.resources) as { id: string; collection: string; type?: string; creator?: string }[];
    expect(res.map((r) => r.id)).toEqual(['A-1', 'C-1', 'C-2', 'C-3', 'P-1', 'P-2', 'Z-9']);
    expect(res.find((r) => r.id === 'C-1')).toMatchObject({ collection: 'courses', type: 'course' });
    expect(res.find((r) => r.id === 'C-3')).toMatchObject({ collection: 'courses', type: 'photo' }); // the collection's
    expect(res.find((r) => r.id === 'Z-9')).toMatchObject({ creator: '佚名' });
    // Claims per collection, in the walk's order ('/' before any other character).
    expect(await lines(spilled.claims.get('courses')!)).toEqual([['第1讲', 'C-1'], ['第2讲', 'C-2'], ['第3讲', 'C-3'], ['讲义/第2讲.pdf', 'C-2']]);
    // The runs are gone: only the merged files stay.
    const { readdir } = await import('node:fs/promises');
    expect((await readdir(w)).sort()).toEqual(['catalog-resources.jsonl', 'claims-0.jsonl', 'claims-1.jsonl']);
  });

  it('refuses an id given twice in a catalog (even in different runs), in two catalogs, and a file claimed by two records', async () => {
    const twice = await sourceOf('twice', { courses: [{ id: 'C-1', title: 'a', files: 'a' }, { id: 'C-2', title: 'b', files: 'b' }, { id: 'C-1', title: 'c', files: 'c' }] });
    await expect(spillCatalogs(twice, await workDir('twice'), 2)).rejects.toMatchObject({ code: 'RECIPE', message: 'courses.jsonl: the resource id "C-1" is given to more than one record' });
    const across = await sourceOf('across', { courses: [{ id: 'X-1', title: 'a', files: 'a' }], comics: [{ id: 'X-1', title: 'b', files: 'b' }] });
    await expect(spillCatalogs(across, await workDir('across'), 2)).rejects.toMatchObject({ code: 'RECIPE', message: 'the resource id "X-1" is in the catalogs of both collection "courses" and collection "comics"' });
    const both = await sourceOf('both', { courses: [{ id: 'C-1', title: 'a', files: 'a/1.mp4' }, { id: 'C-2', title: 'b', files: 'b' }, { id: 'C-3', title: 'c', files: 'a/1.mp4' }] });
    await expect(spillCatalogs(both, await workDir('both'), 2)).rejects.toMatchObject({ code: 'RECIPE', message: 'courses.jsonl: "a/1.mp4" is claimed by both "C-1" and "C-3"' });
    // The same path twice in one record is one claim.
    const same = await sourceOf('same', { courses: [{ id: 'C-1', title: 'a', files: 'a;a' }] });
    expect(await lines((await spillCatalogs(same, await workDir('same'), 2)).claims.get('courses')!)).toEqual([['a', 'C-1']]);
  });

  it('answers the walk\'s lookups in path order: the file\'s own claim, else the deepest folder\'s; and names the claims no file fell under', async () => {
    const path = join(dir, 'claims.jsonl');
    const claims: [string, string][] = [
      ['第1讲', 'C-1'], ['第1讲/讲义.pdf', 'HANDOUT'], ['第2讲', 'C-2'], ['第2讲/第1集.mp4', 'C-2E1'], ['第3讲 不存在', 'C-3'], ['老照片/城门.jpg', 'P-1'],
    ];
    await writeFile(path, claims.map((c) => JSON.stringify(c)).join('\n') + '\n');
    const unmatched: string[] = [];
    const cursor = new ClaimCursor(path, (file, resource) => unmatched.push(`${file} ${resource}`));
    // the walk's order: a folder's files before the next folder ("第1讲/" before "第1讲 附录")
    const walk = ['第1讲/第1集.mp4', '第1讲/讲义.pdf', '第1讲 附录/a.pdf', '第2讲/第1集.mp4', '第4讲/x.mp4', '老照片/前门.jpg'];
    expect(walk.map((p) => cursor.lookup(p))).toEqual(['C-1', 'HANDOUT', undefined, 'C-2E1', undefined, undefined]);
    cursor.finish();
    // 第2讲's only file is claimed on its own, so the folder's claim named nothing; 第3讲 and 城门.jpg are not there.
    expect(unmatched).toEqual(['第2讲 C-2', '第3讲 不存在 C-3', '老照片/城门.jpg P-1']);
  });

  it('reads a catalog larger than a block (4 MiB) whole, and names the file\'s line of a bad byte in a later block', async () => {
    // 100,000 records of ~55 bytes: two blocks; one title holds a newline (a quoted field).
    const rows = ['id,title,creator,files'];
    for (let i = 0; i < 100_000; i++) rows.push(`P-${i},"老照片 第${i}张${i === 80_000 ? '\n（续）' : ''}","佚名, 摄影师",照片/${i}.jpg`);
    const csv = join(dir, 'big.csv');
    await writeFile(csv, rows.join('\r\n') + '\r\n');
    expect((await stat(csv)).size).toBeGreaterThan(4 << 20);
    let n = 0;
    let multiline = '';
    for await (const r of catalogRecords(csv, undefined)) {
      if (r.id !== `P-${n}` || r.creator !== '佚名, 摄影师' || r.files[0] !== `照片/${n}.jpg`) throw new Error(`record ${n}: ${JSON.stringify(r)}`);
      if (n === 80_000) multiline = r.title;
      n++;
    }
    expect(n).toBe(100_000);
    expect(multiline).toBe('老照片 第80000张\n（续）');
    // A GBK byte on line 90,001 of a JSON Lines catalog said to be UTF-8: past the first block.
    const lines: Buffer[] = [];
    for (let i = 0; i < 100_000; i++) lines.push(Buffer.from(JSON.stringify({ id: `J-${i}`, title: `老照片 第${i}张`, files: `${i}.jpg` }) + '\n'));
    lines[90_000] = Buffer.concat([Buffer.from('{"id":"J-90000","title":"'), Buffer.from([0xd6, 0xd0]), Buffer.from('","files":"x.jpg"}\n')]);
    const jsonl = join(dir, 'big.jsonl');
    await writeFile(jsonl, Buffer.concat(lines));
    const offset = Buffer.concat(lines.slice(0, 90_000)).length + '{"id":"J-90000","title":"'.length;
    expect(offset).toBeGreaterThan(4 << 20);
    const read = async (): Promise<number> => {
      let k = 0;
      for await (const _ of catalogRecords(jsonl, undefined)) k++;
      return k;
    };
    await expect(read()).rejects.toMatchObject({ code: 'RECIPE', message: expect.stringContaining(`big.jsonl is not UTF-8: line 90001 has the byte 0xd6 at offset ${offset}; read as GB18030 (GBK) that line is: {"id":"J-90000","title":"中"`) });
  });

  it('merges the resources derived from the tree into the catalog\'s, by id; a derived id a record also has is the record\'s', async () => {
    const source = await sourceOf('merge', { courses: [{ id: 'courses/第2讲', title: '第二讲（目录）', files: '第2讲' }, { id: 'M-1', title: 'm', files: 'm' }] });
    const spilled = await spillCatalogs(source, await workDir('merge'), 1);
    const out = join(dir, 'merged.jsonl');
    // Runs of two: the derived spill as the walk makes them, a repeat in another run among them.
    const derived = new DerivedResources(await workDir('derived'), 2);
    for (const [id, title] of [['courses/第3讲', '第3讲'], ['courses/第2讲', '第2讲'], ['courses/第2讲', '第2讲'], ['courses/第1讲', '第1讲'], ['Z', 'z'], ['courses/第3讲', '第3讲']]) {
      derived.add({ id: id!, collection: 'courses', title: title! });
    }
    const count = await writeResourcesList(spilled, derived, out);
    const got = await lines(out) as { id: string; title: string }[];
    expect(got.map((r) => `${r.id} ${r.title}`)).toEqual(['M-1 m', 'Z z', 'courses/第1讲 第1讲', 'courses/第2讲 第二讲（目录）', 'courses/第3讲 第3讲']);
    expect(count).toBe(5);
    // Without a catalog: the derived alone, sorted.
    const alone = new DerivedResources(await workDir('alone'));
    alone.add({ id: 'b', collection: '', title: 'b' });
    alone.add({ id: 'a', collection: '', title: 'a' });
    expect(await writeResourcesList(undefined, alone, out)).toBe(2);
    expect((await lines(out) as { id: string }[]).map((r) => r.id)).toEqual(['a', 'b']);
  });
});
