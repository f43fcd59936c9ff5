import { describe, expect, it } from 'vitest';
import { encodeMemberHeader, memberHeaderView, type MemberHeaderInput } from './tar.js';

/**
 * A plain, string-based encoding of the same dialect (docs/format.md, "Segments"), written the way
 * the spec reads: the byte-level encoder in tar.ts must produce exactly these bytes.
 */
function referenceHeader(m: MemberHeaderInput): Buffer {
  const record = (key: string, value: string): string => {
    const body = ` ${key}=${value}\n`;
    const n = Buffer.byteLength(body);
    let len = n + String(n).length;
    if (String(len).length !== String(len - n).length) len = n + String(len).length;
    return `${len}${body}`;
  };
  const maxOctal = 8 ** 11 - 1;
  let pax = record('path', m.type === 'dir' ? `${m.path}/` : m.path);
  if (m.part) pax += record('BOOKCRATE.part', `${m.part.offset}/${m.part.total}`);
  if (m.length > maxOctal) pax += record('size', String(m.length));
  const paxBytes = Buffer.from(pax);
  const pad = (512 - (paxBytes.length % 512)) % 512;
  const octal = (v: number, len: number): string => v.toString(8).padStart(len - 1, '0') + '\0';
  const ustar = (name: string, flag: string, size: number, mode: number): Buffer => {
    const b = Buffer.alloc(512);
    b.write(name, 0, 100, 'latin1');
    b.write(octal(mode, 8) + octal(0, 8) + octal(0, 8) + octal(size, 12) + octal(m.mtime, 12) + '        ' + flag, 100, 'latin1');
    b.write('ustar\0' + '00', 257, 'latin1');
    let sum = 0;
    for (const x of b) sum += x;
    b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    return b;
  };
  let name = m.path.replace(/[^\x20-\x7e]/g, '_') + (m.type === 'dir' ? '/' : '');
  if (name.length > 99) name = name.slice(name.length - 99);
  return Buffer.concat([
    ustar('././@PaxHeader', 'x', paxBytes.length, 0o644), paxBytes, Buffer.alloc(pad),
    ustar(name, m.type === 'dir' ? '5' : '0', m.length > maxOctal ? 0 : m.length, m.type === 'dir' ? 0o755 : 0o644),
  ]);
}

describe('tar member headers', () => {
  it('are byte for byte the spec\'s encoding, for names, sizes, times and parts at their edges', () => {
    let seed = 20240601;
    const rnd = (n: number): number => {
      seed = (seed * 16807) % 2147483647;
      return seed % n;
    };
    const units = ['a', 'Z', '0', ' ', '"', '\\', '老', '照', '😀', 'é', '-', '.', '~', '第', '张'];
    for (let i = 0; i < 2000; i++) {
      const length = 1 + rnd(i % 10 === 0 ? 300 : 40);
      let path = '';
      for (let k = 0; k < length; k++) path += units[rnd(units.length)];
      const type = i % 7 === 0 ? 'dir' : 'file';
      const m: MemberHeaderInput = {
        path: `收藏/${path}`, type,
        length: type === 'dir' ? 0 : [0, 1, 511, 512, 4096, 8 ** 11 - 1, 8 ** 11, 2 ** 40][i % 8]!,
        mtime: [0, 1_700_000_000 + i, 8 ** 11 - 1][i % 3]!,
        ...(i % 5 === 0 && type === 'file' ? { part: { offset: rnd(1e9), total: 4e12 } } : {}),
      };
      const want = referenceHeader(m);
      expect(memberHeaderView(m).equals(want), JSON.stringify(m)).toBe(true);
      expect(encodeMemberHeader(m).equals(want)).toBe(true);
    }
  });

  it('refuses a time no 11-digit octal field holds instead of writing a header no reader accepts', () => {
    expect(() => memberHeaderView({ path: 'a', type: 'file', length: 1, mtime: -1 })).toThrow(RangeError);
    expect(() => memberHeaderView({ path: 'a', type: 'file', length: 1, mtime: 8 ** 11 })).toThrow(RangeError);
  });
});
