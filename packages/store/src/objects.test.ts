import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { syncFilesystem } from '@bookcrate/volume/disk-commands';
import { FSYNC_OPEN, ObjectQueue, makesHardLinks, renameFile, syncObjects } from './objects.js';
import { linkIntoTree } from './tree-link.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function queueIn(dir: string): Promise<{ q: ObjectQueue; tmp: string; objects: string }> {
  const tmp = join(dir, 'tmp');
  const objects = join(dir, 'objects');
  await mkdir(tmp, { recursive: true });
  return { q: await ObjectQueue.create(tmp, objects, { writeSize: 64 << 10 }), tmp, objects };
}

describe('ObjectQueue: an admitted object also linked into a tree being built (import, step 7)', () => {
  it('links the object where asked, after its rename, making the folders above it; a damaged one is neither renamed nor linked', async () => {
    const dir = await tempDir('objects-link-');
    const { q, tmp, objects } = await queueIn(dir);
    const good = Buffer.alloc(300_000, 7); // several writes of 64 KiB
    const bad = Buffer.alloc(1000, 1);
    const goodAt = join(dir, 'tree.building', '第1讲', '第1集.mp4');
    const badAt = join(dir, 'tree.building', 'bad.pdf');

    const o1 = q.begin({ hashedElsewhere: true });
    o1.update(good);
    const d1 = o1.finishWhenHashed(sha(good), join(objects, sha(good).slice(0, 2), sha(good)), Promise.resolve(sha(good)), goodAt);
    const o2 = q.begin({ hashedElsewhere: true });
    o2.update(bad);
    const d2 = o2.finishWhenHashed('0'.repeat(64), join(objects, '00', '0'.repeat(64)), Promise.resolve(sha(bad)), badAt);
    expect(await d1).toBe(sha(good));
    expect(await d2).toBe(sha(bad));
    await q.drain();

    const object = join(objects, sha(good).slice(0, 2), sha(good));
    expect((await stat(goodAt)).ino).toBe((await stat(object)).ino); // a hard link, not a copy
    expect(await readFile(goodAt)).toEqual(good);
    await expect(stat(badAt)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(q.linkFailures).toBe(0);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('a link that cannot be made only counts in linkFailures: the object is still admitted', async () => {
    const dir = await tempDir('objects-link-');
    const { q, objects } = await queueIn(dir);
    // the tree's folder is a file: ENOTDIR, as a filesystem without hard links would refuse (EPERM)
    await writeFile(join(dir, 'not-a-folder'), 'x');
    const data = Buffer.alloc(100_000, 3);
    const object = join(objects, sha(data).slice(0, 2), sha(data));
    const o = q.begin({ hashedElsewhere: true });
    o.update(data);
    await o.finishWhenHashed(sha(data), object, Promise.resolve(sha(data)), join(dir, 'not-a-folder', 'file.pdf'));
    await q.drain();
    expect(q.linkFailures).toBe(1);
    expect(await readFile(object)).toEqual(data);
  });
});

describe('linkIntoTree', () => {
  it('makes the folders above the link, and says false instead of throwing when it cannot link', async () => {
    const dir = await tempDir('link-into-tree-');
    await writeFile(join(dir, 'object'), 'content');
    expect(linkIntoTree(join(dir, 'object'), join(dir, 'tree', 'a', 'b', '北京街景.jpg'))).toBe(true);
    expect(await readFile(join(dir, 'tree', 'a', 'b', '北京街景.jpg'), 'utf8')).toBe('content');
    expect(linkIntoTree(join(dir, 'object'), join(dir, 'tree', 'a', 'b', '北京街景.jpg'))).toBe(false); // already there
    expect(linkIntoTree(join(dir, 'missing'), join(dir, 'tree', 'c'))).toBe(false);
  });
});

describe('syncObjects where `sync -f` is missing (Windows, a system without GNU coreutils)', () => {
  it('fsyncs each file instead, opened the way the platform allows, and names a file it cannot open', async () => {
    const dir = await tempDir('objects-sync-');
    const files = ['a', 'b', '第1讲.pdf'].map((n) => join(dir, n));
    for (const f of files) await writeFile(f, `bytes of ${f}`);
    // a PATH with no `sync` on it: the child process cannot start, and the fallback runs
    const savedPath = process.env.PATH;
    process.env.PATH = await tempDir('objects-sync-nopath-');
    try {
      expect(await syncFilesystem(dir)).toBe(false);
      await expect(syncObjects(dir, files)).resolves.toBeUndefined();
      const missing = join(dir, 'gone');
      await expect(syncObjects(dir, [files[0]!, missing])).rejects.toMatchObject({ message: expect.stringContaining(missing) });
    } finally {
      process.env.PATH = savedPath;
    }
    expect(FSYNC_OPEN).toBe(process.platform === 'win32' ? 'r+' : 'r');
  });
});

describe('renameFile: a rename Windows refuses for a moment (an antivirus holding the new file)', () => {
  it('is tried again until it goes through where asked to (Windows), and fails at once elsewhere', async (ctx) => {
    const dir = await tempDir('objects-rename-');
    const into = join(dir, 'objects');
    await mkdir(into);
    await writeFile(join(dir, 'a'), 'a');
    await writeFile(join(dir, 'b'), 'b');
    // An immutable folder refuses new entries with EPERM, even to root: the refusal, made real on Linux.
    try {
      execFileSync('chattr', ['+i', into], { stdio: 'pipe' });
    } catch {
      ctx.skip(); // not root, or a filesystem without the attribute
    }
    try {
      await expect(renameFile(join(dir, 'a'), join(into, 'a'), false)).rejects.toMatchObject({ code: 'EPERM' });
      const started = Date.now();
      setTimeout(() => execFileSync('chattr', ['-i', into]), 300);
      await renameFile(join(dir, 'b'), join(into, 'b'), true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(await readFile(join(into, 'b'), 'utf8')).toBe('b');
    } finally {
      execFileSync('chattr', ['-i', into]);
    }
  });
});

describe('makesHardLinks', () => {
  it('says whether the folder\'s filesystem makes hard links, and leaves nothing behind', async () => {
    const dir = await tempDir('objects-links-');
    expect(await makesHardLinks(dir)).toBe(true); // ext4 or tmpfs here; the exFAT store's e2e test meets false
    expect(await readdir(dir)).toEqual([]);
    expect(await makesHardLinks(join(dir, 'missing'))).toBe(false);
  });

  it('removes the probe of a process killed in the middle of it (SIGKILL between making and removing it)', async () => {
    const dir = await tempDir('objects-links-');
    await writeFile(join(dir, 'link-probe-4242-deadbeef'), '');
    await writeFile(join(dir, 'link-probe-4242-deadbeef-2'), '');
    await writeFile(join(dir, 'staging-file'), 'not a probe');
    expect(await makesHardLinks(dir)).toBe(true);
    expect(await readdir(dir)).toEqual(['staging-file']);
  });
});
