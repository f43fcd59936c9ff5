/**
 * The writing service of SmallWriter (small-writer.ts), run by small-writer-worker.ts on a thread of
 * its own, or beside the hashing on the import's helper thread (import-helper-worker.ts). For every
 * small object of a batch (its SHA-256 already checked), it creates its file at its final path under objects/, writes it and closes it, with plain system
 * calls — three of them per file, and none of them on the importing thread — and, when asked,
 * links it into the readers' tree being built. No temp file and no rename: the catalog records an
 * object only after the sync that follows, and an object file without a row is not trusted
 * (docs/store.md, "Import", step 5). The first failure of an object stops the batch; what it had
 * written of that object is removed, and the reply says how many objects were done before it. A
 * failed link only goes into the reply (the tree is then built again from the catalog).
 */
import { closeSync, constants, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import { linkIntoTree } from '@bookcrate/store/tree-link';
import type { BatchDone, BatchRequest } from './small-writer.js';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/**
 * A new file at `path`. One already there was left by a killed run (a written object is either
 * recorded, and then never written again, or not trusted), or written a moment ago for another file
 * of the same content that was still in flight when this one began: it is removed, not truncated,
 * so that whatever else links to it (a tree being built) keeps its bytes. Its shard folder is made
 * at the start of the import, and made again here if it is gone.
 */
function create(path: string): number {
  for (let attempt = 0; ; attempt++) {
    try {
      return openSync(path, CREATE, 0o666);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (attempt >= 2) throw e;
      if (code === 'EEXIST') unlinkSync(path);
      else if (code === 'ENOENT') mkdirSync(dirname(path), { recursive: true });
      else throw e;
    }
  }
}

/** Writes the pieces [buffer, offset, length] one after the other as one new file at `path`. */
function writeOne(pieces: [Buffer, number, number][], path: string): void {
  let fd = -1;
  let created = false;
  try {
    fd = create(path);
    created = true;
    let at = 0;
    for (const [data, off, n] of pieces) {
      let w = 0;
      while (w < n) {
        const k = writeSync(fd, data, off + w, n - w, at + w);
        if (k <= 0) throw Object.assign(new Error(`short write to ${path}`), { code: 'EIO' });
        w += k;
      }
      at += n;
    }
    const f = fd;
    fd = -1;
    closeSync(f);
  } catch (e) {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch { /* already failing */ }
    }
    // nothing of a failed object stays at its final path (a full disk leaves no partial object)
    if (created) {
      try {
        unlinkSync(path);
      } catch { /* not there */ }
    }
    throw Object.assign(e as Error, { path });
  }
}

/** What the service is given: the segment reader's shared buffers, when the importer has them. */
export interface SmallWriterData {
  pool?: SharedArrayBuffer;
}

/** Serves small-object writes on `port` until the thread ends. */
export function serveSmallWrites(port: MessagePort, data: SmallWriterData | undefined): void {
  // Objects whose bytes are still in the reader's shared buffers are written from there directly
  // (no copy on the importing thread).
  const poolBytes = data?.pool ? Buffer.from(data.pool) : undefined;
  port.on('message', (b: BatchRequest) => {
    const copied = Buffer.from(b.buf);
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
        pieces = [[copied, off, n]];
        off += n;
      }
      const final = b.paths[2 * i]!;
      try {
        writeOne(pieces, final);
      } catch (e) {
        const x = e as NodeJS.ErrnoException;
        error = { code: x.code, message: x.message, path: x.path };
        break;
      }
      const at = b.paths[2 * i + 1]!;
      if (at && !linkIntoTree(final, at)) unlinked.push(i);
      done++;
    }
    const reply: BatchDone = { id: b.id, done, error, unlinked, buf: b.buf };
    port.postMessage(reply, [b.buf]);
  });
}
