/**
 * A hostile reader against `serve` (docs/store.md, "What a reader's request can reach"): the one
 * part of bookcrate a library's whole network talks to. Each seed takes valid requests of every
 * kind the server answers (pages, files with Range, subtitles, zips, search, the status page) and
 * mutates them: dot segments in every encoding, NUL and control bytes, overlong and cut UTF-8, other
 * versions' ids and numbers no version has, the store's own files by name, queries in FTS5's syntax,
 * Range and conditional headers of every shape, other methods, a Host, a Cookie, an X-Forwarded-For
 * of garbage, huge headers, raw bytes the HTTP parser must refuse. The requests go over a raw
 * socket, so nothing is normalised on the way out.
 *
 * Properties, for every request: an answer (or, for a request that is not HTTP, a closed
 * connection), never a 5xx other than "busy", never an internal error in the server's log; a
 * redirect only to a path of this server; nothing from outside what readers may see (canaries
 * outside the store, in its root, its tmp/ and parts/, an object no version names), nor a version
 * still importing; a file's bytes (whole or a range) exactly those of the file its catalog row names;
 * a zip's entries all files of the resource; no markup from the request echoed unescaped in a page;
 * one access-log line per answer, each a line of the Combined Log Format; and the server still
 * answering after each seed.
 *
 * A failure names its seed and the request. Many more seeds: `FUZZ_ONLY=reader pnpm fuzz`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDescriptors, sendRaw, type RawAnswer as Answer } from '../../../fixtures/raw-http.js';
import { seededRandom } from '../../../fixtures/tree.js';
import { startServer, type RunningServer } from './server.js';
import { buildFixture, IDS, readZip, type Fixture } from './testkit.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 12);
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
const SEEDS = process.env.FUZZ_SEEDS ? process.env.FUZZ_SEEDS.split(',').map(Number) : Array.from({ length: ITERATIONS }, (_, i) => FIRST_SEED + i);
const REQUESTS_PER_SEED = 60;
const ANSWER_TIMEOUT_MS = 10_000;

/** What serve may answer: pages, files, redirects between versions, "not modified", the reader's mistakes, limits, "busy". */
const ALLOWED = new Set([200, 204, 206, 302, 304, 400, 404, 405, 408, 416, 429, 431, 503]);
/** Markup a mutation puts into paths and queries: a page must never carry it unescaped. */
const MARKUP = '"><x-fz a=1>';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** A string of bytes (each char one byte) as it goes on the wire. */
const bytesOf = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

let fx: Fixture;
let plain: RunningServer;
let portal: RunningServer;
const logs: string[] = [];
let accessLog: string;
let canaries: string[];
const canaryFiles: string[] = [];
/** SHA-256 of every file readers may get, and the files by size (for ranges). */
let servable: Set<string>;
let bySize: Map<number, Buffer[]>;

beforeAll(async () => {
  fx = await buildFixture();
  // Canaries: bytes nobody may be served. Outside the store, in its root, in tmp/ and parts/, and
  // an object in objects/ under its own hash that no version names.
  canaries = Array.from({ length: 5 }, (_, i) => `CANARY-${i}-${randomBytes(8).toString('hex')}`);
  const outside = join(tmpdir(), `bookcrate-canary-${randomBytes(4).toString('hex')}.txt`);
  const orphan = Buffer.from(`orphan object ${canaries[4]}`);
  const orphanSha = sha(orphan);
  for (const [path, body] of [
    [outside, canaries[0]!], [join(fx.dir, 'canary.txt'), canaries[1]!], [join(fx.dir, 'tmp', 'canary.txt'), canaries[2]!],
    [join(fx.dir, 'parts', 'canary.json'), canaries[3]!], [join(fx.dir, 'objects', orphanSha.slice(0, 2), orphanSha), orphan],
  ] as const) {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, body);
    canaryFiles.push(path);
  }
  servable = new Set([...fx.bytes.values()].map(sha));
  bySize = new Map();
  for (const b of fx.bytes.values()) bySize.set(b.length, [...(bySize.get(b.length) ?? []), b]);
  plain = await startServer({
    store: fx.dir, listen: '127.0.0.1:0', log: (l) => logs.push(l),
    clientLimits: { requestsPerSecond: 1e6, downloadsAtOnce: 1000, bytesPerHour: 0 }
  });
  accessLog = join(fx.dir, '..', `bookcrate-access-${randomBytes(4).toString('hex')}.log`);
  canaryFiles.push(accessLog);
  // Behind a portal: a base path, the proxy trusted (X-Forwarded-For counts), two downloads at once
  // per reader (the hostile ones are cut, and each must give its place back), an access log.
  portal = await startServer({
    store: fx.dir, listen: '127.0.0.1:0', log: (l) => logs.push(l), basePath: '/library', trustedProxies: ['127.0.0.1'], accessLog,
    clientLimits: { requestsPerSecond: 1e6, downloadsAtOnce: 2 },
  });
});

