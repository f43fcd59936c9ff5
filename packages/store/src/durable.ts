import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Makes the entries of a folder durable (a file renamed or linked into it): open it read-only and
 * fsync (POSIX). Windows cannot open a folder; NTFS journals its renames.
 */
export function syncFolderSync(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    fsyncSync(fd);
  } catch {
    // not possible here (Windows)
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes a small file under its final name only once its bytes are on the disk: temp name, fsync, rename, then its folder. */
export function writeDurablySync(path: string, bytes: Buffer | string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const b = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const fd = openSync(tmp, 'w');
  try {
    for (let at = 0; at < b.length;) at += writeSync(fd, b, at, b.length - at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  syncFolderSync(dirname(path));
}
