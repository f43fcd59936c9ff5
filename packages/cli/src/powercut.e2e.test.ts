import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import { sha256Hex } from '@bookcrate/format';
import { storePaths } from '@bookcrate/store';
import { nginxAvailable, startNginx, type NginxServer } from '@bookcrate/mirror/testkit';
import { buildTree, pseudoRandomBytes, tempDir, type TreeSpec } from '../../../fixtures/tree.js';
import { PowerCutDisk } from '../../../fixtures/powercut.js';
import { BIN, jsonLines, run, snapshot } from './testkit.js';

// A power cut, not a SIGKILL: the store is on a disk that loses every write no flush made durable
// (fixtures/powercut.ts). What an import, a pack or a check relies on must have been synced before
// it relied on it, or these tests find it missing or damaged after the machine comes back.

const KiB = 1024;
const MiB = 1024 * KiB;
const EPOCH = { SOURCE_DATE_EPOCH: '1764374400' };

let work: string;
let key: string;
let pub: string;
let src: string;
let srcV2: string;
let volume: string;
let reference: string;
let disk: PowerCutDisk | undefined;

/** Photos, scanned comics and two videos: small objects written in batches, large ones through temp files. */
function sourceTree(): TreeSpec {
  const photos: TreeSpec = {};
  for (let i = 0; i < 240; i++) photos[`照片${String(i).padStart(3, '0')}.jpg`] = 2 * KiB + ((i * 7919) % (40 * KiB));
  const comics: TreeSpec = {};
  for (let i = 0; i < 16; i++) comics[`第${i + 1}册.pdf`] = 150 * KiB + i * 9 * KiB;
  return { 老照片: photos, 中华连环画: comics, 国图公开课: { '第一讲.mp4': 5 * MiB + 17, '第二讲.mp4': 3 * MiB + 5 }, 空目录: {} };
}

/** The catalog's view of a store, to compare two stores: versions, volumes, files and their states, objects, damage. */
function catalog(store: string): unknown {
  const db = new Database(join(store, 'catalog.sqlite'), { readonly: true });
  try {
    return {
      versions: db.prepare('SELECT bundle_id, version, set_id, state, is_current, files, bytes FROM versions ORDER BY id').all(),
      volumes: db.prepare('SELECT volume, state FROM volumes ORDER BY volume').all(),
      files: db.prepare('SELECT path, type, size, sha256, state FROM files ORDER BY path').all(),
      objects: db.prepare('SELECT sha256, size FROM objects ORDER BY sha256').all(),
      damaged: db.prepare('SELECT path, reason FROM damaged ORDER BY path').all(),
    };
  } finally {
    db.close();
  }
}

/**
 * What the catalog promises and the disk does not hold: an object recorded whose file is missing,
 * of another size or other bytes. After a power cut this is the fault that matters: a commit
 * recorded before the bytes it names were durable.
 */
async function promisesBroken(store: string): Promise<string[]> {
  const db = new Database(join(store, 'catalog.sqlite'), { readonly: true });
  try {
    const out: string[] = [];
    for (const o of db.prepare('SELECT sha256, size FROM objects').all() as { sha256: string; size: number }[]) {
      const path = storePaths(store).object(o.sha256);
      const size = await stat(path).then((s) => s.size, () => -1);
      if (size !== o.size) out.push(`object ${o.sha256}: ${size < 0 ? 'missing' : `${size} bytes, the catalog says ${o.size}`}`);
      else if (sha256Hex(await readFile(path)) !== o.sha256) out.push(`object ${o.sha256}: other bytes`);
    }
    return out;
  } finally {
    db.close();
  }
}

async function digests(dir: string): Promise<Map<string, string>> {
  return new Map([...(await snapshot(dir))].map(([p, b]) => [p, sha256Hex(b)]));
}

/** The store holds what an import that was never interrupted made: catalog, objects, readers' tree; and a full check finds it whole. */
async function sameAsReference(store: string): Promise<void> {
  expect(catalog(store)).toEqual(catalog(reference));
  expect(await digests(join(store, 'objects'))).toEqual(await digests(join(reference, 'objects')));
  expect(await digests(join(store, 'library', 'src'))).toEqual(await digests(src));
  const check = await run(['check', '--store', store]);
  expect(check.code, check.stdout + check.stderr).toBe(0);
}

/**
 * When to cut: when the command's progress (--json) first shows a phase, when a file appears (or a
 * folder holds a name that matches), a time after the start, or right after it ended well.
 */
