import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { nginxAvailable, startNginx } from '@bookcrate/mirror/testkit';
import { importedStore, jsonLines, run, startServe } from './testkit.js';

describe('bookcrate serve', () => {
  it('serves an imported store in Chinese, streams a file with Range, and stops cleanly on SIGTERM', async () => {
    const { src, store } = await importedStore('bookcrate-serve-cli-', { 川剧: { '变脸.txt': 3000 } }, '地方戏');

    const { child, url, stderr } = await startServe(store, { LANG: 'en_US.UTF-8', TZ: 'Asia/Shanghai' });
    try {
      // The console speaks the librarian's locale (en_US here), the pages the readers' language.
      expect(stderr()).toMatch(/Serving the library at http:\/\/127\.0\.0\.1:\d+ {2}\(Ctrl-C to stop\)/);
      // A server locale of en_US must not turn the readers' pages English: Chinese is the default.
      const home = await (await fetch(url + '/')).text();
      expect(home).toContain('川剧');
      expect(home).toMatch(/lang="zh/);
      // The status page's times are on the server's clock, with its offset (it showed UTC, 8 hours off in China).
      const status = await (await fetch(url + '/status')).text();
      const started = jsonLines((await run(['status', '--store', store, '--json'])).stdout)[0]!.imports as { started: string }[];
      const local = new Date(new Date(started[0]!.started).getTime() + 8 * 3600_000).toISOString().replace('T', ' ').slice(0, 16);
      expect(status.replace(/<[^>]+>/g, '')).toContain(`${local} UTC+8`);
      const search = await (await fetch(url + '/search?q=' + encodeURIComponent('变脸'))).text();
      const link = /<li><a href="([^"]+)">(?:[^<]|<\/?mark>)*变脸/.exec(search); // the words found are marked
      expect(link, search).not.toBeNull();
      const page = await (await fetch(new URL(link![1]!.replace(/&amp;/g, '&'), url))).text();
      const file = /href="(\/file\/[^"]+)"/.exec(page);
      expect(file, page).not.toBeNull();
      const part = await fetch(new URL(file![1]!.replace(/&amp;/g, '&'), url), { headers: { Range: 'bytes=10-19' } });
      expect(part.status).toBe(206);
      const body = Buffer.from(await part.arrayBuffer());
      expect(body.equals((await readFile(join(src, '川剧', '变脸.txt'))).subarray(10, 20))).toBe(true);
      // A second server on the same port, and addresses that are not this PC's, are told in the
      // librarian's language, with a way out that fits (not the disk advice of a read error).
      const port = new URL(url).port;
      const taken = await run(['serve', '--store', store, '--listen', `127.0.0.1:${port}`], { LANG: 'zh_CN.UTF-8' });
      expect(taken.code).toBe(2);
      expect(taken.stderr).toBe(`bookcrate：无法在 127.0.0.1:${port} 上提供服务：这个端口已被占用\n  处理办法：请先停止占用它的另一个服务，或用 --listen 换一个端口，例如 --listen 127.0.0.1:8081\n`);
      const foreign = await run(['serve', '--store', store, '--listen', '192.0.2.1:8080'], { LANG: 'zh_CN.UTF-8' });
      expect(foreign.code).toBe(4);
      expect(foreign.stderr).toMatch(/^bookcrate：无法在 192\.0\.2\.1:8080 上提供服务：.*\n  处理办法：请检查 --listen 的地址：必须是这台电脑自己的地址/);
      const bare = await run(['serve', '--store', store, '--listen', 'localhost'], { LANG: 'zh_CN.UTF-8' });
      expect(bare.stderr).toMatch(/^bookcrate：--listen "localhost" 不是"地址:端口"的形式/);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  });

  it.skipIf(!nginxAvailable())('behind the portal\'s nginx: links under --base-path, and each reader counted by --trust-proxy', async () => {
    const { work, src, store } = await importedStore('bookcrate-serve-proxy-', { 川剧: { '变脸.txt': 3000 } }, '地方戏');

    // A wrong flag is told in the librarian's language before anything starts.
    const bad = await run(['serve', '--store', store, '--base-path', 'library'], { LANG: 'zh_CN.UTF-8' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^bookcrate：--base-path "library" 不是 \/library 这样的路径\n  处理办法：/);
    const badProxy = await run(['serve', '--store', store, '--trust-proxy', 'portal'], { LANG: 'en_US.UTF-8' });
    expect(badProxy.code).toBe(2);
    expect(badProxy.stderr).toMatch(/--trust-proxy "portal" is not an IP address/);

    const { child, url, stderr } = await startServe(store, { LANG: 'en_US.UTF-8' }, ['--base-path', '/library', '--trust-proxy', '127.0.0.1', '--client-rate', '1']);
    const port = new URL(url).port;
    // The portal: nginx passes /library/ on as it came, and appends the address it saw to X-Forwarded-For.
    const nginx = await startNginx(work, {
      locations: `location /library/ { proxy_pass http://127.0.0.1:${port}; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; proxy_buffering off; }`,
    });
    try {
      expect(stderr()).toContain(`Serving the library at ${url}/library/`);
      const portal = new URL(nginx.url).origin;
      /** A GET through the portal from one of the library network's computers (an address of 127/8 here). */
      const get = (from: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> =>
        new Promise((resolve, reject) => {
          const u = new URL(path, portal);
          const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, localAddress: from, agent: false, headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
            res.on('error', reject);
          });
          req.on('error', reject);
          req.end();
        });
      // A reader finds 变脸 and plays it, all through the portal, every link under /library/.
      const home = (await get('127.0.0.2', '/library/')).body.toString();
      expect(home).toContain('川剧');
      const hrefs = [...home.matchAll(/\b(?:href|action)="([^"]+)"/g)].map((m) => m[1]!);
      expect(hrefs.length).toBeGreaterThan(3);
      for (const h of hrefs) expect(h).toMatch(/^\/library\//);
      const search = (await get('127.0.0.2', '/library/search?q=' + encodeURIComponent('变脸'))).body.toString();
      const link = /<li><a href="(\/library\/r\/[^"]+)">/.exec(search);
      expect(link, search).not.toBeNull();
      const page = (await get('127.0.0.2', link![1]!.replace(/&amp;/g, '&'))).body.toString();
      const file = /href="(\/library\/file\/[^"]+)"/.exec(page);
      expect(file, page).not.toBeNull();
      const part = await get('127.0.0.2', file![1]!, { Range: 'bytes=10-19' });
      expect(part.status).toBe(206);
      expect(part.body.equals((await readFile(join(src, '川剧', '变脸.txt'))).subarray(10, 20))).toBe(true);
      // --client-rate 1: a burst of ten requests a computer. 127.0.0.2 has used four; six more (and one a second), then refused.
      const statuses: number[] = [];
      for (let i = 0; i < 14; i++) statuses.push((await get('127.0.0.2', '/library/status')).status);
      expect(statuses.filter((x) => x === 429).length).toBeGreaterThanOrEqual(1);
      expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      // Another reader's computer behind the same portal is not slowed, even one that claims to be the first.
      expect((await get('127.0.0.3', '/library/status')).status).toBe(200);
      expect((await get('127.0.0.4', '/library/status', { 'X-Forwarded-For': '127.0.0.2' })).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await nginx.stop();
    }
    expect(await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))).toBe(0);
  });
});
