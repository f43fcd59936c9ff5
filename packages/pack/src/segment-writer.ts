import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { END_OF_ARCHIVE_BYTES, type Digests, type SegmentInfo } from '@bookcrate/format';
import { dropCachedPages, type HashThread, type SharedBufferPool } from '@bookcrate/volume';
import { asIoError, fsyncDir } from './fsutil.js';

const ZEROS = Buffer.alloc(64 << 10);
/**
 * Bytes written between two background write-back requests for a segment. The target's write-back
 * lags the source by up to this much, and at hard-disk speed the lag showed: with 256 MiB the
 * target disk stood idle between requests and the source waited at segment ends
 * (docs/performance.md, "Two hard disks").
 */
const WRITEBACK_EVERY = 64 << 20;

/**
 * One segment being written to every target at once. Bytes are gathered into the buffers of
 * a SharedBufferPool, so thousands of small files become a few large sequential writes to
 * `<name>.partial`; the hashing thread hashes each file's ranges in place, and each full buffer as
 * a whole for the segment's XXH64, while the buffer is written to the disks. A buffer is filled
 * again only when the hasher and every disk are done with it. `close` adds the end-of-archive
 * marker, `seal` fsyncs and renames: a segment file under its final name is always complete.
 */
export class SegmentWriter {
  private index = -1; // the buffer being filled, with the writer's hold on it
  private used = 0;
  size = 0;
  private handles: FileHandle[] = [];
  private inflight: Promise<void> = Promise.resolve();
  private readonly segmentHash: number;
  private unsynced = 0;
  private syncing: Promise<void> | undefined;

  private constructor(
    readonly name: string,
    private readonly finalPaths: string[],
    private readonly pool: SharedBufferPool,
    private readonly hashes: HashThread,
  ) {
    this.segmentHash = hashes.open('xxh64');
  }

  /** `paths`: the segment's final path in each target (none when this volume is only hashed). */
  static async create(name: string, paths: string[], pool: SharedBufferPool, hashes: HashThread): Promise<SegmentWriter> {
    const w = new SegmentWriter(name, paths, pool, hashes);
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

  /** Appends bytes; `file` (a hasher of the hashing thread) marks them as that file's content. */
  async write(data: Uint8Array, file?: number): Promise<void> {
    this.size += data.length;
    let off = 0;
    while (off < data.length) {
      if (this.index < 0) this.index = await this.pool.acquire();
      const b = this.pool.buffers[this.index]!;
      const k = Math.min(data.length - off, b.length - this.used);
      b.set(data.subarray(off, off + k), this.used);
      if (file !== undefined) this.hashes.update(file, this.index, this.used, k);
      this.used += k;
      off += k;
      if (this.used === b.length) await this.flush();
    }
  }

  /**
   * Reads straight into the segment's buffers: `fill(buf, n)` must put exactly n bytes at the
   * start of buf. No copy for the bytes of large files.
   */
  async writeFrom(length: number, file: number | undefined, fill: (buf: Buffer, n: number) => Promise<void>): Promise<void> {
    this.size += length;
    let left = length;
    while (left > 0) {
      if (this.index < 0) this.index = await this.pool.acquire();
      const b = this.pool.buffers[this.index]!;
      const k = Math.min(left, b.length - this.used);
      await fill(b.subarray(this.used, this.used + k), k);
      if (file !== undefined) this.hashes.update(file, this.index, this.used, k);
      this.used += k;
      left -= k;
      if (this.used === b.length) await this.flush();
    }
  }

  /** The file's last byte has been written: its digests follow once its bytes are hashed. */
  endFile(file: number): Promise<Digests> {
    return this.hashes.finish(file);
  }

  async zeros(n: number): Promise<void> {
    while (n > 0) {
      const k = Math.min(n, ZEROS.length);
      await this.write(ZEROS.subarray(0, k));
      n -= k;
    }
  }

  /** Hands the full buffer to the hashing thread and the disks, and goes on filling another. */
  private async flush(): Promise<void> {
    if (this.index < 0) return;
    const index = this.index;
    const chunk = this.pool.buffers[index]!.subarray(0, this.used);
    if (this.used > 0) this.hashes.update(this.segmentHash, index, 0, this.used);
    this.hashes.send();
    this.index = -1;
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
      () => {
        this.pool.release(index);
        this.writeBack(chunk.length);
      },
      (e: unknown) => {
        this.pool.release(index);
        throw e;
      },
    );
    this.inflight.catch(() => undefined); // surfaced by the next await of inflight
  }

  /**
   * Every WRITEBACK_EVERY bytes, the disks are asked to start writing the segment so far, without
   * waiting for it: `dd iflag=nocache count=0` (posix_fadvise DONTNEED, which starts writeback of
   * the dirty pages and drops the clean ones; no journal commit, nothing waits), one at a time, in
   * the background. The fsync of `seal` then finds little left, and a multi-terabyte pack does
   * not fill the page cache. Where dd is missing (Windows) a background datasync does it instead.
   */
  private writeBack(n: number): void {
    this.unsynced += n;
    if (this.unsynced < WRITEBACK_EVERY || this.syncing) return;
    this.unsynced = 0;
    this.syncing = Promise.all(this.handles.map(async (h, i) => {
      if (await dropCachedPages(`${this.finalPaths[i]!}.partial`)) return;
      await h.datasync();
    })).then(
      () => undefined,
      () => undefined, // an error shows again at the fsync of seal
    ).finally(() => (this.syncing = undefined));
  }

  /**
   * Ends the segment: the end-of-archive marker, every byte handed to the disks and the segment's
   * XXH64 known. The file is not yet durable nor under its final name: that is `seal`, which may
   * run while the next segment is written (the source disk then never waits for the target's
   * write-back at a segment's end).
   */
  async close(): Promise<SegmentInfo> {
    await this.zeros(END_OF_ARCHIVE_BYTES);
    await this.flush();
    const digest = this.hashes.finish(this.segmentHash);
    this.hashes.send();
    await this.inflight;
    const { xxh64 } = await digest;
    return { name: this.name, size: this.size, xxh64 };
  }

  /** After `close`: fsyncs every copy and renames it to its final name (then fsyncs its folder). */
  async seal(): Promise<void> {
    await this.syncing;
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
  }

  async abort(): Promise<void> {
    await this.inflight.catch(() => undefined);
    await this.syncing;
    if (this.index >= 0) this.pool.release(this.index);
    this.index = -1;
    for (const h of this.handles) await h.close().catch(() => undefined);
    this.handles = [];
    for (const p of this.finalPaths) await unlink(`${p}.partial`).catch(() => undefined);
  }
}
