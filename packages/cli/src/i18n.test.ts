import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BookcrateError } from '@bookcrate/format';
import { detectLang, errorText, langOfArgv, usageErrorZh } from './i18n.js';
import { BIN } from './testkit.js';

describe('errors in the librarian\'s language', () => {
  const named = new BookcrateError('BUSY', 'another bookcrate (import, pid 7 on lib, since 2026-12-02) is writing to this store', {
    hint: 'wait for it to finish', say: { id: 'store-busy', args: { what: 'import', pid: 7, host: 'lib', since: '2026-12-02' } },
  });

  it('words a named error from the Chinese table, with its values', () => {
    expect(errorText('zh', named)).toEqual({
      message: '另一个 bookcrate 进程（import，进程号 7，主机 lib，开始于 2026-12-02）正在写入这个资源库',
      hints: ['请等它结束后再运行同一命令，或加上 --wait 排队等候'],
    });
  });

  it('keeps the library\'s own words in English', () => {
    expect(errorText('en', named)).toEqual({ message: named.message, hints: ['wait for it to finish'] });
  });

  it('says the kind of an unnamed error in Chinese and keeps its details and hint', () => {
    const e = new BookcrateError('FORMAT', 'files list is out of order at "a/b"', { hint: 'the manifest is inconsistent' });
    expect(errorText('zh', e)).toEqual({
      message: '这张盘的数据格式有误：files list is out of order at "a/b"',
      hints: ['这张盘可能已损坏；请向国家中心索取新的副本', '（the manifest is inconsistent）'],
    });
  });

  it('takes --lang from the command line before the locale', () => {
    const saved = { LANG: process.env.LANG, LC_ALL: process.env.LC_ALL, LC_MESSAGES: process.env.LC_MESSAGES };
    delete process.env.LC_ALL;
    delete process.env.LC_MESSAGES;
    process.env.LANG = 'zh_CN.UTF-8';
    try {
      expect(langOfArgv(['verify', 'd'])).toBe('zh');
      expect(langOfArgv(['verify', 'd', '--lang', 'en'])).toBe('en');
      expect(langOfArgv(['verify', '--lang=en', 'd'])).toBe('en');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('the language of a command without --lang', () => {
  const zhWindows = (): string => 'zh-CN';
  const enSystem = (): string => 'en-US';

  it('follows POSIX: the first of LC_ALL, LC_MESSAGES and LANG that is set and not empty', () => {
    expect(detectLang(undefined, { LANG: 'zh_CN.UTF-8' }, enSystem)).toBe('zh');
    expect(detectLang(undefined, { LC_ALL: 'en_US.UTF-8', LANG: 'zh_CN.UTF-8' }, zhWindows)).toBe('en');
    expect(detectLang(undefined, { LC_MESSAGES: 'zh_CN.GB18030', LANG: 'en_US.UTF-8' }, enSystem)).toBe('zh');
    // an empty variable counts as unset, as in every POSIX program
    expect(detectLang(undefined, { LC_ALL: '', LANG: 'zh_CN.UTF-8' }, enSystem)).toBe('zh');
    // C is a locale of its own: English, whatever the system says
    expect(detectLang(undefined, { LANG: 'C' }, zhWindows)).toBe('en');
  });

  it('takes the system\'s own locale where none of those is set (a Chinese Windows)', () => {
    expect(detectLang(undefined, {}, zhWindows)).toBe('zh');
    expect(detectLang(undefined, { LANG: '' }, zhWindows)).toBe('zh');
    expect(detectLang(undefined, {}, enSystem)).toBe('en');
    expect(detectLang('en', {}, zhWindows)).toBe('en');
  });

  it('the real command: no locale variable at all gives the runtime\'s (English here), an empty one is passed over', () => {
    const bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(LANG|LC_[A-Z]+|LANGUAGE)$/.test(k)));
    const help = (env: Record<string, string | undefined>): string => spawnSync(process.execPath, [BIN, 'verify', '--help'], { env, encoding: 'utf8' }).stdout;
    // ICU's own default on Linux, with nothing set, is en-US (on a Chinese Windows it is zh-CN)
    expect(help(bare)).toMatch(/^Usage: bookcrate verify/);
    expect(help({ ...bare, LC_ALL: '', LANG: 'zh_CN.UTF-8' })).toMatch(/^用法：bookcrate verify/);
  });
});

describe('usage errors in Chinese', () => {
  it('words commander\'s errors with the names kept, and leaves one it does not know as it is', () => {
    expect(usageErrorZh("error: required option '--store <dir>' not specified\n")).toBe('bookcrate：缺少必需的选项 --store <dir>\n');
    expect(usageErrorZh("error: too many arguments for 'verify'. Expected 1 argument but got 2.\n")).toBe('bookcrate：参数过多：verify 命令只接受 1 个参数，这里给了 2 个\n');
    expect(usageErrorZh("error: unknown command 'verfy'\n(Did you mean verify?)\n")).toBe('bookcrate：没有 verfy 这个命令（是不是 verify？）\n');
    expect(usageErrorZh("error: option '--all' cannot be used with option '--only <collection>'\n")).toBe('bookcrate：选项 --all 不能与 --only <collection> 同时使用\n');
    expect(usageErrorZh('error: something new\n')).toBe('error: something new\n');
  });
});

describe('padColumns', () => {
  it('counts a Chinese character as two columns, so lists line up in Chinese as in English', async () => {
    const { padColumns } = await import('./output.js');
    expect(padColumns('hash', 10)).toBe('hash      ');
    expect(padColumns('无法读取', 10)).toBe('无法读取  ');
    expect(padColumns('缺失', 10)).toBe('缺失      ');
    expect(padColumns('分段校验值不符', 16)).toBe('分段校验值不符  ');
    expect(padColumns('a much longer kind', 10)).toBe('a much longer kind');
  });
});
