import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { loadSource } from './source.js';
import { statAll, walkSource, type StatResult } from './walk.js';

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

describe('walkSource (the listing of each folder, held compactly)', () => {
  it('reads every file from the bytes of its name: GBK names and what is below them, a byte-order mark, NFD; in bundle order', async () => {
    const dir = await tempDir('bookcrate-walk-names-');
    const root = Buffer.from(join(dir, '老照片'));
    const path = (...parts: (string | Buffer)[]): Buffer => Buffer.concat([root, ...parts.flatMap((p) => [Buffer.from('/'), Buffer.from(p)])]);
    await mkdir(root);
    const gbk = Buffer.from([0xd6, 0xd0, 0xce, 0xc4]); // 中文 in GBK
    await mkdir(path(gbk));
    await writeFile(path(gbk, '里面.txt'), 'inside a GBK folder');
    await writeFile(path(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('bom.txt')])), 'a name with a byte-order mark');
    await writeFile(path('cafe\u0301.txt'), 'an NFD name');
    await writeFile(path('第2讲.txt'), 'two');
    const issues: string[] = [];
    const items: { path: string; bytes: string }[] = [];
    const source = await loadSource(dir);
    for await (const batch of walkSource(source, { followSymlinks: false, allowUnportable: false, nonUtf8: 'gb18030', includeJunk: false, onIssue: (i) => issues.push(`${i.kind} ${i.path}`) })) {
      for (const item of batch) items.push({ path: item.path, bytes: item.type === 'file' ? (await readFile(item.src)).toString() : '' });
    }
    expect(items).toEqual([
      { path: '老照片/bom.txt', bytes: 'a name with a byte-order mark' },
      { path: '老照片/café.txt', bytes: 'an NFD name' },
      { path: '老照片/中文/里面.txt', bytes: 'inside a GBK folder' },
      { path: '老照片/第2讲.txt', bytes: 'two' },
    ]);
    expect(issues.sort()).toEqual(['nfd-name 老照片/café.txt', 'non-utf8 老照片/中文']);
  });
});
