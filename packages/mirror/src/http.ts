import { createHash, type Hash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { constants as fsc } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { AlignedBufferPool, BookcrateError, writeError } from '@bookcrate/format';

/**
 * The mirror's only way to the network: GETs against a static upstream (nginx serving plain files,
 * a CDN, another mirror). Everything it returns is untrusted; callers check hashes. What this layer
 * owns is getting exact bytes across a slow, flaky private network: retries with backoff, resume
 * with Range, stall detection, a shared bandwidth limit, and refusing bodies larger than asked for.
 */

export interface UpstreamOptions {
  /** Sent as `Authorization: Bearer <token>` (from --token-file). */
  token?: string;
  /** Extra CA certificate(s), PEM, for https upstreams (--ca). The system CAs still apply. */
  ca?: Buffer;
  /** Bytes per second across all concurrent transfers of this Upstream; 0/undefined = unlimited. */
  bwlimit?: number;
  /** Abort a request when no byte arrives for this long (inactivity, not total time). Default 30000. */
  stallMs?: number;
  /** Attempts per request before giving up. Default 6. */
  retries?: number;
  /** Base of the exponential backoff, with full jitter. Default 500. */
  backoffMs?: number;
  /** Cap of the backoff. Default 30000. */
  maxBackoffMs?: number;
  userAgent?: string;
  /** Aborts everything (graceful shutdown); pending calls reject with an Error named 'AbortError'. */
  signal?: AbortSignal;
  /** JSON log events: `retry` and `error`, with url, status, attempt, delayMs. */
  log?: (event: Record<string, unknown>) => void;
  /**
   * Connections to the upstream at most (default 16). At least the requests the caller makes at
   * once: a request queued for a connection would otherwise count its wait as a stall.
   */
  maxSockets?: number;
}

export interface UpstreamStats {
  /** HTTP requests sent (every attempt counts). */
  requests: number;
  /** Body bytes received, including bytes of attempts that failed. */
  bytes: number;
  /** Attempts that were retried. */
  retries: number;
  /** Calls that gave up with an error. */
  failures: number;
}

export interface DownloadResult {
  sha256: string;
  /** Body bytes received for this file, over all attempts. */
  fetched: number;
  /** Bytes of `dest` that were kept from before the call (0 if it started over). */
  resumedFrom: number;
}

/** A 200 to a Range request is accepted (and sliced) only below this, so a server that ignores Range
 * cannot make a chunk fetch download a whole video into memory. */
const MAX_UNRANGED_BODY = 8 * 1024 * 1024;
const MAX_SOCKETS = 16;
/** Redirects the client follows (any method stays GET, which is all it sends). */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Hops per request at most: a CDN needs one or two; more is a loop or a misconfiguration. */
const MAX_REDIRECTS = 5;
const HINT_REDIRECT = "check the upstream's redirects, or give --upstream the address they end at";
const HINT_RETRY = 'check the network and the upstream; the next round will retry';
const HINT_TOKEN = 'check --token-file: the upstream refused the credentials';
const HINT_CA = "check --ca: the upstream's certificate is not trusted by the system CAs or the given CA";
const HINT_CHANGED = 'the upstream changed during the round (a newer version was published?); the next round starts from the new pointer';

/** Transient failures: worth another attempt after a backoff. Never escapes this module. */
class Transient extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Socket-level errors that a later attempt can plausibly get past. TLS verification failures are
 * deliberately absent: retrying a certificate the mirror does not trust only delays the real fix. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

function abortError(signal: AbortSignal): Error {
  const e = new Error('upstream transfer aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(abortError(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Token bucket with debt: a chunk always goes through, and the taker then sleeps until the debt is
 * repaid. Shared by all transfers of an Upstream, so N parallel transfers together stay at `rate`.
 * Sleeping instead of reading is what throttles the sender: the response stream is not read, the
 * socket fills, TCP's window closes.
 */
class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private readonly burst: number;
  constructor(private readonly rate: number) {
    // Small burst: idle time must not turn into a spike well above the limit on a thin link.
    this.burst = Math.max(1, Math.min(rate / 10, 1024 * 1024));
    this.tokens = this.burst;
  }
  /** Takes n bytes; returns how long to wait (ms) before taking more. */
  take(n: number): number {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
}

/** Fires when nothing arrives for `ms`. Disarmed while we throttle or write to disk, because
 * those pauses are ours, not the network's. */
class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly ms: number,
    private readonly fire: () => void,
  ) {}
  arm(): void {
    this.disarm();
    this.timer = setTimeout(this.fire, this.ms);
  }
  disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function contentLength(res: IncomingMessage): number | undefined {
  const v = res.headers['content-length'];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

function parseContentRange(v: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = v === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim());
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]) + 1, ...(m[3] === '*' ? {} : { total: Number(m[3]) }) };
}

