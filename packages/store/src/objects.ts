import { createHash, randomBytes, type Hash } from 'node:crypto';
import { close as fsClose, linkSync, open as fsOpen, rename as fsRename, unlink as fsUnlink, writev as fsWritev } from 'node:fs';
import { mkdir, open, readdir, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AlignedBufferPool, FastHasher, writeError } from '@bookcrate/format';
import { syncFilesystem } from '@bookcrate/volume/disk-commands';
import type { Store } from './store.js';
import { linkIntoTree } from './tree-link.js';

/** A full disk or a failing one becomes an error that says what to do next. */
export function storeIoError(e: unknown, path: string): Error {
  return writeError(e, path, {
    full: `the store's disk is full (writing ${path})`,
    fullHint: 'free some space on the library server\'s disk, then run the same command again: everything already imported is kept',
    ioHint: 'check the store disk and its permissions',
    say: { full: 'store-full', io: 'store-write-failed' },
  });
}

/**
 * The catalog's write errors as the librarian should meet them: SQLite's "database or disk is
 * full" is the store's disk being full (NO_SPACE, "free some space, then run the same command
 * again"), not a bug. Anything else is returned as it is.
 */
export function catalogWriteError(e: unknown, catalogPath: string): unknown {
  if ((e as { code?: string })?.code !== 'SQLITE_FULL') return e;
  return storeIoError(Object.assign(new Error((e as Error).message), { code: 'ENOSPC', cause: e }), catalogPath);
}

/**
 * Writes one object: bytes go to a temp file in the store's tmp/ (same filesystem, so the final
 * rename is atomic) while SHA-256 and XXH64 are computed; `commit` admits it under objects/ only if
 * the SHA-256 is the expected one. An object never appears under its final name half-written.
 */
export class ObjectWriter {
  private readonly sha: Hash = createHash('sha256');
  private readonly xxh = new FastHasher();
  size = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  private constructor(private readonly tmpPath: string, private h: FileHandle | undefined) {}

  /** `write: false` hashes only (the object is already durable in the store). */
  static async create(tmpDir: string, write: boolean): Promise<ObjectWriter> {
    const p = join(tmpDir, `obj-${process.pid}-${randomBytes(6).toString('hex')}`);
    if (!write) return new ObjectWriter(p, undefined);
    try {
      return new ObjectWriter(p, await open(p, 'w'));
    } catch (e) {
      throw storeIoError(e, p);
    }
  }

  async write(chunk: Buffer): Promise<void> {
    this.sha.update(chunk);
    this.xxh.update(chunk);
    this.size += chunk.length;
    if (!this.h) return;
    // Small chunks are gathered so many small files still make few, large writes.
    this.pending.push(Buffer.from(chunk));
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.h || this.pendingBytes === 0) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      let off = 0;
      while (off < buf.length) off += (await this.h.write(buf, off)).bytesWritten;
    } catch (e) {
      throw storeIoError(e, this.tmpPath);
    }
  }

  digest(): { sha256: string; xxh64: string } {
    return { sha256: this.sha.digest('hex'), xxh64: this.xxh.digest() };
  }

  /** Moves the temp file to `finalPath` (unless an object is already there). Not yet durable: see syncObjects. */
  async commit(finalPath: string): Promise<void> {
    if (!this.h) return;
    await this.flush();
    await this.h.close();
    this.h = undefined;
    try {
      await mkdir(dirname(finalPath), { recursive: true });
      await renameFile(this.tmpPath, finalPath);
    } catch (e) {
      await unlink(this.tmpPath).catch(() => undefined);
      throw storeIoError(e, finalPath);
    }
  }

  async discard(): Promise<void> {
    if (this.h) {
      await this.h.close().catch(() => undefined);
      this.h = undefined;
    }
    await unlink(this.tmpPath).catch(() => undefined);
  }
}

/** Whoever lends a slice's memory (a reader's buffer): kept until the slice is written, then given back. */
export interface Pin {
  retain(): void;
  release(): void;
}

