import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { END_OF_ARCHIVE_BYTES, FastHasher, type SegmentInfo } from '@bookcrate/format';
import { asIoError, fsyncDir } from './fsutil.js';

const BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * One segment being written to every target at once. Bytes are hashed (SHA-256 and XXH64 of the
 * whole segment) as they pass, gathered into an 8 MiB buffer so thousands of small files become a
 * few large sequential writes, and written to `<name>.partial`. `finish` adds the end-of-archive
 * marker, fsyncs, and renames: a segment file under its final name is always complete.
 */
export class SegmentWriter {
  private readonly sha: Hash = createHash('sha256');
  private readonly xxh = new FastHasher();
  private buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  size = 0;
  private handles: FileHandle[] = [];
  private inflight: Promise<void> = Promise.resolve();

  private constructor(
    readonly name: string,
    private readonly finalPaths: string[],
  ) {}

  /** `paths`: the segment's final path in each target (none when this volume is only hashed). */
  static async create(name: string, paths: string[]): Promise<SegmentWriter> {
    const w = new SegmentWriter(name, paths);
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

  async write(data: Uint8Array): Promise<void> {
    this.sha.update(data);
    this.xxh.update(data);
    this.size += data.length;
    if (this.handles.length === 0) return;
    let off = 0;
    while (off < data.length) {
      const k = Math.min(data.length - off, this.buf.length - this.used);
      this.buf.set(data.subarray(off, off + k), this.used);
      this.used += k;
      off += k;
      if (this.used === this.buf.length) await this.flush();
    }
  }

  async zeros(n: number): Promise<void> {
    if (n > 0) await this.write(Buffer.alloc(n));
  }

  /** Hands the full buffer to the disks and keeps filling a fresh one while they write. */
  private async flush(): Promise<void> {
    if (this.used === 0) return;
    const chunk = this.buf.subarray(0, this.used);
    await this.inflight;
    this.inflight = Promise.all(
      this.handles.map(async (h, i) => {
        try {
          let off = 0;
          while (off < chunk.length) off += (await h.write(chunk, off, chunk.length - off)).bytesWritten;
        } catch (e) {
          throw asIoError(e, `${this.finalPaths[i]}.partial`);
        }
      }),
    ).then(() => undefined);
    this.buf = Buffer.allocUnsafe(BUFFER_BYTES);
    this.used = 0;
  }

  async finish(): Promise<SegmentInfo> {
    await this.zeros(END_OF_ARCHIVE_BYTES);
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
    return { name: this.name, size: this.size, sha256: this.sha.digest('hex'), xxh64: this.xxh.digest() };
  }

  async abort(): Promise<void> {
    await this.inflight.catch(() => undefined);
    for (const h of this.handles) await h.close().catch(() => undefined);
    this.handles = [];
    for (const p of this.finalPaths) await unlink(`${p}.partial`).catch(() => undefined);
  }
}
