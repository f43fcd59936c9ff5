import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { TextDecoder } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { encodeRoot, FORMAT, type CollectionInfo, type FileEntry, type ResourceEntry, type Root } from '@bookcrate/format';
import { ImportStaging, Store } from '@bookcrate/store';

/**
 * Builds a real county store through the Store API, the way the importer fills one: versions,
 * resources, collections, object files under objects/, segments committed (files present or
 * damaged), versions made current. Tests of serve run against it over real HTTP.
 */

/** A 4-second 64×48 H.264 (baseline) MP4 with faststart, made by
 * `ffmpeg -f lavfi -i color=c=0x8a2b10:size=64x48:rate=10 -t 4 -c:v libx264 -profile:v baseline -pix_fmt yuv420p -g 10 -an -movflags +faststart`.
 * Used when ffmpeg is not installed, so the browser test always has a decodable video. */
const TINY_MP4 = 'AAAAIGZ0eXBpc29tAAACAGlzb21pc28yYXZjMW1wNDEAAAOrbW9vdgAAAGxtdmhkAAAAAAAAAAAAAAAAAAAD6AAAD6AAAQAAAQAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAAvp0cmFrAAAAXHRraGQAAAADAAAAAAAAAAAAAAABAAAAAAAAD6AAAAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAABAAAAAAEAAAAAwAAAAAAAkZWR0cwAAABxlbHN0AAAAAAAAAAEAAA+gAAAAAAABAAAAAAJybWRpYQAAACBtZGhkAAAAAAAAAAAAAAAAAAAoAAAAoABVxAAAAAAALWhkbHIAAAAAAAAAAHZpZGUAAAAAAAAAAAAAAABWaWRlb0hhbmRsZXIAAAACHW1pbmYAAAAUdm1oZAAAAAEAAAAAAAAAAAAAACRkaW5mAAAAHGRyZWYAAAAAAAAAAQAAAAx1cmwgAAAAAQAAAd1zdGJsAAAAuXN0c2QAAAAAAAAAAQAAAKlhdmMxAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAEAAMABIAAAASAAAAAAAAAABDExhdmMgbGlieDI2NAAAAAAAAAAAAAAAAAAAAAAAAAAAGP//AAAAL2F2Y0MBQsAK/+EAF2dCwArZBHsBEAAAAwAQAAADAUDxImSAAQAFaMuDyyAAAAAQcGFzcAAAAAEAAAABAAAAFGJ0cnQAAAAAAAAIvAAACLwAAAAYc3R0cwAAAAAAAAABAAAAKAAABAAAAAAgc3RzcwAAAAAAAAAEAAAAAQAAAAsAAAAVAAAAHwAAABxzdHNjAAAAAAAAAAEAAAABAAAAKAAAAAEAAAC0c3RzegAAAAAAAAAAAAAAKAAAApMAAAAKAAAACgAAAAoAAAAKAAAACgAAAAoAAAAKAAAACgAAAAoAAAAhAAAACgAAAAoAAAAKAAAACgAAAAoAAAAKAAAACgAAAAoAAAAKAAAAIQAAAAoAAAAKAAAACgAAAAoAAAAKAAAACgAAAAoAAAAKAAAACgAAACEAAAAKAAAACgAAAAoAAAAKAAAACgAAAAoAAAAKAAAACgAAAAoAAAAUc3RjbwAAAAAAAAABAAAD2wAAAD11ZHRhAAAANW1ldGEAAAAAAAAAIWhkbHIAAAAAAAAAAG1kaXJhcHBsAAAAAAAAAAAAAAAACGlsc3QAAAAIZnJlZQAABGZtZGF0AAACbwYF//9r3EXpvebZSLeWLNgg2SPu73gyNjQgLSBjb3JlIDE2NCByMzA5NSBiYWVlNDAwIC0gSC4yNjQvTVBFRy00IEFWQyBjb2RlYyAtIENvcHlsZWZ0IDIwMDMtMjAyMiAtIGh0dHA6Ly93d3cudmlkZW9sYW4ub3JnL3gyNjQuaHRtbCAtIG9wdGlvbnM6IGNhYmFjPTAgcmVmPTMgZGVibG9jaz0xOjA6MCBhbmFseXNlPTB4MToweDExMSBtZT1oZXggc3VibWU9NyBwc3k9MSBwc3lfcmQ9MS4wMDowLjAwIG1peGVkX3JlZj0xIG1lX3JhbmdlPTE2IGNocm9tYV9tZT0xIHRyZWxsaXM9MSA4eDhkY3Q9MCBjcW09MCBkZWFkem9uZT0yMSwxMSBmYXN0X3Bza2lwPTEgY2hyb21hX3FwX29mZnNldD0tMiB0aHJlYWRzPTEgbG9va2FoZWFkX3RocmVhZHM9MSBzbGljZWRfdGhyZWFkcz0wIG5yPTAgZGVjaW1hdGU9MSBpbnRlcmxhY2VkPTAgYmx1cmF5X2NvbXBhdD0wIGNvbnN0cmFpbmVkX2ludHJhPTAgYmZyYW1lcz0wIHdlaWdodHA9MCBrZXlpbnQ9MTAga2V5aW50X21pbj0xIHNjZW5lY3V0PTQwIGludHJhX3JlZnJlc2g9MCByY19sb29rYWhlYWQ9MTAgcmM9Y3JmIG1idHJlZT0xIGNyZj0yMy4wIHFjb21wPTAuNjAgcXBtaW49MCBxcG1heD02OSBxcHN0ZXA9NCBpcF9yYXRpbz0xLjQwIGFxPTE6MS4wMACAAAAAHGWIhA/xGKAAJ+ccAARJ44AAkGScnJ111111114AAAAGQZo4H+NgAAAABkGaVAf42AAAAAZBmmA/xsAAAAAGQZqAP8bAAAAABkGaoD/GwAAAAAZBmsA/xsAAAAAGQZrgP8bAAAAABkGbAD/GwAAAAAZBmyA/xsAAAAAdZYiCAS8RigACuHHAAEbOOAAJfUnJyddddddddeAAAAAGQZo4H+NgAAAABkGaVAf42AAAAAZBmmA/xsAAAAAGQZqAP8bAAAAABkGaoD/GwAAAAAZBmsA/xsAAAAAGQZrgP8bAAAAABkGbAD/GwAAAAAZBmyA/xsAAAAAdZYiEBLxGKAAK4ccAARs44AAl9ScnJ111111114AAAAAGQZo4H+NgAAAABkGaVAf42AAAAAZBmmA/xsAAAAAGQZqAP8bAAAAABkGaoD/GwAAAAAZBmsA/xsAAAAAGQZrgP8bAAAAABkGbAD/GwAAAAAZBmyA/xsAAAAAdZYiCAS8RigACuHHAAEbOOAAJfUnJyddddddddeAAAAAGQZo4H+NgAAAABkGaVAf42AAAAAZBmmA/xsAAAAAGQZqAP8bAAAAABkGaoD/GwAAAAAZBmsA/xsAAAAAGQZrgP8bAAAAABkGbADvGwAAAAAZBmyA3xsA=';

