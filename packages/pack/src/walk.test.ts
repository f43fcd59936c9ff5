import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { statAll, type StatResult } from './walk.js';

/** What a stat result says, comparable across the two ways of asking. */
function describeResult(r: StatResult): string {
  if (r === 'symlink') return 'symlink';
  if (r instanceof Error) return `error ${(r as NodeJS.ErrnoException).code}`;
  return `${r.isDirectory() ? 'dir' : 'file'} ${r.size} ${r.mtimeMs}`;
}

describe('statAll (the scan\'s lstat: one at a time while fast, in parallel once the disk seeks, handed on in order)', () => {
  it('gives the same answers, in order, whether every lstat is fast, the first is slow, or all are', async () => {
    const dir = await tempDir('bookcrate-walk-');
    const srcs: string[] = [];
    for (let i = 0; i < 300; i++) {
      const p = join(dir, `f${i}`);
      if (i % 50 === 7) {
        await mkdir(p);
      } else if (i % 50 === 13) {
        await symlink(join(dir, 'f0'), p); // a link to a file
      } else if (i % 50 === 29) {
        // listed, then gone before its lstat (a file deleted during the scan): no file at all
      } else {
        await writeFile(p, Buffer.alloc(i * 11));
      }
      srcs.push(p);
    }
    /** the answers as statAll hands them on: they must come in order, each once */
    const ask = async (follow: boolean, slowMs?: number): Promise<string[]> => {
      const got: string[] = [];
      await statAll(srcs.length, (i) => srcs[i]!, follow, (i, r) => {
        expect(i).toBe(got.length);
        got.push(describeResult(r));
      }, slowMs);
      return got;
    };
    for (const follow of [false, true]) {
      const fast = await ask(follow, Infinity); // never leaves the sync path
      const slow = await ask(follow, -1); // parallel from the second
      const once = await ask(follow);
      expect(slow).toEqual(fast);
      expect(once).toEqual(fast);
      expect(fast[1]).toBe('file 11 ' + fast[1]!.split(' ')[2]);
      expect(fast[7]!.startsWith('dir ')).toBe(true);
      expect(fast[13]).toBe(follow ? fast[0] : 'symlink');
      expect(fast[29]).toBe('error ENOENT');
    }
    let calls = 0;
    await statAll(0, () => dir, false, () => calls++);
    expect(calls).toBe(0);
  });
});
