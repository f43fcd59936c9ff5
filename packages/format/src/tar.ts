/**
 * The tar dialect of bookcrate segments (docs/format.md, "Segments"). Every member is a pax extended
 * header ('x') carrying the UTF-8 path, followed by a ustar header. The bytes of a member header are
 * a pure function of (path, type, size, mtime, part): a reader regenerates them from the signed
 * manifest and compares byte for byte, so a segment never has to be *parsed* to be verified, and a
 * hostile tar trick (a `..` name, a link, a device, a second pax record) can never reach a reader.
 */
export const BLOCK = 512;
export const END_OF_ARCHIVE_BYTES = 2 * BLOCK;

export interface MemberHeaderInput {
  path: string; // bundle path, '/'-separated, NFC, no leading '/'
  type: 'file' | 'dir';
  /** bytes of data in this member (for a part: the part's length) */
  length: number;
  mtime: number; // whole seconds since the epoch
  /** for a file split across segments: offset of this part in the file, and the whole file's size */
  part?: { offset: number; total: number };
}

const enc = new TextEncoder();

function paxRecord(key: string, value: string): string {
  // "<len> <key>=<value>\n" where <len> counts the whole record, its own digits included.
  const body = ` ${key}=${value}\n`;
  const bodyLen = enc.encode(body).length;
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length !== String(len - bodyLen).length) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

export function padTo512(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

function writeString(buf: Buffer, off: number, len: number, s: string): void {
  buf.write(s, off, len, 'latin1');
}

function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  // len-1 octal digits, NUL-terminated, as POSIX ustar writes them.
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1) throw new RangeError(`value ${value} does not fit a ${len}-byte octal field`);
  writeString(buf, off, len - 1, s);
  buf[off + len - 1] = 0;
}

function ustarHeader(name: string, typeflag: string, size: number, mtime: number, mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, mode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  writeString(h, 156, 1, typeflag);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  writeString(h, 148, 7, sum.toString(8).padStart(6, '0') + '\0');
  h[155] = 0x20;
  return h;
}

/** An ASCII stand-in for the 100-byte ustar name; pax-aware readers use the pax `path` instead. */
function asciiFallbackName(path: string, type: 'file' | 'dir'): string {
  let s = path.replace(/[^\x20-\x7e]/g, '_');
  if (type === 'dir') s += '/';
  return s.length > 99 ? s.slice(s.length - 99) : s;
}

const MAX_OCTAL_SIZE = 8 ** 11 - 1;

function paxText(m: MemberHeaderInput): string {
  let pax = paxRecord('path', m.type === 'dir' ? `${m.path}/` : m.path);
  if (m.part) pax += paxRecord('BOOKCRATE.part', `${m.part.offset}/${m.part.total}`);
  if (m.length > MAX_OCTAL_SIZE) pax += paxRecord('size', String(m.length));
  return pax;
}

/** The exact bytes that precede a member's data: pax header block(s), then the ustar block. */
export function encodeMemberHeader(m: MemberHeaderInput): Buffer {
  const paxBytes = Buffer.from(paxText(m), 'utf8');
  const paxHead = ustarHeader('././@PaxHeader', 'x', paxBytes.length, m.mtime, 0o644);
  const paxPad = Buffer.alloc(padTo512(paxBytes.length));
  const main = ustarHeader(
    asciiFallbackName(m.path, m.type),
    m.type === 'dir' ? '5' : '0',
    m.length > MAX_OCTAL_SIZE ? 0 : m.length,
    m.mtime,
    m.type === 'dir' ? 0o755 : 0o644,
  );
  return Buffer.concat([paxHead, paxBytes, paxPad, main]);
}

/** Bytes a member occupies in a segment: header, data, zero padding to a 512-byte boundary. */
export function memberSpan(m: MemberHeaderInput): number {
  return headerLength(m) + m.length + padTo512(m.length);
}

export function headerLength(m: MemberHeaderInput): number {
  const n = enc.encode(paxText(m)).length;
  return BLOCK + n + padTo512(n) + BLOCK;
}
