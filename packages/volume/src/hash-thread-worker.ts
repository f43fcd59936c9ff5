/** The hashing thread of HashThread, on a thread of its own: the hashing service on parentPort. */
import { parentPort, workerData } from 'node:worker_threads';
// Only the hashing service, not the whole package: the thread boots ~80 ms sooner from a cold disk,
// time the command would wait for it (docs/performance.md, "Runs AA to AD").
import { serveHashing } from './hash-service.js';
import type { HashThreadData } from './hash-protocol.js';

await serveHashing(parentPort!, workerData as HashThreadData);
