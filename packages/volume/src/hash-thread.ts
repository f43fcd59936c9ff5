import type { Digests } from '@bookcrate/format';
import { HASH_SCRATCH_BYTES, HASH_STATE_SLOTS, type SharedBufferPool } from './buffer-pool.js';
import {
  KIND_DUAL, KIND_SHA256, KIND_XXH64, OP_BYTES, OP_FINISH, OP_OPEN, OP_UPDATE, type FromHashThread, type HashThreadData, type ToHashThread,
} from './hash-protocol.js';
import { ownThread, type ThreadLink } from './thread-link.js';

// Resolved from src/ (tests) and dist/ alike: the worker always runs from the built JavaScript.
const WORKER_URL = new URL('../dist/hash-thread-worker.js', import.meta.url);

const HASH_THREAD_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 };

/** What the hashing service is given: where the pool's buffers and hasher states lie in its memory. */
export function hashThreadData(pool: SharedBufferPool): HashThreadData {
  return {
    memory: pool.memory, bufferBytes: pool.bufferBytes, statesAt: pool.statesAt, stateSlots: HASH_STATE_SLOTS,
    scratchAt: pool.scratchAt, scratchBytes: HASH_SCRATCH_BYTES,
  };
}

/** What a hasher computes: both digests (pack), SHA-256 only (import), XXH64 only (verify, segments). */
export type HashKind = 'dual' | 'sha256' | 'xxh64';
const KIND = { dual: KIND_DUAL, sha256: KIND_SHA256, xxh64: KIND_XXH64 } as const;

/**
 * Hashing on a second core. SHA-256 and XXH64 cost more CPU than moving the bytes; in a thread of
 * their own they run beside the reading and writing instead of in their way. Callers hash byte
 * ranges of the buffers of a SharedBufferPool: `update` records the range, and the operations on
 * one buffer travel to the thread in one batch when the caller moves on to another buffer or calls
 * `send`. The batch holds its buffer until the thread has hashed it, so a buffer is never refilled
 * under the hasher. Digests come back as promises.
 *
 * A digest promise settles only after its batch was sent: a caller that waits for one must `send`
 * first.
 */
export class HashThread {
  private readonly link: ThreadLink;
  private readonly ready: Promise<void>;
  private batch: number[] = [];
  private batchIndex = -1;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (d: Digests) => void; reject: (e: unknown) => void }>();
  private failure: Error | undefined;
  private closed = false;

  /**
   * The thread boots at once (a V8 isolate and its modules: a few hundred ms, best spent while the
   * caller prepares), or with `lazy` only when `start` is called or the first batch is sent: an
   * import whose files are all hashed on its own thread (docs/store.md, "Import", step 5) then
   * never starts it, and saves its ~10 MB.
   *
   * With `link` the hashing runs where that link leads: beside other services on a SharedThread
   * (thread-link.ts), whose data for this service must be `hashThreadData(pool)`.
   */
  constructor(readonly pool: SharedBufferPool, opts: { lazy?: boolean; link?: ThreadLink } = {}) {
    // It holds only hashers and small messages: a small heap keeps the process's memory small.
    this.link = opts.link ?? ownThread(WORKER_URL, hashThreadData(pool), { what: 'the hashing thread', resourceLimits: HASH_THREAD_LIMITS });
    let ready!: () => void;
    let notReady!: (e: Error) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      ready = resolve;
      notReady = reject;
    });
    this.ready.catch(() => undefined);
    this.link.listen(
      (m: FromHashThread | 'ready') => {
        if (m === 'ready') ready();
        else this.hashed(m);
      },
      (e) => {
        notReady(e);
        this.fail(e);
      },
    );
    if (!opts.lazy) this.link.start();
  }

  /** Whether the thread was started. */
  get started(): boolean {
    return this.link.started;
  }

  private hashed(m: FromHashThread): void {
    const d = m.done;
    for (let k = 0; k < d.length; k += 3) {
      const id = d[k] as number;
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.resolve({ sha256: d[k + 1] as string, xxh64: d[k + 2] as string });
    }
    if (m.i >= 0) this.pool.release(m.i);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.pool.fail(this.failure);
    for (const w of this.waiting.values()) w.reject(this.failure);
    this.waiting.clear();
  }

  /** Starts the thread (if it was not) and resolves once it is ready; closed, it starts nothing. */
  start(): Promise<void> {
    // a manifest still being decoded ahead after the import ended must not start a thread nobody stops
    if (this.closed) return this.link.started ? this.ready : Promise.reject(new Error('the hashing thread was closed'));
    try {
      this.link.start();
    } catch (e) {
      return Promise.reject(e); // a shared thread already stopped by its owner
    }
    return this.ready;
  }

  /** A new hasher; its id names it in `update` and `finish`. */
  open(kind: HashKind): number {
    const id = this.nextId++;
    this.batch.push(OP_OPEN, id, KIND[kind]);
    return id;
  }

  /** Hashes bytes [start, start + length) of pool buffer `index` into hasher `id`. */
  update(id: number, index: number, start: number, length: number): void {
    if (index !== this.batchIndex) {
      this.send();
      this.batchIndex = index;
      this.pool.hold(index);
    }
    this.batch.push(OP_UPDATE, id, start, length);
  }

  /** Bytes that are in no pool buffer (copied to the thread). */
  updateBytes(id: number, bytes: Uint8Array): void {
    this.send();
    if (this.failure || this.closed) return;
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    this.link.post({ t: OP_BYTES, id, buf: copy } satisfies ToHashThread, [copy]);
  }

  /** Ends hasher `id`; its digests arrive once its batch was sent and hashed. */
  finish(id: number): Promise<Digests> {
    this.batch.push(OP_FINISH, id);
    const digests = this.failure ? Promise.reject(this.failure) : new Promise<Digests>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    // A caller that gave up on this digest (its pack failed, say, and close() then rejects every
    // digest still outstanding) must not have the process die of an unhandled rejection after the
    // real error was reported; a caller that awaits it still gets the rejection.
    digests.catch(() => undefined);
    return digests;
  }

  /** Sends the operations recorded so far. */
  send(): void {
    if (this.batch.length === 0 && this.batchIndex < 0) return;
    const i = this.batchIndex;
    const ops = this.batch;
    this.batch = [];
    this.batchIndex = -1;
    // (after close, nothing is hashed any more: a lazy thread is not started for it)
    if (this.failure || this.closed) {
      if (i >= 0) this.pool.release(i);
      return;
    }
    this.link.post({ t: OP_UPDATE, i, ops } satisfies ToHashThread);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.link.close();
    if (this.waiting.size > 0) this.fail(new Error('the hashing thread was closed with digests outstanding'));
  }
}
