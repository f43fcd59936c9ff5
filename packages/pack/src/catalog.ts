import { closeSync, fsyncSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BookcrateError, CsvReader, utf8Lines, compareBundlePaths, compareKeys, decodeCatalogText, encodeResourceEntry, resourceSpecFrom,
  type ResourceEntry, type ResourceSpec,
} from '@bookcrate/format';
import type { PackSource, SourceCollection } from './source.js';

/**
 * A recipe's catalogs, read a piece at a time and kept on disk, not in memory: a selection of
 * millions of photos can come with a catalog record for each, and pack's memory must not grow with
 * it (docs/performance.md, "A large catalog").
 *
 * The records are cut into runs of `chunk`, each sorted and written down twice: the resources
 * (sorted by id, as the resources tree lists them) and the files and folders each claims (sorted by
 * bundle path, as the walk meets them, per collection). The runs are then merged, which is also where
 * an id given twice and a path claimed by two records are found. The walk looks files up in the
 * claims as it goes (ClaimCursor): both go in path order, so one pass over the file answers every
 * lookup, holding only the claims of the folders the walk is in.
 */
export interface SpilledCatalog {
  /** every catalog record's resource entry (encodeResourceEntry), sorted by id */
  resources: string;
  count: number;
  /** collection id → its claims, sorted by path: JSON [path, resource id] lines */
  claims: Map<string, string>;
}

/** Records per run: ~1.5 KB of memory each while a run is gathered and sorted. */
export const CATALOG_CHUNK = 5_000;

/** A catalog is read this much at a time (cut back to its last line end). */
const CATALOG_BLOCK = 4 << 20;

/**
 * One catalog file's records, one at a time (CSV or JSON Lines; see loadSource for the encodings),
 * read CATALOG_BLOCK at a time: a block ends at a line end, which neither UTF-8 nor GB18030 can
 * have inside a character, so each block decodes on its own, and errors still name the file's line.
 */
