import { XXH64_STATE_BYTES } from '@bookcrate/format';

/** Hashers that can be open at once in the hashing thread (their XXH64 states live in the pool's memory). */
export const HASH_STATE_SLOTS = 4096;
/** Room in the pool's memory for bytes that come from elsewhere and must be hashed (copied in, in pieces). */
export const HASH_SCRATCH_BYTES = 64 << 10;

/**
 * A fixed set of same-size buffers in one shared WebAssembly memory, so a reader can fill one, the
 * hashing thread can hash it in place (wasm/xxh64.wat reads that memory) and writers can write from
 * it, all without copying a byte. After the buffers, the memory holds the hashing thread's XXH64
 * states and a small scratch area. Each buffer
 * carries a count of holds (the reader's, the hashing thread's, every write still in flight); it is
 * free again, to be filled with new bytes, only when the last hold is released. The pool is the
 * memory bound of whoever uses it: nothing reads ahead once every buffer is held.
 */
export class SharedBufferPool {
  readonly memory: WebAssembly.Memory;
  readonly buffers: Buffer[];
  /** where the hashers' states begin in the memory (HASH_STATE_SLOTS of XXH64_STATE_BYTES) */
  readonly statesAt: number;
  /** where the scratch area begins (HASH_SCRATCH_BYTES) */
  readonly scratchAt: number;
  private readonly holds: number[];
  private readonly free: number[] = [];
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;

  constructor(readonly count: number, readonly bufferBytes: number) {
    this.statesAt = count * bufferBytes;
    this.scratchAt = this.statesAt + HASH_STATE_SLOTS * XXH64_STATE_BYTES;
    const pages = Math.ceil((this.scratchAt + HASH_SCRATCH_BYTES) / 65536);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const sab = this.memory.buffer;
    this.buffers = Array.from({ length: count }, (_, i) => Buffer.from(sab, i * bufferBytes, bufferBytes));
    this.holds = this.buffers.map(() => 0);
    for (let i = count - 1; i >= 0; i--) this.free.push(i);
  }

  /** A free buffer's index with one hold (the caller's), or undefined when every buffer is held. */
  tryAcquire(): number | undefined {
    const i = this.free.pop();
    if (i !== undefined) this.holds[i] = 1;
    return i;
  }

  /** A free buffer's index with one hold; waits while every buffer is held (the backpressure). */
  async acquire(): Promise<number> {
    for (;;) {
      if (this.failure) throw this.failure;
      const i = this.tryAcquire();
      if (i !== undefined) return i;
      await this.whenFree();
    }
  }

  hold(i: number): void {
    this.holds[i]!++;
  }

  release(i: number): void {
    const n = --this.holds[i]!;
    if (n > 0) return;
    if (n < 0) throw new Error(`buffer ${i} released more often than held`);
    this.free.push(i);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when a buffer was released (or the pool failed). */
  whenFree(): Promise<void> {
    if (this.failure) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter; later `acquire` calls throw `e` (a hashing thread that died). */
  fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.waiters.splice(0)) w();
  }

  get failed(): Error | undefined {
    return this.failure;
  }
}
