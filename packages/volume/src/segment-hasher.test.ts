import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FastHasher, initHashing, isBookcrateError } from '@bookcrate/format';
import { SegmentHasher } from './segment-hasher.js';
import { noteSegmentLinks, segmentsToLocate } from './check-walk.js';
import type { PlacedEntry } from './open.js';

const xxh = (b: Uint8Array): string => {
  const h = new FastHasher();
  h.update(b);
  return h.digest();
};

describe('SegmentHasher (a real worker thread reading real files)', () => {
  let dir: string;
  beforeAll(async () => {
    await initHashing();
    dir = await mkdtemp(join(tmpdir(), 'bookcrate-hasher-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('gives the XXH64 of each whole file, in the order asked, across its reads, and says how far it is', async () => {
    // sizes around the 128 KiB read: less, exactly, one byte more, several reads and a tail
    const sizes = [1, 131_072, 131_073, 5 * 131_072 + 777, 0, 3 << 20];
    const files = sizes.map((n) => randomBytes(n));
    await Promise.all(files.map((b, i) => writeFile(join(dir, `s${i}.tar`), b)));
    const hasher = new SegmentHasher();
    const seen: number[] = [];
    try {
      const order = [3, 1, 6, 2, 5, 4];
      const digests = await hasher.hash(order.map((i) => ({ index: i, path: join(dir, `s${i - 1}.tar`) })), {
        direct: false, probe: join(dir, 's0.tar'), progressBytes: 1 << 20, onBytes: (n) => seen.push(n),
      });
      expect(digests.map((d) => d.index)).toEqual(order);
      for (const d of digests) {
        expect(d.xxh64).toBe(xxh(files[d.index - 1]!));
        expect(d.size).toBe(sizes[d.index - 1]);
      }
      const total = sizes.reduce((a, n) => a + n, 0);
      expect(seen.at(-1)).toBe(total);
      expect(seen.some((n) => n > 0 && n < total)).toBe(true);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    } finally {
      await hasher.close();
    }
  });

  it('names the segment it cannot read (IO), and close() ends a hash under way', async () => {
    await writeFile(join(dir, 'ok.tar'), randomBytes(1000));
    const hasher = new SegmentHasher();
    try {
      const err = await hasher.hash([{ index: 1, path: join(dir, 'ok.tar') }, { index: 2, path: join(dir, 'gone.tar') }], { direct: false, probe: join(dir, 'ok.tar'), progressBytes: 1 << 20 }).catch((e: unknown) => e);
      expect(isBookcrateError(err) && err.code).toBe('IO');
      expect((err as Error).message).toContain(join(dir, 'gone.tar'));
    } finally {
      await hasher.close();
    }
    const stopped = new SegmentHasher();
    await writeFile(join(dir, 'big.tar'), Buffer.alloc(64 << 20));
    const outcome = stopped.hash([{ index: 1, path: join(dir, 'big.tar') }], { direct: false, probe: join(dir, 'big.tar'), progressBytes: 1 << 30 }).catch((e: unknown) => e);
    await stopped.close();
    expect(String(await outcome)).toMatch(/stopped/);
  });
});

describe('which segments a damaged one is checked with', () => {
  const placed = (path: string, segments: number[]): PlacedEntry => ({
    entry: { path, type: 'file', size: 1, mtime: 0 } as PlacedEntry['entry'],
    members: segments.map((segment, i) => ({ path, segment, offset: i === 0 ? 512 : 0, length: 1 }) as PlacedEntry['members'][number]),
  });

  it('follows every file that continues from segment to segment, on this volume only', () => {
    // this volume holds segments 3..9; a file runs 2→3 (from the volume before), one 4→5→6, one 8→9
    const mine = new Set([3, 4, 5, 6, 7, 8, 9]);
    const links = new Set<number>();
    noteSegmentLinks([placed('a', [2, 3]), placed('b', [3]), placed('c', [4, 5, 6]), placed('d', [7]), placed('e', [8, 9])], mine, links);
    expect([...links].sort()).toEqual([4, 5, 8]);
    expect(segmentsToLocate([5], links, mine)).toEqual([4, 5, 6]);
    expect(segmentsToLocate([6], links, mine)).toEqual([4, 5, 6]);
    expect(segmentsToLocate([7], links, mine)).toEqual([7]);
    expect(segmentsToLocate([3, 9], links, mine)).toEqual([3, 8, 9]);
    expect(segmentsToLocate([], links, mine)).toEqual([]);
  });
});
