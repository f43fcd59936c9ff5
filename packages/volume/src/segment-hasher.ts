import { Worker } from 'node:worker_threads';
import { segmentReadFailure } from './reader.js';

/** Messages between SegmentHasher and its thread (segment-hash-worker.ts). */
export type ToHashThread = {
  t: 'hash';
  segments: { index: number; path: string }[];
  /** read with O_DIRECT, past the page cache (pack's read-back) */
  direct: boolean;
  /** a small file of the same disk, read after a read error to tell a bad place from a disk that is gone (bad-place.ts) */
  probe: string;
  /** bytes read between two progress messages */
  progressBytes: number;
};

export type FromHashThread =
  | { t: 'bytes'; bytes: number }
  | { t: 'segment'; index: number; xxh64: string; size: number; bytes: number; unreadableAt?: number }
  | { t: 'done'; bytes: number }
  | { t: 'failed'; index: number; message: string };

/** One segment as read: its XXH64 and how many bytes it had. */
export interface SegmentDigest {
  index: number;
  xxh64: string;
  size: number;
  /** the disk gave a read error at this offset (a bad place): the segment was not read to its end */
  unreadableAt?: number;
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
    // Between hashes nobody listens for its failure; one then must not end the process (a hash
    // under way hears of it through its own listener).
    this.worker.on('error', () => undefined);
  }

  /**
   * Reads and hashes `segments` in the order given; resolves with their digests in that order.
   * `onBytes` sees the bytes read so far every `progressBytes`. A segment with a bad place is
   * answered with where (`unreadableAt`) and the next is read; a disk that is gone rejects (IO).
   */
  hash(
    segments: { index: number; path: string }[],
    opts: { direct: boolean; probe: string; progressBytes: number; onBytes?: (bytes: number) => void },
  ): Promise<SegmentDigest[]> {
    const digests: SegmentDigest[] = [];
    return new Promise<SegmentDigest[]>((resolve, reject) => {
      const settle = (): void => {
        this.worker.off('message', onMessage).off('error', fail).off('exit', onExit);
        this.stopPending = undefined;
      };
      const fail = (e: Error): void => {
        settle();
        reject(e);
      };
      this.stopPending = fail;
      const onMessage = (m: FromHashThread): void => {
        if (m.t === 'bytes') opts.onBytes?.(m.bytes);
        else if (m.t === 'segment') {
          digests.push({ index: m.index, xxh64: m.xxh64, size: m.size, ...(m.unreadableAt !== undefined ? { unreadableAt: m.unreadableAt } : {}) });
          opts.onBytes?.(m.bytes);
        } else if (m.t === 'done') {
          settle();
          resolve(digests);
        } else {
          fail(segmentReadFailure(m.message));
        }
      };
      const onExit = (code: number): void => {
        if (!this.closed) fail(new Error(`the hashing thread stopped (exit code ${code})`));
      };
      this.worker.on('message', onMessage).on('error', fail).on('exit', onExit);
      this.worker.postMessage({ t: 'hash', segments, direct: opts.direct, probe: opts.probe, progressBytes: opts.progressBytes } satisfies ToHashThread);
    });
  }

  /** Stops the thread (at once if it is still reading: whatever it was doing is not wanted). */
  async close(): Promise<void> {
    this.closed = true;
    this.stopPending?.(new Error('stopped'));
    await this.worker.terminate();
  }
}