afterAll(async () => {
  await plain?.close();
  await portal?.close();
  for (const f of canaryFiles) await rm(f, { force: true });
  if (fx) await rm(fx.dir, { recursive: true, force: true });
});

interface Request {
  server: 'plain' | 'portal';
  method: string;
  /** the request target as bytes (a latin1 string: one char, one byte) */
  target: string;
  headers: [string, string][];
  /** a request line or header no HTTP parser takes: closing without an answer is allowed */
  malformed: boolean;
  /**
   * bytes sent after the headers that no Content-Length announces: to the server, a second request
   * that does not parse, which may cut the answer to the first (Node then closes the connection)
   */
  body?: Buffer;
}

const enc = (path: string): string => path.split('/').map(encodeURIComponent).join('/');

/** Valid requests, one of each kind serve answers. */
function baseTargets(): string[] {
  const v = fx.vid;
  return [
    '/', '/?lang=en', `/c/${v}/gtgkk`, `/c/${v}/lhh?page=2`, `/r/${v}/${encodeURIComponent(IDS.dunhuang)}`,
    `/r/${v}/${encodeURIComponent(IDS.hostile)}`, `/r/${v}/${encodeURIComponent(IDS.gates)}`,
    `/file/${v}/${enc('国图公开课/敦煌壁画艺术/第1讲.mp4')}`, `/file/${v}/${enc('国图公开课/敦煌壁画艺术/讲义.pdf')}`,
    `/file/${v}/${enc('国图公开课/中国古代建筑/资料.bin')}`, `/file/${v}/${enc('国图公开课/中国古代建筑/介绍.html')}?download=1`,
    `/file/${v}/${enc('老照片/北京老城门/前门 1900.jpg')}`, `/file/${v}/${enc('老照片/颐和园旧影/佛香阁.jpg')}`,
    `/file/${v}/${enc('地方戏专题视频/天仙配/上集.mp4')}`, `/file/${fx.oldVid}/${enc('国图公开课/旧讲座/录像.mp4')}`,
    `/file/${fx.importingVid}/${enc('互动学习动漫数据库/字母歌/字母歌.mp4')}`,
    `/vtt/${v}/${enc('国图公开课/敦煌壁画艺术/第1讲.srt')}`, `/zip/${v}/${encodeURIComponent(IDS.gates)}?names=gbk`,
    `/zip/${v}/${encodeURIComponent(IDS.dunhuang)}`, `/search?q=${encodeURIComponent('讲')}`, `/search?q=${encodeURIComponent('三国')}&page=2`,
    '/status', `/new/${v}`, `/updated/${v}`, '/favicon.ico',
  ];
}

