import { readFile, writeFile } from 'node:fs/promises';
import { hostname, uptime } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../../fixtures/tree.js';
import { acquireLock } from './lock.js';

/** A lock as another writer left it; its pid is this test's own process, which is alive. */
async function lockLeft(path: string, extra: Record<string, unknown>): Promise<void> {
  await writeFile(path, JSON.stringify({ pid: process.pid, host: hostname(), what: 'import', since: new Date().toISOString(), ...extra }));
}

describe('the store lock after a restart', () => {
  it('is held while its pid lives in this same boot', async () => {
    const path = join(await tempDir('lock-'), 'lock');
    const release = await acquireLock(path, { what: 'import' });
    try {
      const mine = JSON.parse(await readFile(path, 'utf8')) as { boot?: string };
      if (process.platform === 'linux') expect(mine.boot).toBe((await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim());
      await expect(acquireLock(path, { what: 'mirror' })).rejects.toMatchObject({ code: 'BUSY' });
    } finally {
      await release();
    }
  });

  it.runIf(process.platform === 'linux')('is taken over when it was written in an earlier boot, though a process of its pid is alive now', async () => {
    const path = join(await tempDir('lock-'), 'lock');
    await lockLeft(path, { boot: '00000000-0000-4000-8000-000000000000' });
    const release = await acquireLock(path, { what: 'import' });
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ pid: process.pid, what: 'import' });
    await release();
  });

  it('is taken over when it says it was taken before the machine last started (a lock without a boot id)', async () => {
    const path = join(await tempDir('lock-'), 'lock');
    const beforeBoot = new Date(Date.now() - uptime() * 1000 - 3_600_000).toISOString();
    await lockLeft(path, { since: beforeBoot });
    const release = await acquireLock(path, { what: 'import' });
    expect(JSON.parse(await readFile(path, 'utf8')).since).not.toBe(beforeBoot);
    await release();
    // one taken a moment ago, by a live pid, is not
    await lockLeft(path, { since: new Date().toISOString() });
    await expect(acquireLock(path, { what: 'import' })).rejects.toMatchObject({ code: 'BUSY' });
  });
});
