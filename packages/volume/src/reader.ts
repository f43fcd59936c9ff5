import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { BookcrateError } from '@bookcrate/format';

/**
 * Pull-based reading of one segment: `take(n, fn)` hands the next n bytes to fn in slices, with no
 * copy and no buffering beyond the stream's own read-ahead. Every byte that passes also goes to
 * `observe` (the segment's SHA-256), so a segment is read exactly once.
 */
export class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  offset = 0;
  private done = false;

  constructor(
    private readonly chunks: AsyncIterator<Buffer>,
    private readonly observe: (chunk: Buffer) => void,
  ) {}

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.chunks.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    this.buf = r.value;
    this.pos = 0;
    this.observe(r.value);
    return true;
  }

  /** Delivers up to n bytes; returns how many there were (fewer only at end of file). */
  async take(n: number, fn: (slice: Buffer) => void | Promise<void>): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.pos >= this.buf.length && !(await this.fill())) break;
      const k = Math.min(left, this.buf.length - this.pos);
      const r = fn(this.buf.subarray(this.pos, this.pos + k));
      if (r) await r;
      this.pos += k;
      left -= k;
      this.offset += k;
    }
    return n - left;
  }

  /** Reads what is left (to count extra bytes and finish the segment hash). */
  async drain(): Promise<number> {
    let extra = this.buf.length - this.pos;
    this.pos = this.buf.length;
    while (await this.fill()) {
      extra += this.buf.length;
      this.pos = this.buf.length;
    }
    this.offset += extra;
    return extra;
  }
}

export type ReadMode = 'cached' | 'direct';

const CHUNK = 4 * 1024 * 1024;

/**
 * A segment's bytes as chunks. `direct` reads with O_DIRECT through dd, bypassing the page cache, so
 * a read-back after writing proves what the disk holds (docs/format.md, "Read-back verification").
 */
export function segmentChunks(path: string, mode: ReadMode): AsyncIterator<Buffer> {
  if (mode === 'cached') return createReadStream(path, { highWaterMark: CHUNK })[Symbol.asyncIterator]();
  const dd = spawn('dd', [`if=${path}`, 'iflag=direct', 'bs=4M', 'status=none'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  dd.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => dd.on('close', (code) => resolve(code ?? 1)));
  const it = dd.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return {
    async next() {
      const r = await it.next();
      if (r.done) {
        const code = await exited;
        if (code !== 0) throw new BookcrateError('IO', `reading ${path} with O_DIRECT failed: ${stderr.trim()}`, { details: { direct: false } });
      }
      return r;
    },
    async return() {
      // stopped early (the segment is cut short): dd must not wait forever on a full pipe
      dd.kill();
      dd.stdout.destroy();
      return { done: true, value: undefined };
    },
  };
}

/** Whether this filesystem takes O_DIRECT reads (tmpfs, for one, does not). */
export async function directReadWorks(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dd = spawn('dd', [`if=${path}`, 'iflag=direct', 'bs=4096', 'count=1', 'of=/dev/null', 'status=none'], { stdio: 'ignore' });
    dd.on('error', () => resolve(false));
    dd.on('close', (code) => resolve(code === 0));
  });
}

/** Asks the kernel to drop a file's cached pages (posix_fadvise DONTNEED through dd). Best effort. */
export async function dropCachedPages(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dd = spawn('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' });
    dd.on('error', () => resolve(false));
    dd.on('close', (code) => resolve(code === 0));
  });
}
