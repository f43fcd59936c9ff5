/**
 * When to read a small file on the calling thread, synchronously, and when through libuv's pool.
 *
 * A small file the page cache holds is read on the thread in a few µs; through the pool the same
 * read costs ~20–30 µs of the thread's own time (the request, the pool's hand-over and the callback;
 * for a volume's manifest parts, an asynchronous open, read and close each). A file the disk must
 * answer is better asked of the pool, several at once, so the disk has the next request while it
 * answers one and the thread goes on. So: read here while reads are answered from the cache; after
 * a read that waited for the disk, send the next files through the pool, then read one here again
 * to look (after FIRST_STRETCH files, twice as many each time the disk still answers, up to
 * LONGEST_STRETCH), so a lone slow read costs little and a cold tree is looked at once in hundreds.
 *
 * Whether a read went to the disk: the kernel counts the process's block reads (getrusage's
 * ru_inblock, `fsRead`), which grow with a read the page cache could not answer and not otherwise
 * (one call, ~2 µs). Time alone does not tell: a small file from a VM's disk took 40–50 µs, a cached
 * one 3 µs alone but often over 20 µs while both cores were busy (docs/performance.md, run BN).
 * Where the count does not grow (a network share, Windows), a read slower than 0.1 ms + 0.5 ns a byte
 * did wait. Another thread's block read in between (a segment being read, a writer's large files)
 * only makes a cached read look like one from the disk, which costs a short stretch through the pool.
 */
export class CacheAwareReads {
  static readonly FIRST_STRETCH = 8;
  static readonly LONGEST_STRETCH = 256;
  private blockReads = process.resourceUsage().fsRead;
  /** the last stretch through the pool (0: the last read here was fast), and what is left of it */
  private stretch = 0;
  private pooledLeft = 0;
  /** reads made here and through the pool, for tests and figures */
  here = 0;
  pooled = 0;

  /** `slowReadMs` (tests): time alone decides, against that many ms. */
  constructor(private readonly slowReadMs?: number) {}

  /** Whether the next read is to be made on this thread. */
  get readsHere(): boolean {
    return this.pooledLeft === 0;
  }

  /** A read is sent through the pool. */
  sendToPool(): void {
    this.pooled++;
    if (this.pooledLeft > 0) this.pooledLeft--;
  }

  /** Before a read here: returns its start, for `endHere`. */
  beginHere(): number {
    this.here++;
    // the pool's reads since the last read here were counted
    if (this.stretch > 0) this.blockReads = process.resourceUsage().fsRead;
    return performance.now();
  }

  /**
   * One whole read by the rule: `here` (synchronous) on this thread, or `pooled` through libuv's
   * pool. `sizeOf` gives the bytes read (from `here`'s result, undefined when it threw), for the
   * timing rule where the block count does not tell. A throw of `here` rejects.
   */
  read<T>(here: () => T, pooled: () => Promise<T>, sizeOf: (result: T | undefined) => number): Promise<T> {
    if (!this.readsHere) {
      this.sendToPool();
      return pooled();
    }
    const started = this.beginHere();
    let result: T | undefined;
    try {
      result = here();
      return Promise.resolve(result);
    } catch (e) {
      return Promise.reject(e);
    } finally {
      this.endHere(started, sizeOf(result));
    }
  }

  /** After a read here of `size` bytes begun at `started`. */
  endHere(started: number, size: number): void {
    const took = performance.now() - started;
    const before = this.blockReads;
    this.blockReads = process.resourceUsage().fsRead;
    const fromDisk = this.slowReadMs === undefined ? this.blockReads !== before || took > 0.1 + size / 2e6 : took > this.slowReadMs;
    if (fromDisk) {
      this.stretch = this.stretch === 0 ? CacheAwareReads.FIRST_STRETCH : Math.min(2 * this.stretch, CacheAwareReads.LONGEST_STRETCH);
      this.pooledLeft = this.stretch;
    } else {
      this.stretch = 0;
    }
  }
}
