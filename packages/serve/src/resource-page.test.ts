import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '@bookcrate/store';
import type { Root } from '@bookcrate/format';
import { tempDir } from '../../../fixtures/tree.js';
import { startServer, type RunningServer } from './server.js';

/**
 * A resource of many files (a folder of photos packed without a catalog is one resource) is shown a
 * hundred files a page: on one page, 100,000 photos were 70 MB of HTML, 4.7 s and 530 MB of
 * serve's memory (docs/performance.md, run BE).
 */
describe('a resource page of 250 files', () => {
  let srv: RunningServer;
  let vid: number;
  const videos = ['第1集.mp4', '第10集.mp4', '第2集.mp4'];
  const photos = Array.from({ length: 247 }, (_, i) => `照片${i + 1}.jpg`);

  beforeAll(async () => {
    const dir = await tempDir('bookcrate-many-');
    const s = await Store.open(dir, { create: true });
    const names = [...photos, ...videos].sort(); // the manifest's byte order
    const root = {
      format: 'bookcrate/1', bundle: { id: 'b', title: '老照片资源包', version: 1, created: '2026-12-02T00:00:00Z' },
      collections: [{ id: 'lzp', title: '老照片', path: '老照片', files: names.length, bytes: names.length }],
      layout: { set: 's', volumes: [{ index: 1, segments: [] }] }, totals: { files: names.length, dirs: 0, bytes: names.length },
    } as unknown as Root;
    async function* files() {
      for (const [i, n] of names.entries()) {
        yield { entry: { path: `老照片/北京旧影/${n}`, type: 'file' as const, size: 1, mtime: 0, sha256: i.toString(16).padStart(64, '0'), xxh64: '0'.repeat(16), resource: 'lzp/北京旧影' }, volume: 1 };
      }
    }
    async function* resources() {
      yield { id: 'lzp/北京旧影', collection: 'lzp', title: '北京旧影' };
    }
    vid = (await s.addVersion(root, Buffer.from('root'), Buffer.from('sig'), 'a'.repeat(64), files(), resources())).id;
    // as a finished import leaves them: every file present but one photo, which the disk brought damaged
    s.db.prepare("UPDATE files SET state = CASE WHEN path = '老照片/北京旧影/照片7.jpg' THEN 'damaged' ELSE 'present' END WHERE version_id = ?").run(vid);
    s.db.prepare("UPDATE versions SET state = 'complete', is_current = 1 WHERE id = ?").run(vid);
    s.close();
    srv = await startServer({ store: dir, listen: '127.0.0.1:0' });
  });
  afterAll(() => srv?.close());

  const page = async (n?: number) => {
    const r = await fetch(`${srv.url}/r/${vid}/${encodeURIComponent('lzp/北京旧影')}${n ? `?page=${n}` : ''}`);
    expect(r.status).toBe(200);
    const text = await r.text();
    return { text, names: [...text.matchAll(/<div class="file">(?:[\s\S]*?)(?:<a href="[^"]+">|<strong>)([^<]+)<\/(?:a|strong)>/g)].map((m) => m[1]!) };
  };

  it('shows a hundred files a page, players first, each kind in the readers\' order, and every file once', async () => {
    const first = await page();
    expect(first.names).toHaveLength(100);
    expect(first.names.slice(0, 5)).toEqual(['第1集.mp4', '第2集.mp4', '第10集.mp4', '照片1.jpg', '照片2.jpg']);
    expect(first.text).toContain('第 1 页，共 3 页');
    expect(first.text).toContain(`<a rel="next" href="/r/${vid}/${encodeURIComponent('lzp/北京旧影')}?page=2#files">`);
    const all = [...first.names, ...(await page(2)).names, ...(await page(3)).names];
    expect(all).toEqual([...videos.sort((a, b) => parseInt(a.slice(1)) - parseInt(b.slice(1))), ...photos]);
    expect((await page(3)).names.at(-1)).toBe('照片247.jpg');
    expect((await page(99)).names.at(-1)).toBe('照片247.jpg'); // past the end: the last page
  });

  it('counts every page\'s "download all" over the whole resource, the damaged photo left out', async () => {
    for (const n of [1, 3]) {
      const { text } = await page(n);
      expect(text).toMatch(/id="download-all"[^>]*>[^<]*249/);
      expect(text).toContain('id="download-all-other"'); // Chinese names: the other form of the zip is offered
    }
    expect((await page(1)).text).toContain('照片7.jpg</strong>'); // named, not linked
  });
});

describe('a resource of old media formats (a county\'s opera recordings in RealMedia and Windows Media)', () => {
  let srv: RunningServer;
  let vid: number;
  const names = ['唱段.wma', '第1场.rmvb', '第2场.mp4', '第3场.flv', '说明.txt'];

  beforeAll(async () => {
    const dir = await tempDir('bookcrate-old-media-');
    const s = await Store.open(dir, { create: true });
    const root = {
      format: 'bookcrate/1', bundle: { id: 'b', title: '地方戏资源包', version: 1, created: '2026-12-04T00:00:00Z' },
      collections: [{ id: 'dfx', title: '地方戏', path: '地方戏', files: names.length, bytes: names.length }],
      layout: { set: 's', volumes: [{ index: 1, segments: [] }] }, totals: { files: names.length, dirs: 0, bytes: names.length },
    } as unknown as Root;
    async function* files() {
      for (const [i, n] of names.entries()) {
        yield { entry: { path: `地方戏/天仙配/${n}`, type: 'file' as const, size: 1, mtime: 0, sha256: (i + 1).toString(16).padStart(64, '0'), xxh64: '0'.repeat(16), resource: 'dfx/天仙配' }, volume: 1 };
      }
    }
    async function* resources() {
      yield { id: 'dfx/天仙配', collection: 'dfx', title: '天仙配' };
    }
    vid = (await s.addVersion(root, Buffer.from('root'), Buffer.from('sig'), 'a'.repeat(64), files(), resources())).id;
    s.db.prepare("UPDATE files SET state = 'present' WHERE version_id = ?").run(vid);
    s.db.prepare("UPDATE versions SET state = 'complete', is_current = 1 WHERE id = ?").run(vid);
    s.close();
    srv = await startServer({ store: dir, listen: '127.0.0.1:0' });
  });
  afterAll(() => srv?.close());

  it('lists them with the players, says how to play them instead of showing a player that cannot, and in English', async () => {
    const text = await (await fetch(`${srv.url}/r/${vid}/${encodeURIComponent('dfx/天仙配')}`)).text();
    const blocks = [...text.matchAll(/<div class="file">([\s\S]*?)<\/div>\n?(?=<div class="file">|\n|<nav|<\/main>)/g)].map((m) => m[1]!);
    const order = blocks.map((b) => /<a href="[^"]+">([^<]+)<\/a> <span class="meta">/.exec(b)?.[1]);
    expect(order).toEqual(['第1场.rmvb', '第2场.mp4', '第3场.flv', '唱段.wma', '说明.txt']); // videos, audio, text
    const of = (name: string) => blocks[order.indexOf(name)]!;
    expect(of('第1场.rmvb')).toContain('<div class="unplayable">浏览器不能直接播放 .rmvb 格式。请点“下载”，再用电脑上的播放器（如 PotPlayer、VLC）打开。</div>');
    expect(of('第1场.rmvb')).not.toContain('<video');
    expect(of('第3场.flv')).toContain('.flv 格式');
    expect(of('唱段.wma')).not.toContain('<audio');
    expect(of('第2场.mp4')).toContain('<video controls');
    const en = await (await fetch(`${srv.url}/r/${vid}/${encodeURIComponent('dfx/天仙配')}?lang=en`)).text();
    expect(en).toContain('Browsers cannot play .rmvb files. Download it, then open it in a player on the computer (such as VLC).');
  });
});
