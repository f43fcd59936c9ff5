/**
 * The hashing thread of `pack`. SHA-256 and XXH64 of every file cost more CPU than the copy itself;
 * on a second core they run beside the I/O instead of in its way. It receives the segment writer's
 * buffers with a list of operations (a file's byte range, a file's end, a segment's end) and answers
 * with digests, in order, and acknowledges every buffer so the writer never runs ahead by more than
 * a few buffers (memory stays flat).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DualHasher, FastHasher, initHashing } from '@bookcrate/format';

export type HashOp =
  | [0, number, number, number] // data: fileId, start, length (within this buffer)
  | [1, number] // file ended: fileId
  | [2, number]; // segment ended: segmentId

export type ToWorker =
  | { t: 'chunk'; index: number; used: number; ops: HashOp[] } // a shared buffer, by index
  | { t: 'rehash'; file: number; buf: ArrayBuffer };

export type FromWorker =
  | { t: 'file'; id: number; sha256: string; xxh64: string }
  | { t: 'segment'; id: number; xxh64: string }
  | { t: 'ack'; index: number };

const port = parentPort!;
// The writer's buffers, shared with this thread: no copy of the data crosses threads.
const shared = (workerData as { buffers: SharedArrayBuffer[] }).buffers.map((b) => new Uint8Array(b));
await initHashing();
const files = new Map<number, DualHasher>();
let segment = new FastHasher();
const fileHasher = (id: number): DualHasher => {
  let h = files.get(id);
  if (!h) files.set(id, (h = new DualHasher()));
  return h;
};

port.on('message', (m: ToWorker) => {
  if (m.t === 'rehash') {
    fileHasher(m.file).update(new Uint8Array(m.buf));
    return;
  }
  const buf = shared[m.index]!.subarray(0, m.used);
  segment.update(buf);
  for (const op of m.ops) {
    if (op[0] === 0) fileHasher(op[1]).update(buf.subarray(op[2], op[2] + op[3]));
    else if (op[0] === 1) {
      const d = fileHasher(op[1]).digest();
      files.delete(op[1]);
      port.postMessage({ t: 'file', id: op[1], ...d } satisfies FromWorker);
    } else {
      const xxh64 = segment.digest();
      segment = new FastHasher();
      port.postMessage({ t: 'segment', id: op[1], xxh64 } satisfies FromWorker);
    }
  }
  port.postMessage({ t: 'ack', index: m.index } satisfies FromWorker);
});
port.postMessage({ t: 'ready' });
