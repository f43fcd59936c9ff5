/**
 * The reader thread of SmallReader: for every small source file of a batch, opens it, reads it
 * into its place in the shared ring, checks with fstat that it did not change while it was read,
 * and closes it — none of it on pack's main thread. Every file is read on its own: a failure is
 * reported for that file and the batch goes on.
 *
 * Up to `inFlight` files are read at once, across batches, each read through libuv's pool (the
 * open, the check and the close stay plain system calls here: the scan's lstat left the inode in
 * memory). A cold small file is one disk request whose wait is mostly latency, and one at a time
 * the disk idles between them (docs/performance.md, "Runs AE and AF"). A batch is
 * answered when its last file is in.
 */
import { closeSync, fstatSync, openSync, read } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReadBatch, ReadBatchDone, ReadFailure } from './small-reader.js';
import { mtimeOf } from './mtime.js';

const { ring: ringBuffer, inFlight } = workerData as { ring: SharedArrayBuffer; inFlight: number };
const ring = new Uint8Array(ringBuffer);

interface BatchState {
  batch: ReadBatch;
  results: (ReadFailure | 0)[];
  left: number;
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
  if (--b.left === 0) parentPort!.postMessage({ id: b.batch.id, results: b.results } satisfies ReadBatchDone);
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

function start(b: BatchState, i: number): void {
  const src = b.batch.srcs[i]!;
  const size = b.batch.sizes[i]!;
  const mtime = b.batch.mtimes[i]!;
  const at = b.batch.offsets[i]!;
  let fd: number;
  try {
    fd = openSync(typeof src === 'string' ? src : Buffer.from(src.buffer, src.byteOffset, src.length), 'r');
  } catch (e) {
    done(b, i, ioFailure(e));
    return;
  }
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
  while (reading < inFlight && waiting.length > 0) {
    const [b, i] = waiting.shift()!;
    start(b, i);
  }
}

parentPort!.on('message', (batch: ReadBatch) => {
  const b: BatchState = { batch, results: new Array(batch.sizes.length).fill(0), left: batch.sizes.length };
  if (b.left === 0) return void parentPort!.postMessage({ id: batch.id, results: [] } satisfies ReadBatchDone);
  for (let i = 0; i < batch.sizes.length; i++) waiting.push([b, i]);
  pump();
});
