import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTree, tempDir } from '../../../fixtures/tree.js';
import { BIN, run } from './testkit.js';

describe('bookcrate serve', () => {
  it('serves an imported store in Chinese, streams a file with Range, and stops cleanly on SIGTERM', async () => {
    const work = await tempDir('bookcrate-serve-cli-');
    const src = join(work, '地方戏');
    await buildTree(src, { 川剧: { '变脸.txt': 3000 } });
    expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
    const disk = join(work, 'disk');
    expect((await run(['pack', src, '--key', join(work, 'center.key'), '--out', disk])).code).toBe(0);
    const store = join(work, 'store');
    const imp = await run(['import', disk, '--store', store, '--trust', join(work, 'center.pub')]);
    expect(imp.code, imp.stderr).toBe(0);

    const child = spawn(process.execPath, [BIN, 'serve', '--store', store, '--listen', '127.0.0.1:0'], { env: { ...process.env, LANG: 'en_US.UTF-8' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /http:\/\/127\.0\.0\.1:\d+/.exec(stderr);
        if (m) resolve(m[0]);
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    try {
      // The console speaks the librarian's locale (en_US here), the pages the readers' language.
      expect(stderr).toMatch(/Serving the library at http:\/\/127\.0\.0\.1:\d+ {2}\(Ctrl-C to stop\)/);
      // A server locale of en_US must not turn the readers' pages English: Chinese is the default.
      const home = await (await fetch(url + '/')).text();
      expect(home).toContain('川剧');
      expect(home).toMatch(/lang="zh/);
      const search = await (await fetch(url + '/search?q=' + encodeURIComponent('变脸'))).text();
      const link = /href="([^"]+)"[^>]*>[^<]*变脸/.exec(search);
      expect(link, search).not.toBeNull();
      const page = await (await fetch(new URL(link![1]!.replace(/&amp;/g, '&'), url))).text();
      const file = /href="(\/file\/[^"]+)"/.exec(page);
      expect(file, page).not.toBeNull();
      const part = await fetch(new URL(file![1]!.replace(/&amp;/g, '&'), url), { headers: { Range: 'bytes=10-19' } });
      expect(part.status).toBe(206);
      const body = Buffer.from(await part.arrayBuffer());
      expect(body.equals((await readFile(join(src, '川剧', '变脸.txt'))).subarray(10, 20))).toBe(true);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  });
});
