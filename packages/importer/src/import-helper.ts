import { SharedThread, hashThreadData, type SharedBufferPool } from '@bookcrate/volume';
import type { SmallWriterData } from './small-writer-service.js';

// Resolved from src/ (tests) and dist/ alike: the worker always runs from the built JavaScript.
const HELPER_URL = new URL('../dist/import-helper-worker.js', import.meta.url);

/** The pool's memory as the SharedArrayBuffer it is (a shared WebAssembly.Memory's buffer). */
export const sharedMemory = (buffers: SharedBufferPool): SharedArrayBuffer => buffers.memory.buffer as unknown as SharedArrayBuffer;

/**
 * The import's helper thread (import-helper-worker.ts): service `hash` for a HashThread over
 * `buffers`, service `write` for a SmallWriter writing from them. One thread instead of two: each
 * is a V8 isolate of ~9 MiB before it does anything (docs/performance.md, "Run AU"). It boots when
 * either service is first used, and stops at `close` (or once both links are closed).
 */
export function importHelperThread(buffers: SharedBufferPool): SharedThread {
  return new SharedThread(HELPER_URL, { hash: hashThreadData(buffers), write: { pool: sharedMemory(buffers) } satisfies SmallWriterData }, {
    what: "the import's helper thread",
    // It holds only hashers, small messages and batches of paths: a small heap keeps the process's memory small.
    resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 48 },
  });
}