export async function* catalogRecords(path: string, encoding: string | undefined): AsyncGenerator<ResourceSpec> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new BookcrateError('USAGE', `cannot read metadata file ${path}: ${(e as Error).message}`, { hint: 'check the path in the recipe (paths are relative to the recipe file)' });
  }
  const csv = path.toLowerCase().endsWith('.csv') ? new CsvReader(path) : undefined;
  let records = 0;
  const at = { line: 1, offset: 0 };
  try {
    let pending = Buffer.alloc(0);
    for (let eof = false; !eof;) {
      const buf = Buffer.allocUnsafe(CATALOG_BLOCK);
      const { bytesRead } = await fh.read(buf, 0, buf.length, at.offset + pending.length);
      eof = bytesRead === 0;
      const data = pending.length > 0 ? Buffer.concat([pending, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      const cut = eof ? data.length : data.lastIndexOf(0x0a) + 1;
      if (cut === 0) {
        pending = Buffer.from(data); // a line longer than a block: read on
        continue;
      }
      const block = data.subarray(0, cut);
      pending = Buffer.from(data.subarray(cut));
      const text = decodeCatalogText(block, path, encoding, at);
      if (csv) {
        for (const r of csv.feed(text, eof)) yield resourceSpecFrom(r, `${path} record ${++records}`);
      } else {
        let line = at.line;
        for (let from = 0; from < text.length; line++) {
          let nl = text.indexOf('\n', from);
          if (nl < 0) nl = text.length;
          const l = text.slice(from, nl).replace(/\r$/, '');
          from = nl + 1;
          if (!l.trim()) continue;
          let o: Record<string, unknown>;
          try {
            o = JSON.parse(l) as Record<string, unknown>;
          } catch {
            throw new BookcrateError('RECIPE', `${path} line ${line} is not valid JSON`, { hint: 'metadata is CSV (.csv) or JSON Lines (one object per line)' });
          }
          yield resourceSpecFrom(o, `${path} record ${++records}`);
        }
      }
      for (let k = block.indexOf(0x0a); k >= 0; k = block.indexOf(0x0a, k + 1)) at.line++;
      at.offset += block.length;
    }
  } finally {
    await fh.close();
  }
}

/** A catalog record as the resources tree lists it: the collection's type and language where the record has none. */
export function catalogEntry(r: ResourceSpec, c: SourceCollection): ResourceEntry {
  const e: ResourceEntry = { id: r.id, collection: c.id, title: r.title };
  for (const k of ['creator', 'type', 'language', 'date', 'description'] as const) if (r[k]) e[k] = r[k];
  if (e.type === undefined && c.type !== undefined) e.type = c.type;
  if (e.language === undefined && c.language !== undefined) e.language = c.language;
  return e;
}

function bad(where: string, what: string, hint: string): never {
  throw new BookcrateError('RECIPE', `${where}: ${what}`, { hint });
}

/** Reads, sorts and merges every catalog of `source` into `dir` (created by the caller). */
export async function spillCatalogs(source: PackSource, dir: string, chunk = CATALOG_CHUNK): Promise<SpilledCatalog> {
  const resourceRuns: string[] = [];
  const claims = new Map<string, string>();
  let runs = 0;
  /** Sorts `items` and writes them down as the next run, one JSON line each; returns its path. */
  const writeRun = <T>(items: T[], compare: (a: T, b: T) => number): string => writeSortedRun(join(dir, `run-${++runs}.jsonl`), items, compare, (e) => JSON.stringify(e));
  const order = new Map(source.collections.map((c, i) => [c.id, i]));
  try {
    for (const c of source.collections) {
      if (!c.metadata) continue;
      const claimRuns: string[] = [];
      let entries: [string, string, string][] = []; // id, collection, entry line
      let claimed: [string, string][] = []; // path, id
      const flush = async (): Promise<void> => {
        if (entries.length > 0) resourceRuns.push(writeRun(entries, (a, b) => compareKeys(a[0], b[0])));
        if (claimed.length > 0) claimRuns.push(writeRun(claimed, (a, b) => compareBundlePaths(a[0], b[0])));
        entries = [];
        claimed = [];
      };
      for await (const r of catalogRecords(c.metadata.path, c.metadata.encoding)) {
        entries.push([r.id, c.id, encodeResourceEntry(catalogEntry(r, c))]);
        for (const f of r.files) claimed.push([f, r.id]);
        if (entries.length >= chunk) await flush();
      }
      await flush();
      // A path claimed twice by one record is one claim; by two, an error (a file has one resource).
      const where = c.metadata.given;
      const out = join(dir, `claims-${order.get(c.id)}.jsonl`);
      const w = new LineWriter(out);
      try {
        let last: [string, string] | undefined;
        mergeRuns<[string, string]>(claimRuns, (a, b) => compareBundlePaths(a[0], b[0]), (cl, line) => {
          if (last && last[0] === cl[0]) {
            if (last[1] !== cl[1]) bad(where, `"${cl[0]}" is claimed by both "${last[1]}" and "${cl[1]}"`, 'give each file or folder to one resource only');
            return;
          }
          last = cl;
          w.add(line);
        });
      } finally {
        w.close();
      }
      claims.set(c.id, out);
    }
    // One id is one resource across the bundle: twice in a catalog, or in two catalogs, is refused.
    const out = join(dir, 'catalog-resources.jsonl');
    const w = new LineWriter(out);
    let count = 0;
    try {
      let last: [string, string, string] | undefined;
      const byId = new Map(source.collections.map((c) => [c.id, c]));
      mergeRuns<[string, string, string]>(resourceRuns, (a, b) => compareKeys(a[0], b[0]), (e) => {
        if (last && last[0] === e[0]) {
          if (last[1] === e[1]) bad(byId.get(e[1])!.metadata!.given, `the resource id "${e[0]}" is given to more than one record`, 'give every record its own id');
          const [first, second] = order.get(last[1])! < order.get(e[1])! ? [last[1], e[1]] : [e[1], last[1]];
          throw new BookcrateError('RECIPE', `the resource id "${e[0]}" is in the catalogs of both collection "${first}" and collection "${second}"`, { hint: 'give every resource of the bundle its own id' });
        }
        last = e;
        count++;
        w.add(e[2]);
      });
    } finally {
      w.close();
    }
    return { resources: out, count, claims };
  } finally {
    for (let k = 1; k <= runs; k++) await rm(join(dir, `run-${k}.jsonl`), { force: true });
  }
}

/** Sorts `items` and writes them to `path`, one line each: a run for mergeRuns. Returns `path`. */
function writeSortedRun<T>(path: string, items: T[], compare: (a: T, b: T) => number, line: (item: T) => string): string {
  items.sort(compare);
  writeFileSync(path, items.map(line).join('\n') + '\n');
  return path;
}

/**
 * Merges sorted runs of JSON lines, in order (a run's lines are already in `compare` order), handing
 * each item and its line to `each`. Synchronous: the runs are this pack's own files, just written
 * and in the page cache, and nothing else waits on this thread while they merge.
 */
function mergeRuns<T>(paths: string[], compare: (a: T, b: T) => number, each: (item: T, line: string) => void): void {
  const runs = paths.map((p) => new SyncLines(p));
  try {
    // A binary heap of the runs' heads, smallest first (ties: the earlier run, for a stable merge).
    const heap: { item: T; line: string; run: number }[] = [];
    const less = (a: (typeof heap)[0], b: (typeof heap)[0]): boolean => {
      const c = compare(a.item, b.item);
      return c < 0 || (c === 0 && a.run < b.run);
    };
    const push = (run: number): void => {
      const line = runs[run]!.next();
      if (line === undefined || line === '') return;
      heap.push({ item: JSON.parse(line) as T, line, run });
      for (let k = heap.length - 1; k > 0;) {
        const up = (k - 1) >> 1;
        if (!less(heap[k]!, heap[up]!)) break;
        [heap[k], heap[up]] = [heap[up]!, heap[k]!];
        k = up;
      }
    };
    const pop = (): (typeof heap)[0] => {
      const top = heap[0]!;
      const lastItem = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = lastItem;
        for (let k = 0; ;) {
          const l = 2 * k + 1;
          const r = l + 1;
          let m = k;
          if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
          if (m === k) break;
          [heap[k], heap[m]] = [heap[m]!, heap[k]!];
          k = m;
        }
      }
      return top;
    };
    for (let k = 0; k < runs.length; k++) push(k);
    while (heap.length > 0) {
      const h = pop();
      each(h.item, h.line);
      push(h.run);
    }
  } finally {
    for (const r of runs) r.close();
  }
}

