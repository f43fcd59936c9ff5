import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { loadPublicKey, sha256Hex } from '@bookcrate/format';
import { buildTree, tempDir, SAMPLE_TREE } from '../../../fixtures/tree.js';
import { flip, run, snapshot } from '../../cli/src/testkit.js';
import { importVolume, type ImportProgress } from './import.js';

/** Every file under dir (relative path → inode), read synchronously: the caller is inside a progress callback. */
function filesUnder(dir: string, rel = ''): Map<string, number> {
  const out = new Map<string, number>();
  let names: string[];
  try {
    names = readdirSync(join(dir, rel));
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(rel, n);
    if (lstatSync(join(dir, p)).isDirectory()) for (const [k, v] of filesUnder(dir, p)) out.set(k, v);
    else out.set(p, statSync(join(dir, p)).ino);
  }
  return out;
}

let work: string;
let key: string;

beforeAll(async () => {
  work = await tempDir('import-tree-');
  // two files with the same content (the second is linked at the commit), an empty folder, small and large files
  await buildTree(join(work, 'v1'), { ...SAMPLE_TREE, 副本: { '原件.txt': '同一段文字', '副本.txt': '同一段文字' } });
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  key = await readFile(join(work, 'center.pub'), 'utf8');
  // version 2: one file changed, the rest already in the store
  await cp(join(work, 'v1'), join(work, 'v2'), { recursive: true });
  await writeFile(join(work, 'v2', '政府公开信息', '2026年工作报告.pdf'), 'revised');
  for (const v of [1, 2]) {
    await writeFile(join(work, `r${v}.json`), JSON.stringify({ bundle: { id: 'county', title: '县级资源包', version: v }, collections: [{ id: 'all', title: '全部', source: join(work, `v${v}`) }] }));
    const packed = await run(['pack', join(work, `r${v}.json`), '--key', join(work, 'center.key'), '--out', join(work, `out${v}`), '--no-verify']);
    expect(packed.code, packed.stderr).toBe(0);
  }
});

describe('import: the readers\' tree grows as the objects come in (docs/store.md, "Import", step 7)', () => {
  it('holds every file, hard-linked to its object, before the last commit begins; the shown tree is the source', async () => {
    const store = await tempDir('import-tree-store-');
    const trust = loadPublicKey(key, 'test key');
    for (const v of [1, 2]) {
      const volume = join(work, `out${v}`, readdirSync(join(work, `out${v}`))[0]!);
      const building = join(store, 'library', '.versions', 'county', '');
      let atPublish: Map<string, number> | undefined;
      const report = await importVolume({
        volume, store, trust,
        onProgress: (p: ImportProgress) => {
          // the last commit begins: with the tree built from the catalog, nothing would be there yet
          if (p.phase === 'publish' && !atPublish) {
            const hidden = readdirSync(building).find((n) => n.endsWith('.building'));
            atPublish = hidden ? filesUnder(join(building, hidden)) : new Map();
          }
        },
      });
      expect(report.current).toBe(true);
      // the collection's files are under its folder, named after its title
      const shown = await snapshot(join(store, 'library', 'county', '全部'));
      const source = await snapshot(join(work, `v${v}`));
      expect([...shown.keys()].sort()).toEqual([...source.keys()].sort());
      for (const [p, bytes] of source) expect(shown.get(p)?.equals(bytes), p).toBe(true);
      // every file was already in the hidden tree, as the same inode as the one shown (a hard link)
      const files = filesUnder(join(store, 'library', 'county'));
      expect(atPublish?.size).toBe(files.size);
      for (const [p, ino] of files) expect(atPublish?.get(p)).toBe(ino);
      expect(readdirSync(building).filter((n) => n.endsWith('.building'))).toEqual([]);
    }
  });
});

