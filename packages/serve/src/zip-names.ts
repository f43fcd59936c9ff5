import type { IncomingHttpHeaders } from 'node:http';
import { TextDecoder } from 'node:util';
import { Archiver, type ArchiverOptions } from 'archiver';
import { ZipArchiveEntry, ZipArchiveOutputStream } from 'compress-commons';
import ZipStream from 'zip-stream';

/**
 * How the names inside a zip are written, so that they open right on the reader's computer.
 *
 * A zip entry's name is bytes. Since 2006 (APPNOTE 6.3.0) general-purpose bit 11 says "these
 * bytes are UTF-8"; without it, every reader decodes them in a code page of its own choosing, and
 * Windows Explorer chooses the PC's OEM code page: 936 (GBK) on a Chinese Windows. Explorer on
 * Windows 7 and 8 — still on many a county library's desks — ignores bit 11 and so shows UTF-8
 * names as mojibake (鍥藉浘…), and so do some Chinese unzip tools set to GBK. A GBK name without
 * the flag is what every Explorer on a Chinese Windows has always read right.
 *
 * So a zip has one of two forms:
 * - 'utf8': UTF-8 names with bit 11 (archiver's own behaviour). Right in 7-Zip, WinRAR, Bandizip,
 *   on macOS, Linux and phones, and in Explorer on the Windows versions that read the flag.
 * - 'gbk': GBK names without bit 11. Explorer, 7-Zip, WinRAR, Bandizip and 360压缩 on a Chinese
 *   Windows all read them in code page 936. A character GBK lacks (a rare CJK Extension B
 *   ideograph, an emoji) is written '_'; such an entry alone also carries an Info-ZIP Unicode Path
 *   extra field (0x7075) with the exact UTF-8 name and the CRC-32 of the GBK bytes it stands for,
 *   which 7-Zip reads (tested). Only such an entry: Debian's unzip 6.0 stops on a streamed zip (each
 *   entry's sizes in a data descriptor after its data, as in every zip built while it is sent) in
 *   which any entry has the field, calling it a zip bomb ("overlapped components"). Seen here with
 *   zips from Python's zipfile too: with descriptors it fails, the same entries without pass; it is
 *   unzip's bookkeeping, not the zip. So a zip whose names GBK holds has none and tests clean
 *   everywhere.
 *
 * A reader on Windows whose browser asks for Chinese gets 'gbk'; everyone else 'utf8'; `?names=`
 * overrides, and the resource page links to the other form for a reader whose names still come out
 * wrong.
 */
export type ZipNames = 'utf8' | 'gbk';

export function isZipNames(v: string | null | undefined): v is ZipNames {
  return v === 'utf8' || v === 'gbk';
}

/** The form a request gets unless it asks with ?names=: GBK for a Windows browser that asks for Chinese first. */
export function zipNamesFor(headers: IncomingHttpHeaders): ZipNames {
  const ua = headers['user-agent'] ?? '';
  // Desktop Windows says "Windows NT" (not "Windows Phone"). zh-TW/HK/MO/Hant: a traditional-Chinese
  // Windows reads code page 950 (Big5), not 936.
  if (!/\bWindows NT\b/.test(ua)) return 'utf8';
  const first = (headers['accept-language'] ?? '').split(',')[0]!.trim().toLowerCase();
  return /^zh\b/.test(first) && !/^zh-(tw|hk|mo|hant)\b/.test(first) ? 'gbk' : 'utf8';
}

let gbkTable: Map<number, number> | null | undefined;

/**
 * The GBK table, built once from the platform's own GBK decoder (WHATWG GBK, as Node's full ICU
 * has it): every two-byte code 0x81–0xFE × 0x40–0xFE (but 0x7F) decoded, and the mapping turned
 * round. null when this Node was built without GBK (small ICU): zips are then always 'utf8'.
 */