function retryAfterMs(res: IncomingMessage): number | undefined {
  const v = res.headers['retry-after'];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) * 1000 : undefined;
}

type Body = AsyncGenerator<Buffer, void, undefined>;

export class Upstream {
  readonly stats: UpstreamStats = { requests: 0, bytes: 0, retries: 0, failures: 0 };
  private readonly base: URL;
  /** One keep-alive agent per scheme: a redirect may lead from http to https (never back). */
  private readonly agents = new Map<string, http.Agent>();
  private readonly agentOpts: http.AgentOptions;
  private readonly ca: Buffer | undefined;
  /** Redirects already logged (origin to origin, status): a CDN that redirects every object is
   * said once, not a million times. */
  private readonly redirectsLogged = new Set<string>();
  private readonly bucket: TokenBucket | undefined;
  private readonly stallMs: number;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly log: (event: Record<string, unknown>) => void;
  private readonly fixedHeaders: OutgoingHttpHeaders;

  /** `baseUrl`: http: or https:, with or without a trailing '/'. */
  constructor(baseUrl: string, opts: UpstreamOptions = {}) {
    let base: URL;
    try {
      base = new URL(baseUrl);
    } catch {
      throw new BookcrateError('USAGE', `upstream "${baseUrl}" is not a URL`, { hint: 'give the upstream as http://host[:port]/path/ or https://…' });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new BookcrateError('USAGE', `upstream "${baseUrl}" is not an http: or https: URL`, { hint: 'give the upstream as http://host[:port]/path/ or https://…' });
    }
    if (base.search || base.hash) {
      throw new BookcrateError('USAGE', `upstream "${baseUrl}" has a query or fragment`, { hint: 'give the folder that holds latest.json, without ?… or #…' });
    }
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
    this.agentOpts = { keepAlive: true, maxSockets: Math.max(1, opts.maxSockets ?? MAX_SOCKETS) };
    this.ca = opts.ca;
    this.bucket = opts.bwlimit && opts.bwlimit > 0 ? new TokenBucket(opts.bwlimit) : undefined;
    this.stallMs = opts.stallMs ?? 30_000;
    this.attempts = Math.max(1, opts.retries ?? 6);
    this.backoffMs = opts.backoffMs ?? 500;
    this.maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.signal = opts.signal;
    // Every request in flight, and every transfer sleeping under --bwlimit, listens for the abort
    // and stops listening when it ends: with --concurrency over 5 that passes Node's default of 10
    // listeners, whose "possible memory leak" warning would only alarm the person at the keyboard.
    if (opts.signal) setMaxListeners(0, opts.signal);
    this.log = opts.log ?? (() => {});
    this.fixedHeaders = {
      'user-agent': opts.userAgent ?? 'bookcrate-mirror/0.1',
      // Byte counts, Range offsets and hashes are all about the stored bytes, never a recoding.
      'accept-encoding': 'identity',
      ...(opts.token !== undefined ? { authorization: `Bearer ${opts.token}` } : {}),
    };
  }

