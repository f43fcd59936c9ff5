import { close, constants, fstat, open, read } from 'node:fs';
import { readAt } from './fsio.js';
import type { SharedBufferPool } from './buffer-pool.js';

/**
 * One buffer of a SharedBufferPool as the stream hands it out. Whoever keeps a slice of it past the
 * `take` callback (a write still in flight, the hashing thread) holds it; the buffer is filled again
 * only when the last hold is released. So slices are handed out without a copy and a buffer is
 * never overwritten while a write or the hasher still reads from it.
 */
export class Chunk {
  len = 0;
  constructor(readonly index: number, readonly buf: Buffer, private readonly pool: SharedBufferPool) {}
  retain(): void {
    this.pool.hold(this.index);
  }
  release(): void {
    this.pool.release(this.index);
  }
}

/** The chunks of a pool, one per buffer, made once. */
export class ChunkPool {
  private readonly chunks: Chunk[];
  readonly chunkSize: number;
  constructor(readonly pool: SharedBufferPool) {
    this.chunks = pool.buffers.map((b, i) => new Chunk(i, b, pool));
    this.chunkSize = pool.bufferBytes;
  }

  /** A free chunk with one hold (the caller's), or undefined when all are held. */
  get(): Chunk | undefined {
    const i = this.pool.tryAcquire();
    if (i === undefined) return undefined;
    const c = this.chunks[i]!;
    c.len = 0;
    return c;
  }

  whenFree(): Promise<void> {
    return this.pool.whenFree();
  }
}

/** Where a stream's bytes come from: reads are issued in file order, possibly several at once. */
interface ByteSource {
  /** the size when opened */
  readonly size: number;
  /** reads past the page cache (O_DIRECT) */
  readonly direct: boolean;
  /** Fills buf[0, want) from position `at`; fewer bytes only at the end of the file. */
  read(buf: Buffer, want: number, at: number): Promise<number>;
  close(): Promise<void>;
}

/** Reads through the page cache, with positioned reads. */
async function fileSource(path: string): Promise<ByteSource> {
  const fd = await new Promise<number>((resolve, reject) => open(path, 'r', (e, f) => (e ? reject(e) : resolve(f))));
  const size = await new Promise<number>((resolve, reject) => fstat(fd, (e, st) => (e ? reject(e) : resolve(st.size)))).catch((e) => {
    close(fd, () => undefined);
    throw e;
  });
  return {
    size,
    direct: false,
    read: (buf, want, at) => readAt(fd, buf, want, at),
    close: () => new Promise<void>((resolve) => close(fd, () => resolve())),
  };
}

/** O_DIRECT's alignment of positions, lengths and buffer addresses (the logical block size or a multiple) */
const DIRECT_ALIGN = 4096;

/**
 * Reads past the page cache (O_DIRECT) where the request allows: the device writes straight into
 * the (page-aligned) buffer, so the kernel does not copy every byte out of cached pages (0.4–0.9 s
 * of CPU per GiB on the benchmark host, docs/performance.md, run R), and the pages of a disk read
 * once are not kept. A request at an unaligned position or into an unaligned buffer goes through a
 * second, ordinary descriptor. Linux writes back a range's dirty pages before such a read, so it
 * sees what was written. Each request depends on the device's latency (nothing reads ahead): keep
 * several in flight (`depth`). undefined where the filesystem or platform refuses the flag (tmpfs on
 * older kernels, some FUSE filesystems, Windows, macOS).
 */
