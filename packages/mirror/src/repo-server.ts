import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { BookcrateError, parseListen } from '@bookcrate/format';
import { readStoredPart, savePart, type Store } from '@bookcrate/store';
import pLimit from 'p-limit';
import type { Upstream } from './http.js';
import { PART_MAX_BYTES } from './sync.js';

/**
 * A mirror's face to the tier below: its store served in the repository layout
 * (docs/repository.md, "Layout"), so a county syncs from its municipal mirror exactly as the
 * municipality syncs from the province. Nothing here needs trust: the lower tier checks every byte
 * against the center's signatures. Only what the store holds durably is served; a manifest part it
 * lacks (most often of a chunk list its own rounds never needed) is fetched from its own upstream
 * on demand — safe, because the request names the part's hash and the bytes are checked against it
 * (PartsOnDemand). A version the store holds from disks is served on the network root a round kept
 * for it (Store.servableRoot; docs/repository.md section 7, "Serving the tier below").
 *
 * Also `/status` (JSON) and `/metrics` (Prometheus text).
 */
export interface RepoServerOptions {
  store: Store;
  listen: string; // host:port
  upstream?: Upstream;
  status: () => unknown;
  metrics: () => string;
  log?: (event: Record<string, unknown>) => void;
}

export interface RunningRepoServer {
  url: string;
  served: { requests: number; bytes: number };
  /** What came of the manifest parts fetched for the tier below (with an upstream). */
  partsOnDemand: PartsOnDemand['counts'] | undefined;
  close(): Promise<void>;
}

const HEX = /^[0-9a-f]{64}$/;

/** How many manifest parts are fetched from the upstream for the tier below at once (the daemon adds as many connections). */
export const PARTS_AT_ONCE = 2;
/** How long a part the upstream does not have is answered 404 without asking it again. */
const MISSING_FOR_MS = 60_000;
/** How many such parts are remembered (the oldest forgotten first). */
const MISSING_KEPT = 10_000;

/**
 * Manifest parts the tier below asks for and this store lacks, fetched from the upstream
 * (docs/repository.md section 7, "Serving the tier below"). The tier below decides what is
 * asked, so what that costs the upstream and this daemon is bounded here, as a caching proxy
 * bounds it: many askers of one part wait for one fetch; a part the upstream does not have is
 * answered 404 for a minute without asking again; and at most PARTS_AT_ONCE fetches run at once,
 * leaving the daemon's own connections to its round. A failed fetch (the upstream unreachable,
 * tried twice) is not remembered: the next ask tries again.
 */
export class PartsOnDemand {
  private readonly inflight = new Map<string, Promise<Buffer | undefined>>();
  /** sha256 → when the upstream may be asked again */
  private readonly missing = new Map<string, number>();
  private readonly limit = pLimit(PARTS_AT_ONCE);
  readonly counts = { fetched: 0, missing: 0, failed: 0, shared: 0, rememberedMissing: 0 };

