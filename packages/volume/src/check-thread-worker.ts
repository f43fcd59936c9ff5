/**
 * The checking thread (see check-thread.ts): once configured, either walks the signed manifest
 * itself and checks every entry on this volume (`walk`: a verify), or checks the batches of entries
 * it is sent, in order (`check`: the tests). It reports the problems it finds, how far it has read
 * and, at the end, that it is done.
 */
import { parentPort } from 'node:worker_threads';
import { isBookcrateError, type Root } from '@bookcrate/format';
import { CheckFailure, SegmentChecker, type FileCheck } from './segment-check.js';
import { SegmentRing } from './segment-ring.js';
import { partLoader, placedEntryBatches } from './open.js';
import { fileChecksOf } from './check-walk.js';
import type { CheckThreadData, FromCheckThread, ToCheckThread } from './check-protocol.js';

const port = parentPort!;
const answer = (m: FromCheckThread): void => port.postMessage(m);
let checker: Promise<SegmentChecker> | undefined;
let bytes = 0;
let reported = 0;
/** entries on this volume walked so far (walk only) */
let files = 0;
/** after a failure the main thread stops; batches already sent are not checked */
let stopped = false;

const failed = (e: unknown): void => {
  if (stopped) return;
  stopped = true;
  if (e instanceof CheckFailure || isBookcrateError(e)) {
    answer({ t: 'failed', code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}), ...(isBookcrateError(e) && e.say ? { say: e.say } : {}) });
  } else {
    answer({ t: 'failed', code: 'IO', message: (e as Error).message });
  }
};

async function configure(data: CheckThreadData): Promise<SegmentChecker> {
  const c: SegmentChecker = await SegmentChecker.create(new SegmentRing(data.memory, data.layout), {
    ...data,
    onBytes: (n) => {
      bytes += n;
      // Progress between answers: a batch of large files can take a while.
      if (bytes - reported >= data.progressBytes) {
        reported = bytes;
        answer({ t: 'bytes', bytes, segments: c.segmentsDone, files });
      }
    },
  });
  answer({ t: 'ready', bytes, segments: 0 });
  return c;
}

/**
 * Walks the manifest a part at a time (its parts read ahead by libuv while the entries of the part
 * at hand are checked, which blocks this thread only while the ring is empty) and checks each entry.
 * No entry crosses threads: walking it here costs less than copying it here.
 */
async function walk(c: SegmentChecker, dir: string, root: Root, mineList: number[]): Promise<void> {
  const mine = new Set(mineList);
  const check = (f: FileCheck): void => c.check(f);
  for await (const batch of placedEntryBatches({ root, loadPart: partLoader(dir) })) {
    if (stopped) return;
    files += fileChecksOf(batch, mine, check);
    if (c.problems.length > 0) answer({ t: 'problems', problems: c.problems.splice(0) });
  }
  c.finish();
  answer({ t: 'walked', bytes, segments: c.segmentsDone, files, problems: c.problems.splice(0) });
}

port.on('message', (m: ToCheckThread) => {
  if (m.t === 'configure') {
    checker = configure(m.data);
    checker.catch(failed);
    return;
  }
  if (m.t === 'walk') {
    void checker!.then((c) => walk(c, m.dir, m.root, m.mine)).catch(failed);
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
