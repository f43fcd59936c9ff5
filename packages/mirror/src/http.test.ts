import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BookcrateError } from '@bookcrate/format';
import { Upstream, type UpstreamOptions } from './http.js';
import { startFaultProxy, type Fault, type FaultProxy } from './testkit/fault-proxy.js';
import { nginxAvailable, startNginx, type NginxServer } from './testkit/nginx.js';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const BIG = randomBytes(5 * MiB);
const BIG_SHA = sha256(BIG);
const POINTER = Buffer.from(JSON.stringify({ pointer: '{"format":"bookcrate-repo/1","version":3}', sig: { alg: 'ed25519' } }));

let root: string;
let work: string;
let nginx: NginxServer | undefined;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bookcrate-mirror-up-'));
  work = await mkdtemp(join(tmpdir(), 'bookcrate-mirror-work-'));
  await writeFile(join(root, 'big.bin'), BIG);
  await writeFile(join(root, 'latest.json'), POINTER);
  if (nginxAvailable()) nginx = await startNginx(root);
});

afterAll(async () => {
  await nginx?.stop();
  await rm(root, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Fast backoff so retry tests take milliseconds; everything else at its default. */
function upstream(url: string, opts: UpstreamOptions = {}): Upstream {
  const u = new Upstream(url, { backoffMs: 5, maxBackoffMs: 20, ...opts });
  cleanups.push(() => u.close());
  return u;
}

async function proxy(plan?: (r: { path: string; attempt: number }) => Fault | undefined): Promise<FaultProxy> {
  const p = await startFaultProxy({ target: nginx!.url, ...(plan ? { plan } : {}) });
  cleanups.push(() => p.close());
  return p;
}

/** A tiny node:http server for behaviours nginx will not show (ignored Range, auth, drips). */
async function tinyServer(handler: http.RequestListener): Promise<{ url: string; hits: http.IncomingHttpHeaders[] }> {
  const hits: http.IncomingHttpHeaders[] = [];
  const srv = http.createServer((req, res) => {
    hits.push(req.headers);
    handler(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, hits };
}

async function rejection(p: Promise<unknown>): Promise<BookcrateError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(BookcrateError);
  return e as BookcrateError;
}

/** Byte equality without vitest's deep-equal, which walks large Buffers element by element. */
function expectBytes(got: Buffer | null, want: Buffer): void {
  expect(got).not.toBeNull();
  expect(got!.length).toBe(want.length);
  expect(sha256(got!)).toBe(sha256(want));
}

const dest = (name: string): string => join(work, `${name}-${randomBytes(4).toString('hex')}.tmp`);
const rangeFrom = (r: string | undefined): number => Number(/^bytes=(\d+)-$/.exec(r ?? '')?.[1] ?? NaN);

it('nginx is installed (CI: apt-get install -y nginx; without it the transport is only half tested)', () => {
  expect(nginxAvailable()).toBe(true);
});

describe.skipIf(!nginxAvailable())('against nginx through the fault proxy', () => {
  it('getSmall returns the exact bytes; 404 is null and not retried', async () => {
    const p = await proxy();
    const u = upstream(p.url);
    expect(await u.getSmall('latest.json', 4096, { noCache: true })).toEqual(POINTER);
    expect(await u.getSmall('roots/0000.json', 4096)).toBeNull();
    expect(p.requests.map((r) => [r.path, r.status])).toEqual([
      ['/latest.json', 200],
      ['/roots/0000.json', 404],
    ]);
    expect(u.stats).toEqual({ requests: 2, bytes: POINTER.length, retries: 0, failures: 0 });
    expect(p.requests[0]!.headers).toMatchObject({ 'cache-control': 'no-cache', 'accept-encoding': 'gzip', 'user-agent': 'bookcrate-mirror/0.1' });
    expect(p.requests[1]!.headers['cache-control']).toBeUndefined();
  });

  it('getSmall refuses a body over maxBytes, without retrying', async () => {
    const p = await proxy();
    const u = upstream(p.url);
    const e = await rejection(u.getSmall('big.bin', 64 * 1024));
    expect(e.code).toBe('IO');
    expect(e.message).toMatch(/big\.bin.*more than the 65536 allowed/);
    expect(p.requests).toHaveLength(1);
    expect(u.stats.failures).toBe(1);
  });

  it('500 twice then OK: retried, logged, and the body is right', async () => {
    const p = await proxy(({ attempt }) => (attempt <= 2 ? { kind: 'status', status: 500 } : undefined));
    const events: Record<string, unknown>[] = [];
    const u = upstream(p.url, { log: (e) => events.push(e) });
    expect(await u.getSmall('latest.json', 4096)).toEqual(POINTER);
    expect(p.requests.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(u.stats).toMatchObject({ requests: 3, retries: 2, failures: 0 });
    expect(events.map((e) => [e.event, e.status, e.attempt])).toEqual([
      ['retry', 500, 1],
      ['retry', 500, 2],
    ]);
    expect(events.every((e) => typeof e.delayMs === 'number' && e.url === `${p.url}latest.json`)).toBe(true);
  });

  it('exhausted retries: an IO error that names the url, the fault and the attempts', async () => {
    const p = await proxy(() => ({ kind: 'status', status: 503 }));
    const u = upstream(p.url, { retries: 3 });
    const e = await rejection(u.getRange('big.bin', 0, 100));
    expect(e.code).toBe('IO');
    expect(e.message).toBe(`upstream ${p.url}big.bin: HTTP 503 after 3 attempts`);
    expect(e.hint).toMatch(/next round will retry/);
    expect(p.requests).toHaveLength(3);
    expect(u.stats).toMatchObject({ requests: 3, retries: 2, failures: 1 });
  });

  it('getRange returns exactly [start, end); a 404 is an IO error with details.status 404', async () => {
    const p = await proxy();
    const u = upstream(p.url);
    expectBytes(await u.getRange('big.bin', 1_000_003, 1_070_001), BIG.subarray(1_000_003, 1_070_001));
    expectBytes(await u.getRange('big.bin', BIG.length - 7, BIG.length), BIG.subarray(BIG.length - 7));
    expect(p.requests.map((r) => r.range)).toEqual(['bytes=1000003-1070000', `bytes=${BIG.length - 7}-${BIG.length - 1}`]);
    const e = await rejection(u.getRange('objects/ab/missing', 0, 10));
    expect(e.code).toBe('IO');
    expect(e.details).toMatchObject({ status: 404, url: `${p.url}objects/ab/missing` });
    expect(p.requests).toHaveLength(3);
  });

  it('download: a reset mid-body resumes with Range; SHA-256 right; fetched ≤ size + what was lost', async () => {
    const cutAt = 1_500_000;
    const p = await proxy(({ attempt }) => (attempt === 1 ? { kind: 'reset', afterBytes: cutAt } : undefined));
    const u = upstream(p.url);
    const d = dest('reset');
    const seen: number[] = [];
    const r = await u.download('big.bin', d, BIG.length, { onBytes: (n) => seen.push(n) });
    expect(r.sha256).toBe(BIG_SHA);
    expectBytes(await readFile(d), BIG);
    expect(r.resumedFrom).toBe(0);
    expect(p.requests).toHaveLength(2);
    expect(p.requests[0]!.range).toBeUndefined();
    const resumedAt = rangeFrom(p.requests[1]!.range);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(cutAt);
    expect(r.fetched).toBeGreaterThanOrEqual(BIG.length);
    expect(r.fetched).toBeLessThanOrEqual(BIG.length + cutAt);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(BIG.length);
    expect(u.stats.retries).toBe(1);
  });

  it('stall: aborted after stallMs of silence and resumed', async () => {
    const p = await proxy(({ attempt }) => (attempt === 1 ? { kind: 'stall', afterBytes: MiB, ms: 10_000 } : undefined));
    const events: Record<string, unknown>[] = [];
    const u = upstream(p.url, { stallMs: 300, log: (e) => events.push(e) });
    const t0 = performance.now();
    const r = await u.download('big.bin', dest('stall'), BIG.length);
    const ms = performance.now() - t0;
    expect(r.sha256).toBe(BIG_SHA);
    expect(ms).toBeGreaterThanOrEqual(290);
    expect(ms).toBeLessThan(3000);
    expect(p.requests).toHaveLength(2);
    expect(rangeFrom(p.requests[1]!.range)).toBeGreaterThan(0);
    expect(events[0]).toMatchObject({ event: 'retry', attempt: 1 });
    expect(String(events[0]!.error)).toMatch(/no data for 300 ms/);
  });

  it('stall before the headers (a slow server) counts too', async () => {
    const p = await proxy(({ attempt }) => (attempt === 1 ? { kind: 'delay', ms: 10_000 } : undefined));
    const u = upstream(p.url, { stallMs: 250 });
    const t0 = performance.now();
    expect(await u.getSmall('latest.json', 4096)).toEqual(POINTER);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(p.requests).toHaveLength(2);
    expect(u.stats.retries).toBe(1);
  });

  it('truncate: a clean close before Content-Length is detected and retried', async () => {
    const p = await proxy(({ attempt }) => (attempt === 1 ? { kind: 'truncate', afterBytes: 1_000_000 } : undefined));
    const u = upstream(p.url);
    const r = await u.download('big.bin', dest('trunc'), BIG.length);
    expect(r.sha256).toBe(BIG_SHA);
    expect(p.requests).toHaveLength(2);
    expect(rangeFrom(p.requests[1]!.range)).toBeGreaterThan(0);

    // A small document cut short must not be returned as if complete.
    const p2 = await proxy(({ attempt }) => (attempt === 1 ? { kind: 'truncate', afterBytes: 20 } : undefined));
    const u2 = upstream(p2.url);
    expect(await u2.getSmall('latest.json', 4096)).toEqual(POINTER);
    expect(p2.requests).toHaveLength(2);
    expect(u2.stats.retries).toBe(1);
  });

  it('corrupt: download still returns a SHA-256, and it is not the real one (the caller decides)', async () => {
    const p = await proxy(() => ({ kind: 'corrupt', at: 3_333_333 }));
    const u = upstream(p.url);
    const d = dest('corrupt');
    const r = await u.download('big.bin', d, BIG.length);
    const got = await readFile(d);
    expect(r.sha256).not.toBe(BIG_SHA);
    expect(r.sha256).toBe(sha256(got));
    expect(got.length).toBe(BIG.length);
    expect(got[3_333_333]).toBe(BIG[3_333_333]! ^ 0xff);
    expect(Buffer.compare(got.subarray(0, 3_333_333), BIG.subarray(0, 3_333_333))).toBe(0);
    expect(p.requests).toHaveLength(1);
  });

  it('a partial dest is re-hashed and resumed: resumedFrom = L and Range: bytes=L-', async () => {
    const L = 3_000_000;
    const d = dest('partial');
    await writeFile(d, BIG.subarray(0, L));
    const p = await proxy();
    const u = upstream(p.url);
    const r = await u.download('big.bin', d, BIG.length);
    expect(r).toEqual({ sha256: BIG_SHA, fetched: BIG.length - L, resumedFrom: L });
    expect(p.requests.map((q) => q.range)).toEqual([`bytes=${L}-`]);
    expectBytes(await readFile(d), BIG);
  });

  it('a dest longer than the file starts over', async () => {
    const d = dest('long');
    await writeFile(d, randomBytes(BIG.length + 10));
    const p = await proxy();
    const r = await upstream(p.url).download('big.bin', d, BIG.length);
    expect(r).toEqual({ sha256: BIG_SHA, fetched: BIG.length, resumedFrom: 0 });
    expect(p.requests[0]!.range).toBeUndefined();
    expect((await stat(d)).size).toBe(BIG.length);
  });

  it('a file whose size differs from the expected one is an error, and nothing is written past size', async () => {
    const p = await proxy();
    const u = upstream(p.url);
    const d = dest('size');
    const e = await rejection(u.download('big.bin', d, BIG.length - 1000));
    expect(e.code).toBe('IO');
    expect(e.details).toMatchObject({ status: 200, upstreamSize: BIG.length, size: BIG.length - 1000 });
    expect((await stat(d)).size).toBeLessThanOrEqual(BIG.length - 1000);
    expect(p.requests).toHaveLength(1);
    const e404 = await rejection(u.download('objects/00/gone', dest('gone'), 10));
    expect(e404.details).toMatchObject({ status: 404 });
  });

  it('bwlimit is shared by concurrent transfers and accurate: 2 × 1 MiB at 1 MiB/s takes 1.7–2.4 s', async () => {
    const u = upstream(nginx!.url, { bwlimit: MiB });
    const t0 = performance.now();
    const [a, b] = await Promise.all([u.getRange('big.bin', 0, MiB), u.getRange('big.bin', MiB, 2 * MiB)]);
    const s = (performance.now() - t0) / 1000;
    expectBytes(a, BIG.subarray(0, MiB));
    expectBytes(b, BIG.subarray(MiB, 2 * MiB));
    expect(u.stats.bytes).toBe(2 * MiB);
    expect(s).toBeGreaterThanOrEqual(1.7);
    expect(s).toBeLessThanOrEqual(2.4);
  });

  it('abort via signal stops a download promptly and leaves the partial file for resuming', async () => {
    const ac = new AbortController();
    const u = upstream(nginx!.url, { bwlimit: 512 * 1024, signal: ac.signal });
    const d = dest('abort');
    let abortedAt = 0;
    setTimeout(() => {
      abortedAt = performance.now();
      ac.abort();
    }, 300);
    const e = await u.download('big.bin', d, BIG.length).catch((err: unknown) => err as Error);
    const t = performance.now();
    expect(t - abortedAt).toBeLessThan(250);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).name).toBe('AbortError');
    const kept = (await stat(d)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(BIG.length);
    expect(u.stats.failures).toBe(0);
    // Nothing more is fetched after the abort, and a new call refuses at once.
    const bytes = u.stats.bytes;
    await new Promise((r) => setTimeout(r, 100));
    expect(u.stats.bytes).toBe(bytes);
    expect((await u.getSmall('latest.json', 4096).catch((err: Error) => err)) as Error).toHaveProperty('name', 'AbortError');
    expect(performance.now() - t).toBeLessThan(1000);
  });

  it('abort during a retry backoff rejects at once', async () => {
    const p = await proxy(() => ({ kind: 'status', status: 502 }));
    const ac = new AbortController();
    const u = new Upstream(p.url, { backoffMs: 20_000, maxBackoffMs: 20_000, signal: ac.signal });
    cleanups.push(() => u.close());
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 200);
    const e = await u.getSmall('latest.json', 4096).catch((err: Error) => err);
    expect((e as Error).name).toBe('AbortError');
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(p.requests.length).toBeLessThanOrEqual(2);
  });
});

describe('against small node:http servers', () => {
  const FILE = randomBytes(MiB);

  it('getSmall takes a gzipped manifest (fewer bytes on the wire), bounds it once unzipped, and retries a broken one', async () => {
    const doc = Buffer.from(Array.from({ length: 2000 }, (_, i) => JSON.stringify({ path: `老照片/1950年代/照片${i}.jpg`, size: i })).join('\n'));
    const zipped = gzipSync(doc);
    let n = 0;
    const s = await tinyServer((req, res) => {
      n++;
      expect(req.headers['accept-encoding']).toBe('gzip');
      // The first answer is a gzip body cut in the middle of its stream: it must be retried.
      const body = n === 1 ? zipped.subarray(0, zipped.length >> 1) : zipped;
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(body.length) });
      res.end(body);
    });
    const u = upstream(s.url);
    expect((await u.getSmall('parts/ab/x.jsonl', doc.length))!.equals(doc)).toBe(true);
    expect(n).toBe(2);
    expect(u.stats.bytes).toBe((zipped.length >> 1) + zipped.length);
    expect(zipped.length).toBeLessThan(doc.length / 3);
    const e = await rejection(u.getSmall('parts/ab/x.jsonl', doc.length - 1));
    expect(e.message).toMatch(/once unzipped/);
  });

  it('a server that ignores Range: download starts over and is still correct', async () => {
    const s = await tinyServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(FILE.length) });
      res.end(FILE);
    });
    const d = dest('norange');
    // A wrong prefix: if the transport appended the 200 body to it, the hash would show it.
    await writeFile(d, Buffer.alloc(300_000));
    const u = upstream(s.url);
    const r = await u.download('objects/ab/file', d, FILE.length);
    expect(r).toEqual({ sha256: sha256(FILE), fetched: FILE.length, resumedFrom: 0 });
    expectBytes(await readFile(d), FILE);
    expect(s.hits.map((h) => h.range)).toEqual(['bytes=300000-']);
  });

  it('a server that ignores Range and always breaks at the same byte still runs out of attempts', async () => {
    const s = await tinyServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(FILE.length) });
      res.write(FILE.subarray(0, 300_000), () => res.socket?.end());
    });
    const u = upstream(s.url, { retries: 3 });
    const e = await rejection(u.download('f', dest('loop'), FILE.length));
    // Node drops response bytes it buffered but we had not read yet when the socket closes, so an
    // attempt may stop a little short and the next, getting further, counts as progress. What
    // matters: it ends, and every attempt is accounted for.
    expect(e.message).toMatch(/after (\d+) attempts$/);
    expect(e.details).toMatchObject({ attempts: s.hits.length });
    expect(s.hits.length).toBeGreaterThanOrEqual(3);
    expect(s.hits.length).toBeLessThanOrEqual(8);
  });

  it('getRange on a server that ignores Range: small files are sliced, large ones refused without retry', async () => {
    const large = Buffer.alloc(9 * MiB, 7);
    const s = await tinyServer((req, res) => {
      const body = req.url === '/large' ? large : FILE;
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    const u = upstream(s.url);
    expectBytes(await u.getRange('small', 1000, 5000), FILE.subarray(1000, 5000));
    const e = await rejection(u.getRange('large', 0, 10));
    expect(e.message).toMatch(/ignored Range/);
    expect(s.hits).toHaveLength(2);
  });

  it('a body longer than size (no Content-Length) is an error, and nothing is written past size', async () => {
    const s = await tinyServer((_req, res) => {
      res.writeHead(200); // chunked: the length is only known at the end
      res.end(Buffer.concat([FILE, randomBytes(5000)]));
    });
    const d = dest('longer');
    const e = await rejection(upstream(s.url).download('f', d, FILE.length));
    expect(e.message).toMatch(/more than the expected 1048576 bytes/);
    expect((await stat(d)).size).toBeLessThanOrEqual(FILE.length);
    expect(s.hits).toHaveLength(1);
  });

  it('bwlimit slows the sender itself (TCP backpressure), not just the reader', async () => {
    const TOTAL = 64 * MiB;
    let sent = 0;
    const s = await tinyServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(TOTAL) });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const ac = new AbortController();
    const u = upstream(s.url, { bwlimit: MiB, signal: ac.signal });
    setTimeout(() => ac.abort(), 1000);
    const e = await u.download('big', dest('bp'), TOTAL).catch((err: Error) => err);
    expect(e).toHaveProperty('name', 'AbortError');
    expect(u.stats.bytes).toBeGreaterThan(0.7 * MiB);
    expect(u.stats.bytes).toBeLessThan(1.4 * MiB);
    // Unthrottled, or throttled after reading into memory, the server pushes all 64 MiB in well
    // under a second on loopback; paused reads leave it stuck at what the socket buffers hold.
    expect(sent).toBeLessThan(16 * MiB);
  });

  it('stallMs is inactivity, not total time: a slow steady drip is not a stall', async () => {
    const s = await tinyServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(12 * 1000) });
      let n = 0;
      const t = setInterval(() => {
        res.write(Buffer.alloc(1000, n));
        if (++n === 12) {
          clearInterval(t);
          res.end();
        }
      }, 100);
      res.on('close', () => clearInterval(t));
    });
    const u = upstream(s.url, { stallMs: 400 });
    const t0 = performance.now();
    const body = await u.getSmall('drip', 20_000);
    expect(performance.now() - t0).toBeGreaterThan(1000);
    expect(body?.length).toBe(12_000);
    expect(u.stats.retries).toBe(0);
  });

  it('bearer token is sent; a 401 is an IO error with status 401, not retried', async () => {
    const s = await tinyServer((req, res) => {
      if (req.headers.authorization !== 'Bearer s3cret') {
        res.writeHead(401, { 'content-length': '0' });
        return res.end();
      }
      res.writeHead(200, { 'content-length': String(POINTER.length) });
      res.end(POINTER);
    });
    expect(await upstream(s.url, { token: 's3cret' }).getSmall('latest.json', 4096)).toEqual(POINTER);
    const anon = upstream(s.url, { retries: 6 });
    const e = await rejection(anon.getSmall('latest.json', 4096));
    expect(e.code).toBe('IO');
    expect(e.details).toMatchObject({ status: 401 });
    expect(e.hint).toMatch(/--token-file/);
    expect(s.hits.map((h) => h.authorization)).toEqual(['Bearer s3cret', undefined]);
    expect(anon.stats).toMatchObject({ requests: 1, retries: 0, failures: 1 });
  });

  const hasOpenssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  /** A test CA and a certificate for 127.0.0.1 signed by it, made with openssl. */
  async function testCertificates(): Promise<{ ca: Buffer; key: Buffer; cert: Buffer }> {
    const dir = await mkdtemp(join(tmpdir(), 'bookcrate-ca-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const ossl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ossl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=bookcrate test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    ossl('req', ...ec, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1');
    await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
    ossl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf');
    return { ca: await readFile(join(dir, 'ca.pem')), key: await readFile(join(dir, 'srv.key')), cert: await readFile(join(dir, 'srv.pem')) };
  }

  async function tlsServer(tls: { key: Buffer; cert: Buffer }, handler: http.RequestListener): Promise<string> {
    const srv = https.createServer({ key: tls.key, cert: tls.cert }, handler);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))));
    return `https://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  }

  it.skipIf(!hasOpenssl)('https with a custom CA: refused without --ca, works with it', async () => {
    const tls = await testCertificates();
    const url = `${await tlsServer(tls, (_req, res) => {
      res.writeHead(200, { 'content-length': String(POINTER.length) });
      res.end(POINTER);
    })}/repo/`;

    const plain = upstream(url);
    const e = await rejection(plain.getSmall('latest.json', 4096));
    expect(e.code).toBe('IO');
    expect(e.message).toMatch(/TLS/);
    expect(e.hint).toMatch(/--ca/);
    expect(plain.stats).toMatchObject({ requests: 1, retries: 0 });

    const withCa = upstream(url, { ca: tls.ca });
    expect(await withCa.getSmall('latest.json', 4096)).toEqual(POINTER);
  });

  it.skipIf(!hasOpenssl)('a redirect from http to https is followed (with --ca); from https back to plain http is refused', async () => {
    const tls = await testCertificates();
    const plainHits: string[] = [];
    const plain = await tinyServer((req, res) => {
      plainHits.push(req.url ?? '');
      res.writeHead(200, { 'content-length': String(POINTER.length) });
      res.end(POINTER);
    });
    const secure = await tlsServer(tls, (req, res) => {
      // /down/… leaves https; anything else is the repository
      if (req.url?.startsWith('/down/')) return void res.writeHead(302, { location: `${plain.url}${req.url}`, 'content-length': '0' }).end();
      res.writeHead(200, { 'content-length': String(POINTER.length) });
      res.end(POINTER);
    });
    // what a portal that moved to https does: every http address answered with a 301 to the same path
    const up = await tinyServer((req, res) => void res.writeHead(301, { location: `${secure}${req.url}`, 'content-length': '0' }).end());
    const u = upstream(`${up.url}/repo/`, { ca: tls.ca });
    expect(await u.getSmall('latest.json', 4096)).toEqual(POINTER);
    expect(u.stats).toMatchObject({ requests: 2, retries: 0, failures: 0 });

    const s = upstream(`${secure}/down/`, { ca: tls.ca, retries: 6 });
    const e = await rejection(s.getSmall('latest.json', 4096));
    expect(e.code).toBe('IO');
    expect(e.message).toMatch(/redirected from https to plain http .*refused/);
    expect(e.hint).toMatch(/https/);
    expect(plainHits).toEqual([]); // nothing was asked of the plain address
    expect(s.stats).toMatchObject({ requests: 1, retries: 0, failures: 1 });
  });
});

describe('redirects', () => {
  it('are followed to another origin with Range intact, the token kept for the upstream\'s own origin only, and logged once', async () => {
    const seen: { url: string; range?: string; authorization?: string }[] = [];
    const cdn = await tinyServer((req, res) => {
      seen.push({ url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (!m) return void res.writeHead(200, { 'content-length': String(BIG.length) }).end(BIG);
      const start = Number(m[1]);
      const end = m[2] ? Number(m[2]) + 1 : BIG.length;
      res.writeHead(206, { 'content-length': String(end - start), 'content-range': `bytes ${start}-${end - 1}/${BIG.length}` });
      res.end(BIG.subarray(start, end));
    });
    const origin = await tinyServer((req, res) => {
      // a relative hop on the same origin, then a 307 to the CDN with a query (a signed URL)
      if (req.url?.startsWith('/objects/')) return void res.writeHead(302, { location: `/cdn-redirect${req.url}` }).end('moved');
      res.writeHead(307, { location: `${cdn.url}/store${req.url?.replace('/cdn-redirect', '')}?sig=abc#frag` }).end();
    });
    const events: Record<string, unknown>[] = [];
    const u = upstream(`${origin.url}/`, { token: 's3cret', maxSockets: 1, log: (e) => events.push(e) });
    const range = await u.getRange('objects/big.bin', 1000, 5000);
    expect(sha256(range)).toBe(sha256(BIG.subarray(1000, 5000)));
    const half = dest('redirected');
    await writeFile(half, BIG.subarray(0, 3 * MiB));
    const r = await u.download('objects/big.bin', half, BIG.length);
    expect(r).toMatchObject({ sha256: BIG_SHA, resumedFrom: 3 * MiB, fetched: BIG.length - 3 * MiB });
    expect(seen).toEqual([
      { url: '/store/objects/big.bin?sig=abc', range: 'bytes=1000-4999' },
      { url: '/store/objects/big.bin?sig=abc', range: `bytes=${3 * MiB}-` },
    ]);
    // the origin saw the token twice per call, the CDN never
    expect(origin.hits.map((h) => h.authorization)).toEqual(Array(4).fill('Bearer s3cret'));
    expect(u.stats).toMatchObject({ requests: 6, retries: 0, failures: 0 });
    expect(events.map((e) => [e.event, e.status])).toEqual([['redirect', 302], ['redirect', 307]]);
  });

  it('a loop, a Location that is not http, or none: an IO error after at most five hops, not retried', async () => {
    const s = await tinyServer((req, res) => {
      if (req.url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
      if (req.url === '/ftp') return void res.writeHead(301, { location: 'ftp://127.0.0.1/x' }).end();
      res.writeHead(308).end();
    });
    const u = upstream(`${s.url}/`, { retries: 6, maxSockets: 1 });
    const loop = await rejection(u.getSmall('loop', 4096));
    expect(loop.code).toBe('IO');
    expect(loop.message).toMatch(/redirected more than 5 times/);
    expect(loop.hint).toMatch(/--upstream/);
    expect(u.stats).toMatchObject({ requests: 6, retries: 0, failures: 1 });
    await expect(u.getSmall('ftp', 4096)).rejects.toThrow(/redirected to ftp:/);
    await expect(u.getSmall('none', 4096)).rejects.toThrow(/HTTP 308 without a Location/);
    expect(u.stats).toMatchObject({ requests: 8, retries: 0, failures: 3 });
  });

  it('to a closed port: a connection failure retried like any other, naming where it was sent', async () => {
    const s = await tinyServer((_req, res) => void res.writeHead(301, { location: 'http://127.0.0.1:9/elsewhere' }).end());
    const u = upstream(`${s.url}/`, { retries: 2 });
    const e = await rejection(u.getSmall('latest.json', 4096));
    expect(e.message).toMatch(/ECONNREFUSED.*redirected to http:\/\/127\.0\.0\.1:9\/elsewhere.*after 2 attempts/);
    expect(u.stats).toMatchObject({ requests: 4, retries: 1, failures: 1 });
  });
});

