/**
 * The import's helper thread (import.ts): the hashing of files over 64 KiB (HashThread's service)
 * and the writing of small objects (SmallWriter's), each on a port of its own, on one thread. An
 * import of photos and videos needs both, and each thread is a V8 isolate of ~9 MiB before it does
 * anything (docs/performance.md, "Run AU").
 */
import { workerData } from 'node:worker_threads';
import type { SharedThreadData } from '@bookcrate/volume';
import { serveHashing, type HashThreadData } from '@bookcrate/volume/hash-service';
import { serveSmallWrites, type SmallWriterData } from './small-writer-service.js';

const { services } = workerData as SharedThreadData;
serveSmallWrites(services.write!.port, services.write!.data as SmallWriterData);
await serveHashing(services.hash!.port, services.hash!.data as HashThreadData);
