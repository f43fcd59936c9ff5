import { Worker } from 'node:worker_threads';
import type { Digests } from '@bookcrate/format';
import type { FromWorker, HashOp, ToWorker } from './hash-worker.js';

// Resolved from src/ (tests) and dist/ alike: the worker always runs from the built JavaScript.
const WORKER_URL = new URL('../dist/hash-worker.js', import.meta.url);

/** Main-thread side of the hashing thread: hands it buffers, returns digests as promises. */
export class HashThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<string, (d: Digests) => void>();
  private readonly arrived = new Map<string, Digests>();
  private inflight = 0;
  private drained: (() => void) | undefined;
  static readonly MAX_INFLIGHT = 4;
  private failed: Error | undefined;
  private nextFile = 1;
  private readonly ready: Promise<void>;

  constructor() {
    this.worker = new Worker(WORKER_URL);
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('error', reject);
    });
    this.worker.on('message', (m: FromWorker | { t: 'ready' }) => {
      if (m.t === 'ready') return;
      if (m.t === 'ack') {
        this.inflight--;
        this.drained?.();
        this.drained = undefined;
        return;
      }
      const key = `${m.t}:${m.id}`;
      const d = { sha256: m.t === 'file' ? m.sha256 : '', xxh64: m.xxh64 };
      const w = this.waiting.get(key);
      if (w) {
        this.waiting.delete(key);
        w(d);
      } else this.arrived.set(key, d);
    });
    this.worker.on('error', (e) => {
      this.failed = e;
      this.drained?.();
    });
  }

  start(): Promise<void> {
    return this.ready;
  }

  newFile(): number {
    return this.nextFile++;
  }

  private expect(kind: 'file' | 'segment', id: number): Promise<Digests> {
    if (this.failed) return Promise.reject(this.failed);
    const key = `${kind}:${id}`;
    const d = this.arrived.get(key);
    if (d) {
      this.arrived.delete(key);
      return Promise.resolve(d);
    }
    return new Promise((resolve) => this.waiting.set(key, resolve));
  }

  /**
   * Sends a copy of `bytes` (the caller keeps its buffer) with the operations over it; waits while
   * the thread is more than MAX_INFLIGHT buffers behind.
   */
  async send(bytes: Uint8Array, ops: HashOp[]): Promise<void> {
    while (this.inflight >= HashThread.MAX_INFLIGHT && !this.failed) await new Promise<void>((r) => (this.drained = r));
    if (this.failed) throw this.failed;
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    this.inflight++;
    this.worker.postMessage({ t: 'chunk', buf: copy, ops } satisfies ToWorker, [copy]);
  }

  /** Bytes of a file that are hashed but not written (a resumed pack re-reading a split file's start). */
  rehash(file: number, bytes: Uint8Array): void {
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    this.worker.postMessage({ t: 'rehash', file, buf: copy } satisfies ToWorker, [copy]);
  }

  fileDigest(id: number): Promise<Digests> {
    return this.expect('file', id);
  }

  segmentDigest(id: number): Promise<Digests> {
    return this.expect('segment', id);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
