/**
 * The checking thread (see check-thread.ts): once configured, runs a SegmentChecker over the batches
 * of entries it is sent, in order, and answers each batch with the problems it found and how far
 * it has read.
 */
import { parentPort } from 'node:worker_threads';
import { CheckFailure, SegmentChecker } from './segment-check.js';
import { SegmentRing } from './segment-ring.js';
import type { CheckThreadData, FromCheckThread, ToCheckThread } from './check-protocol.js';

const port = parentPort!;
const answer = (m: FromCheckThread): void => port.postMessage(m);
let checker: Promise<SegmentChecker> | undefined;
let bytes = 0;
let reported = 0;
/** after a failure the main thread stops; batches already sent are not checked */
let stopped = false;

const failed = (e: unknown): void => {
  stopped = true;
  const f = e instanceof CheckFailure ? e : new CheckFailure('IO', (e as Error).message);
  answer({ t: 'failed', code: f.code, message: f.message, ...(f.hint ? { hint: f.hint } : {}) });
};

async function configure(data: CheckThreadData): Promise<SegmentChecker> {
  const c: SegmentChecker = await SegmentChecker.create(new SegmentRing(data.memory, data.layout), {
    ...data,
    onBytes: (n) => {
      bytes += n;
      // Progress between answers: a batch of large files can take a while.
      if (bytes - reported >= data.progressBytes) {
        reported = bytes;
        answer({ t: 'bytes', bytes, segments: c.segmentsDone });
      }
    },
  });
  answer({ t: 'ready', bytes, segments: 0 });
  return c;
}

port.on('message', (m: ToCheckThread) => {
  if (m.t === 'configure') {
    checker = configure(m.data);
    checker.catch(failed);
    return;
  }
  // Batches wait for the checker only while it is being made; after that they run in order.
  void checker!.then((c) => {
    if (stopped) return;
    try {
      for (const f of m.files) c.check(f);
      if (m.last) c.finish();
      answer({ t: 'done', bytes, segments: c.segmentsDone, problems: c.problems.splice(0) });
    } catch (e) {
      failed(e);
    }
  });
});