type CutAt = { phase: string } | { file: string } | { dir: string; name: RegExp } | { afterMs: number } | 'exit';

/**
 * Runs the CLI with `args` (writing to the power-cut disk) and cuts the power at `at`, killing the
 * command as the cut would have, then switches the machine on again. Returns whether the cut came
 * before the command ended.
 */
async function runUntilCut(args: string[], at: CutAt, keepUnflushed: number, seed: number): Promise<boolean> {
  const child = spawn(process.execPath, [BIN, ...args, '--json'], { env: { ...process.env, LANG: 'C', ...EPOCH }, stdio: ['ignore', 'pipe', 'pipe'] });
  let code: number | null | undefined;
  const closed = new Promise<void>((r) => child.on('close', (c) => { code = c; r(); }));
  let cutWhileRunning = false;
  const cutNow = () => {
    if (cutWhileRunning) return;
    cutWhileRunning = child.exitCode === null && child.signalCode === null;
    disk!.cut({ seed, keepUnflushed });
    child.kill('SIGKILL');
  };
  let seen = '';
  // A phase is looked for as its line arrives, so the cut comes before the command can go further.
  child.stdout!.on('data', (b: Buffer) => {
    seen += b.toString('utf8');
    if (typeof at === 'object' && 'phase' in at && seen.includes(`"phase":"${at.phase}"`)) cutNow();
  });
  child.stderr!.on('data', () => undefined);
  const started = Date.now();
  const due = (): boolean => {
    if (typeof at !== 'object') return false;
    if ('file' in at) return existsSync(at.file);
    if ('dir' in at) return existsSync(at.dir) && readdirSync(at.dir).some((n) => at.name.test(n));
    return 'afterMs' in at && Date.now() - started >= at.afterMs;
  };
  if (typeof at === 'object' && !('phase' in at)) {
    while (code === undefined && !cutWhileRunning) {
      if (due()) cutNow();
      else await new Promise((r) => setTimeout(r, 1));
    }
  }
  await closed;
  if (at === 'exit') {
    expect(code, seen).toBe(0);
    disk!.cut({ seed, keepUnflushed });
  }
  disk!.powerOn();
  return cutWhileRunning;
}

beforeAll(async () => {
  work = await tempDir('bookcrate-powercut-');
  src = join(work, 'src');
  await buildTree(src, sourceTree());
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  key = join(work, 'center.key');
  pub = join(work, 'center.pub');
  const out = join(work, 'disks');
  expect((await run(['pack', src, '--key', key, '--out', out, '--segment-size', '4MiB'], EPOCH)).code).toBe(0);
  volume = join(out, (await readdir(out))[0]!);
  reference = join(work, 'store-ref');
  const r = await run(['import', volume, '--store', reference, '--trust', pub]);
  expect(r.code, r.stderr).toBe(0);
  // The next version of the same bundle (its id is the folder's name): a new video, photos changed and removed.
  srcV2 = join(work, 'v2', 'src');
  await cp(src, srcV2, { recursive: true });
  await writeFile(join(srcV2, '国图公开课', '第三讲.mp4'), pseudoRandomBytes(3 * MiB + 3, 31));
  for (let i = 0; i < 8; i++) await writeFile(join(srcV2, '老照片', `照片${String(i).padStart(3, '0')}.jpg`), pseudoRandomBytes(9 * KiB + i, 40 + i));
  await rm(join(srcV2, '老照片', '照片100.jpg'));
  disk = PowerCutDisk.create(join(work, 'powercut'), 96);
});

afterAll(() => disk?.close());

describe('import, and the power cut', () => {
  // [when, share of the writes since the last flush that the disk's cache had written anyway]
  const cases: [string, number][] = [['manifest', 0], ['import', 0.5], ['import', 0], ['publish', 1], ['publish', 0], ['exit', 0]];
  cases.forEach(([phase, keep], i) => {
    it(`at "${phase}", keeping ${keep * 100}% of the unflushed writes: the catalog never names what the disk lost, and the same command finishes the import`, async (ctx) => {
      if (!disk) return ctx.skip();
      const store = join(disk.mnt, `store-${i}`);
      const cutWhileRunning = await runUntilCut(['import', volume, '--store', store, '--trust', pub], phase === 'exit' ? 'exit' : { phase }, keep, 7 + i);
      expect(cutWhileRunning).toBe(phase !== 'exit');
      // The catalog may hold less than the import had done, never more than the disk kept.
      expect(await promisesBroken(store)).toEqual([]);
      if (phase === 'exit') {
        // An import that said it was done is done: nothing of it waits in a cache.
        await sameAsReference(store);
        const status = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { files: number }[] };
        expect(status.versions).toMatchObject([{ state: 'complete', current: true, present: status.versions[0]!.files, damaged: 0, pending: 0 }]);
      }
      const again = await run(['import', volume, '--store', store, '--json']);
      expect(again.code, again.stderr).toBe(0);
      await sameAsReference(store);
      await rm(store, { recursive: true, force: true });
    });
  });
});

