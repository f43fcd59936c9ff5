import { Worker } from 'node:worker_threads';

/** @internal messages between SmallReader and its thread */
export interface ReadBatch {
  id: number;
  srcs: (string | Uint8Array)[];
  sizes: number[];
  mtimes: number[];
  /** where each file goes in the ring */
  offsets: number[];
}

/** @internal why one file of a batch was not read */
export interface ReadFailure {
  kind: 'deleted' | 'shorter' | 'size' | 'mtime' | 'io';
  message: string;
  code?: string;
}

/** @internal */
export interface ReadBatchDone {
  id: number;
  results: (ReadFailure | 0)[];
  /** of the batch's files, how many the thread read itself and how many through libuv's pool */
  here: number;
  pooled: number;
}

interface Pending {
  batch: ReadBatch;
  done: ((r: ReadFailure | 0 | Error) => void)[];
}

/**
 * Reads small source files on a thread of its own, into a shared ring the caller manages. Opening,
 * reading, checking and closing a 20 KiB photo are four trips through libuv's thread pool from the
 * main thread, and those trips, not the bytes, were most of pack's time on a folder of photos: here
 * the main thread only adds each file to a batch, and a batch of up to BATCH files is read there
 * (one after the other while the page cache answers, IN_FLIGHT at a time through libuv's pool
 * while the disk does: small-reader-worker.ts) and answered in one message. The thread starts
 * with the first small file.
 */
export class SmallReader {
  /**
   * No file of a batch can be taken before the whole batch is read, so the main thread waits for
   * the last of them: 16 rather than 64 lets it start sooner, for a few more messages (the photos
   * on two emulated hard disks 2.7–3.0 → 2.5–2.7 s; docs/performance.md, "Runs AA to AD").
   */
  static readonly BATCH = 16;
  /**
   * Files the thread reads at once (see small-reader-worker.ts). On two emulated hard disks the
   * main thread waited 5.9 s for the 20,000 photos with one (async) read at a time and 2.6 s with four;
   * eight or sixteen did no better there (docs/performance.md, "Runs AE and AF"). Since the ring also
   * takes files up to 2 MiB, eight: on the VM, four PDFs read at once left the writer waiting
   * (run AY: with eight and a ring of 8 MiB, pack went from 1.07× to 0.91–0.99× `tar -cf`).
   */
  static readonly IN_FLIGHT = 8;
  /** Batches sent ahead of the one being answered, so the thread never waits for the next. */
  static readonly BATCHES_AHEAD = 2;
  private worker: Worker | undefined;
  private broken: Error | undefined;
  private cur: Pending | undefined;
  private readonly inflight = new Map<number, Pending>();
  private nextId = 0;
  /** files read so far on the thread itself (cached), and through libuv's pool (from the disk) */
  readsHere = 0;
  readsPooled = 0;

  /** `slowReadMs` (tests): a fixed time above which a read counts as one from the disk */
  constructor(private readonly ring: SharedArrayBuffer, private readonly slowReadMs?: number) {}

  private start(): Worker {
    // Resolved from src/ (tests) and dist/ alike: the thread always runs from the built JavaScript.
    const w = new Worker(new URL('../dist/small-reader-worker.js', import.meta.url), {
      workerData: { ring: this.ring, inFlight: SmallReader.IN_FLIGHT, ...(this.slowReadMs === undefined ? {} : { slowRead: this.slowReadMs }) },
      // It only moves bytes into the ring: a small heap keeps its memory small.
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
    });
    w.on('message', (m: ReadBatchDone) => this.finished(m));
    w.on('error', (e) => this.die(e));
    w.on('exit', (code) => this.die(new Error(`the source reader thread stopped (exit code ${code})`)));
    return w;
  }

  /**
   * Reads `size` bytes of `src` to ring[offset, offset + size) and checks size and mtime after:
   * resolves to 0, or to why not (a ReadFailure for this file, an Error for the thread).
   */
  read(src: string | Buffer, size: number, mtime: number, offset: number): Promise<ReadFailure | 0 | Error> {
    if (this.broken) return Promise.resolve(this.broken);
    const p = (this.cur ??= { batch: { id: this.nextId++, srcs: [], sizes: [], mtimes: [], offsets: [] }, done: [] });
    p.batch.srcs.push(src);
    p.batch.sizes.push(size);
    p.batch.mtimes.push(mtime);
    p.batch.offsets.push(offset);
    const r = new Promise<ReadFailure | 0 | Error>((resolve) => p.done.push(resolve));
    if (p.batch.sizes.length >= SmallReader.BATCH || this.inflight.size < SmallReader.BATCHES_AHEAD) this.flush();
    return r;
  }

  /** Sends what is gathered (the caller is about to wait for one of them). */
  flush(): void {
    const p = this.cur;
    if (!p) return;
    this.cur = undefined;
    if (this.broken) {
      for (const d of p.done) d(this.broken);
      return;
    }
    try {
      this.worker ??= this.start();
    } catch (e) {
      this.die(e as Error);
      for (const d of p.done) d(this.broken!);
      return;
    }
    this.inflight.set(p.batch.id, p);
    this.worker.postMessage(p.batch);
  }

  private finished(m: ReadBatchDone): void {
    const p = this.inflight.get(m.id);
    if (!p) return;
    this.inflight.delete(m.id);
    this.readsHere += m.here;
    this.readsPooled += m.pooled;
    p.done.forEach((d, i) => d(m.results[i]!));
    // the thread has room: what gathered meanwhile goes now
    if (this.inflight.size < SmallReader.BATCHES_AHEAD) this.flush();
  }

  private die(e: Error): void {
    this.broken ??= e;
    this.worker = undefined;
    for (const p of this.inflight.values()) for (const d of p.done) d(this.broken);
    this.inflight.clear();
    this.flush(); // what was gathered gets the error too
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.broken ??= new Error('the source reader was closed');
    if (w) {
      w.removeAllListeners('exit');
      await w.terminate();
    }
  }
}
