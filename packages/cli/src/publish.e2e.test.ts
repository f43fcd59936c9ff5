import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { cp, open, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeRoot, repoPaths, treePartRefs } from '@bookcrate/format';
import { buildTree, pseudoRandomBytes, tempDir } from '../../../fixtures/tree.js';
import { checkRepoFiles, checkVersionComplete, readVersion, setMtimes, type VersionContent } from '../../publish/src/testkit.js';
import { exists, jsonLines, killWhen as killAt, run } from './testkit.js';

/**
 * `bookcrate publish` end to end: the real CLI writes a repository, every file of which is then
 * checked by its hash, version after version; the same source packed on disks shares its manifest
 * parts; and a publish killed with SIGKILL anywhere is finished by running it again.
 */

const MiB = 1024 * 1024;
const EPOCH = { SOURCE_DATE_EPOCH: '1767225600' };
const PAST = new Date('2026-01-01T00:00:00Z');
let work: string;
let key: string;
let pub: KeyObject;

interface Published {
  code: number | null;
  stdout: string;
  stderr: string;
  result: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function publishCli(args: string[], env: Record<string, string> = EPOCH): Promise<Published> {
  const r = await run(['publish', ...args, '--json'], env);
  const result = jsonLines(r.stdout).find((e) => e.event === 'result') ?? {};
  return { ...r, result };
}

const photos = (n: number, prefix = '照片'): Record<string, number> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${String(i).padStart(4, '0')}.jpg`, 2000 + ((i * 7919) % 6000)]));

beforeAll(async () => {
  work = await tempDir('bookcrate-publish-e2e-');
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  key = join(work, 'center.key');
  pub = createPublicKey(await readFile(join(work, 'center.pub'), 'utf8'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('publish version after version, checked file by file', () => {
  let src: string;
  let repo: string;
  const versions: Record<number, VersionContent> = {};
  const results: Record<number, Record<string, any>> = {}; // eslint-disable-line @typescript-eslint/no-explicit-any

  beforeAll(async () => {
    src = join(work, 'ndlp-2026');
    repo = join(work, 'repo');
    await buildTree(src, {
      国图公开课: { '第1讲 中国古代书籍史': { '第1集.mp4': 12 * MiB + 333, '讲义.pdf': 300_000 }, 空目录: {} },
      老照片: photos(600),
      政府公开信息: { '2026年工作报告.pdf': 500_000, '空.txt': '' },
    });
    await setMtimes(src, PAST);
  });

  it('v1: objects hash to their names, parts too, the root\'s signature and the pointer verify', async () => {
    const r = await publishCli([src, '--repo', repo, '--key', key, '--expires', '2d']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ outcome: 'published', bundle: { id: 'ndlp-2026', version: 1, created: '2026-01-01T00:00:00.000Z' }, previous: null });
    expect(jsonLines(r.stdout).filter((e) => e.event === 'progress').map((e) => e.phase)).toEqual(expect.arrayContaining(['scan', 'hash', 'write']));
    const checked = await checkRepoFiles(repo, pub);
    expect(checked.pointer).toMatchObject({ format: 'bookcrate-repo/1', bundle: 'ndlp-2026', version: 1, root: r.result.root });
    expect(Date.parse(checked.pointer.expires) - Date.parse(checked.pointer.issued)).toBe(2 * 86_400_000);
    const v = await readVersion(repo, checked.roots.get(checked.pointer.root.sha256)!);
    await checkVersionComplete(repo, v);
    expect(v.root.layout).toBeUndefined();
    expect(v.files.filter((f) => f.type === 'dir').map((f) => f.path)).toEqual(['国图公开课/空目录']);
    expect(v.chunks).toHaveLength(1);
    expect(checked.objects.size).toBe(604);
    expect(checked.parts).toEqual(v.parts);
    versions[1] = v;
    results[1] = r.result;
  });

  it('v1\'s files and resources trees are the ones `bookcrate pack` writes for the same source, part for part', async () => {
    const disk = join(work, 'disk');
    const p = await run(['pack', src, '--key', key, '--out', disk, '--no-verify'], EPOCH);
    expect(p.code, p.stderr).toBe(0);
    const vol = join(disk, (await readdir(disk)).find((n) => n.includes('-vol'))!);
    const packed = decodeRoot(await readFile(join(vol, 'bookcrate', 'root.json')));
    const published = versions[1]!.root;
    expect(published.files).toEqual(packed.files);
    expect(published.resources).toEqual(packed.resources);
    expect(published.bundle).toEqual(packed.bundle);
    expect(published.totals).toEqual(packed.totals);
    expect(published.collections).toEqual(packed.collections);
    // The same part files, byte for byte: a store filled from disks holds what a mirror would fetch.
    let compared = 0;
    for (const sha of versions[1]!.parts) {
      const onDisk = await readFile(join(vol, 'bookcrate', 'parts', `${sha}.jsonl`)).catch(() => undefined);
      if (!onDisk) continue; // a chunks-tree part: the network form only
      expect(onDisk.equals(await readFile(join(repo, repoPaths.part(sha)))), sha).toBe(true);
      compared++;
    }
    // Every part of both trees, at every level, was among them.
    const load = (r: { sha256: string }) => readFile(join(repo, repoPaths.part(r.sha256)));
    let expected = 0;
    for (const tree of [published.files, published.resources]) for await (const _ of treePartRefs(tree, load, 'test')) expected++;
    expect(compared).toBe(expected);
  });

  it('v2 (added, deleted, renamed, rewritten, 1 MiB overwritten inside the video): only new content is written, few parts, the chunk list changes around the edit', async () => {
    await writeFile(join(src, '老照片', '新照片.jpg'), pseudoRandomBytes(6000, 900));
    await rm(join(src, '老照片', '照片0007.jpg'));
    await rename(join(src, '老照片', '照片0200.jpg'), join(src, '老照片', '照片0200-修复.jpg'));
    await writeFile(join(src, '国图公开课', '第1讲 中国古代书籍史', '讲义.pdf'), pseudoRandomBytes(300_000, 777));
    const h = await open(join(src, '国图公开课', '第1讲 中国古代书籍史', '第1集.mp4'), 'r+');
    await h.write(pseudoRandomBytes(MiB, 555), 0, MiB, 6 * MiB + 12345);
    await h.close();
    const edited = new Date('2026-02-01T00:00:00Z');
    for (const f of ['老照片/新照片.jpg', '老照片/照片0200-修复.jpg', '国图公开课/第1讲 中国古代书籍史/讲义.pdf', '国图公开课/第1讲 中国古代书籍史/第1集.mp4']) {
      await utimes(join(src, f), edited, edited);
    }
    await utimes(join(src, '老照片'), PAST, PAST);
    const r = await publishCli([src, '--repo', repo, '--key', key]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ outcome: 'published', bundle: { version: 2 }, previous: 1 });
    expect(r.result.read.files).toBe(4); // new, renamed, rewritten, overwritten
    expect(r.result.reused.files).toBe(604 + 1 - 1 - 4);
    expect(r.result.newObjects).toEqual({ count: 3, bytes: 6000 + 300_000 + 12 * MiB + 333 }); // the rename costs none

    const checked = await checkRepoFiles(repo, pub);
    const v = await readVersion(repo, checked.roots.get(r.result.root.sha256)!);
    await checkVersionComplete(repo, v);
    const newParts = [...v.parts].filter((p) => !versions[1]!.parts.has(p));
    expect(newParts.length).toBe(r.result.parts.written);
    expect(newParts.length).toBeLessThanOrEqual(10);
    expect(newParts.length).toBeLessThan(v.parts.size / 2);
    expect(checked.objects.size).toBe(604 + 3);

    const before = versions[1]!.chunks[0]!.chunks;
    const after = v.chunks[0]!.chunks;
    const old = new Set(before.map((c) => `${c.offset}:${c.length}:${c.hash}`));
    const changed = after.filter((c) => !old.has(`${c.offset}:${c.length}:${c.hash}`));
    const changedBytes = changed.reduce((s, c) => s + c.length, 0);
    expect(changedBytes).toBeGreaterThanOrEqual(MiB);
    expect(changedBytes).toBeLessThanOrEqual(MiB + 4 * 256 * 1024); // at most a max-size chunk each side of the edit, twice
    expect(changed[0]!.offset).toBeGreaterThan(5 * MiB);
    expect(changed[changed.length - 1]!.offset + changed[changed.length - 1]!.length).toBeLessThan(8 * MiB);
    versions[2] = v;
    results[2] = r.result;
  });

  it('nothing changed: no new version, the pointer is renewed with a later expiry', async () => {
    const before = await checkRepoFiles(repo, pub);
    const r = await run(['publish', src, '--repo', repo, '--key', key], EPOCH);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Nothing changed since version 2 .*no new version/);
    expect(r.stdout).toMatch(/reused 604 unchanged files/);
    expect(r.stdout).toMatch(/pointer: version 2, valid until /);
    const after = await checkRepoFiles(repo, pub);
    expect(after.pointer.root).toEqual(before.pointer.root);
    expect([...after.roots.keys()]).toEqual([...before.roots.keys()]);
    expect(Date.parse(after.pointer.expires)).toBeGreaterThan(Date.parse(before.pointer.expires));
  });

  it('--renew re-signs the current pointer with a new expiry; no source needed', async () => {
    const r = await publishCli(['--renew', '--repo', repo, '--key', key, '--expires', '1h']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ outcome: 'renewed', pointer: { version: 2 }, root: results[2]!.root });
    const p = (await checkRepoFiles(repo, pub)).pointer;
    expect(Date.parse(p.expires) - Date.parse(p.issued)).toBe(3_600_000);
    expect(Math.abs(Date.parse(p.issued) - Date.now())).toBeLessThan(60_000);
  });

  it('v3 with --keep 2 deletes what only v1 used and keeps everything v2 and v3 need', async () => {
    await writeFile(join(src, '政府公开信息', '2027年计划.pdf'), pseudoRandomBytes(80_000, 31));
    await utimes(join(src, '政府公开信息', '2027年计划.pdf'), PAST, PAST);
    const r = await publishCli([src, '--repo', repo, '--key', key, '--keep', '2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ outcome: 'published', bundle: { version: 3 }, pruned: { versions: [1], roots: 1, objects: 3 } });
    const checked = await checkRepoFiles(repo, pub);
    expect(checked.roots.size).toBe(2);
    const v2 = await readVersion(repo, checked.roots.get(results[2]!.root.sha256)!);
    const v3 = await readVersion(repo, checked.roots.get(r.result.root.sha256)!);
    await checkVersionComplete(repo, v2);
    await checkVersionComplete(repo, v3);
    const objectsOf = (v: VersionContent): string[] => v.files.filter((f) => f.type === 'file').map((f) => f.sha256!);
    expect(checked.objects).toEqual(new Set([...objectsOf(v2), ...objectsOf(v3)]));
    expect(checked.parts).toEqual(new Set([...v2.parts, ...v3.parts]));
    const v1Only = objectsOf(versions[1]!).filter((o) => !checked.objects.has(o));
    expect(v1Only).toHaveLength(3); // the deleted photo, the old PDF, the old video
    expect(r.result.pruned.parts).toBe([...versions[1]!.parts].filter((p) => !checked.parts.has(p)).length);
  });

  it('refuses a wrong key, a missing repository, another bundle and an empty source with the usage exit code, naming the problem', async () => {
    const other = join(work, 'other-bundle');
    await buildTree(other, { 一: { 'a.txt': 'a' } });
    const cases: [string[], RegExp][] = [
      [[src, '--repo', repo, '--key', join(work, 'center.pub')], /center\.pub is not an Ed25519 private key/],
      [[src, '--key', key], /--repo/],
      [['--renew', '--repo', join(work, 'no-such-repo'), '--key', key], /nothing has been published in .*no-such-repo/],
      [[other, '--repo', repo, '--key', key], /bundle "other-bundle" but .* publishes bundle "ndlp-2026"/],
      // a wrong path to an empty folder (of the same bundle's name) would publish an empty version that every mirror follows
      [[join(work, 'empty', 'ndlp-2026'), '--repo', repo, '--key', key], /nothing to publish: .*empty\/ndlp-2026 holds no files/],
    ];
    await buildTree(join(work, 'empty', 'ndlp-2026'), { '.DS_Store': 'junk only' });
    for (const [args, message] of cases) {
      const r = await run(['publish', ...args], EPOCH);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const r = await publishCli([src, '--repo', repo, '--key', key, '--version', '2']);
    expect(r.code).toBe(2);
    expect(jsonLines(r.stdout).find((e) => e.event === 'error')).toMatchObject({ code: 'USAGE', exitCode: 2, message: expect.stringMatching(/--version 2 is older than version 3/) });
    expect((await checkRepoFiles(repo, pub)).pointer.version).toBe(3);
  });

  it('--help shows examples and the exit codes', async () => {
    const r = await run(['publish', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/bookcrate publish shipment\.json --repo/);
    expect(r.stdout).toMatch(/--renew/);
    expect(r.stdout).toMatch(/Exit codes:/);
  });
});

describe('publish killed with SIGKILL, then run again', () => {
  let src: string;
  let src2: string;
  let ref: { v1: string; v2: string; objects: Set<string>; parts: Set<string> };
  let refRepoV1: string;
  let refV2: { objects: Set<string>; parts: Set<string> };

  const killWhen = (args: string[], ready: () => Promise<boolean>): Promise<boolean> => killAt(['publish', ...args], EPOCH, ready);

  const bigTemp = async (repo: string): Promise<boolean> => {
    const tmp = join(repo, '.bookcrate-publish', 'tmp');
    for (const n of await readdir(tmp).catch(() => [] as string[])) {
      if (n.startsWith('obj-') && ((await stat(join(tmp, n)).catch(() => undefined))?.size ?? 0) > 4 * MiB) return true;
    }
    return false;
  };

  /** After the rerun: the reference's version and exactly its files (the reference is checked complete), no leftovers. */
  async function expectLikeReference(repo: string, root: string): Promise<void> {
    const checked = await checkRepoFiles(repo, pub);
    expect(checked.pointer.root.sha256).toBe(root);
    expect([...checked.roots.keys()]).toEqual([root]);
    expect(checked.objects).toEqual(ref.objects);
    expect(checked.parts).toEqual(ref.parts);
    expect((await readdir(join(repo, '.bookcrate-publish'))).sort()).toEqual(['history.json']);
  }

  beforeAll(async () => {
    src = join(work, 'big-src');
    const tree: Record<string, Record<string, number>> = {};
    for (let d = 0; d < 4; d++) tree[`第${d + 1}批`] = photos(500, `扫描${d}-`);
    tree['专题视频'] = { '讲座.mp4': 12 * MiB + 5 }; // sorts first: it is read while few photos are in flight
    await buildTree(src, tree);
    await setMtimes(src, PAST);
    // v2 of the same bundle: another copy with 300 more photos and a changed video.
    src2 = join(work, 'v2', 'big-src');
    await cp(src, src2, { recursive: true, preserveTimestamps: true });
    await buildTree(join(src2, '第5批'), photos(300, '新扫描-'), { n: 5000 });
    const h = await open(join(src2, '专题视频', '讲座.mp4'), 'r+');
    await h.write(pseudoRandomBytes(MiB, 8), 0, MiB, 3 * MiB);
    await h.close();
    await setMtimes(join(src2, '第5批'), PAST);
    await utimes(join(src2, '专题视频', '讲座.mp4'), new Date('2026-03-01Z'), new Date('2026-03-01Z'));

    refRepoV1 = join(work, 'ref-v1');
    const r1 = await publishCli([src, '--repo', refRepoV1, '--key', key]);
    expect(r1.code, r1.stderr).toBe(0);
    const refRepoV2 = join(work, 'ref-v2');
    await cp(refRepoV1, refRepoV2, { recursive: true });
    const r2 = await publishCli([src2, '--repo', refRepoV2, '--key', key]);
    expect(r2.code, r2.stderr).toBe(0);
    const c1 = await checkRepoFiles(refRepoV1, pub);
    await checkVersionComplete(refRepoV1, await readVersion(refRepoV1, c1.roots.get(r1.result.root.sha256)!));
    ref = { v1: r1.result.root.sha256, v2: r2.result.root.sha256, objects: c1.objects, parts: c1.parts };
    const c2 = await checkRepoFiles(refRepoV2, pub);
    await checkVersionComplete(refRepoV2, await readVersion(refRepoV2, c2.roots.get(r2.result.root.sha256)!));
    refV2 = { objects: c2.objects, parts: c2.parts };
  });

  // [name, when to kill, whether the kill must land before the run ends (the last window is a few ms)]
  const points: [string, (repo: string) => Promise<boolean>, boolean][] = [
    ['while the large file is being copied', bigTemp, true],
    ['after the root was written', async (repo) => (await readdir(join(repo, 'roots')).catch(() => [])).length > 0, false],
  ];
  for (const [name, ready, mustKill] of points) {
    it(`${name}: the rerun ends with the same root, and exactly the files, of an uninterrupted publish`, async () => {
      const repo = join(work, `killed-${name.replace(/\W+/g, '-')}`);
      const killed = await killWhen([src, '--repo', repo, '--key', key], () => ready(repo));
      if (mustKill) expect(killed).toBe(true);
      // Either nothing is published yet, or (killed after the pointer's rename) the whole version is.
      if (await exists(join(repo, 'latest.json'))) expect((await checkRepoFiles(repo, pub)).pointer.root.sha256).toBe(ref.v1);
      const r = await publishCli([src, '--repo', repo, '--key', key]);
      expect(r.code, r.stderr).toBe(0);
      await expectLikeReference(repo, ref.v1);
    });
  }

  it('killed while publishing v2: mirrors still see v1, and the rerun publishes exactly the v2 of an uninterrupted run', async () => {
    const repo = join(work, 'killed-v2');
    await cp(refRepoV1, repo, { recursive: true });
    const v1Pointer = await readFile(join(repo, 'latest.json'));
    // Killed once some of the 300 new photos are objects (the old files are reused: no temp files for them).
    const killed = await killWhen([src2, '--repo', repo, '--key', key], async () => (await readdir(join(repo, '.bookcrate-publish', 'tmp')).catch(() => [])).length > 3);
    expect(killed).toBe(true);
    expect((await readFile(join(repo, 'latest.json'))).equals(v1Pointer)).toBe(true);
    const seen = await checkRepoFiles(repo, pub);
    expect(seen.pointer.root.sha256).toBe(ref.v1);
    await checkVersionComplete(repo, await readVersion(repo, seen.roots.get(ref.v1)!));
    const r = await publishCli([src2, '--repo', repo, '--key', key]);
    expect(r.code, r.stderr).toBe(0);
    const checked = await checkRepoFiles(repo, pub);
    expect(checked.pointer).toMatchObject({ version: 2, root: { sha256: ref.v2 } });
    expect(checked.objects).toEqual(refV2.objects);
    expect(checked.parts).toEqual(refV2.parts);
  });
});
