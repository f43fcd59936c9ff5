/**
 * The reader thread of SmallReader: for every small source file of a batch, opens it, reads it
 * into its place in the shared ring, checks with fstat that it did not change while it was read,
 * and closes it — plain system calls, like tar makes, and none of them on pack's main thread.
 * Every file is read on its own: a failure is reported for that file and the batch goes on.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReadBatch, ReadBatchDone, ReadFailure } from './small-reader.js';
import { mtimeOf } from './mtime.js';

const ring = new Uint8Array((workerData as { ring: SharedArrayBuffer }).ring);

function readOne(src: string | Uint8Array, size: number, mtime: number, at: number): ReadFailure | 0 {
  let fd = -1;
  try {
    fd = openSync(typeof src === 'string' ? src : Buffer.from(src.buffer, src.byteOffset, src.length), 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { kind: err.code === 'ENOENT' ? 'deleted' : 'io', message: err.message, code: err.code };
  }
  try {
    let got = 0;
    while (got < size) {
      const n = readSync(fd, ring, at + got, size - got, got);
      if (n === 0) return { kind: 'shorter', message: 'it became shorter' };
      got += n;
    }
    const st = fstatSync(fd);
    if (st.size !== size) return { kind: 'size', message: `its size went from ${size} to ${st.size} bytes` };
    if (mtimeOf(st.mtimeMs) !== mtime) return { kind: 'mtime', message: 'its modification time moved' };
    return 0;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { kind: 'io', message: err.message, code: err.code };
  } finally {
    closeSync(fd);
  }
}

parentPort!.on('message', (b: ReadBatch) => {
  const results: (ReadFailure | 0)[] = [];
  for (let i = 0; i < b.sizes.length; i++) results.push(readOne(b.srcs[i]!, b.sizes[i]!, b.mtimes[i]!, b.offsets[i]!));
  parentPort!.postMessage({ id: b.id, results } satisfies ReadBatchDone);
});
