import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextDecoder } from 'node:util';
import type { ZipEntryData } from 'archiver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip } from './testkit.js';
import { crc32, encodeGbk, gbkHeaderNames, GbkNamedEntry, GbkZipArchive, unicodePathExtra, zipNamesFor } from './zip-names.js';

const gbkDecode = (b: Buffer) => new TextDecoder('gbk').decode(b);

describe('GBK names', () => {
  it('encodes every CJK ideograph of GBK, and reads back the same', () => {
    expect(encodeGbk('国图公开课').bytes.toString('hex')).toBe('b9facdbcb9abbfaabfce');
    expect(encodeGbk('第1讲.mp4').bytes.toString('hex')).toBe('b5da31bdb22e6d7034');
    // GBK holds the whole CJK Unified Ideographs block of Unicode 2.0 (U+4E00–U+9FA5) and the
    // punctuation a title uses.
    let all = '（）《》、—…·「」【】';
    for (let cp = 0x4e00; cp <= 0x9fa5; cp++) all += String.fromCodePoint(cp);
    const { bytes, shown } = encodeGbk(all);
    expect(shown).toBe(all);
    expect(gbkDecode(bytes)).toBe(all);
  });

  it('writes _ for a character GBK lacks', () => {
    expect(encodeGbk('第𠀀讲.pdf').shown).toBe('第_讲.pdf'); // CJK Extension B
    expect(encodeGbk('合影😀.jpg').shown).toBe('合影_.jpg');
    expect(gbkDecode(encodeGbk('第𠀀讲.pdf').bytes)).toBe('第_讲.pdf');
  });

  it('tells apart names that GBK would show alike, whatever their order, without regard to case', () => {
    const names = ['课/第𠀀讲.pdf', '课/第_讲.pdf', '课/第𠀁讲.pdf', '课/第😀讲', 'Readme.TXT', '课/第_讲 (2).PDF', 'x/😀'];
    const got = gbkHeaderNames(names);
    const shown = (n: string) => gbkDecode(got.get(n)!.bytes);
    expect(got.has('Readme.TXT')).toBe(false); // plain ASCII: written as archiver writes it
    expect(shown('课/第_讲.pdf')).toBe('课/第_讲.pdf'); // a real name keeps its name
    expect(got.get('课/第_讲.pdf')!.exact).toBe(true);
    expect(shown('课/第_讲 (2).PDF')).toBe('课/第_讲 (2).PDF');
    expect(shown('课/第𠀀讲.pdf')).toBe('课/第_讲 (3).pdf'); // (2) is taken, in another case
    expect(shown('课/第𠀁讲.pdf')).toBe('课/第_讲 (4).pdf');
    expect(shown('课/第😀讲')).toBe('课/第_讲');
    expect(shown('x/😀')).toBe('x/_');
    for (const n of ['课/第𠀀讲.pdf', '课/第𠀁讲.pdf', '课/第😀讲', 'x/😀']) expect(got.get(n)!.exact, n).toBe(false);
  });

  it('the Unicode Path field: id, version, the CRC-32 of the header name, the UTF-8 name', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926); // the CRC-32 check value
    const header = encodeGbk('第𠀀讲.pdf').bytes;
    const f = unicodePathExtra(header, '第𠀀讲.pdf');
    expect(f.readUInt16LE(0)).toBe(0x7075);
    expect(f.readUInt16LE(2)).toBe(f.length - 4);
    expect(f[4]).toBe(1);
    expect(f.readUInt32LE(5)).toBe(crc32(header));
    expect(f.subarray(9).toString('utf8')).toBe('第𠀀讲.pdf');
  });

  it('gives GBK to a Windows browser that asks for simplified Chinese first, UTF-8 to everyone else', () => {
    const win7 = 'Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 Safari/537.36';
    const win11 = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
    const mac = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';
    const android = 'Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36';
    expect(zipNamesFor({ 'user-agent': win7, 'accept-language': 'zh-CN,zh;q=0.9' })).toBe('gbk');
    expect(zipNamesFor({ 'user-agent': win11, 'accept-language': 'zh-cn,zh;q=0.8,en-us;q=0.5' })).toBe('gbk');
    expect(zipNamesFor({ 'user-agent': win11, 'accept-language': 'zh' })).toBe('gbk');
    expect(zipNamesFor({ 'user-agent': win11, 'accept-language': 'zh-Hans-CN' })).toBe('gbk');
    expect(zipNamesFor({ 'user-agent': win11, 'accept-language': 'en-US,zh-CN;q=0.5' })).toBe('utf8');
    expect(zipNamesFor({ 'user-agent': win11, 'accept-language': 'zh-TW,zh;q=0.9' })).toBe('utf8'); // code page 950
    expect(zipNamesFor({ 'user-agent': win11 })).toBe('utf8');
    expect(zipNamesFor({ 'user-agent': mac, 'accept-language': 'zh-CN' })).toBe('utf8');
    expect(zipNamesFor({ 'user-agent': android, 'accept-language': 'zh-CN' })).toBe('utf8');
    expect(zipNamesFor({})).toBe('utf8');
  });
});