async function tinyMp4(): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'bookcrate-mp4-'));
  try {
    const out = join(dir, 'v.mp4');
    const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '4',
      '-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-g', '10', '-an', '-movflags', '+faststart', out], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return await readFile(out);
  } catch {
    /* no ffmpeg: the embedded clip */
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return Buffer.from(TINY_MP4, 'base64');
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export interface Fixture {
  dir: string;
  /** The current version of the main bundle. */
  vid: number;
  /** Its previous version (no longer current). */
  oldVid: number;
  /** A version of another bundle still importing (never shown). */
  importingVid: number;
  /** Every file of the current version by path. */
  bytes: Map<string, Buffer>;
  mtime: number;
}

export const IDS = {
  dunhuang: 'CDOI:NLC/GTGKK/2019/0001',
  architecture: 'CDOI:NLC/GTGKK/2020/0002',
  hostile: 'CDOI:NLC/GTGKK/2021/0003',
  opera: 'CDOI:NLC/DFX/0001',
  longOpera: 'CDOI:NLC/DFX/0002',
  gates: 'CDOI:NLC/LZP/0001',
  summerPalace: 'CDOI:NLC/LZP/0002',
  comic: (n: number) => `CDOI:NLC/LHH/${String(n).padStart(4, '0')}`,
};

const MTIME = 1_700_000_000;

interface FileSpec { path: string; bytes: Buffer; resource: string; state: 'present' | 'damaged' | 'pending' | 'no-object'; volume?: number }

function root(bundle: { id: string; version: number; title: string }, collections: CollectionInfo[], files: FileSpec[], resources: number, volumes: number): Root {
  const empty = { depth: 1, count: 0, parts: [] };
  return {
    format: FORMAT,
    bundle: { ...bundle, created: '2024-06-01T08:00:00.000Z' },
    totals: { files: files.length, dirs: 0, bytes: files.reduce((n, f) => n + f.bytes.length, 0), resources },
    collections,
    files: empty,
    resources: empty,
    layout: { set: `set-${bundle.id}-${bundle.version}`, segmentSize: 1 << 30, volumes: Array.from({ length: volumes }, (_, i) => ({ index: i + 1, segments: [] })), members: empty },
  };
}

function collectionsOf(list: { id: string; title: string; path: string }[], files: FileSpec[]): CollectionInfo[] {
  return list.map((c) => {
    const mine = files.filter((f) => f.path.startsWith(c.path + '/'));
    return { ...c, files: mine.length, bytes: mine.reduce((n, f) => n + f.bytes.length, 0) };
  });
}

async function addVersion(store: Store, bundle: { id: string; version: number; title: string }, cols: { id: string; title: string; path: string }[],
  files: FileSpec[], resources: ResourceEntry[], volumes: number, doneVolumes: number[], current: boolean): Promise<number> {
  const r = root(bundle, collectionsOf(cols, files), files, resources.length, volumes);
  const rootBytes = encodeRoot(r);
  async function* fileRows(): AsyncIterable<{ entry: FileEntry; volume: number }> {
    for (const f of files) {
      yield { entry: { path: f.path, type: 'file', size: f.bytes.length, mtime: MTIME, sha256: sha256(f.bytes), xxh64: '0000000000000000', resource: f.resource }, volume: f.volume ?? 1 };
    }
  }
  async function* resRows(): AsyncIterable<ResourceEntry> {
    yield* resources;
  }
  const v = await store.addVersion(r, rootBytes, Buffer.from('{}\n'), sha256(rootBytes), fileRows(), resRows());
  for (const f of files) {
    if (f.state === 'no-object') continue;
    // Damaged and pending files get an object too: serve must refuse them by their state alone.
    const p = store.paths.object(sha256(f.bytes));
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.bytes);
  }
  for (const vol of doneVolumes) {
    store.startVolume(v.id, vol);
    const importId = store.startImport(v.id, vol, `/media/usb0/${bundle.id}-v${bundle.version}-vol${vol}`);
    const mine = files.filter((f) => (f.volume ?? 1) === vol);
    // as an import records them: staged, then committed from the staging table
    const staging = ImportStaging.open(store);
    try {
      for (const f of mine) if (f.state === 'present' || f.state === 'no-object') staging.add(f.path, sha256(f.bytes), f.bytes.length, false);
      const batch = staging.cut();
      store.commitSegments(v.id, [vol], importId, batch,
        mine.filter((f) => f.state === 'damaged').map((f) => ({ path: f.path, sha256: sha256(f.bytes), reason: 'hash', detail: 'segment 3 at offset 1048576: SHA-256 does not match' })));
      staging.recorded(batch);
    } finally {
      staging.close();
    }
    store.finishVolume(v.id, vol);
    store.finishImport(importId, 'done', { files: mine.length });
  }
  for (let vol = 1; vol <= volumes; vol++) if (!doneVolumes.includes(vol)) store.startVolume(v.id, vol);
  if (current) store.makeCurrent(v.id);
  return v.id;
}

