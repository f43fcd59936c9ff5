import { lstatSync, readdirSync, statSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPublicKey } from '@bookcrate/format';
import { buildTree, tempDir, SAMPLE_TREE } from '../../../fixtures/tree.js';
import { run, snapshot } from '../../cli/src/testkit.js';
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
