import { BookcrateError } from './errors.js';
import { END_OF_ARCHIVE_BYTES, BLOCK, headerLength, memberSpan } from './tar.js';

/**
 * Volume and segment planning (docs/format.md, "Layout rules"). Pure and incremental: the packer
 * feeds entries in manifest order to a `Layouter` and gets back where each member goes; the dry-run
 * planner feeds the same entries to the same Layouter and only counts. Because the one algorithm
 * decides both, a plan printed by `--dry-run` is exactly what `pack` will write.
 */
export interface LayoutItem {
  path: string;
  type: 'file' | 'dir';
  size: number;
  mtime: number;
}

export interface LayoutOptions {
  segmentSize: number; // bytes of one segment file, end-of-archive marker included
  volumeCapacity: number; // bytes of segments one volume may hold
}

export interface Placement {
  volume: number; // 1-based
  segment: number; // 1-based, global
  offset: number; // header offset in the segment
  length: number; // data bytes of this member
  at?: number; // for parts of a split file: offset in the file
  total?: number; // for parts: the whole file's size
}

/** A split part must carry at least this much data, so a file is never cut into slivers. */
const MIN_PART = 1 << 20;
/** Smallest segment size accepted: a few headers plus a minimal part. */
export const MIN_SEGMENT_SIZE = 4 * MIN_PART;
/** FAT32 holds files up to 4 GiB − 1; keep a 1 MiB margin and a 512-byte multiple. */
export const DEFAULT_SEGMENT_SIZE = 4 * 1024 ** 3 - 1024 ** 2;

function floor512(n: number): number {
  return n - (n % BLOCK);
}

/** Refuses a segment size the format does not allow (USAGE): before anything is read or written. */
export function checkSegmentSize(segmentSize: number): void {
  if (segmentSize < MIN_SEGMENT_SIZE || segmentSize % BLOCK !== 0) {
    throw new BookcrateError('USAGE', `segment size ${segmentSize} must be a multiple of 512 and at least ${MIN_SEGMENT_SIZE} bytes`, {
      hint: 'use e.g. --segment-size 4GiB (the default fits FAT32)',
    });
  }
}

export class Layouter {
  volume = 0;
  segment = 0;
  private segOpen = false;
  private segUsed = 0; // bytes in the open segment, end marker excluded
  private volUsed = 0; // bytes of closed segments of the current volume, end markers included
  private volumeHasContent = false;
  private forceNewVolume = false;
  readonly closed: { volume: number; segment: number; size: number }[] = [];

  constructor(private readonly opts: LayoutOptions) {
    checkSegmentSize(opts.segmentSize);
    if (opts.volumeCapacity < opts.segmentSize) {
      throw new BookcrateError('USAGE', `a volume holds only ${opts.volumeCapacity} bytes of segments after the room kept for the filesystem and the manifest, less than one segment (${opts.segmentSize} bytes)`, {
        hint: 'use a larger --disk-size or a smaller --segment-size',
      });
    }
  }

  /** Called before the first entry of a collection: keeps it on one volume when it fits on one. */
  startCollection(spanBytes: number): void {
    const room = this.opts.volumeCapacity - this.volUsed - (this.segOpen ? this.segUsed + END_OF_ARCHIVE_BYTES : 0);
    if (this.volumeHasContent && spanBytes + END_OF_ARCHIVE_BYTES > room && spanBytes + END_OF_ARCHIVE_BYTES * 2 <= this.opts.volumeCapacity) {
      this.forceNewVolume = true;
    }
  }

  /** Room for member bytes in the open segment, limited by the segment and by the volume. */
  private room(): number {
    if (!this.segOpen || this.forceNewVolume) return 0;
    const segCap = this.opts.segmentSize - END_OF_ARCHIVE_BYTES;
    return Math.min(segCap - this.segUsed, this.opts.volumeCapacity - this.volUsed - END_OF_ARCHIVE_BYTES - this.segUsed);
  }

  private closeSegment(): void {
    if (!this.segOpen) return;
    const size = this.segUsed + END_OF_ARCHIVE_BYTES;
    this.closed.push({ volume: this.volume, segment: this.segment, size });
    this.volUsed += size;
    this.segUsed = 0;
    this.segOpen = false;
  }

  /** Opens a segment that can take at least `need` member bytes, on a new volume if this one is full. */
  private openSegment(need: number): void {
    this.closeSegment();
    if (this.volume === 0 || this.forceNewVolume || this.opts.volumeCapacity - this.volUsed - END_OF_ARCHIVE_BYTES < need) {
      this.volume++;
      this.volUsed = 0;
      this.volumeHasContent = false;
      this.forceNewVolume = false;
    }
    this.segment++;
    this.segOpen = true;
  }

  private put(length: number, span: number, extra: { at?: number; total?: number } = {}): Placement {
    const p: Placement = { volume: this.volume, segment: this.segment, offset: this.segUsed, length, ...extra };
    this.segUsed += span;
    this.volumeHasContent = true;
    return p;
  }

