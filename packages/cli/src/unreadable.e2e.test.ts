import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTree, tempDir } from '../../../fixtures/tree.js';
import { jsonLines, run, sameFiles, snapshot } from './testkit.js';

/**
 * An import and a verify from a disk that gives read errors: an old USB disk with a bad place, and
 * one unplugged during the import. The real bookcrate runs with fixtures/eio/eio.c preloaded (LD_PRELOAD), which
 * makes the kernel's answer to certain reads EIO, as the disk's would be.
 */
const MiB = 1024 * 1024;
const EPOCH = { SOURCE_DATE_EPOCH: '1764374400' };
let work: string;
let src: string;
let disk: string;
let volume: string;
let pub: string;
let shim: string | undefined;

beforeAll(async () => {
  work = await tempDir('bookcrate-unreadable-');
  try {
    shim = join(work, 'eio.so');
    execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', shim, fileURLToPath(new URL('../../../fixtures/eio/eio.c', import.meta.url)), '-ldl'], { stdio: 'pipe' });
  } catch {
    shim = undefined; // no C compiler: the tests are skipped
  }
  src = join(work, 'src');
  // a lecture of 3 MiB, then 120 photos of 20 kB (国 sorts before 老): one segment
  const photos: Record<string, number> = {};
  for (let i = 1; i <= 120; i++) photos[`${String(i).padStart(3, '0')}.jpg`] = 20_000;
  await buildTree(src, { 老照片: photos, 国图公开课: { '第1讲.mp4': 3 * MiB } });
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  pub = join(work, 'center.pub');
  disk = join(work, 'disk');
  expect((await run(['pack', src, '--key', join(work, 'center.key'), '--out', disk], EPOCH)).code).toBe(0);
  volume = join(disk, (await readdir(disk))[0]!);
});

const withShim = (env: Record<string, string>): Record<string, string> => ({ LD_PRELOAD: shim!, EIO_MATCH: volume.split('/').pop()!, ...env });

