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
});