export interface ObjectQueueOptions {
  /** objects whose file operations are not finished yet (default 32) */
  maxObjects?: number;
  /** bytes handed to writes that have not completed yet (default 64 MiB) */
  maxBytes?: number;
  /** file operations (open, write, close, rename) running at once in libuv's thread pool (default 2) */
  maxOps?: number;
  /** an object's bytes are gathered until this much, then written (default 1 MiB) */
  writeSize?: number;
  /** writes small objects in batches (off the caller's thread) instead of four file operations each here */
  sink?: SmallObjectSink;
}

/**
 * Takes small objects whole, their SHA-256 already checked, and writes them elsewhere (the
 * importer's writer thread) straight at their final path: no temp file and no rename. That is safe
 * because the catalog, not the folder, says which objects are there (an object file without a row
 * is not trusted, and a row is written only after the sync that follows the write); a rename cost
 * ~10 µs of system time a file on ext4, 1.5–2 s of an import of 200,000 small files (docs/store.md, "Import",
 * step 5; docs/performance.md, "Run AR").
 */
export interface SmallObjectSink {
  /** the largest object it takes */
  readonly maxSize: number;
  /**
   * Copies `size` bytes from `data` at once (the caller may reuse them when put returns); later
   * writes them as a new file at finalPath (a file already there, left by a killed run and never
   * recorded, is removed first: whatever else links to it keeps its bytes), then, with `alsoAt`,
   * hard-links finalPath there too (a tree being built; see linkIntoTree). `done` is called once,
   * with the error (errno code and path on it) if the object failed — nothing of it is then left at
   * finalPath — and `linked` false if only the link did.
   */
  put(finalPath: string, data: Buffer[], size: number, done: (err: Error | null, linked?: boolean) => void, alsoAt?: string): void;
  /** Starts writing what it holds now (the caller is about to wait for it). */
  flush(): void;
  /**
   * When true, `put` does not copy slices that lie in the reader's shared buffers: it writes from
   * them later, and the caller keeps them held (its pins) until `done` is called.
   */
  readonly zeroCopy?: boolean;
}

type Errno = NodeJS.ErrnoException | null;

const SHARDS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Writes many objects at once without the caller waiting for the disk (docs/store.md, "Import").
 * Each object's bytes are hashed (SHA-256) as they are handed over and written to its own temp file
 * in tmp/ by a chain of file operations that runs behind the caller: so the next bytes are hashed,
 * and the next objects parsed, while earlier ones are still being written. An object is renamed
 * under objects/ only after all its bytes were written and its SHA-256 was the expected one; one
 * that does not match is never renamed. A small one given to the sink is held in memory until its
 * SHA-256 is known, and only then written, at its final path; one that does not match is never
 * written at all. `room` holds the caller
 * back when too many objects or bytes are in flight; `drain` waits for all of them, and must be
 * awaited before the objects are synced and recorded. The first error (a full disk) makes every
 * later call reject; temp files of failed objects are removed.
 */
export class ObjectQueue {
  readonly maxObjects: number;
  readonly maxBytes: number;
  readonly maxOps: number;
  readonly writeSize: number;
  readonly sink: SmallObjectSink | undefined;
  /** objects begun and not yet settled */
  objects = 0;
  /** objects admitted whose link into a tree (`alsoAt`) failed: that tree is not complete */
  linkFailures = 0;
  /** bytes in writes not yet completed */
  bytes = 0;
  private ops = 0;
  private readonly opWaiters: (() => void)[] = [];
  private roomWaiter: { newObject: boolean; resolve: () => void; reject: (e: unknown) => void } | undefined;
  private idleWaiters: (() => void)[] = [];
  private failure: Error | undefined;
  /** the temp folder and this run's prefix: a temp file's path is it and a sequence number */
  private readonly tmpPrefix: string;
  private seq = 0;