describe('pack, and the power cut', () => {
  const args = (out: string) => ['pack', src, '--key', key, '--out', out, '--segment-size', '4MiB'];
  let expected: Map<string, string>;
  beforeAll(async () => {
    const out = join(work, 'pack-ref');
    expect((await run(args(out), EPOCH)).code).toBe(0);
    expected = await digests(out);
  });

  // [when, share of the unflushed writes kept]: segments 1 and 3 just finished (the next one begun),
  // the read-back under way, and just after the pack said it was done
  const segment = (out: string, n: number) => ({ file: join(out, 'src-vol1-of-1', 'segments', `v01-s${String(n).padStart(6, '0')}.tar.partial`) });
  const cases: [string, (out: string) => CutAt, number][] = [
    ['segment 2 begun', (out) => segment(out, 2), 0],
    ['segment 4 begun', (out) => segment(out, 4), 0.5],
    ['the read-back', () => ({ phase: 'verify' }), 0],
    ['exit', () => 'exit', 0],
  ];
  cases.forEach(([when, at, keep], i) => {
    it(`at ${when}, keeping ${keep * 100}% of the unflushed writes: the same command finishes a volume byte-identical to an uninterrupted pack's`, async (ctx) => {
      if (!disk) return ctx.skip();
      const out = join(disk.mnt, `pack-${i}`);
      expect(await runUntilCut(args(out), at(out), keep, 101 + i)).toBe(when !== 'exit');
      if (when === 'exit') {
        // A pack that said the disk is ready has it on the disk: it is shipped as it is.
        expect(await digests(out)).toEqual(expected);
      }
      const again = await run(args(out), EPOCH);
      expect(again.code, again.stderr).toBe(0);
      expect(await digests(out)).toEqual(expected);
      const verify = await run(['verify', out, '--pubkey', pub]);
      expect(verify.code, verify.stdout + verify.stderr).toBe(0);
      await rm(out, { recursive: true, force: true });
    });
  });
});

describe('a mirror round, and the power cut', () => {
  // v1 upstream on one server; v1 then v2 (a new video, photos changed and removed) on another.
  let v1: NginxServer | undefined;
  let v2: NginxServer | undefined;
  beforeAll(async () => {
    if (!disk || !nginxAvailable()) return;
    const repo1 = join(work, 'repo1');
    const repo2 = join(work, 'repo2');
    expect((await run(['publish', src, '--repo', repo1, '--key', key])).code).toBe(0);
    await cp(repo1, repo2, { recursive: true });
    expect((await run(['publish', srcV2, '--repo', repo2, '--key', key])).code).toBe(0);
    v1 = await startNginx(repo1);
    v2 = await startNginx(repo2);
  });
  afterAll(async () => {
    await v1?.stop();
    await v2?.stop();
  });

  const round = (upstream: string, store: string, extra: string[] = []) => ['mirror', '--upstream', upstream, '--store', store, '--trust', pub, '--once', ...extra];

  /** After the cut the readers see one whole version, or none yet; never a mix, never a file the disk lost. */
  async function readersSeeOneVersion(store: string): Promise<void> {
    const readers = join(store, 'library', 'src');
    if (!existsSync(readers)) return;
    const seen = await digests(readers);
    const versions = [await digests(src), await digests(srcV2)];
    expect(versions.some((v) => isDeepStrictEqual(v, seen)), `the readers' tree is neither version whole: ${[...seen.keys()].length} files`).toBe(true);
  }

  // [what is cut, when, share of the unflushed writes kept]; the rounds cut at a time are slowed
  // down (--bwlimit) so that the cut comes while content is being fetched
  const cases: [string, (store: string) => CutAt, number][] = [
    ['the first round, fetching content', () => ({ afterMs: 700 }), 0],
    ['the round to v2, fetching content', () => ({ afterMs: 700 }), 0.5],
    ['the round to v2, building the readers\' tree', (store) => ({ dir: join(store, 'library', '.versions', 'src'), name: /\.building$/ }), 0],
    ['the round to v2, right after it ended', () => 'exit', 0],
  ];
  cases.forEach(([what, cutAt, keep], i) => {
    it(`${what}, keeping ${keep * 100}% of the unflushed writes: readers see one whole version, and the next round completes it`, async (ctx) => {
      if (!disk || !v1 || !v2) return ctx.skip();
      const store = join(disk.mnt, `mirror-${i}`);
      const at = cutAt(store);
      const upstream = i === 0 ? v1.url : v2.url;
      if (i > 0) expect((await run(round(v1.url, store))).code).toBe(0);
      const slow = typeof at === 'object' && 'afterMs' in at ? ['--bwlimit', '4MB/s'] : [];
      expect(await runUntilCut(round(upstream, store, slow), at, keep, 201 + i)).toBe(at !== 'exit');
      expect(await promisesBroken(store)).toEqual([]);
      await readersSeeOneVersion(store);
      // A round that said "updated" has its version shown after the cut, without another round.
      if (at === 'exit') expect(await digests(join(store, 'library', 'src'))).toEqual(await digests(srcV2));
      const next = await run(round(upstream, store));
      expect(next.code, next.stdout.slice(-2000) + next.stderr).toBe(0);
      expect(await digests(join(store, 'library', 'src'))).toEqual(await digests(i === 0 ? src : srcV2));
      expect(await promisesBroken(store)).toEqual([]);
      const check = await run(['check', '--store', store]);
      expect(check.code, check.stdout + check.stderr).toBe(0);
      await rm(store, { recursive: true, force: true });
    });
  });
});

