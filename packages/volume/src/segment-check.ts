import { createHash, type Hash } from 'node:crypto';
import { END_OF_ARCHIVE_BYTES, SharedXxh64, XXH64_STATE_BYTES, memberHeaderView, padTo512 } from '@bookcrate/format';
import type { Problem } from './problems.js';
import { segmentReadFailure } from './reader.js';
import { RingFailure, SegmentRing, ringControlBytes, type RingLayout } from './segment-ring.js';

/** A segment of the volume being verified, as the checker needs it. */
export interface CheckedSegment {
  /** 1-based number in the set */
  index: number;
  name: string;
  path: string;
  /** the file is not there (already reported by the caller) */
  absent: boolean;
  /** hash the whole segment and compare with this XXH64 (a volume's edge segments, see verify.ts) */
  whole?: string;
}

/** One tar member of a file on this volume. */
export interface MemberPart {
  segment: number;
  offset: number;
  length: number;
  /** offset of this part in the file, for a split file */
  at?: number;
}

/** One manifest entry to check against the segments, with its members on this volume. */
export interface FileCheck {
  path: string;
  type: 'file' | 'dir';
  mtime: number;
  size: number;
  /** this volume's members of the entry, in order */
  parts: MemberPart[];
  /** the digests to compare with; only for a file whose members are all on this volume */
  expect?: { xxh64: string; sha256: string };
  /** where a damaged file is said to start: its first member, on whichever volume it is */
  first: { segment: number; offset: number };
}

export interface CheckerOptions {
  segments: CheckedSegment[];
  /** every segment name of the set, by number - 1 (a damaged file names its first member's) */
  names: string[];
  /** also compute and compare SHA-256 */
  strict: boolean;
  /** sees the count of every buffer taken from the ring */
  onBytes?: (n: number) => void;
}

/** Where the checker keeps its two XXH64 states: right after the ring's buffers. */
export function checkerMemoryLayout(slots: number, slotBytes: number): { layout: RingLayout; pages: number } {
  const controlAt = slots * slotBytes + 2 * XXH64_STATE_BYTES;
  return { layout: { slots, slotBytes, controlAt }, pages: Math.ceil((controlAt + ringControlBytes(slots)) / 65536) };
}

/** A failure that stops the check: a manifest that contradicts itself, or an unreadable disk. */
export class CheckFailure extends Error {
  constructor(readonly code: 'FORMAT' | 'IO', message: string, readonly hint?: string) {
    super(message);
  }
}

const ZEROS = Buffer.alloc(4096);
const INCONSISTENT = 'the manifest is inconsistent; do not use this volume';

/** Index of the first non-zero byte of b, or -1 (compares against zeros natively, then looks closer). */
function firstNonZero(b: Uint8Array): number {
  for (let at = 0; at < b.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - at);
    if (ZEROS.compare(b, at, at + n, 0, n) !== 0) {
      for (let k = at; k < at + n; k++) if (b[k] !== 0) return k;
    }
  }
  return -1;
}

/**
 * One segment's bytes, buffer after buffer, as the reader thread put them in the ring. Positions
 * handed out are places in the shared memory; a buffer stays valid until the next one is taken.
 */
class SegmentBytes {
  /** position in the segment of the next byte handed out */
  offset = 0;
  /** position in the segment just past the buffer at hand */
  private filledTo = 0;
  private at = 0;
  private pos = 0;
  private len = 0;
  private eof = false;

  constructor(
    private readonly ring: SegmentRing,
    private readonly index: number,
    private readonly onFill: (at: number, n: number) => void,
    /** a place of the segment the disk could not read, [from, to) (zeros stand there in the buffer) */
    private readonly onUnreadable: (from: number, to: number) => void,
  ) {}

  private fill(): boolean {
    if (this.eof) return false;
    for (;;) {
      const s = this.ring.next();
      // A segment of this volume that no entry named (a manifest that lists nothing in it): passed over.
      if (s.segment < this.index) continue;
      if (s.segment > this.index) throw new CheckFailure('FORMAT', `members list goes back to segment ${this.index} after segment ${s.segment}`, INCONSISTENT);
      this.at = s.at;
      this.pos = 0;
      this.len = s.length;
      if (s.unreadable) this.onUnreadable(this.filledTo + s.unreadable.from, this.filledTo + s.unreadable.to);
      this.filledTo += s.length;
      if (s.end) this.eof = true;
      if (s.length > 0) this.onFill(s.at, s.length);
      return s.length > 0;
    }
  }