async function directFileSource(path: string): Promise<ByteSource | undefined> {
  if (typeof constants.O_DIRECT !== 'number') return undefined;
  const direct = await new Promise<number | undefined>((resolve) => open(path, constants.O_RDONLY | constants.O_DIRECT, (e, f) => resolve(e ? undefined : f)));
  if (direct === undefined) return undefined;
  let plain: ByteSource;
  try {
    plain = await fileSource(path);
  } catch (e) {
    close(direct, () => undefined);
    throw e;
  }
  const readDirect = (buf: Buffer, want: number, at: number): Promise<number> => new Promise((resolve, reject) => {
    // Whole blocks; the buffer has room for them (checked by the caller). Fewer bytes: the end of the file.
    const ask = Math.ceil(want / DIRECT_ALIGN) * DIRECT_ALIGN;
    let got = 0;
    const step = (): void => {
      read(direct, buf, got, ask - got, at + got, (err, n) => {
        if (err) return reject(err);
        got += n;
        // A short read of whole blocks (a signal) is continued; anything else is the end of the file.
        if (n > 0 && got < ask && n % DIRECT_ALIGN === 0) return step();
        resolve(Math.min(got, want));
      });
    };
    step();
  });
  return {
    size: plain.size,
    direct: true,
    read: (buf, want, at) => {
      const aligned = at % DIRECT_ALIGN === 0 && buf.byteOffset % DIRECT_ALIGN === 0 && buf.length >= Math.ceil(want / DIRECT_ALIGN) * DIRECT_ALIGN;
      return aligned && want > 0 ? readDirect(buf, want, at).catch((e: NodeJS.ErrnoException) => {
        // Some filesystems accept the flag at open and refuse the read: the ordinary way then.
        if (e.code === 'EINVAL') return plain.read(buf, want, at);
        throw e;
      }) : plain.read(buf, want, at);
    },
    close: async () => {
      await new Promise<void>((resolve) => close(direct, () => resolve()));
      await plain.close();
    },
  };
}

export interface StreamOptions {
  /**
   * Read past the page cache where the filesystem allows (O_DIRECT; the pool's buffers must be
   * page-aligned, as a SharedBufferPool's are). For a disk read once from start to end.
   */
  direct?: boolean;
  /** reads issued ahead of the consumer (default 2) */
  depth?: number;
  /**
   * Where to start: the 4 KiB block that holds it (the stream's `offset` then says where it is;
   * `seekTo` goes on from there). For a segment read again past a place the disk could not read.
   */
  at?: number;
  /** the largest read asked of the disk (default: the pool's buffer size); small past a bad place, so one does not take its neighbours with it */
  readSize?: number;
  /** sees every chunk as it becomes current, before any of it is handed out */
  observe?: (n: number, chunk: Chunk) => void;
  /** called when every buffer is held and the stream must wait for one */
  onStarve?: () => void;
  /**
   * sees the bytes `seekTo` passes over: never seen by `observe` (the reads ahead it let go among
   * them); with the bytes observed, they make up the file up to the position
   */
  passed?: (n: number) => void;
}

/**
 * A read of the segment failed (EIO: a bad sector of an old USB disk, or the disk gone) at `offset`.
 * Thrown when the stream reaches that position, not before: the bytes before it are handed out.
 * The stream is then finished; a reader that goes on opens the segment again past the bad place.
 */
export class SegmentReadError extends Error {
  constructor(readonly path: string, readonly offset: number, readonly reason: NodeJS.ErrnoException) {
    super(`cannot read ${path} at byte ${offset}: ${reason.message}`, { cause: reason });
    this.name = 'SegmentReadError';
  }
}

/** What a read ahead gives: the chunk, nothing (the end of the file), or where it failed. */
type Ahead = Chunk | undefined | SegmentReadError;

const release = (a: Ahead): void => {
  if (a instanceof Chunk) a.release();
};

/** How far past the bytes already read or asked for `seekTo` still skips in the buffers rather than jumping. */
const SEEK_MIN = 4 << 20;
/** `seekTo` starts reading again at a multiple of this (O_DIRECT's alignment, a page). */
const SEEK_ALIGN = DIRECT_ALIGN;

/**
 * Pull-based reading of one segment file, like ChunkReader, but from a pool of
 * reused buffers with reads issued ahead (the next chunks are read from the disk while this one is
 * parsed and hashed), and handing the chunk along with each slice so the consumer can keep the slice
 * past the callback by retaining the chunk.
 */