function gbk(): Map<number, number> | null {
  if (gbkTable !== undefined) return gbkTable;
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder('gbk', { fatal: true });
  } catch {
    return (gbkTable = null);
  }
  const table = new Map<number, number>();
  const pair = new Uint8Array(2);
  for (let lead = 0x81; lead <= 0xfe; lead++) {
    for (let trail = 0x40; trail <= 0xfe; trail++) {
      if (trail === 0x7f) continue;
      pair[0] = lead;
      pair[1] = trail;
      let s: string;
      try {
        s = decoder.decode(pair);
      } catch {
        continue; // unassigned
      }
      const cp = s.codePointAt(0)!;
      // The first code that decodes to a character is the one Windows' code page 936 writes for it.
      if (s.length === 1 && cp >= 0x80 && !table.has(cp)) table.set(cp, (lead << 8) | trail);
    }
  }
  return (gbkTable = table);
}

export function gbkAvailable(): boolean {
  return gbk() !== null;
}

/**
 * `name` in GBK, with '_' for each character GBK lacks: the bytes, and the name as a GBK reader
 * will show it. Control characters never reach here (bundle paths refuse them).
 */
export function encodeGbk(name: string): { bytes: Buffer; shown: string } {
  const table = gbk();
  if (!table) throw new Error('this Node.js has no GBK codec (built with small-icu)');
  const out: number[] = [];
  let shown = '';
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    const code = cp < 0x80 ? cp : table.get(cp);
    if (code === undefined) {
      out.push(0x5f);
      shown += '_';
    } else {
      if (code > 0xff) out.push(code >> 8);
      out.push(code & 0xff);
      shown += ch;
    }
  }
  return { bytes: Buffer.from(out), shown };
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (the zip one) of a short buffer: a name. */
export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The Info-ZIP Unicode Path extra field (APPNOTE 4.6.9): id 0x7075, version 1, the CRC-32 of the
 * header's own name bytes (a reader uses the UTF-8 name only while the two still agree), the UTF-8 name.
 */
export function unicodePathExtra(headerName: Buffer, name: string): Buffer {
  const utf8 = Buffer.from(name, 'utf8');
  const field = Buffer.alloc(4 + 1 + 4 + utf8.length);
  field.writeUInt16LE(0x7075, 0);
  field.writeUInt16LE(field.length - 4, 2);
  field.writeUInt8(1, 4);
  field.writeUInt32LE(crc32(headerName), 5);
  utf8.copy(field, 9);
  return field;
}

/**
 * The GBK header names of a zip's entries, by name (plain ASCII names are left out: they are the
 * same bytes either way). Two names that a GBK reader would show alike once '_' stands in for what
 * GBK lacks (第𠀀讲, 第𠀁讲, or 第_讲 itself) are told apart with " (2)" before the extension, so that
 * Explorer does not offer to overwrite one with the other. Explorer compares names without regard
 * to case; so does this.
 */
export interface GbkName {
  bytes: Buffer;
  /** false when '_' stands in for a character GBK lacks, or " (2)" tells it from another name */
  exact: boolean;
}

export function gbkHeaderNames(names: string[]): Map<string, GbkName> {
  const out = new Map<string, GbkName>();
  const taken = new Set<string>();
  const inexact: string[] = [];
  for (const name of names) {
    if (!/[^\x00-\x7f]/.test(name)) {
      taken.add(name.toLowerCase());
      continue;
    }
    const { bytes, shown } = encodeGbk(name);
    if (shown !== name) {
      inexact.push(name); // named after every exact one has its name
      continue;
    }
    taken.add(shown.toLowerCase());
    out.set(name, { bytes, exact: true });
  }
  for (const name of inexact) {
    const slash = name.lastIndexOf('/');
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > slash + 1 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    let gbkName = encodeGbk(name);
    for (let n = 2; taken.has(gbkName.shown.toLowerCase()); n++) gbkName = encodeGbk(`${stem} (${n})${ext}`);
    taken.add(gbkName.shown.toLowerCase());
    out.set(name, { bytes: gbkName.bytes, exact: false });
  }
  return out;
}

/**
 * A zip entry whose header name is given bytes without the UTF-8 flag; with the exact name in a
 * Unicode Path field when those bytes lost a character.
 */
