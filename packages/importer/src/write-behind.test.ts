import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { WriteBehind, onSameDisk } from './write-behind.js';

describe('onSameDisk (whether an import may write back early)', () => {
  it('two folders of one filesystem are one disk', async () => {
    const root = await tempDir('samedisk');
    await mkdir(join(root, 'volume'));
    await mkdir(join(root, 'store'));
    expect(await onSameDisk(join(root, 'volume'), join(root, 'store'))).toBe(true);
  });

  it.runIf(process.platform === 'linux')('a filesystem with no block device (proc, tmpfs) is a disk of its own', async () => {
    const root = await tempDir('samedisk');
    expect(await onSameDisk(root, '/proc')).toBe(false);
    expect(await onSameDisk('/proc/self', '/proc')).toBe(true); // same filesystem
  });

  it('a path that does not exist is an error, not an answer', async () => {
    const root = await tempDir('samedisk');
    await expect(onSameDisk(join(root, 'nothing'), root)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('WriteBehind', () => {
  /** A flush runner the test finishes by hand (oldest first), recording the folders it was started for. */
  function manualRunner(): { run: (dir: string) => Promise<void>; started: string[]; finish: () => void } {
    const started: string[] = [];
    const release: (() => void)[] = [];
    return {
      started,
      run: (dir) => {
        started.push(dir);
        return new Promise<void>((r) => release.push(r));
      },
      finish: () => release.shift()?.(),
    };
  }

  it('starts one flush per `every` bytes written, never more than two at once, and settle waits for them', async () => {
    const r = manualRunner();
    const wb = new WriteBehind('/store', true, 100, r.run);
    wb.wrote(60);
    expect(r.started).toEqual([]);
    wb.wrote(60); // 120 ≥ 100: a flush starts, the count begins again
    expect(r.started).toEqual(['/store']);
    wb.wrote(100); // another 100: a second one beside the first
    expect(r.started).toHaveLength(2);
    wb.wrote(500); // two are running: none more
    expect(r.started).toHaveLength(2);
    let settled = false;
    const s = wb.settle().then(() => (settled = true));
    r.finish(); // the first is done; settle still waits for the second
    await new Promise((res) => setTimeout(res, 10));
    expect(settled).toBe(false);
    r.finish();
    await s;
    expect(settled).toBe(true);
    wb.wrote(1); // the 500 bytes written while they ran were counted
    expect(r.started).toHaveLength(3);
    expect(wb.flushes).toBe(3);
    r.finish();
    await wb.settle();
  });

  it('does nothing when the store shares the volume\'s disk', async () => {
    const r = manualRunner();
    const wb = new WriteBehind('/store', false, 1, r.run);
    for (let i = 0; i < 10; i++) wb.wrote(1 << 20);
    await wb.settle();
    expect(r.started).toEqual([]);
    expect(wb.flushes).toBe(0);
  });

  it('flushes a real filesystem with `sync -f` and settles', async () => {
    const root = await tempDir('writebehind');
    await writeFile(join(root, 'object'), Buffer.alloc(1 << 20, 7));
    const wb = new WriteBehind(root, true, 1 << 20);
    wb.wrote(1 << 20);
    expect(wb.flushes).toBe(1);
    await wb.settle();
  });
});
