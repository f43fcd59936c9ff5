import { isUtf8 } from 'node:buffer';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { ZipArchive, type ZipEntryData } from 'archiver';
import { gbkAvailable, GbkZipArchive, type ZipNames } from './zip-names.js';

/**
 * Streaming files out of the object store: content types, single HTTP ranges, validators
 * (ETag = the quoted SHA-256, Last-Modified = the manifest mtime), and zip downloads built while
 * they are sent. Callers hand in an object path they built from a validated SHA-256 they looked up
 * in the catalog; nothing here ever sees a path from a request.
 */

const TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  webm: 'video/webm',
  ogv: 'video/ogg',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  ogg: 'audio/ogg',
  wav: 'audio/wav',
  pdf: 'application/pdf',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  txt: 'text/plain; charset=utf-8',
  // HTML (and anything else a browser would run) is sent as text: a hostile page in a bundle must
  // not run with this server's origin.
  html: 'text/plain; charset=utf-8',
  htm: 'text/plain; charset=utf-8',
  csv: 'text/plain; charset=utf-8',
  // Subtitles opened on their own read as text; the player gets them as WebVTT (subtitles.ts).
  srt: 'text/plain; charset=utf-8',
  vtt: 'text/plain; charset=utf-8',
  epub: 'application/epub+zip',
  zip: 'application/zip',
  flac: 'audio/flac',
  // Video and audio of older collections that no browser plays (RealMedia, Windows Media, Flash
  // video, AVI, MPEG-1/2): typed for what they are, and offered as downloads for a desktop player.
  rmvb: 'application/vnd.rn-realmedia-vbr',
  rm: 'application/vnd.rn-realmedia',
  wmv: 'video/x-ms-wmv',
  asf: 'video/x-ms-asf',
  flv: 'video/x-flv',
  avi: 'video/x-msvideo',
  mkv: 'video/x-matroska',
  mpg: 'video/mpeg',
  mpeg: 'video/mpeg',
  vob: 'video/mpeg',
  ts: 'video/mp2t',
  '3gp': 'video/3gpp',
  mov: 'video/quicktime',
  wma: 'audio/x-ms-wma',
  ra: 'audio/vnd.rn-realaudio',
  amr: 'audio/amr',
  ape: 'audio/x-ape',
};

/** Media a browser plays by itself (in a <video> or <audio>); other media is downloaded and played on the PC. */
const PLAYS_IN_BROWSER = new Set(['mp4', 'm4v', 'webm', 'ogv', 'mp3', 'm4a', 'ogg', 'wav', 'flac']);

/** Old video and audio formats that are media though no browser plays them (see TYPES). */
const OTHER_MEDIA: Record<string, 'video' | 'audio'> = {
  rmvb: 'video', rm: 'video', wmv: 'video', asf: 'video', flv: 'video', avi: 'video', mkv: 'video', mpg: 'video', mpeg: 'video',
  vob: 'video', ts: 'video', '3gp': 'video', mov: 'video', wma: 'audio', ra: 'audio', amr: 'audio', ape: 'audio',
};

/** Whether a video or audio file plays in the reader's browser, or must be downloaded to a desktop player. */
export function playsInBrowser(name: string): boolean {
  return PLAYS_IN_BROWSER.has(extension(name));
}

