import { close, fstat, open, type Stats } from 'node:fs';
import { BookcrateError } from '@bookcrate/format';
import { readAt } from '@bookcrate/volume';
import type { InventoryItem } from './walk.js';
import { SmallReader, type ReadFailure } from './small-reader.js';
import { mtimeOf } from './mtime.js';

/** One source file being read: its bytes in order, then a check that it did not change. */
export interface SourceFile {
  /** Hands the next n bytes to fn (in slices). */
  read(n: number, fn: (b: Buffer) => void | Promise<void>): Promise<void>;
  /** Puts the next n bytes at the start of buf. */
  readInto(buf: Buffer, n: number): Promise<void>;
  /** All bytes were read: fails if the file changed meanwhile. */
  finish(): Promise<void>;
  close(): Promise<void>;
}

function changed(item: InventoryItem, what: string): BookcrateError {
  return new BookcrateError('SOURCE_CHANGED', `${item.path} changed while it was being packed (${what})`, {
    hint: 'make sure nothing writes to the source while packing, then run the same command with --restart',
  });
}

function srcName(item: InventoryItem): string {
  return typeof item.src === 'string' ? item.src : item.src.toString('latin1');
}

function openError(item: InventoryItem, e: NodeJS.ErrnoException): BookcrateError {
  if (e.code === 'ENOENT') return changed(item, 'it was deleted');
  return new BookcrateError('IO', `cannot read ${srcName(item)}: ${e.message}`, { hint: 'check permissions and that the source disk is connected', cause: e });
}

/** What the reader thread reported, as the error the same failure gives on the main thread. */
function readFailure(item: InventoryItem, r: ReadFailure | Error): Error {
  if (r instanceof Error) return r;
  if (r.kind === 'deleted') return changed(item, 'it was deleted');
  if (r.kind === 'io') return new BookcrateError('IO', `cannot read ${srcName(item)}: ${r.message}`, { hint: 'check permissions and that the source disk is connected' });
  return changed(item, r.message);
}

function unchanged(item: InventoryItem, st: Stats): BookcrateError | undefined {
  if (st.size !== item.size) return changed(item, `its size went from ${item.size} to ${st.size} bytes`);
  if (mtimeOf(st.mtimeMs) !== item.mtime) return changed(item, 'its modification time moved');
  return undefined;
}

// The callback forms of open/read/fstat/close: per file they cost a fraction of fs/promises'
// FileHandle (an object, a promise and a finalizer per call), which for tens of thousands of
// small files was most of pack's main-thread time.
const openFd = (item: InventoryItem): Promise<number> =>
  new Promise((resolve, reject) => open(item.src, 'r', (e, fd) => (e ? reject(openError(item, e)) : resolve(fd))));
const closeFd = (fd: number): Promise<void> => new Promise((resolve) => close(fd, () => resolve()));

/** Fills buf[0, n) from `at`; a file that ends sooner has changed. */
async function readFully(item: InventoryItem, fd: number, buf: Buffer, n: number, at: number): Promise<void> {
  const got = await readAt(fd, buf, n, at).catch((e: Error) => {
    throw new BookcrateError('IO', `cannot read ${srcName(item)}: ${e.message}`, { hint: 'check the source disk', cause: e });
  });
  if (got < n) throw changed(item, 'it became shorter');
}

function checkUnchanged(item: InventoryItem, fd: number): Promise<void> {
  return new Promise((resolve, reject) => fstat(fd, (e, st) => {
    if (e) return reject(new BookcrateError('IO', `cannot read ${srcName(item)}: ${e.message}`, { hint: 'check the source disk', cause: e }));
    const bad = unchanged(item, st);
    if (bad) reject(bad);
    else resolve();
  }));
}

/**
 * Where a slot of the ring may start. A file's bytes are later copied from its slot into a tar
 * member's data, which starts on a 512-byte boundary of the segment's buffers. Between shared
 * buffers (both are SharedArrayBuffers) V8 copies word by word only when source and destination
 * sit at the same offset modulo the word; otherwise byte by byte, at a fifth of the speed
 * (docs/performance.md, "The ring's alignment"). So slots start on a cache line.
 */
