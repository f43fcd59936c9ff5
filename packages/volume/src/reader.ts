import { BookcrateError } from '@bookcrate/format';
import { diskAnswers } from './bad-place.js';

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

export { diskAnswers } from './bad-place.js';

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
