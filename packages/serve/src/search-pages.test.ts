import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '@bookcrate/store';
import type { ResourceEntry, Root } from '@bookcrate/format';
import { tempDir } from '../../../fixtures/tree.js';
import { startServer, type RunningServer } from './server.js';
import { marked } from './pages.js';

/**
 * A search is listed fifty results a page, up to a thousand in all, across the bundles a library
 * carries: a common word (讲座) matches thousands of resources in a county's store, and before, the
 * first hundred were all a reader could see.
 */
describe('search results a page at a time, across two bundles', () => {
  let srv: RunningServer;
  const vids: number[] = [];

  beforeAll(async () => {
    const dir = await tempDir('bookcrate-search-');
    const s = await Store.open(dir, { create: true });
    // Bundle a: 600 lectures; bundle b: 500 more and one opera.
    for (const [bundle, n] of [['a', 600], ['b', 500]] as const) {
      const root = {
        format: 'bookcrate/1', bundle: { id: bundle, title: `资源包 ${bundle}`, version: 1, created: '2026-12-04T00:00:00Z' },
        collections: [{ id: 'gtgkk', title: `公开课 ${bundle}`, path: '公开课', files: n, bytes: n }],
        layout: { set: bundle, volumes: [{ index: 1, segments: [] }] }, totals: { files: n, dirs: 0, bytes: n },
      } as unknown as Root;
      const title = (i: number) => `${bundle}讲座 第${i + 1}讲`;
      async function* files() {
        for (let i = 0; i < n; i++) {
          yield { entry: { path: `公开课/${bundle}${String(i).padStart(4, '0')}.mp4`, type: 'file' as const, size: 1, mtime: 0, sha256: `${bundle === 'a' ? 1 : 2}${i.toString(16).padStart(63, '0')}`, xxh64: '0'.repeat(16), resource: `${bundle}${i}` }, volume: 1 };
        }
      }
      async function* resources(): AsyncGenerator<ResourceEntry> {
        for (let i = 0; i < n; i++) yield { id: `${bundle}${i}`, collection: 'gtgkk', title: title(i) };
        if (bundle === 'b') yield { id: 'b-opera', collection: 'gtgkk', title: '京剧 霸王别姬' };
      }
      const v = (await s.addVersion(root, Buffer.from(bundle), Buffer.from('sig'), bundle.repeat(64), files(), resources())).id;
      s.db.prepare("UPDATE files SET state = 'present' WHERE version_id = ?").run(v);
      s.db.prepare("UPDATE versions SET state = 'complete', is_current = 1 WHERE id = ?").run(v);
      vids.push(v);
    }
    s.close();
    srv = await startServer({ store: dir, listen: '127.0.0.1:0' });
  });
  afterAll(() => srv?.close());

  const search = async (q: string, page?: number, lang = '') => {
    const r = await fetch(`${srv.url}/search?q=${encodeURIComponent(q)}${page ? `&page=${page}` : ''}${lang}`);
    expect(r.status).toBe(200);
    const text = await r.text();
    return { text, titles: [...text.matchAll(/<li><a href="\/r\/\d+\/[^"]+">((?:[^<]|<\/?mark>)+)<\/a>/g)].map((m) => m[1]!.replace(/<\/?mark>/g, '')) };
  };

  it('lists fifty a page, every one once, numbered on, with the query kept in the pager\'s links', async () => {
    const first = await search('a讲座');
    expect(first.text).toContain('“a讲座”的搜索结果：600 条');
    expect(first.titles).toHaveLength(50);
    expect(first.text).toContain('<ol class="list" id="results" start="1">');
    expect(first.text).toContain('第 1 页，共 12 页');
    expect(first.text).toContain(`<a rel="next" href="/search?q=${encodeURIComponent('a讲座')}&#38;page=2">`);
    const all = [...first.titles];
    for (let page = 2; page <= 12; page++) all.push(...(await search('a讲座', page)).titles);
    expect(all).toHaveLength(600);
    expect(new Set(all).size).toBe(600);
    const second = await search('a讲座', 2, '&lang=en');
    expect(second.text).toContain('<ol class="list" id="results" start="51">');
    expect(second.text).toContain(`<a rel="prev" href="/search?q=${encodeURIComponent('a讲座')}&#38;page=1&#38;lang=en">`);
    expect(second.text).toContain('600 results for “a讲座”');
  });

  it('stops at a thousand across the bundles, and says so', async () => {
    const first = await search('讲座'); // two characters: matched by LIKE, in the readers' order
    expect(first.text).toContain('“讲座”的搜索结果：1000 条以上');
    expect(first.text).toContain('只列出前 1000 条，请换个更具体的词，或多加一个词。');
    expect(first.text).toContain('第 1 页，共 20 页');
    expect(first.titles.slice(0, 3)).toEqual(['a讲座 第1讲', 'a讲座 第2讲', 'a讲座 第3讲']);
    // The last page: bundle a's 600, then the first 400 of bundle b.
    const last = await search('讲座', 20);
    expect(last.titles).toHaveLength(50);
    expect(last.titles.at(-1)).toBe('b讲座 第400讲');
    expect((await search('讲座', 21)).titles).toEqual(last.titles); // past the end: the last page
    expect((await search('讲座', undefined, '&lang=en')).text).toContain('More than 1000 results for “讲座”');
    // A search below the cap says nothing of it.
    const opera = await search('霸王别姬');
    expect(opera.titles).toEqual(['京剧 霸王别姬']);
    expect(opera.text).not.toContain('class="pager"');
    expect(opera.text).not.toContain('只列出');
  });
});

describe('marked: the words found in a result\'s title', () => {
  it('marks each place, case aside, overlapping finds as one, and escapes the rest', () => {
    expect(String(marked('Lecture 1 of the lecture <b>', ['LECT', 'ture', '<b>']))).toBe('<mark>Lecture</mark> 1 of the <mark>lecture</mark> <mark>&#60;b&#62;</mark>');
    expect(String(marked('敦煌壁画艺术讲座', ['讲座', '敦煌', '煌壁']))).toBe('<mark>敦煌壁</mark>画艺术<mark>讲座</mark>');
    expect(marked('京剧', ['越剧'])).toBe('京剧');
    expect(marked('İstanbul', ['stan'])).toBe('İstanbul'); // lower-casing changes its length: nothing marked rather than the wrong letters
  });
});
