import { createServer, request, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askAndLeave } from '../../../fixtures/raw-http.js';
import { tempDir } from '../../../fixtures/tree.js';
import { CHARSET_SNIFF_BYTES, presentEntries, sendObject, sendZip, textCharset, whenClosed } from './files.js';

/** GBK bytes of some Chinese text, as Notepad on a Chinese Windows saves "ANSI". */
const GBK_NOTICE = Buffer.from('b9d8d3dabfaab7c5cdbccae9b9ddb5c4cda8d6aa0d0a', 'hex'); // 关于开放图书馆的通知\r\n (Python's str.encode('gbk'))
const NOTICE = '关于开放图书馆的通知\r\n';

describe('textCharset: what a text file is written in', () => {
  it('reads byte-order marks, takes valid UTF-8 (ASCII too) as UTF-8, and anything else as GB18030', () => {
    expect(new TextDecoder('gb18030').decode(GBK_NOTICE)).toBe(NOTICE);
    expect(textCharset(GBK_NOTICE, true)).toBe('gb18030');
    expect(textCharset(Buffer.from(NOTICE), true)).toBe('utf-8');
    expect(textCharset(Buffer.from('plain ASCII\n'), true)).toBe('utf-8');
    expect(textCharset(Buffer.from([]), true)).toBe('utf-8');
    expect(textCharset(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), GBK_NOTICE]), true)).toBe('utf-8'); // the mark decides
    expect(textCharset(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(NOTICE, 'utf16le')]), true)).toBe('utf-16le');
    expect(textCharset(Buffer.from([0xfe, 0xff, 0x51, 0x73]), true)).toBe('utf-16be');
    // A sample that ends inside a character is still UTF-8; a whole file that ends so is not.
    const cut = Buffer.from('通知').subarray(0, 4);
    expect(textCharset(cut, false)).toBe('utf-8');
    expect(textCharset(cut, true)).toBe('gb18030');
  });
});

