/** Largest mtime the tar header's 11 octal digits hold (year 2242). */
const MAX_MTIME = 8 ** 11 - 1;

/**
 * Whole seconds, within what the manifest and the tar header can hold (docs/format.md): a file
 * dated before 1970 (a scanner's clock, a FAT oddity) is recorded at 0 rather than stopping the pack.
 */
export function mtimeOf(mtimeMs: number): number {
  return Math.min(MAX_MTIME, Math.max(0, Math.floor(mtimeMs / 1000)));
}