describe('GbkZipArchive', () => {
  let dir: string;
  const small = Buffer.from('第一讲的字幕\n'.repeat(50));
  const big = Buffer.alloc(300_000, 7);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bookcrate-gbkzip-'));
    await writeFile(join(dir, 'small'), small);
    await writeFile(join(dir, 'big'), big);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function build(file: string, names: string[], forceZip64: boolean): Promise<Buffer> {
    const archive = new GbkZipArchive({ forceLocalTime: true, statConcurrency: 1, forceZip64 }, names);
    const out = createWriteStream(join(dir, file));
    archive.pipe(out);
    const data = (name: string, i: number): ZipEntryData => ({ name, date: new Date(2024, 0, 2), mode: 0o644, store: i % 2 === 1 });
    names.forEach((name, i) => archive.file(join(dir, i % 2 ? 'big' : 'small'), data(name, i)));
    await archive.finalize();
    await new Promise<void>((resolve) => out.on('close', () => resolve()));
    return readFile(join(dir, file));
  }

  for (const forceZip64 of [false, true]) {
    it(`writes GBK names without the UTF-8 flag${forceZip64 ? ' (ZIP64)' : ''}, and the exact name where GBK lacks a character`, async () => {
      const names = ['国图公开课/第1讲.txt', '国图公开课/第𠀀讲.bin', 'notes.txt', '国图公开课/第_讲.bin'];
      const file = `names${forceZip64 ? '64' : ''}.zip`;
      const zip = await build(file, names, forceZip64);
      expect(zip.includes(Buffer.from([0x50, 0x4b, 0x06, 0x07])), 'ZIP64 end locator').toBe(forceZip64);
      const entries = readZip(zip);
      // As Explorer on a Chinese Windows reads them (code page 936):
      expect(entries.map((e) => e.name)).toEqual(['国图公开课/第1讲.txt', '国图公开课/第_讲 (2).bin', 'notes.txt', '国图公开课/第_讲.bin']);
      entries.forEach((e, i) => {
        expect(e.flags & 0x800, e.name).toBe(0);
        expect(e.data.equals(i % 2 ? big : small), e.name).toBe(true);
        // The Unicode Path field: only where GBK lost a character, in both headers, after the ZIP64 field.
        for (const extra of [e.centralExtra, e.localExtra]) {
          const upath = extra.get(0x7075);
          if (i !== 1) {
            expect(upath, e.name).toBeUndefined();
            continue;
          }
          expect(upath![0]).toBe(1);
          expect(upath!.readUInt32LE(1)).toBe(crc32(e.nameBytes));
          expect(upath!.subarray(5).toString('utf8')).toBe(names[1]);
        }
      });

      // Python's zipfile told the PC's code page, as Explorer is: every name, every byte.
      const py = spawnSync('python3', ['-c', `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1], metadata_encoding='gbk')
print('\\n'.join(i.filename for i in z.infolist()))
print(z.testzip())`, join(dir, file)], { encoding: 'utf8' });
      if (!py.error) {
        expect(py.status, py.stderr).toBe(0);
        expect(py.stdout.trim().split('\n')).toEqual([...entries.map((e) => e.name), 'None']);
      }
      // 7-Zip reads the exact name from the Unicode Path field.
      if (spawnSync('7zz', ['i'], { stdio: 'ignore' }).status === 0) {
        const t = spawnSync('7zz', ['t', join(dir, file)], { encoding: 'utf8' });
        expect(t.status, t.stdout).toBe(0);
        const l = spawnSync('7zz', ['l', '-slt', join(dir, file)], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
        expect(l.stdout).toContain('Path = 国图公开课/第𠀀讲.bin');
      }
    });
  }

  it('an entry past 4 GiB keeps its Unicode Path field after the ZIP64 one', () => {
    // compress-commons replaces an entry's extra field with the ZIP64 field when it writes the
    // central header of a file or offset past 4 GiB (checked by hand on a 4.3 GB zip: docs/serve.md).
    const name = '第𠀀讲.mp4';
    const entry = new GbkNamedEntry(name, gbkHeaderNames([name]).get(name)!);
    const zip64 = Buffer.from('0100180000000000010000000000000001000000000000000000000000000000', 'hex').subarray(0, 28);
    entry.setExtra(zip64);
    const extra = entry.getCentralDirectoryExtra();
    expect(extra.subarray(0, 28).equals(zip64)).toBe(true);
    expect(extra.subarray(28).equals(unicodePathExtra(encodeGbk(name).bytes, name))).toBe(true);
  });

  it('a zip whose names GBK holds is one Info-ZIP unzip tests clean', async () => {
    const names = ['国图公开课/第1讲.txt', '国图公开课/讲义.bin', '国图公开课/字幕（全）.txt'];
    const entries = readZip(await build('plain.zip', names, false));
    expect(entries.map((e) => e.name)).toEqual(names);
    for (const e of entries) expect(e.centralExtra.size + e.localExtra.size, e.name).toBe(0);
    if (spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status === 0) {
      const t = spawnSync('unzip', ['-t', join(dir, 'plain.zip')], { encoding: 'latin1' });
      expect(t.status, t.stdout + t.stderr).toBe(0);
    }
  });
});