describe('publish, and the power cut', () => {
  /** A mirror round from `repo` (served by nginx) into a fresh store: what readers would get from it. */
  async function mirroredFrom(repo: string, name: string): Promise<{ code: number | null; tree: Map<string, string> }> {
    const server = await startNginx(repo);
    try {
      const store = join(work, `from-${name}`);
      const r = await run(['mirror', '--upstream', server.url, '--store', store, '--trust', pub, '--once']);
      return { code: r.code, tree: r.code === 0 ? await digests(join(store, 'library', 'src')) : new Map() };
    } finally {
      await server.stop();
    }
  }

  // [what is cut, when, share of the unflushed writes kept]
  const cases: [string, CutAt, number][] = [
    ['the first version, writing content', { phase: 'write' }, 0],
    ['the first version, right after it ended', 'exit', 0],
    ['the second version, writing content', { phase: 'write' }, 0.5],
    ['the second version, right after it ended', 'exit', 0],
  ];
  cases.forEach(([what, at, keep], i) => {
    it(`${what}, keeping ${keep * 100}% of the unflushed writes: what the pointer names is whole, and the same command finishes`, async (ctx) => {
      if (!disk || !nginxAvailable()) return ctx.skip();
      const repo = join(disk.mnt, `repo-${i}`);
      const second = i >= 2;
      if (second) expect((await run(['publish', src, '--repo', repo, '--key', key])).code).toBe(0);
      const source = second ? srcV2 : src;
      expect(await runUntilCut(['publish', source, '--repo', repo, '--key', key], at, keep, 301 + i)).toBe(at !== 'exit');
      // The mirrors may fetch at any moment: whatever the pointer names after the cut is there, whole.
      if (existsSync(join(repo, 'latest.json'))) {
        const got = await mirroredFrom(repo, `cut-${i}`);
        expect(got.code).toBe(0);
        const expected = [await digests(src), ...(second ? [await digests(srcV2)] : [])];
        expect(expected.some((t) => isDeepStrictEqual(t, got.tree)), 'a mirror fetched neither version whole').toBe(true);
        // A publish that said it was done has its version out, without a rerun.
        if (at === 'exit') expect(got.tree).toEqual(await digests(source));
      } else {
        expect(second || at === 'exit').toBe(false);
      }
      const again = await run(['publish', source, '--repo', repo, '--key', key]);
      expect(again.code, again.stderr).toBe(0);
      const after = await mirroredFrom(repo, `after-${i}`);
      expect(after.code).toBe(0);
      expect(after.tree).toEqual(await digests(source));
      await rm(repo, { recursive: true, force: true });
    });
  });
});
