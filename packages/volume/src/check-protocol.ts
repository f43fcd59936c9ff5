/** Messages between CheckThread and its threads (check-thread.ts, check-thread-worker.ts, segment-reader-worker.ts). */
import type { ErrorCode, Root, Say } from '@bookcrate/format';
import type { CheckerOptions, FileCheck } from './segment-check.js';
import type { RingLayout } from './segment-ring.js';
import type { Problem } from './problems.js';

/** What both threads share: the memory of the ring (and the checker's hash states), and its layout. */
export interface RingData {
  memory: WebAssembly.Memory;
  layout: RingLayout;
}

export interface CheckThreadData extends Omit<CheckerOptions, 'onBytes'>, RingData {
  /** bytes read between two progress messages */
  progressBytes: number;
}

/** The reader thread's job: these segments, in this order. */
export interface ReaderThreadData extends RingData {
  segments: { index: number; path: string }[];
  direct: boolean;
  /** a small file of the same disk, read to tell a bad place from a disk that is gone (bad-place.ts) */
  probe: string;
}

/**
 * First what to check; then either the manifest to walk (`walk`: the thread reads it itself — the
 * verify) or batches of entries in manifest order (`check`, `last`: then check the end of the open
 * segment — the tests, with hand-made entries).
 */
export type ToCheckThread =
  | { t: 'configure'; data: CheckThreadData }
  | { t: 'walk'; dir: string; root: Root; mine: number[] }
  | { t: 'check'; files: FileCheck[]; last: boolean };

/**
 * `bytes`: taken from the ring so far; `segments`: finished so far; `files`: entries on this volume
 * walked so far (walk only). `walked`: the walk and every check are done.
 */
export type FromCheckThread =
  | { t: 'ready'; bytes: number; segments: number }
  | { t: 'bytes'; bytes: number; segments: number; files: number }
  | { t: 'problems'; problems: Problem[] }
  | { t: 'done'; bytes: number; segments: number; problems: Problem[] }
  | { t: 'walked'; bytes: number; segments: number; files: number; problems: Problem[] }
  | { t: 'failed'; code: ErrorCode; message: string; hint?: string; say?: Say };
