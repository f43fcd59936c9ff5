import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { END_OF_ARCHIVE_BYTES, FastHasher, encodeMemberHeader, initHashing, padTo512, sha256Hex } from '@bookcrate/format';
import { CheckThread } from './check-thread.js';
import { directReadWorks } from './reader.js';
import type { FileCheck } from './segment-check.js';
import type { Problem } from './problems.js';

/** A segment built the way pack writes one: members (header, data, zero padding), then the end marker. */
function buildSegment(sizes: number[]): { bytes: Buffer; files: FileCheck[] } {
  const chunks: Buffer[] = [];
  const files: FileCheck[] = [];
  let at = 0;
  sizes.forEach((size, i) => {
    const isDir = size < 0;
    const path = isDir ? `空目录-${i}` : `照片/第${i}张.jpg`;
    const data = isDir ? Buffer.alloc(0) : randomBytes(size);
    const header = encodeMemberHeader({ path, type: isDir ? 'dir' : 'file', length: data.length, mtime: 1_700_000_000 + i });
    const x = new FastHasher();
    x.update(data);
    files.push({
      path, type: isDir ? 'dir' : 'file', mtime: 1_700_000_000 + i, size: data.length,
      parts: [{ segment: 1, offset: at, length: data.length }],
      ...(isDir ? {} : { expect: { xxh64: x.digest(), sha256: sha256Hex(data) } }),
      first: { segment: 1, offset: at },
    });
    chunks.push(header, data, Buffer.alloc(padTo512(data.length)));
    at += header.length + data.length + padTo512(data.length);
  });
  chunks.push(Buffer.alloc(END_OF_ARCHIVE_BYTES));
  return { bytes: Buffer.concat(chunks), files };
}

async function check(path: string, files: FileCheck[], opts: { slots: number; slotBytes: number; direct?: boolean; strict?: boolean }): Promise<Problem[]> {
  const t = new CheckThread({ slots: opts.slots, slotBytes: opts.slotBytes });
  const problems: Problem[] = [];
  let bytes = 0;
  try {
    t.configure({ segments: [{ index: 1, name: 's1.tar', path, absent: false }], names: ['s1.tar'], strict: !!opts.strict, direct: !!opts.direct, probe: path, progressBytes: 1 << 20 }, {
      problems: (p) => problems.push(...p),
      bytes: (n) => (bytes = n),
    });
    await t.start();
    for (const f of files) await t.add(f);
    await t.finish();
  } finally {
    await t.close();
  }
  const size = (await readFile(path)).length;
  expect(bytes).toBe(size);
  return problems;
}

await initHashing();

describe('the checking and reader threads', () => {
  let dir: string;
  // Sizes across the 512-byte blocks and the small ring's 8 KiB buffers; -1 is an empty folder.
  const sizes = [0, 1, 511, 512, 513, -1, 8192, 9000, 20_000, 100, 70_000, 3, 4096];
  const { bytes, files } = buildSegment(sizes);
  const small = { slots: 3, slotBytes: 8192 };
  const large = { slots: 8, slotBytes: 4 << 20 };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bookcrate-check-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds nothing wrong with an intact segment, whatever the size of the ring buffers', async () => {
    const path = join(dir, 'intact.tar');
    await writeFile(path, bytes);
    expect(await check(path, files, small)).toEqual([]);
    expect(await check(path, files, large)).toEqual([]);
    expect(await check(path, files, { ...small, strict: true })).toEqual([]);
  });

  it('names each damaged byte: data, header, padding, end marker, bytes after the end; the same through small and large buffers', async () => {
    const damaged = Buffer.from(bytes);
    const f8 = files[8]!; // 20,000 bytes: across several small buffers
    const f2 = files[2]!; // 511 bytes: one byte of padding
    const headerLen = (f: FileCheck): number => encodeMemberHeader({ path: f.path, type: f.type, length: f.size, mtime: f.mtime }).length;
    damaged[f8.parts[0]!.offset + headerLen(f8) + 12_345]! ^= 0x40; // data
    damaged[files[4]!.parts[0]!.offset + 700]! ^= 0x01; // a header (inside its pax block)
    damaged[f2.parts[0]!.offset + headerLen(f2) + 511]! = 7; // padding
    damaged[bytes.length - 100]! = 1; // the end-of-archive marker
    const path = join(dir, 'damaged.tar');
    await writeFile(path, Buffer.concat([damaged, Buffer.from('tail')]));
    const got = await check(path, files, small);
    expect(got.map((p) => [p.kind, p.path ?? null, p.offset ?? null])).toEqual([
      ['padding', f2.path, f2.parts[0]!.offset + headerLen(f2) + 511],
      ['header', files[4]!.path, files[4]!.parts[0]!.offset + 700],
      ['file-hash', f8.path, f8.parts[0]!.offset],
      ['padding', null, bytes.length - 100],
      ['padding', null, bytes.length],
    ]);
    expect(got[4]!.detail).toMatch(/4 byte\(s\) after the end-of-archive marker/);
    expect(await check(path, files, large)).toEqual(got);
    // With --strict the XXH64 still names the damage first; SHA-256 is computed too.
    expect(await check(path, files, { ...small, strict: true })).toEqual(got);
  });

  it('lists every file cut off by a truncated segment, the first one with where the segment ends', async () => {
    const cutAt = files[9]!.parts[0]!.offset + 600;
    const path = join(dir, 'short.tar');
    await writeFile(path, bytes.subarray(0, cutAt));
    const got = await check(path, files, small);
    expect(got[0]).toMatchObject({ kind: 'file-missing', path: files[9]!.path, offset: cutAt });
    expect(got.slice(1).map((p) => [p.kind, p.path])).toEqual(files.slice(10).map((f) => ['file-missing', f.path]));
    expect(await check(path, files, large)).toEqual(got);
  });

  it('stops with the path named when a segment cannot be read', async () => {
    const t = new CheckThread(small);
    try {
      t.configure({ segments: [{ index: 1, name: 's1.tar', path: join(dir, 'nowhere.tar'), absent: false }], names: ['s1.tar'], strict: false, direct: false, probe: join(dir, 'nowhere.tar'), progressBytes: 1 << 20 }, { problems: () => undefined, bytes: () => undefined });
      await t.start();
      await t.add(files[0]!);
      await expect(t.finish()).rejects.toThrow(/cannot read .*nowhere\.tar/);
    } finally {
      await t.close();
    }
  });

  it('reads past the page cache with O_DIRECT where the filesystem allows it, with the same findings', async (ctx) => {
    const path = join(dir, 'direct.tar');
    await writeFile(path, bytes);
    if (!(await directReadWorks(path))) ctx.skip(); // tmpfs, or a system without O_DIRECT
    // O_DIRECT wants buffers of whole 4096-byte blocks.
    expect(await check(path, files, { slots: 3, slotBytes: 8192, direct: true })).toEqual([]);
    expect(await check(path, files, { ...large, direct: true })).toEqual([]);
    // A file that ends off a 4096-byte boundary: the last aligned read comes back short.
    const cut = join(dir, 'direct-short.tar');
    await writeFile(cut, bytes.subarray(0, files[9]!.parts[0]!.offset + 600));
    expect(await check(cut, files, { slots: 3, slotBytes: 8192, direct: true })).toEqual(await check(cut, files, small));
  });
});
