import { beforeAll, describe, expect, it } from 'vitest';
import { cp, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTree, tempDir } from '../../../fixtures/tree.js';
import { flip, jsonLines, run } from './testkit.js';

const MiB = 1024 * 1024;
let work: string;
let src: string;
let pub: string;
let vols: string[];

beforeAll(async () => {
  work = await tempDir('bookcrate-split-');
  src = join(work, 'src');
  // One 20 MiB lecture on 12 MB disks: it must continue from one volume onto the next.
  await buildTree(src, { 学术讲座: { '长讲座.mp4': 20 * MiB + 4321 }, 老照片: { 'a.jpg': 5000 } });
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  pub = join(work, 'center.pub');
  const out = join(work, 'disks');
  const r = await run(['pack', src, '--key', join(work, 'center.key'), '--out', out, '--disk-size', '12MB', '--segment-size', '4MiB']);
  expect(r.code, r.stderr).toBe(0);
  vols = (await readdir(out)).sort().map((n) => join(out, n));
  expect(vols.length).toBeGreaterThanOrEqual(2);
});

describe('a file that spans volumes', () => {
  it('verify catches a flipped byte in its part on one volume (segment XXH64 of the volume edge)', async () => {
    const copy = await tempDir();
    await cp(vols[0]!, copy, { recursive: true });
    const segs = (await readdir(join(copy, 'segments'))).sort();
    const last = join(copy, 'segments', segs[segs.length - 1]!);
    await flip(last, (await stat(last)).size - 4096, 4);
    const r = await run(['verify', copy, '--pubkey', pub, '--json']);
    expect(r.code).toBe(1);
    const report = jsonLines(r.stdout).find((e) => e.event === 'result') as { problems: { kind: string }[] };
    expect(report.problems.map((p) => p.kind)).toContain('segment-hash');
  });

  it('import assembles it from its parts whatever the order of the disks', async () => {
    const store = join(work, 'store');
    for (const v of [...vols].reverse()) {
      const r = await run(['import', v, '--store', store, '--trust', pub]);
      expect(r.code, r.stderr).toBe(0);
    }
    const got = await readFile(join(store, 'library', 'src', '学术讲座', '长讲座.mp4'));
    expect(got.equals(await readFile(join(src, '学术讲座', '长讲座.mp4')))).toBe(true);
    expect(await readdir(join(store, 'tmp', 'parts'))).toEqual([]);
  });
});
