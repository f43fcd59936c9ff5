/**
 * Fuzzing verify and import with hostile volumes (fixtures/hostile.ts): a good volume is copied,
 * one seeded mutation applied (bytes flipped or zeroed, files cut, grown, removed, swapped, replaced
 * by folders or symlinks, tar headers forged with `..`, links, devices, huge sizes and pax records,
 * JSON of the wrong shape), then `verifyVolume` and `importVolume` run on it in this process, and
 * then the good disk is imported into the same store. What must hold for every mutation:
 *
 * - both end in a report or a BookcrateError (the CLI's exit codes 1–6), never another error (the
 *   CLI's 70, "a bug") and never a hang;
 * - a change to any byte the signature covers is found: verify does not say all good;
 * - a change to nothing signed (an extra file beside the volume's own) is not a problem at all;
 * - nothing is written outside the store, whatever names the headers carry;
 * - every object in the store holds the bytes its name (SHA-256) says; a version shown to readers is
 *   the source tree, byte for byte;
 * - the good disk afterwards completes the version: the hostile one lost nothing that was good and
 *   left nothing that stands in the way.
 *
 * `pnpm fuzz` runs many more seeds (FUZZ_ITERATIONS, FUZZ_SEED); a failure names the seed that
 * reproduces it: `FUZZ_SEED=<seed> FUZZ_ITERATIONS=1 pnpm fuzz`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, cp, lstat, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BookcrateError, isBookcrateError, loadPublicKey } from '@bookcrate/format';
import { verifyVolume } from '@bookcrate/volume';
import { buildTree, tempDir } from '../../../fixtures/tree.js';
import { mutateVolume, type Mutation } from '../../../fixtures/hostile.js';
import { killWhen, run, snapshot } from '../../cli/src/testkit.js';
import { importVolume, type ImportReport } from './import.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 24);
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
/** FUZZ_SEEDS=7,42,…: just these (a campaign's failures, run again) */
const SEEDS = process.env.FUZZ_SEEDS ? process.env.FUZZ_SEEDS.split(',').map(Number) : Array.from({ length: ITERATIONS }, (_, i) => FIRST_SEED + i);
/** One mutation's verify, import and good import together; far more than they take (~1 s). */
const STEP_TIMEOUT_MS = 60_000;

let work: string;
let goodVolume: string;
let volumeSource: Map<string, Buffer>;
/** a set of several volumes (12 MB disks): a lecture continues from one onto the next */
let goodSet: string[];
let setSource: Map<string, Buffer>;
let trust: ReturnType<typeof loadPublicKey>;

beforeAll(async () => {
  work = await tempDir('hostile-');
  const src = join(work, 'src');
  // three segments of 4 MiB: a lecture spanning all of them, photos in every one, Chinese names,
  // an empty file and an empty folder
  const photos: Record<string, number> = {};
  for (let i = 1; i <= 40; i++) photos[`照片${String(i).padStart(3, '0')}.jpg`] = 300 + i * 613;
  await buildTree(src, {
    国图公开课: { '第1讲.mp4': 9 * 1024 * 1024 + 77, '讲义.pdf': 100_000 },
    老照片: { 北京街景: photos, '空白说明.txt': '', 待整理: {} },
    政府公开信息: { '2026年工作报告.txt': '县政府工作报告全文' },
  });
  volumeSource = await snapshot(src);
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  trust = loadPublicKey(await readFile(join(work, 'center.pub'), 'utf8'), 'test key');
  await writeFile(join(work, 'recipe.json'), JSON.stringify({ bundle: { id: 'county', title: '县级资源包', version: 1 }, collections: [{ id: 'all', title: '全部', source: src }] }));
  const packed = await run(['pack', join(work, 'recipe.json'), '--key', join(work, 'center.key'), '--out', join(work, 'disk'), '--segment-size', '4MiB', '--no-verify']);
  expect(packed.code, packed.stderr).toBe(0);
  goodVolume = join(work, 'disk', (await readdir(join(work, 'disk')))[0]!);
  expect((await readdir(join(goodVolume, 'segments'))).length).toBe(3);

  const setSrc = join(work, 'set-src');
  await buildTree(setSrc, { 学术讲座: { '长讲座.mp4': 20 * 1024 * 1024 + 4321, '讲义.pdf': 300_000 }, 老照片: photos });
  setSource = await snapshot(setSrc);
  await writeFile(join(work, 'set-recipe.json'), JSON.stringify({ bundle: { id: 'countyset', title: '分盘资源包', version: 1 }, collections: [{ id: 'all', title: '全部', source: setSrc }] }));
  const set = await run(['pack', join(work, 'set-recipe.json'), '--key', join(work, 'center.key'), '--out', join(work, 'set'), '--disk-size', '12MB', '--segment-size', '4MiB', '--no-verify']);
  expect(set.code, set.stderr).toBe(0);
  goodSet = (await readdir(join(work, 'set'))).sort().map((n) => join(work, 'set', n));
  expect(goodSet.length).toBeGreaterThanOrEqual(2);
});