describe('sendObject: text files with the charset they are written in', () => {
  let server: Server;
  let base: string;
  let dir: string;
  const files: Record<string, Buffer> = {};

  beforeAll(async () => {
    dir = await tempDir('bookcrate-files-');
    // UTF-8 whose sample (CHARSET_SNIFF_BYTES) ends in the middle of a three-byte character
    const longUtf8 = Buffer.from('a' + '通'.repeat(CHARSET_SNIFF_BYTES / 3 + 10));
    // GBK whose first bytes happen to be ASCII: the sample still reaches its Chinese
    const gbkAfterAscii = Buffer.concat([Buffer.from('No. 2026-1\r\n'), GBK_NOTICE]);
    Object.assign(files, {
      'gbk.txt': GBK_NOTICE, 'utf8.txt': Buffer.from(NOTICE), 'long.txt': longUtf8, 'later.txt': gbkAfterAscii,
      'unicode.txt': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(NOTICE, 'utf16le')]), 'page.html': Buffer.concat([Buffer.from('<p>'), GBK_NOTICE]),
      'list.csv': GBK_NOTICE, 'photo.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0xb9, 0xd8]),
      '天仙配.rmvb': Buffer.from('.RMF\0\0\0\x12'), '唱段.wma': Buffer.from('0&\xb2u'), '唱段.flac': Buffer.from('fLaC'), '讲座.mp4': Buffer.from('\0\0\0\x18ftypmp42'),
    });
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
    server = createServer((req, res) => {
      const name = decodeURIComponent(req.url!.slice(1));
      void sendObject(req, res, { objectPath: join(dir, name), sha256: 'a'.repeat(64), size: files[name]!.length, mtime: 1_700_000_000, name, download: false });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  function get(name: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string | undefined; body: Buffer }> {
    return new Promise((resolve, reject) => {
      request(`${base}/${encodeURIComponent(name)}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
      }).on('error', reject).end();
    });
  }

  it('offers the media no browser plays (RealMedia, Windows Media) as downloads, typed for what they are', async () => {
    for (const [name, type, disposition] of [
      ['天仙配.rmvb', 'application/vnd.rn-realmedia-vbr', 'attachment'], ['唱段.wma', 'audio/x-ms-wma', 'attachment'],
      ['唱段.flac', 'audio/flac', 'inline'], ['讲座.mp4', 'video/mp4', 'inline'],
    ]) {
      const r = await fetch(`${base}/${encodeURIComponent(name!)}`);
      expect(r.headers.get('content-type'), name).toBe(type);
      expect(r.headers.get('content-disposition')?.split(';')[0], name).toBe(disposition);
      expect(Buffer.from(await r.arrayBuffer()).equals(files[name!]!), name).toBe(true);
    }
  });

  it('says GB18030, UTF-16 or UTF-8 as the file is, so the browser shows its Chinese', async () => {
    const expected: Record<string, string> = {
      'gbk.txt': 'text/plain; charset=gb18030', 'utf8.txt': 'text/plain; charset=utf-8', 'long.txt': 'text/plain; charset=utf-8',
      'later.txt': 'text/plain; charset=gb18030', 'unicode.txt': 'text/plain; charset=utf-16le',
      'page.html': 'text/plain; charset=gb18030', 'list.csv': 'text/plain; charset=gb18030', 'photo.jpg': 'image/jpeg',
    };
    for (const [name, type] of Object.entries(expected)) {
      const r = await get(name);
      expect(r.status, name).toBe(200);
      expect(r.type, name).toBe(type);
      expect(r.body.equals(files[name]!), name).toBe(true); // the bytes as they are: only the label differs
    }
    expect(new TextDecoder('gb18030').decode((await get('gbk.txt')).body)).toBe(NOTICE);
    // A range of it says the same; a revalidation sends no body and no type.
    const part = await get('later.txt', { Range: 'bytes=12-' });
    expect(part.status).toBe(206);
    expect(part.type).toBe('text/plain; charset=gb18030');
    expect(new TextDecoder('gb18030').decode(part.body)).toBe(NOTICE);
    const same = await get('gbk.txt', { 'If-None-Match': `"${'a'.repeat(64)}"` });
    expect(same.status).toBe(304);
    expect(same.type).toBeUndefined();
  });
});

describe('presentEntries: the objects a zip can take', () => {
  it('keeps those on disk with the catalog\'s size, in the order given, looking at many at once', async () => {
    const dir = await tempDir('bookcrate-present-');
    const entries = Array.from({ length: 40 }, (_, i) => ({ objectPath: join(dir, `o${i}`), name: `第${i + 1}页.jpg`, size: 10, mtime: 0 }));
    for (const [i, e] of entries.entries()) {
      if (i % 7 === 3) continue; // missing
      await writeFile(e.objectPath, Buffer.alloc(i % 11 === 5 ? 9 : 10)); // some of another size
    }
    const kept = await presentEntries(entries);
    expect(kept.map((e) => e.name)).toEqual(entries.filter((_, i) => i % 7 !== 3 && i % 11 !== 5).map((e) => e.name));
    expect(await presentEntries([])).toEqual([]);
  });
});

describe('a reader who left while the handler awaited something', () => {
  it("sendZip settles at once, and whenClosed runs, for a response whose connection has closed", async () => {
    // What the hostile-reader test met: the connection closed while the handler looked up the
    // zip's files (bytes that do not parse after the request make Node close it); the response's
    // 'close' had come and gone, a listener added after never ran, and the zip's place was held.
    const dir = await tempDir('bookcrate-left-');
    const object = join(dir, 'page.jpg');
    await writeFile(object, Buffer.alloc(1000, 7));
    const outcome = new Promise<{ closedFirst: boolean; zipSettled: boolean; whenClosedRan: boolean }>((resolve) => {
      const server = createServer(async (req, res) => {
        await new Promise((r) => setTimeout(r, 150)); // the reader is gone by now
        const closedFirst = res.closed;
        let whenClosedRan = false;
        whenClosed(res, () => (whenClosedRan = true));
        const zipSettled = await Promise.race([
          sendZip(req, res, 'x.zip', [{ objectPath: object, size: 1000, mtime: 1_700_000_000, name: 'page.jpg' }]).then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
        ]);
        await new Promise((r) => setTimeout(r, 10));
        server.close();
        resolve({ closedFirst, zipSettled, whenClosedRan });
      });
      server.listen(0, '127.0.0.1', () => {
        void askAndLeave(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/zip');
      });
    });
    expect(await outcome).toEqual({ closedFirst: true, zipSettled: true, whenClosedRan: true });
  });
});
