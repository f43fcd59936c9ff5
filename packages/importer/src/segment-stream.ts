import { close, fstat, open, read } from 'node:fs';

/**
 * One buffer of a segment's bytes. Whoever keeps a slice of it past the `take` callback (a write
 * still in flight) holds a reference; the buffer goes back to its pool, to be filled again, only
 * when the last reference is released. So slices are handed out without a copy and a buffer is
 * never overwritten while a write still reads from it.
 */
export class Chunk {
  private refs = 0;
  len = 0;
  constructor(readonly buf: Buffer, private readonly pool: ChunkPool) {}
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) this.pool.put(this);
  }
}

/** A fixed number of same-size buffers shared by the segments of one import: the reading memory bound. */
export class ChunkPool {
  private readonly free: Chunk[] = [];
  private made = 0;
  private wake: (() => void) | undefined;
  constructor(readonly chunkSize: number, readonly count: number) {}

  /** A free chunk with one reference (the caller's), or undefined when all are in use. */
  get(): Chunk | undefined {
    let c = this.free.pop();
    if (!c && this.made < this.count) {
      this.made++;
      c = new Chunk(Buffer.allocUnsafeSlow(this.chunkSize), this);
    }
    c?.retain();
    return c;
  }

  put(c: Chunk): void {
    c.len = 0;
    this.free.push(c);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves when a chunk was put back (one waiter: the segment being read). */
  whenFree(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }
}

/** Fills buf[0, want) from position `at`, reading again after a short read; fewer bytes only at end of file. */
function readFull(fd: number, buf: Buffer, want: number, at: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const step = (): void => {
      read(fd, buf, got, want - got, at + got, (err, n) => {
        if (err) return reject(err);
        got += n;
        if (n === 0 || got === want) resolve(got);
        else step();
      });
    };
    step();
  });
}

/**
 * Pull-based reading of one segment file, like ChunkReader of @bookcrate/volume, but from a pool of
 * reused buffers with reads issued ahead (the next chunks are read from the disk while this one is
 * parsed and hashed), and handing the chunk along with each slice so the consumer can keep the slice
 * past the callback by retaining the chunk.
 */
export class SegmentStream {
  /** Bytes handed out (or skipped) so far: the position in the segment. */
  offset = 0;
  private cur: Chunk | undefined;
  private pos = 0;
  private readonly ahead: Promise<Chunk | undefined>[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private nextAt = 0;
  private ended = false;
  private done = false;
  private failed: unknown;

  private constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly pool: ChunkPool,
    private readonly depth: number,
    private readonly observe: (n: number) => void,
  ) {}

  static async open(path: string, pool: ChunkPool, observe: (n: number) => void, depth = 2): Promise<SegmentStream> {
    const fd = await new Promise<number>((resolve, reject) => open(path, 'r', (e, f) => (e ? reject(e) : resolve(f))));
    const size = await new Promise<number>((resolve, reject) => fstat(fd, (e, st) => (e ? reject(e) : resolve(st.size)))).catch((e) => {
      close(fd, () => undefined);
      throw e;
    });
    const s = new SegmentStream(fd, size, pool, depth, observe);
    s.pump();
    return s;
  }

  /** Issues reads ahead while buffers are free and fewer than `depth` are outstanding. */
  private pump(): void {
    while (!this.ended && this.ahead.length < this.depth) {
      const c = this.pool.get();
      if (!c) return;
      const at = this.nextAt;
      const want = Math.max(0, Math.min(this.pool.chunkSize, this.size - at));
      // At the size seen when opening, one more read finds out whether the file really ends there.
      if (want === 0) this.ended = true;
      const n = want === 0 ? this.pool.chunkSize : want;
      this.nextAt += n;
      const p = readFull(this.fd, c.buf, n, at).then(
        (got) => {
          c.len = got;
          if (got < n) this.ended = true;
          if (got === 0) {
            c.release();
            return undefined;
          }
          return c;
        },
        (e) => {
          c.release();
          this.ended = true;
          this.failed ??= e;
          return undefined;
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
        if (this.failed) {
          c?.release();
          throw this.failed;
        }
        if (c) this.pump();
        return c;
      }
      if (this.ended) return undefined;
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
    this.observe(c.len);
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
    for (const p of this.ahead.splice(0)) (await p)?.release();
    await Promise.all([...this.inflight]);
    await new Promise<void>((resolve) => close(this.fd, () => resolve()));
  }
}
