/**
 * The reader thread of SmallReader: for every small source file of a batch, opens it, reads it
 * into its place in the shared ring, checks with fstat that it did not change while it was read,
 * and closes it. Up to IN_FLIGHT files are read at once (libuv's thread pool does the system
 * calls): on a cold disk a queue of requests is what lets it answer several per seek, and one file
 * at a time left this thread waiting on each. None of this touches pack's main thread. Every file
 * is read on its own: a failure is reported for that file and the batch goes on.
 */
import { close, fstat, open, read } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReadBatch, ReadBatchDone, ReadFailure } from './small-reader.js';

const IN_FLIGHT = 16;
const ring = Buffer.from((workerData as { ring: SharedArrayBuffer }).ring);

function readOne(src: string | Uint8Array, size: number, mtime: number, at: number, done: (r: ReadFailure | 0) => void): void {
  const path = typeof src === 'string' ? src : Buffer.from(src.buffer, src.byteOffset, src.length);
  open(path, 'r', (err, fd) => {
    if (err) return done({ kind: err.code === 'ENOENT' ? 'deleted' : 'io', message: err.message, ...(err.code ? { code: err.code } : {}) });
    const finish = (r: ReadFailure | 0): void => close(fd, () => done(r));
    const io = (e: NodeJS.ErrnoException): void => finish({ kind: 'io', message: e.message, ...(e.code ? { code: e.code } : {}) });
    let got = 0;
    const step = (): void => {
      if (got === size) {
        fstat(fd, (e, st) => {
          if (e) return io(e);
          if (st.size !== size) return finish({ kind: 'size', message: `its size went from ${size} to ${st.size} bytes` });
          if (Math.floor(st.mtimeMs / 1000) !== mtime) return finish({ kind: 'mtime', message: 'its modification time moved' });
          finish(0);
        });
        return;
      }
      read(fd, ring, at + got, size - got, got, (e, n) => {
        if (e) return io(e);
        if (n === 0) return finish({ kind: 'shorter', message: 'it became shorter' });
        got += n;
        step();
      });
    };
    step();
  });
}

// Files waiting for a place among the IN_FLIGHT, in the order they came (batch by batch).
const queue: { b: ReadBatch; i: number; results: (ReadFailure | 0)[]; left: { n: number } }[] = [];
let running = 0;

function pump(): void {
  while (running < IN_FLIGHT && queue.length > 0) {
    const job = queue.shift()!;
    running++;
    const { b, i, results, left } = job;
    readOne(b.srcs[i]!, b.sizes[i]!, b.mtimes[i]!, b.offsets[i]!, (r) => {
      running--;
      results[i] = r;
      if (--left.n === 0) parentPort!.postMessage({ id: b.id, results } satisfies ReadBatchDone);
      pump();
    });
  }
}

parentPort!.on('message', (b: ReadBatch) => {
  const n = b.sizes.length;
  const results: (ReadFailure | 0)[] = new Array(n);
  if (n === 0) {
    parentPort!.postMessage({ id: b.id, results } satisfies ReadBatchDone);
    return;
  }
  const left = { n };
  for (let i = 0; i < n; i++) queue.push({ b, i, results, left });
  pump();
});
