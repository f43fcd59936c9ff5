import { BookcrateError } from './errors.js';

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, pb: 1e15,
  k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4, pib: 1024 ** 5,
};

/**
 * Parses sizes the way disk vendors and operators write them: `4TB` is 4×10¹² bytes (what a "4 TB"
 * disk holds), `3.6TiB` is binary, a bare number is bytes. Returns a whole number of bytes.
 */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new BookcrateError('USAGE', `${what} "${text}" is not a size`, {
      hint: 'write a number with an optional unit, e.g. 4TB, 3.6TiB, 512MiB, 1000000 (bytes)',
    });
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new BookcrateError('USAGE', `${what} "${text}" is out of range`, { hint: 'use a positive size below 8 PiB' });
  }
  return bytes;
}

/** Human-readable binary size: 1536 → "1.5 KiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}
