import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBookcrateError } from '@bookcrate/format';
import { dropCachedPages } from '@bookcrate/volume';
import { tempDir } from '../../../fixtures/tree.js';
import { RING_ALIGN, Ring, SourceReader } from './source-reader.js';
import type { InventoryItem } from './walk.js';

let work: string;
const files = new Map<string, Buffer>();
beforeAll(async () => {
  work = await tempDir('bookcrate-source-');
  for (let i = 0; i < 300; i++) {
    const data = randomBytes(i === 7 ? 0 : 1000 + ((i * 7919) % 60_000));
    files.set(`f${i}`, data);
    await writeFile(join(work, `f${i}`), data);
  }
});

async function itemOf(name: string, over: Partial<InventoryItem> = {}): Promise<InventoryItem> {
  const src = join(work, name);
  const st = await stat(src).catch(() => undefined);
  return { path: `c/${name}`, src, type: 'file', size: st?.size ?? 10, mtime: st ? Math.floor(st.mtimeMs / 1000) : 0, collection: 'c', ...over };
}

async function readAll(reader: SourceReader, item: InventoryItem): Promise<Buffer> {
  const f = await reader.take(item);
  const out = Buffer.alloc(item.size);
  try {
    await f.readInto(out, item.size);
    await f.finish();
  } finally {
    await f.close();
  }
  return out;
}

