import { readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { BookcrateError, bundlePathProblem, formatSize, parseListen } from '@bookcrate/format';
import { lockHolder, Store, type VersionRow } from '@bookcrate/store';
import { inPageOrder, zipEntryNames } from './catalog.js';
import { extension, kindOf, noneMatch, presentEntries, sendObject, sendZip, whenClosed, type ZipEntry } from './files.js';
import { SUBTITLE_EXTENSIONS, SUBTITLE_MAX_BYTES, subtitlesFor, toWebVtt } from './subtitles.js';
import { isLang, type Lang } from './i18n.js';
import { isZipNames, zipNamesFor } from './zip-names.js';
import { ClientLimits, clientKey, DEFAULT_CLIENT_LIMITS, plainAddress, readerAddress, type ClientLimitOptions, type Refusal } from './limits.js';
import { isIP } from 'node:net';
import { AccessLog, loggedStatus } from './access-log.js';
import {
  changesPage, collectionPage, errorPage, FILES_PER_PAGE, HOME_ARRIVALS, SEARCH_PER_PAGE, homePage, pageCtx, resourcePage, searchPage, statusPage, type PageCtx, type SearchResult,
} from './pages.js';

export interface ServeOptions {
  /** The store directory (as given to `bookcrate import --store`). */
  store: string;
  /** host:port, [v6]:port or a bare port; default 127.0.0.1:8080 (only this PC). */
  listen?: string;
  /** The language pages use unless the reader asks for the other one with ?lang=. Default zh. */
  lang?: Lang;
  /** Zip downloads built at the same time; more get a "busy" page. Default 4. */
  maxZips?: number;
  /** What one client may take (limits.ts); each field defaults to DEFAULT_CLIENT_LIMITS'. */
  clientLimits?: Partial<ClientLimitOptions>;
  /**
   * Where readers reach the server behind the library's portal: with '/library', every URL a page
   * gives starts with /library/, and a request is answered with or without it (a proxy that passes
   * the path on as it came, or one that strips its location). Default: the root.
   */
  basePath?: string;
  /**
   * Addresses of the reverse proxies in front of the server (the portal's nginx): a request from one
   * of them is counted against the reader X-Forwarded-For names (limits.ts, readerAddress).
   */
  trustedProxies?: string[];
  /** A file to append one line per request to, in the Combined Log Format (access-log.ts). Default: none. */
  accessLog?: string;
  /** Receives one line per unexpected error (the reader only ever sees a friendly page). */
  log?: (line: string) => void;
}

/**
 * A base path as ServeOptions.basePath takes it: '' for the root, else '/' and segments of URL-safe
 * characters, without a trailing '/'. Anything else is refused: it goes into every link unescaped.
 */
export function checkBasePath(path: string): string {
  const p = path.trim();
  if (p === '' || p === '/') return '';
  if (!/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(p) || /\/\.{1,2}(\/|$)/.test(p)) {
    throw new BookcrateError('USAGE', `--base-path "${path}" is not a path like /library`, {
      hint: 'give the path under which the portal passes requests on, e.g. --base-path /library (letters, digits, . _ ~ -)',
      say: { id: 'bad-base-path', args: { path } },
    });
  }
  return p.replace(/\/$/, '');
}

/** Trusted proxies' addresses as readerAddress compares them; anything that is not an IP address is refused. */
export function checkTrustedProxies(addresses: string[]): Set<string> {
  for (const a of addresses) {
    if (!isIP(a.trim())) {
      throw new BookcrateError('USAGE', `--trust-proxy "${a}" is not an IP address`, {
        hint: 'give the address the proxy connects from, e.g. --trust-proxy 127.0.0.1 when the portal runs on this PC',
        say: { id: 'bad-trust-proxy', args: { address: a } },
      });
    }
  }
  return new Set(addresses.map((a) => plainAddress(a.trim())));
}

export interface RunningServer {
  /** Where the server listens (its root): http://host:port */
  url: string;
  /** The base path its links start with ('' or '/library'). */
  basePath: string;
  close(): Promise<void>;
}

const PER_PAGE = 50;

/** The page of a list a request asks for (`?page=`, 1 when absent or not a page number), and how many there are. */
function pageOf(q: URLSearchParams, items: number, perPage = PER_PAGE): { page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(items / perPage));
  const asked = q.get('page') ?? '1';
  return { page: /^[1-9][0-9]{0,6}$/.test(asked) ? Math.min(Number(asked), pages) : 1, pages };
}
/** How many results a search lists at most, a page at a time (a reader who needs more narrows the query). */
const SEARCH_CAP = 1000;
const MAX_URL = 8192;
const MAX_ID = 1024;
const SHA256 = /^[0-9a-f]{64}$/;

