import type { PlacedEntry } from './open.js';
import type { FileCheck } from './segment-check.js';

/**
 * The checks of a batch of manifest entries against one volume's segments (`mine`), in manifest
 * order, handed to `out` when given. Returns how many of the entries have a member on this volume.
 * Only the first segment of a volume after the first, and the last of a volume before the last, can
 * hold part of a file that continues on another volume: such a file's members here are checked,
 * its whole-file digests cannot be (the edge segments' XXH64 covers those bytes, see verify.ts).
 */
export function fileChecksOf(batch: PlacedEntry[], mine: ReadonlySet<number>, out?: (f: FileCheck) => void): number {
  let here = 0;
  for (const { entry, members: parts } of batch) {
    let onThis = false;
    let allHere = true;
    for (const m of parts) {
      if (mine.has(m.segment)) onThis = true;
      else allHere = false;
    }
    if (!onThis) continue;
    here++;
    out?.({
      path: entry.path, type: entry.type, mtime: entry.mtime, size: entry.size,
      // The manifest's member records themselves (they carry what a MemberPart needs): the checks
      // run on the thread that decoded them, so nothing is copied.
      parts: allHere ? parts : parts.filter((m) => mine.has(m.segment)),
      ...(entry.type === 'file' && allHere ? { expect: { xxh64: entry.xxh64!, sha256: entry.sha256! } } : {}),
      first: { segment: parts[0]!.segment, offset: parts[0]!.offset },
    });
  }
  return here;
}

/**
 * Notes in `links` every segment k of `mine` from which a file of the batch continues into segment
 * k + 1 of `mine` (a file larger than what was left of a segment). A damaged segment is checked
 * member by member together with the segments it is linked to, so that every file touching it can
 * be hashed whole (verify.ts). At most one file crosses each boundary: the set stays small.
 */
export function noteSegmentLinks(batch: PlacedEntry[], mine: ReadonlySet<number>, links: Set<number>): void {
  for (const { members } of batch) {
    for (let j = 1; j < members.length; j++) {
      const a = members[j - 1]!.segment;
      if (members[j]!.segment === a + 1 && mine.has(a) && mine.has(a + 1)) links.add(a);
    }
  }
}

/** `damaged` and every segment of `mine` linked to one of them, through `links`, in order. */
export function segmentsToLocate(damaged: Iterable<number>, links: ReadonlySet<number>, mine: ReadonlySet<number>): number[] {
  const scope = new Set<number>();
  for (const i of damaged) {
    scope.add(i);
    for (let k = i; links.has(k) && mine.has(k + 1); k++) scope.add(k + 1);
    for (let k = i - 1; links.has(k) && mine.has(k); k--) scope.add(k);
  }
  return [...scope].sort((a, b) => a - b);
}
