import { execFileSync, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { dropCachedPages, syncFilesystem } from './disk-commands.js';

/** How many of a file's pages are in the page cache (util-linux's fincore), or undefined without it. */
function cachedPages(path: string): number | undefined {
  try {
    return Number(execFileSync('fincore', ['--raw', '--noheadings', '--output', 'PAGES', path], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

describe('syncFilesystem and dropCachedPages, run through one shell per thread', () => {
  it('make a written file clean (sync), then drop it from the page cache (dd), for names with spaces, Chinese and a line break', async (ctx) => {
    const dir = await tempDir('disk-commands-');
    const names = ['plain.bin', '第 1 讲 视频.mp4', 'line\nbreak.bin'];
    for (const name of names) {
      const path = join(dir, name);
      await writeFile(path, Buffer.alloc(4 << 20, 7)); // dirty pages: a drop alone cannot drop them
      expect(await syncFilesystem(dir)).toBe(true);
      expect(await dropCachedPages(path)).toBe(true);
      const left = cachedPages(path);
      if (left === undefined) ctx.skip(); // no fincore: what was dropped cannot be seen
      // Only a file whose pages the sync made clean loses every one of them to the drop.
      expect(left).toBe(0);
      expect((await readFile(path)).length).toBe(4 << 20);
    }
  });

  it('run several at once, each answered for itself; a command that fails says false', async () => {
    const dir = await tempDir('disk-commands-many-');
    const missing = join(dir, 'no such folder');
    const asked = Array.from({ length: 24 }, (_, i) => (i % 3 === 2 ? syncFilesystem(missing) : i % 3 === 1 ? dropCachedPages(join(dir, 'absent')) : syncFilesystem(dir)));
    const answers = await Promise.all(asked);
    expect(answers).toEqual(Array.from({ length: 24 }, (_, i) => i % 3 === 0));
  });

  it('after the shell is killed, answer the commands it left false (the caller falls back) and start a new one', async () => {
    const dir = await tempDir('disk-commands-kill-');
    expect(await syncFilesystem(dir)).toBe(true);
    const shells = () => execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
      .split('\n').map((l) => l.trim().split(/\s+/)).filter(([, comm]) => comm === 'sh').map(([pid]) => Number(pid));
    const [first] = shells();
    expect(first).toBeGreaterThan(0);
    // A command that the shell holds until it is killed: a sync of a FIFO's folder returns at once,
    // so hold it with a stopped shell instead.
    process.kill(first!, 'SIGSTOP');
    const held = syncFilesystem(dir);
    process.kill(first!, 'SIGKILL');
    expect(await held).toBe(false);
    expect(await syncFilesystem(dir)).toBe(true);
    const now = shells();
    expect(now).not.toContain(first);
    expect(now.length).toBe(1);
  });

  it('does not keep a process alive, and its shell ends with the process', async () => {
    const dir = await tempDir('disk-commands-exit-');
    const script = `import { execFileSync } from 'node:child_process';
      import { syncFilesystem } from ${JSON.stringify(new URL('../dist/disk-commands.js', import.meta.url).href)};
      const ok = await syncFilesystem(${JSON.stringify(dir)});
      const shells = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' }).trim().split(/\\s+/).map(Number);
      process.stdout.write(JSON.stringify({ ok, shells }));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    const started = Date.now();
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    const { ok, shells } = JSON.parse(out) as { ok: boolean; shells: number[] };
    expect(ok).toBe(true);
    // ps itself and the shell
    expect(shells.length).toBe(2);
    // The shell read the end of its input and left with the process that started it.
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let waited = 0; shells.some(alive) && waited < 5000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    expect(shells.filter(alive)).toEqual([]);
  });
});
