import type { SmallObjectSink } from '@bookcrate/store';
import { ownThread, type ThreadLink } from '@bookcrate/volume';
import type { SmallWriterData } from './small-writer-service.js';

// Resolved from src/ (tests) and dist/ alike: the worker always runs from the built JavaScript.
const WORKER_URL = new URL('../dist/small-writer-worker.js', import.meta.url);

/** @internal messages between SmallWriter and its thread */
export interface BatchRequest {
  id: number;
  buf: ArrayBuffer;
  /** final path, link path ('' for none), for each object in turn */
  paths: string[];
  sizes: number[];
  /** per object: 1 when its bytes are in the shared pool (see ranges), 0 when copied into buf */
  inPool: number[];
  /** for each object in the pool, in turn: the number of pieces, then offset and length of each */
  ranges: number[];
}

/** @internal */
export interface BatchDone {
  id: number;
  /** objects written, from the first */
  done: number;
  /** why the next one was not */
  error?: { code?: string; message: string; path?: string };
  /** the indexes of objects done whose link (their third path) failed */
  unlinked: number[];
  buf: ArrayBuffer;
}

interface Batch {
  buf: ArrayBuffer;
  view: Buffer;
  used: number;
  pooled: number;
  paths: string[];
  sizes: number[];
  inPool: number[];
  ranges: number[];
  dones: ((err: Error | null, linked?: boolean) => void)[];
}

export interface SmallWriterOptions {
  /** largest object taken (default 64 KiB) */
  maxSize?: number;
  /** a batch is sent when it holds this many bytes… (default 1 MiB) */
  batchBytes?: number;
  /** …or this many objects (default 128) */
  batchFiles?: number;
  /**
   * The memory of the reader's shared buffers (SharedBufferPool): objects whose bytes all lie in
   * it are written from there by the thread, without a copy, and their caller keeps them held
   * until done (see `zeroCopy`).
   */
  pool?: SharedArrayBuffer;
  /**
   * Where the writing runs: by default a thread of its own; the importer gives the link of its
   * helper thread, which also hashes (thread-link.ts), whose data for this service must be `{ pool }`.
   */
  link?: ThreadLink;
}

/**
 * Writes small objects on a thread of its own (docs/store.md, "Import"). Creating a file, writing it
 * and closing it costs more than hashing a 20 KiB photo: done on the main thread, or as separate
 * trips through libuv's thread pool per file, it held the parser back. Each object is written at its
 * final path (see SmallObjectSink: its SHA-256 was checked before, and the catalog records it only
 * after a sync). Here the main thread only notes where each object's bytes are (or copies them into
 * a batch buffer); a batch of up to 128 objects goes to the thread in one
 * message, is written there with plain system calls, and comes back as one reply. The thread starts
 * with the first object, so an import without small files never starts it.
 */
export class SmallWriter implements SmallObjectSink {
  readonly maxSize: number;
  private readonly batchBytes: number;
  private readonly batchFiles: number;
  private readonly link: ThreadLink;
  private broken: Error | undefined;
  private cur: Batch | undefined;
  private readonly spare: ArrayBuffer[] = [];
  private readonly inflight = new Map<number, Batch>();
  private nextId = 0;
  private readonly pool: SharedArrayBuffer | undefined;
  /** put() keeps referring to slices in the pool until their done is called */
  readonly zeroCopy: boolean;

  constructor(opts: SmallWriterOptions = {}) {
    this.batchBytes = opts.batchBytes ?? 1 << 20;
    this.maxSize = Math.min(opts.maxSize ?? 64 << 10, this.batchBytes);
    this.batchFiles = opts.batchFiles ?? 128;
    this.pool = opts.pool;
    this.zeroCopy = !!opts.pool;
    // It only moves bytes it is handed: a small heap keeps its memory small.
    this.link = opts.link ?? ownThread(WORKER_URL, { pool: this.pool } satisfies SmallWriterData, {
      what: 'the object writer thread',
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
    });
    this.link.listen((m: BatchDone) => this.finished(m), (e) => this.die(e));
  }

  put(finalPath: string, data: Buffer[], size: number, done: (err: Error | null, linked?: boolean) => void, alsoAt?: string): void {
    if (this.broken) {
      done(this.broken);
      return;
    }
    if (this.cur && (this.cur.used + size > this.batchBytes || this.cur.sizes.length >= this.batchFiles)) this.flush();
    const b = (this.cur ??= this.batch());
    if (this.pool && data.every((d) => d.buffer === this.pool)) {
      b.inPool.push(1);
      b.ranges.push(data.length);
      for (const d of data) b.ranges.push(d.byteOffset, d.length);
      b.pooled += size;
    } else {
      b.inPool.push(0);
      if (b.buf.byteLength === 0) {
        // the first object of this batch that must be copied: now it needs a buffer
        b.buf = this.spare.pop() ?? new ArrayBuffer(this.batchBytes);
        b.view = Buffer.from(b.buf);
      }
      for (const d of data) b.used += d.copy(b.view, b.used);
    }
    b.paths.push(finalPath, alsoAt ?? '');
    b.sizes.push(size);
    b.dones.push(done);
    // Pooled bytes count too: they hold the reader's buffers until the batch is written.
    if (b.sizes.length >= this.batchFiles || b.used + b.pooled >= this.batchBytes) this.flush();
  }

  private batch(): Batch {
    // A batch whose objects all lie in the shared pool needs no buffer of its own.
    const buf = new ArrayBuffer(0);
    return { buf, view: Buffer.from(buf), used: 0, pooled: 0, paths: [], sizes: [], inPool: [], ranges: [], dones: [] };
  }

  flush(): void {
    const b = this.cur;
    if (!b || b.sizes.length === 0) return;
    this.cur = undefined;
    if (this.broken) {
      for (const d of b.dones) d(this.broken);
      return;
    }
    const id = this.nextId++;
    const req: BatchRequest = { id, buf: b.buf, paths: b.paths, sizes: b.sizes, inPool: b.inPool, ranges: b.ranges };
    try {
      this.link.post(req, [b.buf]); // (starts the thread with the first batch)
    } catch (e) {
      this.broken = e as Error;
      for (const d of b.dones) d(this.broken);
      return;
    }
    this.inflight.set(id, b);
  }

  private finished(m: BatchDone): void {
    const b = this.inflight.get(m.id);
    if (!b) return;
    this.inflight.delete(m.id);
    if (this.spare.length < 4 && m.buf.byteLength > 0) this.spare.push(m.buf);
    let err: Error | null = null;
    if (m.error) err = Object.assign(new Error(m.error.message), { code: m.error.code, path: m.error.path });
    const unlinked = new Set(m.unlinked);
    b.dones.forEach((d, i) => (i < m.done ? d(null, !unlinked.has(i)) : d(err)));
  }

  private die(e: Error): void {
    this.broken ??= e;
    for (const b of this.inflight.values()) for (const d of b.dones) d(this.broken);
    this.inflight.clear();
  }

  /** Stops the thread (after the queue was drained or settled: nothing is in flight any more). */
  async close(): Promise<void> {
    this.broken ??= new Error('the object writer was closed');
    await this.link.close();
  }
}
