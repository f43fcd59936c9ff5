import { randomBytes } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBookcrateError } from '@bookcrate/format';
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
