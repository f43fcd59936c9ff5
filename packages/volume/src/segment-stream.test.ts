import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../../fixtures/tree.js';
import { SharedBufferPool } from './buffer-pool.js';
import { directReadWorks } from './reader.js';
import { ChunkPool, SegmentStream } from './segment-stream.js';

const CHUNK = 1 << 20;

/** Everything the stream hands out, in pieces of `step` bytes by take (and skip for every third). */
async function readAll(path: string, direct: boolean, step: number): Promise<{ bytes: Buffer; skipped: number; direct: boolean }> {
  const pool = new ChunkPool(new SharedBufferPool(4, CHUNK));
  const s = await SegmentStream.open(path, pool, { depth: 2, direct });
  const out: Buffer[] = [];
  let skipped = 0;
  try {
    for (let i = 0; ; i++) {
      if (i % 3 === 2) {
        const n = await s.skip(step);
        out.push(Buffer.alloc(n)); // a hole the size of what was skipped, to keep positions
        skipped += n;
        if (n < step) break;
        continue;
      }
      const got = await s.take(step, (b) => void out.push(Buffer.from(b)));
      if (got < step) break;
    }
    return { bytes: Buffer.concat(out), skipped, direct: s.direct };
  } finally {
    await s.close();
  }
}

/** The file's bytes with the skipped ranges zeroed, as readAll returns them. */
function expected(data: Buffer, step: number): Buffer {
  const e = Buffer.from(data);
  for (let at = 2 * step; at < e.length; at += 3 * step) e.fill(0, at, Math.min(e.length, at + step));
  return e;
}

describe('SegmentStream', () => {
  // Sizes that end on and off the 4096-byte blocks O_DIRECT reads, and on a chunk boundary.
  for (const size of [0, 1, 4096, 5 * CHUNK, 3 * CHUNK + 12345]) {
    it(`hands out every byte of a ${size}-byte file in order, through the page cache and past it`, async () => {
      const dir = await tempDir();
      const path = join(dir, 'seg.tar');
      const data = randomBytes(size);
      // Written and not synced: a read past the cache must still see these bytes (the kernel writes
      // dirty pages of the range back before an O_DIRECT read).
      await writeFile(path, data);
      const canDirect = await directReadWorks(path);
      for (const step of [4093, 700_000]) {
        const cached = await readAll(path, false, step);
        expect(cached.direct).toBe(false);
        expect(cached.bytes.equals(expected(data, step))).toBe(true);
        const direct = await readAll(path, true, step);
        expect(direct.direct).toBe(canDirect);
        expect(direct.bytes.equals(expected(data, step))).toBe(true);
        expect(direct.skipped).toBe(cached.skipped);
      }
    });
  }

  it('sees a file that grew after it was opened to its new end, past the page cache too', async () => {
    const dir = await tempDir();
    const path = join(dir, 'grow.tar');
    const first = randomBytes(2 * CHUNK + 100);
    await writeFile(path, first);
    const pool = new ChunkPool(new SharedBufferPool(4, CHUNK));
    const s = await SegmentStream.open(path, pool, { depth: 1, direct: true });
    const more = randomBytes(5000);
    const h = await open(path, 'a');
    await h.write(more);
    await h.close();
    const out: Buffer[] = [];
    await s.take(first.length + more.length + 10, (b) => void out.push(Buffer.from(b)));
    await s.close();
    // The size seen at opening is where the stream looks for the end: it reads on to the real end.
    expect(Buffer.concat(out).equals(Buffer.concat([first, more]))).toBe(true);
  });

  describe('seekTo', () => {
    /** A sparse 64 MiB file with random marks of 64 KiB at known places; what the stream reads is counted. */
    async function marked(): Promise<{ path: string; marks: Map<number, Buffer>; size: number }> {
      const dir = await tempDir();
      const path = join(dir, 'sparse.tar');
      const size = 64 * CHUNK + 777;
      const marks = new Map<number, Buffer>([[0, randomBytes(65536)], [30 * CHUNK + 4095, randomBytes(65536)], [50 * CHUNK + 1, randomBytes(65536)], [size - 65536, randomBytes(65536)]]);
      const h = await open(path, 'w');
      try {
        await h.truncate(size);
        for (const [at, b] of marks) await h.write(b, 0, b.length, at);
      } finally {
        await h.close();
      }
      return { path, marks, size };
    }

    for (const direct of [false, true]) {
      it(`jumps far ahead without reading what lies between (${direct ? 'past the page cache' : 'through it'}), and hands out the right bytes there`, async () => {
        const { path, marks, size } = await marked();
        const buffers = new SharedBufferPool(4, CHUNK);
        let observed = 0;
        let jumped = 0;
        const s = await SegmentStream.open(path, new ChunkPool(buffers), { depth: 2, direct, observe: (n) => void (observed += n), passed: (n) => void (jumped += n) });
        try {
          const got: Buffer[] = [];
          const takeAt = async (at: number, n: number): Promise<Buffer> => {
            expect(await s.seekTo(at)).toBe(true);
            expect(s.offset).toBe(at);
            got.length = 0;
            expect(await s.take(n, (b) => void got.push(Buffer.from(b)))).toBe(n);
            return Buffer.concat(got);
          };
          for (const [at, b] of marks) expect((await takeAt(at, b.length)).equals(b)).toBe(true);
          expect(s.offset).toBe(size);
          expect(await s.skip(1)).toBe(0); // the end
          // What was handed out: the marks and the chunks around them, a few MiB; the rest was passed over.
          expect(jumped).toBeGreaterThan(size - 16 * CHUNK);
          expect(observed + jumped).toBe(size);
          expect(observed).toBeLessThan(16 * CHUNK);
        } finally {
          await s.close();
        }
        // every buffer is back in the pool: the jumps let go of the reads ahead
        for (let i = 0; i < 4; i++) expect(buffers.tryAcquire()).toBeDefined();
      });
    }

    it('skips a short way in the buffers, refuses to go back, and says when the file ends first', async () => {
      const { path, marks, size } = await marked();
      let jumped = 0;
      const s = await SegmentStream.open(path, new ChunkPool(new SharedBufferPool(4, CHUNK)), { depth: 2, passed: (n) => void (jumped += n) });
      try {
        const first = marks.get(0)!;
        expect(await s.seekTo(1000)).toBe(true);
        const got: Buffer[] = [];
        await s.take(10, (b) => void got.push(Buffer.from(b)));
        expect(Buffer.concat(got).equals(first.subarray(1000, 1010))).toBe(true);
        expect(jumped).toBe(0); // within the chunk at hand: nothing to gain by a jump
        await expect(s.seekTo(5)).rejects.toThrow(RangeError);
        expect(await s.seekTo(size + 100)).toBe(false);
        expect(s.offset).toBe(size);
        expect(jumped).toBeGreaterThan(size - 8 * CHUNK);
      } finally {
        await s.close();
      }
    });
  });
});