  private constructor(tmpDir: string, readonly objectsDir: string, opts: ObjectQueueOptions) {
    this.maxObjects = Math.max(1, opts.maxObjects ?? 32);
    this.writeSize = Math.max(1, opts.writeSize ?? 1 << 20);
    this.maxBytes = Math.max(2 * this.writeSize, opts.maxBytes ?? 64 << 20);
    this.maxOps = Math.max(1, opts.maxOps ?? 2);
    this.sink = opts.sink;
    this.tmpPrefix = join(tmpDir, `obj-${process.pid}-${randomBytes(6).toString('hex')}-`);
  }

  /** Creates the 256 shard folders of objects/ once, instead of a `mkdir -p` per object. */
  static async create(tmpDir: string, objectsDir: string, opts: ObjectQueueOptions = {}): Promise<ObjectQueue> {
    try {
      await Promise.all(SHARDS.map((d) => mkdir(join(objectsDir, d), { recursive: true })));
    } catch (e) {
      throw storeIoError(e, objectsDir);
    }
    return new ObjectQueue(tmpDir, objectsDir, opts);
  }

  /**
   * A new object; its temp file is created only when its first bytes are written. With
   * `hashedElsewhere` its bytes are not hashed here: the caller hashes them (a hashing thread) and
   * ends the object with `finishWhenHashed`.
   */
  begin(opts: { hashedElsewhere?: boolean } = {}): QueuedObject {
    if (this.failure) throw this.failure;
    this.objects++;
    return new QueuedObject(this, this.tmpPrefix + this.seq++, !opts.hashedElsewhere);
  }

  private hasRoom(newObject: boolean): boolean {
    return this.bytes < this.maxBytes && (!newObject || this.objects < this.maxObjects);
  }

  /**
   * undefined when there is room (for another object with `newObject`, else for more bytes of the
   * current one), otherwise a promise that resolves once there is. Rejects after a failure.
   */
  room(newObject: boolean): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.hasRoom(newObject)) return undefined;
    this.sink?.flush();
    return new Promise((resolve, reject) => (this.roomWaiter = { newObject, resolve, reject }));
  }

  /** Waits until every object begun so far has settled; then rejects with the first failure, if any. */
  async drain(): Promise<void> {
    await this.settle();
    if (this.failure) throw this.failure;
  }

  /** Waits until every object begun so far has settled, whatever happened to them. */
  settle(): Promise<void> {
    if (this.objects === 0) return Promise.resolve();
    this.sink?.flush();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private sinkFlushDue = false;

  /**
   * Flushes the small-object sink once the current turn is over: digests arrive many at a time,
   * and the objects they release go to the sink together, in one batch, not one batch each.
   */
  flushSinkSoon(): void {
    if (this.sinkFlushDue) return;
    this.sinkFlushDue = true;
    setImmediate(() => {
      this.sinkFlushDue = false;
      this.sink?.flush();
    });
  }

  /** @internal */
  poke(): void {
    const w = this.roomWaiter;
    if (w && (this.failure || this.hasRoom(w.newObject))) {
      this.roomWaiter = undefined;
      if (this.failure) w.reject(this.failure);
      else w.resolve();
    }
    if (this.objects === 0 && this.idleWaiters.length > 0) for (const r of this.idleWaiters.splice(0)) r();
  }

  /** @internal */
  settled(): void {
    this.objects--;
    this.poke();
  }

  /** @internal */
  fail(e: Error): void {
    this.failure ??= e;
    this.poke();
  }

  /** @internal Runs one file operation when fewer than maxOps are running. */
  run<T>(start: (cb: (err: Errno, v: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const go = (): void => {
        this.ops++;
        start((err, v) => {
          this.ops--;
          this.opWaiters.shift()?.();
          if (err) reject(err);
          else resolve(v);
        });
      };
      if (this.ops < this.maxOps) go();
      else this.opWaiters.push(go);
    });
  }
}

/** One object being written through an ObjectQueue. */
export class QueuedObject {
  private readonly sha: Hash | undefined;
  private slices: Buffer[] = [];
  private pins: Pin[] = [];
  private sliceBytes = 0;
  private fd = -1;
  private created = false;
  private at = 0;
  private broken = false;
  private tail: Promise<void> = Promise.resolve();
  private ended = false;

