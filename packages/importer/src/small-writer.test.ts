import { chmod, link, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { SmallWriter } from './small-writer.js';

type Outcome = { err: Error | null; linked?: boolean };

/** put() as a promise of its outcome */
function putter(w: SmallWriter, outcomes: Promise<Outcome>[]) {
  return (final: string, bytes: string, alsoAt?: string): void => {
    outcomes.push(new Promise((resolve) => w.put(final, [Buffer.from(bytes)], bytes.length, (err, linked) => resolve({ err, linked }), alsoAt)));
  };
}

describe('SmallWriter (small objects written on a thread of their own)', () => {
  it('writes each object at its final path, links it into the tree when asked, and reports a link it could not make', async () => {
    const dir = await tempDir('small-writer-');
    await mkdir(join(dir, 'objects'));
    await writeFile(join(dir, 'a-file'), 'x'); // a "folder" that is a file: the link under it fails
    const w = new SmallWriter();
    const outcomes: Promise<Outcome>[] = [];
    const put = putter(w, outcomes);
    try {
      put(join(dir, 'objects', 'o1'), 'first photo', join(dir, 'tree.building', '老照片', '1950年代', '北京街景.jpg'));
      put(join(dir, 'objects', 'o2'), 'second photo'); // not linked anywhere
      put(join(dir, 'objects', 'o3'), 'third photo', join(dir, 'a-file', 'p.jpg'));
      put(join(dir, 'objects', 'ab', 'o4'), 'fourth photo'); // its shard folder is missing: made
      w.flush();
      const [o1, o2, o3, o4] = await Promise.all(outcomes);
      expect(o1).toEqual({ err: null, linked: true });
      expect(o2).toEqual({ err: null, linked: true }); // nothing asked, nothing failed
      expect(o3).toEqual({ err: null, linked: false });
      expect(o4).toEqual({ err: null, linked: true });
      const link = join(dir, 'tree.building', '老照片', '1950年代', '北京街景.jpg');
      expect((await stat(link)).ino).toBe((await stat(join(dir, 'objects', 'o1'))).ino);
      expect(await readFile(join(dir, 'objects', 'o3'), 'utf8')).toBe('third photo'); // admitted all the same
      expect(await readFile(join(dir, 'objects', 'ab', 'o4'), 'utf8')).toBe('fourth photo');
      expect((await readdir(join(dir, 'objects'))).sort()).toEqual(['ab', 'o1', 'o2', 'o3']); // no temp file anywhere
    } finally {
      await w.close();
    }
  });

  it('replaces a file a killed run left at the final path with a new one: what else links to the old one keeps its bytes', async () => {
    const dir = await tempDir('small-writer-');
    await mkdir(join(dir, 'objects'));
    await mkdir(join(dir, 'old-tree'));
    const final = join(dir, 'objects', 'o1');
    await writeFile(final, 'cut sh'); // a killed run's partial object, never recorded…
    await link(final, join(dir, 'old-tree', 'page.jpg')); // …that its tree being built links to
    const before = (await stat(final)).ino;
    const w = new SmallWriter();
    const outcomes: Promise<Outcome>[] = [];
    try {
      putter(w, outcomes)(final, 'cut short no more');
      w.flush();
      expect(await Promise.all(outcomes)).toEqual([{ err: null, linked: true }]);
      expect(await readFile(final, 'utf8')).toBe('cut short no more');
      expect((await stat(final)).ino).not.toBe(before);
      expect(await readFile(join(dir, 'old-tree', 'page.jpg'), 'utf8')).toBe('cut sh');
    } finally {
      await w.close();
    }
  });

  it('stops a batch at the first object it cannot write, and leaves nothing of it behind', async () => {
    const dir = await tempDir('small-writer-');
    await mkdir(join(dir, 'objects'));
    await mkdir(join(dir, 'shut'));
    await chmod(join(dir, 'shut'), 0o500); // (root ignores the mode: then a path under a file instead)
    const blocked = process.getuid?.() === 0 ? join(dir, 'objects', 'o1', 'x') : join(dir, 'shut', 'x');
    await writeFile(join(dir, 'objects', 'o1'), 'a file where a folder should be');
    const w = new SmallWriter();
    const outcomes: Promise<Outcome>[] = [];
    const put = putter(w, outcomes);
    try {
      put(join(dir, 'objects', 'o0'), 'written');
      put(blocked, 'cannot be written');
      put(join(dir, 'objects', 'o2'), 'after the failure');
      w.flush();
      const [o0, o1, o2] = await Promise.all(outcomes);
      expect(o0).toEqual({ err: null, linked: true });
      expect((o1!.err as NodeJS.ErrnoException).code).toMatch(/^(ENOTDIR|EACCES)$/);
      expect((o1!.err as NodeJS.ErrnoException & { path?: string }).path).toBe(blocked);
      expect(o2!.err).toBe(o1!.err); // the batch stopped there: not written
      expect((await readdir(join(dir, 'objects'))).sort()).toEqual(['o0', 'o1']);
    } finally {
      await chmod(join(dir, 'shut'), 0o700);
      await w.close();
    }
  });
});