export const RING_ALIGN = 64;

/**
 * A ring of bytes for small files read ahead: files are read, taken and released in the same
 * order (manifest order), so space is given out at the head and comes back at the tail, and no
 * small file costs an allocation (or the garbage collector's time later).
 */
export class Ring {
  readonly shared: SharedArrayBuffer;
  private readonly buf: Buffer;
  private head = 0;
  /** live slots, oldest first: [start, end, released] */
  private readonly slots: [number, number, boolean][] = [];
  constructor(readonly size: number) {
    this.shared = new SharedArrayBuffer(size);
    this.buf = Buffer.from(this.shared);
  }

  /** n contiguous bytes, or undefined when the ring has no room for them now. */
  alloc(n: number): { slot: [number, number, boolean]; bytes: Buffer; offset: number } | undefined {
    if (n > this.size) return undefined;
    let start: number;
    if (this.slots.length === 0) start = 0;
    else {
      const tail = this.slots[0]![0];
      const head = Math.ceil(this.head / RING_ALIGN) * RING_ALIGN;
      if (this.head > tail) {
        // free space: [head, size) and [0, tail)
        if (head + n <= this.size) start = head;
        else if (n <= tail) start = 0;
        else return undefined;
      } else if (head + n <= tail) start = head;
      else return undefined;
    }
    const slot: [number, number, boolean] = [start, start + n, false];
    this.slots.push(slot);
    this.head = start + n;
    return { slot, bytes: this.buf.subarray(start, start + n), offset: start };
  }

  release(slot: [number, number, boolean]): void {
    slot[2] = true;
    while (this.slots.length > 0 && this.slots[0]![2]) this.slots.shift();
    if (this.slots.length === 0) this.head = 0;
  }
}

/**
 * Reads source files ahead of the writer: small files (up to SMALL) are read whole into a ring by
 * a reader thread (SmallReader), several at once, up to RING bytes ahead (8 MiB: ~360 photos, or four
 * to eight PDFs, enough for the reader's eight reads at once; with 4 MiB the writer waited for the
 * PDFs three or four at a time: pack 1.07× `tar -cf` on the VM, 0.91–0.99× with 8 MiB, for ~6 MB
 * more at its peak, docs/performance.md "Run AY");
 * large files are read by the writer straight into the segment's buffers, or streamed in 4 MiB
 * chunks with one ahead when a consumer wants slices. Every file is checked for changes (size and
 * mtime against the inventory) after it was read.
 */
export class SourceReader {
  /**
   * 2 MiB, not 1: a file read by the writer is read alone, after the one before, and a cold read of a
   * 1–2 MiB PDF is mostly waiting; in the ring, four are read at once while the writer works. The
   * writer waited 3.8 s of a 9 s pack for its reads, 1.2 s after (docs/performance.md, "Run AW").
   */
  static readonly SMALL = 2 << 20;
  static readonly RING = 8 << 20;
  private readonly small = new Map<string, Promise<SmallFile>>();
  private readonly ring = new Ring(SourceReader.RING);
  private readonly reader: SmallReader;
  bytesRead = 0;

  /** `opts.slowReadMs` (tests): see SmallReader */
  constructor(opts: { slowReadMs?: number } = {}) {
    this.reader = new SmallReader(this.ring.shared, opts.slowReadMs);
  }

  /** small files read so far on the reader thread itself (from the page cache), and through libuv's pool (from the disk) */
  get smallReads(): { here: number; pooled: number } {
    return { here: this.reader.readsHere, pooled: this.reader.readsPooled };
  }

  private key(item: InventoryItem): string {
    return typeof item.src === 'string' ? item.src : item.src.toString('hex');
  }

  /**
   * A file the writer will ask for soon: a small one is read now, into the ring. False when the
   * ring has no room for it yet (hint it again later; taken unhinted, it is read on the caller's thread).
   */
  hint(item: InventoryItem): boolean {
    if (item.size > SourceReader.SMALL || this.small.has(this.key(item))) return true;
    const space = this.ring.alloc(item.size);
    if (!space) return false;
    const p = this.reader.read(item.src, item.size, item.mtime, space.offset).then((r) => {
      if (r === 0) return { bytes: space.bytes, release: () => this.ring.release(space.slot) };
      this.ring.release(space.slot);
      throw readFailure(item, r);
    });
    p.catch(() => undefined);
    this.small.set(this.key(item), p);
    return true;
  }