  /** @internal */
  constructor(private readonly q: ObjectQueue, private readonly tmpPath: string, hashHere: boolean) {
    if (hashHere) this.sha = createHash('sha256');
  }

  /**
   * Hashes the next bytes of the object and queues them for writing. `pin` is retained until they
   * are written; without one, `b` must not be changed afterwards by the caller.
   */
  update(b: Buffer, pin?: Pin): void {
    this.sha?.update(b);
    if (pin) {
      pin.retain();
      this.pins.push(pin);
    }
    this.slices.push(b);
    this.sliceBytes += b.length;
    if (this.sliceBytes >= this.q.writeSize) this.flush();
  }

  /**
   * Writes what is gathered now, short of writeSize: the reading starves for buffers, all of them
   * pinned here (small reads past a bad place of the disk fill a buffer each with little).
   */
  writeGathered(): void {
    if (this.sliceBytes > 0 && !this.ended) this.flush();
  }

  private flush(): void {
    const bufs = this.slices;
    const pins = this.pins;
    const n = this.sliceBytes;
    const at = this.at;
    this.slices = [];
    this.pins = [];
    this.sliceBytes = 0;
    this.at += n;
    this.q.bytes += n;
    this.tail = this.tail.then(async () => {
      try {
        if (this.broken) return;
        await this.ensureOpen();
        await this.writeAll(bufs, n, at);
      } catch (e) {
        this.fail(e, this.tmpPath);
      } finally {
        for (const p of pins) p.release();
        this.q.bytes -= n;
        this.q.poke();
      }
    });
  }

  private async ensureOpen(): Promise<void> {
    if (this.fd >= 0) return;
    this.fd = await this.q.run<number>((cb) => fsOpen(this.tmpPath, 'w', cb));
    this.created = true;
  }

  private async writeAll(bufs: Buffer[], n: number, at: number): Promise<void> {
    let done = 0;
    while (done < n) {
      const part = done === 0 ? bufs : remaining(bufs, done);
      const w = await this.q.run<number>((cb) => fsWritev(this.fd, part, at + done, cb));
      if (w <= 0) throw Object.assign(new Error('no bytes written'), { code: 'EIO' });
      done += w;
    }
  }

  private fail(e: unknown, path: string): void {
    if (this.broken) return;
    this.broken = true;
    this.q.fail(storeIoError(e, path));
  }

  /** SHA-256 of the bytes given so far. */
  private digest(): string {
    if (!this.sha) throw new Error('this object is hashed elsewhere: end it with finishWhenHashed');
    return this.sha.digest('hex');
  }

  /**
   * Ends an object hashed elsewhere: the rest is written at once, and the temp file renamed to
   * `finalPath` only when `actual` (its SHA-256, computed by the caller's hashing thread) resolves
   * to `expected`; otherwise it is removed. A small object waits for its digest in memory and is
   * handed to the sink only if it matches. Resolves to the actual SHA-256 once settled.
   */
  finishWhenHashed(expected: string, finalPath: string, actual: Promise<string>, alsoAt?: string): Promise<string> {
    const sink = this.q.sink;
    const small = sink && this.at === 0 && !this.created && this.sliceBytes <= sink.maxSize;
    if (!small && this.sliceBytes > 0) this.flush();
    let result = '';
    const gate = actual.then(
      (sha) => (result = sha),
      (e: unknown) => {
        this.fail(e, finalPath);
        return '';
      },
    );
    if (small) {
      this.ended = true;
      this.tail = this.tail.then(async () => {
        await gate;
        if (result === expected && !this.broken) {
          this.ended = false; // handOver ends it, and settles it when the sink is done
          this.handOver(sink, finalPath, alsoAt);
          return;
        }
        for (const p of this.pins) p.release();
        this.pins = [];
        this.slices = [];
        this.sliceBytes = 0;
        this.q.settled();
      });
    } else {
      this.end(gate.then(() => (result === expected ? finalPath : undefined)), alsoAt);
    }
    return this.tail.then(() => result, () => result);
  }

