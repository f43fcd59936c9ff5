import { mkdtemp, open, rm } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import {
  BookcrateError, utf8Lines, type CollectionInfo, type Digests, type FileEntry, type NameIssue, type NonUtf8Policy,
} from '@bookcrate/format';
import { IssueLog, encodeInventoryItem, tallyItem, type CollectionTally } from './inventory.js';
import type { PackSource } from './source.js';
import { walkSource, type InventoryItem } from './walk.js';
import { ClaimCursor, DerivedResources, spillCatalogs, writeResourcesList, type SpilledCatalog } from './catalog.js';

export { readInventory } from './inventory.js';

/** How names are judged and what is left out: the flags `pack` and `publish` share. */
export interface ScanOptions {
  followSymlinks?: boolean;
  allowUnportable?: boolean;
  nonUtf8?: NonUtf8Policy;
  includeJunk?: boolean;
  /** Called every few thousand items while walking, and once at the end with `done`. */
  onProgress?: (p: { files: number; bytes: number; done: boolean }) => void;
  /** Called with the inventory's length each time more whole lines of it are written (pack's early start follows it). */
  onWritten?: (length: number) => void;
}

export interface ScanIssues {
  errors: number;
  counts: Record<string, number>;
  kept: NameIssue[];
}

/** Everything about a source that does not need its bytes: what the root says besides the trees. */
export interface SourceScan {
  totals: { files: number; dirs: number; bytes: number; resources: number };
  /** In bundle path order, as the root lists them. */
  collections: CollectionInfo[];
  /**
   * The resources tree's entries, in canonical id order (catalog records, and ones derived from the
   * tree), one encodeResourceEntry line each: `resources.jsonl` beside the inventory.
   */
  resourcesPath: string;
  /** Bytes each collection's members take in segments (the disk planner keeps collections together). */
  spans: [string, number][];
  issues: ScanIssues;
}

/**
 * Walks and describes a source the one way every bundle form is built from: the same names policy,
 * the same junk rules, the same resources (catalog records, else derived from the tree), the same
 * collections and totals. `pack` and `publish` both call this, so the files and resources trees a
 * version has on disks and in a repository are the same, part for part.
 *
 * The walk is written down as the inventory (`inventoryPath`, one JSON line per item in manifest
 * order, fsynced) and read back with `readInventory`, so later passes see exactly the list that was
 * checked, in flat memory. Name problems are returned in `issues`, not thrown: the caller decides
 * (a dry run lists them, a real run refuses before writing anything).
 */
export async function scanSource(source: PackSource, inventoryPath: string, opts: ScanOptions = {}): Promise<SourceScan> {
  const log = new IssueLog();
  for (const issue of sourceOverlaps(source)) log.add(issue);
  const tallies = new Map<string, CollectionTally>();
  // The catalogs, sorted on disk beside the inventory (catalog.ts): a record's claims are looked
  // up as the walk meets its files, and its resource is merged into the list at the end with the
  // resources derived from the tree, which wait in sorted runs in the same folder.
  const work = await mkdtemp(join(dirname(inventoryPath), 'catalog-'));
  const claims = new Map<string, ClaimCursor>();
  try {
    const catalog = source.collections.some((c) => c.metadata) ? await spillCatalogs(source, work) : undefined;
    const byId = new Map(source.collections.map((c) => [c.id, c]));
    // A record whose file is misspelt or missing would reach every county as a resource without it.
    for (const [id, path] of catalog?.claims ?? []) {
      const c = byId.get(id)!;
      claims.set(id, new ClaimCursor(path, (file, resource) => log.add({
        kind: 'catalog-unmatched', severity: 'warning', path: c.path ? `${c.path}/${file}` : file,
        detail: `resource "${resource}" of the catalog names "${file}", which is not in ${c.dir} (or was left out)`,
      })));
    }
    return await walkInto(source, inventoryPath, opts, log, tallies, catalog, claims, new DerivedResources(work));
  } finally {
    for (const cursor of claims.values()) cursor.close();
    await rm(work, { recursive: true, force: true });
  }
}