describe('import: content already written by this run is never written again', () => {
  it('a file whose content an earlier commit of the same run recorded is linked to that object, not written anew', async () => {
    // segment 1: 原件.bin and a filler; then 2,000 small files, and 副本.bin with 原件.bin's bytes in
    // a later segment. The store is on tmpfs where there is one, so segment 1's commit (which runs
    // behind the reading) has recorded the object long before 副本.bin comes, though its manifest
    // part was read ahead before that commit: the copy must still end up as the object's inode.
    // Written again, it would replace the object under the first file's link.
    const dir = await tempDir('import-dup-');
    const same = randomBytes(100 << 10);
    const small = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`${String(i).padStart(4, '0')}.txt`, randomBytes(1024)]));
    await buildTree(join(dir, 'src'), { a: { '原件.bin': same }, b: { '填充.bin': randomBytes(2 << 20), 卡片: small }, c: { '副本.bin': same } });
    const packed = await run(['pack', join(dir, 'src'), '--key', join(work, 'center.key'), '--out', join(dir, 'out'), '--segment-size', '4MiB', '--no-verify']);
    expect(packed.code, packed.stderr).toBe(0);
    const volume = join(dir, 'out', readdirSync(join(dir, 'out'))[0]!);
    expect(readdirSync(join(volume, 'segments')).length).toBeGreaterThanOrEqual(2);
    const store = existsSync('/dev/shm') ? await mkdtemp('/dev/shm/import-dup-store-') : await tempDir('import-dup-store-');
    try {
      const report = await importVolume({ volume, store, trust: loadPublicKey(key, 'test key') });
      expect(report.current).toBe(true);
      expect(report.imported.files + report.alreadyPresent.files).toBe(2003);
      const object = statSync(join(store, 'objects', sha256Hex(same).slice(0, 2), sha256Hex(same)));
      // a bare folder's top folders are its collections: library/<bundle>/<collection>/…
      const shown = join(store, 'library', 'src');
      expect(statSync(join(shown, 'a', '原件.bin')).ino).toBe(object.ino);
      expect(statSync(join(shown, 'c', '副本.bin')).ino).toBe(object.ino);
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });
});

describe('import: a damaged file is named whichever thread hashed it', () => {
  it('a small file (hashed on the importing thread) and a large one (hashed on the hashing thread), each with a byte flipped on the disk: both reported with the actual SHA-256, neither in objects/, the rest imported', async () => {
    const dir = await tempDir('import-damaged-');
    // markers find each file's bytes in the segment; the small one is far below 64 KiB, the large one above
    const smallBytes = Buffer.concat([Buffer.from('SMALL-FILE-MARKER '), randomBytes(300)]);
    const largeBytes = Buffer.concat([Buffer.from('LARGE-FILE-MARKER '), randomBytes(200 << 10)]);
    const others = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${i}.txt`, randomBytes(200 + i)]));
    await buildTree(join(dir, 'src'), { 照片: { '小.txt': smallBytes, ...others }, 视频: { '大.bin': largeBytes, '好.bin': randomBytes(150 << 10) } });
    const packed = await run(['pack', join(dir, 'src'), '--key', join(work, 'center.key'), '--out', join(dir, 'out'), '--no-verify']);
    expect(packed.code, packed.stderr).toBe(0);
    const volume = join(dir, 'out', readdirSync(join(dir, 'out'))[0]!);
    const segDir = join(volume, 'segments');
    const seg = join(segDir, readdirSync(segDir)[0]!);
    const bytes = await readFile(seg);
    const damagedContent = new Map<string, Buffer>();
    for (const [name, content, at] of [['小.txt', smallBytes, 100], ['大.bin', largeBytes, 150 << 10]] as const) {
      const start = bytes.indexOf(content.subarray(0, 18));
      expect(start, name).toBeGreaterThan(0);
      await flip(seg, start + at);
      const bad = Buffer.from(content);
      bad[at] = bad[at]! ^ 0x01;
      damagedContent.set(name, bad);
    }
    const store = await tempDir('import-damaged-store-');
    const report = await importVolume({ volume, store, trust: loadPublicKey(key, 'test key') });
    const byName = new Map(report.damaged.map((d) => [d.path.split('/').pop()!, d]));
    expect([...byName.keys()].sort()).toEqual(['大.bin', '小.txt']);
    for (const [name, content] of [['小.txt', smallBytes], ['大.bin', largeBytes]] as const) {
      const d = byName.get(name)!;
      expect(d.reason).toBe('hash');
      expect(d.expected).toBe(sha256Hex(content));
      expect(d.actual).toBe(sha256Hex(damagedContent.get(name)!));
      expect(existsSync(join(store, 'objects', d.expected!.slice(0, 2), d.expected!))).toBe(false);
      expect(existsSync(join(store, 'objects', d.actual!.slice(0, 2), d.actual!))).toBe(false);
    }
    // everything else is in, and the version is complete with two files recorded as damaged
    expect(report.imported.files).toBe(51); // the 50 small ones and 好.bin
    expect(report.versionComplete).toBe(true);
    for (const [name, content] of Object.entries(others)) {
      const sha = sha256Hex(content);
      expect((await readFile(join(store, 'objects', sha.slice(0, 2), sha))).equals(content), name).toBe(true);
    }
  });
});
