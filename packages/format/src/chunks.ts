import { createHash, type Hash } from 'node:crypto';
import { BookcrateError } from './errors.js';
import { assertBundlePath } from './paths.js';

/**
 * Content-defined chunking (docs/repository.md, "Chunks"). A large file in the network form carries
 * the list of its chunks, cut where the content says (FastCDC with a gear hash and normalised
 * chunking), so an insertion or an overwrite changes only the chunks it touches: a mirror holding
 * the older file rebuilds the new one from its own chunks plus HTTP Range requests for the rest.
 *
 * Everything here is deterministic and shared by publisher and mirror: the gear table, the masks,
 * and the average chunk size chosen from the file size.
 */

/** Files this large or larger get a chunk list; smaller ones are fetched whole. */
export const CHUNKED_MIN_SIZE = 8 * 1024 * 1024;

/** Bytes of a chunk's SHA-256 kept in the list: 128 bits identify a chunk; the whole file's SHA-256 decides. */
export const CHUNK_HASH_BYTES = 16;

/**
 * The average chunk size for a file of `size` bytes: 64 KiB below 1 GiB, then ×8 per ×8 of size, so
 * a list has at most ~16,384 chunks on average (≤ ~450 KB encoded) whatever the file. Classes are
 * wide so an edit rarely moves a file into another class (which would re-cut every chunk).
 */
export function averageChunkSize(size: number): number {
  let avg = 64 * 1024;
  let limit = 1024 * 1024 * 1024;
  while (size >= limit && avg < 32 * 1024 * 1024) {
    avg *= 8;
    limit *= 8;
  }
  return avg;
}

/** 256 pseudo-random 32-bit values from SHA-256, fixed forever (changing them re-cuts every file). */
const GEAR: Int32Array = (() => {
  const g = new Int32Array(256);
  for (let i = 0; i < 256; i++) g[i] = createHash('sha256').update(`bookcrate gear ${i}`).digest().readInt32BE(0);
  return g;
})();

/** The top `bits` bits set: with a shift-left gear hash the top bits depend on the widest window. */
function topMask(bits: number): number {
  return bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1) | 0;
}

/**
 * Finds chunk boundaries in a stream. `push` returns the lengths of the chunks that ended inside
 * the given bytes; `finish` returns the length of the last chunk (0 if none is open). Memory is O(1).
 */
export class Chunker {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  private readonly maskHard: number;
  private readonly maskEasy: number;
  private hash = 0;
  private length = 0;

  constructor(avg: number) {
    if (!Number.isInteger(Math.log2(avg)) || avg < 256) throw new BookcrateError('INTERNAL', `chunk average ${avg} is not a power of two ≥ 256`);
    const bits = Math.log2(avg);
    this.avg = avg;
    this.min = avg / 4;
    this.max = avg * 4;
    // Normalised chunking (level 2): harder to cut before the average, easier after it, so sizes
    // gather around the average instead of spreading geometrically.
    this.maskHard = topMask(bits + 2);
    this.maskEasy = topMask(bits - 2);
  }

  push(buf: Uint8Array): number[] {
    const cuts: number[] = [];
    const G = GEAR;
    let h = this.hash;
    let len = this.length;
    const n = buf.length;
    let i = 0;
    while (i < n) {
      // The first `min` bytes of a chunk can never end it: skip them without hashing.
      if (len < this.min) {
        const skip = Math.min(this.min - len, n - i);
        len += skip;
        i += skip;
        h = 0;
        continue;
      }
      const hardEnd = Math.min(n, i + (this.avg - len > 0 ? this.avg - len : 0));
      let cut = false;
      const mh = this.maskHard;
      for (; i < hardEnd; i++) {
        h = ((h << 1) + G[buf[i]!]!) | 0;
        len++;
        if ((h & mh) === 0) {
          i++;
          cut = true;
          break;
        }
      }
      if (!cut && len >= this.avg) {
        const easyEnd = Math.min(n, i + (this.max - len));
        const me = this.maskEasy;
        for (; i < easyEnd; i++) {
          h = ((h << 1) + G[buf[i]!]!) | 0;
          len++;
          if ((h & me) === 0) {
            i++;
            cut = true;
            break;
          }
        }
        if (!cut && len >= this.max) cut = true;
      }
      if (cut) {
        cuts.push(len);
        len = 0;
        h = 0;
      }
    }
    this.hash = h;
    this.length = len;
    return cuts;
  }