const text = (s: string) => Buffer.from(s, 'utf8');

/**
 * The lecture's subtitles as a Chinese Windows desk saves SubRip: GBK, CRLF, an ASS tag (at the
 * top) and an arrow in the text. serve sends them to the player as LECTURE_VTT.
 */
export const LECTURE_SRT = Buffer.concat([
  text('1\r\n00:00:00,500 --> 00:00:02,000\r\n'), Buffer.from('b5dad2bbbdb220b6d8bbcdb1dabbadd2d5caf5', 'hex'), // 第一讲 敦煌壁画艺术
  text('\r\n\r\n2\r\n00:00:02,000 --> 00:00:04,000\r\n{\\an8}'), Buffer.from('c4aab8dfbfdf', 'hex'), text(' --> '), Buffer.from('b1dabbad', 'hex'), text('\r\n'), // 莫高窟 --> 壁画
]);
export const LECTURE_VTT = 'WEBVTT\n\n1\n00:00:00.500 --> 00:00:02.000\n第一讲 敦煌壁画艺术\n\n2\n00:00:02.000 --> 00:00:04.000 line:0\n莫高窟 → 壁画\n';
const pdf = (title: string) => text(`%PDF-1.4\n% ${title}\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`);
const jpeg = (seed: string) => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), text(seed), randomBytes(2000), Buffer.from([0xff, 0xd9])]);

