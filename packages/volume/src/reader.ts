import { spawn } from 'node:child_process';
import { BookcrateError } from '@bookcrate/format';

export type ReadMode = 'cached' | 'direct';

/**
 * A file's bytes as chunks read with O_DIRECT through dd, bypassing the page cache, so a read-back
 * after writing proves what the disk holds (docs/format.md, "Read-back verification").
 */
export function directChunks(path: string): AsyncIterator<Buffer> {
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

/**
 * Asks the kernel to drop a file's cached pages (posix_fadvise DONTNEED through dd). Best effort.
 * Dirty pages are not dropped but their writeback is started, without waiting for it: pack uses
 * this to keep the disk writing behind a segment (see SegmentWriter.writeBack).
 */
export async function dropCachedPages(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dd = spawn('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' });
    dd.on('error', () => resolve(false));
    dd.on('close', (code) => resolve(code === 0));
  });
}
