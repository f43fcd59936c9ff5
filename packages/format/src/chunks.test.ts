import { createHash } from 'node:crypto';
import { pseudoRandomBytes } from '../../../fixtures/tree.js';
import { describe, expect, it } from 'vitest';
import {
  ChunkListBuilder, Chunker, averageChunkSize, decodeChunkEntry, encodeChunkEntry, CHUNKED_MIN_SIZE,
  PartTreeWriter, TreeLookup, CHUNKS_TREE_SHAPE, DEFAULT_TREE_SHAPE, type PartRef,
} from './index.js';

function chunkAll(data: Buffer, pieces: number[]): ReturnType<ChunkListBuilder['finish']> {
  const b = new ChunkListBuilder(data.length);
  let at = 0;
  for (const p of pieces) {
    b.update(data.subarray(at, at + p));
    at += p;
  }
  b.update(data.subarray(at));
  return b.finish();
}

describe('content-defined chunks', () => {
  // Seeded, so the cut points (and so the bounds below) are the same on every run.
  const data = pseudoRandomBytes(24 * 1024 * 1024, 7);

  it('cuts the same way however the stream is split, and the hashes are the chunks\' own', () => {
    const whole = chunkAll(data, []);
    const split = chunkAll(data, [1, 7, 65536, 3, 1 << 20, 12345]);
    expect(split).toEqual(whole);
    expect(whole.reduce((s, c) => s + c.length, 0)).toBe(data.length);
    for (const c of whole.slice(0, 20)) {
      expect(c.hash).toBe(createHash('sha256').update(data.subarray(c.offset, c.offset + c.length)).digest('hex').slice(0, 32));
    }
    const avg = averageChunkSize(data.length);
    expect(avg).toBe(65536);
    const mean = data.length / whole.length;
    expect(mean).toBeGreaterThan(avg * 0.6);
    expect(mean).toBeLessThan(avg * 1.6);
    for (const c of whole.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(avg / 4);
      expect(c.length).toBeLessThanOrEqual(avg * 4);
    }
  });

  it('an insertion or an overwrite changes only the chunks around it', () => {
    const before = chunkAll(data, []);
    const inserted = Buffer.concat([data.subarray(0, 10_000_000), pseudoRandomBytes(1 << 20, 8), data.subarray(10_000_000)]);
    const overwritten = Buffer.from(data);
    pseudoRandomBytes(1 << 20, 9).copy(overwritten, 20_000_000);
    for (const changed of [inserted, overwritten]) {
      const after = chunkAll(changed, []);
      const known = new Set(before.map((c) => c.hash));
      const fresh = after.filter((c) => !known.has(c.hash));
      const freshBytes = fresh.reduce((s, c) => s + c.length, 0);
      expect(freshBytes).toBeGreaterThanOrEqual(1 << 20);
      expect(freshBytes).toBeLessThan((1 << 20) + 8 * 65536);
    }
  });

  it('cuts long runs of one byte at the maximum, never below the minimum', () => {
    const zeros = Buffer.alloc(CHUNKED_MIN_SIZE);
    const list = chunkAll(zeros, []);
    for (const c of list.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(65536 / 4);
    expect(list.reduce((s, c) => s + c.length, 0)).toBe(zeros.length);
  });

  it('average chunk size grows with the file so a list stays small', () => {
    expect(averageChunkSize(CHUNKED_MIN_SIZE)).toBe(64 * 1024);
    expect(averageChunkSize(2 ** 30 - 1)).toBe(64 * 1024);
    expect(averageChunkSize(2 ** 30)).toBe(512 * 1024);
    expect(averageChunkSize(8 * 2 ** 30)).toBe(4 * 1024 * 1024);
    expect(() => new Chunker(1000)).toThrow(/power of two/);
  });

  it('chunk entries round-trip and are refused when they do not add up', () => {
    const chunks = chunkAll(data.subarray(0, CHUNKED_MIN_SIZE), []);
    const e = { path: '视频/a.mp4', sha256: 'a'.repeat(64), size: CHUNKED_MIN_SIZE, avg: 65536, chunks };
    const line = encodeChunkEntry(e);
    expect(decodeChunkEntry(line, 't')).toEqual(e);
    expect(() => decodeChunkEntry(encodeChunkEntry({ ...e, size: e.size + 1 }), 't')).toThrow(/average|adds up/);
    expect(() => decodeChunkEntry(line.replace('视频/a.mp4', '../a.mp4'), 't')).toThrow(/\.\./);
  });
});

describe('TreeLookup', () => {
  it('finds keys loading only the parts on their path', async () => {
    for (const shape of [CHUNKS_TREE_SHAPE, DEFAULT_TREE_SHAPE]) {
      const parts = new Map<string, Buffer>();
      const w = new PartTreeWriter((b, sha) => void parts.set(sha, b), shape);
      const keys = Array.from({ length: 5000 }, (_, i) => `d/${String(i).padStart(5, '0')}`);
      for (const k of keys) await w.add(k, JSON.stringify({ path: k, n: k.length }));
      const tree = await w.finish();
      const loads: string[] = [];
      const look = new TreeLookup(tree, async (r: PartRef) => { loads.push(r.sha256); return parts.get(r.sha256)!; }, (l) => (JSON.parse(l) as { path: string }).path, 'test');
      expect(JSON.parse((await look.get('d/01234'))!).path).toBe('d/01234');
      expect(loads.length).toBe(tree.depth);
      expect(await look.get('d/01234x')).toBeUndefined();
      expect(await look.get('a')).toBeUndefined();
      expect(JSON.parse((await look.get('d/04999'))!).path).toBe('d/04999');
      loads.length = 0;
      expect(await look.get('d/04999')).toBeDefined();
      expect(loads.length).toBe(0);
    }
  });
});