/** Appends lines to a file, written ~1 MiB at a time. */
class LineWriter {
  private readonly fd: number;
  private pending: string[] = [];
  private bytes = 0;
  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }
  add(line: string): void {
    this.pending.push(line);
    this.bytes += line.length;
    if (this.bytes >= 1 << 20) this.flush();
  }
  private flush(): void {
    if (this.pending.length === 0) return;
    const data = utf8Lines(this.pending);
    this.pending = [];
    this.bytes = 0;
    for (let off = 0; off < data.length;) off += writeSync(this.fd, data, off, data.length - off);
  }
  /** `sync`: made durable (a list the pack's state keeps). */
  close(sync = false): void {
    try {
      this.flush();
      if (sync) fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
  }
}

/**
 * The resource of each file the walk meets, from a collection's sorted claims (spillCatalogs): the
 * claim of the file itself, or of the deepest folder above it. Lookups must come in bundle path
 * order, as the walk makes them; the claims are read once, in step, and only those of the folders
 * the walk is in are held. A claim passed without a file falling under it is handed to `onUnmatched`
 * (a misspelt or missing file in the catalog, which the pack reports).
 */
export class ClaimCursor {
  private readonly lines: SyncLines;
  /** the claims whose folder the walk is in, outermost first, and whether a file fell under each */
  private readonly open: { path: string; id: string; used: boolean }[] = [];
  private ahead: [string, string] | undefined;

  constructor(path: string, private readonly onUnmatched: (file: string, resource: string) => void) {
    this.lines = new SyncLines(path);
    this.ahead = this.read();
  }

  private read(): [string, string] | undefined {
    const l = this.lines.next();
    return l === undefined ? undefined : (JSON.parse(l) as [string, string]);
  }

  /** Pops the open claims that `path` is not inside of (or equal to). */
  private leave(path: string): void {
    for (let top = this.open.at(-1); top && !within(path, top.path); top = this.open.at(-1)) {
      this.open.pop();
      if (!top.used) this.onUnmatched(top.path, top.id);
    }
  }

  lookup(rel: string): string | undefined {
    // Every claim up to this path is taken in: each either holds it (or a later path) or is passed.
    while (this.ahead && compareBundlePaths(this.ahead[0], rel) <= 0) {
      const [path, id] = this.ahead;
      this.leave(path);
      this.open.push({ path, id, used: false });
      this.ahead = this.read();
    }
    this.leave(rel);
    // The deepest open claim names this file (a folder's claim whose every file another claim
    // names is reported as naming nothing, as before).
    const hit = this.open.at(-1);
    if (!hit) return undefined;
    hit.used = true;
    return hit.id;
  }

