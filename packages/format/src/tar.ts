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

function paxRecord(key: string, value: string): string {
  // "<len> <key>=<value>\n" where <len> counts the whole record, its own digits included.
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body, 'utf8');
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length !== String(len - bodyLen).length) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

export function padTo512(n: number): number {
  return (BLOCK - (n % BLOCK)) % BLOCK;
}

/**
 * Writes `value` as len-1 octal digits and a NUL, as POSIX ustar does, byte by byte: a header is
 * built for every member by pack, verify and import alike, and the string round trip
 * (toString(8), padStart, Buffer.write) was most of its cost.
 */
function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  const digits = len - 1;
  if (!(value >= 0 && value <= 8 ** digits - 1)) throw new RangeError(`value ${value} does not fit a ${len}-byte octal field`);
  let v = value;
  for (let i = off + digits - 1; i >= off; i--) {
    buf[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  buf[off + digits] = 0;
}

/** ASCII bytes (this dialect's ustar names and magic are ASCII by construction). */
function writeAscii(h: Buffer, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) h[at + i] = s.charCodeAt(i);
}

/** Writes a ustar block at h[at, at + 512), which must be zeros; `name` is written by the caller. */
function ustarHeader(h: Buffer, at: number, typeflag: number, size: number, mtime: number, mode: number): void {
  writeOctal(h, at + 100, 8, mode);
  writeOctal(h, at + 108, 8, 0); // uid
  writeOctal(h, at + 116, 8, 0); // gid
  writeOctal(h, at + 124, 12, size);
  writeOctal(h, at + 136, 12, mtime);
  h.fill(0x20, at + 148, at + 156); // checksum field counts as spaces while summing
  h[at + 156] = typeflag;
  writeAscii(h, at + 257, 'ustar\0' + '00');
  // Bytes 265..511 (uname, gname, devices, prefix) stay zero in this dialect: the sum stops before them.
  let sum = 0;
  for (let i = at, end = at + 265; i < end; i++) sum += h[i]!;
  writeOctal(h, at + 148, 7, sum);
  h[at + 155] = 0x20;
}

/**
 * Writes the ASCII stand-in for the 100-byte ustar name (pax-aware readers use the pax `path`
 * instead): every UTF-16 unit outside printable ASCII becomes '_', a folder gets a trailing '/',
 * and a longer name keeps its last 99 characters.
 */
function writeFallbackName(h: Buffer, at: number, path: string, type: 'file' | 'dir'): void {
  const len = path.length + (type === 'dir' ? 1 : 0);
  const from = len > 99 ? len - 99 : 0;
  for (let i = from; i < len; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2f;
    h[at + i - from] = c >= 0x20 && c <= 0x7e ? c : 0x5f;
  }
}

const MAX_OCTAL_SIZE = 8 ** 11 - 1;
const PAX_NAME = '././@PaxHeader';

function paxText(m: MemberHeaderInput): string {
  let pax = paxRecord('path', m.type === 'dir' ? `${m.path}/` : m.path);
  if (m.part) pax += paxRecord('BOOKCRATE.part', `${m.part.offset}/${m.part.total}`);
  if (m.length > MAX_OCTAL_SIZE) pax += paxRecord('size', String(m.length));
  return pax;
}

let scratch = Buffer.alloc(8 * BLOCK);

/**
 * The exact bytes that precede a member's data, in a buffer this module reuses: valid only until
 * the next call. For readers and writers that compare or copy them at once (millions of members
 * without an allocation each).
 */
export function memberHeaderView(m: MemberHeaderInput): Buffer {
  const pax = paxText(m);
  const paxLen = Buffer.byteLength(pax, 'utf8');
  const total = BLOCK + paxLen + padTo512(paxLen) + BLOCK;
  if (scratch.length < total) scratch = Buffer.alloc(total);
  const h = scratch;
  h.fill(0, 0, total);
  writeAscii(h, 0, PAX_NAME);
  ustarHeader(h, 0, 0x78 /* 'x' */, paxLen, m.mtime, 0o644);
  h.write(pax, BLOCK, paxLen, 'utf8');
  writeFallbackName(h, total - BLOCK, m.path, m.type);
  ustarHeader(h, total - BLOCK, m.type === 'dir' ? 0x35 /* '5' */ : 0x30 /* '0' */, m.length > MAX_OCTAL_SIZE ? 0 : m.length, m.mtime, m.type === 'dir' ? 0o755 : 0o644);
  return h.subarray(0, total);
}

/** The exact bytes that precede a member's data: pax header block(s), then the ustar block. */
export function encodeMemberHeader(m: MemberHeaderInput): Buffer {
  return Buffer.from(memberHeaderView(m));
}

/** Bytes a member occupies in a segment: header, data, zero padding to a 512-byte boundary. */
export function memberSpan(m: MemberHeaderInput): number {
  return headerLength(m) + m.length + padTo512(m.length);
}

export function headerLength(m: MemberHeaderInput): number {
  const n = Buffer.byteLength(paxText(m), 'utf8');
  return BLOCK + n + padTo512(n) + BLOCK;
}