describe('import and verify from a disk that gives read errors', () => {
  it('a bad place: the files there are recorded as unreadable, every other file goes in; verify names the same files; the same disk again brings them once it reads', async (ctx) => {
    if (!shim) ctx.skip();
    const store = join(work, 'store-bad-place');
    // 200 kB of the segment cannot be read, among the photos (each takes 20,480 bytes of tar and its header)
    const bad0 = { EIO_MATCH: 'v01-s000001.tar', EIO_FROM: '3600000', EIO_TO: '3800000' };
    const r = await run(['import', volume, '--store', store, '--trust', pub, '--json'], withShim(bad0));
    expect(r.code, r.stderr).toBe(1);
    const report = jsonLines(r.stdout).find((e) => e.event === 'result') as { damaged: { path: string; reason: string; offset: number; detail: string }[]; imported: { files: number } };
    const bad = report.damaged;
    // The photos that lie on the bad place, and at most a couple of neighbours (reads past it are 32 KiB).
    expect(bad.length).toBeGreaterThanOrEqual(9);
    expect(bad.length).toBeLessThanOrEqual(13);
    for (const d of bad) {
      expect(d.reason).toBe('unreadable');
      expect(d.path).toMatch(/^老照片\/\d{3}\.jpg$/);
      expect(d.offset).toBeGreaterThan(3_600_000 - 64 * 1024);
      expect(d.offset).toBeLessThan(3_800_000);
      expect(d.detail).toMatch(/cannot be read from the disk: EIO at byte \d+ of v01-s000001\.tar/);
    }
    // Everything else is in the store, byte for byte: the photos after the bad place and the lecture too.
    const lib = join(store, 'library', 'src');
    const source = await snapshot(src);
    const shown = await snapshot(lib);
    expect(shown.size).toBe(source.size - bad.length);
    for (const [path, bytes] of shown) expect(bytes.equals(source.get(path)!), path).toBe(true);
    expect((await readFile(join(lib, '国图公开课', '第1讲.mp4'))).equals(source.get('国图公开课/第1讲.mp4')!)).toBe(true);
    // Said in the librarian's words, and recorded for the mirror or the next disk.
    const zh = await run(['status', '--store', store], { LANG: 'zh_CN.UTF-8' });
    expect(zh.stdout).toMatch(new RegExp(`无法读取 +${bad[0]!.path}\n`));
    // verify, before or after, names the same files as import did (it reads past the bad place too).
    for (const mode of [[], ['--strict']]) {
      const checked = await run(['verify', volume, '--json', ...mode], withShim(bad0));
      expect(checked.code, checked.stderr).toBe(1);
      const v = jsonLines(checked.stdout).find((e) => e.event === 'result') as { problems: { kind: string; path?: string; offset: number; length?: number }[]; damagedFiles: number };
      expect(v.problems.filter((p) => p.kind === 'file-unreadable').map((p) => p.path).sort()).toEqual(bad.map((d) => d.path).sort());
      expect(v.damagedFiles).toBe(bad.length);
      // and where the disk would not read: the bad place, to the sector (4 KiB)
      const place = v.problems.filter((p) => p.kind === 'segment-unreadable');
      expect(place).toHaveLength(1);
      expect(place[0]!.offset).toBeGreaterThan(3_600_000 - 4096);
      expect(place[0]!.offset).toBeLessThanOrEqual(3_600_000);
      expect(place[0]!.offset + place[0]!.length!).toBeGreaterThanOrEqual(3_800_000);
      expect(place[0]!.offset + place[0]!.length!).toBeLessThan(3_800_000 + 4096);
      // nothing else: no damaged headers or padding for the zeros where the disk gave nothing
      expect(v.problems).toHaveLength(bad.length + 1);
    }
    const zhVerify = await run(['verify', volume], { ...withShim(bad0), LANG: 'zh_CN.UTF-8' });
    expect(zhVerify.code).toBe(1);
    expect(zhVerify.stdout).toMatch(new RegExp(`无法读取 +${bad[0]!.path}  v01-s000001\\.tar@\\d+\n`));
    expect(zhVerify.stdout).toMatch(/盘上读不出 +v01-s000001\.tar@\d+ \(2\d\d KiB\)\n/);
    // the place on the disk first, then the files it costs
    expect(zhVerify.stdout.indexOf('盘上读不出')).toBeLessThan(zhVerify.stdout.indexOf(`无法读取 `));
    // The same disk read again (the bad place read this time): those files go in.
    const again = await run(['import', volume, '--store', store]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`${bad.length} file(s)`);
    sameFiles(await snapshot(lib), source);
  });

  it('pack\'s read-back (O_DIRECT) of a new disk with a bad place names the files there, and the place', async (ctx) => {
    if (!shim) ctx.skip();
    const fresh = join(work, 'fresh-disk');
    const r = await run(['pack', src, '--key', join(work, 'center.key'), '--out', fresh], { ...EPOCH, LD_PRELOAD: shim!, EIO_MATCH: 'v01-s000001.tar', EIO_FROM: '3600000', EIO_TO: '3800000' });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('read-back (O_DIRECT, past the page cache): 1 volume copy(ies) DAMAGED');
    const files = [...r.stdout.matchAll(/: (老照片\/\d{3}\.jpg) cannot be read from the disk: a bad place at offset \d+ of v01-s000001\.tar/g)].map((m) => m[1]);
    expect(files.length).toBeGreaterThanOrEqual(9);
    expect(files.length).toBeLessThanOrEqual(11);
    expect(r.stdout).toMatch(/the disk gives read errors for bytes (359\d{4}|3600000) to (380\d{4}|3800000) of v01-s000001\.tar: a bad place/);
  });

  it('a disk unplugged during the import: stopped with the way out, nothing recorded as damaged; plugged in again, the same command finishes', async (ctx) => {
    if (!shim) ctx.skip();
    // verify too stops (exit 4, as its exit codes say) rather than call a whole disk damaged
    for (const mode of [[], ['--strict']]) {
      const checked = await run(['verify', volume, ...mode], { ...withShim({ EIO_GONE_AFTER: String(2 * MiB) }), LANG: 'zh_CN.UTF-8' });
      expect(checked.code).toBe(4);
      // (a segment, or a part of the manifest, whichever is read first once the disk is gone)
      expect(checked.stderr).toMatch(/^bookcrate：无法读取盘上的.*：EIO: i\/o error, read.*\n  处理办法：请检查/m);
    }
    const store = join(work, 'store-gone');
    const r = await run(['import', volume, '--store', store, '--trust', pub], withShim({ EIO_GONE_AFTER: String(2 * MiB) }));
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^bookcrate: cannot read .*v01-s000001\.tar at byte \d+: EIO: i\/o error, read; the disk no longer answers\n  what to do: check that the disk is connected/m);
    const zh = await run(['import', volume, '--store', join(work, 'store-gone-zh'), '--trust', pub], { ...withShim({ EIO_GONE_AFTER: String(2 * MiB) }), LANG: 'zh_CN.UTF-8' });
    expect(zh.code).toBe(4);
    expect(zh.stderr).toMatch(/这块盘已无法读取\n  处理办法：请检查盘是否连接牢靠/);
    const st = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { damaged: number }[] };
    for (const v of st.versions) expect(v.damaged).toBe(0);
    const again = await run(['import', volume, '--store', store]);
    expect(again.code, again.stderr).toBe(0);
    sameFiles(await snapshot(join(store, 'library', 'src')), await snapshot(src));
  });
});
