import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTree, tempDir } from '../../../fixtures/tree.js';
import { run, smallFilesystem, snapshot } from './testkit.js';

const MiB = 1024 * 1024;
const EPOCH = { SOURCE_DATE_EPOCH: '1764374400' };
let work: string;
let src: string;
let key: string;
let small: string | undefined;

beforeAll(async () => {
  work = await tempDir('bookcrate-targets-');
  src = join(work, 'src');
  await buildTree(src, { 地方戏专题视频: { 'a.mp4': 9 * MiB, 'b.mp4': 7 * MiB }, 老照片: { '1.jpg': 30_000, '2.jpg': 12_000 } });
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  key = join(work, 'center.key');
  // A real small filesystem: a 6 MiB tmpfs (root is available in CI; skipped elsewhere).
  small = await smallFilesystem(join(work, 'small'), '6m');
});

afterAll(() => {
  if (small) execFileSync('umount', [small]);
});

describe('targets', () => {
  it('refuses a target too small for the volume, before writing segments, with the way out', async (ctx) => {
    if (!small) ctx.skip();
    const r = await run(['pack', src, '--key', key, '--out', small!, '--disk-size', '40MB', '--segment-size', '4MiB']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/bytes free/);
    expect(r.stderr).toMatch(/what to do/);
    // pack began writing before its scan ended (the early start): what it wrote is gone again
    const left = (await readdir(small!, { recursive: true })).map(String);
    expect(left.filter((f) => /\.(tar|partial)$/.test(f))).toEqual([]);
    expect(left.filter((f) => /-vol\d+-of-\d+/.test(f))).toEqual([]);
  });

  it('--volume writes only the chosen volume, identical to the same volume of a full pack', async () => {
    const all = join(work, 'all');
    const only = join(work, 'only2');
    expect((await run(['pack', src, '--key', key, '--out', all, '--disk-size', '14MB', '--segment-size', '4MiB'], EPOCH)).code).toBe(0);
    const vols = (await readdir(all)).sort();
    expect(vols.length).toBe(2);
    const r = await run(['pack', src, '--key', key, '--out', only, '--disk-size', '14MB', '--segment-size', '4MiB', '--volume', '2'], EPOCH);
    expect(r.code, r.stderr).toBe(0);
    expect(await readdir(only)).toEqual([vols[1]]);
    const a = await snapshot(join(all, vols[1]!));
    const b = await snapshot(join(only, vols[1]!));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, v] of a) expect(b.get(k)!.equals(v), k).toBe(true);
    expect((await run(['pack', src, '--key', key, '--out', join(work, 'x'), '--disk-size', '14MB', '--segment-size', '4MiB', '--volume', '3'])).code).toBe(2);
  });
});
