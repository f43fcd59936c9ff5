import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTree, tempDir, SAMPLE_TREE } from '../../../fixtures/tree.js';
import { BIN, jsonLines, run } from './testkit.js';

// Ctrl-C, SIGTERM and a closed terminal stop pack, verify, import and publish at once, with a line
// saying what was kept and the exit code a shell expects (interrupt.ts). The commands are real and
// so is the terminal: util-linux's `script` gives them a pseudo-terminal, whose line discipline
// turns the ^C written to it into the SIGINT a librarian's keyboard sends.

const EPOCH = { SOURCE_DATE_EPOCH: '1764374400' };
let work: string;
let pub: string;
let volume: string;

/** Runs argv at a real terminal; `out` is everything the terminal showed so far. */
function atTerminal(argv: string[], env: Record<string, string> = {}): { child: ChildProcess; out: () => string; code: Promise<number | null> } {
  const line = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', line, '/dev/null'], { env: { ...process.env, LANG: 'C', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const code = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { child, out: () => out, code };
}

async function until(what: string, holds: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await holds())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether process `pid` has `path` open: it is then past its start-up (and its signal handlers). */
async function hasOpen(pid: number, path: string): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) if ((await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')) === path) return true;
  return false;
}

beforeAll(async () => {
  work = await tempDir('bookcrate-interrupt-');
  const src = join(work, 'src');
  await buildTree(src, SAMPLE_TREE);
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  pub = join(work, 'center.pub');
  const out = join(work, 'disk');
  expect((await run(['pack', src, '--key', join(work, 'center.key'), '--out', out], EPOCH)).code).toBe(0);
  volume = join(out, (await readdir(out))[0]!);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('stopping a command', () => {
  it('Ctrl-C at the trust question stops the import as a stop, not an internal error; a queued import stops on SIGINT and SIGTERM with a JSON event and 130 / 143', async () => {
    const store = join(work, 'store');
    // The first import asks the librarian to confirm the disk's key, holding the store's lock.
    const asking = atTerminal([process.execPath, BIN, 'import', volume, '--store', store]);
    await until('the trust question', () => asking.out().includes('Trust this key?'));

    // Meanwhile a second import queues behind the lock (--wait): stopped there, it says so.
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const queued = spawn(process.execPath, [BIN, 'import', volume, '--store', store, '--trust', pub, '--wait', '--json'], { env: { ...process.env, LANG: 'C' } });
      let stdout = '';
      let stderr = '';
      queued.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      queued.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const closed = new Promise<number | null>((r) => queued.on('close', (c) => r(c)));
      await until('the queued import to open the catalog', () => hasOpen(queued.pid!, join(store, 'catalog.sqlite')));
      queued.kill(signal);
      expect(await closed, stderr).toBe(code);
      expect(jsonLines(stdout)).toContainEqual({ event: 'interrupted', signal, exitCode: code });
      expect(stderr).toContain(`bookcrate: stopped (${signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'}). Nothing already imported is lost`);
    }

    asking.child.stdin!.write('\x03');
    expect(await asking.code, asking.out()).toBe(130);
    expect(asking.out()).toContain('bookcrate: stopped (Ctrl-C). Nothing already imported is lost');
    expect(asking.out()).not.toMatch(/internal error|AbortError/);

    // Nothing was trusted or imported by the stopped runs; the lock they left is seen as stale.
    const status = jsonLines((await run(["status", "--store", store, "--json"])).stdout)[0] as { keys: unknown[]; versions: unknown[] };
    expect(status.keys).toEqual([]);
    expect(status.versions).toEqual([]);
    const done = await run(['import', volume, '--store', store, '--trust', pub]);
    expect(done.code, done.stderr).toBe(0);
  });

  it('in Chinese at a Chinese terminal', async () => {
    const asking = atTerminal([process.execPath, BIN, 'import', volume, '--store', join(work, 'store-zh')], { LANG: 'zh_CN.UTF-8' });
    await until('the trust question', () => asking.out().includes('是否信任此密钥'));
    asking.child.stdin!.write('\x03');
    expect(await asking.code).toBe(130);
    expect(asking.out()).toContain('bookcrate：已停止（Ctrl-C）。已导入的内容不会丢失');
  });

  it('Ctrl-D at the key question is no answer: the key is not trusted (exit 3, with the way on), not a stop', async () => {
    const store = join(work, 'store-eof');
    const asking = atTerminal([process.execPath, BIN, 'import', volume, '--store', store]);
    await until('the trust question', () => asking.out().includes('Trust this key?'));
    asking.child.stdin!.write('\x04');
    expect(await asking.code, asking.out()).toBe(3);
    expect(asking.out()).toMatch(/has not been confirmed[\s\S]*run again with --yes \(or pass --trust center\.pub\)/);
    expect(asking.out()).not.toMatch(/stopped|internal error/);
  });

  it('a progress bar stopped by Ctrl-C gives the terminal its cursor back', async () => {
    // The CLI's own modules, drawing a bar that never ends: only Ctrl-C stops it.
    const script = join(work, 'bar.mjs');
    const dist = (name: string) => fileURLToPath(new URL(`../dist/${name}`, import.meta.url));
    await writeFile(script, `
      import { exitOnInterrupt } from ${JSON.stringify(dist('interrupt.js'))};
      import { ProgressView } from ${JSON.stringify(dist('progress.js'))};
      exitOnInterrupt('verify', 'en', false);
      const view = new ProgressView(ProgressView.modeFor(false));
      let done = 0;
      setInterval(() => view.update({ phase: 'segments', bytesDone: (done += 1 << 20), bytesTotal: 1 << 40, filesDone: 1, filesTotal: 9 }), 20);
    `);
    const bar = atTerminal([process.execPath, script]);
    const HIDE = '\x1b[?25l';
    const SHOW = '\x1b[?25h';
    await until('the bar', () => bar.out().includes(HIDE) && bar.out().includes('segments'));
    bar.child.stdin!.write('\x03');
    expect(await bar.code).toBe(130);
    const out = bar.out();
    expect(out.lastIndexOf(SHOW)).toBeGreaterThan(out.lastIndexOf(HIDE));
    expect(out).toContain('bookcrate: stopped (Ctrl-C). The volume was not fully checked');
  });
});
