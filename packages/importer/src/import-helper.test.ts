import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HashThread, SharedBufferPool } from '@bookcrate/volume';
import { tempDir } from '../../../fixtures/tree.js';
import { importHelperThread, sharedMemory } from './import-helper.js';
import { SmallWriter } from './small-writer.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** This process's threads (Linux); undefined elsewhere */
const threads = (): number | undefined => {
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return undefined;
  }
};

/** put() as a promise of its outcome */
const put = (w: SmallWriter, path: string, bytes: Buffer): Promise<Error | null> =>
  new Promise((resolve) => {
    w.put(path, [bytes], bytes.length, (err) => resolve(err));
    w.flush();
  });

describe("the import's helper thread (hashing and small-object writing on one thread)", () => {
  it('hashes a large file from the shared buffers and writes small objects, on one thread that stops when both are closed', async () => {
    const dir = await tempDir('import-helper-');
    await mkdir(join(dir, 'objects'));
    const pool = new SharedBufferPool(2, 256 << 10);
    const before = threads();
    const helper = importHelperThread(pool);
    const hashes = new HashThread(pool, { lazy: true, link: helper.link('hash') });
    const small = new SmallWriter({ pool: sharedMemory(pool), link: helper.link('write') });
    try {
      expect(helper.boots).toBe(0); // nothing asked yet, nothing started
      // a small object copied into a batch: this starts the thread
      const photo = randomBytes(20_000);
      expect(await put(small, join(dir, 'objects', 'photo'), photo)).toBeNull();
      expect(hashes.started).toBe(false);
      // a large file in a pool buffer, hashed there, and a small object written from the same buffer
      const i = await pool.acquire();
      const video = randomBytes(200_000);
      pool.buffers[i]!.set(video, 0);
      const id = hashes.open('sha256');
      hashes.update(id, i, 0, video.length);
      const digest = hashes.finish(id);
      hashes.send();
      const page = Buffer.from(pool.buffers[i]!.buffer, pool.buffers[i]!.byteOffset + 1000, 5000);
      expect(await put(small, join(dir, 'objects', 'page'), page)).toBeNull();
      pool.release(i);
      expect((await digest).sha256).toBe(sha(video));
      expect(hashes.started).toBe(true);
      expect(await readFile(join(dir, 'objects', 'photo'))).toEqual(photo);
      expect(await readFile(join(dir, 'objects', 'page'))).toEqual(video.subarray(1000, 6000));
      // both services ran on the one thread the helper made
      expect(helper.boots).toBe(1);
      if (before !== undefined) expect(threads()).toBe(before + 1);
    } finally {
      await hashes.close();
      await small.close(); // the last link closed: the thread stops
    }
    if (before !== undefined) {
      for (let n = 0; n < 100 && threads() !== before; n++) await new Promise((r) => setTimeout(r, 20));
      expect(threads()).toBe(before);
    }
    await helper.close(); // (again: nothing happens)
    // A service asked for after its thread was stopped is refused, as a rejection, and starts nothing.
    const late = new HashThread(pool, { lazy: true, link: helper.link('hash') });
    await expect(late.start()).rejects.toThrow(/closed/);
    expect(helper.boots).toBe(1);
    await late.close();
  });

  it('a failure of the thread fails the work both services still wait for, with an error that names the thread', async () => {
    const dir = await tempDir('import-helper-');
    const pool = new SharedBufferPool(2, 64 << 10);
    const helper = importHelperThread(pool);
    const hashLink = helper.link('hash');
    const hashes = new HashThread(pool, { link: hashLink });
    const small = new SmallWriter({ pool: sharedMemory(pool), link: helper.link('write') });
    try {
      await hashes.start();
      const digest = hashes.finish(hashes.open('sha256')); // asked for, never sent
      // A message the hashing service cannot read throws on the thread, which ends it for both services.
      hashLink.post({ t: 0, i: -1, ops: [99] });
      await expect(digest).rejects.toThrow(/unknown operation 99/);
      // the writer learnt it too: a new object is refused at once, naming what stopped
      const err = await put(small, join(dir, 'never'), Buffer.from('x'));
      expect(err?.message).toMatch(/unknown operation 99|helper thread/);
      await expect(readFile(join(dir, 'never'))).rejects.toThrow(/ENOENT/);
    } finally {
      await hashes.close();
      await small.close();
      await helper.close();
    }
  });
});
