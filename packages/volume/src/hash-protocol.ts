/** Messages between HashThread and its worker (hash-thread.ts, hash-thread-worker.ts). */
export const OP_UPDATE = 0; // id, start, length: hash that range of the batch's buffer
export const OP_FINISH = 1; // id: digest, reply, forget
export const OP_OPEN = 2; // id, kind
export const OP_BYTES = 3; // a message of its own: bytes that are in no shared buffer

export const KIND_DUAL = 0;
export const KIND_SHA256 = 1;
export const KIND_XXH64 = 2;

export type ToHashThread =
  | { t: typeof OP_UPDATE; i: number; ops: number[] } // i: buffer index, or -1 for a batch without bytes
  | { t: typeof OP_BYTES; id: number; buf: ArrayBuffer };

/** `done`: id, sha256 hex ('' if not computed), xxh64 hex ('' if not computed), repeated. */
export interface FromHashThread {
  i: number;
  done: (number | string)[];
}

/** What the thread is given at start: the pool's memory and where things are in it. */
export interface HashThreadData {
  memory: WebAssembly.Memory;
  bufferBytes: number;
  statesAt: number;
  stateSlots: number;
  scratchAt: number;
  scratchBytes: number;
}