async function walkInto(
  source: PackSource, inventoryPath: string, opts: ScanOptions, log: IssueLog, tallies: Map<string, CollectionTally>,
  catalog: SpilledCatalog | undefined, claims: Map<string, ClaimCursor>, derived: DerivedResources,
): Promise<SourceScan> {
  const h = await open(inventoryPath, 'w');
  let files = 0;
  let bytes = 0;
  let written = 0;
  const write = async (lines: string[]): Promise<void> => {
    const data = utf8Lines(lines);
    for (let off = 0; off < data.length; ) off += (await h.write(data, off, data.length - off)).bytesWritten;
    written += data.length;
    opts.onWritten?.(written);
  };
  try {
    let buf: string[] = [];
    for await (const batch of walkSource(source, {
      followSymlinks: !!opts.followSymlinks, allowUnportable: !!opts.allowUnportable, nonUtf8: opts.nonUtf8 ?? 'gb18030',
      includeJunk: !!opts.includeJunk, onIssue: (i) => log.add(i), claims,
    })) {
      for (const item of batch) {
        tallyItem(tallies, item);
        if (item.derived && item.resource) {
          const name = item.resource.slice(item.resource.lastIndexOf('/') + 1);
          derived.add({ id: item.resource, collection: item.collection, title: name.replace(/\.[^.]+$/, '') || name });
        }
        files++;
        bytes += item.size;
        buf.push(encodeInventoryItem(item));
        // small batches first, so that a reader following the inventory can start at once
        if (buf.length >= (files <= 8192 ? 256 : 4096)) {
          await write(buf);
          buf = [];
          opts.onProgress?.({ files, bytes, done: false });
        }
      }
    }
    if (buf.length) await write(buf);
    await h.sync();
  } finally {
    await h.close();
  }
  for (const cursor of claims.values()) cursor.finish();
  opts.onProgress?.({ files, bytes, done: true });
  const resourcesPath = join(dirname(inventoryPath), 'resources.jsonl');
  const resources = await writeResourcesList(catalog, derived, resourcesPath);
  const titles = new Map(source.collections.map((c) => [c.id, c]));
  const collections = [...tallies.values()].map((t) => {
    const c = titles.get(t.id);
    return { id: t.id, title: c?.title || t.id || source.bundle.title, path: c ? c.path : t.id, files: t.files, bytes: t.bytes };
  });
  let dirs = 0;
  for (const t of tallies.values()) dirs += t.dirs;
  return {
    totals: { files: files - dirs, dirs, bytes, resources },
    collections,
    resourcesPath,
    spans: [...tallies.values()].map((t) => [t.id, t.span]),
    issues: { errors: log.errors, counts: log.counts, kept: log.kept },
  };
}

/**
 * Collections of a recipe whose source folders are the same, or one inside another: every file
 * there is packed once for each of them (legal, and deduplicated by a county's store, but it takes
 * the disk's room twice, which for a selection of terabytes can be a disk more), so it is said.
 */
export function sourceOverlaps(source: PackSource): NameIssue[] {
  const out: NameIssue[] = [];
  const cs = source.collections.filter((c) => c.id !== '');
  for (let i = 0; i < cs.length; i++) {
    for (let j = i + 1; j < cs.length; j++) {
      const [a, b] = [cs[i]!, cs[j]!];
      const inside = (x: string, y: string): boolean => x.startsWith(y.endsWith(sep) ? y : y + sep);
      const how = a.dir === b.dir ? 'the same folder as' : inside(b.dir, a.dir) ? 'a folder that contains that of' : inside(a.dir, b.dir) ? 'a folder inside that of' : undefined;
      if (!how) continue;
      out.push({
        kind: 'source-overlap', severity: 'warning', path: a.path,
        detail: `collection "${a.id}" reads ${a.dir}, ${how} collection "${b.id}" (${b.dir}): the files they share are packed once for each`,
      });
    }
  }
  return out;
}

/** The files-tree entry of an inventory item; `digests` for regular files. */
export function fileEntryOf(item: InventoryItem, digests?: Digests): FileEntry {
  const entry: FileEntry = { path: item.path, type: item.type, size: item.size, mtime: item.mtime };
  if (item.resource !== undefined) entry.resource = item.resource;
  return digests ? { ...entry, ...digests } : entry;
}

/**
 * A creation time as given on the command line (`--created`): any date JavaScript reads, with its
 * zone (2026-12-04T08:00:00Z, 2026-12-04T16:00:00+08:00), recorded as UTC in whole seconds.
 */
export function parseCreatedTime(text: string): string {
  const ms = /(Z|[+-]\d\d:?\d\d)$/i.test(text.trim()) ? Date.parse(text.trim()) : NaN;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new BookcrateError('USAGE', `--created ${text} is not a date and time with its zone`, { hint: 'give it as e.g. 2026-12-04T08:00:00Z (UTC) or 2026-12-04T16:00:00+08:00' });
  }
  return new Date(Math.floor(ms / 1000) * 1000).toISOString();
}

/** `created` of a new version: the option, else SOURCE_DATE_EPOCH (reproducible builds), else now, in whole seconds. */
export function createdTime(created?: string): string {
  if (created) return created;
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d+$/.test(epoch)) return new Date(Number(epoch) * 1000).toISOString();
  return new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
}
