import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { segmentTable } from '@bookcrate/format';
import { openVolume, placedEntryBatches, resourceEntries, type OpenVolume } from './open.js';
import type { ReadMode } from './reader.js';
import { CheckThread, RING_CACHED, RING_DIRECT } from './check-thread.js';
import { fileChecksOf } from './check-walk.js';
import { volumePaths } from './layout.js';
import type { Problem } from './problems.js';

export type { Problem, ProblemKind } from './problems.js';

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
  // Full mode: the checking thread starts now, while the volume is opened (it is told what to check
  // once the signed manifest says so).
  const checker = opts.mode === 'full' ? new CheckThread(opts.readMode === 'direct' ? RING_DIRECT : RING_CACHED) : undefined;
  try {
    return await verifyWith(dir, opts, started, checker);
  } finally {
    await checker?.close();
  }
}

async function verifyWith(dir: string, opts: VerifyOptions, started: number, checker: CheckThread | undefined): Promise<VerifyReport> {
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
  const absent = new Set<number>();
  for (const i of mine) {
    const info = table[i - 1]!.info;
    const path = volumePaths(dir).segment(info.name);
    try {
      const st = await stat(path);
      report.checked.segments++; // its size (full mode then counts the segments it read)
      if (st.size !== info.size) add({ kind: 'segment-size', segment: info.name, expected: String(info.size), actual: String(st.size), detail: `segment ${info.name} is ${st.size} bytes, the manifest says ${info.size}` });
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
    // The checking thread may be hours from the end of a 4 TB volume: it stops now.
    checker?.abort(e as Error);
  });

  const full = opts.mode === 'full';
  const names = table.map((s) => s.info.name);
  // Full mode: the checking thread reads this volume's segments and checks every byte of them
  // against the entries this thread hands it (segment-check.ts). Only the first segment of a volume
  // after the first, and the last of a volume before the last, can hold part of a file that
  // continues on another volume, whose whole-file hash cannot be checked here: their segment XXH64
  // covers it. (A single-volume set hashes nothing twice.)
  checker?.configure({
    segments: [...mine].map((i) => {
      const info = table[i - 1]!.info;
      const edge = (i === firstMine && vol.doc.volume > 1) || (i === lastMine && vol.doc.volume < vol.doc.volumes);
      return { index: i, name: info.name, path: volumePaths(dir).segment(info.name), absent: absent.has(i), ...(edge ? { whole: info.xxh64 } : {}) };
    }),
    names, direct: readMode === 'direct', strict: !!opts.strict, progressBytes: PROGRESS_BYTES,
  }, {
    problems: (ps) => ps.forEach(add),
    bytes: (n, segments, files) => {
      report.checked.bytes = n;
      report.checked.segments = segments;
      report.checked.files = files;
      progress('segments');
    },
  });

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
        seen += batch.length;
        if (seen >= 1024) {
          seen = 0;
          progress('manifest');
        }
      }
    }
    await resourcesWalk;
    if (resourcesFailure) throw resourcesFailure;
  } finally {
    resourcesFailure ??= new Error('stopped');
    await resourcesWalk;
  }
  progress(full ? 'segments' : 'manifest');
  report.ok = report.problemCount === 0;
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

export type { OpenVolume };
