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