export async function buildFixture(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'bookcrate-serve-'));
  const store = await Store.open(dir, { create: true });
  try {
    const mp4 = await tinyMp4();
    const cols = [
      { id: 'gtgkk', title: '国图公开课', path: '国图公开课' },
      { id: 'lhh', title: '中华连环画', path: '中华连环画' },
      { id: 'dfx', title: '地方戏专题视频', path: '地方戏专题视频' },
      { id: 'lzp', title: '老照片', path: '老照片' },
    ];

    // Version 1: the previous version of the bundle, replaced by version 2.
    // It shares one resource with version 2 (中国古代建筑): every other resource of version 2 is a new arrival.
    const oldFiles: FileSpec[] = [
      { path: '国图公开课/旧讲座/录像.mp4', bytes: text('old lecture'), resource: 'CDOI:NLC/OLD/0001', state: 'present' },
      { path: '国图公开课/中国古代建筑/介绍.html', bytes: text('<html>旧版介绍</html>'), resource: IDS.architecture, state: 'present' },
    ];
    const oldVid = await addVersion(store, { id: 'nlc-county', version: 1, title: '县级图书馆资源包 旧版' }, cols.slice(0, 1), oldFiles,
      [{ id: 'CDOI:NLC/OLD/0001', collection: 'gtgkk', title: '旧讲座（已下架）' }, { id: IDS.architecture, collection: 'gtgkk', title: '中国古代建筑' }], 1, [1], true);

    const files: FileSpec[] = [
      { path: '国图公开课/敦煌壁画艺术/第1讲.mp4', bytes: mp4, resource: IDS.dunhuang, state: 'present' },
      { path: '国图公开课/敦煌壁画艺术/讲义.pdf', bytes: pdf('敦煌壁画艺术 讲义'), resource: IDS.dunhuang, state: 'present' },
      { path: '国图公开课/敦煌壁画艺术/字幕.txt', bytes: text('第一讲 敦煌壁画艺术\n'.repeat(200)), resource: IDS.dunhuang, state: 'present' },
      { path: '国图公开课/敦煌壁画艺术/第1讲.srt', bytes: LECTURE_SRT, resource: IDS.dunhuang, state: 'present' },
      { path: '国图公开课/中国古代建筑/资料.bin', bytes: randomBytes(1_000_003), resource: IDS.architecture, state: 'present', volume: 2 },
      { path: '国图公开课/中国古代建筑/介绍.html', bytes: text('<html><script>alert(document.cookie)</script>介绍</html>'), resource: IDS.architecture, state: 'present', volume: 2 },
      { path: '国图公开课/测试/说明.txt', bytes: text('hostile metadata test'), resource: IDS.hostile, state: 'present' },
      { path: '地方戏专题视频/天仙配/上集.mp4', bytes: text('damaged part one'), resource: IDS.opera, state: 'damaged' },
      { path: '地方戏专题视频/天仙配/下集.mp4', bytes: text('pending part two'), resource: IDS.opera, state: 'pending', volume: 3 },
      // larger than a socket's buffers: a download of it stays open while its reader does not read
      { path: '地方戏专题视频/霸王别姬/全剧.mp4', bytes: Buffer.alloc(24 << 20, 'mdat'), resource: IDS.longOpera, state: 'present' },
      { path: '老照片/北京老城门/前门 1900.jpg', bytes: jpeg('qianmen'), resource: IDS.gates, state: 'present' },
      { path: '老照片/北京老城门/德胜门.png', bytes: Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(500)]), resource: IDS.gates, state: 'present' },
      { path: '老照片/北京老城门/正阳门.gif', bytes: Buffer.concat([text('GIF89a'), randomBytes(300)]), resource: IDS.gates, state: 'present' },
      { path: '老照片/颐和园旧影/佛香阁.jpg', bytes: jpeg('foxiangge'), resource: IDS.summerPalace, state: 'no-object' },
    ];
    const resources: ResourceEntry[] = [
      { id: IDS.dunhuang, collection: 'gtgkk', title: '敦煌壁画艺术讲座（第一讲）', creator: '樊锦诗', type: 'video', language: 'chi', date: '2019-05-18', description: '讲述莫高窟壁画的历史、题材与艺术价值。国家图书馆公开课。' },
      { id: IDS.architecture, collection: 'gtgkk', title: '中国古代建筑', creator: '梁思成', type: '讲座', language: 'chi', date: '2020-09-01', description: '从应县木塔到故宫：中国古代木构建筑。' },
      { id: IDS.hostile, collection: 'gtgkk', title: '<script>alert("x")</script> & "测试"', creator: '<b>nobody</b>', description: "it's <img src=x onerror=alert(1)>" },
      { id: IDS.opera, collection: 'dfx', title: '黄梅戏《天仙配》', creator: '安徽省黄梅戏剧院', type: '视频', date: '1955' },
      { id: IDS.longOpera, collection: 'dfx', title: '京剧《霸王别姬》', creator: '梅兰芳', type: '视频', date: '1955' },
      { id: IDS.gates, collection: 'lzp', title: '北京老城门', creator: '佚名', type: '图片', date: '1900', description: '前门、德胜门、正阳门的老照片。' },
      { id: IDS.summerPalace, collection: 'lzp', title: '颐和园旧影', type: '图片' },
    ];
    for (let n = 1; n <= 120; n++) {
      const p = `中华连环画/三国演义/第${String(n).padStart(3, '0')}册.pdf`;
      files.push({ path: p, bytes: pdf(`三国演义 第${n}册`), resource: IDS.comic(n), state: 'present' });
      resources.push({ id: IDS.comic(n), collection: 'lhh', title: `三国演义连环画 第${String(n).padStart(3, '0')}册`, creator: '上海人民美术出版社', type: 'Comic', date: '1957' });
    }
    files.sort((a, b) => (a.path < b.path ? -1 : 1));
    const vid = await addVersion(store, { id: 'nlc-county', version: 2, title: '县级图书馆资源包 2024' }, cols, files, resources, 3, [1, 2], true);

    // Another bundle whose second volume has not arrived: never shown to readers.
    const importingVid = await addVersion(store, { id: 'nlc-kids', version: 1, title: '少儿资源包' }, [{ id: 'hdxx', title: '互动学习动漫数据库', path: '互动学习动漫数据库' }],
      [{ path: '互动学习动漫数据库/字母歌/字母歌.mp4', bytes: text('abc song'), resource: 'CDOI:NLC/HDXX/0001', state: 'present' },
        { path: '互动学习动漫数据库/字母歌/练习.pdf', bytes: pdf('练习'), resource: 'CDOI:NLC/HDXX/0001', state: 'pending', volume: 2 }],
      [{ id: 'CDOI:NLC/HDXX/0001', collection: 'hdxx', title: '欢乐少儿英语：字母歌' }], 2, [1], false);

    const bytes = new Map(files.map((f) => [f.path, f.bytes]));
    return { dir, vid, oldVid, importingVid, bytes, mtime: MTIME };
  } finally {
    store.close();
  }
}