  /** Releases idle keep-alive sockets (they do not keep the process alive, but servers in tests
   * wait for them on close). */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private agentFor(protocol: string): http.Agent {
    let agent = this.agents.get(protocol);
    if (!agent) {
      // Node's `ca` replaces the system store rather than adding to it, hence the explicit union.
      agent =
        protocol === 'https:'
          ? new https.Agent({ ...this.agentOpts, ...(this.ca ? { ca: [...rootCertificates, this.ca.toString('utf8')] } : {}) })
          : new http.Agent(this.agentOpts);
      this.agents.set(protocol, agent);
    }
    return agent;
  }

  /** GET a small document (pointer, root, manifest part). null on 404. Refuses bodies over
   * `maxBytes` (error, no retry). `attempts`: at most this many (fewer than the client's own) where a
   * caller waits on the answer and would rather have a quick "not now" (a tier below's request). */
  async getSmall(path: string, maxBytes: number, opts: { noCache?: boolean; wire?: { bytes: number }; attempts?: number } = {}): Promise<Buffer | null> {
    const url = this.url(path);
    // Manifests are JSON with hex hashes and repeated folder names: gzip takes them to about a
    // third, and they are most of what a small change costs. Content (objects, ranges) stays
    // identity, because offsets and sizes are about the stored bytes.
    const headers: OutgoingHttpHeaders = { 'accept-encoding': 'gzip', ...(opts.noCache ? { 'cache-control': 'no-cache', pragma: 'no-cache' } : {}) };
    return this.retrying(url, async () =>
      this.attempt(url, headers, async (res, body) => {
        const status = res.statusCode ?? 0;
        if (status === 404) return null;
        if (status !== 200) throw this.statusError(status, url, res);
        const encoding = String(res.headers['content-encoding'] ?? 'identity').toLowerCase();
        if (encoding !== 'identity' && encoding !== 'gzip') throw this.ioError(url, `sent Content-Encoding "${encoding}"`, { status }, 'serve the repository without recoding (gzip or none)');
        const len = contentLength(res);
        if (len !== undefined && len > maxBytes) throw this.tooBig(url, `${len} bytes`, maxBytes);
        const chunks: Buffer[] = [];
        let got = 0;
        for await (const chunk of body) {
          got += chunk.length;
          if (got > maxBytes) throw this.tooBig(url, `more than ${maxBytes} bytes`, maxBytes);
          chunks.push(chunk);
        }
        if (len !== undefined && got !== len) throw new Transient(`body cut short at ${got} of ${len} bytes`);
        const raw = Buffer.concat(chunks, got);
        if (opts.wire) opts.wire.bytes += got; // what crossed the network, zipped or not
        if (encoding === 'identity') return raw;
        try {
          return gunzipSync(raw, { maxOutputLength: maxBytes });
        } catch (e) {
          if (e instanceof RangeError) throw this.tooBig(url, `more than ${maxBytes} bytes once unzipped`, maxBytes);
          throw new Transient(`a gzip body that does not unzip (${(e as Error).message})`);
        }
      }),
    () => false, opts.attempts);
  }

