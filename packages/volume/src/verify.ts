import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import {
  BookcrateError, memberHeaderView, padTo512, END_OF_ARCHIVE_BYTES, segmentTable,
  type Digests, type SegmentInfo,
} from '@bookcrate/format';
import { openVolume, placedEntries, resourceEntries, type OpenVolume } from './open.js';
import type { ReadMode } from './reader.js';
import { SharedBufferPool } from './buffer-pool.js';
import { HashThread } from './hash-thread.js';
import { ChunkPool, SegmentStream } from './segment-stream.js';
import { readAhead } from './read-ahead.js';
import { Outstanding } from './outstanding.js';
import { volumePaths } from './layout.js';

export type ProblemKind =
  | 'segment-missing' // a segment file of this volume is absent
  | 'segment-size' // a segment file has the wrong size (truncated or extended)
  | 'header' // a tar header differs from the one the manifest implies
  | 'padding' // non-zero bytes where tar padding or the end-of-archive marker must be zero
  | 'segment-hash' // a volume's first or last segment differs from its signed XXH64
  | 'file-hash' // a file's content differs from its manifest hash
  | 'file-missing'; // a file's bytes are not on the volume (segment missing or cut short)

export interface Problem {
  kind: ProblemKind;
  detail: string;
  path?: string;
  segment?: string;
  offset?: number;
  expected?: string;
  actual?: string;
}

export interface VerifyProgress {
  phase: 'manifest' | 'segments';
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  segment?: string;
}

export interface VerifyOptions {
  mode: 'fast' | 'full';
  /** Full mode also checks every file's SHA-256 (cryptographic), not only its XXH64. */
  strict?: boolean;
  trustedKey?: KeyObject;
  /** 'direct' reads past the page cache (read-back after packing); default 'cached'. */
  readMode?: ReadMode;
  onProgress?: (p: VerifyProgress) => void;
  /** Problems kept in the report; beyond it they are only counted. */
  maxProblems?: number;
}

export interface VerifyReport {
  dir: string;
  set: string;
  volume: number;
  volumes: number;
  bundle: { id: string; version: number; title: string; created: string };
  key: { fingerprint: string; source: 'trusted' | 'volume' };
  mode: 'fast' | 'full';
  strict: boolean;
  readMode: ReadMode;
  ok: boolean;
  problems: Problem[];
  problemCount: number;
  damagedFiles: number;
  checked: { segments: number; files: number; bytes: number };
  seconds: number;
}

interface OpenSegment {
  index: number;
  info: SegmentInfo;
  /** hasher of the whole segment's XXH64, for the volume's first and last segments (see below) */
  whole?: number;
  reader?: SegmentStream; // absent when the file is missing
  short: boolean; // ended before its signed size
}

/** Reading budget of a full verify: 8 shared buffers of 4 MiB, 3 reads ahead of the checks. */
const POOL_BUFFERS = 8;
const BUFFER_BYTES = 4 << 20;
const READ_AHEAD = 3;
/** manifest entries decoded ahead of the segment reading (see readAhead) */
const MANIFEST_AHEAD = 32768;
const ZEROS = Buffer.alloc(4096);

/** Index of the first non-zero byte of b, or -1 (compares against zeros natively, then looks closer). */
function firstNonZero(b: Buffer): number {
  for (let at = 0; at < b.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - at);
    if (ZEROS.compare(b, at, at + n, 0, n) !== 0) {
      for (let k = at; k < at + n; k++) if (b[k] !== 0) return k;
    }
  }
  return -1;
}

/**
 * Verifies one volume (docs/format.md, "Verification"). Fast: signature, manifest parts, presence
 * and size of every segment. Full: additionally reads every segment once, sequentially, and checks
 * every byte of it: tar headers against the bytes the signed manifest implies, padding and the end
 * marker for zeros, each file's XXH64 (and SHA-256 with `strict`), nothing after the end. Damage is
 * named down to the file and offset.
 * Every problem is collected; the first one never hides the rest.
 */
export async function verifyVolume(dir: string, opts: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  // Full mode reads every segment once into a small pool of shared buffers; the hashing thread
  // hashes them while this thread checks headers and padding and reads the next buffer. The thread
  // starts now, while the volume is opened.
  const pool = opts.mode === 'full' ? new SharedBufferPool(POOL_BUFFERS, BUFFER_BYTES) : undefined;
  const hashes = pool ? new HashThread(pool) : undefined;
  try {
    return await verifyWith(dir, opts, started, pool && hashes ? { pool, hashes } : undefined);
  } finally {
    await hashes?.close();
  }
}

