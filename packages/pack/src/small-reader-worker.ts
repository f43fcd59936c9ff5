/**
 * The reader thread of SmallReader: for every small source file of a batch, opens it, reads it
 * into its place in the shared ring, checks with fstat that it did not change while it was read,
 * and closes it — none of it on pack's main thread. Every file is read on its own: a failure is
 * reported for that file and the batch goes on.
 *
 * Files are read here, one after the other with plain system calls, while the page cache answers
 * them (a tree read before, or packed again): each read takes microseconds, where a trip through
 * libuv's pool cost this thread ~30 µs of CPU a file, and pack ~3 s of ~22 on 200,000 small files
 * (docs/performance.md, run BN). A read the disk had to answer is a cold small file: one disk
 * request whose wait is mostly latency, and one at a time the disk idles between them (runs AE and
 * AF). The next files then go through libuv's pool, up to `inFlight` at once across batches (the
 * open, the check and the close stay plain calls: the scan's lstat left the inode in memory), and
 * the one after them is read here again, to see whether the disk still answers (the rule, shared
 * with the reading of manifest parts, is @bookcrate/volume's CacheAwareReads). A batch is answered
 * when its last file is in, with how many of its files were read each way.
 */
import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReadBatch, ReadBatchDone, ReadFailure } from './small-reader.js';
import { mtimeOf } from './mtime.js';
import { CacheAwareReads } from '@bookcrate/volume/cache-aware';

const { ring: ringBuffer, inFlight, slowRead } = workerData as { ring: SharedArrayBuffer; inFlight: number; slowRead?: number };
const ring = new Uint8Array(ringBuffer);

/** When a file is read here and when through the pool (`slowRead`, tests: time alone, against that many ms). */
const reads = new CacheAwareReads(slowRead);

interface BatchState {
  batch: ReadBatch;
  results: (ReadFailure | 0)[];
  left: number;
  /** of its files, how many were read on this thread and how many through the pool */
  here: number;
  pooled: number;
}

/** Files not yet started, in order: [batch, index]. */
const waiting: [BatchState, number][] = [];
let reading = 0;

function ioFailure(e: unknown): ReadFailure {
  const err = e as NodeJS.ErrnoException;
  return { kind: err.code === 'ENOENT' ? 'deleted' : 'io', message: err.message, code: err.code };
}

function done(b: BatchState, i: number, r: ReadFailure | 0): void {
  b.results[i] = r;
  if (--b.left === 0) parentPort!.postMessage({ id: b.batch.id, results: b.results, here: b.here, pooled: b.pooled } satisfies ReadBatchDone);
}

/** After the last byte: did the file change while it was read? Then close it. */
function check(fd: number, size: number, mtime: number): ReadFailure | 0 {
  try {
    const st = fstatSync(fd);
    if (st.size !== size) return { kind: 'size', message: `its size went from ${size} to ${st.size} bytes` };
    if (mtimeOf(st.mtimeMs) !== mtime) return { kind: 'mtime', message: 'its modification time moved' };
    return 0;
  } catch (e) {
    return ioFailure(e);
  }
}

/** Opens file i of a batch, or reports why it cannot be (and returns undefined). */
function openOf(b: BatchState, i: number): number | undefined {
  const src = b.batch.srcs[i]!;
  try {
    return openSync(typeof src === 'string' ? src : Buffer.from(src.buffer, src.byteOffset, src.length), 'r');
  } catch (e) {
    done(b, i, ioFailure(e));
    return undefined;
  }
}

/** Reads file i of a batch on this thread; a read that waited for the disk sends the next files through the pool. */
function readHere(b: BatchState, i: number): void {
  const size = b.batch.sizes[i]!;
  const at = b.batch.offsets[i]!;
  const fd = openOf(b, i);
  if (fd === undefined) return;
  b.here++;
  let r: ReadFailure | 0 | undefined;
  const started = reads.beginHere();
  try {
    for (let got = 0; got < size;) {
      const n = readSync(fd, ring, at + got, size - got, got);
      if (n === 0) {
        r = { kind: 'shorter', message: 'it became shorter' };
        break;
      }
      got += n;
    }
  } catch (e) {
    r = ioFailure(e);
  }
  reads.endHere(started, size);
  r ??= check(fd, size, b.batch.mtimes[i]!);
  try {
    closeSync(fd);
  } catch { /* the result stands */ }
  done(b, i, r);
}

/** Reads file i of a batch through libuv's pool; pump() starts the next file when it is done. */
function readPooled(b: BatchState, i: number): void {
  const size = b.batch.sizes[i]!;
  const mtime = b.batch.mtimes[i]!;
  const at = b.batch.offsets[i]!;
  const fd = openOf(b, i);
  if (fd === undefined) return;
  b.pooled++;
  reading++;
  const finish = (r: ReadFailure | 0): void => {
    try {
      closeSync(fd);
    } catch { /* the result stands */ }
    reading--;
    done(b, i, r);
    pump();
  };
  let got = 0;
  const next = (): void => {
    if (got >= size) return finish(check(fd, size, mtime));
    read(fd, ring, at + got, size - got, got, (e, n) => {
      if (e) return finish(ioFailure(e));
      if (n === 0) return finish({ kind: 'shorter', message: 'it became shorter' });
      got += n;
      next();
    });
  };
  next();
}

function pump(): void {
  while (waiting.length > 0) {
    if (reads.readsHere) {
      const [b, i] = waiting.shift()!;
      readHere(b, i);
      continue;
    }
    if (reading >= inFlight) return;
    const [b, i] = waiting.shift()!;
    reads.sendToPool();
    readPooled(b, i);
  }
}

parentPort!.on('message', (batch: ReadBatch) => {
  const b: BatchState = { batch, results: new Array(batch.sizes.length).fill(0), left: batch.sizes.length, here: 0, pooled: 0 };
  if (b.left === 0) return void parentPort!.postMessage({ id: batch.id, results: [], here: 0, pooled: 0 } satisfies ReadBatchDone);
  for (let i = 0; i < batch.sizes.length; i++) waiting.push([b, i]);
  pump();
});