  /**
   * Ends the object: its SHA-256 is computed at once and returned. If it is `expected`, the rest
   * is written and the temp file renamed to `finalPath` behind the caller (complete once `drain`
   * resolves), a small one handed to the sink, which writes it at `finalPath`; it is then also
   * hard-linked at `alsoAt`, when given (a failed link only counts in the queue's linkFailures).
   * Otherwise nothing more is written and the temp file, if any, is removed.
   */
  finish(expected: string, finalPath: string, alsoAt?: string): string {
    const sha256 = this.digest();
    if (sha256 !== expected) {
      this.end(undefined);
      return sha256;
    }
    const sink = this.q.sink;
    if (sink && this.at === 0 && !this.created && this.sliceBytes <= sink.maxSize) {
      this.handOver(sink, finalPath, alsoAt);
    } else {
      if (this.sliceBytes > 0) this.flush();
      this.end(finalPath, alsoAt);
    }
    return sha256;
  }

  /** Drops the object (its data was cut short): nothing is renamed, the temp file is removed. */
  discard(): void {
    this.end(undefined);
  }

  /** A small object, all of it in memory and none of it written yet: the sink writes it at its final path. */
  private handOver(sink: SmallObjectSink, finalPath: string, alsoAt?: string): void {
    this.ended = true;
    const n = this.sliceBytes;
    this.q.bytes += n;
    // A zero-copy sink writes from the reader's buffers: they stay held until it is done.
    const pins = this.pins;
    const held = !!sink.zeroCopy;
    sink.put(finalPath, this.slices, n, (err, linked) => {
      if (held) for (const p of pins) p.release();
      if (err) this.fail(err, (err as { path?: string }).path ?? finalPath);
      else if (alsoAt && linked === false) this.q.linkFailures++;
      this.q.bytes -= n;
      this.q.settled();
    }, alsoAt);
    // otherwise the sink copied the bytes: the reader's buffers are free again
    if (!held) for (const p of pins) p.release();
    this.pins = [];
    this.slices = [];
    this.sliceBytes = 0;
    // Whatever the caller waits for next (room, the drain, or the reader for a buffer these bytes
    // hold), the sink must not keep them back; objects handed over in the same turn (digests arrive
    // many at a time) still go out together, at the end of it.
    this.q.flushSinkSoon();
  }

  /**
   * Closes the temp file, then renames it to the final path (when there is one) or removes it;
   * a renamed object is then also hard-linked at `alsoAt`, when given (a failed link only counts in
   * the queue's linkFailures).
   */
  private end(target: string | undefined | Promise<string | undefined>, alsoAt?: string): void {
    if (this.ended) return;
    this.ended = true;
    for (const p of this.pins) p.release();
    this.pins = [];
    this.slices = [];
    this.sliceBytes = 0;
    this.tail = this.tail
      .then(async () => {
        const finalPath = await target;
        if (finalPath && !this.broken) {
          try {
            await this.ensureOpen();
            await this.closeFile();
            await this.renameTo(finalPath);
            if (alsoAt && !linkIntoTree(finalPath, alsoAt)) this.q.linkFailures++;
            return;
          } catch (e) {
            this.fail(e, finalPath);
          }
        }
        await this.closeFile().catch(() => undefined);
        if (this.created) await this.q.run<void>((cb) => fsUnlink(this.tmpPath, () => cb(null))).catch(() => undefined);
      })
      .finally(() => this.q.settled());
  }

  private async closeFile(): Promise<void> {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    await this.q.run<void>((cb) => fsClose(fd, cb));
  }

  private async renameTo(finalPath: string): Promise<void> {
    try {
      await this.q.run<void>((cb) => renamePatiently(this.tmpPath, finalPath, cb));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // its shard folder is gone (made at the start of the import): make it again, once
      await mkdir(dirname(finalPath), { recursive: true });
      await this.q.run<void>((cb) => renamePatiently(this.tmpPath, finalPath, cb));
    }
    this.created = false;
  }
}