  constructor(
    private readonly store: Store,
    private readonly upstream: Upstream,
    private readonly log?: (event: Record<string, unknown>) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The part of this hash, checked and kept in the store; undefined when the upstream lacks it or cannot be reached. */
  get(sha256: string, path: string): Promise<Buffer | undefined> {
    const until = this.missing.get(sha256);
    if (until !== undefined) {
      if (until > this.now()) {
        this.counts.rememberedMissing++;
        return Promise.resolve(undefined);
      }
      this.missing.delete(sha256);
    }
    const running = this.inflight.get(sha256);
    if (running) {
      this.counts.shared++;
      return running;
    }
    const fetching = this.limit(() => this.fetch(sha256, path)).finally(() => this.inflight.delete(sha256));
    this.inflight.set(sha256, fetching);
    return fetching;
  }

  private async fetch(sha256: string, path: string): Promise<Buffer | undefined> {
    let got: Buffer | null;
    try {
      // Two tries at most: the tier below waits on this answer, and asks again itself.
      got = await this.upstream.getSmall(path, PART_MAX_BYTES, { attempts: 2 });
    } catch (e) {
      this.counts.failed++;
      this.log?.({ event: 'part-fetch-failed', part: sha256, error: (e as Error).message });
      return undefined;
    }
    // Not there, or bytes that are not this part (the upstream's disk, or a hostile middlebox): the
    // same to the tier below, which asked for exactly these bytes.
    if (!got || createHash('sha256').update(got).digest('hex') !== sha256) {
      this.counts.missing++;
      if (this.missing.size >= MISSING_KEPT) this.missing.delete(this.missing.keys().next().value as string);
      this.missing.set(sha256, this.now() + MISSING_FOR_MS);
      return undefined;
    }
    this.counts.fetched++;
    // Kept for the next ask; a store that cannot take it now (a full disk) still answers this one.
    await savePart(this.store, sha256, got).catch((e: unknown) => this.log?.({ event: 'part-keep-failed', part: sha256, error: (e as Error).message }));
    return got;
  }
}


export async function startRepoServer(o: RepoServerOptions): Promise<RunningRepoServer> {
  const { host, port } = parseListen(o.listen);
  const served = { requests: 0, bytes: 0 };
  const parts = o.upstream ? new PartsOnDemand(o.store, o.upstream, o.log) : undefined;
  const server = createServer((req, res) => {
    served.requests++;
    handle(o, parts, req, res, served).catch((e: unknown) => {
      o.log?.({ event: 'serve-error', url: req.url, error: (e as Error).message });
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new BookcrateError('IO', `cannot listen on ${o.listen}: ${e.message}`, { hint: 'pick another --listen port, or stop what uses it' })));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as { port: number };
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}/`,
    served,
    partsOnDemand: parts?.counts,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  let b = typeof body === 'string' ? Buffer.from(body) : body;
  const headers: Record<string, string> = { 'Content-Type': type, ...extra };
  // Manifests go gzipped to a mirror that asks (they shrink to about a third), as nginx sends them.
  if (b.length >= 256 && /json/.test(type) && /\bgzip\b/.test(String(res.req.headers['accept-encoding'] ?? ''))) {
    b = gzipSync(b);
    headers['Content-Encoding'] = 'gzip';
    headers.Vary = 'Accept-Encoding';
  }
  headers['Content-Length'] = String(b.length);
  res.writeHead(status, headers);
  res.end(res.req.method === 'HEAD' ? undefined : b);
}

const IMMUTABLE = { 'Cache-Control': 'public, max-age=31536000, immutable' };

async function handle(o: RepoServerOptions, parts: PartsOnDemand | undefined, req: IncomingMessage, res: ServerResponse, served: { bytes: number }): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n', { Allow: 'GET, HEAD' });
  const path = (req.url ?? '/').split('?')[0]!;
  let m: RegExpExecArray | null;
  if (path === '/latest.json') {
    const p = o.store.servedPointer();
    if (!p) return send(res, 404, 'text/plain', 'this mirror holds no complete version yet\n');
    served.bytes += p.bytes.length;
    return send(res, 200, 'application/json', p.bytes, { 'Cache-Control': 'no-cache' });
  }
  if ((m = /^\/roots\/([0-9a-f]{64})\.(json|sig)$/.exec(path))) {
    // A version held from the network, or the network root kept for one held from disks.
    const v = o.store.servableRoot(m[1]!);
    if (!v) return send(res, 404, 'text/plain', 'not found\n');
    const body = m[2] === 'json' ? v.root_json : v.root_sig;
    served.bytes += body.length;
    return send(res, 200, m[2] === 'json' ? 'application/json' : 'application/json', body, IMMUTABLE);
  }
  if ((m = /^\/parts\/([0-9a-f]{2})\/([0-9a-f]{64})\.jsonl$/.exec(path)) && m[2]!.startsWith(m[1]!)) {
    const sha = m[2]!;
    let bytes = await readStoredPart(o.store, sha);
    if (bytes && createHash('sha256').update(bytes).digest('hex') !== sha) bytes = undefined;
    if (!bytes && parts) bytes = await parts.get(sha, path.slice(1));
    if (!bytes) return send(res, 404, 'text/plain', 'not found\n');
    served.bytes += bytes.length;
    return send(res, 200, 'application/x-ndjson', bytes, IMMUTABLE);
  }
  if ((m = /^\/objects\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(path)) && m[2]!.startsWith(m[1]!) && HEX.test(m[2]!)) {
    const sha = m[2]!;
    const info = o.store.objectInfo(sha);
    const file = o.store.paths.object(sha);
    const st = info ? await stat(file).catch(() => undefined) : undefined;
    if (!info || !st || st.size !== info.size) return send(res, 404, 'text/plain', 'not found\n');
    return sendRange(req, res, file, info.size, sha, served);
  }
  if (path === '/status') return send(res, 200, 'application/json', JSON.stringify(o.status(), null, 1) + '\n', { 'Cache-Control': 'no-store' });
  if (path === '/metrics') return send(res, 200, 'text/plain; version=0.0.4', o.metrics(), { 'Cache-Control': 'no-store' });
  return send(res, 404, 'text/plain', 'not found\n');
}

/** One byte range (what mirrors ask for), or the whole object. */
function sendRange(req: IncomingMessage, res: ServerResponse, file: string, size: number, sha: string, served: { bytes: number }): void {
  let start = 0;
  let end = size; // exclusive
  let status = 200;
  const range = req.headers.range;
  if (range) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
    if (m && (m[1] !== '' || m[2] !== '')) {
      if (m[1] === '') {
        start = Math.max(0, size - Number(m[2]));
      } else {
        start = Number(m[1]);
        if (m[2] !== '') end = Math.min(size, Number(m[2]) + 1);
      }
      if (start >= size || start >= end) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
    }
  }
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream', 'Content-Length': String(end - start), 'Accept-Ranges': 'bytes', ETag: `"${sha}"`, ...IMMUTABLE,
  };
  if (status === 206) headers['Content-Range'] = `bytes ${start}-${end - 1}/${size}`;
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || end === start) {
    res.end();
    return;
  }
  // A mirror below that left while the object was looked up has had its 'close' already: nothing
  // is opened for it. Otherwise pipeline ends the file stream however the answer ends; a pipe()
  // into an answer already closed held the file open, paused, for good (one descriptor per such
  // request, found by a test of readers who leave early).
  if (res.closed) return;
  const stream = createReadStream(file, { start, end: end - 1, highWaterMark: 1 << 20 });
  stream.on('data', (c) => (served.bytes += c.length));
  pipeline(stream, res, () => {}); // an error (the reader gone, the disk failing) ends both
}
