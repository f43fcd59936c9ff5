import { Worker } from 'node:worker_threads';
import { BookcrateError } from '@bookcrate/format';

/** Messages between SegmentHasher and its thread (segment-hash-worker.ts). */
export type ToHashThread = {
  t: 'hash';
  segments: { index: number; path: string }[];
  /** read with O_DIRECT, past the page cache (pack's read-back) */
  direct: boolean;
  /** bytes read between two progress messages */
  progressBytes: number;
};

export type FromHashThread =
  | { t: 'bytes'; bytes: number }
  | { t: 'segment'; index: number; xxh64: string; size: number; bytes: number }
  | { t: 'done'; bytes: number }
  | { t: 'failed'; index: number; message: string };

/** One segment as read: its XXH64 and how many bytes it had. */
export interface SegmentDigest {
  index: number;
  xxh64: string;
  size: number;
}

// Resolved from src/ (tests) and dist/ alike: the worker always runs from the built JavaScript.
const WORKER_URL = new URL('../dist/segment-hash-worker.js', import.meta.url);

/**
 * The XXH64 of whole segments, each read once, sequentially, on a thread of its own (a full
 * verify's first pass, docs/format.md section 9), so the calling thread walks the manifest beside
 * it. The thread is started at construction, before the segments are known, so that its start-up
 * overlaps the opening of the volume.
 */
export class SegmentHasher {
  private readonly worker: Worker;
  private closed = false;
  /** rejects the `hash` under way, if any */
  private stopPending: ((e: Error) => void) | undefined;

  constructor() {
    // It holds one buffer, in a WebAssembly memory of its own: the smallest heap will do.
    this.worker = new Worker(WORKER_URL, { resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 8 } });
  }

  /**
   * Reads and hashes `segments` in the order given; resolves with their digests in that order.
   * `onBytes` sees the bytes read so far every `progressBytes`. An unreadable segment rejects (IO).
   */
  hash(
    segments: { index: number; path: string }[],
    opts: { direct: boolean; progressBytes: number; onBytes?: (bytes: number) => void },
  ): Promise<SegmentDigest[]> {
    const digests: SegmentDigest[] = [];
    return new Promise<SegmentDigest[]>((resolve, reject) => {
      const fail = (e: Error): void => {
        this.worker.removeAllListeners();
        this.stopPending = undefined;
        reject(e);
      };
      this.stopPending = fail;
      this.worker.on('message', (m: FromHashThread) => {
        if (m.t === 'bytes') opts.onBytes?.(m.bytes);
        else if (m.t === 'segment') {
          digests.push({ index: m.index, xxh64: m.xxh64, size: m.size });
          opts.onBytes?.(m.bytes);
        } else if (m.t === 'done') {
          this.worker.removeAllListeners();
          this.stopPending = undefined;
          resolve(digests);
        } else {
          fail(new BookcrateError('IO', m.message, { hint: 'check that the disk is connected and readable' }));
        }
      });
      this.worker.on('error', fail);
      this.worker.on('exit', (code) => {
        if (!this.closed) fail(new Error(`the hashing thread stopped (exit code ${code})`));
      });
      this.worker.postMessage({ t: 'hash', segments, direct: opts.direct, progressBytes: opts.progressBytes } satisfies ToHashThread);
    });
  }

  /** Stops the thread (at once if it is still reading: whatever it was doing is not wanted). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopPending?.(new Error('stopped'));
    await this.worker.terminate();
  }
}
