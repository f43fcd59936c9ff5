/** The writer thread of SmallWriter, on a thread of its own: the writing service on parentPort. */
import { parentPort, workerData } from 'node:worker_threads';
import { serveSmallWrites, type SmallWriterData } from './small-writer-service.js';

serveSmallWrites(parentPort!, workerData as SmallWriterData | undefined);
