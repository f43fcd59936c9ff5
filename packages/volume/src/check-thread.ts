import { Worker } from 'node:worker_threads';
import { BookcrateError, type Root } from '@bookcrate/format';
import type { CheckThreadData, FromCheckThread, ReaderThreadData, ToCheckThread } from './check-protocol.js';
import { checkerMemoryLayout, type CheckedSegment, type FileCheck } from './segment-check.js';
import { SegmentRing } from './segment-ring.js';
import type { Problem } from './problems.js';

export interface CheckListener {
  /** problems found, in the order found */
  problems: (p: Problem[]) => void;
  /** bytes read, segments finished and (while it walks the manifest) entries on this volume walked so far */
  bytes: (total: number, segments: number, files: number) => void;
}

// Resolved from src/ (tests) and dist/ alike: the worker always runs from the built JavaScript.
const WORKER_URL = new URL('../dist/check-thread-worker.js', import.meta.url);
const READER_URL = new URL('../dist/segment-reader-worker.js', import.meta.url);

/** How many buffers of what size the ring between the reader and the checker has. */
export interface RingGeometry {
  slots: number;
  slotBytes: number;
}

/**
 * Through the page cache: 16 buffers of 512 KiB. The kernel reads ahead of the reader on its own
 * (the reader asks for 128 KiB at a time, as `cat` does), so a deep ring buys nothing: the same
 * speed as 8 × 4 MiB here (docs/performance.md, run P), 24 MB less memory.
 */
export const RING_CACHED: RingGeometry = { slots: 16, slotBytes: 512 << 10 };

/**
 * With O_DIRECT (pack's read-back): 8 buffers of 4 MiB (multiples of 4096). Nothing reads ahead of
 * the reader there, so each read must be large.
 */
export const RING_DIRECT: RingGeometry = { slots: 8, slotBytes: 4 << 20 };

/**
 * For entries handed over with `add` (the tests): entries per batch, and batches sent ahead of the
 * thread's answers.
 */
const BATCH = 256;
const BATCHES_AHEAD = 128;

/**
 * The member-by-member check of a verify (`--strict`, or the segments a full verify found damaged,
 * verify.ts), off the main thread (segment-check.ts). A reader thread reads the segments
 * sequentially into a shared ring (segment-ring.ts); the checking thread walks the signed manifest
 * itself (`walk`), takes the bytes from the ring, compares the headers, hashes the files and reports
 * the problems it finds. The reader only reads, so the disk streams whatever the checks are doing.
 * The manifest used to be walked on the calling thread and handed over in batches: copying every
 * entry between threads cost more than walking it, and three busy threads on two CPUs ran slower
 * than two (docs/performance.md, "What changed after run P"). `add`/`finish` still hand over
 * entries made by hand, for the checker's tests.
 */
export class CheckThread {
  private readonly worker: Worker;
  /** the thread has its checker (configure was handled) */
  private ready = false;
  private batch: FileCheck[] = [];
  private sent = 0;
  private answered = 0;
  private waiter: (() => void) | undefined;
  private failure: Error | undefined;
  private closed = false;
  private on: CheckListener | undefined;
  private reader: Worker | undefined;
  private ring: SegmentRing | undefined;
  /** entries on this volume the thread has walked, as last heard */
  private files = 0;
  /** set when the thread's walk is over: the entries on this volume */
  private walked: number | undefined;