export function extension(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

export function contentType(name: string): string {
  return TYPES[extension(name)] ?? 'application/octet-stream';
}

export type Kind = 'video' | 'audio' | 'image' | 'pdf' | 'text' | 'other';

export function kindOf(name: string): Kind {
  const media = OTHER_MEDIA[extension(name)];
  if (media) return media;
  const t = contentType(name);
  if (t.startsWith('video/')) return 'video';
  if (t.startsWith('audio/')) return 'audio';
  if (t.startsWith('image/')) return 'image';
  if (t === 'application/pdf') return 'pdf';
  if (t.startsWith('text/')) return 'text';
  return 'other';
}

/** Types a browser shows by itself; everything else is offered as a download. */
function showsInline(name: string): boolean {
  const kind = kindOf(name);
  return kind !== 'other' && (kind !== 'video' && kind !== 'audio' || playsInBrowser(name));
}

/** Media that is already compressed goes into a zip as is (store): deflating it again costs CPU and saves nothing. */
const COMPRESSED = new Set(['mp4', 'm4v', 'webm', 'ogv', 'mkv', 'avi', 'flv', 'mov', 'mp3', 'm4a', 'ogg', 'aac', 'flac',
  'rmvb', 'rm', 'wmv', 'asf', 'mpg', 'mpeg', 'vob', 'ts', '3gp', 'wma', 'ra', 'amr', 'ape',
  'jpg', 'jpeg', 'png', 'gif', 'webp', 'pdf', 'epub', 'zip', 'rar', '7z', 'gz', 'bz2', 'xz', 'docx', 'xlsx', 'pptx']);

/**
 * Content-Disposition with an ASCII fallback `filename` for old clients and the exact UTF-8 name in
 * `filename*` (RFC 6266 / RFC 5987), which every current browser prefers.
 */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, '_');
  const ext = encodeURIComponent(name).replace(/['()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${ext}`;
}

export type RangeResult = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * One range of `bytes=a-b`, `bytes=a-` or `bytes=-n`. Returns undefined when the header is absent,
 * malformed or asks for several ranges (RFC 9110 lets a server ignore Range and send everything),
 * 'unsatisfiable' when it names no byte of the file (→ 416).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? Infinity : Number(b);
  if (end < start) return undefined; // an invalid range-spec: the header is ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

function tagsOf(header: string): string[] {
  return header.split(',').map((s) => s.trim()).filter(Boolean);
}

/** If-None-Match uses the weak comparison: W/"x" matches "x". */
export function noneMatch(header: string, etag: string): boolean {
  return tagsOf(header).some((t) => t === '*' || t.replace(/^W\//, '') === etag);
}

/** What textCharset reads of a text file: enough to tell, little enough for every request. */
export const CHARSET_SNIFF_BYTES = 16 * 1024;

/**
 * The charset of a text file from its first bytes (`complete`: they are the whole file). Text files
 * in a bundle come from many desks: a government notice saved by Notepad on a Chinese Windows is
 * GBK ("ANSI", code page 936) or UTF-16 ("Unicode"), and a browser told UTF-8 shows either as
 * mojibake. A byte-order mark says which; without one, bytes that are valid UTF-8 (ASCII included;
 * a sequence cut by the end of the sample aside) are UTF-8, and anything else is GB18030, which
 * contains GBK and GB2312 and which every browser decodes.
 */
export function textCharset(head: Uint8Array, complete: boolean): 'utf-8' | 'utf-16le' | 'utf-16be' | 'gb18030' {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  // A sample that ends inside a character: up to three bytes of it may be cut off.
  for (let cut = 0; cut <= (complete ? 0 : Math.min(3, head.length)); cut++) {
    if (isUtf8(head.subarray(0, head.length - cut))) return 'utf-8';
  }
  return 'gb18030';
}

/** The Content-Type of a text file, with the charset its first bytes tell (textCharset). */
async function textContentType(h: FileHandle, type: string, size: number): Promise<string> {
  const head = Buffer.alloc(Math.min(size, CHARSET_SNIFF_BYTES));
  let got = 0;
  while (got < head.length) {
    const { bytesRead } = await h.read(head, got, head.length - got, got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return type.replace(/charset=[^;]*/, `charset=${textCharset(head.subarray(0, got), got === size)}`);
}

export interface ObjectToSend {
  objectPath: string;
  sha256: string;
  size: number;
  mtime: number; // seconds
  name: string; // the file's own name, for Content-Type and Content-Disposition
  download: boolean;
}

/**
 * Sends one object with validators and ranges. Returns 'missing' (having sent nothing) when the
 * object file is absent or its size differs from the catalog's, so the caller can answer with a
 * friendly page.
 */
export async function sendObject(req: IncomingMessage, res: ServerResponse, o: ObjectToSend): Promise<'sent' | 'missing'> {
  let h: FileHandle;
  try {
    h = await open(o.objectPath, 'r');
  } catch {
    return 'missing';
  }
  let streaming = false;
  try {
    const st = await h.stat();
    if (!st.isFile() || st.size !== o.size) return 'missing';
    const etag = `"${o.sha256}"`;
    const lastModified = new Date(o.mtime * 1000).toUTCString();
    res.setHeader('ETag', etag);
    res.setHeader('Last-Modified', lastModified);
    res.setHeader('Accept-Ranges', 'bytes');
    // The URL names a version, and a version never changes: caching is safe.
    res.setHeader('Cache-Control', 'public, max-age=86400');

    const inm = req.headers['if-none-match'];
    const ims = req.headers['if-modified-since'];
    if (inm !== undefined ? noneMatch(inm, etag) : ims !== undefined && Date.parse(ims) >= Math.floor(o.mtime) * 1000) {
      res.writeHead(304).end();
      return 'sent';
    }
    const type = contentType(o.name);
    res.setHeader('Content-Type', type.startsWith('text/plain;') ? await textContentType(h, type, o.size) : type);
    res.setHeader('Content-Disposition', contentDisposition(o.download || !showsInline(o.name) ? 'attachment' : 'inline', o.name));

    let range = parseRange(req.headers.range, o.size);
    const ifRange = req.headers['if-range'];
    if (range !== undefined && ifRange !== undefined) {
      const v = String(ifRange).trim();
      // Strong comparison for an entity tag; an HTTP date must equal Last-Modified exactly.
      const fresh = v.startsWith('"') || v.startsWith('W/') ? v === etag : Date.parse(v) === Date.parse(lastModified);
      if (!fresh) range = undefined;
    }
    if (range === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${o.size}`);
      res.removeHeader('Content-Disposition');
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Content-Length', 0);
      res.writeHead(416).end();
      return 'sent';
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : o.size - 1;
    const length = end - start + 1;
    res.setHeader('Content-Length', length);
    if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${o.size}`);
    res.writeHead(range ? 206 : 200);
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return 'sent';
    }
    streaming = true;
    const stream = h.createReadStream({ start, end, highWaterMark: 256 * 1024, autoClose: true });
    try {
      await pipeline(stream, res);
    } catch {
      // The reader went away mid-file (a seek in a video does this all the time): nothing to do.
      stream.destroy();
      res.destroy();
    }
    return 'sent';
  } finally {
    if (!streaming) await h.close().catch(() => undefined);
  }
}

export interface ZipEntry {
  objectPath: string;
  name: string; // the entry's name inside the zip
  size: number;
  mtime: number; // seconds
}

/**
 * Keeps only entries whose object is really there with the catalog's size, in their order. The
 * zip's headers wait for this, and a folder of 100,000 photos is one resource: its objects are
 * looked at sixteen at a time, not one after another.
 */
export async function presentEntries(entries: ZipEntry[]): Promise<ZipEntry[]> {
  const there = new Array<boolean>(entries.length).fill(false);
  let next = 0;
  const look = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      const st = await stat(entries[i]!.objectPath).catch(() => undefined);
      there[i] = !!st?.isFile() && st.size === entries[i]!.size;
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, entries.length) }, look));
  return entries.filter((_, i) => there[i]);
}

