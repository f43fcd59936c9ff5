import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../../../fixtures/tree.js';
import { Store } from './store.js';

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('Store.inTransaction (a transaction held open across awaits)', () => {
  it('shows its writes to other connections only after it returns, and none of them when it throws', async () => {
    const dir = await tempDir();
    const writer = await Store.open(dir, { create: true });
    const reader = await Store.open(dir, { readonly: true });
    try {
      await writer.inTransaction(async () => {
        writer.pinKey('aa', 'PEM-A', 'test');
        await new Promise((r) => setTimeout(r, 20));
        expect(writer.trustedKeys().map((k) => k.fingerprint)).toEqual(['aa']); // its own connection sees it
        expect(reader.trustedKeys()).toEqual([]); // another does not, yet
      });
      expect(reader.trustedKeys().map((k) => k.fingerprint)).toEqual(['aa']);
      await expect(writer.inTransaction(async () => {
        writer.pinKey('bb', 'PEM-B', 'test');
        await new Promise((r) => setTimeout(r, 5));
        throw new Error('the sync failed');
      })).rejects.toThrow('the sync failed');
      expect(writer.trustedKeys().map((k) => k.fingerprint)).toEqual(['aa']);
    } finally {
      reader.close();
      writer.close();
    }
  });

  it('leaves nothing when its process is killed with SIGKILL while it waits', async () => {
    const dir = await tempDir();
    (await Store.open(dir, { create: true })).close();
    // A real process: pins a key inside the transaction, says so, then waits (as an import waits for its sync).
    const script = `
      const { Store } = await import(${JSON.stringify(DIST)});
      const s = await Store.open(${JSON.stringify(dir)});
      await s.inTransaction(async () => {
        s.pinKey('cc', 'PEM-C', 'test');
        process.stdout.write('inside\\n');
        await new Promise(() => setTimeout(() => undefined, 60_000));
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const closed = new Promise<string | null>((r) => child.on('close', (_c, signal) => r(signal)));
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('inside')) child.kill('SIGKILL');
    });
    expect(await closed).toBe('SIGKILL');
    const s = await Store.open(dir);
    try {
      expect(s.trustedKeys()).toEqual([]);
      // and the store takes writes again (no lock left behind)
      s.pinKey('dd', 'PEM-D', 'test');
      expect(s.trustedKeys().map((k) => k.fingerprint)).toEqual(['dd']);
    } finally {
      s.close();
    }
  });
});