export class SegmentStream {
  /** Bytes handed out (or skipped) so far: the position in the segment. */
  offset = 0;
  private cur: Chunk | undefined;
  private pos = 0;
  private readonly ahead: Promise<Ahead>[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private nextAt = 0;
  private ended = false;
  private done = false;
  /** whether the bytes come past the page cache (asked for with `direct`, and the filesystem allows it) */
  get direct(): boolean {
    return this.source.direct;
  }

  private constructor(
    private readonly path: string,
    private readonly source: ByteSource,
    private readonly pool: ChunkPool,
    private readonly depth: number,
    private readonly observe: (n: number, chunk: Chunk) => void,
    private readonly onStarve: (() => void) | undefined,
    private readonly passed: (n: number) => void,
    private readonly readSize: number,
  ) {}

  static async open(path: string, pool: ChunkPool, opts: StreamOptions = {}): Promise<SegmentStream> {
    const source = (opts.direct ? await directFileSource(path) : undefined) ?? (await fileSource(path));
    const s = new SegmentStream(path, source, pool, opts.depth ?? 2, opts.observe ?? (() => undefined), opts.onStarve, opts.passed ?? (() => undefined),
      Math.min(pool.chunkSize, Math.max(SEEK_ALIGN, opts.readSize ?? pool.chunkSize)));
    if (opts.at) {
      const at = Math.min(opts.at, source.size);
      s.offset = s.nextAt = at - (at % SEEK_ALIGN);
    }
    s.pump();
    return s;
  }

  /** Issues reads ahead while buffers are free and fewer than `depth` are outstanding. */
  private pump(): void {
    while (!this.ended && this.ahead.length < this.depth) {
      const c = this.pool.get();
      if (!c) return;
      const at = this.nextAt;
      const want = Math.max(0, Math.min(this.readSize, this.source.size - at));
      // At the size seen when opening, one more read finds out whether the file really ends there.
      if (want === 0) this.ended = true;
      const n = want === 0 ? this.pool.chunkSize : want;
      this.nextAt += n;
      const p = this.source.read(c.buf, n, at).then(
        (got): Ahead => {
          c.len = got;
          if (got < n) this.ended = true;
          if (got === 0) {
            c.release();
            return undefined;
          }
          return c;
        },
        (e: NodeJS.ErrnoException): Ahead => {
          c.release();
          this.ended = true; // nothing more is asked; the reads already asked still come in order
          return new SegmentReadError(this.path, at, e);
        },
      );
      this.inflight.add(p);
      void p.then(() => this.inflight.delete(p));
      this.ahead.push(p);
    }
  }

  /** The next chunk in file order, or undefined at the end of the file. */
  private async next(): Promise<Chunk | undefined> {
    for (;;) {
      this.pump();
      const p = this.ahead.shift();
      if (p) {
        const c = await p;
        if (c instanceof SegmentReadError) {
          this.done = true;
          throw c;
        }
        if (c) this.pump();
        return c;
      }
      if (this.ended) return undefined;
      const failed = this.pool.pool.failed;
      if (failed) throw failed;
      // Every buffer is held: let go of what the caller has gathered (a hash batch) before waiting.
      this.onStarve?.();
      await this.pool.whenFree();
    }
  }

  private async advance(): Promise<boolean> {
    if (this.done) return false;
    this.cur?.release();
    this.cur = undefined;
    this.pos = 0;
    const c = await this.next();
    if (!c) {
      this.done = true;
      return false;
    }
    this.cur = c;
    this.observe(c.len, c);
    return true;
  }

  /**
   * Delivers up to n bytes to fn in slices; returns how many there were (fewer only at the end of
   * the file). A slice is valid after fn returns only if fn retained its chunk. fn may return a
   * promise to hold reading back (a full write queue).
   */
  async take(n: number, fn: (slice: Buffer, chunk: Chunk) => void | Promise<void>): Promise<number> {
    let left = n;
    while (left > 0) {
      if ((!this.cur || this.pos >= this.cur.len) && !(await this.advance())) break;
      const c = this.cur!;
      const k = Math.min(left, c.len - this.pos);
      const r = fn(c.buf.subarray(this.pos, this.pos + k), c);
      this.pos += k;
      left -= k;
      this.offset += k;
      if (r) await r;
    }
    return n - left;
  }

  /**
   * The next n bytes, if all of them are in the current chunk: handed out without waiting (a small
   * file's header, data and padding usually are). undefined otherwise; then use `take`. The bytes
   * stay the stream's until `consume(n)`.
   */
  peek(n: number): { bytes: Buffer; chunk: Chunk } | undefined {
    const c = this.cur;
    if (!c || this.pos + n > c.len) return undefined;
    return { bytes: c.buf.subarray(this.pos, this.pos + n), chunk: c };
  }

  /** Moves past n bytes that `peek` returned. */
  consume(n: number): void {
    this.pos += n;
    this.offset += n;
  }

  /** The file's size when it was opened. */
  get size(): number {
    return this.source.size;
  }

  /**
   * Moves forward to position `offset`. A short way (within the bytes read or asked for already, and
   * up to SEEK_MIN past them) is skipped over in the buffers, like `skip`; further, the reads ahead
   * are let go and reading starts again at the 4 KiB block that holds `offset`, so what lies between
   * is never read: an import passes over the files it does not need (already in the store, or of a
   * collection it does not carry) without the disk's time (docs/store.md, "Import", step 5). A read
   * that failed in the bytes passed over is forgotten with them. Returns false if the file ends
   * before `offset` (cut short).
   */
  async seekTo(offset: number): Promise<boolean> {
    if (offset < this.offset) throw new RangeError(`seekTo(${offset}) is behind the stream's position ${this.offset}`);
    const gap = offset - this.offset;
    if (gap === 0) return true;
    // At a block boundary, so that a disk read past the page cache stays aligned; never past the end
    // seen when opening (reading on from there finds out where the file ends).
    const target = Math.min(offset, this.source.size);
    const at = target - (target % SEEK_ALIGN);
    if (this.done || at < this.nextAt + SEEK_MIN) return (await this.skip(gap)) === gap;
    // The current chunk was seen (`observe`) whole; what follows it is passed over, reads ahead included.
    const seenTo = this.offset + (this.cur ? this.cur.len - this.pos : 0);
    this.cur?.release();
    this.cur = undefined;
    this.pos = 0;
    // Every read ahead was before nextAt <= offset: a failure among them concerns bytes nobody wants.
    for (const p of this.ahead.splice(0)) release(await p);
    if (this.pool.pool.failed) throw this.pool.pool.failed;
    this.offset = at;
    this.passed(at - seenTo);
    this.nextAt = at;
    this.ended = false;
    const rest = offset - at;
    return (await this.skip(rest)) === rest;
  }

  /** Skips up to n bytes without looking at them. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if ((!this.cur || this.pos >= this.cur.len) && !(await this.advance())) break;
      const k = Math.min(left, this.cur!.len - this.pos);
      this.pos += k;
      left -= k;
      this.offset += k;
    }
    return n - left;
  }

  /** Reads what is left (to count extra bytes). */
  async drain(): Promise<number> {
    let extra = this.cur ? this.cur.len - this.pos : 0;
    while (await this.advance()) extra += this.cur!.len;
    this.pos = 0;
    this.offset += extra;
    return extra;
  }

  /** Stops reading: waits for the reads in flight, gives their buffers back, closes the file. */
  async close(): Promise<void> {
    this.ended = true;
    this.done = true;
    this.cur?.release();
    this.cur = undefined;
    for (const p of this.ahead.splice(0)) release(await p);
    await Promise.all([...this.inflight]);
    await this.source.close();
  }
}
