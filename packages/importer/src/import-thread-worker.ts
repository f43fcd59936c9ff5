/**
 * The importing thread (see import-thread.ts): runs importVolume with the job it was given, sends
 * its progress and its key question to the thread that started it, and answers once, then ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorToData, loadPublicKey } from '@bookcrate/format';
import { keepHeapSmall } from '@bookcrate/volume';
import { importVolume } from './import.js';
import { HEAP_LIMIT, type FromImportThread, type ImportJob, type KeyConfirmed } from './import-thread.js';

const job = workerData as ImportJob;
const port = parentPort!;
const say = (m: FromImportThread): void => port.postMessage(m);

keepHeapSmall({ limit: HEAP_LIMIT });

/** Asks the calling thread, and waits for its one reply (the port is listened to only meanwhile). */
const confirmKey = (fingerprint: string): Promise<boolean> =>
  new Promise((resolve) => {
    port.once('message', (m: KeyConfirmed) => resolve(m.keyConfirmed === true));
    say({ confirmKey: fingerprint });
  });

let answer: FromImportThread;
try {
  answer = {
    report: await importVolume({
      volume: job.volume, store: job.store, yes: job.yes, all: job.all, wait: job.wait, spaceCheck: job.spaceCheck,
      ...(job.trustPem ? { trust: loadPublicKey(job.trustPem, 'the trusted center key') } : {}),
      ...(job.only ? { only: job.only } : {}), ...(job.asksKey ? { confirmKey } : {}), ...(job.gcAfterMs !== undefined ? { gcAfterMs: job.gcAfterMs } : {}),
      onProgress: (progress) => say({ progress }),
    }),
  };
} catch (e) {
  answer = { error: errorToData(e) };
}
say(answer);
