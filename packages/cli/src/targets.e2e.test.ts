import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTree, tempDir } from '../../../fixtures/tree.js';
import { exists, run, smallFilesystem, snapshot } from './testkit.js';

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
    const three = await run(['pack', src, '--key', key, '--out', join(work, 'x'), '--disk-size', '14MB', '--segment-size', '4MiB', '--volume', '3'], EPOCH);
    expect(three.code).toBe(2);
    expect(three.stderr).toMatch(/--volume 3: the plan has 2 volume\(s\)/);
  });

  it('one volume per disk, each in a run of its own: the runs must share --created, and then form one set a county imports whole', async () => {
    // Found by hand: each run recorded its own "now", so the two disks were two different
    // signed versions 1, and the county's import of the second was refused as a conflict.
    const args = (v: number, out: string) => ['pack', src, '--key', key, '--out', join(work, out), '--disk-size', '14MB', '--segment-size', '4MiB', '--volume', String(v)];
    const bare = await run(args(1, 'per-run-never'));
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/every run of the set must record the same creation time\n  what to do: add --created \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ to this command and to the command of every other volume/);
    expect(await exists(join(work, 'per-run-never'))).toBe(false);
    expect((await run([...args(1, 'per-run-x'), '--created', 'tomorrow'])).stderr).toMatch(/--created tomorrow is not a date and time with its zone/);

    const first = await run([...args(1, 'per-run-1'), '--created', '2026-12-04T16:00:00+08:00']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain("the set's other volume(s) 2: the same command with --volume <n> instead, the same --created 2026-12-04T08:00:00Z, and another --out");
    expect((await run([...args(2, 'per-run-2'), '--created', '2026-12-04T08:00:00Z'])).code).toBe(0);
    const store = join(work, 'per-run-store');
    expect((await run(['import', join(work, 'per-run-2'), '--store', store, '--trust', `${key.replace(/\.key$/, '')}.pub`])).code).toBe(0);
    const second = await run(['import', join(work, 'per-run-1'), '--store', store]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/this version is complete and now visible to readers/);
  });
});
