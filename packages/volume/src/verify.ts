import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { segmentTable } from '@bookcrate/format';
import { openVolume, placedEntryBatches, resourceEntries, type OpenVolume } from './open.js';
import type { ReadMode } from './reader.js';
import { CheckThread, RING_CACHED, RING_DIRECT, type RingGeometry } from './check-thread.js';
import { fileChecksOf, noteSegmentLinks, segmentsToLocate } from './check-walk.js';
import { SegmentHasher } from './segment-hasher.js';
import type { CheckedSegment } from './segment-check.js';
import { volumePaths } from './layout.js';
import { FILE_PROBLEMS, type Problem } from './problems.js';

export type { Problem, ProblemKind } from './problems.js';

export interface VerifyProgress {
  /** `locating`: the second pass of a full verify, over damaged segments only (bytes of those) */
  phase: 'manifest' | 'segments' | 'locating';
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

export interface VerifyOptions {
  mode: 'fast' | 'full';
  /** Full mode also checks every file's SHA-256 (cryptographic), not only its XXH64. */
  strict?: boolean;
  trustedKey?: KeyObject;
  /**
   * 'direct' reads past the page cache (O_DIRECT; pack's read-back), 'cached' through it (default:
   * the kernel's read-ahead keeps several requests in flight, docs/format.md, section 9).
   */
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

/** A full verify says how far it is every 64 MiB. */
const PROGRESS_BYTES = 64 << 20;

/** The threads of a full verify, started before the volume is opened so that their start-up overlaps it. */
interface FullThreads {
  /** the first pass: each segment's XXH64 (default) */
  hasher?: SegmentHasher;
  /** the member-by-member check of every segment (`strict`) */
  checker?: CheckThread;
}

/**
 * Verifies one volume (docs/format.md, "Verification"). Fast: signature, manifest parts, presence
 * and size of every segment. Full: additionally reads every segment once, sequentially, and compares
 * its XXH64 with the signed one; a segment that differs (or is missing or of the wrong size) is then
 * checked member by member, with the segments sharing a file with it, so the damage is named down to
 * the file and offset: tar headers against the bytes the signed manifest implies, padding and the
 * end marker for zeros, each file's XXH64, nothing after the end. Strict: that member-by-member
 * check on every segment, with each file's SHA-256 too.
 * Every problem is collected; the first one never hides the rest.
 */
export async function verifyVolume(dir: string, opts: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const full = opts.mode === 'full';
  const threads: FullThreads = {
    ...(full && !opts.strict ? { hasher: new SegmentHasher() } : {}),
    ...(full && opts.strict ? { checker: new CheckThread(ringFor(opts.readMode === 'direct')) } : {}),
  };
  try {
    return await verifyWith(dir, opts, started, threads);
  } finally {
    await Promise.all([threads.hasher?.close(), threads.checker?.close()]);
  }
}

const ringFor = (direct: boolean): RingGeometry => (direct ? RING_DIRECT : RING_CACHED);

async function verifyWith(dir: string, opts: VerifyOptions, started: number, { hasher, checker }: FullThreads): Promise<VerifyReport> {
  const vol = await openVolume(dir, opts.trustedKey ? { trustedKey: opts.trustedKey } : {});
  const layout = vol.root.layout!;
  const readMode = opts.readMode ?? 'cached';
  const direct = readMode === 'direct';
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
    if (p.path && FILE_PROBLEMS.has(p.kind) && !damaged.has(p.path)) {
      damaged.add(p.path);
      report.damagedFiles++;
    }
  };

  const table = segmentTable(vol.root);
  const mine = new Set<number>();
  table.forEach((s, i) => s.volume === vol.doc.volume && mine.add(i + 1));
  const firstMine = Math.min(...mine);
  const lastMine = Math.max(...mine);
  const full = opts.mode === 'full';
  const bytesTotal = full ? [...mine].reduce((a, i) => a + table[i - 1]!.info.size, 0) : 0;
  const filesTotal = vol.root.totals.files + vol.root.totals.dirs;
  const progress = (phase: VerifyProgress['phase'], bytesDone = report.checked.bytes, total = bytesTotal): void =>
    opts.onProgress?.({ phase, bytesDone, bytesTotal: total, filesDone: report.checked.files, filesTotal });
  const segmentPath = (i: number): string => volumePaths(dir).segment(table[i - 1]!.info.name);
  // After a read error, this small file of the same disk, read past the page cache, tells a bad
  // place on the disk (read past, its files named) from a disk that is gone (bad-place.ts).
  const probe = volumePaths(dir).volume;
  /**
   * Only the first segment of a volume after the first, and the last of a volume before the last,
   * can hold part of a file that continues on another volume, whose whole-file hash cannot be
   * checked here: their segment XXH64 covers it.
   */
  const isEdge = (i: number): boolean => (i === firstMine && vol.doc.volume > 1) || (i === lastMine && vol.doc.volume < vol.doc.volumes);

  // Presence and size of this volume's segments: the whole of --fast, and the first step of full.
  const absent = new Set<number>();
  const resized = new Set<number>();
  for (const i of mine) {
    const info = table[i - 1]!.info;
    try {
      const st = await stat(segmentPath(i));
      // A folder, a device or a FIFO in a segment's place (a hostile disk's link to /dev/zero would
      // be read forever) is no segment: missing, as the import takes it.
      if (!st.isFile()) {
        absent.add(i);
        add({ kind: 'segment-missing', segment: info.name, detail: `segment ${info.name} in ${volumePaths(dir).segments} is not a file` });
        continue;
      }
      report.checked.segments++; // its size (full mode then counts the segments it read)
      if (st.size !== info.size) {
        resized.add(i);
        add({ kind: 'segment-size', segment: info.name, expected: String(info.size), actual: String(st.size), detail: `segment ${info.name} is ${st.size} bytes, the manifest says ${info.size}` });
      }
    } catch {
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
    // The other threads may be hours from the end of a 4 TB volume: they stop now.
    checker?.abort(e as Error);
    void hasher?.close();
  });

