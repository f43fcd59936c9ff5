import { open, unlink, type FileHandle } from 'node:fs/promises';
import {
  AlignedBufferPool, BookcrateError, CHUNKED_MIN_SIZE, ChunkListBuilder, DualHasher, type Chunk, type Digests,
} from '@bookcrate/format';
import type { InventoryItem } from '@bookcrate/pack';
import { repoIoError } from './repo.js';

/** What one read of a source file yields: its digests, its chunk list if it is large, and optionally a copy. */
export interface ReadFile {
  digests: Digests;
  chunks?: { avg: number; list: Chunk[] };
  /** The temp copy, written and not yet synced; the caller stages it, or drops it. */
  copy?: TempCopy;
}

export class TempCopy {
  constructor(readonly path: string, private readonly h: FileHandle) {}
  async write(b: Buffer): Promise<void> {
    let off = 0;
    while (off < b.length) off += (await this.h.write(b, off, b.length - off)).bytesWritten;
  }
  /** Closes the copy; it is synced (with its whole batch) before the rename that names it. */
  async close(): Promise<void> {
    await this.h.close();
  }
  async drop(): Promise<void> {
    await this.h.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}

const BLOCK = 4 * 1024 * 1024;
/** Page-aligned read buffers (the kernel copies into them ~4× faster; format's aligned.ts). */
const readBuffers = new AlignedBufferPool(BLOCK);

export function changed(item: InventoryItem, what: string): BookcrateError {
  return new BookcrateError('SOURCE_CHANGED', `${item.path} changed while it was being published (${what})`, {
    hint: 'make sure nothing writes to the source while publishing, then run the same command again (everything already written is reused)',
  });
}

function srcName(item: InventoryItem): string {
  return typeof item.src === 'string' ? item.src : item.src.toString('latin1');
}

/**
 * Reads a source file once, feeding every block to SHA-256 + XXH64, to the chunker if the file is
 * large enough to get a chunk list, and to a temp copy if `copyTo` is given. The file must still
 * have the size and mtime the walk recorded when the read ends (else SOURCE_CHANGED), so the digests
 * describe exactly the entry the files tree will hold.
 */
export async function readSourceFile(item: InventoryItem, copyTo: string | undefined, onBytes: (n: number) => void): Promise<ReadFile> {
  let h: FileHandle;
  try {
    h = await open(item.src, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw changed(item, 'it was deleted');
    throw new BookcrateError('IO', `cannot read ${srcName(item)}: ${(e as Error).message}`, { hint: 'check permissions and that the source disk is connected', cause: e });
  }
  let copy: TempCopy | undefined;
  let buf: Buffer | undefined;
  try {
    if (copyTo !== undefined) {
      try {
        copy = new TempCopy(copyTo, await open(copyTo, 'w'));
      } catch (e) {
        throw repoIoError(e, copyTo);
      }
    }
    const hasher = new DualHasher();
    const chunker = item.size >= CHUNKED_MIN_SIZE ? new ChunkListBuilder(item.size) : undefined;
    buf = readBuffers.take();
    let pos = 0;
    while (pos < item.size) {
      const want = Math.min(buf.length, item.size - pos);
      const { bytesRead } = await h.read(buf, 0, want, pos);
      if (bytesRead === 0) throw changed(item, 'it became shorter');
      const b = buf.subarray(0, bytesRead);
      hasher.update(b);
      chunker?.update(b);
      if (copy) {
        try {
          await copy.write(b);
        } catch (e) {
          throw repoIoError(e, copy.path);
        }
      }
      pos += bytesRead;
      onBytes(bytesRead);
    }
    const st = await h.stat();
    if (st.size !== item.size) throw changed(item, `its size went from ${item.size} to ${st.size} bytes`);
    if (Math.floor(st.mtimeMs / 1000) !== item.mtime) throw changed(item, 'its modification time moved');
    const out: ReadFile = { digests: hasher.digest() };
    if (chunker) out.chunks = { avg: chunker.avg, list: chunker.finish() };
    if (copy) out.copy = copy;
    return out;
  } catch (e) {
    await copy?.drop();
    throw e;
  } finally {
    if (buf) readBuffers.give(buf);
    await h.close();
  }
}
