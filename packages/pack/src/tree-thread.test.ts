import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PartTreeWriter, encodeFileEntry, encodeMemberEntry, isBookcrateError, sha256Hex, type TreeRef } from '@bookcrate/format';
import { tempDir } from '../../../fixtures/tree.js';
import { TreeThread } from './tree-thread.js';

/** entries and members lines of n files, in manifest order, with Chinese and escaped names */
function listing(n: number): { entries: string[]; members: string[] } {
  const paths = Array.from({ length: n }, (_, i) => `老照片/${String(i).padStart(6, '0')} "第${i}张".jpg`).sort();
  const entries = paths.map((path, i) => encodeFileEntry({ path, type: 'file', size: i, mtime: 1_700_000_000, sha256: sha256Hex(`s${i}`), xxh64: 'ab'.repeat(8) }));
  const members = paths.map((path, i) => encodeMemberEntry({ path, segment: 1, offset: i * 1024, length: i }));
  return { entries, members };
}

/** the same trees built on this thread with PartTreeWriter, parts kept in memory */
async function reference(lines: string[][], repeats: boolean[], keyOf: ((l: string) => string)[]): Promise<{ trees: TreeRef[]; parts: Map<string, Buffer> }> {
  const parts = new Map<string, Buffer>();
  const trees: TreeRef[] = [];
  for (let t = 0; t < lines.length; t++) {
    const w = new PartTreeWriter((b, sha) => void parts.set(sha, b), undefined, repeats[t]);
    for (const l of lines[t]!) await w.add(keyOf[t]!(l), l);
    trees.push(await w.finish());
  }
  return { trees, parts };
}

const pathKey = (l: string): string => (JSON.parse(l) as { path: string }).path;
const idKey = (l: string): string => (JSON.parse(l) as { id: string }).id;

describe('TreeThread (pack\'s manifest trees on a thread of their own)', () => {
  it('builds the same trees and part files as PartTreeWriter, in every target, with a replayed prefix', async () => {
    const work = await tempDir('bookcrate-trees-');
    const { entries, members } = listing(5000);
    const resources = Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: `r${String(i).padStart(4, '0')}`, title: `资源 ${i}` }));
    // A resumed pack: the first 1,234 entries and members were logged before the interruption.
    const entriesLog = join(work, 'entries.jsonl');
    const membersLog = join(work, 'members.jsonl');
    const resourcesLog = join(work, 'resources.jsonl');
    await writeFile(entriesLog, entries.slice(0, 1234).map((l) => l + '\n').join(''));
    await writeFile(membersLog, members.slice(0, 1234).map((l) => l + '\n').join(''));
    await writeFile(resourcesLog, resources.map((l) => l + '\n').join(''));
    const dirs = [join(work, 'a'), join(work, 'b')];
    for (const d of dirs) await mkdir(d);

    const trees = new TreeThread([{ key: 'path', repeats: false }, { key: 'path', repeats: true }, { key: 'id', repeats: false }], dirs);
    try {
      trees.replay(0, entriesLog, (await stat(entriesLog)).size);
      trees.replay(1, membersLog, (await stat(membersLog)).size);
      trees.replay(2, resourcesLog, (await stat(resourcesLog)).size);
      // The pack goes on appending to its logs while the thread replays them: only the prefix counts.
      await appendFile(entriesLog, entries.slice(1234, 2000).map((l) => l + '\n').join(''));
      await appendFile(membersLog, members.slice(1234, 2000).map((l) => l + '\n').join(''));
      for (let i = 1234; i < entries.length; i++) {
        await trees.add(0, entries[i]!);
        await trees.add(1, members[i]!);
      }
      const got = await trees.finish();
      const want = await reference([entries, members, resources], [false, true, false], [pathKey, pathKey, idKey]);
      expect(got).toEqual(want.trees);
      expect(got[0]!.count).toBe(5000);
      for (const d of dirs) {
        const names = (await readdir(d)).sort();
        expect(names).toEqual([...want.parts.keys()].map((s) => `${s}.jsonl`).sort());
        for (const n of names.slice(0, 50)) expect(await readFile(join(d, n))).toEqual(want.parts.get(n.slice(0, 64)));
      }
    } finally {
      await trees.close();
    }
  });

  it('reports a target it cannot write to as an IO error naming the part file, and stops', async () => {
    const work = await tempDir('bookcrate-trees-');
    // A "parts folder" that is a file: every write fails (ENOTDIR), whoever runs the test.
    const notADir = join(work, 'parts');
    await writeFile(notADir, 'not a folder');
    const { entries } = listing(2000);
    const trees = new TreeThread([{ key: 'path', repeats: false }], [notADir]);
    let error: unknown;
    try {
      for (const l of entries) await trees.add(0, l);
      await trees.finish();
    } catch (e) {
      error = e;
    } finally {
      await trees.close();
    }
    expect(isBookcrateError(error, 'IO')).toBe(true);
    expect((error as Error).message).toContain(notADir);
    expect(await readFile(notADir, 'utf8')).toBe('not a folder');
  });
});
