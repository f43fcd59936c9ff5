import { join } from 'node:path';

/**
 * Names inside a volume directory (docs/format.md, "Volume layout"). One place, so the packer
 * that writes and the readers that open can never disagree.
 */
export const META_DIR = 'bookcrate';
export const VOLUME_FILE = 'volume.json';
export const ROOT_FILE = 'root.json';
export const SIG_FILE = 'root.sig';
export const PARTS_DIR = 'parts';
export const SEGMENTS_DIR = 'segments';
export const PUBKEY_FILE = 'center.pub';
export const README_FILE = 'README.txt';

export const volumePaths = (dir: string) => ({
  meta: join(dir, META_DIR),
  volume: join(dir, META_DIR, VOLUME_FILE),
  root: join(dir, META_DIR, ROOT_FILE),
  sig: join(dir, META_DIR, SIG_FILE),
  parts: join(dir, META_DIR, PARTS_DIR),
  part: (sha256: string) => join(dir, META_DIR, PARTS_DIR, `${sha256}.jsonl`),
  segments: join(dir, SEGMENTS_DIR),
  segment: (name: string) => join(dir, SEGMENTS_DIR, name),
  pubkey: join(dir, PUBKEY_FILE),
  readme: join(dir, README_FILE),
});

/** Volume directory name inside a pack target: `<set>-vol1-of-2`. */
export function volumeDirName(bundleId: string, index: number, of: number): string {
  return `${bundleId.replace(/[^A-Za-z0-9._-]/g, '_')}-vol${index}-of-${of}`;
}

export function segmentName(volume: number, segment: number): string {
  return `v${String(volume).padStart(2, '0')}-s${String(segment).padStart(6, '0')}.tar`;
}
