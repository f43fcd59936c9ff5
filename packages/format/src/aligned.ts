/**
 * Buffers that start on a memory page, for the kernel to copy file data into.
 *
 * Why: node's large Buffers come from malloc and start 16 bytes past a page boundary, and on the
 * AMD EPYC hosts we measured, the kernel's copy from the page cache into a destination 8–16 bytes
 * past a page boundary (source page-aligned) runs about 4× slower than into an aligned one: reading
 * 2.9 GiB in 128 KiB pieces took 1.75–1.95 s of system time against 0.40–0.53 s at offsets 0, 32,
 * 64, 512 or 2048 (docs/performance.md, "Where the kernel copies to"). WebAssembly memories are
 * mapped whole pages, so a buffer at offset 0 of one is aligned.
 *
 * A pool, because each memory reserves address space: a reader takes a buffer for the life of one
 * file and gives it back; the pool keeps what was given back for the next reader, so it holds as
 * many buffers as readers ever ran at once.
 */
export class AlignedBufferPool {
  private readonly free: Buffer[] = [];
  private readonly mine = new WeakSet<Buffer>();

  constructor(readonly bufferBytes: number) {}

  /** An aligned buffer of `bufferBytes` (its content is whatever the last user left). */
  take(): Buffer {
    const b = this.free.pop();
    if (b) return b;
    const made = alignedOrPlain(this.bufferBytes);
    this.mine.add(made);
    return made;
  }

  /** Gives back a buffer that `take` returned; it must not be used afterwards. Others are ignored. */
  give(b: Buffer): void {
    if (this.mine.has(b) && !this.free.includes(b)) this.free.push(b);
  }
}

function alignedOrPlain(bytes: number): Buffer {
  const pages = Math.ceil(bytes / 65536);
  try {
    return Buffer.from(new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer, 0, bytes);
  } catch {
    // A memory reserves address space beyond its size; where that is refused (a tight `ulimit -v`),
    // a plain buffer only costs speed.
    return Buffer.allocUnsafeSlow(bytes);
  }
}