describe('the keep-alive pool', () => {
  it('gets back the socket of an answer whose body was not read (a 404, an error page)', async () => {
    // Before: the 404's unread page held the only socket, and the next request waited for the stall timer.
    const s = await tinyServer((req, res) => {
      if (req.url === '/forbidden') return void res.writeHead(403, { 'content-length': '9' }).end('forbidden');
      res.writeHead(404, { 'content-length': '9' }).end('not found');
    });
    const u = upstream(`${s.url}/`, { maxSockets: 1, stallMs: 2000 });
    const t0 = performance.now();
    for (let i = 0; i < 4; i++) expect(await u.getSmall(`missing-${i}`, 4096)).toBeNull();
    expect((await rejection(u.getSmall('forbidden', 4096))).details).toMatchObject({ status: 403 });
    expect(await u.getSmall('missing-again', 4096)).toBeNull();
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(u.stats).toMatchObject({ requests: 6, retries: 0 });
  });
});

describe('Upstream arguments', () => {
  it('refuses non-http URLs and paths that climb out of the upstream folder', async () => {
    expect(() => new Upstream('ftp://example.org/')).toThrow(BookcrateError);
    expect(() => new Upstream('not a url')).toThrow(/not a URL/);
    const u = upstream('http://127.0.0.1:9/repo');
    await expect(u.getSmall('../etc/passwd', 10)).rejects.toThrow(/not a plain relative upstream path/);
    expect(u.stats.requests).toBe(0);
  });

  it('an already aborted signal rejects without a request', async () => {
    const ac = new AbortController();
    ac.abort();
    const u = upstream('http://127.0.0.1:9/', { signal: ac.signal });
    await expect(u.getSmall('latest.json', 10)).rejects.toHaveProperty('name', 'AbortError');
    await expect(u.download('x', dest('pre'), 10)).rejects.toHaveProperty('name', 'AbortError');
    expect(u.stats.requests).toBe(0);
  });
});