export class GbkNamedEntry extends ZipArchiveEntry {
  readonly headerName: Buffer;
  readonly unicodePath: Buffer | undefined;
  constructor(name: string, gbkName: GbkName) {
    super(name);
    this.headerName = gbkName.bytes;
    this.unicodePath = gbkName.exact ? undefined : unicodePathExtra(gbkName.bytes, name);
    this.getGeneralPurposeBit().useUTF8ForNames(false); // setName set it for a non-ASCII name
    if (this.unicodePath) super.setExtra(this.unicodePath);
  }

  // compress-commons writes getName()'s `.length` and then the value itself into both headers, and
  // converts it with Buffer.from only when the UTF-8 flag is set: a Buffer goes out as these bytes.
  // (Pinned by the tests, which read the headers back; compress-commons is pinned in package.json.)
  override getName(): string {
    return this.headerName as unknown as string;
  }

  override isDirectory(): boolean {
    return false; // only files go into a reader's zip
  }

  // The writer replaces an entry's extra field with the ZIP64 one when a file or its offset passes
  // 4 GiB: keep the Unicode Path field after it.
  override setExtra(extra: Buffer): void {
    super.setExtra(!this.unicodePath || extra === this.unicodePath ? extra : Buffer.concat([extra, this.unicodePath]));
  }
}

interface EntryData {
  name: string;
  date: Date;
  mode: number;
  store?: boolean;
}

/** zip-stream with names from `headerNames`: an entry named there is written as a GbkNamedEntry. */
class GbkZipStream extends ZipStream {
  constructor(options: ArchiverOptions, private readonly headerNames: Map<string, GbkName>) {
    super(options);
  }

  override entry(source: unknown, data: EntryData, callback?: (err: Error | null) => void): unknown {
    // zip-stream's own entry(), for a plain file, with our entry class. The names are bundle paths,
    // which its clean-up (slashes, no leading / or ../) leaves as they are.
    const d = this._normalizeFileData(data);
    const gbkName = this.headerNames.get(d.name);
    if (!gbkName) return super.entry(source, data, callback); // plain ASCII
    const entry = new GbkNamedEntry(d.name, gbkName);
    entry.setTime(d.date, this.options.forceLocalTime);
    if (d.store) entry.setMethod(0);
    entry.setUnixMode(d.mode);
    return ZipArchiveOutputStream.prototype.entry.call(this, entry, source, callback);
  }
}

/** archiver's zip format module (its plugins/zip.js) around GbkZipStream. */
class GbkZipModule {
  readonly engine: GbkZipStream;
  constructor(options: ArchiverOptions, headerNames: Map<string, GbkName>) {
    this.engine = new GbkZipStream({ comment: '', namePrependSlash: false, store: false, ...options }, headerNames);
  }
  append(source: unknown, data: EntryData, callback: (err: Error | null) => void): void {
    this.engine.entry(source, data, callback);
  }
  finalize(): void {
    this.engine.finalize();
  }
  on(...args: Parameters<GbkZipStream['on']>): GbkZipStream {
    return this.engine.on(...args);
  }
  pipe(...args: Parameters<GbkZipStream['pipe']>): unknown {
    return this.engine.pipe(...args);
  }
  unpipe(...args: Parameters<GbkZipStream['unpipe']>): unknown {
    return this.engine.unpipe(...args);
  }
}

/**
 * archiver's ZipArchive with the entries' names written in GBK (see above) — archiver's own way of
 * making a format: an Archiver whose module is set in the constructor. `names` are the entry names
 * that will be appended.
 */
export class GbkZipArchive extends Archiver {
  constructor(options: ArchiverOptions, names: string[]) {
    super(options);
    const self = this as unknown as { _format: string; _module: GbkZipModule; _supportsDirectory: boolean; _supportsSymlink: boolean; _modulePipe(): void };
    self._format = 'zip';
    self._module = new GbkZipModule(options, gbkHeaderNames(names));
    self._supportsDirectory = false;
    self._supportsSymlink = false;
    self._modulePipe();
  }
}