  /** Starts the checking thread; it waits for `configure`. `geometry`: RING_DIRECT for O_DIRECT reads. */
  constructor(private readonly geometry: RingGeometry = RING_CACHED) {
    // It holds hashers and the manifest parts it reads ahead (the bytes are in the ring): a small heap will do.
    this.worker = new Worker(WORKER_URL, { resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 } });
    this.worker.on('message', (m: FromCheckThread) => {
      if (m.t === 'failed') {
        this.fail(new BookcrateError(m.code, m.message, { ...(m.hint ? { hint: m.hint } : {}), ...(m.say ? { say: m.say } : {}) }));
        return;
      }
      if (m.t === 'problems') {
        this.on?.problems(m.problems);
        return;
      }
      if (m.t === 'ready') this.ready = true;
      if (m.t === 'done') this.answered++;
      if ((m.t === 'done' || m.t === 'walked') && m.problems.length > 0) this.on?.problems(m.problems);
      if (m.t === 'walked') this.walked = m.files;
      if (m.t === 'bytes' || m.t === 'walked') this.files = m.files;
      this.on?.bytes(m.bytes, m.segments, this.files);
      this.wake();
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => {
      if (!this.closed) this.fail(new Error(`the checking thread stopped (exit code ${code})`));
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.wake();
  }

  private async until(done: () => boolean): Promise<void> {
    while (!done()) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    if (this.failure) throw this.failure;
  }

  /**
   * Says what to check and where the findings go, and starts reading: the segments of `segments`
   * that are there, in order; `direct`: with O_DIRECT, past the page cache; `probe`: a small file of
   * the same disk, read after a read error to tell a bad place from a disk that is gone (bad-place.ts).
   */
  configure(opts: { segments: CheckedSegment[]; names: string[]; strict: boolean; direct: boolean; probe: string; progressBytes: number }, on: CheckListener): void {
    this.on = on;
    const { layout, pages } = checkerMemoryLayout(this.geometry.slots, this.geometry.slotBytes);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.ring = new SegmentRing(memory, layout);
    const reading: ReaderThreadData = {
      memory, layout, direct: opts.direct, probe: opts.probe,
      segments: opts.segments.filter((s) => !s.absent).sort((a, b) => a.index - b.index).map((s) => ({ index: s.index, path: s.path })),
    };
    // It only reads into the ring: the smallest heap will do.
    this.reader = new Worker(READER_URL, { workerData: reading, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 } });
    this.reader.on('error', (e) => this.fail(e));
    const data: CheckThreadData = { memory, layout, segments: opts.segments, names: opts.names, strict: opts.strict, progressBytes: opts.progressBytes };
    this.worker.postMessage({ t: 'configure', data } satisfies ToCheckThread);
  }

  /** Resolves once the thread is configured (or rejects when it failed to be). */
  start(): Promise<void> {
    return this.until(() => this.ready);
  }

  /**
   * Has the thread walk the signed manifest itself (`root`, its parts read from `dir`) and check
   * every entry with a member on the segments `mine`, then the end of the last segment. Resolves
   * with the number of those entries; rejects with the first failure (or the one given to `abort`).
   */
  async walk(source: { dir: string; root: Root; mine: number[] }): Promise<number> {
    if (this.failure) throw this.failure;
    this.worker.postMessage({ t: 'walk', ...source } satisfies ToCheckThread);
    await this.until(() => this.walked !== undefined);
    return this.walked!;
  }

  /** Stops the reading and the checks, and makes `walk` or `finish` reject with `e` (found elsewhere). */
  abort(e: Error): void {
    this.fail(e);
    this.ring?.stop();
  }

  /**
   * Queues an entry (instead of `walk`: the tests, with hand-made entries). Returns a promise to
   * wait for only when the thread is BATCHES_AHEAD batches behind (no promise per entry otherwise);
   * throws once the thread has failed.
   */
  add(f: FileCheck): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    this.batch.push(f);
    if (this.batch.length < BATCH) return undefined;
    this.send(false);
    return this.sent - this.answered >= BATCHES_AHEAD ? this.until(() => this.sent - this.answered < BATCHES_AHEAD) : undefined;
  }

  private send(last: boolean): void {
    const files = this.batch;
    this.batch = [];
    this.sent++;
    this.worker.postMessage({ t: 'check', files, last } satisfies ToCheckThread);
  }

  /** Sends what is queued, has the last segment's end checked, and waits for every answer. */
  async finish(): Promise<void> {
    this.send(true);
    await this.until(() => this.answered === this.sent);
  }

  async close(): Promise<void> {
    this.closed = true;
    // The reader may be waiting for room in the ring, or the checker for bytes: both are told to stop.
    this.ring?.stop();
    await Promise.all([this.worker.terminate(), this.reader?.terminate()]);
  }
}
