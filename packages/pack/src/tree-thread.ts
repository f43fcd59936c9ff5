import { Worker } from 'node:worker_threads';
import { BookcrateError, type ErrorCode, type TreeRef, type TreeShape } from '@bookcrate/format';

/** @internal which key a tree's lines are sorted by */
export type TreeKey = 'path' | 'id';

/** @internal one manifest tree the thread builds */
export interface TreeSpec {
  key: TreeKey;
  /** keys may repeat (the members list names a split file once per part) */
  repeats: boolean;
  /** how its parts are cut (format's DEFAULT_TREE_SHAPE when absent) */
  shape?: TreeShape;
}

/** @internal messages to the tree thread */
export type TreeRequest =
  | { op: 'lines'; seq: number; tree: number; lines: string[] }
  | { op: 'replay'; seq: number; tree: number; path: string; length: number }
  | { op: 'finish'; seq: number };

/** @internal messages from the tree thread */
export type TreeReply =
  | { op: 'ack'; seq: number }
  | { op: 'finished'; seq: number; trees: TreeRef[] }
  | { op: 'error'; seq: number; error: { code?: ErrorCode; message: string; hint?: string } };

/**
 * Builds pack's manifest trees (files, members, resources; docs/format.md, "Manifest parts") on a
 * thread of its own while the segments are written. Per entry that is a SHA-256 of the key (the
 * cut rule), the part's own SHA-256 and, every 16 entries or so, a new small part file in every
 * target — work that used to be a finalize step after the data (and, done on the main thread
 * during the data, would slow the stretch of small files where the main thread is the bottleneck).
 * The main thread only gathers lines and posts them BATCH at a time; at most IN_FLIGHT batches are
 * unanswered before `add` asks the caller to wait, so memory stays bounded however far behind the
 * thread falls.
 */
export class TreeThread {
  static readonly BATCH = 512;
  static readonly IN_FLIGHT = 16;
  private readonly worker: Worker;
  private readonly batches: string[][];
  private seq = 0;
  private unanswered = 0;
  private roomWaiters: (() => void)[] = [];
  private finishing: { resolve: (t: TreeRef[]) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  private exited = false;
  private closing = false;

  constructor(specs: TreeSpec[], partDirs: string[]) {
    this.batches = specs.map(() => []);
    // Resolved from src/ (tests) and dist/ alike: the thread always runs from the built JavaScript.
    this.worker = new Worker(new URL('../dist/tree-thread-worker.js', import.meta.url), {
      workerData: { specs, partDirs },
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    this.worker.on('message', (m: TreeReply) => this.reply(m));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => {
      this.exited = true;
      // Stopped by anything but close(): whoever waits (for room, or for the roots) must hear of it.
      if (!this.closing) this.fail(new Error(`the manifest tree thread stopped (exit code ${code})`));
    });
  }

  private reply(m: TreeReply): void {
    if (m.op === 'error') {
      const e = m.error;
      this.fail(e.code ? new BookcrateError(e.code, e.message, e.hint === undefined ? {} : { hint: e.hint }) : new Error(e.message));
      return;
    }
    if (m.op === 'finished') {
      this.finishing?.resolve(m.trees);
      this.finishing = undefined;
      return;
    }
    this.unanswered--;
    this.wake();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.wake();
    this.finishing?.reject(this.failure);
    this.finishing = undefined;
  }

  private wake(): void {
    const w = this.roomWaiters;
    this.roomWaiters = [];
    for (const f of w) f();
  }

  private post(m: TreeRequest): void {
    this.unanswered++;
    this.worker.postMessage(m);
  }

  /**
   * The first `length` bytes of a file of lines (what a resumed pack logged before it was
   * interrupted): the thread reads them itself, before any line added after this call. Only that
   * prefix: the caller goes on appending to the same file meanwhile.
   */
  replay(tree: number, path: string, length: number): void {
    if (length === 0) return;
    this.sendLines(tree);
    this.post({ op: 'replay', seq: this.seq++, tree, path, length });
  }

  /**
   * Adds one line to a tree (in the tree's key order). Returns a promise when the caller should
   * wait before adding more, else undefined; throws what the thread met (a full target, say).
   */
  add(tree: number, line: string): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    const b = this.batches[tree]!;
    b.push(line);
    if (b.length < TreeThread.BATCH) return undefined;
    this.sendLines(tree);
    if (this.unanswered < TreeThread.IN_FLIGHT) return undefined;
    return new Promise<void>((resolve) => this.roomWaiters.push(resolve)).then(() => {
      if (this.failure) throw this.failure;
    });
  }

  private sendLines(tree: number): void {
    const lines = this.batches[tree]!;
    if (lines.length === 0) return;
    this.batches[tree] = [];
    this.post({ op: 'lines', seq: this.seq++, tree, lines });
  }

  /** Ends every tree: resolves to their roots once every part file is written (not yet synced). */
  finish(): Promise<TreeRef[]> {
    if (this.failure) return Promise.reject(this.failure);
    this.batches.forEach((_, i) => this.sendLines(i));
    const done = new Promise<TreeRef[]>((resolve, reject) => (this.finishing = { resolve, reject }));
    this.worker.postMessage({ op: 'finish', seq: this.seq++ } satisfies TreeRequest);
    return done;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (!this.exited) await this.worker.terminate();
  }
}