  /** Hands up to n bytes to fn as (place in the memory, count) slices; returns how many there were. */
  take(n: number, fn: (at: number, k: number) => void): number {
    let left = n;
    while (left > 0) {
      if (this.pos >= this.len && !this.fill()) break;
      const k = Math.min(left, this.len - this.pos);
      fn(this.at + this.pos, k);
      this.pos += k;
      this.offset += k;
      left -= k;
    }
    return n - left;
  }

  /** Where the next n bytes are in the memory, if all of them are in the current buffer; else -1. */
  peek(n: number): number {
    if (this.pos >= this.len && !this.fill()) return -1;
    return this.pos + n <= this.len ? this.at + this.pos : -1;
  }

  consume(n: number): void {
    this.pos += n;
    this.offset += n;
  }

  /** Takes what is left of the segment; returns its length. */
  drain(): number {
    let extra = this.len - this.pos;
    this.pos = this.len;
    while (this.fill()) {
      extra += this.len;
      this.pos = this.len;
    }
    this.offset += extra;
    return extra;
  }
}

interface Current {
  seg: CheckedSegment;
  bytes?: SegmentBytes;
  /** ended before its signed size */
  short: boolean;
  /** the places the disk could not read so far, in order, touching ones merged */
  unreadable: { from: number; to: number }[];
}

/** Whether [from, to) meets one of the places the disk could not read. */
function meetsUnreadable(places: { from: number; to: number }[], from: number, to: number): boolean {
  for (let k = places.length - 1; k >= 0; k--) {
    const p = places[k]!;
    if (p.to <= from) return false; // in order: the ones before end earlier still
    if (p.from < to) return true;
  }
  return false;
}

/**
 * The byte side of a member-by-member verify (docs/format.md, "Verification"), for one volume: takes
 * its segments' bytes once, in order, and checks every byte against the entries it is given in manifest
 * order — each member's tar header against the bytes the signed manifest implies, the padding and
 * the end-of-archive marker for zeros, each file's XXH64 (and SHA-256 when strict), nothing after
 * the end, and the XXH64 of a volume's edge segments. A reader thread fills the ring it takes the
 * bytes from (segment-ring.ts); it waits on that ring and hashes in its memory, so it is meant for
 * a thread of its own (check-thread.ts), fed in batches. Problems gather in `problems` for the
 * caller to take.
 */
export class SegmentChecker {
  readonly problems: Problem[] = [];
  /** segments whose end was checked (or that were found absent) */
  segmentsDone = 0;
  private readonly buf: Buffer;
  private readonly fileState: number;
  private readonly wholeState: number;
  private readonly bySegment = new Map<number, CheckedSegment>();
  private cur: Current | undefined;

  private constructor(
    private readonly opts: CheckerOptions,
    private readonly ring: SegmentRing,
    private readonly xxh: SharedXxh64,
  ) {
    const { slots, slotBytes } = ring.layout;
    this.buf = Buffer.from(ring.memory.buffer, 0, slots * slotBytes);
    this.fileState = slots * slotBytes;
    this.wholeState = this.fileState + XXH64_STATE_BYTES;
    for (const s of opts.segments) this.bySegment.set(s.index, s);
  }

  /** A checker of the bytes a reader thread puts in `ring` (laid out by checkerMemoryLayout). */
  static async create(ring: SegmentRing, opts: CheckerOptions): Promise<SegmentChecker> {
    return new SegmentChecker(opts, ring, await SharedXxh64.create(ring.memory));
  }

  private segment(index: number): Current {
    if (this.cur?.seg.index === index) return this.cur;
    this.finish();
    const seg = this.bySegment.get(index);
    if (!seg) throw new CheckFailure('FORMAT', `members list names segment ${index}, which is not on this volume`, INCONSISTENT);
    const cur: Current = { seg, short: false, unreadable: [] };
    if (seg.whole !== undefined) this.xxh.init(this.wholeState);
    if (!seg.absent) {
      cur.bytes = new SegmentBytes(this.ring, index, (at, n) => {
        if (seg.whole !== undefined) this.xxh.update(this.wholeState, at, n);
        this.opts.onBytes?.(n);
      }, (from, to) => {
        const last = cur.unreadable.at(-1);
        if (last && last.to >= from) last.to = Math.max(last.to, to);
        else cur.unreadable.push({ from, to });
      });
    }
    this.cur = cur;
    return cur;
  }

