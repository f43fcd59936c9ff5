/**
 * The hashing service of HashThread (hash-thread.ts), run by hash-thread-worker.ts on a thread of
 * its own or beside other services on a SharedThread (thread-link.ts). It receives batches of
 * operations on the buffers of a SharedBufferPool — open a hasher, hash a byte range of buffer i,
 * finish a hasher — runs them in order, and answers each batch with the digests it finished and the buffer it no longer needs. No
 * byte of content crosses threads: only indexes and offsets do. XXH64 runs in place, in the pool's
 * own memory (SharedXxh64); SHA-256 is node's, on a view of the same bytes.
 */
import { createHash, type Hash } from 'node:crypto';
import type { MessagePort } from 'node:worker_threads';
// Only the hasher, not the whole format package (see hash-thread-worker.ts).
import { SharedXxh64, XXH64_STATE_BYTES } from '@bookcrate/format/xxh64';
import { OP_BYTES, OP_FINISH, OP_OPEN, OP_UPDATE, KIND_SHA256, KIND_XXH64, type FromHashThread, type HashThreadData, type ToHashThread } from './hash-protocol.js';

export type { HashThreadData };

/** Serves hashing on `port` until the thread ends; resolves once it is ready (and has said so). */
export async function serveHashing(port: MessagePort, data: HashThreadData): Promise<void> {
  const bytes = new Uint8Array(data.memory.buffer);
  const xxh = await SharedXxh64.create(data.memory);
  const freeStates: number[] = [];
  for (let i = data.stateSlots - 1; i >= 0; i--) freeStates.push(data.statesAt + i * XXH64_STATE_BYTES);

  class Hasher {
    readonly sha: Hash | undefined;
    /** where this hasher's XXH64 state lives in the memory, if it computes XXH64 */
    readonly state: number | undefined;
    constructor(kind: number) {
      if (kind !== KIND_XXH64) this.sha = createHash('sha256');
      if (kind !== KIND_SHA256) {
        const at = freeStates.pop();
        if (at === undefined) throw new Error(`hash thread: more than ${data.stateSlots} hashers open at once`);
        this.state = at;
        xxh.init(at);
      }
    }
    update(at: number, length: number): void {
      this.sha?.update(bytes.subarray(at, at + length));
      if (this.state !== undefined) xxh.update(this.state, at, length);
    }
    finish(): [string, string] {
      const sha = this.sha ? this.sha.digest('hex') : '';
      let x = '';
      if (this.state !== undefined) {
        x = xxh.digest(this.state);
        freeStates.push(this.state);
      }
      return [sha, x];
    }
  }

  const hashers = new Map<number, Hasher>();
  const hasher = (id: number): Hasher => {
    const h = hashers.get(id);
    if (!h) throw new Error(`hash thread: hasher ${id} was never opened`);
    return h;
  };

  port.on('message', (m: ToHashThread) => {
    if (m.t === OP_BYTES) {
      // Bytes from outside the pool: through the scratch area, a piece at a time.
      const h = hasher(m.id);
      const src = new Uint8Array(m.buf);
      for (let at = 0; at < src.length; at += data.scratchBytes) {
        const piece = src.subarray(at, at + data.scratchBytes);
        bytes.set(piece, data.scratchAt);
        h.update(data.scratchAt, piece.length);
      }
      return;
    }
    const base = m.i >= 0 ? m.i * data.bufferBytes : 0;
    const done: (number | string)[] = [];
    const ops = m.ops;
    for (let k = 0; k < ops.length;) {
      const op = ops[k]!;
      if (op === OP_UPDATE) {
        hasher(ops[k + 1]!).update(base + ops[k + 2]!, ops[k + 3]!);
        k += 4;
      } else if (op === OP_FINISH) {
        const id = ops[k + 1]!;
        const [sha, x] = hasher(id).finish();
        hashers.delete(id);
        done.push(id, sha, x);
        k += 2;
      } else if (op === OP_OPEN) {
        hashers.set(ops[k + 1]!, new Hasher(ops[k + 2]!));
        k += 3;
      } else throw new Error(`hash thread: unknown operation ${op}`);
    }
    port.postMessage({ i: m.i, done } satisfies FromHashThread);
  });
  port.postMessage('ready');
}
