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
  /** Buffers shared with the thread; one is free when the writer, the disks and the hasher are done with it. */
  private readonly buffers: Buffer[];
  private readonly holds: number[];
  private waiters: (() => void)[] = [];
  static readonly BUFFERS = 4;
  static readonly BUFFER_BYTES = 8 * 1024 * 1024;
  private failed: Error | undefined;
  private nextFile = 1;
  private readonly ready: Promise<void>;

  constructor() {
    const shared = Array.from({ length: HashThread.BUFFERS }, () => new SharedArrayBuffer(HashThread.BUFFER_BYTES));
    this.buffers = shared.map((b) => Buffer.from(b));
    this.holds = shared.map(() => 0);
    this.worker = new Worker(WORKER_URL, { workerData: { buffers: shared } });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('error', reject);
    });
    this.worker.on('message', (m: FromWorker | { t: 'ready' }) => {
      if (m.t === 'ready') return;
      if (m.t === 'ack') {
        this.release(m.index);
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
      for (const w of this.waiters.splice(0)) w();
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

  /** A free shared buffer for the writer to fill (waits while all are busy: the backpressure). */
  async acquire(): Promise<{ index: number; buf: Buffer }> {
    for (;;) {
      if (this.failed) throw this.failed;
      const index = this.holds.indexOf(0);
      if (index >= 0) {
        this.holds[index] = 1;
        return { index, buf: this.buffers[index]! };
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Hands the first `used` bytes of a buffer to the thread; it releases its hold when hashed. */
  submit(index: number, used: number, ops: HashOp[]): void {
    this.holds[index]!++;
    this.worker.postMessage({ t: 'chunk', index, used, ops } satisfies ToWorker);
  }

  release(index: number): void {
    if (--this.holds[index]! === 0) for (const w of this.waiters.splice(0)) w();
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
