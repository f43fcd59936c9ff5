import { formatSize, localTime } from '@bookcrate/format';
import { searchWords, type DamagedRow, type FileRow, type ResourceRow, type StoreCheckRow, type VersionRow } from '@bookcrate/store';
import { inPageOrder, zipEntryNames } from './catalog.js';
import { extension, kindOf, playsInBrowser } from './files.js';
import type { SubtitleTrack } from './subtitles.js';
import type { ZipNames } from './zip-names.js';
import { strings, type Lang, type Strings } from './i18n.js';

/**
 * Server-rendered pages: no scripts, no external assets, one small inline style sheet. Every value
 * is escaped by the `html` template tag; only other `html` fragments pass through unescaped.
 */

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (v === undefined || v === null || v === false) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(parts: TemplateStringsArray, ...values: unknown[]): Html {
  let out = parts[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + parts[i + 1]!;
  return new Html(out);
}

// ---- URLs ----

export const urls = {
  collection: (vid: number, cid: string) => `/c/${vid}/${encodeURIComponent(cid)}`,
  resource: (vid: number, rid: string) => `/r/${vid}/${encodeURIComponent(rid)}`,
  file: (vid: number, path: string) => `/file/${vid}/${path.split('/').map(encodeURIComponent).join('/')}`,
  zip: (vid: number, rid: string) => `/zip/${vid}/${encodeURIComponent(rid)}`,
  arrivals: (vid: number) => `/new/${vid}`,
  updated: (vid: number) => `/updated/${vid}`,
  vtt: (vid: number, path: string) => `/vtt/${vid}/${path.split('/').map(encodeURIComponent).join('/')}`,
};

/** What every page needs: the language, its strings, and how to build links that keep the language. */
export interface PageCtx {
  lang: Lang;
  t: Strings;
  /** The language a link without `lang=` gets. */
  defaultLang: Lang;
  /** This request's path (without the base path) and query, for the language switch link. */
  path: string;
  query: URLSearchParams;
  /**
   * What every URL a page gives starts with: '' at the server's root, '/library' where the
   * library's portal passes its /library/ to `serve` (ServeOptions.basePath).
   */
  base: string;
}

export function pageCtx(lang: Lang, defaultLang: Lang, path: string, query: URLSearchParams, base = ''): PageCtx {
  return { lang, t: strings(lang), defaultLang, path, query, base };
}

/** A URL of this server as the reader's browser must ask for it: behind the base path. */
export function at(ctx: PageCtx, path: string): string {
  return ctx.base + path;
}

/** A page link with its query; `lang` is added when the page is not in the default language. */
export function link(ctx: PageCtx, path: string, params: Record<string, string | number | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  if (ctx.lang !== ctx.defaultLang) q.set('lang', ctx.lang);
  const s = q.toString();
  return at(ctx, s ? `${path}?${s}` : path);
}

function switchLink(ctx: PageCtx): string {
  const q = new URLSearchParams(ctx.query);
  q.set('lang', ctx.lang === 'zh' ? 'en' : 'zh');
  return at(ctx, `${ctx.path}?${q.toString()}`);
}

// ---- layout ----

const CSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.6 system-ui,-apple-system,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;color:#1d1d1f;background:#f6f5f2}
a{color:#8a2b10;text-decoration:none}a:hover{text-decoration:underline}
header{background:#8a2b10;color:#fff;padding:.6rem 0}
header .bar{max-width:60rem;margin:0 auto;padding:0 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center}
header a{color:#fff}header .site{font-weight:700;font-size:1.15rem;margin-right:auto}
form.search{max-width:60rem;margin:.8rem auto 0;padding:0 1rem;display:flex;gap:.4rem}
form.search input{flex:1;min-width:0;font:inherit;padding:.45rem .6rem;border:1px solid #bbb;border-radius:6px}
form.search button{font:inherit;padding:.45rem 1rem;border:0;border-radius:6px;background:#8a2b10;color:#fff}
main{max-width:60rem;margin:0 auto;padding:.5rem 1rem 2rem}
h1{font-size:1.45rem;margin:.8rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .6rem}
.crumbs{font-size:.9rem;color:#666;margin-top:.6rem}
ul.cards{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(15rem,1fr));gap:.7rem}
ul.cards li{background:#fff;border-radius:8px;padding:.8rem 1rem;box-shadow:0 1px 2px rgba(0,0,0,.08)}
ul.cards a{font-weight:600;font-size:1.05rem}
.meta{color:#666;font-size:.9rem}
ol.list{list-style:none;padding:0;margin:0}ol.list li{background:#fff;padding:.6rem .9rem;border-bottom:1px solid #eee}
.hits{font-size:.9rem;margin-top:.2rem;overflow-wrap:anywhere}
.changed{font-size:.9rem;color:#8a4b00}
mark{background:#fde68a;color:inherit;padding:0 .05em;border-radius:2px}
.unplayable{font-size:.9rem;color:#555;background:#f3efe6;border-radius:6px;padding:.4rem .6rem;margin-bottom:.4rem}
.mark{display:inline-block;background:#c0392b;color:#fff;border-radius:3px;padding:0 .3em;font-size:.8rem;margin-right:.3em}.mark.upd{background:#b7791f}
dl.md{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;background:#fff;padding:.8rem 1rem;border-radius:8px}
dl.md dt{color:#666}dl.md dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
.file{background:#fff;border-radius:8px;padding:.7rem 1rem;margin:.6rem 0;overflow-wrap:anywhere}
video,img.photo{display:block;width:100%;max-height:70vh;background:#000;margin:.5rem 0;border-radius:4px}
img.photo{background:none;object-fit:contain}audio{width:100%;margin:.5rem 0}
.photos{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:.6rem;margin:.6rem 0}
.photos .file{margin:0;padding:.5rem;font-size:.85rem}
.photos img.photo{aspect-ratio:4/3;object-fit:cover;max-height:none;margin:0 0 .3rem;background:#eee}
.unavailable{color:#a33}
.btn{display:inline-block;padding:.45rem .9rem;border-radius:6px;background:#8a2b10;color:#fff}
.pager{display:flex;gap:1rem;align-items:center;margin:1rem 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;background:#fff;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #eee;vertical-align:top}
td.path{overflow-wrap:anywhere}
.nw{white-space:nowrap}
@media (max-width:40rem){
table.stack thead{display:none}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block}
table.stack tr{border-bottom:2px solid #e4ddd5;padding:.3rem 0}
table.stack td{display:grid;grid-template-columns:6.5rem 1fr;gap:.6rem;border:0;padding:.15rem .8rem}
table.stack td::before{content:attr(data-label);color:#666}
table.stack td:empty{display:none}
table.stack td>div{min-width:0}
}
footer{max-width:60rem;margin:0 auto;padding:1rem;color:#888;font-size:.8rem}
`;

function layout(ctx: PageCtx, title: string, body: Html, q = ''): string {
  const t = ctx.t;
  return '<!doctype html>\n' + html`<html lang="${t.htmlLang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${t.site}</title>
<style>${new Html(CSS)}</style>
</head>
<body>
<header><nav class="bar">
<a class="site" href="${link(ctx, '/')}">${t.site}</a>
<a href="${link(ctx, '/')}">${t.home}</a>
<a href="${link(ctx, '/status')}">${t.status}</a>
<a href="${switchLink(ctx)}" hreflang="${ctx.lang === 'zh' ? 'en' : 'zh'}" lang="${ctx.lang === 'zh' ? 'en' : 'zh-CN'}" id="lang-switch">${t.switchTo}</a>
</nav></header>
<form class="search" action="${at(ctx, '/search')}" method="get" role="search">
<input type="search" name="q" value="${q}" placeholder="${t.searchPlaceholder}" aria-label="${t.search}" maxlength="200">
${ctx.lang !== ctx.defaultLang ? html`<input type="hidden" name="lang" value="${ctx.lang}">` : ''}
<button type="submit">${t.search}</button>
</form>
<main>
${body}
</main>
<footer>bookcrate</footer>
</body>
</html>
`.text;
}

// ---- pages ----

export interface CollectionView {
  id: string;
  title: string;
  files: number;
  bytes: number;
  resources: number;
}

/** A version on its way in (volumes still awaited), shown where readers have nothing to browse yet. */
export interface ArrivingView {
  v: VersionRow;
  volumesIn: number[];
  volumesAwaited: number[];
}

/**
 * What a version brought, for the home page: the first few of its new resources and of those it
 * updated (Store.newResources, Store.updatedResources), and how many of each in all.
 */
export interface ArrivalsView {
  count: number;
  first: ResourceRow[];
  updatedCount: number;
  updatedFirst: UpdatedRow[];
}

/** A resource readers had that a version changed, with how many of its files are new or changed. */
export type UpdatedRow = ResourceRow & { changedFiles: number };

/** Resources the home page shows of a version's new arrivals, and of its updated ones; the rest are a link away. */
export const HOME_ARRIVALS = 8;

export function homePage(ctx: PageCtx, groups: { version: VersionRow; collections: CollectionView[]; arrivals?: ArrivalsView }[], arriving: ArrivingView[] = []): string {
  const t = ctx.t;
  const many = groups.length > 1;
  // A store whose first disk of several is in shows nothing yet: the librarian is told why, not "import a disk".
  const empty = arriving.length > 0
    ? html`${arriving.map((a) => html`<p id="arriving">${t.arriving(a.v.title, a.v.version, a.volumesIn, a.volumesAwaited)}</p>`)}<p><a href="${link(ctx, '/status')}">${t.arrivingMore}</a></p>`
    : html`<p>${t.noCollections}</p>`;
  const body = groups.length === 0 || groups.every((g) => g.collections.length === 0)
    ? html`<h1>${t.collections}</h1>${empty}`
    : html`<h1>${t.collections}</h1>${groups.map((g) => html`
${many ? html`<h2>${g.version.title}</h2>` : ''}
<ul class="cards">${g.collections.map((c) => html`
<li><a href="${link(ctx, urls.collection(g.version.id, c.id))}">${c.title}</a>
<div class="meta">${t.resourceCount(c.resources)} · ${formatSize(c.bytes)}</div></li>`)}
</ul>${g.arrivals && (g.arrivals.count > 0 || g.arrivals.updatedCount > 0) ? arrivalsBlock(ctx, g.version, g.collections, g.arrivals) : ''}`)}`;
  return layout(ctx, t.collections, body);
}

/** The home page's "new arrivals" of one version: the first few new and updated ones, and the way to the rest. */
function arrivalsBlock(ctx: PageCtx, v: VersionRow, collections: CollectionView[], a: ArrivalsView): Html {
  const t = ctx.t;
  return html`
<section class="arrivals" id="arrivals-${v.id}">
<h2>${t.newArrivals}</h2>
${a.count > 0 ? html`${arrivalsList(ctx, v, collections, a.count, a.first)}
${a.count > a.first.length ? html`<p><a href="${link(ctx, urls.arrivals(v.id))}">${t.newAll(a.count)}</a></p>` : ''}` : ''}
${a.updatedCount > 0 ? html`<div id="updated-${v.id}"><h3>${t.updated}</h3>
${updatedList(ctx, v, collections, a.updatedCount, a.updatedFirst)}
${a.updatedCount > a.updatedFirst.length ? html`<p><a href="${link(ctx, urls.updated(v.id))}">${t.updatedAll(a.updatedCount)}</a></p>` : ''}</div>` : ''}
</section>`;
}

/** What a version added to which: the sentence, and the list of (some of) its new arrivals. */
function arrivalsList(ctx: PageCtx, v: VersionRow, collections: CollectionView[], count: number, rows: ResourceRow[]): Html {
  const titles = new Map(collections.map((c) => [c.id, c.title]));
  return html`<p class="meta">${ctx.t.newIntro(v.title, v.version, v.compared_with ?? 0, count)}</p>
<ol class="list">${rows.map((r) => resourceItem(ctx, v.id, r, { collectionTitle: titles.get(r.collection) }))}</ol>`;
}

/** What a version changed in the resources readers had: the sentence, and (some of) them, each with its count of new files. */
function updatedList(ctx: PageCtx, v: VersionRow, collections: CollectionView[], count: number, rows: UpdatedRow[]): Html {
  const titles = new Map(collections.map((c) => [c.id, c.title]));
  return html`<p class="meta">${ctx.t.updatedIntro(v.title, v.version, v.compared_with ?? 0, count)}</p>
<ol class="list">${rows.map((r) => resourceItem(ctx, v.id, r, { collectionTitle: titles.get(r.collection), below: html`<div class="changed">${ctx.t.changedFiles(r.changedFiles)}</div>` }))}</ol>`;
}

/**
 * Every new arrival of a version (`kind` 'new'), or every resource it updated ('updated'), a page
 * at a time.
 */
export function changesPage(ctx: PageCtx, kind: 'new' | 'updated', v: VersionRow, collections: CollectionView[], count: number, rows: ResourceRow[] | UpdatedRow[], page: number, pages: number): string {
  const t = ctx.t;
  const title = kind === 'new' ? t.newArrivals : t.updated;
  const body = html`<div class="crumbs"><a href="${link(ctx, '/')}">${t.home}</a> › ${title}</div>
<h1>${title}</h1>
${kind === 'new' ? arrivalsList(ctx, v, collections, count, rows) : updatedList(ctx, v, collections, count, rows as UpdatedRow[])}
${pager(ctx, kind === 'new' ? urls.arrivals(v.id) : urls.updated(v.id), page, pages)}`;
  return layout(ctx, title, body);
}

/** Previous and next links of a list shown a page at a time (none for a single page). */
function pager(ctx: PageCtx, url: string, page: number, pages: number, hash = '', params: Record<string, string> = {}): Html | string {
  const t = ctx.t;
  return pages > 1
    ? html`<nav class="pager">
${page > 1 ? html`<a rel="prev" href="${link(ctx, url, { ...params, page: page - 1 }) + hash}">${t.prev}</a>` : ''}
<span>${t.page(page, pages)}</span>
${page < pages ? html`<a rel="next" href="${link(ctx, url, { ...params, page: page + 1 }) + hash}">${t.next}</a>` : ''}
</nav>`
    : '';
}

/** A resource type in the reader's language (comic → 连环画); one the recipe made up is shown as it is. */
function typeName(ctx: PageCtx, type: string | null): string | null {
  return type === null ? null : ctx.t.types[type.toLowerCase()] ?? type;
}

/** What a list shows of a resource beside its title and metadata. */
interface ItemExtras {
  /** the collection's title, where the list spans collections */
  collectionTitle?: string | undefined;
  /** a line under it (a search's files found, an update's count of files) */
  below?: Html | string;
  /** the title as shown (a search marks the words found in it) */
  title?: Html | string;
  /** what the current version did to it, for a collection's list (Store.changesAmong) */
  change?: 'new' | 'updated' | undefined;
}

function resourceItem(ctx: PageCtx, vid: number, r: ResourceRow, x: ItemExtras = {}): Html {
  const bits = [r.creator, r.date, typeName(ctx, r.type), x.collectionTitle].filter((b): b is string => !!b);
  const badge = x.change ? html`<span class="mark${x.change === 'updated' ? ' upd' : ''}">${x.change === 'new' ? ctx.t.changedMark : ctx.t.updatedMark}</span>` : '';
  return html`<li>${badge}<a href="${link(ctx, urls.resource(vid, r.id))}">${x.title ?? r.title}</a>${bits.length ? html`<div class="meta">${bits.join(' · ')}</div>` : ''}${x.below ?? ''}</li>`;
}

/**
 * A text with each place where one of the words is found (case aside) marked, for a results page:
 * the reader sees at a glance why each result came. Overlapping finds are marked as one.
 */
export function marked(text: string, words: readonly string[]): Html | string {
  const lower = text.toLowerCase();
  // lower-casing keeps the length of Chinese and of ASCII, the words searched for here; otherwise mark nothing
  if (lower.length !== text.length) return text;
  const hit = new Uint8Array(text.length);
  for (const w of words.map((x) => x.toLowerCase()).filter((x) => x.length > 0)) {
    for (let at = lower.indexOf(w); at >= 0; at = lower.indexOf(w, at + 1)) hit.fill(1, at, at + w.length);
  }
  if (!hit.includes(1)) return text;
  const parts: (Html | string)[] = [];
  for (let i = 0; i < text.length;) {
    let j = i;
    while (j < text.length && hit[j] === hit[i]) j++;
    parts.push(hit[i] ? html`<mark>${text.slice(i, j)}</mark>` : text.slice(i, j));
    i = j;
  }
  return html`${parts}`;
}

export function collectionPage(ctx: PageCtx, v: VersionRow, c: CollectionView, rows: ResourceRow[], page: number, pages: number, changes: ReadonlyMap<string, 'new' | 'updated'> = new Map()): string {
  const t = ctx.t;
  const body = html`<div class="crumbs"><a href="${link(ctx, '/')}">${t.home}</a> › ${c.title}</div>
<h1>${c.title}</h1>
<p class="meta">${t.resourceCount(c.resources)} · ${formatSize(c.bytes)}</p>
${rows.length === 0 ? html`<p>${t.noResources}</p>` : html`<ol class="list">${rows.map((r) => resourceItem(ctx, v.id, r, { change: changes.get(r.id) }))}</ol>`}
${pager(ctx, urls.collection(v.id, c.id), page, pages)}`;
  return layout(ctx, c.title, body);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * A catalog's language codes (BCP 47: zh, en, bo, zh-Hant; several separated by , or ;) as readers
 * say them: 中文, 英语, 藏语. Anything that is not a code is shown as the catalog has it.
 */
export function languageNames(codes: string | null, lang: Lang): string | null {
  if (!codes) return codes;
  const names = new Intl.DisplayNames([lang === 'zh' ? 'zh-CN' : 'en'], { type: 'language', fallback: 'code' });
  return codes.split(/\s*[,;，；]\s*/).filter(Boolean).map((c) => {
    try {
      return names.of(c) ?? c;
    } catch {
      return c; // not a language code: "普通话", "Mandarin"
    }
  }).join(lang === 'zh' ? '、' : ', ');
}

/**
 * One page of a resource's files (a folder of 100,000 photos is one resource: on one page it was
 * 70 MB of HTML). `files`: this page's, in page order (inPageOrder over all of them).
 */
export interface FilesPage {
  page: number;
  pages: number;
  /** files readers can have, on all the pages: what "download all" zips (absent: counted off `files`, the only page) */
  present?: number;
  /** whether a name in the zip is not ASCII, so the zip in the other form of names is offered (absent: as `present`) */
  nonAsciiZipNames?: boolean;
  /** how many of the resource's files this version added or changed, the resource being one readers had (Store.updatedResources) */
  changedFiles?: number;
  /** which of this page's files those are: each is marked (新) */
  changed?: ReadonlySet<string>;
  /** each video's subtitle files readers can have, for its <track>s (subtitles.ts) */
  subtitles?: ReadonlyMap<string, readonly SubtitleTrack[]>;
}

/** Files a resource page shows at once. */
export const FILES_PER_PAGE = 100;

/**
 * `zipNames`: how this reader's zip writes its names unless asked (zip-names.ts); the page offers
 * the other form under the button, for a PC where the names still come out garbled. Without
 * `paging`, `files` are all the resource's, in any order, on one page.
 */
export function resourcePage(ctx: PageCtx, v: VersionRow, collection: { id: string; title: string } | undefined, r: ResourceRow, files: FileRow[], zipNames: ZipNames = 'utf8', paging?: FilesPage): string {
  const t = ctx.t;
  const shown = (paging ? files : inPageOrder(files)).filter((f) => f.type === 'file');
  const present = paging?.present ?? shown.filter((f) => f.state === 'present').length;
  const nonAscii = paging?.nonAsciiZipNames ?? zipEntryNames(shown.filter((f) => f.state === 'present').map((f) => f.path)).some((n) => /[^\x00-\x7f]/.test(n));
  // The creator leads to a search for their name: the reader who liked one lecture finds the others.
  const creator = r.creator ? html`<a id="creator" href="${link(ctx, '/search', { q: r.creator })}">${r.creator}</a>` : null;
  const md: [string, string | Html | null][] = [
    [t.title, r.title], [t.creator, creator], [t.type, typeName(ctx, r.type)], [t.language, languageNames(r.language, ctx.lang)],
    [t.date, r.date], [t.description, r.description], [t.id, r.id],
  ];
  const fileBlock = (f: FileRow): Html => {
    const name = basename(f.path);
    const mark = paging?.changed?.has(f.path) ? html`<span class="mark">${t.changedMark}</span>` : '';
    if (f.state !== 'present') {
      return html`<div class="file">${mark}<strong>${name}</strong> <span class="meta">${formatSize(f.size)}</span>
<div class="unavailable">${f.state === 'damaged' ? t.damagedFile : t.pendingFile}</div></div>`;
    }
    const href = at(ctx, urls.file(v.id, f.path));
    const kind = kindOf(name);
    const tracks = (paging?.subtitles?.get(f.path) ?? []).map((s, i) =>
      html`<track kind="subtitles" src="${at(ctx, urls.vtt(v.id, s.path))}" srclang="${s.srclang}" label="${s.label || t.subtitles}"${i === 0 ? new Html(' default') : ''}>`);
    const player = (kind === 'video' || kind === 'audio') && !playsInBrowser(name)
      ? html`<div class="unplayable">${t.notPlayable(extension(name))}</div>`
      : kind === 'video'
      ? html`<video controls preload="metadata" src="${href}">${tracks}${t.videoUnsupported}</video>`
      : kind === 'audio'
        ? html`<audio controls preload="metadata" src="${href}"></audio>`
        : kind === 'image'
          ? html`<a href="${href}"><img class="photo" loading="lazy" src="${href}" alt="${name}"></a>`
          : '';
    return html`<div class="file">${player}${mark}<a href="${href}">${name}</a> <span class="meta">${formatSize(f.size)}</span>
· <a href="${href}?download=1" download="${name}">${t.download}</a></div>`;
  };
  // The zip in the other form of names, for a PC where this one's come out garbled; only where a
  // name is not plain ASCII (the same in either form).
  const other = zipNames === 'gbk' ? 'utf8' : 'gbk';
  const zipOther = nonAscii
    ? html`\n<p class="meta">${t.zipGarbled} <a id="download-all-other" href="${at(ctx, urls.zip(v.id, r.id))}?names=${other}">${other === 'utf8' ? t.zipWithUtf8 : t.zipWithGbk}</a></p>`
    : '';
  const body = html`<div class="crumbs"><a href="${link(ctx, '/')}">${t.home}</a>${collection ? html` › <a href="${link(ctx, urls.collection(v.id, collection.id))}">${collection.title}</a>` : ''}</div>
<h1>${r.title}</h1>
<dl class="md">${md.filter(([, val]) => val).map(([k, val]) => html`<dt>${k}</dt><dd>${val}</dd>`)}</dl>
<h2 id="files">${t.files}</h2>
${present > 1 ? html`<p><a class="btn" id="download-all" href="${at(ctx, urls.zip(v.id, r.id))}">${t.downloadAll(present)}</a></p>${zipOther}` : ''}
${paging?.changedFiles ? html`<p class="changed" id="changed">${t.changedHere(v.version, paging.changedFiles)}</p>` : ''}
${shown.length === 0 ? html`<p>${t.noFiles}</p>` : withPhotoGrids(shown, fileBlock)}
${paging ? pager(ctx, urls.resource(v.id, r.id), paging.page, paging.pages, '#files') : ''}`;
  return layout(ctx, r.title, body);
}

/**
 * The files' blocks, each run of photos readers can have in a grid: a folder of old photos is seen
 * a few to a row on a phone, not one to a screen.
 */
function withPhotoGrids(files: FileRow[], block: (f: FileRow) => Html): Html[] {
  const out: Html[] = [];
  let photos: Html[] = [];
  const flush = () => {
    if (photos.length > 0) out.push(html`<div class="photos">${photos}</div>`);
    photos = [];
  };
  for (const f of files) {
    if (f.state === 'present' && kindOf(f.path) === 'image') photos.push(block(f));
    else {
      flush();
      out.push(block(f));
    }
  }
  flush();
  return out;
}

/** One search result: a resource, and the files of it whose names hold what the reader searched for. */
export interface SearchResult {
  vid: number;
  r: ResourceRow;
  collectionTitle?: string;
  files?: { files: FileRow[]; more: boolean };
}

/** Search results a page. */
export const SEARCH_PER_PAGE = 50;

/** Where a search's results stand: how many in all (at most the cap), whether more were cut off, and the page. */
export interface SearchPaging {
  total: number;
  capped: boolean;
  page: number;
  pages: number;
}

export function searchPage(ctx: PageCtx, q: string, results: SearchResult[], paging: SearchPaging): string {
  const t = ctx.t;
  const words = searchWords(q);
  // A result found by a file's name links that file itself too: the photo named 天安门 in a folder of hundreds.
  const hit = (vid: number, f: FileRow): Html => f.state === 'present'
    ? html`<a href="${at(ctx, urls.file(vid, f.path))}">${marked(basename(f.path), words)}</a>`
    : html`${marked(basename(f.path), words)} (${f.state === 'damaged' ? t.damagedFile : t.pendingFile})`;
  const hits = (x: SearchResult): Html | string => x.files && x.files.files.length > 0
    ? html`<div class="hits">${t.matchingFiles}${x.files.files.flatMap((f, i) => (i ? [ctx.lang === 'zh' ? '、' : ', ', hit(x.vid, f)] : [hit(x.vid, f)]))}${x.files.more ? html` ${t.moreFiles}` : ''}</div>`
    : '';
  const body = q === ''
    ? html`<h1>${t.search}</h1><p>${t.searchHint}</p>`
    : html`<h1>${paging.capped ? t.resultsCapped(q, paging.total) : t.results(q, paging.total)}</h1>
${paging.capped ? html`<p class="meta">${t.moreResults(paging.total)}</p>` : ''}
${results.length === 0 ? html`<p>${t.noResults}</p>` : html`<ol class="list" id="results" start="${(paging.page - 1) * SEARCH_PER_PAGE + 1}">${results.map((x) => resourceItem(ctx, x.vid, x.r, { collectionTitle: x.collectionTitle, below: hits(x), title: marked(x.r.title, words) }))}</ol>`}
${pager(ctx, '/search', paging.page, paging.pages, '', { q })}`;
  return layout(ctx, q ? `${t.search}: ${q}` : t.search, body, q);
}

export interface StatusView {
  versions: {
    v: VersionRow;
    counts: { present: number; damaged: number; pending: number };
    volumesIn: number[];
    volumesAwaited: number[];
    /** left incomplete: this newer version of the bundle is complete (Store.volumesOf) */
    supersededBy?: number;
    /** complete, and this newer version of the bundle is complete too */
    replacedBy?: number;
    /** shown to readers: its new and updated resources against the version readers had (Store.newResources, Store.updatedResources) */
    brought?: { added: number; updated: number };
  }[];
  imports: { id: number; version_id: number; volume: number; source: string; started_at: string; finished_at: string | null; state: string }[];
  damaged: { rows: DamagedRow[]; total: number };
  /** the last checks of the store (`bookcrate check`; schema 8, absent before) */
  checks?: StoreCheckRow[];
  /** a check holds the store now: the newest unfinished one is running, not stopped */
  checkRunning?: boolean;
}

/** A cell of a path, which may break anywhere (a long path must not widen its column). */
class PathCell {
  constructor(readonly text: string) {}
}
const path = (text: string): PathCell => new PathCell(text);

/**
 * A table of the status page. Each cell carries its column's name (data-label): on a phone the
 * rows are shown as cards of "name  value" lines (CSS, `table.stack`), where eleven columns would
 * leave each a character's width.
 */
function table(id: string, heads: string[], rows: unknown[][]): Html {
  // The value in a div of its own: on a phone the label and it are the cell's two grid columns.
  const cell = (head: string, v: unknown): Html =>
    v === '' ? html`<td data-label="${head}"></td>`
      : v instanceof PathCell ? html`<td class="path" data-label="${head}"><div>${v.text}</div></td>` : html`<td data-label="${head}"><div>${v}</div></td>`;
  return html`<div class="scroll"><table class="stack" id="${id}">
<thead><tr>${heads.map((h) => html`<th>${h}</th>`)}</tr></thead>
<tbody>${rows.map((r) => html`<tr>${r.map((v, k) => cell(heads[k]!, v))}</tr>
`)}</tbody>
</table></div>`;
}

/** A catalog time on the server's clock, with its offset (JSON and the catalog keep UTC). */
const when = (s: string | null | undefined): Html | string => {
  if (!s) return '';
  // The day is not broken ("2026-\n12-04" otherwise, in a narrow column).
  const [day, ...time] = localTime(s, { zone: true }).split(' ');
  return html`<span class="nw">${day}</span> ${time.join(' ')}`;
};

export function statusPage(ctx: PageCtx, s: StatusView): string {
  const t = ctx.t;
  const titleOf = new Map(s.versions.map((x) => [x.v.id, `${x.v.title} v${x.v.version}`]));
  const reason = (r: string) => (r === 'hash' ? t.reasonHash : r === 'missing' ? t.reasonMissing : r === 'unreadable' ? t.reasonUnreadable : r === 'header' ? t.reasonHeader
    : r === 'store-changed' ? t.reasonStoreChanged : r === 'store-missing' ? t.reasonStoreMissing : r === 'store-unreadable' ? t.reasonStoreUnreadable : r);
  const importState = (st: string) => (st === 'done' ? t.importDone : st === 'failed' ? t.importFailed : st === 'running' ? t.importRunning : st);
  const body = html`<h1>${t.status}</h1>
<h2>${t.versions}</h2>
${table('versions', [t.bundle, t.version, t.state, t.volumes, t.files, t.size, t.created, t.completed],
  s.versions.map(({ v, counts, volumesIn, volumesAwaited, supersededBy, replacedBy, brought }) => [
    html`${v.title}<div class="meta">${v.bundle_id}</div>`, v.version,
    html`${v.state === 'complete' ? (replacedBy ? t.stateReplaced(replacedBy) : t.stateComplete) : supersededBy ? t.stateSuperseded(supersededBy) : t.stateImporting}${v.is_current ? html`<div class="meta">${t.shownNow}</div>` : ''}${brought && v.compared_with != null ? html`<div class="meta">${t.broughtShort(v.compared_with, brought.added, brought.updated)}</div>` : ''}`,
    html`${t.volumesIn}: ${volumesIn.length ? volumesIn.join(', ') : t.none}<br>${t.volumesAwaited}: ${volumesAwaited.length ? volumesAwaited.join(', ') : t.none}`,
    html`<span class="nw">${t.filesPresent}: ${counts.present}</span><br><span class="nw">${t.filesDamaged}: ${counts.damaged}</span><br><span class="nw">${t.filesPending}: ${counts.pending}</span>`,
    html`<span class="nw">${formatSize(v.bytes)}</span>`, when(v.created), when(v.completed_at),
  ]))}
<h2>${t.imports}</h2>
${s.imports.length === 0 ? html`<p>${t.none}</p>` : table('imports', ['#', t.bundle, t.volumes, t.importSource, t.state, t.started, t.finished],
  s.imports.map((i) => [i.id, titleOf.get(i.version_id) ?? i.version_id, i.volume, path(i.source), importState(i.state), when(i.started_at), when(i.finished_at)]))}
<h2>${t.damagedList}</h2>
${s.damaged.total === 0 ? html`<p>${t.noDamaged}</p>` : html`${table('damaged', [t.bundle, t.path, t.reason],
  s.damaged.rows.map((d) => [titleOf.get(d.version_id) ?? d.version_id, path(d.path), html`${reason(d.reason)}<div class="meta">${d.detail}</div>`]))}
${s.damaged.total > s.damaged.rows.length ? html`<p class="meta">${t.moreDamaged(s.damaged.total - s.damaged.rows.length)}</p>` : ''}`}
<h2>${t.checks}</h2>
${!s.checks || s.checks.length === 0 ? html`<p id="checks">${t.noChecks}</p>` : table('checks', [t.started, t.checkMode, t.state, t.files, t.checkBad],
  s.checks.map((c, i) => [when(c.started_at), c.mode === 'fast' ? t.checkFast : t.checkFull,
    c.finished_at ? html`${t.checkFinished}<div class="meta">${when(c.finished_at)}</div>` : i === 0 && s.checkRunning ? t.checkRunning : t.checkStopped,
    html`<span class="nw">${c.objects}</span><div class="meta">${formatSize(c.bytes)}</div>`, c.bad]))}`;
  return layout(ctx, t.status, body);
}

export function errorPage(ctx: PageCtx, title: string, text: string): string {
  const t = ctx.t;
  return layout(ctx, title, html`<h1>${title}</h1><p>${text}</p><p><a href="${link(ctx, '/')}">${t.backHome}</a></p>`);
}
