import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkStore, Store, YieldingLock } from '@bookcrate/store';
import Database from 'better-sqlite3';
import { buildTree } from '../../../fixtures/tree.js';
import { BIN, importedStore, jsonLines, run, snapshot, startServe } from './testkit.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const objectPath = (store: string, bytes: Buffer) => { const h = sha256(bytes); return join(store, 'objects', h.slice(0, 2), h); };
const exists = (p: string) => stat(p).then(() => true, () => false);

describe('bookcrate check', () => {
  it('finds the store\'s changed and missing files, records them damaged, puts the readers\' folder right; the disk brings them back', async () => {
    const { src, disk, store, readers } = await importedStore('bookcrate-check-', {
      天安门: { '1959.jpg': 20_000, '1976.jpg': 30_000 }, 颐和园: { '佛香阁.jpg': 25_000, '长廊.jpg': 15_000 },
    });
    const edited = '天安门/1959.jpg'; // someone edits a reader's file in place: the store's own file (a hard link)
    const lost = '颐和园/佛香阁.jpg'; // the store's file is gone (a bad sector's file removed by fsck)
    const removed = '颐和园/长廊.jpg'; // deleted from the readers' folder only
    const replaced = '天安门/1976.jpg'; // another file of the same size saved over it (a new file: the store's is untouched)
    expect(await exists(join(readers, edited)), 'the readers\' folder holds the bundle\'s paths').toBe(true);

    // Until it is first checked, status tells the librarian the command.
    expect((await run(['status', '--store', store])).stdout).toContain(`The store's files have never been read back: run bookcrate check --store ${store}`);
    const clean = await run(['check', '--store', store, '--json']);
    expect(clean.code, clean.stderr).toBe(0);
    const first = jsonLines(clean.stdout).find((l) => l.event === 'result')!;
    expect(first).toMatchObject({ mode: 'full', ok: true, badCount: 0, checked: { objects: 4 } });

    const fh = await open(join(readers, edited), 'r+');
    await fh.write(Buffer.from([0x42]), 0, 1, 1000);
    await fh.close();
    // Gone from both names: the readers' hard link alone would keep the bytes (a check puts them back then).
    await unlink(objectPath(store, await readFile(join(src, lost))));
    await unlink(join(readers, lost));
    await unlink(join(readers, removed));

    // --fast: sizes and presence. The lost file is found; the edited one keeps its size and is not.
    const fast = await run(['check', '--store', store, '--fast', '--report', join(store, '..', '检查报告.txt')], { LANG: 'zh_CN.UTF-8' });
    // The report for printing: the screen's words, with a BOM and CRLF for Notepad.
    const saved = await readFile(join(store, '..', '检查报告.txt'), 'utf8');
    expect(saved.startsWith('\ufeffbookcrate 资源库检查报告：')).toBe(true);
    expect(saved).toContain(`库中缺失     folder-`);
    expect(saved).toMatch(/\r\n结论：有损坏。/);
    expect(fast.code, fast.stderr).toBe(1);
    expect(fast.stdout).toContain('结论：有损坏。资源库中有 1 个文件已不是原来的内容');
    expect(fast.stdout).toMatch(new RegExp(`库中缺失 +\\S+ v1 ${lost}`));
    expect(fast.stdout).toContain('已根据资源库重新生成读者目录');
    expect(await exists(join(readers, removed)), 'put back from the store').toBe(true);
    expect(await exists(join(readers, lost)), 'no longer offered').toBe(false);
    // The fast check built the readers' folder again; now a file there is saved over with another.
    await writeFile(join(readers, `${replaced}.new`), Buffer.alloc(30_000, 1));
    await rename(join(readers, `${replaced}.new`), join(readers, replaced));
    expect((await run(['check', '--store', store, '--fast'])).code, 'same size: --fast does not read it').toBe(0);

    // In full every byte is read: the edited file is found, and taken out of the readers' folder.
    const full = await run(['check', '--store', store, '--json']);
    expect(full.code).toBe(1);
    const found = jsonLines(full.stdout).find((l) => l.event === 'result') as { bad: { reason: string; files: { path: string }[] }[]; damagedFiles: number };
    expect(found.bad.map((b) => [b.reason, b.files.map((f) => f.path)])).toEqual([['store-changed', [edited]]]);
    expect(await exists(join(readers, edited))).toBe(false);
    // The replaced file is a copy of nothing the store has: read, found other, and put back.
    expect((found as unknown as { trees: { problems: { path: string; reason: string }[]; rebuilt: boolean }[] }).trees[0]).toMatchObject({ problems: [{ path: replaced, reason: 'changed' }], rebuilt: true });
    expect((await readFile(join(readers, replaced))).equals(await readFile(join(src, replaced)))).toBe(true);
    expect(await exists(objectPath(store, await readFile(join(src, edited)))), 'the bad bytes are deleted').toBe(false);

    // status lists both, for the mirror or a disk to bring back; it also tells the checks.
    const status = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { damagedFiles: { path: string; reason: string }[] }[]; checks: { mode: string; bad: number; finished: string | null }[] };
    expect(status.versions[0]!.damagedFiles.map((d) => [d.path, d.reason]).sort()).toEqual([[lost, 'store-missing'], [edited, 'store-changed']].sort());
    expect((await run(['status', '--store', store])).stdout).not.toContain('read back');
    expect(status.checks.map((c) => [c.mode, c.bad, !!c.finished])).toEqual([['full', 1, true], ['fast', 0, true], ['fast', 1, true], ['full', 0, true]]);

    // The status page of `serve` says the same, in the readers' language.
    const served = await startServe(store);
    try {
      const page = await (await fetch(served.url + '/status')).text();
      expect(page).toContain('资源库中的文件已损坏（bookcrate check 发现）');
      expect(page).toContain('资源库中的文件不见了（bookcrate check 发现）');
      expect(page.replace(/<[^>]+>/g, ' ')).toMatch(/资源库检查[\s\S]*逐字节 +已完成[\s\S]*快速（只查大小） +已完成/);
    } finally {
      served.child.kill('SIGTERM');
    }

    // The disk that arrived last quarter brings them back, reading only them.
    const again = await run(['import', disk, '--store', store]);
    expect(again.code, again.stderr).toBe(0);
    for (const p of [edited, lost, removed, replaced]) expect((await readFile(join(readers, p))).equals(await readFile(join(src, p))), p).toBe(true);
    const after = await run(['check', '--store', store]);
    expect(after.code, after.stdout).toBe(0);
    expect(after.stdout).toContain('Result: OK.');
  });

  it('reads the catalog itself too, and says a damaged one with what to do first', async () => {
    const { store } = await importedStore('bookcrate-check-catalog-', { 天安门: { '1959.jpg': 2000, '1976.jpg': 3000 } });
    // A bad sector under catalog.sqlite: the index of files by hash gets nonsense in its page header.
    const db = new Database(join(store, 'catalog.sqlite'), { readonly: true });
    const root = db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'files_by_sha'").pluck().get() as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const fh = await open(join(store, 'catalog.sqlite'), 'r+');
    await fh.write(Buffer.from([0x7f, 0x7f, 0x00, 0x05]), 0, 4, (root - 1) * pageSize + 3);
    await fh.close();
    const r = await run(['check', '--store', store, '--json']);
    expect(r.code, r.stderr).toBe(1);
    const res = jsonLines(r.stdout).find((l) => l.event === 'result') as { ok: boolean; badCount: number; catalog: { problems: string[] } };
    expect(res).toMatchObject({ ok: false, badCount: 0 });
    expect(res.catalog.problems.join('\n')).toMatch(/files_by_sha|btreeInitPage/);
    const zh = await run(['check', '--store', store], { LANG: 'zh_CN.UTF-8' });
    expect(zh.stdout).toContain('目录数据库（catalog.sqlite）已损坏');
    expect(zh.stdout).toContain('结论：目录数据库已损坏。请先保持资源库原样，把整个资源库文件夹复制到安全的地方');
    // --fast does not read the catalog's every page.
    expect(jsonLines((await run(['check', '--store', store, '--fast', '--json'])).stdout).find((l) => l.event === 'result')).toMatchObject({ catalog: null, ok: true });
    // A catalog that is no database at all (its header gone): every command says so, with the way
    // out, instead of "internal error: this is a bug".
    const head = await open(join(store, 'catalog.sqlite'), 'r+');
    await head.write(Buffer.from('not a database!!'), 0, 16, 0);
    await head.close();
    for (const args of [['status', '--store', store], ['check', '--store', store], ['serve', '--store', store, '--listen', '127.0.0.1:0']]) {
      const bad = await run(args, { LANG: 'zh_CN.UTF-8' });
      expect(bad.code, `${args[0]}: ${bad.stderr}`).toBe(4);
      expect(bad.stderr).toMatch(/^bookcrate：资源库的目录数据库 catalog\.sqlite 已损坏（file is not a database）\n  处理办法：资源库所在的磁盘可能有问题：请先把整个资源库文件夹复制到安全的地方/);
    }
  });

  it('a store whose files folder is gone (a disk not connected) is not 4 TB of damage: nothing is recorded', async () => {
    const { store } = await importedStore('bookcrate-check-gone-', { 天安门: { '1959.jpg': 2000 } });
    await rename(join(store, 'objects'), join(store, 'objects.away'));
    const r = await run(['check', '--store', store], { LANG: 'zh_CN.UTF-8' });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^bookcrate：无法使用资源库中的 .*objects/);
    await rename(join(store, 'objects.away'), join(store, 'objects'));
    const status = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { damagedFiles: unknown[] }[] };
    expect(status.versions[0]!.damagedFiles).toEqual([]);
    expect((await run(['check', '--store', store])).code).toBe(0);
  });

  it('an import that comes while a check holds the store goes first, between two pages, instead of being refused', async () => {
    const { work, store } = await importedStore('bookcrate-check-yield-', { 天安门: { '1959.jpg': 2000 } });
    await buildTree(join(work, '地方戏'), { 川剧: { '变脸.mp4': 4000 } });
    const disk2 = join(work, 'disk2');
    expect((await run(['pack', join(work, '地方戏'), '--key', join(work, 'center.key'), '--out', disk2])).code).toBe(0);
    // This process holds the store as a running check does.
    const lock = await YieldingLock.acquire(join(store, 'lock'), 'check', false);
    try {
      const importing = run(['import', disk2, '--store', store]); // no --wait
      // The import asks for the store instead of being refused…
      for (const t0 = Date.now(); !(await exists(join(store, 'lock.wanted'))); await new Promise((r) => setTimeout(r, 20))) {
        expect(Date.now() - t0, 'the import asks within 20 s').toBeLessThan(20_000);
      }
      // …and the check, at its next page, lets it go first, taking the store back once it is done.
      expect(await lock.yieldIfWanted()).toBe(true);
      const imp = await importing;
      expect(imp.code, imp.stderr).toBe(0);
      expect(imp.stderr).toMatch(/\] waiting for the store check to pause/); // told, not silent
      expect(lock.yielded).toBe(1);
      expect(await exists(join(store, 'lock.wanted'))).toBe(false);
      // A marker its asker left when it was stopped (Ctrl-C) is not waited for.
      await writeFile(join(store, 'lock.wanted'), JSON.stringify({ pid: 2 ** 22 + 12345, what: 'import' }));
      expect(await lock.yieldIfWanted()).toBe(false);
      expect(await exists(join(store, 'lock.wanted'))).toBe(false);
      // Holding it again: another check is refused as ever (checks do not make each other wait).
      const second = await run(['check', '--store', store]);
      expect(second.code).toBe(6);
      expect(second.stderr).toMatch(/another bookcrate \(check,/);
      // status tells a check that runs now from one that was stopped.
      const s0 = await Store.open(store);
      s0.startCheck('full');
      s0.close();
      expect((await run(['status', '--store', store])).stdout).toMatch(/ full running now: 0 file\(s\) checked so far, 0 bad/);
    } finally {
      await lock.unlock();
    }
    expect((await run(['status', '--store', store])).stdout).toMatch(/ full stopped part way \(run bookcrate check again to go on\)/);
    const status = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0] as { versions: { title: string; current: boolean }[] };
    expect(status.versions.map((v) => v.title).sort()).toEqual(['地方戏', '老照片'].sort());
    // A page reads at most pageBytes (1 GiB by default), one object at least: a writer that asks waits
    // for the end of a page, never for a page of 512 films. Two objects of 2,000 and 4,000 bytes.
    const s = await Store.open(store);
    try {
      let pages = 0;
      const r = await checkStore(s, { pageBytes: 3000, restart: true, between: async () => pages++ });
      expect(r).toMatchObject({ ok: true, checked: { objects: 2, bytes: 6000 } });
      expect(pages).toBe(2);
      pages = 0;
      expect((await checkStore(s, { pageBytes: 6000, restart: true, between: async () => pages++ })).checked.objects).toBe(2);
      expect(pages).toBe(1);
    } finally {
      s.close();
    }
  });

  it('a check killed part way goes on from where it stopped, and every file is checked once', async () => {
    const spec: Record<string, Record<string, number>> = {};
    for (let d = 0; d < 12; d++) {
      const files: Record<string, number> = {};
      for (let f = 0; f < 250; f++) files[`${f}.jpg`] = 700 + ((d * 250 + f) % 300);
      spec[`第${d}卷`] = files;
    }
    const { store, readers } = await importedStore('bookcrate-check-kill-', spec);
    // The first object in SHA-256 order is damaged: the run that is killed finds it in its first page.
    const objects = join(store, 'objects');
    const first = (await readdir(objects)).sort()[0]!;
    const firstObject = join(objects, first, (await readdir(join(objects, first))).sort()[0]!);
    const fh = await open(firstObject, 'r+');
    await fh.write(Buffer.from('X'), 0, 1, 10);
    await fh.close();
    const damagedPath = await (async () => {
      const ino = (await stat(firstObject)).ino;
      for (const [p] of await snapshot(readers)) if ((await stat(join(readers, p))).ino === ino) return p;
      throw new Error('no reader file is the damaged object');
    })();
    let killedAt = 0;
    for (let attempt = 0; attempt < 5 && killedAt === 0; attempt++) {
      // Watch the check's place in the catalog; kill it once a page or more is committed.
      const child = spawn(process.execPath, [BIN, 'check', '--store', store, '--restart'], { stdio: 'ignore' });
      const exited = new Promise<void>((r) => child.on('exit', () => r()));
      let gone = false;
      void exited.then(() => (gone = true));
      while (!gone) {
        const s = await Store.open(store, { readonly: true }).catch(() => undefined);
        const done = s?.lastCheck();
        s?.close();
        if (done && done.finished_at === null && done.objects >= 512) {
          child.kill('SIGKILL');
          killedAt = done.objects;
          break;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await exited;
    }
    expect(killedAt, 'the check was killed part way').toBeGreaterThan(0);
    const resumed = await run(['check', '--store', store, '--json']);
    // What the killed run found still decides the exit code, and the readers' folder is put right.
    expect(resumed.code, resumed.stderr).toBe(1);
    const r = jsonLines(resumed.stdout).find((l) => l.event === 'result') as { resumed: { objects: number; bad: number } | null; checked: { objects: number }; ok: boolean; badCount: number; trees: { problems: { path: string; reason: string }[]; rebuilt: boolean }[] };
    expect(r.resumed!.objects).toBeGreaterThanOrEqual(killedAt);
    expect(r.resumed!.bad).toBe(1);
    expect(r.badCount).toBe(0);
    expect(r.checked.objects).toBe(3000);
    expect(r.ok).toBe(false);
    expect(r.trees[0]).toMatchObject({ problems: [{ path: damagedPath, reason: 'damaged' }], rebuilt: true });
    expect(await exists(join(readers, damagedPath))).toBe(false);
    // --restart starts over.
    const over = jsonLines((await run(['check', '--store', store, '--json', '--restart', '--fast'])).stdout).find((l) => l.event === 'result') as { resumed: unknown; checked: { objects: number } };
    expect(over).toMatchObject({ resumed: null, checked: { objects: 2999 } }); // the bad one is no longer the store's
    await rm(store, { recursive: true, force: true });
  });
});
