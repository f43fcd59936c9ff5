import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { SmallWriter } from './small-writer.js';

type Outcome = { err: Error | null; linked?: boolean };

describe('SmallWriter (small objects written on a thread of their own)', () => {
  it('writes and renames each object, links it into the tree when asked, and reports a link it could not make', async () => {
    const dir = await tempDir('small-writer-');
    await mkdir(join(dir, 'tmp'));
    await mkdir(join(dir, 'objects'));
    await writeFile(join(dir, 'a-file'), 'x'); // a "folder" that is a file: the link under it fails
    const w = new SmallWriter();
    const outcomes: Promise<Outcome>[] = [];
    const put = (name: string, bytes: string, alsoAt?: string): void => {
      outcomes.push(new Promise((resolve) => w.put(join(dir, 'tmp', name), join(dir, 'objects', name), [Buffer.from(bytes)], bytes.length, (err, linked) => resolve({ err, linked }), alsoAt)));
    };
    try {
      put('o1', 'first photo', join(dir, 'tree.building', '老照片', '1950年代', '北京街景.jpg'));
      put('o2', 'second photo'); // not linked anywhere
      put('o3', 'third photo', join(dir, 'a-file', 'p.jpg'));
      w.flush();
      const [o1, o2, o3] = await Promise.all(outcomes);
      expect(o1).toEqual({ err: null, linked: true });
      expect(o2).toEqual({ err: null, linked: true }); // nothing asked, nothing failed
      expect(o3).toEqual({ err: null, linked: false });
      const link = join(dir, 'tree.building', '老照片', '1950年代', '北京街景.jpg');
      expect((await stat(link)).ino).toBe((await stat(join(dir, 'objects', 'o1'))).ino);
      expect(await readFile(join(dir, 'objects', 'o3'), 'utf8')).toBe('third photo'); // admitted all the same
      expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    } finally {
      await w.close();
    }
  });
});
