import { spawn } from 'node:child_process';
import { close, constants, open, read } from 'node:fs';
import { BookcrateError } from '@bookcrate/format';

export type ReadMode = 'cached' | 'direct';

/**
 * Whether this file can be read with O_DIRECT, past the page cache, the way a verify's reader
 * thread reads it (segment-ring.ts): into page-aligned memory, 4096 bytes at a time or more.
 * Some filesystems refuse the flag (tmpfs before Linux 6.6, some FUSE and network filesystems);
 * Windows and macOS have no such flag.
 */
export async function directReadWorks(path: string): Promise<boolean> {
  return (await diskAnswers(path)) === true;
}

/**
 * Whether the disk that holds `path` still answers: its first block read past the page cache. true:
 * it does; false: it gave an error (a disk gone: unplugged, powered off, or dead); undefined: this
 * filesystem cannot be read past the cache (see directReadWorks), so nothing can be told. After a
 * read error, this tells a bad place on a disk (it answers elsewhere) from a disk that is gone.
 */
export async function diskAnswers(path: string): Promise<boolean | undefined> {
  if (typeof constants.O_DIRECT !== 'number') return undefined;
  // A WebAssembly memory starts on a page boundary, as the reader's ring does.
  const aligned = new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 1 }).buffer, 0, 4096);
  return new Promise((resolve) => {
    open(path, constants.O_RDONLY | constants.O_DIRECT, (err, fd) => {
      if (err) return resolve(err.code === 'EINVAL' ? undefined : false);
      read(fd, aligned, 0, aligned.length, 0, (e) => close(fd, () => resolve(e ? (e.code === 'EINVAL' ? undefined : false) : true)));
    });
  });
}

/**
 * A segment verify could not go on reading: the disk is gone (unplugged, powered off, dead; a bad
 * place on it is read past, bad-place.ts), or the segment would not open. Its threads say "cannot
 * read <path>[ at byte <n>]: <reason>[; the disk no longer answers]".
 */
export function segmentReadFailure(message: string): BookcrateError {
  const m = /^cannot read (.+?)(?: at byte \d+)?: (.+?)(?:; the disk no longer answers)?$/s.exec(message);
  return new BookcrateError('IO', message, {
    hint: 'check that the disk is connected (a loose USB cable, a hub without power) and run the command again. If it fails again with the disk connected, the disk is failing: ask the center for another copy',
    ...(m ? { say: { id: 'segment-unreadable' as const, args: { path: m[1]!, reason: m[2]! } } } : {}),
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