type Outcome<T> = { ok: T } | { error: BookcrateError };

/** Runs `step`; a BookcrateError is an outcome, anything else fails the test with the mutation named. */
async function outcome<T>(step: () => Promise<T>, m: Mutation, what: string): Promise<Outcome<T>> {
  try {
    return { ok: await step() };
  } catch (e) {
    if (isBookcrateError(e) && e.code !== 'INTERNAL') return { error: e };
    throw new Error(`${what} after "${m.what}" ended in an error that is not a BookcrateError (the CLI's exit 70): ${(e as Error)?.stack ?? String(e)}`);
  }
}

/** Every object in the store holds the bytes its name says. */
async function objectsSound(store: string): Promise<number> {
  const root = join(store, 'objects');
  let n = 0;
  let shards: string[];
  try { shards = await readdir(root); } catch { return 0; }
  for (const shard of shards) {
    for (const name of await readdir(join(root, shard))) {
      const sha = createHash('sha256').update(await readFile(join(root, shard, name))).digest('hex');
      expect(sha, `objects/${shard}/${name}`).toBe(name);
      n++;
    }
  }
  return n;
}

/**
 * The readers' tree of the bundle is the source, byte for byte, but for the files an import found
 * damaged (a version is shown without them, and the mirror or a good disk brings them: docs/store.md).
 */
async function shownIsSource(store: string, where: string, damaged: string[] = [], bundle = 'county', source = volumeSource): Promise<void> {
  // no folder: every file of the collection was damaged (one segment can hold them all)
  const shown = await snapshot(join(store, 'library', bundle, '全部')).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return new Map<string, Buffer>();
    throw e;
  });
  const expected = [...source.keys()].filter((p) => !damaged.includes(p)).sort();
  expect([...shown.keys()].sort(), where).toEqual(expected);
  for (const p of expected) expect(shown.get(p)?.equals(source.get(p)!), `${where}: ${p}`).toBe(true);
}

async function escaped(): Promise<string[]> {
  const found: string[] = [];
  for (const p of ['/tmp/bookcrate-escaped', '/etc/bookcrate-escaped', '/etc/passwd.bookcrate']) {
    if (await lstat(p).then(() => true, () => false)) found.push(p);
  }
  return found;
}