  const names = table.map((s) => s.info.name);
  // Strict: the checking thread reads this volume's segments and checks every byte of them
  // (segment-check.ts), with the edge segments' XXH64 (isEdge; a single-volume set hashes nothing twice).
  checker?.configure({
    segments: [...mine].map((i) => {
      const info = table[i - 1]!.info;
      return { index: i, name: info.name, path: segmentPath(i), absent: absent.has(i), ...(isEdge(i) ? { whole: info.xxh64 } : {}) };
    }),
    names, direct, probe, strict: true, progressBytes: PROGRESS_BYTES,
  }, {
    problems: (ps) => ps.forEach(add),
    bytes: (n, segments, files) => {
      report.checked.bytes = n;
      report.checked.segments = segments;
      report.checked.files = files;
      progress('segments');
    },
  });
  // Default full mode: the hashing thread reads the segments that are there with their signed size
  // (the others are damaged already) while this thread walks the manifest.
  const hashing = hasher?.hash(
    [...mine].filter((i) => !absent.has(i) && !resized.has(i)).map((i) => ({ index: i, path: segmentPath(i) })),
    {
      direct, probe, progressBytes: PROGRESS_BYTES,
      onBytes: (n) => {
        report.checked.bytes = n;
        progress('segments');
      },
    },
  );
  // Awaited once the walk is done; a walk that fails first must not leave it unhandled.
  hashing?.catch(() => undefined);
  /** segments from which a file continues into the next one of this volume (noteSegmentLinks) */
  const links = new Set<number>();

  try {
    if (checker) {
      // The checking thread walks the manifest itself (its entries never cross threads) while the
      // reader thread reads the first segment; this thread only waits.
      await checker.start();
      report.checked.files = await checker.walk({ dir, root: vol.root, mine: [...mine] });
    } else {
      let seen = 0;
      for await (const batch of placedEntryBatches(vol)) {
        if (resourcesFailure) throw resourcesFailure;
        report.checked.files += fileChecksOf(batch, mine);
        if (hashing) noteSegmentLinks(batch, mine, links);
        seen += batch.length;
        if (seen >= 1024) {
          seen = 0;
          progress(hashing ? 'segments' : 'manifest');
        }
      }
    }
    await resourcesWalk;
    if (resourcesFailure) throw resourcesFailure;
  } finally {
    resourcesFailure ??= new Error('stopped');
    await resourcesWalk;
  }

  if (hashing) {
    const suspect = new Set<number>([...absent, ...resized]);
    /** segments with a bad place: not hashed whole, so an edge one's XXH64 is still to check */
    const unread = new Set<number>();
    for (const d of await hashing) {
      const info = table[d.index - 1]!.info;
      if (d.unreadableAt !== undefined) {
        // The second pass reads past the bad place and names what it holds (segment-unreadable, file-unreadable).
        suspect.add(d.index);
        unread.add(d.index);
        report.checked.bytes += info.size - d.size; // the rest of it, which that pass reads
        continue;
      }
      if (d.xxh64 === info.xxh64 && d.size === info.size) continue;
      suspect.add(d.index);
      add({ kind: 'segment-hash', segment: info.name, expected: info.xxh64, actual: d.xxh64, detail: `segment ${info.name}: XXH64 differs from the signed manifest` });
    }
    report.checked.segments = mine.size;
    progress('segments');
    if (suspect.size > 0) {
      const scope = segmentsToLocate(suspect, links, mine);
      await locateDamage(scope, {
        dir, vol, names, direct, probe, add,
        segment: (i) => ({
          index: i, name: table[i - 1]!.info.name, path: segmentPath(i), absent: absent.has(i),
          ...(unread.has(i) && isEdge(i) ? { whole: table[i - 1]!.info.xxh64 } : {}),
        }),
        onBytes: (n, total) => progress('locating', n, total),
        total: scope.reduce((a, i) => a + (absent.has(i) ? 0 : table[i - 1]!.info.size), 0),
      });
    }
  } else {
    progress(full ? 'segments' : 'manifest');
  }
  report.ok = report.problemCount === 0;
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

/**
 * The second pass of a full verify, when a segment is missing, of the wrong size or of the wrong
 * XXH64, or has a bad place: checks `scope` (those segments and the ones sharing a file with them)
 * member by member on a checking thread (segment-check.ts), to name each damaged file, its segment and
 * offset. An edge segment's own hash was compared already, so it is not asked for again, unless a
 * bad place kept the first pass from reading it whole.
 */
async function locateDamage(scope: number[], c: {
  dir: string; vol: OpenVolume; names: string[]; direct: boolean; probe: string; total: number;
  segment: (i: number) => CheckedSegment;
  add: (p: Problem) => void;
  onBytes: (bytes: number, total: number) => void;
}): Promise<void> {
  const pass = new CheckThread(ringFor(c.direct));
  try {
    pass.configure({ segments: scope.map(c.segment), names: c.names, direct: c.direct, probe: c.probe, strict: false, progressBytes: PROGRESS_BYTES }, {
      problems: (ps) => ps.forEach(c.add),
      bytes: (n) => c.onBytes(n, c.total),
    });
    await pass.start();
    await pass.walk({ dir: c.dir, root: c.vol.root, mine: scope });
  } finally {
    await pass.close();
  }
}

export type { OpenVolume };
