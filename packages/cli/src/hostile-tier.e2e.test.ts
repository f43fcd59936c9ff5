/**
 * A hostile tier below against `mirror --listen` (packages/mirror/src/repo-server.ts): what a
 * municipal mirror serves its counties, fuzzed the way hostile-reader.test.ts fuzzes `serve`. A
 * store filled by a real `bookcrate mirror --once` from a repository nginx serves; then the
 * repository gets a second version, whose manifest parts the store lacks (the server fetches a part
 * it lacks from its own upstream, by hash). Each seed sends 60 requests over raw sockets, mutated
 * from valid ones: dot segments and odd bytes, hashes in capitals, cut short or under the wrong
 * shard, the publisher's private folder, Range of every shape, other methods, gzip asked for, and
 * bytes after the request that make Node close the connection (a county's link dropping).
 *
 * Properties: an answer to every well-formed request, never a 5xx; an object's bytes (whole or a
 * range) exactly those its name hashes to, a part's and a root's those of the repository, the
 * pointer the one the store holds; nothing of the store beside what it serves (canaries in its
 * root and tmp/); the upstream asked only for manifest parts by hash; and no descriptor left open.
 * Many more seeds: `FUZZ_ONLY=tier pnpm fuzz`.
 */
import { createHash } from 'node:crypto';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Upstream, startRepoServer, type RunningRepoServer } from '@bookcrate/mirror';
import { startNginx, type NginxServer } from '@bookcrate/mirror/testkit';
import { Store } from '@bookcrate/store';
import { openDescriptors, sendRaw, type RawAnswer } from '../../../fixtures/raw-http.js';
import { buildTree, pseudoRandomBytes, seededRandom, tempDir } from '../../../fixtures/tree.js';
import { run } from './testkit.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 8);
const FIRST_SEED = Number(process.env.FUZZ_SEED ?? 1);
const SEEDS = process.env.FUZZ_SEEDS ? process.env.FUZZ_SEEDS.split(',').map(Number) : Array.from({ length: ITERATIONS }, (_, i) => FIRST_SEED + i);
const REQUESTS_PER_SEED = 60;
const TIMEOUT_MS = 10_000;
const ALLOWED = new Set([200, 206, 400, 404, 405, 408, 416, 431]);
const MiB = 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let work: string;
let repo: string;
let nginx: NginxServer;
let store: Store;
let upstream: Upstream;
let server: RunningRepoServer;
/** the repository's files by path (objects/…, parts/…, roots/…) */
const repoFiles = new Map<string, Buffer>();
let heldPointer: Buffer;
const canaries = [`CANARY-${pseudoRandomBytes(8, 7).toString('hex')}`, `CANARY-${pseudoRandomBytes(8, 8).toString('hex')}`];

async function walk(dir: string, rel = ''): Promise<void> {
  for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) await walk(dir, p);
    else repoFiles.set(p, await readFile(join(dir, p)));
  }
}

beforeAll(async () => {
  work = await tempDir('bookcrate-hostile-tier-');
  const src = join(work, 'src');
  await buildTree(src, { 讲座: { '第1讲.mp4': 3 * MiB + 5 }, 老照片: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`照片${i}.jpg`, 2000 + i * 333])) });
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  repo = join(work, 'repo');
  expect((await run(['publish', src, '--repo', repo, '--key', join(work, 'center.key')])).code).toBe(0);
  nginx = await startNginx(repo);
  const storeDir = join(work, 'store');
  const m = await run(['mirror', '--upstream', nginx.url, '--store', storeDir, '--trust', join(work, 'center.pub'), '--once']);
  expect(m.code, m.stderr).toBe(0);
  // version 2 upstream: its parts are not in the store, and the server fetches them when asked
  await writeFile(join(src, '老照片', '照片3.jpg'), pseudoRandomBytes(5000, 99));
  expect((await run(['publish', src, '--repo', repo, '--key', join(work, 'center.key')])).code).toBe(0);
  await walk(repo);
  await writeFile(join(storeDir, 'canary.txt'), canaries[0]!);
  await writeFile(join(storeDir, 'tmp', 'canary.txt'), canaries[1]!);
  store = await Store.open(storeDir);
  heldPointer = store.servedPointer()!.bytes;
  upstream = new Upstream(nginx.url, { backoffMs: 5, maxBackoffMs: 20 });
  server = await startRepoServer({ store, listen: '127.0.0.1:0', upstream, status: () => ({ ok: true }), metrics: () => 'bookcrate_test 1\n' });
}, 120_000);

