import { Worker } from 'node:worker_threads';
import { errorFromData, type ErrorData } from '@bookcrate/format';

// Resolved from src/ (tests) and dist/ alike: the worker always runs from the built JavaScript.
const WORKER_URL = new URL('../dist/catalog-thread-worker.js', import.meta.url);

/** The message that asks the thread to stop. */
export const STOP = 'stop';

/** What the catalog thread needs: where the store and the volume are, and what was verified already. */
export interface CatalogJob {
  store: string;
  volume: string;
  /** the trusted center key (PEM) the volume was verified with */
  keyPem: string;
  /** SHA-256 of the root the import verified: the thread refuses a root that differs */
  rootSha256: string;
  /** the folders of the collections this import takes (`--only`); none: those the library carries */
  onlyFolders?: string[];
}

/** What the import still has to write (Store.bytesToAdmit), as the catalog stands once the manifest is in. */
export interface ToAdmit {
  bytes: number;
  files: number;
}

/** The thread's answer: the new version's id and what the volume still brings, or the error it met, as plain data. */
export type CatalogAnswer = { id: number; toAdmit: ToAdmit } | { error: ErrorData };

/** A catalog thread at work. */
export interface CatalogThread {
  /** the new version's id, once its manifest is in the catalog */
  versionId: Promise<number>;
  /** what this volume still brings, counted by the thread right after (a query of the whole version, off the importing thread) */
  toAdmit: Promise<ToAdmit>;
  /** Asks the thread to stop after the transaction it is in (the import failed): versionId then rejects. */
  stop(): void;
}

/**
 * Puts a new version's manifest into the catalog on a thread of its own (docs/store.md, "Import",
 * step 4), with its own connection to the catalog, while the calling thread reads the segments:
 * decoding a manifest and inserting its rows is CPU work (~40 µs a file) that, on the importing
 * thread held up the reading. versionId rejects with the error the thread met, as the same
 * BookcrateError (code, message, hint, words for the librarian).
 */
export function catalogInThread(job: CatalogJob): CatalogThread {
  // It decodes a batch of manifest entries at a time: a small heap keeps the process's memory small.
  const worker = new Worker(WORKER_URL, { workerData: job, resourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 64 } });
  let admitted: (t: ToAdmit) => void = () => undefined;
  const toAdmit = new Promise<ToAdmit>((resolve) => (admitted = resolve));
  const versionId = new Promise<number>((resolve, reject) => {
    let answered = false;
    worker.once('message', (m: CatalogAnswer) => {
      answered = true;
      if ('id' in m) {
        admitted(m.toAdmit);
        resolve(m.id);
      } else reject(errorFromData(m.error));
    });
    worker.once('error', (e) => {
      answered = true;
      reject(e);
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the catalog thread stopped before it answered (exit code ${code})`));
    });
  });
  return { versionId, toAdmit, stop: () => worker.postMessage(STOP) };
}