async function verifyWith(dir: string, opts: VerifyOptions, started: number, hashing: { pool: SharedBufferPool; hashes: HashThread } | undefined): Promise<VerifyReport> {
  const vol = await openVolume(dir, opts.trustedKey ? { trustedKey: opts.trustedKey } : {});
  const layout = vol.root.layout!;
  const readMode = opts.readMode ?? 'cached';
  const max = opts.maxProblems ?? 100_000;
  const report: VerifyReport = {
    dir, set: layout.set, volume: vol.doc.volume, volumes: layout.volumes.length,
    bundle: vol.root.bundle, key: vol.key, mode: opts.mode, strict: !!opts.strict, readMode, ok: true,
    problems: [], problemCount: 0, damagedFiles: 0, checked: { segments: 0, files: 0, bytes: 0 }, seconds: 0,
  };
  const damaged = new Set<string>();
  const add = (p: Problem): void => {
    report.problemCount++;
    if (report.problems.length < max) report.problems.push(p);
    if (p.path && (p.kind === 'file-hash' || p.kind === 'file-missing') && !damaged.has(p.path)) {
      damaged.add(p.path);
      report.damagedFiles++;
    }
  };

  const table = segmentTable(vol.root);
  const mine = new Set<number>();
  table.forEach((s, i) => s.volume === vol.doc.volume && mine.add(i + 1));
  const firstMine = Math.min(...mine);
  const lastMine = Math.max(...mine);
  const bytesTotal = opts.mode === 'full' ? [...mine].reduce((a, i) => a + table[i - 1]!.info.size, 0) : 0;
  const filesTotal = vol.root.totals.files + vol.root.totals.dirs;
  const progress = (phase: VerifyProgress['phase'], segment?: string): void =>
    opts.onProgress?.({ phase, bytesDone: report.checked.bytes, bytesTotal, filesDone: report.checked.files, filesTotal, ...(segment ? { segment } : {}) });

  // Presence and size of this volume's segments: the whole of --fast, and the first step of full.
  const sizeOk = new Map<number, boolean>();
  const absent = new Set<number>();
  for (const i of mine) {
    const info = table[i - 1]!.info;
    const path = volumePaths(dir).segment(info.name);
    try {
      const st = await stat(path);
      sizeOk.set(i, st.size === info.size);
      if (st.size !== info.size) add({ kind: 'segment-size', segment: info.name, expected: String(info.size), actual: String(st.size), detail: `segment ${info.name} is ${st.size} bytes, the manifest says ${info.size}` });
    } catch {
      sizeOk.set(i, false);
      absent.add(i);
      add({ kind: 'segment-missing', segment: info.name, detail: `segment ${info.name} is missing from ${volumePaths(dir).segments}` });
    }
  }

  // Walking the resources list checks every resource part's hash and every record's shape. It runs
  // beside the files and the segments instead of before them; a failure stops the verify at once.
  let resourcesFailure: unknown;
  const resourcesWalk = (async () => {
    for await (const _ of resourceEntries(vol)) {
      if (resourcesFailure) return;
    }
  })().catch((e: unknown) => {
    resourcesFailure ??= e;
  });

  const full = opts.mode === 'full';
  const hashes = hashing?.hashes;
  const chunks = hashing ? new ChunkPool(hashing.pool) : undefined;
  // Digests come back while reading goes on: each is checked when it arrives.
  const checks = new Outstanding();
  const whenHashed = (id: number, check: (d: Digests) => void): void => checks.add(hashes!.finish(id).then(check));

  let seg: OpenSegment | undefined;
  const finishSegment = async (): Promise<void> => {
    if (!seg) return;
    const s = seg;
    seg = undefined;
    report.checked.segments++;
    if (!s.reader) {
      if (s.whole !== undefined) whenHashed(s.whole, () => undefined); // missing: already reported
      return;
    }
    try {
      // After the last member: the end-of-archive marker, then nothing.
      if (!s.short) {
        const at = s.reader.offset;
        let pos = 0;
        let nonZero = -1;
        const got = await s.reader.take(END_OF_ARCHIVE_BYTES, (b) => {
          if (nonZero < 0) {
            const k = firstNonZero(b);
            if (k >= 0) nonZero = at + pos + k;
          }
          pos += b.length;
        });
        if (got < END_OF_ARCHIVE_BYTES) s.short = true;
        if (nonZero >= 0) add({ kind: 'padding', segment: s.info.name, offset: nonZero, detail: `segment ${s.info.name}: the end-of-archive marker is damaged at offset ${nonZero}` });
      }
      const extra = await s.reader.drain();
      if (extra > 0 && !s.short) add({ kind: 'padding', segment: s.info.name, offset: s.info.size, detail: `segment ${s.info.name}: ${extra} byte(s) after the end-of-archive marker` });
    } finally {
      await s.reader.close();
    }
    if (s.whole !== undefined) {
      const short = s.short;
      whenHashed(s.whole, (d) => {
        if (!short && d.xxh64 !== s.info.xxh64) add({ kind: 'segment-hash', segment: s.info.name, expected: s.info.xxh64, actual: d.xxh64, detail: `segment ${s.info.name}: XXH64 differs from the signed manifest` });
      });
    }
  };
  const openSegment = async (index: number): Promise<OpenSegment> => {
    await finishSegment();
    const info = table[index - 1]!.info;
    const s: OpenSegment = { index, info, short: false };
    // Only the first segment of a volume after the first, and the last of a volume before the last,
    // can hold part of a file that continues on another volume, whose whole-file hash cannot be
    // checked here: their segment XXH64 covers it. (A single-volume set hashes nothing twice.)
    if (full && ((index === firstMine && vol.doc.volume > 1) || (index === lastMine && vol.doc.volume < vol.doc.volumes))) s.whole = hashes!.open('xxh64');
    if (full && !absent.has(index)) {
      try {
        s.reader = await SegmentStream.open(volumePaths(dir).segment(info.name), chunks!, {
          readMode, depth: READ_AHEAD,
          observe: (n, chunk) => {
            if (s.whole !== undefined) hashes!.update(s.whole, chunk.index, 0, n);
            report.checked.bytes += n;
            progress('segments', info.name);
          },
          onStarve: () => hashes!.send(),
        });
      } catch (e) {
        throw new BookcrateError('IO', `cannot read ${volumePaths(dir).segment(info.name)}: ${(e as Error).message}`, { hint: 'check that the disk is connected and readable', cause: e });
      }
    }
    seg = s;
    return s;
  };

  let seen = 0;
  try {
    // The first segment starts reading now, while the first manifest parts are still on their way.
    const first = full && mine.size > 0 ? openSegment(firstMine) : undefined;
    if (hashes) await hashes.start();
    await first;
    for await (const { entry, members: parts } of full ? readAhead(placedEntries(vol), MANIFEST_AHEAD) : placedEntries(vol)) {
      if (resourcesFailure) throw resourcesFailure;
      const here = parts.some((m) => mine.has(m.segment));
      if (here) report.checked.files++;
      if (!full) {
        if (++seen % 1024 === 0) progress('manifest');
        continue;
      }
      const fileId = entry.type === 'file' && here ? hashes!.open(opts.strict ? 'dual' : 'xxh64') : undefined;
      let allHere = true;
      let missing = false;
      for (const m of parts) {
        if (!mine.has(m.segment)) {
          allHere = false;
          continue;
        }
        const s = seg?.index === m.segment ? seg : await openSegment(m.segment);
        if (!s.reader || s.short) {
          if (absent.has(m.segment) || s.short) missing = true;
          continue;
        }
        const r = s.reader;
        if (r.offset !== m.offset) {
          throw new BookcrateError('FORMAT', `members list: ${entry.path} is said to start at offset ${m.offset} of ${s.info.name}, but the previous member ends at ${r.offset}`);
        }
        // Valid until the next memberHeaderView call: compared at once, slice by slice.
        const header = memberHeaderView({ path: entry.path, type: entry.type, length: m.length, mtime: entry.mtime, ...(m.at !== undefined ? { part: { offset: m.at, total: entry.size } } : {}) });
        const headerBytes = header.length;
        const pad = padTo512(m.length);
        const whole = r.peek(headerBytes + m.length + pad);
        if (whole) {
          // The whole member is in the buffer at hand (most small files): checked without a wait.
          const { bytes, chunk } = whole;
          if (header.compare(bytes, 0, headerBytes) !== 0) {
            let k = 0;
            while (bytes[k] === header[k]) k++;
            add({ kind: 'header', path: entry.path, segment: s.info.name, offset: m.offset + k, detail: `the tar header of ${entry.path} is damaged at offset ${m.offset + k} of ${s.info.name}` });
          }
          if (fileId !== undefined && m.length > 0) hashes!.update(fileId, chunk.index, bytes.byteOffset - chunk.buf.byteOffset + headerBytes, m.length);
          const k = firstNonZero(bytes.subarray(headerBytes + m.length));
          if (k >= 0) {
            const at = m.offset + headerBytes + m.length + k;
            add({ kind: 'padding', path: entry.path, segment: s.info.name, offset: at, detail: `non-zero padding after ${entry.path} at offset ${at} of ${s.info.name}` });
          }
          r.consume(headerBytes + m.length + pad);
          continue;
        }
        let hpos = 0;
        let headerBad = -1;
        const hgot = await r.take(headerBytes, (b) => {
          if (headerBad < 0 && header.compare(b, 0, b.length, hpos, hpos + b.length) !== 0) {
            for (let k = 0; k < b.length; k++) if (b[k] !== header[hpos + k]) { headerBad = m.offset + hpos + k; break; }
          }
          hpos += b.length;
        });
        if (headerBad >= 0) add({ kind: 'header', path: entry.path, segment: s.info.name, offset: headerBad, detail: `the tar header of ${entry.path} is damaged at offset ${headerBad} of ${s.info.name}` });
        const dataAt = m.offset + headerBytes;
        const dgot = hgot < headerBytes ? 0 : fileId === undefined ? await r.skip(m.length)
          : await r.take(m.length, (b, chunk) => hashes!.update(fileId, chunk.index, b.byteOffset - chunk.buf.byteOffset, b.length));
        let padBad = -1;
        let ppos = 0;
        const pgot = dgot < m.length ? 0 : await r.take(pad, (b) => {
          if (padBad < 0) {
            const k = firstNonZero(b);
            if (k >= 0) padBad = dataAt + m.length + ppos + k;
          }
          ppos += b.length;
        });
        if (padBad >= 0) add({ kind: 'padding', path: entry.path, segment: s.info.name, offset: padBad, detail: `non-zero padding after ${entry.path} at offset ${padBad} of ${s.info.name}` });
        if (hgot < headerBytes || dgot < m.length || pgot < pad) {
          s.short = true;
          missing = true;
          add({ kind: 'file-missing', path: entry.path, segment: s.info.name, offset: r.offset, detail: `${s.info.name} ends at offset ${r.offset}, inside ${entry.path}` });
        }
      }
      if (here && missing && !damaged.has(entry.path)) {
        const m0 = parts.find((m) => mine.has(m.segment))!;
        add({ kind: 'file-missing', path: entry.path, segment: table[m0.segment - 1]!.info.name, offset: m0.offset, detail: `${entry.path} is not on the volume (its segment is missing or cut short)` });
      }
      if (fileId !== undefined) {
        const check = !missing && allHere;
        whenHashed(fileId, (d) => {
          if (!check) return;
          const [alg, expected, actual] = d.xxh64 !== entry.xxh64 ? ['XXH64', entry.xxh64!, d.xxh64] : ['SHA-256', entry.sha256!, d.sha256 || entry.sha256!];
          if (actual !== expected) {
            const m0 = parts[0]!;
            add({ kind: 'file-hash', path: entry.path, segment: table[m0.segment - 1]!.info.name, offset: m0.offset, expected, actual, detail: `${entry.path} is damaged: ${alg} ${actual}, expected ${expected}` });
          }
        });
      }
      if (++seen % 1024 === 0) progress('segments');
    }
    await finishSegment();
    if (hashes) {
      hashes.send();
      await checks.settled();
    }
    await resourcesWalk;
    if (resourcesFailure) throw resourcesFailure;
  } finally {
    if (seg?.reader) await seg.reader.close().catch(() => undefined);
    resourcesFailure ??= new Error('stopped');
    await resourcesWalk;
  }
  progress(full ? 'segments' : 'manifest');
  report.ok = report.problemCount === 0;
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

export type { OpenVolume };