describe('SourceReader (small files through the reader thread and the ring)', () => {
  let reader: SourceReader;
  beforeAll(() => {
    reader = new SourceReader();
  });
  afterAll(() => reader.close());

  it('hands every file back whole and in order, more files than the ring holds at once', async () => {
    const items = await Promise.all([...files.keys()].map((n) => itemOf(n)));
    let next = 0;
    for (const item of items) {
      // hint ahead as pack does, while the ring has room
      while (next < items.length && reader.hint(items[next]!)) next++;
      expect((await readAll(reader, item)).equals(files.get(item.src.toString().split('/').pop()!)!)).toBe(true);
    }
  });

  it('refuses a hint while the ring is full, takes it once room came back, and reads an unhinted file anyway', async () => {
    const big = new Map<string, Buffer>();
    for (let i = 0; i < 40; i++) {
      const data = randomBytes(Math.floor(SourceReader.RING / 12) + i * 1000); // 40 files of ~1/12 of the ring each: more than it holds
      big.set(`big${i}`, data);
      await writeFile(join(work, `big${i}`), data);
    }
    const items = await Promise.all([...big.keys()].map((n) => itemOf(n)));
    const r = new SourceReader();
    try {
      let hinted = 0;
      while (hinted < items.length && r.hint(items[hinted]!)) hinted++;
      expect(hinted).toBeGreaterThan(5);
      expect(hinted).toBeLessThan(items.length); // the ring filled up
      let refusedThenTaken = 0;
      for (let i = 0; i < items.length; i++) {
        if (i === items.length - 1) {
          // the last one is never hinted: read on this thread
          expect((await readAll(r, items[i]!)).equals(big.get(`big${i}`)!)).toBe(true);
          continue;
        }
        expect((await readAll(r, items[i]!)).equals(big.get(`big${i}`)!)).toBe(true);
        // room came back: hints go on where they stopped, in order
        while (hinted < items.length - 1 && r.hint(items[hinted]!)) {
          hinted++;
          refusedThenTaken++;
        }
      }
      expect(refusedThenTaken).toBeGreaterThan(0);
    } finally {
      await r.close();
    }
  });

  it('names a file that changed size, changed time or vanished since the scan', async () => {
    const cases: [InventoryItem, RegExp][] = [
      [await itemOf('f1', { size: 1000 + ((1 * 7919) % 60_000) - 5 }), /c\/f1 changed while it was being packed \(its size went from/],
      [await itemOf('f2', { mtime: 12345 }), /c\/f2 changed while it was being packed \(its modification time moved\)/],
      [await itemOf('gone'), /c\/gone changed while it was being packed \(it was deleted\)/],
    ];
    for (const [item, message] of cases) {
      reader.hint(item);
      const e = await readAll(reader, item).then(() => undefined, (err: unknown) => err);
      expect(isBookcrateError(e) && e.code).toBe('SOURCE_CHANGED');
      expect(String((e as Error).message)).toMatch(message);
    }
  });
});

describe('the reader thread: here while reads are fast, through libuv\'s pool after a slow one (small-reader-worker.ts)', () => {
  // slowReadMs -1: every read on the thread counts as slow (as on a cold disk); Infinity: none does
  // (the page cache). Either way every file comes back whole and a changed one is named.
  it.each([[-1, 'every read slow'], [Infinity, 'every read fast']])('slowReadMs %s (%s): the same bytes, the same reports', async (slowReadMs) => {
    const items = await Promise.all([...files.keys()].map((n) => itemOf(n)));
    const r = new SourceReader({ slowReadMs });
    try {
      let next = 0;
      for (const item of items) {
        while (next < items.length && r.hint(items[next]!)) next++;
        expect((await readAll(r, item)).equals(files.get(item.src.toString().split('/').pop()!)!)).toBe(true);
      }
      const shrunk = await itemOf('f3', { size: 1000 + ((3 * 7919) % 60_000) + 9 });
      expect(r.hint(shrunk)).toBe(true);
      const e = await readAll(r, shrunk).then(() => undefined, (err: unknown) => err);
      expect(isBookcrateError(e) && e.code).toBe('SOURCE_CHANGED');
      expect(String((e as Error).message)).toMatch(/c\/f3 changed while it was being packed \(it became shorter\)/);
      const { here, pooled } = r.smallReads;
      expect(here + pooled).toBeGreaterThanOrEqual(items.length); // the empty file may not need the thread
      if (slowReadMs === Infinity) {
        expect(pooled).toBe(0);
      } else {
        // one read here, then a stretch through the pool of 8, 16, … 256, 256 files, each followed by one here to look
        let left = here + pooled;
        let looks = 0;
        for (let stretch = 0; left > 0; left -= Math.min(left, stretch)) {
          looks++;
          left--;
          stretch = stretch === 0 ? 8 : Math.min(2 * stretch, 256);
        }
        expect(here).toBe(looks);
        expect(pooled).toBeGreaterThan(here);
      }
    } finally {
      await r.close();
    }
  });
});

describe('the reader thread\'s own rule: a read the page cache answered, or one the disk had to', () => {
  it('reads files the disk must bring through the pool, and the same files once cached on the thread', async () => {
    const dir = join(work, 'cold');
    await mkdir(dir);
    const cold = new Map<string, Buffer>();
    for (let i = 0; i < 300; i++) {
      const data = randomBytes(4096 + ((i * 7919) % 4096));
      const path = join(dir, `p${i}.jpg`);
      await writeFile(path, data);
      cold.set(path, data);
    }
    execFileSync('sync', ['-f', dir]); // a dirty page cannot be dropped
    const paths = [...cold.keys()];
    for (let i = 0; i < paths.length; i += 16) {
      expect(await Promise.all(paths.slice(i, i + 16).map(dropCachedPages))).toEqual(paths.slice(i, i + 16).map(() => true));
    }
    const items = await Promise.all([...cold.keys()].map((p) => itemOf(`cold/${p.split('/').pop()}`)));
    const readAllOnce = async (): Promise<{ here: number; pooled: number }> => {
      const r = new SourceReader();
      try {
        let next = 0;
        for (const item of items) {
          while (next < items.length && r.hint(items[next]!)) next++;
          expect((await readAll(r, item)).equals(cold.get(item.src as string)!)).toBe(true);
        }
        return r.smallReads;
      } finally {
        await r.close();
      }
    };
    const fromDisk = await readAllOnce();
    expect(fromDisk.here + fromDisk.pooled).toBe(items.length);
    // read here, the disk answered: 8 through the pool, then 16, 32, … 256 while it goes on answering
    expect(fromDisk.here).toBeLessThan(10); // 6 where the disk answers each (by time alone: 41, from this VM's disk)
    const fromCache = await readAllOnce();
    expect(fromCache.here + fromCache.pooled).toBe(items.length);
    expect(fromCache.here).toBeGreaterThan(fromCache.pooled); // a read slowed by a busy machine costs a stretch of 8
  });
});

describe('Ring (the small files\' read-ahead space)', () => {
  it('starts every slot on a cache line, wraps around, and never hands out bytes still held', () => {
    const ring = new Ring(64 << 10);
    const live: { slot: [number, number, boolean]; offset: number; n: number }[] = [];
    let given = 0;
    let wrapped = 0;
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const n = 1 + ((i * 7919) % 5000); // odd sizes: without alignment most slots would start off a word
      const got = ring.alloc(n);
      if (!got) {
        refused++;
        // release the oldest half, as the writer takes files in order
        for (const l of live.splice(0, Math.max(1, live.length >> 1))) ring.release(l.slot);
        continue;
      }
      expect(got.offset % RING_ALIGN).toBe(0);
      expect(got.bytes.length).toBe(n);
      expect(got.offset + n).toBeLessThanOrEqual(ring.size);
      for (const l of live) expect(got.offset >= l.offset + l.n || got.offset + n <= l.offset).toBe(true);
      if (live.length > 0 && got.offset < live[live.length - 1]!.offset) wrapped++;
      live.push({ slot: got.slot, offset: got.offset, n });
      given++;
    }
    expect(given).toBeGreaterThan(1000);
    expect(wrapped).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  });
});
