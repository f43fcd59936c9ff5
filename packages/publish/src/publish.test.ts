import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { repoPaths } from '@bookcrate/format';
import { buildTree, pseudoRandomBytes, tempDir } from '../../../fixtures/tree.js';
import { publish, type PublishOptions, type PublishProgress, type PublishResult } from './publish.js';
import { checkRepoFiles, checkVersionComplete, readVersion, setMtimes } from './testkit.js';

const MiB = 1024 * 1024;
const PAST = new Date('2026-01-01T00:00:00Z');

/** Sets every mtime to a fixed past time: a tree as it sits on the center's disk between publishes. */
const age = (dir: string, when = PAST): Promise<void> => setMtimes(dir, when);

let work: string;
let src: string;
let repo: string;
let key: KeyObject;
let pub: KeyObject;

const photos = (n: number): Record<string, number> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`照片${String(i).padStart(4, '0')}.jpg`, 3000 + ((i * 7919) % 5000)]));

const run = (extra: Partial<PublishOptions> = {}): Promise<PublishResult> => publish({ input: src, repo, key, ...extra });

beforeAll(async () => {
  work = await tempDir('bookcrate-publish-');
  src = join(work, 'ndlp-test');
  repo = join(work, 'repo');
  await buildTree(src, {
    国图公开课: { '第1讲 中国古代书籍史': { '第1集.mp4': 9 * MiB + 333, '讲义.pdf': 200_000 }, 空目录: {} },
    老照片: photos(600),
    政府公开信息: { '2026年工作报告.pdf': 300_000, '空.txt': '' },
  });
  await age(src);
  ({ privateKey: key, publicKey: pub } = generateKeyPairSync('ed25519'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('publish, version after version', () => {
  let v1: PublishResult;
  let v2: PublishResult;

  it('v1: objects, parts, root, signature and pointer, every file checked by its hash', async () => {
    const events: PublishProgress[] = [];
    v1 = await run({ onProgress: (e) => events.push(e), expires: 3_600_000 });
    expect(v1).toMatchObject({ outcome: 'published', previous: null, bundle: { id: 'ndlp-test', version: 1, title: 'ndlp-test' } });
    expect(v1.totals).toEqual({ files: 604, dirs: 1, bytes: expect.any(Number), resources: expect.any(Number) });
    expect(v1.read.files).toBe(604);
    expect(v1.reused.files).toBe(0);
    expect(v1.newObjects.count).toBe(604); // every content differs (the empty file is one object too)
    expect(new Set(events.map((e) => e.phase))).toEqual(new Set(['scan', 'hash', 'write']));
    const last = events.filter((e) => e.phase === 'hash').pop()!;
    expect(last).toMatchObject({ filesDone: 605, filesTotal: 605, bytesDone: v1.totals.bytes, bytesTotal: v1.totals.bytes });
    expect(Date.parse(v1.pointer.expires) - Date.parse(v1.pointer.issued)).toBe(3_600_000);

    const checked = await checkRepoFiles(repo, pub);
    expect(checked.pointer).toMatchObject({ bundle: 'ndlp-test', version: 1, root: v1.root });
    expect(checked.roots.size).toBe(1);
    const root = checked.roots.get(v1.root.sha256)!;
    expect(root.layout).toBeUndefined();
    const v = await readVersion(repo, root);
    await checkVersionComplete(repo, v);
    expect(v.chunks.map((c) => c.path)).toEqual(['国图公开课/第1讲 中国古代书籍史/第1集.mp4']);
    expect(v.files.find((f) => f.path === '国图公开课/空目录')).toMatchObject({ type: 'dir', size: 0 });
    expect(v.files.find((f) => f.path === '政府公开信息/空.txt')?.sha256).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(checked.objects).toEqual(new Set(v.files.filter((f) => f.type === 'file').map((f) => f.sha256)));
    expect(checked.parts).toEqual(v.parts);
    expect(v1.parts).toEqual({ written: v.parts.size, existing: 0 });
    // Private state only: no temp files, no lock, no marker of an unfinished run.
    expect((await readdir(join(repo, '.bookcrate-publish'))).sort()).toEqual(['history.json']);
  });

  it('v2: unchanged files are not read, only new content becomes objects, few parts change, the chunk list changes around the edit', async () => {
    await writeFile(join(src, '老照片', '新照片.jpg'), pseudoRandomBytes(5000, 4242));
    await rm(join(src, '老照片', '照片0003.jpg'));
    await rename(join(src, '老照片', '照片0400.jpg'), join(src, '老照片', '照片0400-修复.jpg'));
    await writeFile(join(src, '国图公开课', '第1讲 中国古代书籍史', '讲义.pdf'), pseudoRandomBytes(200_000, 999)); // same size, new bytes
    const video = join(src, '国图公开课', '第1讲 中国古代书籍史', '第1集.mp4');
    const h = await open(video, 'r+');
    await h.write(pseudoRandomBytes(MiB, 555), 0, MiB, 4 * MiB + 12345);
    await h.close();
    await age(src, new Date('2026-02-01T00:00:00Z'));
    // age() moved every mtime: put the unchanged files back to what v1 recorded, so only real edits differ.
    await age(join(src, '老照片'));
    await age(join(src, '政府公开信息'));
    const later = new Date('2026-02-01T00:00:00Z');
    await utimes(join(src, '老照片', '新照片.jpg'), later, later);
    await utimes(join(src, '老照片', '照片0400-修复.jpg'), later, later);

    v2 = await run();
    expect(v2).toMatchObject({ outcome: 'published', previous: 1, bundle: { version: 2 } });
    // Read: the new photo, the renamed one (a new path), the PDF, the video. Reused: everything else.
    expect(v2.read.files).toBe(4);
    expect(v2.reused.files).toBe(604 + 1 - 1 - 4);
    // New objects: the new photo, the PDF, the video. The rename costs none.
    expect(v2.newObjects.count).toBe(3);
    expect(v2.newObjects.bytes).toBe(5000 + 200_000 + 9 * MiB + 333);

    const checked = await checkRepoFiles(repo, pub);
    const a = await readVersion(repo, checked.roots.get(v1.root.sha256)!);
    const b = await readVersion(repo, checked.roots.get(v2.root.sha256)!);
    await checkVersionComplete(repo, b);
    const fresh = [...b.parts].filter((p) => !a.parts.has(p));
    expect(fresh.length).toBe(v2.parts.written);
    expect(fresh.length).toBeLessThanOrEqual(14); // ~4 changed leaves of each of files/resources, their parents, the chunk list
    expect(b.parts.size).toBeGreaterThan(2 * fresh.length);
    const renamed = b.files.find((f) => f.path === '老照片/照片0400-修复.jpg')!;
    expect(renamed.sha256).toBe(a.files.find((f) => f.path === '老照片/照片0400.jpg')!.sha256);

    // The chunk list: chunks before and after the overwritten MiB are the same as v1's.
    const [ca] = a.chunks;
    const [cb] = b.chunks;
    const old = new Set(ca!.chunks.map((c) => `${c.offset}:${c.hash}`));
    const changed = cb!.chunks.filter((c) => !old.has(`${c.offset}:${c.hash}`));
    const changedBytes = changed.reduce((s, c) => s + c.length, 0);
    expect(changedBytes).toBeGreaterThanOrEqual(MiB);
    expect(changedBytes).toBeLessThanOrEqual(MiB + 4 * 256 * 1024);
    expect(changed[0]!.offset).toBeGreaterThan(3 * MiB);
    expect(changed[changed.length - 1]!.offset).toBeLessThan(6 * MiB);
  });

  it('nothing changed: no new version, the pointer is renewed with a later expiry', async () => {
    const before = JSON.parse(JSON.parse(await readFile(join(repo, 'latest.json'), 'utf8')).pointer) as { expires: string };
    await new Promise((r) => setTimeout(r, 20));
    const r = await run();
    expect(r).toMatchObject({ outcome: 'unchanged', previous: 2, bundle: { version: 2 }, root: v2.root });
    expect(r.read.files).toBe(0);
    expect(r.newObjects.count).toBe(0);
    expect(r.parts.written).toBe(0);
    const checked = await checkRepoFiles(repo, pub);
    expect(checked.roots.size).toBe(2);
    expect(checked.pointer.version).toBe(2);
    expect(Date.parse(checked.pointer.expires)).toBeGreaterThan(Date.parse(before.expires));
  });

  it('--rehash reads every file and still writes nothing: the objects are there', async () => {
    const r = await run({ rehash: true });
    expect(r).toMatchObject({ outcome: 'unchanged', root: v2.root });
    expect(r.read.files).toBe(604);
    expect(r.read.bytes).toBe(r.totals.bytes);
    expect(r.newObjects.count).toBe(0);
    expect((await readdir(join(repo, '.bookcrate-publish'))).sort()).toEqual(['history.json']);
  });

  it('--renew re-signs the pointer of the current version and touches nothing else', async () => {
    const files = async (): Promise<string[]> => (await readdir(repo, { recursive: true })).filter((n) => !n.startsWith('.bookcrate') && n !== 'latest.json').sort();
    const before = await files();
    const r = await publish({ repo, key, renew: true, expires: 60_000 });
    expect(r).toMatchObject({ outcome: 'renewed', root: v2.root, pointer: { version: 2 } });
    expect(Date.parse(r.pointer.expires) - Date.parse(r.pointer.issued)).toBe(60_000);
    expect(await files()).toEqual(before);
    expect((await checkRepoFiles(repo, pub)).pointer.expires).toBe(r.pointer.expires);
  });

  it('retention: --keep 2 after v3 deletes the roots, parts and objects only v1 used', async () => {
    await writeFile(join(src, '政府公开信息', '2027年计划.pdf'), pseudoRandomBytes(70_000, 31));
    await utimes(join(src, '政府公开信息', '2027年计划.pdf'), PAST, PAST);
    const before = await checkRepoFiles(repo, pub);
    const a = await readVersion(repo, before.roots.get(v1.root.sha256)!);
    const r = await run({ keep: 2 });
    expect(r).toMatchObject({ outcome: 'published', bundle: { version: 3 } });
    expect(r.pruned.versions).toEqual([1]);
    const after = await checkRepoFiles(repo, pub);
    expect([...after.roots.keys()].sort()).toEqual([v2.root.sha256, r.root.sha256].sort());
    const b = await readVersion(repo, after.roots.get(v2.root.sha256)!);
    const c = await readVersion(repo, after.roots.get(r.root.sha256)!);
    await checkVersionComplete(repo, b);
    await checkVersionComplete(repo, c);
    // Exactly what v2 and v3 use is left.
    const used = (vs: typeof b[]) => ({
      parts: new Set(vs.flatMap((v) => [...v.parts])),
      objects: new Set(vs.flatMap((v) => v.files.filter((f) => f.type === 'file').map((f) => f.sha256!))),
    });
    expect(after.parts).toEqual(used([b, c]).parts);
    expect(after.objects).toEqual(used([b, c]).objects);
    const v1Only = [...used([a]).objects].filter((o) => !after.objects.has(o));
    expect(v1Only.length).toBe(3); // the deleted photo, the old PDF, the old video
    const goneParts = [...before.parts].filter((p) => !after.parts.has(p));
    expect(goneParts.length).toBeGreaterThan(0);
    expect(r.pruned).toMatchObject({ roots: 1, objects: 3, parts: goneParts.length });
    const history = JSON.parse(await readFile(join(repo, '.bookcrate-publish', 'history.json'), 'utf8')) as { versions: { version: number; pruned?: boolean }[] };
    expect(history.versions.map((v) => [v.version, !!v.pruned])).toEqual([[1, true], [2, false], [3, false]]);
  });

  it('what a killed run left behind is collected by the next one', async () => {
    const stray = pseudoRandomBytes(1000, 77);
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(stray).digest('hex');
    await mkdir(join(repo, 'objects', sha.slice(0, 2)), { recursive: true });
    await writeFile(join(repo, repoPaths.object(sha)), stray);
    await mkdir(join(repo, '.bookcrate-publish', 'tmp'), { recursive: true });
    await writeFile(join(repo, '.bookcrate-publish', 'tmp', 'obj-1-half'), 'half a file');
    await writeFile(join(repo, '.bookcrate-publish', 'unfinished'), '{}');
    const r = await run();
    expect(r.outcome).toBe('unchanged');
    expect(r.pruned).toMatchObject({ versions: [], objects: 1, parts: 0, roots: 0 });
    expect(await stat(join(repo, repoPaths.object(sha))).catch(() => null)).toBeNull();
    expect((await readdir(join(repo, '.bookcrate-publish'))).sort()).toEqual(['history.json']);
  });

  it('a lost history is rebuilt from latest.json; its files are read again (their mtimes cannot be trusted) and nothing is rewritten', async () => {
    const current = await checkRepoFiles(repo, pub);
    await rm(join(repo, '.bookcrate-publish', 'history.json'));
    const r = await run();
    expect(r).toMatchObject({ outcome: 'unchanged', root: current.pointer.root, bundle: { version: 3 } });
    expect(r.read.files).toBe(r.totals.files);
    expect(r.newObjects.count).toBe(0);
    const again = await run();
    expect(again.read.files).toBe(0); // confirmed by the read: the next run trusts them again
    // Version numbers continue from the pointer.
    await writeFile(join(src, '老照片', '又一张.jpg'), pseudoRandomBytes(4000, 5));
    await utimes(join(src, '老照片', '又一张.jpg'), PAST, PAST);
    expect((await run()).bundle.version).toBe(4);
  });
});

describe('racy files and refusals', () => {
  it('a file rewritten in the same second it was read, with the same size, is read again next time', async () => {
    const dir = join(work, 'racy');
    const r = join(work, 'repo-racy');
    await buildTree(dir, { a: { 'x.txt': 'one' } });
    const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 500);
    await utimes(join(dir, 'a', 'x.txt'), now, now);
    const first = await publish({ input: dir, repo: r, key });
    await writeFile(join(dir, 'a', 'x.txt'), 'two'); // same size, and the same mtime second:
    await utimes(join(dir, 'a', 'x.txt'), now, now);
    const second = await publish({ input: dir, repo: r, key });
    expect(second.outcome).toBe('published');
    expect(second.root.sha256).not.toBe(first.root.sha256);
    const v = await readVersion(r, (await checkRepoFiles(r, pub)).roots.get(second.root.sha256)!);
    await checkVersionComplete(r, v);
  });

  it('refuses what would break the repository, with a usage error that names the problem', async () => {
    const bad = (o: Partial<PublishOptions>) => publish({ input: src, repo, key, ...o });
    await expect(bad({ key: createPublicKey(key) })).rejects.toMatchObject({ code: 'USAGE', message: /not an Ed25519 private key/ });
    await expect(bad({ key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(bad({ keep: 1 })).rejects.toMatchObject({ code: 'USAGE', message: /at least 2/ });
    await expect(bad({ version: 2 })).rejects.toMatchObject({ code: 'USAGE', message: /older than version 4/ });
    await expect(bad({ version: 4 })).resolves.toMatchObject({ outcome: 'unchanged' }); // the same version again: a rerun
    const other = join(work, 'other-bundle');
    await buildTree(other, { a: { 'x.txt': 'x' } });
    await expect(bad({ input: other })).rejects.toMatchObject({ code: 'USAGE', message: /bundle "other-bundle" but .* publishes bundle "ndlp-test"/ });
    await expect(bad({ repo: join(src, '老照片') })).rejects.toMatchObject({ code: 'USAGE', message: /inside the source/ });
    const notRepo = join(work, 'not-a-repo');
    await buildTree(notRepo, { 'notes.txt': 'mine' });
    await expect(bad({ repo: notRepo })).rejects.toMatchObject({ code: 'USAGE', message: /not a bookcrate repository/ });
    await expect(publish({ repo: join(work, 'nowhere'), key, renew: true })).rejects.toMatchObject({ code: 'USAGE', message: /nothing has been published/ });
    await expect(bad({ key: generateKeyPairSync('ed25519').privateKey })).rejects.toMatchObject({ code: 'USAGE', message: /signed by key .* not by the key given/ });
    // Nothing of that reached the repository.
    const checked = await checkRepoFiles(repo, pub);
    expect(checked.pointer.version).toBe(4);
  });

  it('refuses names that cannot be published portably, and a repository another publish is writing to', async () => {
    const dir = join(work, 'bad-names');
    await buildTree(dir, { 资料: { 'CON.txt': 'x', 'ok.txt': 'y' } });
    const r = join(work, 'repo-bad-names');
    await expect(publish({ input: dir, repo: r, key })).rejects.toMatchObject({ code: 'NAME_POLICY', details: { errors: 1 } });
    expect(await stat(join(r, 'latest.json')).catch(() => null)).toBeNull();
    await writeFile(join(repo, '.bookcrate-publish', 'lock'), JSON.stringify({ pid: process.pid, host: hostname(), what: 'publish', since: 'now' }));
    try {
      await expect(run()).rejects.toMatchObject({ code: 'BUSY', message: new RegExp(`pid ${process.pid}`) });
    } finally {
      await rm(join(repo, '.bookcrate-publish', 'lock'));
    }
  });
});
