import { beforeAll, describe, expect, it } from 'vitest';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTree, tempDir } from '../../../fixtures/tree.js';
import { exists, killWhen as killAt, run, snapshot } from './testkit.js';

const MiB = 1024 * 1024;
const EPOCH = { SOURCE_DATE_EPOCH: '1764374400' };
const ARGS = ['--disk-size', '40MB', '--segment-size', '4MiB'];
let work: string;
let src: string;
let key: string;
let reference: Map<string, Buffer>;

const killWhen = (out: string, ready: () => Promise<boolean>): Promise<boolean> =>
  killAt(['pack', src, '--key', key, '--out', out, ...ARGS], EPOCH, ready);

async function segmentsIn(out: string): Promise<string[]> {
  const vols = (await readdir(out).catch(() => [] as string[])).filter((n) => n.includes('-vol'));
  const all: string[] = [];
  for (const v of vols) all.push(...(await readdir(join(out, v, 'segments')).catch(() => [] as string[])).map((s) => `${v}/${s}`));
  return all;
}

beforeAll(async () => {
  work = await tempDir('bookcrate-resume-');
  src = join(work, 'src');
  const photos: Record<string, number> = {};
  for (let i = 0; i < 300; i++) photos[`照片${String(i).padStart(4, '0')}.jpg`] = 4000 + ((i * 7919) % 36000);
  await buildTree(src, {
    老照片: photos,
    国图公开课: { '第1讲.mp4': 13 * MiB + 77, '第2讲.mp4': 6 * MiB },
    中华连环画: { '西游记.pdf': 900_000, '水浒传.pdf': 1_400_000 },
  });
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  key = join(work, 'center.key');
  const out = join(work, 'reference');
  const r = await run(['pack', src, '--key', key, '--out', out, ...ARGS], EPOCH);
  expect(r.code).toBe(0);
  reference = await snapshot(out);
  expect([...reference.keys()].filter((k) => k.endsWith('.tar')).length).toBeGreaterThan(5);
});

describe('pack killed with SIGKILL, then run again', () => {
  const points: [string, (out: string) => Promise<boolean>][] = [
    ['while scanning', async (out) => exists(join(out, '.bookcrate-pack', 'inventory.jsonl'))],
    ['after the first segment', async (out) => (await segmentsIn(out)).some((s) => s.endsWith('s000001.tar'))],
    ['in the middle of a segment of the split video', async (out) => (await segmentsIn(out)).some((s) => s.endsWith('s000004.tar.partial'))],
    ['in the second volume', async (out) => (await segmentsIn(out)).some((s) => s.includes('-vol2-') && s.endsWith('.partial'))],
    ['while reading back', async (out) => (await readdir(out).catch(() => [] as string[])).some((v) => v.includes('-vol') && !v.startsWith('.')) && (await exists(join(out, (await readdir(out)).find((v) => v.includes('-vol1-'))!, 'bookcrate', 'volume.json')))],
  ];
  for (const [name, ready] of points) {
    it(`${name}: resumes, keeps finished segments, and ends byte-identical to an uninterrupted run`, async () => {
      const out = join(work, `killed-${name.replace(/\W+/g, '-')}`);
      const killed = await killWhen(out, () => ready(out));
      const before = await segmentsIn(out);
      const r = await run(['pack', src, '--key', key, '--out', out, ...ARGS], EPOCH);
      expect(r.code, r.stderr).toBe(0);
      // The newest finished segment may not be in the journal yet (renamed, then journaled): it is redone.
      if (killed && before.filter((s) => s.endsWith('.tar')).length > 1 && !name.startsWith('while reading')) {
        expect(r.stdout).toMatch(/resumed: \d+ finished segment/);
      }
      const got = await snapshot(out);
      expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
      for (const [k, v] of reference) expect(got.get(k)!.equals(v), k).toBe(true);
      await rm(out, { recursive: true, force: true });
    });
  }

  // A one-volume set keeps the work of pack's early start (docs/format.md, section 11): the writer
  // begins before the scan ends, and nothing is journaled or named final until the plan confirms it.
  it('a one-volume pack killed in its first or a later segment resumes byte-identical', async () => {
    const one = ['--disk-size', '4TB', '--segment-size', '4MiB'];
    const ref = join(work, 'one-reference');
    expect((await run(['pack', src, '--key', key, '--out', ref, ...one], EPOCH)).code).toBe(0);
    const expected = await snapshot(ref);
    const stops: ((out: string) => Promise<boolean>)[] = [
      async (out) => (await segmentsIn(out)).some((s) => s.endsWith('s000001.tar.partial')),
      async (out) => (await segmentsIn(out)).some((s) => s.endsWith('s000003.tar.partial')),
    ];
    for (const [i, ready] of stops.entries()) {
      const out = join(work, `one-killed-${i}`);
      await killAt(['pack', src, '--key', key, '--out', out, ...one], EPOCH, () => ready(out));
      const r = await run(['pack', src, '--key', key, '--out', out, ...one], EPOCH);
      expect(r.code, r.stderr).toBe(0);
      const got = await snapshot(out);
      expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [k, v] of expected) expect(got.get(k)!.equals(v), k).toBe(true);
    }
  });

  it('refuses to resume with different arguments, and --restart starts over', async () => {
    const out = join(work, 'mismatch');
    await killWhen(out, async () => (await segmentsIn(out)).some((s) => s.endsWith('s000002.tar')));
    const other = await run(['pack', src, '--key', key, '--out', out, '--disk-size', '40MB', '--segment-size', '8MiB'], EPOCH);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--restart/);
    const again = await run(['pack', src, '--key', key, '--out', out, ...ARGS, '--restart'], EPOCH);
    expect(again.code).toBe(0);
    const got = await snapshot(out);
    for (const [k, v] of reference) expect(got.get(k)?.equals(v), k).toBe(true);
  });
});