/** The slices of bufs after the first `skip` bytes (after a short write). */
function remaining(bufs: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

/**
 * Which of these objects the catalog records as durable, in one statement: for a caller that asks
 * of every file of a volume, a manifest part at a time. A statement per file cost ~7 µs of the
 * importing thread each (its own read transaction: two locks of the WAL index, while the catalog
 * thread writes), 1.4 s of a 200,000-file import.
 */
/** Page-aligned read buffers for sha256OfFile (format's aligned.ts: the kernel copies into them ~4× faster). */
const hashBuffers = new AlignedBufferPool(4 << 20);

/**
 * The SHA-256 of a file, read once through one reused aligned buffer: how an object a killed import
 * or mirror round left in objects/ without a row is checked before it is adopted.
 */
export async function sha256OfFile(path: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(path, 'r');
  const buf = hashBuffers.take();
  try {
    for (let pos = 0; ;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    hashBuffers.give(buf);
    await fh.close();
  }
  return h.digest('hex');
}

export function durableObjects(store: Store): (sha256s: readonly string[]) => Set<string> {
  const st = store.db.prepare('SELECT sha256 FROM objects WHERE sha256 IN (SELECT value FROM json_each(?))').pluck();
  return (sha256s) => new Set(sha256s.length === 0 ? [] : st.all(JSON.stringify(sha256s)) as string[]);
}

/**
 * Makes files durable before anything records them (the catalog, a repository's root): one syncfs
 * (`sync -f`) for the filesystem that holds `dir` instead of an fsync per small file; where that is
 * not available (no GNU coreutils, e.g. Windows), each file is fsynced. The `sync` runs as a child
 * process, so the event loop (reads of the next files) goes on while the disk flushes.
 */
export async function syncObjects(dir: string, paths: Iterable<string>, ioError: (e: unknown, path: string) => Error = storeIoError): Promise<void> {
  // Read lazily (an import's are paged out of its staging table): the first one only to know
  // whether there is anything to sync.
  const it = paths[Symbol.iterator]();
  const first = it.next();
  if (first.done) return;
  if (await syncFilesystem(dir)) return;
  for (let r: IteratorResult<string> = first; !r.done; r = it.next()) {
    const p = r.value;
    let h: FileHandle;
    try {
      h = await open(p, FSYNC_OPEN);
    } catch (e) {
      throw ioError(e, p);
    }
    try {
      await h.sync();
    } catch (e) {
      throw ioError(e, p);
    } finally {
      await h.close();
    }
  }
}

/**
 * How a file is opened only to fsync it. Windows flushes a file (FlushFileBuffers) only through a
 * handle that may write: on a read-only one the fsync fails with EPERM, and an import on a PC
 * without `sync -f` would stop at its first commit. POSIX fsyncs any descriptor, and 'r' also works
 * on a file without write permission.
 */
export const FSYNC_OPEN = process.platform === 'win32' ? 'r+' : 'r';

/**
 * How long a rename is retried on Windows. There a file just written is often held open for a moment
 * by an antivirus or the search indexer, and renaming it, or over it, or the folder holding it,
 * fails (EPERM, EACCES, EBUSY) until they let go; graceful-fs retries for the same reason.
 */
export const RENAME_PATIENCE_MS = 5000;

/**
 * fs.rename, callback form, retried with growing pauses for up to RENAME_PATIENCE_MS while Windows
 * says the file is busy (`windows`, default: running there). Elsewhere those errors are final and
 * come back at once.
 */
export function renamePatiently(from: string, to: string, cb: (err: NodeJS.ErrnoException | null) => void, windows = process.platform === 'win32'): void {
  const started = Date.now();
  let pause = 10;
  const attempt = (): void => {
    fsRename(from, to, (e) => {
      if (e && windows && (e.code === 'EPERM' || e.code === 'EACCES' || e.code === 'EBUSY') && Date.now() - started < RENAME_PATIENCE_MS) {
        setTimeout(attempt, pause);
        pause = Math.min(pause * 2, 500);
        return;
      }
      cb(e);
    });
  };
  attempt();
}

const LINK_PROBE = 'link-probe-';

/** renamePatiently as a promise. */
export function renameFile(from: string, to: string, windows?: boolean): Promise<void> {
  return new Promise((resolve, reject) => renamePatiently(from, to, (e) => (e ? reject(e) : resolve()), windows));
}

/**
 * Whether `dir`'s filesystem makes hard links: where it does not (exFAT, FAT32, some network shares),
 * the readers' tree holds copies, and every file takes its room twice. Tried with a file of its own.
 *
 * `dir` is the store's `tmp`, which only the store's writer (an import or a mirror round, under the
 * store's lock) uses: a probe there that is not this one's was left by a process killed between
 * making it and removing it, and goes first.
 */
export async function makesHardLinks(dir: string): Promise<boolean> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(LINK_PROBE)) await unlink(join(dir, name)).catch(() => undefined);
  }
  const a = join(dir, `${LINK_PROBE}${process.pid}-${randomBytes(4).toString('hex')}`);
  const b = `${a}-2`;
  try {
    await (await open(a, 'wx')).close();
    linkSync(a, b);
    return true;
  } catch {
    return false;
  } finally {
    await unlink(b).catch(() => undefined);
    await unlink(a).catch(() => undefined);
  }
}

