import { createHash, randomBytes, type Hash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { link, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BookcrateError, FastHasher } from '@bookcrate/format';

/** A full disk or a failing one becomes an error that says what to do next. */
export function storeIoError(e: unknown, path: string): Error {
  if (e instanceof BookcrateError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BookcrateError('NO_SPACE', `the store's disk is full (writing ${path})`, {
      hint: 'free some space on the library server\'s disk, then run the same command again: everything already imported is kept',
      cause: e,
    });
  }
  return new BookcrateError('IO', `cannot write ${path}: ${(e as Error).message}`, { hint: 'check the store disk and its permissions', cause: e });
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
      await rename(this.tmpPath, finalPath);
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

/**
 * Makes every object written since the last call durable before the catalog records them: one
 * syncfs (`sync -f`) for the store's filesystem instead of an fsync per small file; where that is
 * not available, each file is fsynced.
 */
export async function syncObjects(storeDir: string, paths: string[]): Promise<void> {
  if (paths.length === 0) return;
  const r = spawnSync('sync', ['-f', storeDir], { stdio: 'ignore' });
  if (r.status === 0) return;
  for (const p of paths) {
    const h = await open(p, 'r');
    await h.sync();
    await h.close();
  }
}

/** Hard link, or a copy where the filesystem has no hard links (FAT32, some network shares). */
export async function linkOrCopy(from: string, to: string): Promise<'link' | 'copy'> {
  try {
    await link(from, to);
    return 'link';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return 'link';
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK' && code !== 'ENOSYS') throw e;
    const { copyFile } = await import('node:fs/promises');
    await copyFile(from, to);
    return 'copy';
  }
}
