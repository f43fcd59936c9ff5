/** What a full or fast verify can find wrong with a volume (docs/format.md, "Verification"). */
export type ProblemKind =
  | 'segment-missing' // a segment file of this volume is absent
  | 'segment-size' // a segment file has the wrong size (truncated or extended)
  | 'header' // a tar header differs from the one the manifest implies
  | 'padding' // non-zero bytes where tar padding or the end-of-archive marker must be zero
  | 'segment-hash' // a volume's first or last segment differs from its signed XXH64
  | 'file-hash' // a file's content differs from its manifest hash
  | 'file-missing' // a file's bytes are not on the volume (segment missing or cut short)
  | 'segment-unreadable' // a place of a segment the disk gave read errors for (a bad place, bad-place.ts)
  | 'file-unreadable'; // a file with bytes on such a place

/** The kinds that make a file damaged (counted in a report's damagedFiles, and what import would not load). */
export const FILE_PROBLEMS: ReadonlySet<ProblemKind> = new Set(['file-hash', 'file-missing', 'file-unreadable']);

export interface Problem {
  kind: ProblemKind;
  detail: string;
  path?: string;
  segment?: string;
  offset?: number;
  /** segment-unreadable: how many bytes from `offset` on */
  length?: number;
  expected?: string;
  actual?: string;
}