/** What a store's disk has free, and what is wanted on it: `StoreRoom`. */
export interface StoreRoom {
  free: number;
  wanted: number;
  /** the disk makes no hard links: `wanted` counts a copy of every carried file for the readers' tree */
  copies: boolean;
}

/**
 * The room an import or a mirror round wants on the store's disk for `need` (objects not held yet,
 * each content once, Store.bytesToAdmit or missingTotals) of a version: their bytes; ~2 KiB a file
 * and 16 MiB for the catalog's rows, the tree's folders and the journals; and, where the disk makes
 * no hard links, a copy of every carried file of the version for its readers' tree (built once the
 * version is complete; the tree it replaces goes after the switch). Undefined where the
 * filesystem cannot say what it has free: the writes will.
 */
export async function storeRoom(store: Store, need: { bytes: number; files: number }, versionId: number): Promise<StoreRoom | undefined> {
  const fs = await statfs(store.dir).catch(() => undefined);
  if (!fs) return undefined;
  const copies = !(await makesHardLinks(store.paths.tmp));
  const wanted = need.bytes + (copies ? store.carriedBytes(versionId) : 0) + need.files * 2048 + (16 << 20);
  return { free: fs.bavail * fs.bsize, wanted, copies };
}

/** Hard link, or a copy where the filesystem makes none (FAT32, exFAT, some network shares) or no more to that file. */
export async function linkOrCopy(from: string, to: string, opts: { exclusive?: boolean } = {}): Promise<'link' | 'copy'> {
  try {
    // A direct system call: a link is far cheaper than a trip through libuv's thread pool, and a
    // version's tree makes one per file.
    linkSync(from, to);
    return 'link';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Exclusive: something at `to` already is the caller's fault to handle (a tree changed in place).
    if (code === 'EEXIST') {
      if (opts.exclusive) throw e;
      return 'link';
    }
    // A missing object or folder is a fault. Any other refusal is the filesystem's: no hard links
    // (EPERM, ENOTSUP, ENOSYS; exFAT on Windows answers EISDIR), too many links to one file (EMLINK;
    // NTFS allows 1,023, and Windows reports that code as UNKNOWN), another disk (EXDEV): a copy.
    if (code === 'ENOENT') throw e;
    const { copyFile, constants } = await import('node:fs/promises');
    await copyFile(from, to, opts.exclusive ? constants.COPYFILE_EXCL : 0);
    return 'copy';
  }
}