/** Page responses: nothing but our own styles, media and images; no scripts, no framing. */
const PAGE_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; media-src 'self'; img-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/** File responses (a PDF opens in the browser's own viewer, which `object-src 'none'` would block). */
const FILE_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; media-src 'self'";


/** Pages smaller than this are sent as they are: gzip would save less than a packet. */
const GZIP_FROM = 1400;

/** Whether an Accept-Encoding header takes gzip (`gzip`, `gzip;q=0.5`, `*`), and does not refuse it (`gzip;q=0`). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let star: boolean | undefined;
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find(Boolean);
    const ok = !q || Number(q[1]) > 0;
    if (name === 'gzip' || name === 'x-gzip') return ok;
    if (name === '*') star = ok;
  }
  return star ?? false;
}

class HttpError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 429 | 503,
    readonly kind: 'bad' | 'notFound' | 'unavailable' | 'method' | 'busy' | 'limit',
    readonly refusal?: Refusal,
  ) {
    super(kind);
  }
}
const limited = (refusal: Refusal) => new HttpError(429, 'limit', refusal);
const notFound = () => new HttpError(404, 'notFound');
const badRequest = () => new HttpError(400, 'bad');

function parseVid(s: string | undefined): number {
  if (!s || !/^[1-9][0-9]{0,9}$/.test(s)) throw notFound();
  return Number(s);
}

function checkId(s: string | undefined): string {
  if (s === undefined || s.length === 0 || s.length > MAX_ID || s.includes('\0')) throw badRequest();
  return s;
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const defaultLang: Lang = opts.lang ?? 'zh';
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:8080');
  const basePath = checkBasePath(opts.basePath ?? '');
  const trustedProxies = checkTrustedProxies(opts.trustedProxies ?? []);
  let store = await Store.open(opts.store, { readonly: true });
  /**
   * `bookcrate check --rebuild-catalog` puts a new catalog.sqlite in place of a damaged one (a new
   * file: another inode). At most every two seconds a request looks, and the new one is opened;
   * the old connection is closed a minute later, when the requests that were reading it are done.
   * `generation` makes the values kept below (by version id) be read again: ids are new too.
   */
  let catalogInode = statSync(store.paths.catalog).ino;
  let generation = 0;
  let lookedAt = Date.now();
  const followCatalog = async (): Promise<void> => {
    const now = Date.now();
    if (now - lookedAt < 2000) return;
    lookedAt = now;
    const ino = statSync(store.paths.catalog, { throwIfNoEntry: false })?.ino;
    if (ino === undefined || ino === catalogInode) return;
    let next: Store;
    try {
      next = await Store.open(opts.store, { readonly: true });
    } catch {
      return; // in the middle of the swap: the next request looks again
    }
    const old = store;
    store = next;
    catalogInode = ino;
    generation++;
    setTimeout(() => old.close(), 60_000).unref();
    opts.log?.('serve: the store\'s catalog was replaced (rebuilt); serving from the new one');
  };
  let accessLog: AccessLog | undefined;
  try {
    accessLog = opts.accessLog ? await AccessLog.open(opts.accessLog, (line) => opts.log?.(line)) : undefined;
  } catch (e) {
    store.close();
    throw e;
  }
  const maxZips = opts.maxZips ?? 4;
  let zips = 0;
  const limitOpts: ClientLimitOptions = { ...DEFAULT_CLIENT_LIMITS, ...opts.clientLimits };
  const limits = new ClientLimits(limitOpts);
  const lastLogged = new Map<string, number>();
  /** The client a request's limits count against: its reader, behind a trusted proxy too. */
  const clientOf = (req: IncomingMessage): string =>
    clientKey(readerAddress(req.socket.remoteAddress, req.headers['x-forwarded-for'], trustedProxies));
  /**
   * Counts a file or zip response against its client's downloads (a refusal is thrown as a 429):
   * the bytes it sent count against the quota while it streams, and are taken from it when it
   * ends, however it ends. HEAD sends none.
   */
  const startDownload = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'HEAD') return;
    const client = clientOf(req);
    const socket = req.socket;
    const before = socket.bytesWritten;
    const started = limits.download(client, () => socket.bytesWritten - before);
    if (typeof started !== 'function') {
      // One line per computer and reason every ten minutes: a script knocking a thousand times a
      // minute must not fill the librarian's log.
      const key = `${client} ${started.why}`;
      const now = Date.now();
      if (!(now - (lastLogged.get(key) ?? -Infinity) < 600_000)) {
        if (lastLogged.size > 10_000) lastLogged.clear();
        lastLogged.set(key, now);
        opts.log?.(`serve: ${client} is refused downloads: ${started.why === 'bytes' ? `it has taken ${formatSize(limitOpts.bytesPerHour)} in the last hour` : `it has ${limitOpts.downloadsAtOnce} under way`} (--client-${started.why === 'bytes' ? 'quota' : 'downloads'})`);
      }
      throw limited(started);
    }
    whenClosed(res, () => started(socket.bytesWritten - before));
  };

  /**
   * What the pages read of a version's catalog that costs a pass over many rows, kept until the
   * catalog changes: a collection's resources are counted off the index (25 ms for 100,000, 250 ms
   * for a million, on every page otherwise), so are a version's new and updated resources, and the
   * status page counts every file of each version (0.5 s for a million). Another process's commit
   * (an import, a mirror round, `import --only`) changes the catalog's counter; then a value is read
   * again once it is `staleFor` old: the lists at most once a minute while an import runs, the
   * status page's counts on every view, since a librarian watches them move.
   */
  const keptUntilChanged = <T>(read: (vid: number) => T, staleFor: number): ((vid: number) => T) => {
    const known = new Map<number, { value: T; at: number; counter: number; generation: number }>();
    return (vid) => {
      const now = Date.now();
      const counter = store.changeCounter();
      const k = known.get(vid);
      if (k && k.generation === generation && (k.counter === counter || now - k.at < staleFor)) return k.value;
      const value = read(vid);
      if (known.size > 100) known.clear();
      known.set(vid, { value, at: now, counter, generation });
      return value;
    };
  };
  const changesOf = keptUntilChanged((vid) => ({ added: store.newResourceCount(vid), updated: store.updatedResourceCount(vid) }), 60_000);
  const collectionsOf = keptUntilChanged((vid) => store.collections(vid), 60_000);
  const fileCountsOf = keptUntilChanged((vid) => store.fileCounts(vid), 0);

  const current = (): VersionRow[] => store.currentVersions().filter((v) => v.state === 'complete');

  /**
   * The version a URL names, if readers may see it. A URL naming an older version of a bundle that
   * has a newer current one is redirected there (a bookmark survives an update).
   */
  const versionFor = (vid: number, res: ServerResponse, rawPath: string, rawQuery: string): VersionRow | undefined => {
    const cur = current();
    const v = cur.find((x) => x.id === vid);
    if (v) return v;
    const old = store.versionById(vid);
    const now = old && cur.find((x) => x.bundle_id === old.bundle_id);
    if (!now) throw notFound();
    const parts = rawPath.split('/');
    parts[2] = String(now.id);
    res.writeHead(302, { Location: basePath + parts.join('/') + (rawQuery ? `?${rawQuery}` : ''), 'Content-Length': 0 }).end();
    return undefined;
  };

  const sendPage = (req: IncomingMessage, res: ServerResponse, status: number, body: string): void => {
    let buf = Buffer.from(body, 'utf8');
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    // Pages go gzipped to a browser that takes it: a search page of fifty results is ~40 KB of
    // HTML and ~8 KB gzipped, which a phone on a crowded reading-room Wi-Fi feels. (Files and zips
    // are media, already compressed, and sent as they are.)
    res.setHeader('Vary', 'Accept-Encoding');
    if (buf.length >= GZIP_FROM && acceptsGzip(req.headers['accept-encoding'])) {
      buf = gzipSync(buf, { level: 6 });
      res.setHeader('Content-Encoding', 'gzip');
    }
    res.setHeader('Content-Length', buf.length);
    res.setHeader('Cache-Control', 'no-cache');
    res.writeHead(status);
    res.end(req.method === 'HEAD' ? undefined : buf);
  };

  const limitText = (t: PageCtx['t'], r: Refusal): string =>
    r.why === 'requests' ? t.limitRequests
    : r.why === 'downloads' ? t.limitDownloads(limitOpts.downloadsAtOnce)
    : t.limitBytes(formatSize(limitOpts.bytesPerHour), Math.max(1, Math.ceil(r.retryAfterSeconds / 60)));

  const sendError = (req: IncomingMessage, res: ServerResponse, ctx: PageCtx, e: HttpError | 'internal'): void => {
    const t = ctx.t;
    const [status, title, text] =
      e === 'internal' ? [500, t.errorTitle, t.errorText]
      : e.kind === 'bad' ? [400, t.badRequestTitle, t.badRequestText]
      : e.kind === 'method' ? [405, t.methodTitle, t.methodText]
      : e.kind === 'busy' ? [503, t.busyTitle, t.busyText]
      : e.kind === 'limit' ? [429, t.limitTitle, limitText(t, e.refusal!)]
      : e.kind === 'unavailable' ? [404, t.fileUnavailableTitle, t.fileUnavailableText]
      : [404, t.notFoundTitle, t.notFoundText];
    if (status === 405) res.setHeader('Allow', 'GET, HEAD');
    if (status === 503) res.setHeader('Retry-After', '60');
    if (status === 429) res.setHeader('Retry-After', String((e as HttpError).refusal!.retryAfterSeconds));
    for (const h of ['Content-Disposition', 'Content-Range', 'ETag', 'Last-Modified', 'Accept-Ranges']) res.removeHeader(h);
    sendPage(req, res, status, errorPage(ctx, title, text));
  };

  async function route(req: IncomingMessage, res: ServerResponse, ctx: PageCtx, segs: string[], rawPath: string, rawQuery: string): Promise<void> {
    const q = ctx.query;
    const [head, a, b] = segs;
    if (head === '' && segs.length === 1) {
      const groups = current().map((v) => {
        const { added, updated } = changesOf(v.id);
        return {
          version: v, collections: collectionsOf(v.id),
          arrivals: {
            count: added, first: added > 0 ? store.newResources(v.id, HOME_ARRIVALS, 0) : [],
            updatedCount: updated, updatedFirst: updated > 0 ? store.updatedResources(v.id, HOME_ARRIVALS, 0) : [],
          },
        };
      });
      const arriving = groups.length > 0 ? [] : store.allVersions().filter((v) => v.state !== 'complete')
        .map((v) => ({ v, ...store.volumesOf(v) })).filter((a) => !a.supersededBy);
      return sendPage(req, res, 200, homePage(ctx, groups, arriving));
    }
    if ((head === 'new' || head === 'updated') && segs.length === 2) {
      // A version's new arrivals, or the resources it updated, fifty a page.
      const v = versionFor(parseVid(a), res, rawPath, rawQuery);
      if (!v) return;
      const changes = changesOf(v.id);
      const count = head === 'new' ? changes.added : changes.updated;
      if (count === 0) throw notFound();
      const { page, pages } = pageOf(q, count);
      const offset = (page - 1) * PER_PAGE;
      const rows = head === 'new' ? store.newResources(v.id, PER_PAGE, offset) : store.updatedResources(v.id, PER_PAGE, offset);
      return sendPage(req, res, 200, changesPage(ctx, head, v, collectionsOf(v.id), count, rows, page, pages));
    }
    if (head === 'c' && segs.length === 3) {
      const v = versionFor(parseVid(a), res, rawPath, rawQuery);
      if (!v) return;
      const cid = checkId(b);
      const c = collectionsOf(v.id).find((x) => x.id === cid);
      if (!c) throw notFound();
      const { page, pages } = pageOf(q, c.resources);
      const rows = store.resources(v.id, c.id, PER_PAGE, (page - 1) * PER_PAGE);
      const { added, updated } = changesOf(v.id);
      const changes = added + updated > 0 ? store.changesAmong(v.id, rows.map((r) => r.id)) : new Map<string, 'new' | 'updated'>();
      return sendPage(req, res, 200, collectionPage(ctx, v, c, rows, page, pages, changes));
    }
    if (head === 'r' && segs.length === 3) {
      const v = versionFor(parseVid(a), res, rawPath, rawQuery);
      if (!v) return;
      const r = store.resource(v.id, checkId(b));
      if (!r) throw notFound();
      const col = collectionsOf(v.id).find((x) => x.id === r.collection);
      // Its files a page at a time: the paths of all of them (off the index) give the order and the
      // count; only the page's rows are read.
      const order = inPageOrder(store.filePathsOf(v.id, r.id).map((path) => ({ path })));
      const { page, pages } = pageOf(q, order.length, FILES_PER_PAGE);
      const files = store.filesAt(v.id, order.slice((page - 1) * FILES_PER_PAGE, page * FILES_PER_PAGE).map((f) => f.path));
      // The files this version added or changed, if readers had the resource before: marked 新.
      const changedFiles = store.changedFileCount(v.id, r.id);
      const changed = changedFiles > 0 ? store.changedAmong(v.id, files.map((f) => f.path)) : undefined;
      // Each video's subtitle files, wherever they fall in the pages, those readers can have only.
      const byVideo = subtitlesFor(order.map((f) => f.path), (p) => kindOf(p) === 'video', r.language);
      const subtitleRows = new Map(store.filesAt(v.id, [...byVideo.values()].flat().map((t) => t.path)).map((f) => [f.path, f]));
      const subtitles = new Map([...byVideo].map(([video, list]) => [video, list.filter((t) => subtitleRows.get(t.path)?.state === 'present')]));
      const paging = pages === 1 ? { page, pages, changedFiles, changed, subtitles } : {
        page, pages, changedFiles, changed, subtitles,
        present: store.presentFileCount(v.id, r.id),
        nonAsciiZipNames: zipEntryNames(order.map((f) => f.path)).some((n) => /[^\x00-\x7f]/.test(n)),
      };
      return sendPage(req, res, 200, resourcePage(ctx, v, col, r, files, zipNamesFor(req.headers), paging));
    }
    if (head === 'file' && segs.length >= 3) {
      const v = versionFor(parseVid(a), res, rawPath, rawQuery);
      if (!v) return;
      const path = segs.slice(2).join('/');
      if (bundlePathProblem(path)) throw badRequest();
      const f = store.file(v.id, path);
      if (!f || f.type !== 'file') throw notFound();
      if (f.state !== 'present' || !f.sha256 || !SHA256.test(f.sha256)) throw new HttpError(404, 'unavailable');
      startDownload(req, res);
      res.setHeader('Content-Security-Policy', FILE_CSP);
      const sent = await sendObject(req, res, {
        objectPath: store.paths.object(f.sha256), sha256: f.sha256, size: f.size, mtime: f.mtime,
        name: path.slice(path.lastIndexOf('/') + 1), download: q.get('download') === '1',
      });
      if (sent === 'missing') {
        opts.log?.(`serve: object ${f.sha256} of ${path} (version ${v.id}) is missing or has the wrong size in the store`);
        throw new HttpError(404, 'unavailable');
      }
      return;
    }
    if (head === 'vtt' && segs.length >= 3) {
      // A subtitle file as WebVTT, for a video's <track> (subtitles.ts): small, so converted whole.
      const v = versionFor(parseVid(a), res, rawPath, rawQuery);
      if (!v) return;
      const path = segs.slice(2).join('/');
      if (bundlePathProblem(path)) throw badRequest();
      if (!SUBTITLE_EXTENSIONS.has(extension(path))) throw notFound();
      const f = store.file(v.id, path);
      if (!f || f.type !== 'file') throw notFound();
      if (f.state !== 'present' || !f.sha256 || !SHA256.test(f.sha256) || f.size > SUBTITLE_MAX_BYTES) throw new HttpError(404, 'unavailable');
      const etag = `"${f.sha256}.vtt"`;
      res.setHeader('Content-Security-Policy', FILE_CSP);
      res.setHeader('ETag', etag);
      res.setHeader('Cache-Control', 'public, max-age=86400'); // the URL names a version, which never changes
      const inm = req.headers['if-none-match'];
      if (inm !== undefined && noneMatch(inm, etag)) {
        res.writeHead(304).end();
        return;
      }
      const bytes = await readFile(store.paths.object(f.sha256)).catch(() => undefined);
      if (!bytes || bytes.length !== f.size) {
        opts.log?.(`serve: object ${f.sha256} of ${path} (version ${v.id}) is missing or has the wrong size in the store`);
        throw new HttpError(404, 'unavailable');
      }
      const body = Buffer.from(toWebVtt(bytes), 'utf8');
      res.writeHead(200, { 'Content-Type': 'text/vtt; charset=utf-8', 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (head === 'zip' && segs.length === 3) {
      const v = versionFor(parseVid(a), res, rawPath, rawQuery);
      if (!v) return;
      const r = store.resource(v.id, checkId(b));
      if (!r) throw notFound();
      const files = inPageOrder(store.filesOf(v.id, r.id)).filter((f) => f.type === 'file' && f.state === 'present' && !!f.sha256 && SHA256.test(f.sha256));
      if (files.length === 0) throw new HttpError(404, 'unavailable');
      const names = zipEntryNames(files.map((f) => f.path));
      const entries: ZipEntry[] = files.map((f, i) => ({
        objectPath: store.paths.object(f.sha256!), size: f.size, mtime: f.mtime, name: names[i]!,
      }));
      startDownload(req, res);
      if (zips >= maxZips) throw new HttpError(503, 'busy');
      zips++;
      try {
        const ok = await presentEntries(entries);
        if (ok.length !== entries.length) {
          opts.log?.(`serve: ${entries.length - ok.length} object(s) of resource ${r.id} (version ${v.id}) are missing from the store`);
        }
        if (ok.length === 0) throw new HttpError(404, 'unavailable');
        res.setHeader('Content-Security-Policy', FILE_CSP);
        const zipName = `${r.title.replace(/[\\/:*?"<>|\x00-\x1f]/g, '_').slice(0, 120) || 'download'}.zip`;
        const asked = q.get('names');
        await sendZip(req, res, zipName, ok, isZipNames(asked) ? asked : zipNamesFor(req.headers));
      } finally {
        zips--;
      }
      return;
    }
    if (head === 'search' && segs.length === 1) {
      const query = (q.get('q') ?? '').trim().slice(0, 200);
      // Every current version's matches, best first, as rowids (up to SEARCH_CAP in all); the page's rows only.
      const found: { vid: number; rowid: number }[] = [];
      if (query) {
        for (const v of current()) {
          let ids: number[] = [];
          try {
            ids = store.searchRowids(v.id, query, SEARCH_CAP + 1 - found.length);
          } catch {
            ids = []; // a query FTS cannot parse finds nothing, it is not an error
          }
          for (const rowid of ids) found.push({ vid: v.id, rowid });
          if (found.length > SEARCH_CAP) break;
        }
      }
      const capped = found.length > SEARCH_CAP;
      if (capped) found.length = SEARCH_CAP;
      const { page, pages } = pageOf(q, found.length, SEARCH_PER_PAGE);
      const shown = found.slice((page - 1) * SEARCH_PER_PAGE, page * SEARCH_PER_PAGE);
      const results: SearchResult[] = shown.flatMap(({ vid, rowid }) => store.resourcesAt([rowid])
        .map((r) => ({ vid, r, collectionTitle: collectionsOf(vid).find((c) => c.id === r.collection)?.title })));
      for (const x of results) x.files = store.matchingFiles(x.vid, x.r, query); // those shown only
      return sendPage(req, res, 200, searchPage(ctx, query, results, { total: found.length, capped, page, pages }));
    }
    if (head === 'status' && segs.length === 1) {
      const versions = store.allVersions().reverse().map((v) => {
        return { v, counts: fileCountsOf(v.id), ...store.volumesOf(v), ...(v.is_current && v.state === 'complete' ? { brought: changesOf(v.id) } : {}) };
      });
      return sendPage(req, res, 200, statusPage(ctx, { versions, imports: store.imports(20), damaged: store.damagedStillNeeded(500), checks: store.checks(5), checkRunning: lockHolder(store.paths.lock)?.what === 'check' }));
    }
    if (head === 'favicon.ico' && segs.length === 1) {
      res.writeHead(204).end();
      return;
    }
    throw notFound();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    if (accessLog) {
      const log = accessLog;
      const socket = req.socket;
      const before = socket.bytesWritten;
      const time = new Date();
      // Taken now: once the connection is gone, the socket no longer knows its peer.
      const remote = socket.remoteAddress;
      // Bytes after this request that do not parse make Node answer them itself (loggedStatus).
      let socketError: string | undefined;
      const onSocketError = (e: NodeJS.ErrnoException): void => {
        socketError = e.code;
      };
      socket.on('error', onSocketError);
      res.once('close', () => {
        socket.off('error', onSocketError);
        const bytes = socket.bytesWritten - before;
        log.write({
          client: readerAddress(remote, req.headers['x-forwarded-for'], trustedProxies) ?? '-', time,
          method: req.method ?? '-', url: req.url ?? '-', httpVersion: req.httpVersion, status: loggedStatus(res.statusCode, bytes, socketError),
          bytes, referer: req.headers.referer, userAgent: req.headers['user-agent'],
        });
      });
    }
    const raw = req.url ?? '/';
    const qi = raw.indexOf('?');
    let rawPath = qi < 0 ? raw : raw.slice(0, qi);
    // Behind the portal: /library/r/… and /r/… are the same page (a proxy may strip its location or not).
    if (basePath && (rawPath === basePath || rawPath.startsWith(basePath + '/'))) rawPath = rawPath.slice(basePath.length) || '/';
    const rawQuery = qi < 0 ? '' : raw.slice(qi + 1);
    let query: URLSearchParams;
    try {
      query = new URLSearchParams(rawQuery);
    } catch {
      query = new URLSearchParams();
    }
    const asked = query.get('lang');
    const lang: Lang = isLang(asked) ? asked : defaultLang;
    // The language switch links back to this path: never one a browser would read as another host (//x, /\x).
    const selfPath = rawPath.length <= MAX_URL && /^\/(?![/\\])/.test(rawPath) && !/[\\\s]/.test(rawPath) ? rawPath : '/';
    const ctx = pageCtx(lang, defaultLang, selfPath, query, basePath);
    try {
      await followCatalog();
      const refused = limits.request(clientOf(req));
      if (refused) throw limited(refused);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method');
      if (raw.length > MAX_URL || !rawPath.startsWith('/')) throw badRequest();
      const rawSegs = rawPath.split('/').slice(1);
      // Dot segments are refused before anything else: in raw or percent-encoded form.
      const segs = rawSegs.map((s) => {
        let d: string;
        try {
          d = decodeURIComponent(s);
        } catch {
          throw badRequest();
        }
        if (d === '.' || d === '..' || d.includes('\0')) throw badRequest();
        return d;
      });
      await route(req, res, ctx, segs, rawPath, rawQuery);
    } catch (e) {
      if (res.headersSent) {
        if (!(e instanceof HttpError)) opts.log?.(`serve: ${req.method} ${raw}: ${(e as Error)?.stack ?? String(e)}`);
        res.destroy();
        return;
      }
      if (e instanceof HttpError) return sendError(req, res, ctx, e);
      opts.log?.(`serve: ${req.method} ${raw}: ${(e as Error)?.stack ?? String(e)}`);
      sendError(req, res, ctx, 'internal');
    }
  }

  const server = createServer({ requestTimeout: 60_000, headersTimeout: 30_000 }, (req, res) => {
    void handle(req, res);
  });
  // A request Node cannot parse is left to Node's own answer (no 'clientError' listener): a bare
  // 400, 431 or 408, and the connection closed. It writes nothing where an answer to an earlier
  // request on the same connection is already under way, which a listener of our own did: bytes
  // pipelined after a valid request put a 400 into the middle of a video (the hostile-reader test).

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    store.close();
    await accessLog?.close();
    const code = (e as NodeJS.ErrnoException).code;
    const inUse = code === 'EADDRINUSE';
    const address = `${host}:${port}`;
    throw new BookcrateError(inUse ? 'USAGE' : 'IO', `cannot listen on ${address}: ${inUse ? 'the port is already in use' : (e as Error).message}`, {
      hint: inUse ? 'stop the other server or choose another port with --listen 127.0.0.1:8081' : 'check the --listen address: it must be an address of this PC',
      cause: e,
      say: inUse ? { id: 'listen-port-in-use', args: { address } } : { id: 'listen-failed', args: { address, reason: (e as Error).message } },
    });
  }
  const addr = server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed = false;
  return {
    url: `http://${urlHost}:${actualPort}`,
    basePath,
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Downloads in flight are cut: the reader's browser can resume them with Range.
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      });
      store.close();
      await accessLog?.close();
    },
  };
}
