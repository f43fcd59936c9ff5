import { describe, expect, it } from 'vitest';
import {
  PartTreeWriter, compareBundlePaths, encodeFileEntry, encodeMemberEntry, type FileEntry, type MemberEntry, type Root,
} from '@bookcrate/format';
import { placedEntries, placedEntryBatches, type OpenVolume } from './open.js';

const SHA = 'a'.repeat(64);
const XXH = 'b'.repeat(16);
// Small parts, so the members of one file fall across parts of the members tree.
const SHAPE = { leafAverage: 4, indexAverage: 4, maxPartBytes: 1 << 20, rootMax: 4 };

/** An in-memory volume with these files and members (only what placedEntries reads). */
async function volume(files: FileEntry[], members: MemberEntry[], segments = 3): Promise<OpenVolume> {
  const parts = new Map<string, Buffer>();
  const sink = (b: Buffer, sha: string): void => void parts.set(sha, b);
  const f = new PartTreeWriter(sink, SHAPE);
  for (const e of files) await f.add(e.path, encodeFileEntry(e));
  const m = new PartTreeWriter(sink, SHAPE, true);
  for (const e of members) await m.add(e.path, encodeMemberEntry(e));
  const root = {
    files: await f.finish(),
    layout: { set: 's', volumes: [{ segments: Array.from({ length: segments }, (_, i) => ({ name: `s${i + 1}` })) }], members: await m.finish() },
  } as unknown as Root;
  return { root, loadPart: async (ref) => parts.get(ref.sha256)! } as OpenVolume;
}

const file = (path: string, size: number): FileEntry => ({ path, type: 'file', size, mtime: 1, sha256: SHA, xxh64: XXH });

describe('placedEntries', () => {
  // 300 files; every 7th is split in three parts across segments, so members outnumber files.
  const files: FileEntry[] = [];
  const members: MemberEntry[] = [];
  const paths = Array.from({ length: 300 }, (_, i) => `照片/${String(i).padStart(4, '0')}.jpg`).sort(compareBundlePaths);
  let offset = 0;
  paths.forEach((p, i) => {
    const size = 1000 + i;
    files.push(file(p, size));
    if (i % 7 === 0) {
      const a = 400;
      const b = 300;
      members.push({ path: p, segment: 1, offset, length: a, at: 0 }, { path: p, segment: 2, offset: 0, length: b, at: a }, { path: p, segment: 3, offset: 0, length: size - a - b, at: a + b });
    } else members.push({ path: p, segment: 1, offset, length: size });
    offset += 2048;
  });

  it('zips every file with its members, in order, the same by batch and by entry', async () => {
    const v = await volume(files, members);
    const byBatch: [string, number][] = [];
    let batches = 0;
    for await (const batch of placedEntryBatches(v)) {
      batches++;
      for (const { entry, members: ms } of batch) byBatch.push([entry.path, ms.length]);
    }
    const byEntry: [string, number][] = [];
    for await (const { entry, members: ms } of placedEntries(v)) byEntry.push([entry.path, ms.length]);
    expect(byBatch).toEqual(paths.map((p, i) => [p, i % 7 === 0 ? 3 : 1]));
    expect(byEntry).toEqual(byBatch);
    expect(batches).toBeGreaterThan(10);
  });

  it('stops cleanly when its reader stops early: nothing more is read', async () => {
    let loads = 0;
    const v = await volume(files, members);
    const load = v.loadPart;
    v.loadPart = async (ref) => {
      loads++;
      return load(ref);
    };
    let seen = 0;
    for await (const batch of placedEntryBatches(v)) {
      seen += batch.length;
      if (seen > 20) break;
    }
    const after = loads;
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toBeGreaterThan(20);
    expect(seen).toBeLessThan(files.length);
    expect(loads).toBe(after); // nothing read after the stop
  });

  const refusal = async (fs: FileEntry[], ms: MemberEntry[], segments = 3): Promise<string> => {
    try {
      for await (const _ of placedEntries(await volume(fs, ms, segments))) { /* walk */ }
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };

  it('refuses members that do not cover their file, name a missing segment, or name no file', async () => {
    expect(await refusal(files, members.filter((m) => m.path !== paths[5]))).toMatch(new RegExp(`${paths[5]} has no tar member`));
    expect(await refusal(files, members.map((m) => (m.path === paths[6] ? { ...m, length: m.length - 1 } : m)))).toMatch(/members of 1005 bytes in all, but its size is 1006/);
    expect(await refusal(files, members, 2)).toMatch(/names segment 3, but the set has 2/);
    expect(await refusal(files.filter((f) => f.path !== paths[299]), members)).toMatch(/members list names a path that is not in the files list/);
    expect(await refusal(files, members)).toBe('accepted');
  });
});
