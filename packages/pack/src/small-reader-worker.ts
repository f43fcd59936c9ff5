/**
 * The reader thread of SmallReader: for every small source file of a batch, opens it, reads it
 * into its place in the shared ring, checks with fstat that it did not change while it was read,
 * and closes it — none of it on pack's main thread. Every file is read on its own: a failure is
 * reported for that file and the batch goes on.
 *
 * Files are read here, one after the other with plain system calls, while the page cache answers
 * them (a tree read before, or packed again): each read takes microseconds, where a trip through
 * libuv's pool cost this thread ~30 µs of CPU a file, and pack ~3 s of ~22 on 200,000 small files
 * (docs/performance.md, run BN). A read the disk had to answer (fromDisk, below) is a cold small
 * file: one disk request whose wait is mostly latency, and one at a time the disk idles between
 * them (runs AE and AF). The next files then go through libuv's pool, up to `inFlight` at once
 * across batches (the open, the check and the close stay plain calls: the scan's lstat left the
 * inode in memory), and the one after them is read here again, to see whether the disk still
 * answers (FIRST_STRETCH, LONGEST_STRETCH). A batch is answered when its last file is in, with how
 * many of its files were read each way.
 */
import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReadBatch, ReadBatchDone, ReadFailure } from './small-reader.js';
import { mtimeOf } from './mtime.js';

const { ring: ringBuffer, inFlight, slowRead } = workerData as { ring: SharedArrayBuffer; inFlight: number; slowRead?: number };
const ring = new Uint8Array(ringBuffer);

/**
 * Whether a read went to the disk: the kernel counts the process's block reads (getrusage's
 * ru_inblock, `fsRead`), which grow with a read the page cache could not answer and not otherwise
 * (one call, ~2 µs). Time alone does not tell: a small file from this VM's disk took 40–50 µs, a
 * cached one 3 µs alone but often over 20 µs while both cores were busy (docs/performance.md, run
 * BN). Where the count does not grow (a network share, Windows), a read slower than slowReadMs did
 * wait. Another thread's block read in between (the writer's large files, the scan's inodes) only
 * makes a cached read look like one from the disk, which costs a short stretch through the pool.
 * `slowRead` (tests): time alone, against that many ms.
 */
const slowReadMs = (size: number): number => 0.1 + size / 2e6;
let blockReads = process.resourceUsage().fsRead;
/**
 * Files read through the pool after a slow read, before one is read here again to look: FIRST_STRETCH
 * after a fast stretch, twice the last one (up to LONGEST_STRETCH) while the disk goes on answering,
 * so a lone slow read costs little and a cold tree is looked at once in hundreds of files.
 */
const FIRST_STRETCH = 8;
const LONGEST_STRETCH = 256;
/** the last stretch through the pool (0: the last read here was fast), and what is left of it */
let stretch = 0;
let pooledLeft = 0;

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
  if (stretch > 0) blockReads = process.resourceUsage().fsRead; // the pool's reads since the last read here were counted
  const t = performance.now();
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
  const took = performance.now() - t;
  const before = blockReads;
  blockReads = process.resourceUsage().fsRead;
  const fromDisk = slowRead === undefined ? blockReads !== before || took > slowReadMs(size) : took > slowRead;
  if (fromDisk) {
    stretch = stretch === 0 ? FIRST_STRETCH : Math.min(2 * stretch, LONGEST_STRETCH);
    pooledLeft = stretch;
  } else {
    stretch = 0;
  }
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
    if (pooledLeft === 0) {
      const [b, i] = waiting.shift()!;
      readHere(b, i);
      continue;
    }
    if (reading >= inFlight) return;
    const [b, i] = waiting.shift()!;
    pooledLeft--;
    readPooled(b, i);
  }
}

parentPort!.on('message', (batch: ReadBatch) => {
  const b: BatchState = { batch, results: new Array(batch.sizes.length).fill(0), left: batch.sizes.length, here: 0, pooled: 0 };
  if (b.left === 0) return void parentPort!.postMessage({ id: batch.id, results: [], here: 0, pooled: 0 } satisfies ReadBatchDone);
  for (let i = 0; i < batch.sizes.length; i++) waiting.push([b, i]);
  pump();
});