  async take(item: InventoryItem): Promise<SourceFile> {
    const k = this.key(item);
    const p = this.small.get(k);
    if (p) {
      this.small.delete(k);
      const f = await p;
      this.bytesRead += f.bytes.length;
      return new BufferedSource(item, f.bytes, f.release);
    }
    const s = await StreamedSource.open(item);
    return {
      read: async (n, fn) => {
        await s.read(n, fn);
        this.bytesRead += n;
      },
      readInto: async (buf, n) => {
        await s.readInto(buf, n);
        this.bytesRead += n;
      },
      finish: () => s.finish(),
      close: () => s.close(),
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.small.values());
    await this.reader.close();
  }
}

interface SmallFile {
  bytes: Buffer;
  release: () => void;
}

class BufferedSource implements SourceFile {
  private pos = 0;
  constructor(private readonly item: InventoryItem, private readonly buf: Buffer, private readonly release: () => void) {}
  async read(n: number, fn: (b: Buffer) => void | Promise<void>): Promise<void> {
    await fn(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
  }
  async readInto(buf: Buffer, n: number): Promise<void> {
    this.buf.copy(buf, 0, this.pos, this.pos + n);
    this.pos += n;
  }
  async finish(): Promise<void> {
    if (this.pos !== this.item.size) throw new BookcrateError('INTERNAL', `read ${this.pos} of ${this.item.size} bytes of ${this.item.path}`);
  }
  async close(): Promise<void> {
    this.release();
  }
}

const CHUNK = 4 * 1024 * 1024;

class StreamedSource implements SourceFile {
  private pos = 0;
  private ahead: Promise<Buffer> | undefined;
  private chunkStart = 0;
  private chunk: Buffer | undefined;
  private constructor(private readonly item: InventoryItem, private readonly fd: number) {}

  static async open(item: InventoryItem): Promise<StreamedSource> {
    return new StreamedSource(item, await openFd(item));
  }

  private fetch(at: number): Promise<Buffer> {
    const len = Math.min(CHUNK, this.item.size - at);
    const buf = Buffer.allocUnsafe(len);
    return readFully(this.item, this.fd, buf, len, at).then(() => buf);
  }

  async read(n: number, fn: (b: Buffer) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!this.chunk || this.pos >= this.chunkStart + this.chunk.length) {
        this.chunkStart = this.chunk ? this.chunkStart + this.chunk.length : this.pos;
        this.chunk = await (this.ahead ?? this.fetch(this.chunkStart));
        const nextAt = this.chunkStart + this.chunk.length;
        this.ahead = nextAt < this.item.size ? this.fetch(nextAt) : undefined;
        this.ahead?.catch(() => undefined);
      }
      const from = this.pos - this.chunkStart;
      const k = Math.min(left, this.chunk.length - from);
      await fn(this.chunk.subarray(from, from + k));
      this.pos += k;
      left -= k;
    }
  }

  /** Reads the next n bytes straight into buf (the segment's buffer): no read-ahead of ours, no copy. */
  async readInto(buf: Buffer, n: number): Promise<void> {
    if (this.chunk && this.pos < this.chunkStart + this.chunk.length) {
      // a resumed split file: its start was re-hashed through read(), which reads ahead in chunks
      let off = 0;
      await this.read(n, (b) => {
        off += b.copy(buf, off);
      });
      return;
    }
    await this.ahead?.catch(() => undefined);
    this.ahead = undefined;
    this.chunk = undefined;
    await readFully(this.item, this.fd, buf, n, this.pos);
    this.pos += n;
  }

  async finish(): Promise<void> {
    await checkUnchanged(this.item, this.fd);
  }

  async close(): Promise<void> {
    await this.ahead?.catch(() => undefined);
    await closeFd(this.fd);
  }
}