/**
 * Runs `fn` once when the response is over: sent, or its connection gone. A reader whose
 * connection closed while the handler awaited something (the catalog, the zip's files) has had
 * its 'close' already, which a listener added after would never hear: a download's place, or a
 * zip's, was then held until the server stopped (found by the hostile-reader test: after a few
 * such readers every zip was "busy").
 */
export function whenClosed(res: ServerResponse, fn: () => void): void {
  if (res.closed) queueMicrotask(fn);
  else res.once('close', fn);
}

/**
 * Streams a zip of `entries` while it is built: nothing is staged on disk or held in memory, the
 * reader's download starts at once, and backpressure from a slow client pauses the file reads.
 *
 * Names: `names` says how they are written (zip-names.ts): 'utf8', UTF-8 with the language-encoding
 * flag, as archiver writes them; 'gbk', GBK without it and the exact name in an Info-ZIP Unicode Path
 * field, for Windows Explorer on a Chinese PC (Windows 7 and 8 ignore the flag). A Node without a
 * GBK codec writes 'utf8' whatever it is asked.
 *
 * Entries go in the order given (the resource page's, catalog.ts inReadersOrder), one file opened at a time.
 *
 * Entry times are written as local time (forceLocalTime): DOS timestamps carry no zone and Explorer
 * shows them as they are, and the library server and its readers share a time zone.
 */
export async function sendZip(req: IncomingMessage, res: ServerResponse, zipName: string, entries: ZipEntry[], names: ZipNames = 'utf8'): Promise<void> {
  if (res.closed) return; // the reader left while its files were looked up
  res.setHeader('Content-Type', 'application/zip');
  res.setHeader('Content-Disposition', contentDisposition('attachment', zipName));
  res.setHeader('Cache-Control', 'no-store');
  if (req.method === 'HEAD') {
    res.writeHead(200).end();
    return;
  }
  res.writeHead(200);
  // statConcurrency 1: archiver stats its files four at once by default and appends each as its
  // stat comes back, so a comic's pages came out of order (002, 003, 001) from one download to the next.
  const options = { forceLocalTime: true, zlib: { level: 6 }, statConcurrency: 1 };
  const archive = names === 'gbk' && gbkAvailable() ? new GbkZipArchive(options, entries.map((e) => e.name)) : new ZipArchive(options);
  let failed = false;
  const fail = () => {
    if (failed) return;
    failed = true;
    archive.abort();
    res.destroy();
  };
  archive.on('error', fail);
  archive.on('warning', fail); // a missing object: a short zip must not look complete
  res.on('close', () => {
    if (!res.writableFinished) fail();
  });
  const done = new Promise<void>((resolve) => whenClosed(res, resolve));
  archive.pipe(res);
  for (const e of entries) {
    const data: ZipEntryData = {
      name: e.name,
      date: new Date(e.mtime * 1000),
      mode: 0o644,
      store: COMPRESSED.has(extension(e.name)),
    };
    archive.file(e.objectPath, data); // opened lazily, one at a time
  }
  // finalize() settles when the zip is written, but never after an abort: the response's end is
  // what tells the caller this download is over.
  archive.finalize().catch(fail);
  await done;
}