  /** Checks one entry's members, in manifest order. */
  check(f: FileCheck): void {
    this.guard(() => this.checkEntry(f));
  }

  /** Checks the current segment's end (marker, nothing after it, edge hash) and closes it. */
  finish(): void {
    const s = this.cur;
    if (!s) return;
    this.cur = undefined;
    this.segmentsDone++;
    this.guard(() => {
      const r = s.bytes;
      if (!r) return;
      if (!s.short) {
        const at = r.offset;
        let pos = 0;
        let nonZero = -1;
        const got = r.take(END_OF_ARCHIVE_BYTES, (b, k) => {
          if (nonZero < 0) {
            const z = firstNonZero(this.buf.subarray(b, b + k));
            if (z >= 0) nonZero = at + pos + z;
          }
          pos += k;
        });
        if (got < END_OF_ARCHIVE_BYTES) s.short = true;
        if (nonZero >= 0) this.problems.push({ kind: 'padding', segment: s.seg.name, offset: nonZero, detail: `segment ${s.seg.name}: the end-of-archive marker is damaged at offset ${nonZero}` });
      }
      const extra = r.drain();
      if (extra > 0 && !s.short) this.problems.push({ kind: 'padding', segment: s.seg.name, offset: r.offset - extra, detail: `segment ${s.seg.name}: ${extra} byte(s) after the end-of-archive marker` });
      if (s.seg.whole !== undefined && !s.short) {
        const actual = this.xxh.digest(this.wholeState);
        if (actual !== s.seg.whole) this.problems.push({ kind: 'segment-hash', segment: s.seg.name, expected: s.seg.whole, actual, detail: `segment ${s.seg.name}: XXH64 differs from the signed manifest` });
      }
    });
    for (const p of s.unreadable) {
      this.problems.push({
        kind: 'segment-unreadable', segment: s.seg.name, offset: p.from, length: p.to - p.from,
        detail: `the disk gives read errors for bytes ${p.from} to ${p.to} of ${s.seg.name}: a bad place`,
      });
    }
  }