export interface ReadZipEntry {
  /** decoded as UTF-8 when the language-encoding flag (bit 11) is set, else as GBK (a Chinese Windows's reading) */
  name: string;
  nameBytes: Buffer;
  flags: number;
  method: number;
  size: number;
  data: Buffer;
  /** extra fields by id, from the central and the local header */
  centralExtra: Map<number, Buffer>;
  localExtra: Map<number, Buffer>;
}

function extraFields(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let p = 0; p + 4 <= buf.length;) {
    const id = buf.readUInt16LE(p);
    const len = buf.readUInt16LE(p + 2);
    if (p + 4 + len > buf.length) throw new Error(`extra field 0x${id.toString(16)} runs past its header`);
    out.set(id, buf.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  return out;
}

/**
 * Reads a whole zip from its central directory, as an unzipper does (no dependency): names, flags,
 * extra fields, and each entry's bytes. Checks that the local header names the same bytes.
 * ZIP64 sizes and offsets come from the 0x0001 extra field; the entry count from the end record.
 */
export function readZip(buf: Buffer): ReadZipEntry[] {
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0; i--) if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) throw new Error('no end of central directory record');
  let count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  if (p === 0xffffffff || count === 0xffff) {
    const loc = eocd - 20;
    if (buf.readUInt32LE(loc) !== 0x07064b50) throw new Error('no ZIP64 end of central directory locator');
    const z = Number(buf.readBigUInt64LE(loc + 8));
    count = Number(buf.readBigUInt64LE(z + 32));
    p = Number(buf.readBigUInt64LE(z + 48));
  }
  const gbk = new TextDecoder('gbk');
  const out: ReadZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`no central header at ${p}`);
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    let csize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    let local = buf.readUInt32LE(p + 42);
    const nameBytes = buf.subarray(p + 46, p + 46 + nlen);
    const centralExtra = extraFields(buf.subarray(p + 46 + nlen, p + 46 + nlen + xlen));
    const zip64 = centralExtra.get(0x0001);
    if (zip64) {
      let q = 0;
      if (size === 0xffffffff) { size = Number(zip64.readBigUInt64LE(q)); q += 8; }
      if (csize === 0xffffffff) { csize = Number(zip64.readBigUInt64LE(q)); q += 8; }
      if (local === 0xffffffff) local = Number(zip64.readBigUInt64LE(q));
    }
    if (buf.readUInt32LE(local) !== 0x04034b50) throw new Error(`no local header at ${local}`);
    const lnlen = buf.readUInt16LE(local + 26);
    const lxlen = buf.readUInt16LE(local + 28);
    if (!buf.subarray(local + 30, local + 30 + lnlen).equals(nameBytes)) throw new Error(`local and central names differ at ${local}`);
    const localExtra = extraFields(buf.subarray(local + 30 + lnlen, local + 30 + lnlen + lxlen));
    const start = local + 30 + lnlen + lxlen;
    const raw = buf.subarray(start, start + csize);
    out.push({
      name: flags & 0x800 ? nameBytes.toString('utf8') : gbk.decode(nameBytes),
      nameBytes: Buffer.from(nameBytes), flags, method, size, centralExtra, localExtra,
      data: method === 8 ? inflateRawSync(raw) : Buffer.from(raw),
    });
    p += 46 + nlen + xlen + clen;
  }
  return out;
}