  finish(): number {
    const last = this.length;
    this.length = 0;
    this.hash = 0;
    return last;
  }
}

export interface Chunk {
  offset: number;
  length: number;
  hash: string; // first 16 bytes of the chunk's SHA-256, hex
}

/** Chunks a stream and hashes each chunk, in one pass. Feed buffers in order; `finish` returns the list. */
export class ChunkListBuilder {
  private readonly chunker: Chunker;
  private readonly chunks: Chunk[] = [];
  private offset = 0; // start of the open chunk
  private hasher: Hash = createHash('sha256');

  constructor(readonly size: number) {
    this.chunker = new Chunker(averageChunkSize(size));
  }

  get avg(): number {
    return this.chunker.avg;
  }

  update(buf: Uint8Array): void {
    let from = 0;
    for (const len of this.chunker.push(buf)) {
      // `len` is the whole chunk; `open` bytes of it arrived in earlier buffers and are hashed already.
      const here = len - this.open;
      this.hasher.update(buf.subarray(from, from + here));
      this.close(len);
      from += here;
      this.open = 0;
    }
    this.hasher.update(buf.subarray(from));
    this.open += buf.length - from;
  }

  private open = 0; // bytes of the open chunk seen so far

  private close(len: number): void {
    this.chunks.push({ offset: this.offset, length: len, hash: this.hasher.digest().subarray(0, CHUNK_HASH_BYTES).toString('hex') });
    this.offset += len;
    this.hasher = createHash('sha256');
  }

  finish(): Chunk[] {
    const last = this.chunker.finish();
    if (last > 0) this.close(last);
    return this.chunks;
  }
}

/** One line of the chunks tree (key `path`): the chunk list of one large file. */
export interface ChunkEntry {
  path: string;
  sha256: string; // the whole file's SHA-256 (must equal the files tree's)
  size: number;
  avg: number;
  chunks: Chunk[];
}

export function encodeChunkEntry(e: ChunkEntry): string {
  const packed = Buffer.alloc(e.chunks.length * (4 + CHUNK_HASH_BYTES));
  e.chunks.forEach((c, i) => {
    const at = i * (4 + CHUNK_HASH_BYTES);
    packed.writeUInt32BE(c.length, at);
    packed.write(c.hash, at + 4, 'hex');
  });
  return JSON.stringify({ path: e.path, sha256: e.sha256, size: e.size, avg: e.avg, chunks: packed.toString('base64') });
}

export function decodeChunkEntry(line: string, where: string): ChunkEntry {
  const bad = (what: string): never => {
    throw new BookcrateError('FORMAT', `${where}: chunk list ${what}`, { hint: 'the manifest is malformed; the upstream may be damaged or hostile' });
  };
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return bad('is not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad('is not a JSON object');
  if (typeof o.path !== 'string') bad('has no path');
  assertBundlePath(o.path as string, where);
  if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256)) bad('has a malformed sha256');
  if (!Number.isSafeInteger(o.size) || (o.size as number) < 0) bad('has a malformed size');
  if (o.avg !== averageChunkSize(o.size as number)) bad('has an average that does not match its size');
  if (typeof o.chunks !== 'string') bad('has no chunks');
  const packed = Buffer.from(o.chunks as string, 'base64');
  const step = 4 + CHUNK_HASH_BYTES;
  if (packed.length % step !== 0) bad('is truncated');
  const chunks: Chunk[] = [];
  let offset = 0;
  for (let at = 0; at < packed.length; at += step) {
    const length = packed.readUInt32BE(at);
    if (length === 0) bad('has an empty chunk');
    chunks.push({ offset, length, hash: packed.subarray(at + 4, at + step).toString('hex') });
    offset += length;
  }
  if (offset !== o.size) bad(`adds up to ${offset} bytes, not ${o.size as number}`);
  return { path: o.path as string, sha256: o.sha256 as string, size: o.size as number, avg: o.avg as number, chunks };
}

/** The chunks tree holds one file per leaf part, so a changed file costs one small part, not a neighbour's list. */
export const CHUNKS_TREE_SHAPE = { leafAverage: 1, indexAverage: 64, maxPartBytes: 1 << 20, rootMax: 256 } as const;