  /** After the walk: the claims no file fell under. */
  finish(): void {
    this.leave('\u0000'); // inside nothing: every open claim is closed
    this.open.length = 0;
    for (; this.ahead; this.ahead = this.read()) this.onUnmatched(this.ahead[0], this.ahead[1]);
    this.close();
  }

  /** Lets the file go (after finish, or a walk that failed). */
  close(): void {
    this.lines.close();
  }
}

/** Whether `path` is `dir` or inside it. */
function within(path: string, dir: string): boolean {
  return path === dir || (path.length > dir.length && path.startsWith(dir) && path.charCodeAt(dir.length) === 0x2f);
}

/** A file's lines, read synchronously 64 KiB at a time (the walk looks claims up synchronously). */
class SyncLines {
  private readonly fd: number;
  private buf = Buffer.alloc(64 << 10);
  private start = 0;
  private end = 0;
  private pos = 0;
  private eof = false;

  constructor(path: string) {
    this.fd = openSync(path, 'r');
  }

  next(): string | undefined {
    for (;;) {
      const nl = this.buf.indexOf(0x0a, this.start);
      if (nl >= 0 && nl < this.end) {
        const line = this.buf.toString('utf8', this.start, nl);
        this.start = nl + 1;
        return line;
      }
      if (this.eof) {
        if (this.start < this.end) {
          const line = this.buf.toString('utf8', this.start, this.end);
          this.start = this.end;
          return line;
        }
        return undefined;
      }
      // Keep the partial line, and read more after it (a longer buffer for a line longer than it).
      const keep = this.end - this.start;
      if (keep === this.buf.length) this.buf = Buffer.concat([this.buf, Buffer.alloc(this.buf.length)]);
      this.buf.copy(this.buf, 0, this.start, this.end);
      this.start = 0;
      this.end = keep;
      const n = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.pos);
      this.pos += n;
      this.end += n;
      if (n === 0) this.eof = true;
    }
  }

  private closed = false;
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * The resources derived from the tree for the files no catalog record claims: one per item
 * directly inside a collection, met in the walk's order, kept in sorted runs of `chunk` on disk, so
 * that a collection of a million photos in one folder takes no more memory than one of a thousand.
 * writeResourcesList merges them with the catalog's.
 */
export class DerivedResources {
  private pending: ResourceEntry[] = [];
  private last: string | undefined;
  private readonly runs: string[] = [];
  constructor(private readonly dir: string, private readonly chunk = CATALOG_CHUNK) {}

  add(entry: ResourceEntry): void {
    // A resource's files come one after another in the walk; any repeat left is dropped in the merge.
    if (entry.id === this.last) return;
    this.last = entry.id;
    this.pending.push(entry);
    if (this.pending.length >= this.chunk) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    this.runs.push(writeSortedRun(join(this.dir, `derived-${this.runs.length + 1}.jsonl`), this.pending, (a, b) => compareKeys(a.id, b.id), encodeResourceEntry));
    this.pending = [];
  }

  /** The runs written, every one sorted by id. */
  finish(): string[] {
    this.flush();
    return this.runs;
  }
}

/**
 * The resources list of a scan: the catalog's (sorted, on disk) and those derived from the tree
 * (in sorted runs), merged by id into `out`, one encodeResourceEntry line each. A derived id that
 * a record also has is the record's. Returns the count.
 */
export async function writeResourcesList(catalog: SpilledCatalog | undefined, derived: DerivedResources, out: string): Promise<number> {
  // The catalog's list is the first run, so that of two lines with one id, the record's comes first.
  const runs = [...(catalog ? [catalog.resources] : []), ...derived.finish()];
  const w = new LineWriter(out);
  let count = 0;
  let ok = false;
  try {
    let last: string | undefined;
    mergeRuns<{ id: string }>(runs, (a, b) => compareKeys(a.id, b.id), (e, line) => {
      if (e.id === last) return;
      last = e.id;
      w.add(line);
      count++;
    });
    ok = true;
  } finally {
    w.close(ok);
  }
  return count;
}