  /** Byte range [start, end) of a file: exactly end-start bytes or an error. A 200 with the whole
   * file is sliced only when the file is small (< 8 MiB). */
  async getRange(path: string, start: number, end: number): Promise<Buffer> {
    const url = this.url(path);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
      throw new BookcrateError('INTERNAL', `bad byte range [${start}, ${end}) for ${url}`);
    }
    const want = end - start;
    if (want === 0) return Buffer.alloc(0);
    return this.retrying(url, async () =>
      this.attempt(url, { range: `bytes=${start}-${end - 1}` }, async (res, body) => {
        const status = res.statusCode ?? 0;
        const len = contentLength(res);
        if (status === 206) {
          const cr = parseContentRange(res.headers['content-range']);
          if (!cr || cr.start !== start || cr.end !== end || (len !== undefined && len !== want)) {
            throw this.ioError(url, `answered Range bytes=${start}-${end - 1} with Content-Range "${res.headers['content-range'] ?? ''}"`, { status }, HINT_CHANGED);
          }
          const buf = await collect(body, want, () => this.ioError(url, `sent more than the ${want} bytes of Content-Range`, { status }, HINT_CHANGED));
          if (buf.length !== want) throw new Transient(`body cut short at ${buf.length} of ${want} bytes`);
          return buf;
        }
        if (status === 200) {
          // A server that ignores Range: acceptable for small files only, see MAX_UNRANGED_BODY.
          const refuse = (): BookcrateError =>
            this.ioError(url, `ignored Range and sent the whole file (${len ?? 'unknown'} bytes, limit ${MAX_UNRANGED_BODY})`, { status }, 'use an upstream that supports HTTP Range requests (nginx, any CDN)');
          if (len !== undefined && len >= MAX_UNRANGED_BODY) throw refuse();
          const buf = await collect(body, MAX_UNRANGED_BODY - 1, refuse);
          if (len !== undefined && buf.length !== len) throw new Transient(`body cut short at ${buf.length} of ${len} bytes`);
          if (buf.length < end) throw this.ioError(url, `is ${buf.length} bytes, too short for range [${start}, ${end})`, { status }, HINT_CHANGED);
          return buf.subarray(start, end);
        }
        throw this.statusError(status, url, res);
      }),
    );
  }

  /**
   * Downloads a whole file of known `size` into `dest` (a temp path), resuming from what `dest`
   * already holds (re-hashed locally; a dest already `size` long costs no request). Returns only
   * when `dest` holds exactly `size` bytes. They are not fsynced here: the caller makes them durable
   * (the mirror, for a batch of objects at once, before it records them; docs/repository.md).
   * The SHA-256 is of those bytes; whether it is the right one is the caller's call.
   * A fault that still made progress does not use up an attempt: a slow, flaky link that keeps
   * moving forward eventually delivers a large file.
   */
  async download(path: string, dest: string, size: number, opts: { onBytes?: (n: number) => void } = {}): Promise<DownloadResult> {
    const url = this.url(path);
    if (!Number.isSafeInteger(size) || size < 0) throw new BookcrateError('INTERNAL', `bad size ${size} for ${url}`);
    if (this.signal?.aborted) throw abortError(this.signal);
    let fh: FileHandle;
    // A new temp file is empty (no fstat needed: one system call less for each of a million photos);
    // one left by an interrupted round is resumed from its size.
    let fresh = true;
    try {
      fh = await open(dest, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o644).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
        fresh = false;
        return open(dest, fsc.O_RDWR, 0o644);
      });
    } catch (e) {
      throw fsError(e, dest);
    }
    try {
      let pos = fresh ? 0 : (await fh.stat()).size;
      let hash = createHash('sha256');
      if (pos > size) {
        // Not a prefix of this file, whatever it is.
        await fh.truncate(0);
        pos = 0;
      } else if (pos > 0) {
        await hashPrefix(fh, pos, hash);
      }
      let resumedFrom = pos;
      let fetched = 0;
      let from = pos;
      let best = pos;
      if (pos < size) {
        await this.retrying(
          url,
          async () => {
            from = pos;
            await this.attempt(url, from > 0 ? { range: `bytes=${from}-` } : {}, async (res, body) => {
              const status = res.statusCode ?? 0;
              const len = contentLength(res);
              if (status === 206 && from > 0) {
                const cr = parseContentRange(res.headers['content-range']);
                if (!cr || cr.start !== from) {
                  throw this.ioError(url, `answered Range bytes=${from}- with Content-Range "${res.headers['content-range'] ?? ''}"`, { status }, HINT_CHANGED);
                }
                if (cr.total !== undefined && cr.total !== size) throw this.sizeMismatch(url, cr.total, size, status);
              } else if (status === 200) {
                if (len !== undefined && len !== size) throw this.sizeMismatch(url, len, size, status);
                if (from > 0) {
                  // The server ignored Range: the body starts at byte 0, so the partial file is worthless.
                  await fh.truncate(0);
                  pos = 0;
                  from = 0;
                  resumedFrom = 0;
                  hash = createHash('sha256');
                }
              } else if (status === 416) {
                throw this.ioError(url, `has no bytes from ${from} on (HTTP 416), but ${size} bytes were expected`, { status }, HINT_CHANGED);
              } else {
                throw this.statusError(status, url, res);
              }
              for await (const chunk of body) {
                fetched += chunk.length;
                const n = Math.min(chunk.length, size - pos);
                if (n > 0) {
                  const part = n === chunk.length ? chunk : chunk.subarray(0, n);
                  await writeAll(fh, part, pos, dest);
                  hash.update(part);
                  pos += n;
                  opts.onBytes?.(n);
                }
                if (n < chunk.length) throw this.ioError(url, `sent more than the expected ${size} bytes`, { status }, HINT_CHANGED);
              }
              if (pos < size) throw new Transient(`body cut short at byte ${pos} of ${size}`);
            });
          },
          () => {
            // Progress means reaching further than ever before: a server that ignores Range and
            // resets mid-body restarts at 0 every time, and must still run out of attempts.
            const further = pos > best;
            best = Math.max(best, pos);
            return further;
          },
        );
      }
      return { sha256: hash.digest('hex'), fetched, resumedFrom };
    } finally {
      await fh.close().catch(() => {});
    }
  }

  private url(path: string): URL {
    const segs = path.replace(/^\/+/, '').split('/');
    // Paths come from signed metadata and are plain ASCII (docs/repository.md); refusing dot
    // segments keeps a request inside the upstream's folder even if that ever stops being true.
    if (segs.some((s) => s === '' || s === '.' || s === '..')) {
      throw new BookcrateError('INTERNAL', `"${path}" is not a plain relative upstream path`);
    }
    // './' so that a first segment with a colon is not read as a URL scheme.
    return new URL('./' + segs.map(encodeURIComponent).join('/'), this.base);
  }

  /** Runs `run` until it succeeds, a non-transient error occurs, or attempts run out. `progressed`
   * says whether a failed attempt moved forward, in which case it does not count. */
  private async retrying<T>(url: URL, run: () => Promise<T>, progressed: () => boolean = () => false, attemptsAtMost?: number): Promise<T> {
    const attempts = Math.max(1, Math.min(this.attempts, attemptsAtMost ?? this.attempts));
    let attempt = 0;
    let failed = 0;
    for (;;) {
      attempt++;
      try {
        return await run();
      } catch (e) {
        if (this.signal?.aborted) throw abortError(this.signal);
        if (!(e instanceof Transient)) {
          this.stats.failures++;
          this.log({ event: 'error', url: url.href, status: statusOf(e), attempt, error: (e as Error).message });
          throw e;
        }
        failed = progressed() ? 1 : failed + 1;
        if (failed >= attempts) {
          this.stats.failures++;
          this.log({ event: 'error', url: url.href, status: e.status, attempt, error: e.message });
          throw new BookcrateError('IO', `upstream ${url.href}: ${e.message} after ${attempt} attempts`, {
            hint: HINT_RETRY,
            details: { url: url.href, status: e.status, attempts: attempt },
          });
        }
        // Full jitter: 2,900 mirrors that lost the same upstream must not come back in lockstep.
        const ceiling = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (failed - 1));
        const delayMs = Math.min(this.maxBackoffMs, Math.max(Math.round(Math.random() * ceiling), e.retryAfterMs ?? 0));
        this.stats.retries++;
        this.log({ event: 'retry', url: url.href, status: e.status, attempt, delayMs, error: e.message });
        await sleep(delayMs, this.signal);
      }
    }
  }

  /**
   * One HTTP request, following up to MAX_REDIRECTS redirects (docs/repository.md, "Redirects"):
   * `handle` gets the final answer and reads it; whatever it leaves unread is discarded with the
   * socket, because a half-read body would poison the next request on a kept-alive connection.
   * Where the bytes come from does not matter to their trust (every byte is checked against signed
   * hashes); what does is that the token goes only to the upstream's own origin and that https is
   * never left for plain http.
   */
  private async attempt<T>(url: URL, headers: OutgoingHttpHeaders, handle: (res: IncomingMessage, body: Body) => Promise<T>): Promise<T> {
    const signal = this.signal;
    if (signal?.aborted) throw abortError(signal);
    let req: http.ClientRequest | undefined;
    let stalled = false;
    const dog = new Watchdog(this.stallMs, () => {
      stalled = true;
      req?.destroy(new Error(`no data for ${this.stallMs} ms`));
    });
    const onAbort = (): void => {
      req?.destroy(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let res: IncomingMessage | undefined;
    let at = url;
    let got = 0;
    try {
      for (let hops = 0; ; hops++) {
        this.stats.requests++;
        const lib = at.protocol === 'https:' ? https : http;
        const sent = { ...this.fixedHeaders, ...headers };
        // As browsers do: credentials for the upstream are not handed to another origin.
        if (at.origin !== this.base.origin) delete sent.authorization;
        const r = lib.request(at, { method: 'GET', agent: this.agentFor(at.protocol), headers: sent });
        req = r;
        // Errors reach us through the promises below; this keeps a late one from crashing the process.
        r.on('error', () => {});
        dog.arm();
        res = await new Promise<IncomingMessage>((resolve, reject) => {
          r.once('response', resolve);
          r.once('error', reject);
          r.end();
        });
        dog.disarm();
        const status = res.statusCode ?? 0;
        if (!REDIRECT_STATUSES.has(status)) break;
        const next = this.redirectTarget(url, at, res, hops);
        release(r, res);
        res = undefined;
        at = next;
      }
      dog.disarm();
      const r = res;
      const self = this;
      async function* body(): Body {
        const it = r[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        for (;;) {
          dog.arm();
          const next = await it.next();
          dog.disarm();
          if (next.done) return;
          const chunk = next.value;
          got += chunk.length;
          self.stats.bytes += chunk.length;
          yield chunk;
          const wait = self.bucket?.take(chunk.length) ?? 0;
          if (wait > 0) await sleep(wait, signal);
        }
      }
      return await handle(r, body());
    } catch (e) {
      if (e instanceof Transient || e instanceof BookcrateError) throw e;
      if (signal?.aborted) throw abortError(signal);
      const where = res ? ` at body byte ${got}${contentLength(res) !== undefined ? ` of ${contentLength(res)}` : ''}` : '';
      // A connection that failed at a redirect's target is named, so the log shows where it went.
      const via = at === url ? '' : ` (redirected to ${at.href})`;
      if (stalled) throw new Transient(`no data for ${this.stallMs} ms${where}${via}`, res?.statusCode);
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== undefined && (TRANSIENT_CODES.has(code) || code.startsWith('HPE_'))) {
        throw new Transient(`${res ? 'connection lost' : 'connection failed'} (${code}: ${(e as Error).message})${where}${via}`, res?.statusCode);
      }
      if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/.test(code)) {
        throw this.ioError(url, `TLS: ${(e as Error).message} (${code})${via}`, {}, HINT_CA);
      }
      throw this.ioError(url, `${(e as Error).message}${code ? ` (${code})` : ''}${via}`, {}, HINT_RETRY);
    } finally {
      dog.disarm();
      signal?.removeEventListener('abort', onAbort);
      if (res) release(req!, res);
      else req?.destroy();
    }
  }

  /** Where a redirect leads, or the reason it is not followed (an error, not retried: the same
   * request would be redirected the same way). */
  private redirectTarget(url: URL, at: URL, res: IncomingMessage, hops: number): URL {
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!location) return this.fail(url, `answered HTTP ${status} without a Location`, { status }, HINT_REDIRECT);
    if (hops >= MAX_REDIRECTS) return this.fail(url, `redirected more than ${MAX_REDIRECTS} times (the last to ${location})`, { status, redirects: hops + 1 }, HINT_REDIRECT);
    let next: URL;
    try {
      next = new URL(location, at);
    } catch {
      return this.fail(url, `redirected to "${location}", which is not a URL`, { status }, HINT_REDIRECT);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') return this.fail(url, `redirected to ${next.protocol} (${location}), which is not http or https`, { status }, HINT_REDIRECT);
    if (at.protocol === 'https:' && next.protocol === 'http:') {
      return this.fail(url, `redirected from https to plain http (${next.href}); refused`, { status, location: next.href }, 'give --upstream an https address whose redirects stay on https');
    }
    next.hash = '';
    const key = `${status} ${at.origin} ${next.origin}`;
    if (!this.redirectsLogged.has(key) && this.redirectsLogged.size < 100) {
      this.redirectsLogged.add(key);
      this.log({ event: 'redirect', url: at.href, status, to: next.href, note: 'followed; later redirects between these origins are not logged' });
    }
    return next;
  }

  private fail(url: URL, what: string, details: Record<string, unknown>, hint: string): never {
    throw this.ioError(url, what, details, hint);
  }

  private statusError(status: number, url: URL, res: IncomingMessage): Error {
    if (status === 401 || status === 403) return this.ioError(url, `HTTP ${status} (not authorized)`, { status }, HINT_TOKEN);
    if (status === 404) return this.ioError(url, 'HTTP 404 (not found)', { status }, HINT_CHANGED);
    if (status === 408 || status === 429 || (status >= 500 && status <= 599)) return new Transient(`HTTP ${status}`, status, retryAfterMs(res));
    return this.ioError(url, `unexpected HTTP ${status}`, { status }, 'check that the upstream URL names a bookcrate repository served as plain files');
  }

  private tooBig(url: URL, what: string, maxBytes: number): BookcrateError {
    return this.ioError(url, `sent ${what}, more than the ${maxBytes} allowed`, { maxBytes }, 'the upstream is misconfigured or hostile; check the upstream URL');
  }

  private sizeMismatch(url: URL, got: number, size: number, status: number): BookcrateError {
    return this.ioError(url, `is ${got} bytes, but the signed metadata says ${size}`, { status, upstreamSize: got, size }, HINT_CHANGED);
  }

  private ioError(url: URL, what: string, details: Record<string, unknown>, hint: string): BookcrateError {
    return new BookcrateError('IO', `upstream ${url.href}: ${what}`, { hint, details: { url: url.href, ...details } });
  }
}