function withTimeout<T>(p: Promise<T>, m: Mutation, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const limit = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} after "${m.what}" did not end within ${STEP_TIMEOUT_MS / 1000} s`)), STEP_TIMEOUT_MS); });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

describe('a volume whose files are not files (found by the fuzzing: verify and import read /dev/zero forever)', () => {
  const cases: { file: string; make: (path: string) => Promise<void>; what: string }[] = [
    { file: 'bookcrate/root.json', make: (p) => symlink('/dev/zero', p), what: 'a link to /dev/zero' },
    { file: 'bookcrate/root.sig', make: async (p) => void execFileSync('mkfifo', [p]), what: 'a FIFO' },
    { file: 'bookcrate/volume.json', make: (p) => mkdir(p), what: 'a folder' },
    { file: 'center.pub', make: (p) => symlink('/dev/urandom', p), what: 'a link to /dev/urandom' },
  ];
  for (const c of cases) {
    it(`${c.file} as ${c.what}: a format error naming it, at once`, async () => {
      const volume = join(await tempDir('not-a-file-'), 'volume');
      await cp(goodVolume, volume, { recursive: true });
      await rm(join(volume, c.file));
      await c.make(join(volume, c.file));
      const started = Date.now();
      // center.pub is only read without a trusted key
      const verified = verifyVolume(volume, c.file === 'center.pub' ? { mode: 'full' } : { mode: 'full', trustedKey: trust });
      await expect(verified).rejects.toMatchObject({ code: 'FORMAT', message: expect.stringContaining('it is not a file') });
      await expect(importVolume({ volume, store: join(volume, '..', 'store'), ...(c.file === 'center.pub' ? { yes: true } : { trust }) }))
        .rejects.toMatchObject({ code: 'FORMAT', message: expect.stringMatching(new RegExp(`${c.file.split('/').pop()!}.*it is not a file`)) });
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  }

  it('a segment as a link to /dev/zero: verify finds it missing, import takes the rest, the good disk the missing', async () => {
    const here = await tempDir('not-a-file-');
    const volume = join(here, 'volume');
    await cp(goodVolume, volume, { recursive: true });
    await rm(join(volume, 'segments', 'v01-s000002.tar'));
    await symlink('/dev/zero', join(volume, 'segments', 'v01-s000002.tar'));
    const report = await verifyVolume(volume, { mode: 'full', trustedKey: trust });
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'segment-missing', segment: 'v01-s000002.tar', detail: expect.stringContaining('is not a file') }));
    const imported = await importVolume({ volume, store: join(here, 'store'), trust });
    expect(imported.damaged.map((d) => d.path)).toEqual(['全部/国图公开课/第1讲.mp4']);
    await shownIsSource(join(here, 'store'), 'without the lecture', ['国图公开课/第1讲.mp4']);
    expect((await importVolume({ volume: goodVolume, store: join(here, 'store'), trust })).damaged).toEqual([]);
    await shownIsSource(join(here, 'store'), 'after the good disk');
  });
});

describe.skipIf(SEEDS.length === 0)(`hostile volumes: ${SEEDS.length} seeded mutations from seed ${SEEDS[0]} (fixtures/hostile.ts)`, () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const here = join(work, `seed-${seed}`);
      const volume = join(here, 'volume');
      const store = join(here, 'store');
      await mkdir(here);
      await cp(goodVolume, volume, { recursive: true });
      const m = await mutateVolume(volume, seed);

      // verify, full and fast
      const full = await withTimeout(outcome(() => verifyVolume(volume, { mode: 'full', trustedKey: trust }), m, 'verify'), m, 'verify');
      if (m.signedContent) {
        expect('ok' in full && full.ok.ok, `verify said all good after "${m.what}"`).toBe(false);
      } else {
        expect('ok' in full ? full.ok.ok : full.error.message, `verify after "${m.what}"`).toBe(true);
      }
      await withTimeout(outcome(() => verifyVolume(volume, { mode: 'fast', trustedKey: trust }), m, 'verify --fast'), m, 'verify --fast');

      // import the hostile disk
      const imported = await withTimeout(outcome<ImportReport>(() => importVolume({ volume, store, trust }), m, 'import'), m, 'import');
      expect(await escaped(), `written outside the store after "${m.what}"`).toEqual([]);
      expect((await readdir(here)).sort(), `written beside the store after "${m.what}"`).toEqual(['store', 'volume']);
      await objectsSound(store);
      if ('ok' in imported) {
        const r = imported.ok;
        if (!m.signedContent) {
          expect(r.damaged, m.what).toEqual([]);
          expect(r.versionComplete, m.what).toBe(true);
        }
        if (r.current) await shownIsSource(store, `after the hostile import ("${m.what}")`, r.damaged.map((d) => d.path.replace(/^全部\//, '')));
      }

      if (process.env.FUZZ_LOG) {
        const said = (o: Outcome<unknown>) => ('ok' in o ? 'report' : o.error.code);
        await appendFile(process.env.FUZZ_LOG, JSON.stringify({
          test: 'volume', seed, mutation: m.what, verify: 'ok' in full ? (full.ok.ok ? 'ok' : 'problems') : full.error.code,
          import: 'ok' in imported ? (imported.ok.damaged.length ? `damaged ${imported.ok.damaged.length}` : 'ok') : said(imported),
        }) + '\n');
      }

      // the good disk completes the version in the same store
      const good = await withTimeout(outcome(() => importVolume({ volume: goodVolume, store, trust }), m, 'the good disk\'s import'), m, 'the good disk\'s import');
      expect('ok' in good ? good.ok.versionComplete : good.error.message, `the good disk after "${m.what}"`).toBe(true);
      await shownIsSource(store, `after the good disk ("${m.what}")`);
      expect(await objectsSound(store)).toBeGreaterThan(0);
      // passed: its copies go now (a long campaign would fill the disk); a failure's stay to look at
      await rm(here, { recursive: true, force: true });
    }, STEP_TIMEOUT_MS * 4);
  }
});

describe('a file spanning volumes, damaged on one of them (found by the fuzzing: the good copy of that disk did not bring it)', () => {
  it('keeps the parts from the other disks, so that the good copy of the damaged one completes the file', async () => {
    const here = await tempDir('spanning-');
    const store = join(here, 'store');
    const bad = join(here, 'volume2');
    await cp(goodSet[1]!, bad, { recursive: true });
    const first = join(bad, 'segments', (await readdir(join(bad, 'segments'))).sort()[0]!);
    const bytes = await readFile(first);
    bytes[8192] = bytes[8192]! ^ 0x10; // in the lecture's part that continues from volume 1
    await writeFile(first, bytes);
    const damaged: string[] = [];
    for (const v of [goodSet[0]!, bad, ...goodSet.slice(2)]) damaged.push(...(await importVolume({ volume: v, store, trust })).damaged.map((d) => d.detail));
    expect(damaged).toEqual([expect.stringMatching(/长讲座\.mp4, assembled from its parts on volumes 1, 2.*, does not match its SHA-256/)]);
    // every part kept (the first volume's among them), the file shown without
    expect((await readdir(join(store, 'tmp', 'parts'))).length).toBeGreaterThanOrEqual(2);
    await shownIsSource(store, 'without the lecture', ['学术讲座/长讲座.mp4'], 'countyset', setSource);
    const again = await importVolume({ volume: goodSet[1]!, store, trust });
    expect(again.damaged).toEqual([]);
    expect(again.imported.files).toBe(1);
    await shownIsSource(store, 'after the good copy of volume 2', [], 'countyset', setSource);
    expect(await readdir(join(store, 'tmp', 'parts'))).toEqual([]);
  });
});

describe('a file spanning volumes, assembled, and the import killed before its commit (found by the fuzzing)', () => {
  it('keeps the parts until the commit records the object, so the same command again completes the file', async () => {
    const here = await tempDir('spanning-kill-');
    const store = join(here, 'store');
    for (const v of goodSet.slice(0, -1)) await importVolume({ volume: v, store, trust });
    const lecture = createHash('sha256').update(setSource.get('学术讲座/长讲座.mp4')!).digest('hex');
    const object = join(store, 'objects', lecture.slice(0, 2), lecture);
    const args = ['import', goodSet[goodSet.length - 1]!, '--store', store, '--trust', join(work, 'center.pub')];
    // killed as soon as the assembled lecture is in objects/, before the commit that records it
    let killed = false;
    for (let tries = 0; tries < 5 && !killed; tries++) {
      killed = await killWhen(args, {}, () => stat(object).then(() => true, () => false));
      if (!killed) {
        // finished first (a fast machine): start over from the two first disks
        await rm(store, { recursive: true, force: true });
        for (const v of goodSet.slice(0, -1)) await importVolume({ volume: v, store, trust });
      }
    }
    expect(killed).toBe(true);
    const again = await run(args);
    expect(again.code, again.stderr).toBe(0);
    await shownIsSource(store, 'after the import run again', [], 'countyset', setSource);
    expect(await readdir(join(store, 'tmp', 'parts'))).toEqual([]);
  });
});

describe('an import that fails part way (the fuzzing left such imports "running" in the store\'s list for ever)', () => {
  it('is listed as failed, with what stopped it; the same command again finishes', async () => {
    const store = join(await tempDir('failed-import-'), 'store');
    // an error raised from inside the import's last commit, its first segments committed already
    await expect(importVolume({
      volume: goodVolume, store, trust,
      onProgress: (p) => {
        if (p.phase === 'publish') throw new BookcrateError('IO', 'the test pulled the plug');
      },
    })).rejects.toThrow('the test pulled the plug');
    const status = await run(['status', '--store', store, '--json']);
    const imports = (JSON.parse(status.stdout.split('\n')[0]!) as { imports: { id: number; state: string }[] }).imports;
    expect(imports).toEqual([expect.objectContaining({ state: 'failed' })]);
    const one = await run(['status', '--store', store, '--import', String(imports[0]!.id)]);
    expect(one.stdout).toContain('It stopped with: the test pulled the plug');
    const zh = await run(['status', '--store', store, '--import', String(imports[0]!.id)], { LANG: 'zh_CN.UTF-8' });
    expect(zh.stdout).toMatch(/（失败）[\s\S]*导入因以下错误停止：the test pulled the plug/);
    expect((await importVolume({ volume: goodVolume, store, trust })).versionComplete).toBe(true);
    await shownIsSource(store, 'after the same command again');
  });
});

/** Half as many seeds for the set (three disks a seed): all of FUZZ_SEEDS when they are given. */
const SET_SEEDS = process.env.FUZZ_SEEDS ? SEEDS : SEEDS.slice(0, Math.ceil(SEEDS.length / 2));

describe.skipIf(SET_SEEDS.length === 0)(`hostile volumes of a set: ${SET_SEEDS.length} seeded mutations of one of its disks`, () => {
  for (const seed of SET_SEEDS) {
    it(`seed ${seed}`, async () => {
      const here = join(work, `set-seed-${seed}`);
      const store = join(here, 'store');
      await mkdir(here);
      const copies = goodSet.map((v, i) => join(here, `volume${i + 1}`));
      for (const [i, v] of goodSet.entries()) await cp(v, copies[i]!, { recursive: true });
      const bad = seed % copies.length;
      const m = await mutateVolume(copies[bad]!, seed);
      m.what = `volume ${bad + 1} of ${copies.length}: ${m.what}`;

      for (const [i, v] of copies.entries()) {
        const full = await withTimeout(outcome(() => verifyVolume(v, { mode: 'full', trustedKey: trust }), m, `verify of volume ${i + 1}`), m, 'verify');
        const good = i !== bad || !m.signedContent;
        expect('ok' in full ? full.ok.ok : full.error.message, `verify of volume ${i + 1} after "${m.what}"`).toBe(good ? true : ('ok' in full ? false : full.error.message));
      }

      // the disks in the seed's order, the hostile one among them; then a good copy of the bad one
      const order = seed % 4 < 2 ? copies : [...copies].reverse();
      let last: Outcome<ImportReport> | undefined;
      const damaged: string[] = [];
      for (const v of order) {
        last = await withTimeout(outcome<ImportReport>(() => importVolume({ volume: v, store, trust }), m, 'import'), m, 'import');
        if ('ok' in last) damaged.push(...last.ok.damaged.map((d) => d.path.replace(/^全部\//, '')));
      }
      expect(await escaped(), `written outside the store after "${m.what}"`).toEqual([]);
      await objectsSound(store);
      if (last && 'ok' in last && last.ok.current) await shownIsSource(store, `after the hostile set ("${m.what}")`, damaged, 'countyset', setSource);
      if (process.env.FUZZ_LOG) {
        await appendFile(process.env.FUZZ_LOG, JSON.stringify({ test: 'set', seed, mutation: m.what, lastImport: last && ('ok' in last ? (last.ok.versionComplete ? 'complete' : 'incomplete') : last.error.code) }) + '\n');
      }
      const again = await withTimeout(outcome(() => importVolume({ volume: goodSet[bad]!, store, trust }), m, 'the good disk\'s import'), m, 'the good disk\'s import');
      expect('ok' in again ? again.ok.versionComplete : again.error.message, `the good copy of volume ${bad + 1} after "${m.what}"`).toBe(true);
      if (process.env.FUZZ_DEBUG) console.log(JSON.stringify(again, null, 1).slice(0, 3000));
      await shownIsSource(store, `after the good disk ("${m.what}")`, [], 'countyset', setSource);
      await objectsSound(store);
      expect(await readdir(join(store, 'tmp', 'parts')).catch(() => [])).toEqual([]);
      await rm(here, { recursive: true, force: true });
    }, STEP_TIMEOUT_MS * 6);
  }
});