  /** A read that failed in the reader thread: its message names the segment. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof RingFailure) throw segmentReadFailure(e.message);
      throw e;
    }
  }

  private checkEntry(f: FileCheck): void {
    const buf = this.buf;
    const hashing = f.expect !== undefined && f.type === 'file';
    let sha: Hash | undefined;
    if (hashing) {
      this.xxh.init(this.fileState);
      if (this.opts.strict) sha = createHash('sha256');
    }
    const hash = (at: number, k: number): void => {
      this.xxh.update(this.fileState, at, k);
      sha?.update(buf.subarray(at, at + k));
    };
    let missing = false;
    let missingNamed = false;
    /** where the first of its members the disk could not read all of starts */
    let unreadable: { segment: string; offset: number } | undefined;
    for (const m of f.parts) {
      const s = this.segment(m.segment);
      const r = s.bytes;
      if (!r || s.short) {
        missing = true;
        continue;
      }
      if (r.offset !== m.offset) {
        throw new CheckFailure('FORMAT', `members list: ${f.path} is said to start at offset ${m.offset} of ${s.seg.name}, but the previous member ends at ${r.offset}`, INCONSISTENT);
      }
      const name = s.seg.name;
      // Valid until the next memberHeaderView call: compared at once.
      const header = memberHeaderView({ path: f.path, type: f.type, length: m.length, mtime: f.mtime, ...(m.at !== undefined ? { part: { offset: m.at, total: f.size } } : {}) });
      const headerBytes = header.length;
      const pad = padTo512(m.length);
      const at = r.peek(headerBytes + m.length + pad);
      if (at >= 0) {
        // The whole member is in the buffer (most small files): checked in place.
        // Zeros stand where the disk could not read: the member's place is reported as unreadable instead.
        const lost = meetsUnreadable(s.unreadable, m.offset, m.offset + headerBytes + m.length + pad);
        if (lost) unreadable ??= { segment: name, offset: m.offset };
        if (!lost && header.compare(buf, at, at + headerBytes) !== 0) {
          let k = 0;
          while (buf[at + k] === header[k]) k++;
          this.problems.push({ kind: 'header', path: f.path, segment: name, offset: m.offset + k, detail: `the tar header of ${f.path} is damaged at offset ${m.offset + k} of ${name}` });
        }
        if (hashing && m.length > 0) hash(at + headerBytes, m.length);
        const z = lost ? -1 : firstNonZero(buf.subarray(at + headerBytes + m.length, at + headerBytes + m.length + pad));
        if (z >= 0) {
          const where = m.offset + headerBytes + m.length + z;
          this.problems.push({ kind: 'padding', path: f.path, segment: name, offset: where, detail: `non-zero padding after ${f.path} at offset ${where} of ${name}` });
        }
        r.consume(headerBytes + m.length + pad);
        continue;
      }
      let hpos = 0;
      let headerBad = -1;
      const hgot = r.take(headerBytes, (b, k) => {
        if (headerBad < 0 && header.compare(buf, b, b + k, hpos, hpos + k) !== 0) {
          for (let j = 0; j < k; j++) {
            if (buf[b + j] !== header[hpos + j]) {
              headerBad = m.offset + hpos + j;
              break;
            }
          }
        }
        hpos += k;
      });
      // Its bytes are all taken now: every place of them the disk could not read is known.
      const lost = (): boolean => meetsUnreadable(s.unreadable, m.offset, r.offset);
      if (headerBad >= 0 && !meetsUnreadable(s.unreadable, headerBad, headerBad + 1)) this.problems.push({ kind: 'header', path: f.path, segment: name, offset: headerBad, detail: `the tar header of ${f.path} is damaged at offset ${headerBad} of ${name}` });
      const dataAt = m.offset + headerBytes;
      const dgot = hgot < headerBytes ? 0 : r.take(m.length, hashing ? hash : () => undefined);
      let padBad = -1;
      let ppos = 0;
      const pgot = dgot < m.length ? 0 : r.take(pad, (b, k) => {
        if (padBad < 0) {
          const z = firstNonZero(buf.subarray(b, b + k));
          if (z >= 0) padBad = dataAt + m.length + ppos + z;
        }
        ppos += k;
      });
      if (padBad >= 0) this.problems.push({ kind: 'padding', path: f.path, segment: name, offset: padBad, detail: `non-zero padding after ${f.path} at offset ${padBad} of ${name}` });
      if (lost()) unreadable ??= { segment: name, offset: m.offset };
      if (hgot < headerBytes || dgot < m.length || pgot < pad) {
        s.short = true;
        missing = true;
        missingNamed = true;
        this.problems.push({ kind: 'file-missing', path: f.path, segment: name, offset: r.offset, detail: `${name} ends at offset ${r.offset}, inside ${f.path}` });
      }
    }
    if (missing && !missingNamed && f.parts.length > 0) {
      const m0 = f.parts[0]!;
      const name = this.opts.names[m0.segment - 1]!;
      this.problems.push({ kind: 'file-missing', path: f.path, segment: name, offset: m0.offset, detail: `${f.path} is not on the volume (its segment is missing or cut short)` });
    }
    if (hashing) {
      const xxh64 = this.xxh.digest(this.fileState);
      const sha256 = sha ? sha.digest('hex') : '';
      if (missing) return;
      const e = f.expect!;
      const [alg, expected, actual] = xxh64 !== e.xxh64 ? ['XXH64', e.xxh64, xxh64] : ['SHA-256', e.sha256, sha256 || e.sha256];
      if (actual !== expected && unreadable) {
        this.problems.push({ kind: 'file-unreadable', path: f.path, segment: unreadable.segment, offset: unreadable.offset, detail: `${f.path} cannot be read from the disk: a bad place at offset ${unreadable.offset} of ${unreadable.segment}` });
      } else if (actual !== expected) {
        const name = this.opts.names[f.first.segment - 1]!;
        this.problems.push({ kind: 'file-hash', path: f.path, segment: name, offset: f.first.offset, expected, actual, detail: `${f.path} is damaged: ${alg} ${actual}, expected ${expected}` });
      }
    }
  }
}