/**
 * Ends a request whose answer the caller is done with. A body that has arrived whole but was not
 * read (a 404's page, a redirect's) is drained, which hands the socket back to the keep-alive pool:
 * left alone, it would hold one of the pool's sockets for good, and requests queued behind it would
 * stall. Anything still arriving is cut off with its socket, whatever it was sending.
 */
function release(req: http.ClientRequest, res: IncomingMessage): void {
  if (res.complete) res.resume();
  else req.destroy();
}

function statusOf(e: unknown): unknown {
  const d = e instanceof BookcrateError ? e.details : undefined;
  return d && typeof d === 'object' && 'status' in d ? (d as { status: unknown }).status : undefined;
}

/** Reads the whole body, refusing more than `max` bytes. */
async function collect(body: Body, max: number, tooMuch: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of body) {
    got += chunk.length;
    if (got > max) throw tooMuch();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, got);
}

/** Page-aligned read buffers (the kernel copies into them ~4× faster; format's aligned.ts). */
const readBuffers = new AlignedBufferPool(1 << 20);

async function hashPrefix(fh: FileHandle, len: number, hash: Hash): Promise<void> {
  const buf = readBuffers.take();
  try {
    let pos = 0;
    while (pos < len) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, len - pos), pos);
      if (bytesRead === 0) throw new BookcrateError('IO', `partial download shrank while it was re-hashed (at byte ${pos} of ${len})`, { hint: 'is another process writing to the same temp file?' });
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    readBuffers.give(buf);
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, pos: number, dest: string): Promise<void> {
  let off = 0;
  try {
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off, pos + off);
      off += bytesWritten;
    }
  } catch (e) {
    throw fsError(e, dest);
  }
}

function fsError(e: unknown, path: string): Error {
  return writeError(e, path, {
    full: `no space left writing ${path}`,
    fullHint: 'free space on the store filesystem; the download resumes where it stopped',
    ioHint: 'check the permissions and the filesystem of the store',
  });
}
