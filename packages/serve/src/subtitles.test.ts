import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { kindOf } from './files.js';
import { subtitlesFor, toWebVtt } from './subtitles.js';
import { buildFixture, IDS, LECTURE_SRT, LECTURE_VTT, sha256, type Fixture } from './testkit.js';
import { startServer, type RunningServer } from './server.js';

const isVideo = (p: string) => kindOf(p) === 'video';
const pairs = (paths: string[], language?: string) =>
  Object.fromEntries([...subtitlesFor(paths, isVideo, language)].map(([v, ts]) => [v, ts.map((t) => `${t.path}|${t.srclang}|${t.label}`)]));

describe('which subtitle files go with which video', () => {
  it('by the video\'s name, in its folder, with the language the rest of the name tells', () => {
    expect(pairs([
      '课/第1讲.mp4', '课/第1讲.srt', '课/第1讲.en.srt', '课/第1讲.繁體.vtt', '课/第1讲 上.mp4', '课/第1讲 上.srt',
      '课/第2讲.mp4', '课/第2讲.chs.srt', '课/第3讲.mp4', '课/讲义.pdf', '别处/第3讲.srt',
    ])).toEqual({
      '课/第1讲.mp4': ['课/第1讲.srt|zh|', '课/第1讲.en.srt|en|English', '课/第1讲.繁體.vtt|zh-Hant|繁體中文'], // zh first, then as listed
      '课/第1讲 上.mp4': ['课/第1讲 上.srt|zh|'], // not 第1讲's
      '课/第2讲.mp4': ['课/第2讲.chs.srt|zh|中文'],
      // 第3讲 has none: the subtitle of that name is in another folder
    });
  });

  it('a name that carries the video\'s extension too (第1讲.mp4.srt, as some tools write it)', () => {
    expect(pairs(['课/第1讲.mp4', '课/第1讲.mp4.srt', '课/第1讲.MP4.en.srt'])).toEqual({
      '课/第1讲.mp4': ['课/第1讲.mp4.srt|zh|', '课/第1讲.MP4.en.srt|en|English'],
    });
  });

  it('a name that tells no language it knows is the label; the resource\'s language orders them', () => {
    expect(pairs(['a/Lecture 1.mp4', 'a/Lecture 1.en.srt', 'a/Lecture 1.双语.srt'], 'eng')).toEqual({
      'a/Lecture 1.mp4': ['a/Lecture 1.en.srt|en|English', 'a/Lecture 1.双语.srt|en|双语'],
    });
  });

  it('the subtitles of a resource with one video go with it whatever their names, where none names a video', () => {
    expect(pairs(['戏/天仙配.mp4', '戏/唱词.srt', '戏/英文.srt'])).toEqual({ '戏/天仙配.mp4': ['戏/唱词.srt|zh|唱词', '戏/英文.srt|en|English'] });
    expect(pairs(['戏/上集.mp4', '戏/下集.mp4', '戏/唱词.srt'])).toEqual({}); // two videos: whose would it be?
    expect(pairs(['戏/唱词.srt', '戏/唱词.txt'])).toEqual({});
  });
});

describe('toWebVtt', () => {
  it('turns a GBK SubRip file with CRLF into WebVTT in UTF-8, its tags and arrows made harmless', () => {
    expect(toWebVtt(LECTURE_SRT)).toBe(LECTURE_VTT);
  });

  it('reads UTF-16 and UTF-8 with a mark, short timings, and stray lines between cues', () => {
    const srt = '\uFEFF1\n0:0:1,5 --> 0:00:02,25\n<i>你好</i>\n\n\n\nnot a cue\n2\n00:00:03,000 --> 00:00:04,000 X1:0\n再见\n';
    const want = 'WEBVTT\n\n1\n00:00:01.500 --> 00:00:02.250\n<i>你好</i>\n\n2\n00:00:03.000 --> 00:00:04.000\n再见\n';
    expect(toWebVtt(Buffer.from(srt, 'utf8'))).toBe(want);
    expect(toWebVtt(Buffer.from(srt, 'utf16le'))).toBe(want);
  });

  it('leaves a WebVTT file as it is, but for its charset and line ends', () => {
    expect(toWebVtt(Buffer.from('WEBVTT\r\n\r\n00:01.000 --> 00:02.000\r\n字幕\r\n'))).toBe('WEBVTT\n\n00:01.000 --> 00:02.000\n字幕\n');
  });
});

describe('subtitles over HTTP (the fixture\'s lecture has a GBK 第1讲.srt)', () => {
  let fx: Fixture;
  let srv: RunningServer;
  beforeAll(async () => {
    fx = await buildFixture();
    srv = await startServer({ store: fx.dir, listen: '127.0.0.1:0' });
  });
  afterAll(async () => {
    await srv?.close();
    if (fx) await rm(fx.dir, { recursive: true, force: true });
  });
  const url = () => `${srv.url}/vtt/${fx.vid}/${['国图公开课', '敦煌壁画艺术', '第1讲.srt'].map(encodeURIComponent).join('/')}`;

  it('the lecture\'s video carries the subtitles as a track, shown by default', async () => {
    const page = await (await fetch(`${srv.url}/r/${fx.vid}/${encodeURIComponent(IDS.dunhuang)}`)).text();
    expect(page).toContain(`<track kind="subtitles" src="${url().slice(srv.url.length)}" srclang="zh" label="字幕" default>`);
    expect(page.match(/<track /g)).toHaveLength(1);
    const en = await (await fetch(`${srv.url}/r/${fx.vid}/${encodeURIComponent(IDS.dunhuang)}?lang=en`)).text();
    expect(en).toContain('label="Subtitles" default>');
  });

  it('sends them as WebVTT in UTF-8, with an ETag of their own; 304 when unchanged; HEAD without a body', async () => {
    const r = await fetch(url());
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/vtt; charset=utf-8');
    expect(await r.text()).toBe(LECTURE_VTT);
    const etag = r.headers.get('etag')!;
    expect(etag).toBe(`"${sha256(LECTURE_SRT)}.vtt"`); // not the file's own: other bytes
    expect((await fetch(url(), { headers: { 'if-none-match': etag } })).status).toBe(304);
    const head = await fetch(url(), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(LECTURE_VTT)));
    expect(await head.text()).toBe('');
    // Opened on its own (the file's link), it is the file as it is, labelled with its charset.
    const raw = await fetch(`${srv.url}/file/${fx.vid}/${['国图公开课', '敦煌壁画艺术', '第1讲.srt'].map(encodeURIComponent).join('/')}`);
    expect(raw.headers.get('content-type')).toBe('text/plain; charset=gb18030');
    expect(Buffer.from(await raw.arrayBuffer()).equals(LECTURE_SRT)).toBe(true);
  });

  it('only subtitle files of a version readers see, by their catalog path', async () => {
    const at = (path: string, vid = fx.vid) => fetch(`${srv.url}/vtt/${vid}/${path.split('/').map(encodeURIComponent).join('/')}`).then((r) => r.status);
    expect(await at('国图公开课/敦煌壁画艺术/字幕.txt')).toBe(404); // not a subtitle file
    expect(await at('国图公开课/敦煌壁画艺术/没有.srt')).toBe(404);
    expect(await at('国图公开课/敦煌壁画艺术/第1讲.srt', fx.importingVid)).toBe(404);
    expect((await fetch(`${srv.url}/vtt/${fx.vid}/${encodeURIComponent('国图公开课')}/..%2F..%2Fcatalog.srt`)).status).toBe(400);
  });
});
