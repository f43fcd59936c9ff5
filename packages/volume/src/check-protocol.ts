/** Messages between CheckThread and its threads (check-thread.ts, check-thread-worker.ts, segment-reader-worker.ts). */
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
}

/** First what to check; then batches of entries in manifest order, `last`: then check the end of the open segment. */
export type ToCheckThread =
  | { t: 'configure'; data: CheckThreadData }
  | { t: 'check'; files: FileCheck[]; last: boolean };

/** `bytes`: taken from the ring so far; `segments`: finished so far. */
export type FromCheckThread =
  | { t: 'ready'; bytes: number; segments: number }
  | { t: 'bytes'; bytes: number; segments: number }
  | { t: 'done'; bytes: number; segments: number; problems: Problem[] }
  | { t: 'failed'; code: 'FORMAT' | 'IO'; message: string; hint?: string };