const DOTS = ['..', '%2e%2e', '%2E%2e', '.%2e', '%252e%252e', '%c0%ae%c0%ae', '%e0%80%ae%e0%80%ae', '..%5c', '..\\', '%2e%2e%2f', bytesOf('．．'), '...', '.', '%2e'];
const BYTES = ['%00', '%', '%z', '%e4%b8', '%ff', '%ed%a0%80', '\x7f', '\x00', '\x01', '\t', ' ', '\xe4\xb8', '\xff', '"', "'", '<', '>', '`', '{', '|', '^', '#', ';', '~', '%0d%0a', '%0a', '\\'];
const STORE_NAMES = ['catalog.sqlite', 'catalog.sqlite-wal', 'canary.txt', 'tmp/canary.txt', 'parts/canary.json', 'objects', 'lock', 'library', '.versions'];
const VIDS = ['0', '-1', '00', '1e3', '1.0', '0x1', ' 1', '99999999999999999999', '9007199254740993', 'NaN', 'Infinity', '', '%31', '２'];
const QUERIES = [
  '"', '""', '*', 'a*', '^讲', 'NEAR(讲 艺)', 'title:讲', '{title}:讲', '讲 AND', 'OR', 'NOT 讲', '(讲', ')', '-讲', '+', "'", '%', '_',
  '讲" OR "1"="1', "'; DROP TABLE files; --", '\\', '讲'.repeat(500), 'x'.repeat(3000), '\u0000', '\ud83d\ude00', '\ufffd', ' ', MARKUP,
  '<script>alert(1)</script>', '&amp;', 'CDOI:NLC', 'a:b:c', 'rank', 'bm25(x)', '讲 讲 讲 讲 讲 讲 讲 讲 讲 讲 讲 讲',
];
const PAGES = ['0', '-1', '1e308', 'NaN', '', '99999999999', '2.5', '1;DROP', '0x10', '%00', 'Infinity', '18446744073709551617'];
const RANGES = [
  'bytes=0-0', 'bytes=-1', 'bytes=-0', 'bytes=0-', 'bytes=5-1', 'bytes=0-99999999999999999999', 'bytes=99999999999-', 'bytes=1-2,3-4',
  'bytes=abc', 'items=0-1', 'bytes= 0-1', 'bytes=0-1,', 'bytes=-99999999', 'bytes=' + '0-1,'.repeat(2000), 'bytes=1000000-1000002',
  'bytes=-1000004', 'bytes=0--1', 'bytes=--1', 'bytes=1e3-2e3', 'bytes=0x10-0x20', '', 'bytes=0-1\u00e9',
];
const METHODS = ['HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'PROPFIND', 'get', 'BREW', 'CONNECT', 'G ET'];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

function mutateTarget(r: () => number, target: string): { target: string; malformed: boolean } {
  const qi = target.indexOf('?');
  let path = qi < 0 ? target : target.slice(0, qi);
  let query = qi < 0 ? '' : target.slice(qi + 1);
  let malformed = false;
  const segs = path.split('/');
  const at = 1 + Math.floor(r() * (segs.length - 1));
  switch (Math.floor(r() * 16)) {
    case 0: // dot segments climbing out, in some encoding, here or there
      segs.splice(at, 0, ...Array.from({ length: 1 + Math.floor(r() * 6) }, () => pick(r, DOTS)), pick(r, ['etc', 'catalog.sqlite', 'objects', '']));
      break;
    case 1: // a byte or escape where it does not belong
      segs[at] = (segs[at] ?? '') + pick(r, BYTES) + (r() < 0.5 ? pick(r, BYTES) : '');
      malformed = /[\x00-\x20\x7f"<>\\^`{|}]/.test(segs[at]!);
      break;
    case 2: // another version's id, or no version's
      if (segs.length > 2) segs[2] = pick(r, [...VIDS, String(fx.oldVid), String(fx.importingVid), String(fx.vid + 100)]);
      break;
    case 3: // the store's own files, by name
      segs.splice(2, segs.length - 2, String(fx.vid), ...pick(r, STORE_NAMES).split('/'));
      break;
    case 4: // a folder's path instead of a file's, or the path cut
      segs.length = Math.max(2, segs.length - 1 - Math.floor(r() * 2));
      break;
    case 5: // doubled or trailing slashes
      segs.splice(at, 0, '');
      if (r() < 0.5) segs.push('');
      break;
    case 6: // a huge segment
      segs[at] = pick(r, ['a', '%41', '讲', '../']).repeat(500 + Math.floor(r() * 5000));
      break;
    case 7: // the path NFD-decomposed, or in full-width forms, or case changed
      segs[at] = decodeSafe(segs[at] ?? '').normalize(pick(r, ['NFD', 'NFKC', 'NFKD']) as 'NFD');
      segs[at] = r() < 0.5 ? encodeURIComponent(segs[at]!) : segs[at]!.toUpperCase();
      break;
    case 8: // the query: another page, language, names, a second copy of a parameter
      query = [query, `page=${pick(r, PAGES)}`, r() < 0.3 ? `lang=${pick(r, ['en', 'zh', 'fr', '', MARKUP])}` : '', r() < 0.3 ? `names=${pick(r, ['gbk', 'utf8', 'x', ''])}` : '', r() < 0.3 ? 'download=1&download=0' : '']
        .filter(Boolean).join('&');
      break;
    case 9: // a search in FTS5's own syntax, or markup
      path = '/search';
      segs.splice(0, segs.length, '', 'search');
      query = `q=${r() < 0.8 ? encodeURIComponent(pick(r, QUERIES)) : pick(r, ['%', '%zz', '%ed%a0%80', '%00', '+', '&&&', '=='])}${r() < 0.5 ? `&page=${pick(r, PAGES)}` : ''}`;
      break;
    case 10: // markup in a segment
      segs[at] = encodeURIComponent(MARKUP) + (segs[at] ?? '');
      break;
    case 11: // the path in the absolute form a proxy sends, or not starting with /
      return { target: pick(r, ['http://evil.example', 'http://127.0.0.1', '//evil.example', '*', 'evil', '']) + target, malformed: true };
    case 12: // a query of raw bytes
      query = `${query}&${pick(r, ['%', '=%', '&=&', '\xe4\xb8', '%ff%fe', 'q=%00', 'lang=%ff'])}`;
      break;
    case 13: // raw UTF-8 on the wire, as a careless client sends it
      segs[at] = bytesOf(decodeSafe(segs[at] ?? ''));
      break;
    case 14: // a subtitle's route for a file that is not one, a zip's for a file
      if (segs.length > 2) segs[1] = pick(r, ['vtt', 'zip', 'file', 'r', 'c', 'new', 'updated', 'status', 'search', 'FILE', 'static']);
      break;
    default: // a percent-encoded slash inside a segment
      segs[at] = (segs[at] ?? '') + pick(r, ['%2f..%2f..%2fcatalog.sqlite', '%2F', '%5C..%5Ccatalog.sqlite']);
  }
  path = segs.join('/');
  return { target: path + (query ? `?${query}` : ''), malformed };
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A range a video player might ask for, or one past the end: across the fixture's files' sizes (up to 24 MiB). */
function randomRange(r: () => number): string {
  const at = (): number => Math.floor(r() ** 3 * 26_000_000);
  const [a, b] = [at(), at()].sort((x, y) => x - y);
  return pick(r, [`bytes=${a}-${b}`, `bytes=${a}-`, `bytes=-${b}`, `bytes=${a}-${a}`]);
}

function headerMutations(r: () => number): { headers: [string, string][]; malformed: boolean } {
  const headers: [string, string][] = [];
  let malformed = false;
  const n = Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    switch (Math.floor(r() * 12)) {
      case 0: headers.push(['Range', r() < 0.4 ? pick(r, RANGES) : randomRange(r)]); break;
      case 1: headers.push(['Range', pick(r, RANGES)], ['If-Range', pick(r, ['"x"', `"${[...servable][0]}"`, 'Wed, 21 Oct 2015 07:28:00 GMT', '', 'W/"x"'])]); break;
      case 2: headers.push(['If-None-Match', pick(r, ['*', '"x"', 'W/"x"', `"${[...servable][0]}"`, '"a", "b"', ',,,', 'x'.repeat(8000)])]); break;
      case 3: headers.push(['If-Modified-Since', pick(r, ['garbage', 'Wed, 21 Oct 2099 07:28:00 GMT', '0', ''])]); break;
      case 4: headers.push(['Accept-Encoding', pick(r, ['gzip', 'gzip;q=0', '*', 'br', 'identity;q=0', 'x'.repeat(3000), 'gzip, deflate, br, zstd'])]); break;
      case 5: headers.push(['Accept-Language', pick(r, ['en', 'zh-CN', '*', 'xx;q=abc', MARKUP])]); break;
      case 6: headers.push(['X-Forwarded-For', pick(r, ['1.2.3.4', 'garbage', '1.2.3.4, 5.6.7.8', '::1', '999.999.999.999', ', ,', MARKUP, 'unknown'])]); break;
      case 7: headers.push(['User-Agent', pick(r, ['Mozilla/5.0 (Windows NT 6.1; WOW64) Chrome/49', MARKUP, '"quoted" \\ back', '\xe4\xb8\xad', ''])]); break;
      case 8: headers.push(['Cookie', pick(r, ['a=b', 'x'.repeat(4000), '; ;'])], ['Referer', pick(r, ['http://evil.example/"', MARKUP])]); break;
      case 9: headers.push(['X-Big', 'x'.repeat(pick(r, [100, 10_000, 20_000, 70_000]))]); break;
      case 10: headers.push(['Content-Length', pick(r, ['5', '-1', 'abc', '99999999999999999999'])]); malformed = true; break;
      default: headers.push([pick(r, ['X\x01', 'Bad Name', '', 'Transfer-Encoding']), pick(r, ['x', 'chunked', 'gzip, chunked', '\x7f'])]); malformed = true;
    }
  }
  return { headers, malformed };
}

function requestFor(r: () => number): Request {
  const base = pick(r, baseTargets());
  const onPortal = r() < 0.3;
  let { target, malformed } = r() < 0.9 ? mutateTarget(r, base) : { target: base, malformed: false };
  if (r() < 0.3) ({ target, malformed } = ((t) => ({ target: t.target, malformed: malformed || t.malformed }))(mutateTarget(r, target)));
  if (onPortal && target.startsWith('/') && r() < 0.8) target = '/library' + target;
  const h = headerMutations(r);
  // Half the files' requests ask for a range, as a video player's do.
  if (/^(\/library)?\/file\//.test(target) && r() < 0.5) h.headers.push(['Range', randomRange(r)]);
  const method = r() < 0.85 ? 'GET' : pick(r, METHODS);
  const unusual = !['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'PROPFIND', 'TRACE'].includes(method);
  const body = r() < 0.05 ? randomBytes(100) : undefined;
  return { server: onPortal ? 'portal' : 'plain', method, target, headers: h.headers, malformed: malformed || h.malformed || unusual || !!body, ...(body ? { body } : {}) };
}

function headOf(q: Request): Buffer {
  const lines = [`${q.method} ${q.target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...q.headers.map(([k, v]) => `${k}: ${v}`)];
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

/** Everything a request's answer must be (the module comment). Returns what is wrong, or nothing. */
function problemsOf(q: Request, a: Answer): string[] {
  const out: string[] = [];
  if (a.status === 0) {
    if (!q.malformed) out.push('no answer to a well-formed request');
    return out;
  }
  if (!ALLOWED.has(a.status)) out.push(`status ${a.status}`);
  const location = a.headers.get('location');
  if (location !== undefined && !/^\/(?![/\\])[^\x00-\x20\x7f]*$/.test(location)) out.push(`redirected to ${JSON.stringify(location)}`);
  if (q.method === 'HEAD' && a.body.length > 0) out.push('a body for HEAD');
  // An answer cut by the garbage after the request is short, never wrong: its bytes are checked as a prefix.
  const cut = q.body !== undefined;
  const length = a.headers.get('content-length');
  if (length !== undefined && q.method !== 'HEAD' && (cut ? Number(length) < a.body.length : Number(length) !== a.body.length)) out.push(`Content-Length ${length} but ${a.body.length} bytes`);
  let body = a.body;
  if (a.headers.get('content-encoding') === 'gzip' && body.length > 0) {
    try {
      body = gunzipSync(body);
    } catch {
      out.push('a gzip body that does not unzip');
    }
  }
  const text = body.toString('latin1');
  for (const c of canaries) if (text.includes(c)) out.push(`served the canary ${c}`);
  if (body.equals(Buffer.from('abc song'))) out.push('served a file of a version still importing');
  const type = a.headers.get('content-type') ?? '';
  if (type.startsWith('text/html') && body.toString('utf8').includes('<x-fz')) out.push('markup from the request in a page, unescaped');
  if (type.startsWith('text/html') && /\bat \S+\.(js|ts):\d+/.test(body.toString('utf8'))) out.push('a stack trace in a page');
  const route = decodeSafe(q.target.replace(/^\/library/, '')).split('/')[1] ?? '';
  if (q.method === 'GET' && route === 'file' && a.status === 200 && !(cut ? [...fx.bytes.values()].some((f) => f.subarray(0, body.length).equals(body)) : servable.has(sha(body)))) {
    out.push('a file that is not one of the version\'s files');
  }
  if (q.method === 'GET' && a.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(a.headers.get('content-range') ?? '');
    if (!m) out.push(`206 with Content-Range ${a.headers.get('content-range')}`);
    else {
      const [from, to, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
      const whole = bySize.get(total) ?? [];
      if (!whole.some((w) => (cut ? w.subarray(from, from + body.length) : w.subarray(from, to + 1)).equals(body))) out.push(`206 bytes ${from}-${to}/${total} that are not those of any file of that size`);
    }
  }
  if (q.method === 'GET' && route === 'zip' && a.status === 200 && !cut) {
    try {
      const entries = readZip(body);
      if (entries.length === 0) out.push('an empty zip');
      for (const e of entries) if (!servable.has(sha(e.data))) out.push(`a zip entry ${e.name} that is not one of the version's files`);
    } catch (e) {
      out.push(`a zip that does not read: ${(e as Error).message}`);
    }
  }
  if (a.ms > ANSWER_TIMEOUT_MS / 2) out.push(`answered in ${Math.round(a.ms)} ms`);
  return out;
}

let fdsAfterFirstSeed: number | undefined;

/** A line the server logs for an unexpected error (an exception's stack): never allowed. */
const internalError = (l: string): boolean => /^serve: [A-Z]+ \S/.test(l) || /\n\s+at /.test(l);

/** One access-log line: Combined Log Format, quoted fields escaped, one line per answer. */
const COMBINED = /^\S+ - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "(?:[^"\\]|\\x[0-9A-F]{2})*" \d{3} \d+ "(?:[^"\\]|\\x[0-9A-F]{2})*" "(?:[^"\\]|\\x[0-9A-F]{2})*"$/;

describe.skipIf(SEEDS.length === 0)(`a hostile reader: ${SEEDS.length} seeds of ${REQUESTS_PER_SEED} requests from seed ${SEEDS[0]}`, () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const r = seededRandom(seed * 104_729);
      const logBefore = (await readFile(accessLog, 'utf8').catch(() => '')).length;
      const failures: string[] = [];
      /** answers of the portal's request handler (each with its headers), not of Node's parser (a bare 400) */
      let answeredOnPortal = 0;
      /** requests to the portal whose handler's answer may not have reached the socket (see Request.body) */
      let cutOnPortal = 0;
      const met: Record<number, number> = {};
      for (let i = 0; i < REQUESTS_PER_SEED; i++) {
        const q = requestFor(r);
        const a = await sendRaw((q.server === 'plain' ? plain : portal).url, headOf(q), q.body, ANSWER_TIMEOUT_MS);
        met[a.status] = (met[a.status] ?? 0) + 1;
        if (q.server === 'portal' && a.headers.has('x-content-type-options')) answeredOnPortal++;
        else if (q.server === 'portal' && q.malformed) cutOnPortal++;
        const problems = problemsOf(q, a);
        if (problems.length) failures.push(`${q.server} ${q.method} ${JSON.stringify(q.target.slice(0, 300))} ${JSON.stringify(q.headers.map(([k, v]) => `${k}: ${v.slice(0, 80)}`))} → ${a.status}: ${problems.join('; ')}`);
      }
      const errors = logs.splice(0).filter(internalError);
      expect(failures, `seed ${seed}`).toEqual([]);
      expect(errors, `seed ${seed}: internal errors in the server's log`).toEqual([]);
      // Still answering, both of them, and every download's place given back (the portal allows two at once).
      const photo = '老照片/北京老城门/前门 1900.jpg';
      for (const s of [plain, portal]) {
        const home = await sendRaw(s.url, headOf({ server: 'plain', method: 'GET', target: '/', headers: [], malformed: false }), undefined, ANSWER_TIMEOUT_MS);
        expect(home.status, `seed ${seed}: the home page after the seed`).toBe(200);
        for (let i = 0; i < 3; i++) {
          const file = await sendRaw(s.url, headOf({ server: 'plain', method: 'GET', target: `/file/${fx.vid}/${enc(photo)}`, headers: [], malformed: false }), undefined, ANSWER_TIMEOUT_MS);
          expect(file.status, `seed ${seed}: a download after the seed`).toBe(200);
          expect(file.body.equals(fx.bytes.get(photo)!)).toBe(true);
        }
        // and every zip's place (four at once)
        for (let i = 0; i < 5; i++) {
          const zip = await sendRaw(s.url, headOf({ server: 'plain', method: 'GET', target: `/zip/${fx.vid}/${encodeURIComponent(IDS.gates)}`, headers: [], malformed: false }), undefined, ANSWER_TIMEOUT_MS);
          expect(zip.status, `seed ${seed}: a zip after the seed`).toBe(200);
        }
      }
      // Nothing held open after the readers left (the servers run in this process): a file or a
      // socket kept by an answer that never ended would add up, seed after seed.
      await new Promise((res) => setTimeout(res, 20));
      const open = openDescriptors();
      fdsAfterFirstSeed ??= open;
      expect(open, `seed ${seed}: descriptors open after the seed (after the first: ${fdsAfterFirstSeed})`).toBeLessThanOrEqual(fdsAfterFirstSeed + 8);
      // The portal's access log: one well-formed line per request that reached the server.
      await new Promise((res) => setTimeout(res, 50));
      const lines = (await readFile(accessLog, 'utf8')).slice(logBefore).split('\n').filter(Boolean);
      const bad = lines.filter((l) => !COMBINED.test(l));
      expect(bad, `seed ${seed}: access-log lines not in the Combined Log Format`).toEqual([]);
      // (+ 9: the home page's, the three downloads' and the five zips')
      expect(lines.length, `seed ${seed}: access-log lines`).toBeGreaterThanOrEqual(answeredOnPortal + 9);
      expect(lines.length, `seed ${seed}: access-log lines`).toBeLessThanOrEqual(answeredOnPortal + cutOnPortal + 9);
      if (process.env.FUZZ_LOG) await appendFile(process.env.FUZZ_LOG, JSON.stringify({ test: 'reader', seed, met }) + '\n');
    });
  }
});