  place(item: LayoutItem): Placement[] {
    const whole = { path: item.path, type: item.type, length: item.size, mtime: item.mtime };
    const span = memberSpan(whole);
    if (span <= this.room()) return [this.put(item.size, span)];
    const segCap = this.opts.segmentSize - END_OF_ARCHIVE_BYTES;
    if (span <= segCap) {
      this.openSegment(span);
      return [this.put(item.size, span)];
    }
    // Larger than a segment: split into parts that fill consecutive segments.
    const out: Placement[] = [];
    let at = 0;
    while (at < item.size) {
      const left = item.size - at;
      const partHeader = (len: number): number => headerLength({ ...whole, length: len, part: { offset: at, total: item.size } });
      if (this.room() < partHeader(left) + Math.min(left, MIN_PART) + BLOCK) this.openSegment(partHeader(left) + MIN_PART);
      const room = this.room();
      const hdr = partHeader(Math.min(left, room));
      const len = left + (BLOCK - (left % BLOCK)) % BLOCK <= room - hdr ? left : floor512(room - hdr);
      out.push(this.put(len, hdr + len + ((BLOCK - (len % BLOCK)) % BLOCK), { at, total: item.size }));
      at += len;
    }
    return out;
  }

  /** Closes the last segment; returns every segment's final size. */
  finish(): { volume: number; segment: number; size: number }[] {
    this.closeSegment();
    return this.closed;
  }
}

export interface VolumeSummary {
  index: number;
  files: number;
  dirs: number;
  payloadBytes: number; // file bytes
  segmentBytes: number; // bytes of segment files on the volume
  segments: number;
  collections: string[];
  firstPath: string;
  lastPath: string;
}

export interface VolumePlan {
  segmentSize: number;
  volumeCapacity: number;
  volumes: VolumeSummary[];
  totals: { files: number; dirs: number; payloadBytes: number; segmentBytes: number; segments: number };
}

export interface PlanInput extends LayoutItem {
  collection: string;
}

/**
 * Streams entries through the Layouter and summarises each volume. Memory is one summary per volume.
 * `collectionSpans` gives each collection's total member span, so a collection that fits on one
 * volume is never cut between two.
 */
export class VolumePlanner {
  private readonly layouter: Layouter;
  private readonly volumes: VolumeSummary[] = [];
  private currentCollection: string | undefined;

  constructor(
    private readonly opts: LayoutOptions,
    private readonly collectionSpans: ReadonlyMap<string, number>,
  ) {
    this.layouter = new Layouter(opts);
  }

  add(item: PlanInput): Placement[] {
    if (item.collection !== this.currentCollection) {
      this.currentCollection = item.collection;
      this.layouter.startCollection(this.collectionSpans.get(item.collection) ?? 0);
    }
    const placements = this.layouter.place(item);
    for (const p of placements) {
      let v = this.volumes[p.volume - 1];
      if (!v) {
        v = { index: p.volume, files: 0, dirs: 0, payloadBytes: 0, segmentBytes: 0, segments: 0, collections: [], firstPath: item.path, lastPath: item.path };
        this.volumes.push(v);
      }
      v.payloadBytes += p.length;
      v.lastPath = item.path;
      if (v.collections[v.collections.length - 1] !== item.collection) v.collections.push(item.collection);
    }
    const last = this.volumes[placements[placements.length - 1]!.volume - 1]!;
    if (item.type === 'dir') last.dirs++;
    else last.files++;
    return placements;
  }

  finish(): VolumePlan {
    for (const s of this.layouter.finish()) {
      const v = this.volumes[s.volume - 1]!;
      v.segments++;
      v.segmentBytes += s.size;
    }
    const totals = { files: 0, dirs: 0, payloadBytes: 0, segmentBytes: 0, segments: 0 };
    for (const v of this.volumes) {
      totals.files += v.files;
      totals.dirs += v.dirs;
      totals.payloadBytes += v.payloadBytes;
      totals.segmentBytes += v.segmentBytes;
      totals.segments += v.segments;
    }
    return { segmentSize: this.opts.segmentSize, volumeCapacity: this.opts.volumeCapacity, volumes: this.volumes, totals };
  }
}

/** The pure planner over an in-memory or generated list (tests, small trees). */
export function planVolumes(files: Iterable<PlanInput>, opts: LayoutOptions): VolumePlan {
  const list = [...files];
  const spans = new Map<string, number>();
  for (const f of list) spans.set(f.collection, (spans.get(f.collection) ?? 0) + memberSpan({ path: f.path, type: f.type, length: f.size, mtime: f.mtime }));
  const planner = new VolumePlanner(opts, spans);
  for (const f of list) planner.add(f);
  return planner.finish();
}

/**
 * Bytes of segments a disk of `diskSize` can take: the filesystem's own overhead (1% plus 1 MiB:
 * ext4 with `-m 0`, NTFS and exFAT all stay below it for a few thousand large files) and the bundle's metadata (every volume carries the whole set's manifest: about 600
 * bytes per entry and resource, plus 1 MiB for the README, keys and root) are kept free.
 */
export function volumeCapacity(diskSize: number, entries: number, resources: number): number {
  const fs = Math.ceil(diskSize * 0.01) + 1024 ** 2;
  return floor512(diskSize - fs - metadataRoom(entries, resources));
}

/** The room a volume's own files take beside its segments (see volumeCapacity): an upper bound. */
export function metadataRoom(entries: number, resources: number): number {
  return (entries + resources) * 600 + 1024 ** 2;
}
