import { open, readFile, rename, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeError } from '@bookcrate/format';

/** fsync a directory so a rename inside it survives power loss (a no-op where unsupported). */
export async function fsyncDir(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, 'r');
    await h.sync();
  } catch {
    /* Windows cannot open directories; NTFS journals the rename itself */
  } finally {
    await h?.close();
  }
}

/** A JSON file's value, or undefined where it is missing or not JSON (a state file, a volume's documents). */
export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Writes a whole file crash-safely: temp name, fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const h = await open(tmp, 'w', mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } catch (e) {
    throw asIoError(e, tmp);
  } finally {
    await h.close();
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

/** A full disk or a vanished disk becomes an error that says what to do next. */
export function asIoError(e: unknown, path: string): Error {
  return writeError(e, path, {
    full: `the target is full while writing ${path}`,
    fullHint: 'make room (or use a larger disk / a smaller --disk-size), then run the same command again: finished segments are kept',
    ioHint: 'check that the target disk is connected and writable',
  });
}
