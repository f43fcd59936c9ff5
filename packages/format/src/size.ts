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

/** Parses a duration like 10m, 2h, 14d, 90s. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) {
    throw new BookcrateError('USAGE', `${flag} "${text}" is not a duration`, { hint: 'write it like 90s, 10m, 2h or 14d' });
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}

/** Parses a transfer rate like 2MB/s, 500KiB/s or 1.5MiB (per second implied); 0 means unlimited. */
export function parseRate(text: string, flag: string): number {
  const body = text.trim().replace(/\/s$/i, '');
  try {
    return parseSize(body, flag);
  } catch {
    throw new BookcrateError('USAGE', `${flag} "${text}" is not a rate`, { hint: 'write it like 2MB/s or 500KiB/s (bytes per second; 135 Mbit/s is about 16MB/s)' });
  }
}

/** Parses --listen: host:port, [v6]:port, or a bare port (on 127.0.0.1: only this PC). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(listen) ?? /^()()(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new BookcrateError('USAGE', `--listen "${listen}" is not host:port`, {
      hint: 'for example --listen 127.0.0.1:8080 (this PC only), or --listen 0.0.0.0:8080 to let the whole library network in',
      say: { id: 'listen-not-host-port', args: { listen } },
    });
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}
