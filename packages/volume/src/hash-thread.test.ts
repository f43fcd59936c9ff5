import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FastHasher, initHashing } from '@bookcrate/format';
import { SharedBufferPool } from './buffer-pool.js';
import { HashThread } from './hash-thread.js';
import { readAhead } from './read-ahead.js';
import { ChunkPool, SegmentStream } from './segment-stream.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const xxh = (b: Uint8Array): string => {
  const h = new FastHasher();
  h.update(b);
  return h.digest();
};

describe('HashThread over a SharedBufferPool (a real worker thread)', () => {
  beforeAll(() => initHashing());

  it('hashes files laid across buffers, each with the digests it asked for, and frees every buffer', async () => {
    const pool = new SharedBufferPool(3, 64 << 10);
    const hashes = new HashThread(pool);
    await hashes.start();
    try {
      // A stream of files of many sizes, written through the buffers as a writer would.
      const files = [0, 1, 31, 32, 33, 4096, 65_535, 65_536, 200_000, 7, 100_001].map((n) => randomBytes(n));
      const kinds = ['dual', 'sha256', 'xxh64'] as const;
      const results: Promise<{ sha256: string; xxh64: string }>[] = [];
      let index = await pool.acquire();
      let used = 0;
      for (const [n, f] of files.entries()) {
        const id = hashes.open(kinds[n % 3]!);
        let p = 0;
        while (p < f.length) {
          if (used === pool.bufferBytes) {
            hashes.send();
            pool.release(index); // the writer's hold: the thread keeps its own until hashed
            index = await pool.acquire();
            used = 0;
          }
          const k = Math.min(f.length - p, pool.bufferBytes - used);
          pool.buffers[index]!.set(f.subarray(p, p + k), used);
          hashes.update(id, index, used, k);
          used += k;
          p += k;
        }
        results.push(hashes.finish(id));
      }
      hashes.send();
      pool.release(index);
      const got = await Promise.all(results);
      files.forEach((f, n) => {
        const kind = kinds[n % 3]!;
        expect(got[n]!.sha256).toBe(kind === 'xxh64' ? '' : sha(f));
        expect(got[n]!.xxh64).toBe(kind === 'sha256' ? '' : xxh(f));
      });
      // every buffer is free again: all three can be taken without waiting
      const taken = [pool.tryAcquire(), pool.tryAcquire(), pool.tryAcquire()];
      expect(taken.every((i) => i !== undefined)).toBe(true);
    } finally {
      await hashes.close();
    }
  });

  it('hashes bytes from outside the pool, larger than its scratch area', async () => {
    const pool = new SharedBufferPool(1, 64 << 10);
    const hashes = new HashThread(pool);
    await hashes.start();
    try {
      const data = randomBytes(300_000);
      const id = hashes.open('dual');
      hashes.updateBytes(id, data.subarray(0, 123_456));
      hashes.updateBytes(id, data.subarray(123_456));
      const d = hashes.finish(id);
      hashes.send();
      expect(await d).toEqual({ sha256: sha(data), xxh64: xxh(data) });
    } finally {
      await hashes.close();
    }
  });

  it('lazy: no thread until the first batch is sent; then the same digests; closed unused, it never starts', async () => {
    const pool = new SharedBufferPool(1, 64 << 10);
    const unused = new HashThread(pool, { lazy: true });
    unused.send(); // nothing recorded: nothing to start for
    expect(unused.started).toBe(false);
    await unused.close();
    await expect(unused.start()).rejects.toThrow(/closed/);
    expect(unused.started).toBe(false);

    const hashes = new HashThread(pool, { lazy: true });
    try {
      const data = randomBytes(50_000);
      const index = await pool.acquire();
      pool.buffers[index]!.set(data, 0);
      const id = hashes.open('sha256');
      expect(hashes.started).toBe(false); // recorded, not sent
      hashes.update(id, index, 0, data.length);
      const d = hashes.finish(id);
      hashes.send();
      pool.release(index);
      expect(hashes.started).toBe(true);
      expect((await d).sha256).toBe(sha(data));
    } finally {
      await hashes.close();
    }
  });
});

describe('SegmentStream', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bookcrate-stream-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('hands out a file in order through a small pool, and hashes it in place', async () => {
    const data = randomBytes(1_000_003);
    const path = join(dir, 'seg.tar');
    await writeFile(path, data);
    await initHashing();
    const pool = new SharedBufferPool(4, 64 << 10);
    const hashes = new HashThread(pool);
    await hashes.start();
    try {
      const s = await SegmentStream.open(path, new ChunkPool(pool), { depth: 2, onStarve: () => hashes.send() });
      const id = hashes.open('dual');
      const copy: Buffer[] = [];
      let total = 0;
      for (const n of [0, 1, 100, 65_535, 65_537, 300_000]) {
        total += await s.take(n, (b, chunk) => {
          copy.push(Buffer.from(b));
          hashes.update(id, chunk.index, b.byteOffset - chunk.buf.byteOffset, b.length);
        });
      }
      const rest = await s.take(10_000_000, (b, chunk) => {
        copy.push(Buffer.from(b));
        hashes.update(id, chunk.index, b.byteOffset - chunk.buf.byteOffset, b.length);
      });
      expect(total + rest).toBe(data.length);
      expect(s.offset).toBe(data.length);
      expect(Buffer.concat(copy).equals(data)).toBe(true);
      const d = hashes.finish(id);
      hashes.send();
      expect(await d).toEqual({ sha256: sha(data), xxh64: xxh(data) });
      await s.close();
    } finally {
      await hashes.close();
    }
  });
});

describe('readAhead', () => {
  async function* numbers(n: number, failAt = -1): AsyncGenerator<number> {
    for (let i = 0; i < n; i++) {
      if (i === failAt) throw new Error(`failed at ${i}`);
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
      yield i;
    }
  }

  it('yields everything in order, never more than max ahead', async () => {
    const out: number[] = [];
    for await (const v of readAhead(numbers(10_000), 100)) out.push(v);
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });

  it('with a weight, holds items weighing at most max ahead (one more when the last is heavy)', async () => {
    // batches of 1 to 9 numbers; the consumer checks, at each batch, what the source has produced
    let produced = 0;
    async function* batches(): AsyncGenerator<number[]> {
      for (let i = 0; i < 400; i++) {
        const b = Array.from({ length: 1 + (i % 9) }, (_, k) => produced + k);
        produced += b.length;
        if (i % 5 === 0) await new Promise((r) => setImmediate(r));
        yield b;
      }
    }
    const out: number[] = [];
    let mostAhead = 0;
    for await (const b of readAhead(batches(), 40, (x) => x.length)) {
      out.push(...b);
      mostAhead = Math.max(mostAhead, produced - out.length);
      if (out.length % 3 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(out).toEqual(Array.from({ length: out.length }, (_, i) => i));
    expect(out.length).toBe(produced);
    expect(mostAhead).toBeGreaterThan(20); // it did read ahead
    expect(mostAhead).toBeLessThan(40 + 9); // and no further than max, plus the batch that crossed it
  });

  it('passes the source error on after the items before it', async () => {
    const out: number[] = [];
    await expect((async () => {
      for await (const v of readAhead(numbers(50, 30), 8)) out.push(v);
    })()).rejects.toThrow('failed at 30');
    expect(out).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('stops the source when the consumer stops early', async () => {
    let closed = false;
    async function* source(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    for await (const v of readAhead(source(), 16)) if (v === 5) break;
    expect(closed).toBe(true);
  });
});
