import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { END_OF_ARCHIVE_BYTES, type SegmentInfo } from '@bookcrate/format';
import { asIoError, fsyncDir } from './fsutil.js';
import type { HashThread } from './hash-pool.js';
import type { HashOp } from './hash-worker.js';


/**
 * One segment being written to every target at once. Bytes are gathered into an 8 MiB buffer so
 * thousands of small files become a few large sequential writes to `<name>.partial`; each full
 * buffer also goes to the hashing thread with the byte ranges of the files in it, which returns the
 * digests of every file and of the whole segment. `finish` adds the end-of-archive marker, fsyncs
 * and renames: a segment file under its final name is always complete.
 */
export class SegmentWriter {
  private buf: { index: number; buf: Buffer } | undefined;
  private ops: HashOp[] = [];
  private used = 0;
  size = 0;
  private handles: FileHandle[] = [];
  private inflight: Promise<void> = Promise.resolve();

  private constructor(
    readonly name: string,
    private readonly id: number,
    private readonly finalPaths: string[],
    private readonly hashes: HashThread,
  ) {}

  /** `paths`: the segment's final path in each target (none when this volume is only hashed). */
  static async create(name: string, id: number, paths: string[], hashes: HashThread): Promise<SegmentWriter> {
    const w = new SegmentWriter(name, id, paths, hashes);
    for (const p of paths) {
      try {
        await mkdir(dirname(p), { recursive: true });
        w.handles.push(await open(`${p}.partial`, 'w'));
      } catch (e) {
        await w.abort();
        throw asIoError(e, p);
      }
    }
    return w;
  }

  /** Appends bytes; `file` marks them as that file's content for its digest. */
  async write(data: Uint8Array, file?: number): Promise<void> {
    this.size += data.length;
    let off = 0;
    while (off < data.length) {
      this.buf ??= await this.hashes.acquire();
      const b = this.buf.buf;
      const k = Math.min(data.length - off, b.length - this.used);
      b.set(data.subarray(off, off + k), this.used);
      if (file !== undefined) this.ops.push([0, file, this.used, k]);
      this.used += k;
      off += k;
      if (this.used === b.length) await this.flush();
    }
  }

  /** The file's last byte has been written: its digest follows once its bytes are hashed. */
  endFile(file: number): void {
    this.ops.push([1, file]);
  }

  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(Buffer.alloc(n));
  }

  /** Hands the full buffer to the hashing thread and the disks, and goes on filling another. */
  private async flush(): Promise<void> {
    if (this.used === 0 && this.ops.length === 0) return;
    const { index, buf } = this.buf ?? (await this.hashes.acquire());
    const chunk = buf.subarray(0, this.used);
    this.hashes.submit(index, this.used, this.ops);
    this.ops = [];
    this.buf = undefined;
    this.used = 0;
    const previous = this.inflight;
    this.inflight = previous.then(() => Promise.all(
      this.handles.map(async (h, i) => {
        try {
          let off = 0;
          while (off < chunk.length) off += (await h.write(chunk, off, chunk.length - off)).bytesWritten;
        } catch (e) {
          throw asIoError(e, `${this.finalPaths[i]}.partial`);
        }
      }),
    )).then(
      () => this.hashes.release(index),
      (e: unknown) => {
        this.hashes.release(index);
        throw e;
      },
    );
    this.inflight.catch(() => undefined); // surfaced by the next await of inflight
  }

  async finish(): Promise<SegmentInfo> {
    await this.zeros(END_OF_ARCHIVE_BYTES);
    this.ops.push([2, this.id]);
    const digest = this.hashes.segmentDigest(this.id);
    await this.flush();
    await this.inflight;
    await Promise.all(
      this.handles.map(async (h, i) => {
        try {
          await h.sync();
          await h.close();
        } catch (e) {
          throw asIoError(e, `${this.finalPaths[i]}.partial`);
        }
      }),
    );
    this.handles = [];
    for (const p of this.finalPaths) {
      await rename(`${p}.partial`, p);
      await fsyncDir(dirname(p));
    }
    const { xxh64 } = await digest;
    return { name: this.name, size: this.size, xxh64 };
  }

  async abort(): Promise<void> {
    await this.inflight.catch(() => undefined);
    if (this.buf) this.hashes.release(this.buf.index);
    this.buf = undefined;
    for (const h of this.handles) await h.close().catch(() => undefined);
    this.handles = [];
    for (const p of this.finalPaths) await unlink(`${p}.partial`).catch(() => undefined);
  }
}
