import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startServer, type RunningServer } from './server.js';
import { buildFixture, IDS, type Fixture } from './testkit.js';

// The page's own globals, for the functions page.evaluate runs in the browser (this package is
// compiled without the DOM library): only what those functions use.
interface PageVideo {
  readyState: number;
  error: { code: number } | null;
  duration: number;
  videoWidth: number;
  currentTime: number;
  addEventListener(type: 'seeked', listener: () => void, options: { once: boolean }): void;
}
declare const document: { querySelector(selector: 'video'): PageVideo | null };

/**
 * End to end in a real headless Chromium (Debian's `chromium` package): a reader browses, searches
 * in Chinese, opens a lecture and seeks in its video. Skipped, and said so, where Chromium is not
 * installed.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let fx: Fixture | undefined;
let srv: RunningServer | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  await srv?.close();
  if (fx) await rm(fx.dir, { recursive: true, force: true });
});

describe('in a real browser', () => {
  it('browse a collection, search in Chinese, play and seek a video', async (ctx) => {
    if (!existsSync(CHROMIUM)) ctx.skip(); // apt-get install chromium
    const { chromium } = await import('playwright-core');
    fx = await buildFixture();
    srv = await startServer({ store: fx.dir, listen: '127.0.0.1:0' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const page = await browser.newPage({ viewport: { width: 412, height: 915 }, deviceScaleFactor: 2, locale: 'zh-CN' });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    const mediaRanges: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/file/')) mediaRanges.push(r.headers()['range'] ?? '(none)');
    });

    // Home → a collection.
    await page.goto(srv.url + '/');
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    for (const t of ['国图公开课', '中华连环画', '地方戏专题视频', '老照片']) await expect(page.getByRole('link', { name: t, exact: true }).count()).resolves.toBe(1);
    await page.getByRole('link', { name: '国图公开课', exact: true }).click();
    await page.waitForURL(/\/c\/\d+\/gtgkk$/);
    expect(await page.locator('h1').textContent()).toBe('国图公开课');
    await expect(page.getByRole('link', { name: '敦煌壁画艺术讲座（第一讲）' }).count()).resolves.toBe(1);

    // Search: two characters (LIKE), then four (trigram index).
    await page.fill('input[name=q]', '敦煌');
    await page.press('input[name=q]', 'Enter');
    await page.waitForURL(/\/search\?q=/);
    expect(await page.locator('#results').textContent()).toContain('敦煌壁画艺术讲座（第一讲）');
    await page.fill('input[name=q]', '壁画艺术');
    await page.press('input[name=q]', 'Enter');
    await page.waitForURL((u) => u.searchParams.get('q') === '壁画艺术');
    expect(await page.locator('#results li').count()).toBe(1);
    // A photo found by its file's name, in a folder titled otherwise: its link opens the photo itself.
    await page.fill('input[name=q]', '前门 1900');
    await page.press('input[name=q]', 'Enter');
    await page.waitForURL((u) => u.searchParams.get('q') === '前门 1900');
    expect(await page.locator('#results li > a').allTextContents()).toEqual(['北京老城门']);
    const [photo] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/file/')),
      page.locator('#results .hits').getByRole('link', { name: '前门 1900.jpg' }).click(),
    ]);
    expect(photo.status()).toBe(200);
    expect(photo.headers()['content-type']).toBe('image/jpeg');
    expect(decodeURIComponent(new URL(page.url()).pathname)).toMatch(/^\/file\/\d+\/老照片\/北京老城门\/前门 1900\.jpg$/);
    await page.goBack();
    await page.fill('input[name=q]', '莫高窟壁画');
    await page.press('input[name=q]', 'Enter');
    await page.waitForURL((u) => u.searchParams.get('q') === '莫高窟壁画');
    await page.getByRole('link', { name: '敦煌壁画艺术讲座（第一讲）' }).click();
    await page.waitForURL(/\/r\/\d+\//);

    // The resource page: metadata, the player, the zip link.
    expect(await page.locator('h1').textContent()).toBe('敦煌壁画艺术讲座（第一讲）');
    expect(await page.locator('dl.md').textContent()).toContain('樊锦诗');
    expect(await page.locator('#download-all').count()).toBe(1);
    const video = page.locator('video');
    expect(await video.getAttribute('preload')).toBe('metadata');
    await page.waitForFunction(() => {
      const v = document.querySelector('video');
      return !!v && (v.readyState >= 1 || v.error !== null);
    }, undefined, { timeout: 20_000 });
    const meta = await page.evaluate(() => {
      const v = document.querySelector('video')!;
      return { error: v.error?.code ?? null, duration: v.duration, width: v.videoWidth };
    });
    if (meta.error === null) {
      // The browser decodes the clip: seek into it and wait for a frame there.
      expect(meta.duration).toBeGreaterThan(3.5);
      expect(meta.width).toBeGreaterThan(0);
      const at = await page.evaluate(() => new Promise<number>((resolve, reject) => {
        const v = document.querySelector('video')!;
        const timer = setTimeout(() => reject(new Error('the video never finished seeking')), 15_000);
        v.addEventListener('seeked', () => {
          clearTimeout(timer);
          resolve(v.currentTime);
        }, { once: true });
        v.currentTime = 2.5;
      }));
      expect(at).toBeCloseTo(2.5, 1);
      await page.waitForFunction(() => document.querySelector('video')!.readyState >= 2, undefined, { timeout: 15_000 });
      expect(mediaRanges.some((r) => r.startsWith('bytes='))).toBe(true); // the media element asked for ranges
    }
    // Either way, a Range request from the page gets 206 and exactly those bytes.
    const src = (await video.getAttribute('src'))!;
    const got = await page.evaluate(async (u) => {
      const r = await fetch(u, { headers: { Range: 'bytes=100-1099' } });
      return { status: r.status, range: r.headers.get('content-range'), bytes: Array.from(new Uint8Array(await r.arrayBuffer())) };
    }, src);
    const want = fx.bytes.get('国图公开课/敦煌壁画艺术/第1讲.mp4')!;
    expect(got.status).toBe(206);
    expect(got.range).toBe(`bytes 100-1099/${want.length}`);
    expect(Buffer.from(got.bytes).equals(want.subarray(100, 1100))).toBe(true);

    // The subtitles: Chromium fetched the GBK SubRip beside the video as WebVTT, shows it by default,
    // and parsed both cues, the ASS tag made a position and the arrow harmless.
    const track = 'document.querySelector("video").textTracks[0]';
    await page.waitForFunction(`${track} && ${track}.cues && ${track}.cues.length === 2`, undefined, { timeout: 15_000 });
    expect(await page.evaluate(`${track}.mode`)).toBe('showing');
    expect(await page.evaluate(`Array.from(${track}.cues).map((c) => [c.startTime, c.endTime, c.text, c.line])`)).toEqual([
      [0.5, 2, '第一讲 敦煌壁画艺术', 'auto'], [2, 4, '莫高窟 → 壁画', 0], // {\an8}: at the top
    ]);

    await page.screenshot({ path: '/tmp/serve-resource.png', fullPage: true });

    // The language switch keeps the page.
    await page.click('#lang-switch');
    await page.waitForURL(/lang=en/);
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    expect(await page.locator('dl.md').textContent()).toContain('Creator');

    // Old photos on the phone: a few to a row, not one to a screen.
    await page.goto(srv.url + '/r/' + fx.vid + '/' + encodeURIComponent(IDS.gates));
    await page.waitForSelector('.photos img.photo');
    const tops = await page.evaluate(`Array.from(document.querySelectorAll('.photos .file')).map((e) => Math.round(e.getBoundingClientRect().top))`) as number[];
    expect(tops).toHaveLength(3);
    expect(tops[1]).toBe(tops[0]); // the second photo beside the first
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await page.screenshot({ path: '/tmp/serve-photos-phone.png', fullPage: true });

    // The librarian's status page on the phone: the tables' rows stack as cards of "column  value"
    // lines, and nothing is wider than the screen (eleven columns left each a character's width).
    await page.goto(srv.url + '/status');
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    const firstCell = (table: string) => `getComputedStyle(document.querySelector('#${table} tbody td'), '::before').content`;
    for (const [table, label] of [['versions', '资源包'], ['imports', '#'], ['damaged', '资源包']]) {
      expect(await page.evaluate(firstCell(table!))).toBe(`"${label}"`);
      expect(await page.evaluate(`getComputedStyle(document.querySelector('#${table} thead')).display`)).toBe('none');
    }
    await page.screenshot({ path: '/tmp/serve-status-phone.png', fullPage: true });
    // On a PC's screen, a table with its column heads.
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(await page.evaluate(firstCell('versions'))).toBe('none');
    expect(await page.evaluate(`getComputedStyle(document.querySelector('#versions thead')).display`)).not.toBe('none');
    expect(await page.evaluate(`document.querySelector('#versions').scrollWidth <= document.querySelector('#versions').parentElement.clientWidth`)).toBe(true);

    // No CSP violation, no script error, no failed load.
    expect(problems).toEqual([]);
  });
});
