import { describe, expect, it } from 'vitest';
import { parseRecipe } from '@bookcrate/format';
import { folderBundleId } from './source.js';

describe('a bare folder\'s bundle id', () => {
  it('is the folder\'s name where that is an id, and tells apart names made of other characters', () => {
    expect(folderBundleId('ndlp-2026')).toBe('ndlp-2026');
    expect(folderBundleId('sample_tree.v2')).toBe('sample_tree.v2');
    const a = folderBundleId('老照片');
    const b = folderBundleId('地方戏');
    expect(a).toMatch(/^folder-[0-9a-f]{8}$/);
    expect(b).toMatch(/^folder-[0-9a-f]{8}$/);
    expect(a).not.toBe(b); // both were "___"
    expect(folderBundleId('老照片')).toBe(a); // stable: the next pack of the folder is the same bundle
    expect(folderBundleId('老照片'.normalize('NFD'))).toBe(a);
    expect(folderBundleId('2024年 地方戏 (上)')).toMatch(/^2024-[0-9a-f]{8}$/);
    expect(folderBundleId('.hidden')).toMatch(/^hidden-[0-9a-f]{8}$/);
    // Every id it gives is one a recipe could give.
    for (const name of ['老照片', '2024年 地方戏 (上)', '.hidden', 'x'.repeat(300), '---']) {
      const id = folderBundleId(name);
      expect(() => parseRecipe(JSON.stringify({ format: 'bookcrate-recipe/1', bundle: { id, title: name, version: 1 }, collections: [{ id: 'c', title: 'c', source: '.' }] }), 'r.json'), id).not.toThrow();
    }
  });
});
