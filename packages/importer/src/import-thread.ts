import { Worker } from 'node:worker_threads';
import { BookcrateError, errorFromData, publicKeyPem, type ErrorData } from '@bookcrate/format';
import type { ImportOptions, ImportProgress, ImportReport } from './import.js';

// Resolved from src/ (tests) and dist/ alike: the worker always runs from the built JavaScript.
const WORKER_URL = new URL('../dist/import-thread-worker.js', import.meta.url);

/**
 * The importing thread's young generation, in MB. V8 gives a process's main thread a young
 * generation of 32 MB (two 16 MB semi-spaces), and only a start-up flag changes it; a worker's is
 * set when it is made. Import's main-thread heap, at ~60 MB, was the largest item of the 200 MB
 * budget. With 16 MB here (~17 MB of semi-spaces), and the heap kept near its live size (HEAP_LIMIT),
 * a 200,000-file import peaked lower in no more time. With 8 MB it peaked lower still, but its
 * collections took 3.2 s instead of 2.6 s (docs/performance.md, "Run AQ").
 */
const YOUNG_GENERATION_MB = 16;
/** keepHeapSmall's limit on the importing thread: ~17 MB young, ~15 MB alive, room for garbage */
export const HEAP_LIMIT = 40e6;

/** What the importing thread is given: ImportOptions as plain data (the key as PEM, no callbacks). */
export interface ImportJob {
  volume: string;
  store: string;
  trustPem?: string;
  yes: boolean;
  only?: string[];
  all: boolean;
  wait: boolean;
  spaceCheck: boolean;
  gcAfterMs?: number;
  /** the caller can ask the librarian to confirm the disk key's fingerprint */
  asksKey: boolean;
}

/** What the importing thread says, in order: progress, a question, then one answer. */
export type FromImportThread =
  | { progress: ImportProgress }
  | { confirmKey: string }
  | { report: ImportReport }
  | { error: ErrorData };

/** The caller's reply to a confirmKey question. */
export interface KeyConfirmed {
  keyConfirmed: boolean;
}

/**
 * importVolume on a thread of its own, with the same options and outcome: the report, or the same
 * BookcrateError (code, hint, words for the librarian). onProgress and confirmKey run on the calling
 * thread, which stays free to draw progress and read the librarian's answer.
 */
export function importVolumeInThread(opts: ImportOptions): Promise<ImportReport> {
  const job: ImportJob = {
    volume: opts.volume, store: opts.store, yes: !!opts.yes, all: !!opts.all, wait: !!opts.wait, spaceCheck: opts.spaceCheck !== false, asksKey: !!opts.confirmKey,
    ...(opts.trust ? { trustPem: publicKeyPem(opts.trust) } : {}), ...(opts.only ? { only: [...opts.only] } : {}),
    ...(opts.gcAfterMs !== undefined ? { gcAfterMs: opts.gcAfterMs } : {}),
  };
  const worker = new Worker(WORKER_URL, { workerData: job, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
  return new Promise<ImportReport>((resolve, reject) => {
    let answered = false;
    // confirmKey failed here (the terminal went away): the thread is told "not confirmed" and
    // ends as it would, and this error, not the thread's, is the outcome.
    let askFailed: unknown;
    const answer = (fn: () => void): void => {
      if (answered) return;
      answered = true;
      fn();
    };
    worker.on('message', (m: FromImportThread) => {
      if ('progress' in m) opts.onProgress?.(m.progress);
      else if ('confirmKey' in m) {
        const asked = opts.confirmKey ? opts.confirmKey(m.confirmKey) : Promise.resolve(false);
        asked.then(
          (ok) => worker.postMessage({ keyConfirmed: ok } satisfies KeyConfirmed),
          (e: unknown) => {
            askFailed = e ?? new Error('confirmKey failed');
            worker.postMessage({ keyConfirmed: false } satisfies KeyConfirmed);
          },
        );
      } else if ('report' in m) answer(() => resolve(m.report));
      else answer(() => reject(askFailed ?? errorFromData(m.error)));
    });
    worker.once('error', (e) => answer(() => reject(e)));
    worker.once('exit', (code) => answer(() => reject(new BookcrateError('INTERNAL', `the importing thread stopped before it answered (exit code ${code})`))));
  });
}
