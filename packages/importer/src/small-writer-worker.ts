/**
 * The writer thread of SmallWriter: for every small object of a batch, creates its temp file,
 * writes it, closes it and renames it to its final path under objects/, with plain system calls —
 * four of them per file, and none of them on the importer's main thread — and, when asked, links it
 * into the readers' tree being built. The first failure of an object stops the batch; its temp
 * file is removed, and the reply says how many objects were done before it. A failed link only
 * goes into the reply (the tree is then built again from the catalog).
 */
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { linkIntoTree, renameMakingFolder } from '@bookcrate/store/tree-link';
import type { BatchDone, BatchRequest } from './small-writer.js';

// The segment reader's shared buffers, when the importer gives them: objects whose bytes are still
// there are written from them directly (no copy on the main thread).
const pool = (workerData as { pool?: SharedArrayBuffer } | undefined)?.pool;
const poolBytes = pool ? Buffer.from(pool) : undefined;

/** Writes the pieces [buffer, offset, length] one after the other as one file. */
function writeOne(pieces: [Buffer, number, number][], tmp: string, final: string): void {
  let fd = -1;
  let created = false;
  let where = tmp;
  try {
    fd = openSync(tmp, 'w');
    created = true;
    let at = 0;
    for (const [data, off, n] of pieces) {
      let w = 0;
      while (w < n) {
        const k = writeSync(fd, data, off + w, n - w, at + w);
        if (k <= 0) throw Object.assign(new Error(`short write to ${tmp}`), { code: 'EIO' });
        w += k;
      }
      at += n;
    }
    const f = fd;
    fd = -1;
    closeSync(f);
    where = final;
    // its shard folder is made at the start of the import; made again if it is gone
    renameMakingFolder(tmp, final);
  } catch (e) {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch { /* already failing */ }
    }
    if (created) {
      try {
        unlinkSync(tmp);
      } catch { /* not there */ }
    }
    throw Object.assign(e as Error, { path: where });
  }
}

parentPort!.on('message', (b: BatchRequest) => {
  const data = Buffer.from(b.buf);
  let off = 0;
  let r = 0;
  let done = 0;
  let error: BatchDone['error'];
  const unlinked: number[] = [];
  for (let i = 0; i < b.sizes.length; i++) {
    const n = b.sizes[i]!;
    let pieces: [Buffer, number, number][];
    if (b.inPool[i]) {
      // [count, offset, length, offset, length, ...] in the shared buffers
      const k = b.ranges[r++]!;
      pieces = [];
      for (let j = 0; j < k; j++, r += 2) pieces.push([poolBytes!, b.ranges[r]!, b.ranges[r + 1]!]);
    } else {
      pieces = [[data, off, n]];
      off += n;
    }
    const final = b.paths[3 * i + 1]!;
    try {
      writeOne(pieces, b.paths[3 * i]!, final);
    } catch (e) {
      const x = e as NodeJS.ErrnoException;
      error = { code: x.code, message: x.message, path: x.path };
      break;
    }
    const at = b.paths[3 * i + 2]!;
    if (at && !linkIntoTree(final, at)) unlinked.push(i);
    done++;
  }
  const reply: BatchDone = { id: b.id, done, error, unlinked, buf: b.buf };
  parentPort!.postMessage(reply, [b.buf]);
});
