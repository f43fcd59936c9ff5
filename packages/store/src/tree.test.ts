import { execFileSync } from 'node:child_process';
import { mkdir, open, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { Store } from './store.js';
import { showVersionTree, versionTreePlace, type BuiltTree } from './tree.js';

/** A version's tree as buildVersionTree leaves it: files in `<target>.building`, not yet shown. */
async function built(store: Store, version: number, content: string): Promise<BuiltTree> {
  const place = versionTreePlace(store, 'county', version, 'set1');
  await mkdir(join(place.building, '第1讲'), { recursive: true });
  await writeFile(join(place.building, '第1讲', 'a.txt'), content);
  return { bundleId: 'county', ...place, links: 1, copies: 0 };
}

const shown = (store: Store): Promise<string> => readFile(join(store.paths.library, 'county', '第1讲', 'a.txt'), 'utf8');
const trees = async (store: Store): Promise<string[]> => (await readdir(join(store.paths.library, '.versions', 'county'))).sort();

describe('showVersionTree: the switch readers see', () => {
  it('shows a version again (after a repair) under a folder of its own, so the tree in use is never emptied first', async () => {
    const store = await Store.open(await tempDir('tree-switch-'), { create: true });
    try {
      await showVersionTree(store, await built(store, 3, 'before the repair'));
      expect(await readlink(join(store.paths.library, 'county'))).toBe(join('.versions', 'county', 'v3-set1'));
      // a reader holds a file of the shown tree open across the switch
      const reading = await open(join(store.paths.library, 'county', '第1讲', 'a.txt'), 'r');
      try {
        await showVersionTree(store, await built(store, 3, 'repaired'));
        expect(await readlink(join(store.paths.library, 'county'))).toBe(join('.versions', 'county', 'v3-set1+2'));
        expect(await shown(store)).toBe('repaired');
        expect((await reading.readFile()).toString()).toBe('before the repair');
      } finally {
        await reading.close();
      }
      expect(await trees(store)).toEqual(['v3-set1+2']);
      // the name alternates: the next repair takes the first free one again
      await showVersionTree(store, await built(store, 3, 'repaired again'));
      expect(await trees(store)).toEqual(['v3-set1']);
      expect(await shown(store)).toBe('repaired again');
    } finally {
      store.close();
    }
  });

  it('on Windows points the library at the tree with a junction, replacing the old one, to an absolute target', async () => {
    // Linux makes a symbolic link of a 'junction' and renames over links alike: what this runs is
    // the Windows sequence (absolute target, the old link removed, the new one renamed in).
    const store = await Store.open(await tempDir('tree-junction-'), { create: true });
    try {
      await showVersionTree(store, await built(store, 1, 'one'), { windows: true });
      const link1 = await readlink(join(store.paths.library, 'county'));
      expect(isAbsolute(link1)).toBe(true);
      expect(link1).toBe(join(store.paths.library, '.versions', 'county', 'v1-set1'));
      await showVersionTree(store, await built(store, 2, 'two'), { windows: true });
      expect(await readlink(join(store.paths.library, 'county'))).toBe(join(store.paths.library, '.versions', 'county', 'v2-set1'));
      expect(await shown(store)).toBe('two');
      expect(await trees(store)).toEqual(['v1-set1', 'v2-set1']); // the tree shown before stays, as the spare
      expect((await readdir(store.paths.library)).filter((n) => n.includes('.switch-'))).toEqual([]);
    } finally {
      store.close();
    }
  });

  it.runIf(process.platform === 'linux' && process.getuid?.() === 0)('leaves an old tree it cannot remove to the next switch, and the switch itself succeeds', async () => {
    const store = await Store.open(await tempDir('tree-busy-'), { create: true });
    let mnt: string | undefined;
    try {
      await showVersionTree(store, await built(store, 1, 'one'));
      await showVersionTree(store, await built(store, 2, 'two'));
      expect(await trees(store)).toEqual(['v1-set1', 'v2-set1']); // v1's tree is the spare now
      // A folder of the spare that cannot be removed once v3 replaces it as the spare: a mount point
      // (EBUSY), as Windows refuses a folder whose file a reader has open.
      mnt = join(store.paths.library, '.versions', 'county', 'v1-set1', 'busy');
      await mkdir(mnt);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
      await showVersionTree(store, await built(store, 3, 'three'));
      expect(await shown(store)).toBe('three');
      expect(await trees(store)).toEqual(['v1-set1', 'v2-set1', 'v3-set1']);
      execFileSync('umount', [mnt]);
      mnt = undefined;
      await showVersionTree(store, await built(store, 4, 'four'));
      expect(await trees(store)).toEqual(['v3-set1', 'v4-set1']);
    } finally {
      if (mnt) execFileSync('umount', [mnt]);
      store.close();
    }
  });
});