afterAll(async () => {
  await server?.close();
  upstream?.close();
  store?.close();
  await nginx?.stop();
});

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

function baseTargets(): string[] {
  const paths = [...repoFiles.keys()].filter((p) => /^(objects|parts|roots)\//.test(p));
  return ['/latest.json', '/status', '/metrics', ...paths.map((p) => `/${p}`)];
}

function mutate(r: () => number, target: string): { target: string; malformed: boolean } {
  const segs = target.split('/');
  const at = 1 + Math.floor(r() * (segs.length - 1));
  switch (Math.floor(r() * 10)) {
    case 0:
      segs.splice(at, 0, pick(r, ['..', '%2e%2e', '.', '%2E%2E%2F', '..%5c']), pick(r, ['catalog.sqlite', 'canary.txt', 'tmp', '.bookcrate-publish']));
      break;
    case 1:
      segs[at] = segs[at]!.toUpperCase();
      break;
    case 2: // the hash cut short, grown, or under another shard
      segs[at] = pick(r, [segs[at]!.slice(0, -1), segs[at]! + '0', segs[at]!.replace(/^[0-9a-f]/, (c) => (c === 'a' ? 'b' : 'a'))]);
      break;
    case 3:
      segs[at] = segs[at]! + pick(r, ['?x=1', '#f', '%00', '.json', '.sig', '/', ';', '%2f', '~']);
      break;
    case 4:
      return { target: pick(r, ['/.bookcrate-publish/', '/catalog.sqlite', '/canary.txt', '/tmp/canary.txt', '/objects/', '/parts/', '//latest.json', '/latest.json?', '/LATEST.JSON', '/']), malformed: false };
    case 5:
      segs[at] = segs[at]! + pick(r, ['\x01', ' ', '\x7f', '\xff', '"']);
      return { target: segs.join('/'), malformed: true };
    case 6:
      return { target: pick(r, ['http://evil.example', '*', '']) + target, malformed: true };
    case 7:
      segs[at] = 'a'.repeat(1000 + Math.floor(r() * 8000));
      break;
    default: // a valid request, as it was
  }
  return { target: segs.join('/'), malformed: false };
}

function randomRange(r: () => number): string {
  const at = (): number => Math.floor(r() ** 2 * 3.5 * MiB);
  const [a, b] = [at(), at()].sort((x, y) => x - y);
  return pick(r, [`bytes=${a}-${b}`, `bytes=${a}-`, `bytes=-${b}`, 'bytes=0-0', 'bytes=5-1', 'bytes=1-2,3-4', 'bytes=abc', 'bytes=99999999999999999999-', '']);
}

interface Request {
  method: string;
  target: string;
  headers: [string, string][];
  malformed: boolean;
  /** bytes that do not parse after the request: Node closes the connection, the answer may be cut (a county's link dropping) */
  garbage: boolean;
}

function requestFor(r: () => number): Request {
  const { target, malformed } = mutate(r, pick(r, baseTargets()));
  const headers: [string, string][] = [];
  if (r() < 0.5) headers.push(['Range', randomRange(r)]);
  if (r() < 0.4) headers.push(['Accept-Encoding', pick(r, ['gzip', 'identity', '*', 'gzip;q=0', 'x'.repeat(3000)])]);
  if (r() < 0.1) headers.push(['X-Big', 'x'.repeat(20_000)]);
  const method = r() < 0.85 ? 'GET' : pick(r, ['HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'BREW']);
  const garbage = r() < 0.1;
  return { method, target, headers, malformed: malformed || garbage || method === 'BREW', garbage };
}

function problemsOf(q: Request, a: RawAnswer): string[] {
  const out: string[] = [];
  if (a.status === 0) return q.malformed ? out : ['no answer to a well-formed request'];
  if (!ALLOWED.has(a.status)) out.push(`status ${a.status}`);
  let body = a.body;
  if (a.headers.get('content-encoding') === 'gzip' && body.length > 0) body = gunzipSync(body);
  const text = body.toString('latin1');
  for (const c of canaries) if (text.includes(c)) out.push(`served the canary ${c}`);
  if (q.method !== 'GET' || (a.status !== 200 && a.status !== 206) || q.garbage) return out;
  // (a space after the target is taken by Node's parser as one more between it and the version)
  const path = q.target.split('?')[0]!.replace(/^\//, '').trimEnd();
  const objectName = /^objects\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(path)?.[1];
  if (a.status === 200 && path === 'latest.json' && !body.equals(heldPointer)) out.push('a pointer that is not the one the store holds');
  if (a.status === 200 && objectName && sha(body) !== objectName) out.push('an object whose bytes are not those of its name');
  if (a.status === 200 && /^(parts|roots)\//.test(path) && !repoFiles.get(path)?.equals(body)) out.push(`${path}: not the repository's bytes`);
  if (a.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(a.headers.get('content-range') ?? '');
    const whole = repoFiles.get(path);
    if (!m || !whole) out.push(`206 with Content-Range ${a.headers.get('content-range')} for ${path}`);
    else if (!whole.subarray(Number(m[1]), Number(m[2]) + 1).equals(body) || Number(m[3]) !== whole.length) out.push(`206 bytes ${m[1]}-${m[2]} that are not the object's`);
  }
  if (a.status === 200 && !/^(latest\.json|status|metrics|objects\/|parts\/|roots\/)/.test(path)) out.push(`served ${path}`);
  return out;
}

let fdsAfterFirstSeed: number | undefined;

describe.skipIf(SEEDS.length === 0)(`a hostile tier below: ${SEEDS.length} seeds of ${REQUESTS_PER_SEED} requests from seed ${SEEDS[0]}`, () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}`, async () => {
      const r = seededRandom(seed * 15_485_863);
      const upstreamBefore = (await readFile(join(nginx.dir, 'access.log'), 'utf8')).split('\n').filter(Boolean).length;
      const failures: string[] = [];
      const met: Record<number, number> = {};
      for (let i = 0; i < REQUESTS_PER_SEED; i++) {
        const q = requestFor(r);
        const head = Buffer.from([`${q.method} ${q.target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...q.headers.map(([k, v]) => `${k}: ${v}`)].join('\r\n') + '\r\n\r\n', 'latin1');
        const a = await sendRaw(server.url, head, q.garbage ? Buffer.from('\x01garbage\r\n\r\n', 'latin1') : undefined, TIMEOUT_MS);
        met[a.status] = (met[a.status] ?? 0) + 1;
        const problems = problemsOf(q, a);
        if (problems.length) failures.push(`${q.method} ${JSON.stringify(q.target.slice(0, 200))} ${JSON.stringify(q.headers.map(([k, v]) => `${k}: ${v.slice(0, 60)}`))} → ${a.status}: ${problems.join('; ')}`);
      }
      expect(failures, `seed ${seed}`).toEqual([]);
      // The upstream was asked for manifest parts by hash, and nothing else.
      const asked = (await readFile(join(nginx.dir, 'access.log'), 'utf8')).split('\n').filter(Boolean).slice(upstreamBefore)
        .map((l) => /"GET ([^ ]+) /.exec(l)?.[1] ?? l);
      expect(asked.filter((p) => !/^\/parts\/[0-9a-f]{2}\/[0-9a-f]{64}\.jsonl$/.test(p)), `seed ${seed}: upstream requests`).toEqual([]);
      await new Promise((res) => setTimeout(res, 20));
      const open = openDescriptors();
      fdsAfterFirstSeed ??= open;
      expect(open, `seed ${seed}: descriptors open (after the first seed: ${fdsAfterFirstSeed})`).toBeLessThanOrEqual(fdsAfterFirstSeed + 8);
      if (process.env.FUZZ_LOG) await appendFile(process.env.FUZZ_LOG, JSON.stringify({ test: 'tier', seed, met }) + '\n');
    });
  }
});
