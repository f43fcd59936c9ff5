import { opendir, realpath } from 'node:fs/promises';
import { lstat as lstatCb, lstatSync, stat as statCb, statSync, type Stats } from 'node:fs';
import {
  compareBundlePaths, componentIssues, decodeName, isJunkName, pathLengthIssue, siblingCollisions,
  type NameIssue, type NonUtf8Policy,
} from '@bookcrate/format';
import { mtimeOf } from './mtime.js';
import type { PackSource, SourceCollection } from './source.js';
import type { ClaimCursor } from './catalog.js';

export interface WalkOptions {
  followSymlinks: boolean;
  /** Keep names Windows cannot hold (reported as warnings instead of errors). */
  allowUnportable: boolean;
  nonUtf8: NonUtf8Policy;
  includeJunk: boolean;
  onIssue: (issue: NameIssue) => void;
  /** collection id → its catalog's claims (catalog.ts), looked up in walk order */
  claims?: Map<string, ClaimCursor>;
}

/** One thing to pack, in manifest order. */
export interface InventoryItem {
  path: string; // bundle path (NFC)
  src: string | Buffer; // where to read it (a Buffer when the name on disk is not UTF-8)
  type: 'file' | 'dir';
  size: number;
  mtime: number;
  collection: string; // collection id
  resource?: string;
  /** the resource is derived from the tree (no catalog record claims the file); not written down */
  derived?: boolean;
}

/** A source path stays a string while every name on it is UTF-8, and becomes raw bytes below a name that is not. */
function joinSrc(dir: string | Buffer, raw: Buffer, utf8Name: boolean): string | Buffer {
  if (typeof dir === 'string' && utf8Name) return `${dir}/${raw.toString('utf8')}`;
  const d = typeof dir === 'string' ? Buffer.from(dir, 'utf8') : dir;
  return Buffer.concat([d, Buffer.from('/'), raw]);
}

/**
 * Walks the source in manifest order — a depth-first walk that sorts every directory's names the
 * way bundle paths are ordered — checking every name against the policy as it goes. Memory is one
 * directory listing per level, so a million files walk in flat memory. Errors are reported through
 * `onIssue` and the offending entry is not yielded; the caller refuses to pack if any error was seen.
 *
 * Items come in batches (the consecutive files of one folder): every step of an async generator is
 * a turn of the microtask queue, and every level of folders above an item adds one, so a million
 * items yielded one by one cost seconds of nothing but generator steps (docs/performance.md, run W).
 */
export async function* walkSource(source: PackSource, opts: WalkOptions): AsyncGenerator<InventoryItem[]> {
  const roots = [...source.collections].sort((a, b) => compareBundlePaths(a.path, b.path));
  for (const c of roots) {
    const visiting = new Set<string>();
    yield* walkDir(c.dir, c.path, c, source, opts, visiting, true);
  }
}

async function* walkDir(
  dir: string | Buffer, prefix: string, col: SourceCollection, source: PackSource, opts: WalkOptions, visiting: Set<string>, top: boolean,
): AsyncGenerator<InventoryItem[]> {
  const real = opts.followSymlinks ? await realpath(dir).catch(() => String(dir)) : '';
  if (opts.followSymlinks) {
    if (visiting.has(real)) {
      opts.onIssue({ kind: 'symlink', severity: 'warning', path: prefix, detail: 'a symbolic link loops back to a folder above it; not followed' });
      return;
    }
    visiting.add(real);
  }
  // The folder's listing, held compactly until it is sorted: its names, and three numbers each
  // from their lstat. A folder of a million photos took 2 GB as Buffers, Stats and objects.
  const names: string[] = []; // decoded, NFC
  /** the name as decoded, where NFC changed it (the source path has it so) */
  const asDecoded = new Map<number, string>();
  /** the name's bytes, where the name does not give them back (the source path has them raw) */
  const rawBytes = new Map<number, Buffer>();
  try {
    // (Node lists names as bytes when asked, as readdir does; its types only know string encodings.)
    for await (const entry of await opendir(dir, { encoding: 'buffer' as BufferEncoding, bufferSize: 256 })) {
      const raw = entry.name as unknown as Buffer;
      const { name, issue } = decodeName(raw, opts.nonUtf8, prefix);
      if (issue) opts.onIssue(issue);
      if (name === undefined) continue;
      const nfc = name.normalize('NFC');
      if (!opts.includeJunk && isJunkName(name)) {
        opts.onIssue({ kind: 'junk', severity: 'info', path: prefix ? `${prefix}/${nfc}` : nfc, detail: 'operating-system clutter, left out (use --include-junk to keep it)' });
        continue;
      }
      // Bytes that are not UTF-8 go to the source as they are; so does a name that begins with a
      // byte-order mark, which the decoder drops from the name.
      if (issue || (raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf)) rawBytes.set(names.length, Buffer.from(raw));
      if (nfc !== name) asDecoded.set(names.length, name);
      names.push(nfc);
    }
  } catch (e) {
    opts.onIssue({ kind: 'unreadable', severity: 'error', path: prefix || String(dir), detail: `cannot list the folder: ${(e as Error).message}` });
    return;
  }
  const srcOf = (i: number): string | Buffer => {
    const raw = rawBytes.get(i);
    if (raw) return joinSrc(dir, raw, false);
    const name = asDecoded.get(i) ?? names[i]!;
    return typeof dir === 'string' ? `${dir}/${name}` : joinSrc(dir, Buffer.from(name, 'utf8'), false);
  };
  // Every lstat (statAll: one at a time while they answer from memory, in parallel once the disk
  // has to seek for them), kept as kind, size and mtime.
  const kind = new Uint8Array(names.length);
  const size = new Float64Array(names.length);
  const mtimeMs = new Float64Array(names.length);
  await statAll(names.length, srcOf, opts.followSymlinks, (i, st) => {
    const path = prefix ? `${prefix}/${names[i]}` : names[i]!;
    if (st instanceof Error) {
      opts.onIssue({ kind: 'unreadable', severity: 'error', path, detail: `cannot read: ${st.message}` });
      return;
    }
    if (st === 'symlink') {
      opts.onIssue({ kind: 'symlink', severity: 'warning', path, detail: 'a symbolic link, not followed (use --follow-symlinks to pack its target)' });
      return;
    }
    if (!st.isFile() && !st.isDirectory()) {
      opts.onIssue({ kind: 'special-file', severity: 'warning', path, detail: 'a device, pipe or socket, not a file; left out' });
      return;
    }
    kind[i] = st.isDirectory() ? DIR : FILE;
    size[i] = st.size;
    mtimeMs[i] = st.mtimeMs;
  });
  const decoded: string[] = [];
  const kept: number[] = [];
  for (let i = 0; i < names.length; i++) {
    if (kind[i] === SKIPPED) continue;
    const nfc = names[i]!;
    const path = prefix ? `${prefix}/${nfc}` : nfc;
    if (asDecoded.has(i)) opts.onIssue({ kind: 'nfd-name', severity: 'info', path, detail: 'the name is not in Unicode NFC (as macOS writes it); stored in NFC' });
    for (const issue of componentIssues(nfc, path)) opts.onIssue(opts.allowUnportable ? { ...issue, severity: 'warning' } : issue);
    const long = pathLengthIssue(path);
    if (long) opts.onIssue(long);
    decoded.push(asDecoded.get(i) ?? nfc);
    kept.push(i);
  }
  const collisions = siblingCollisions(decoded, prefix);
  decoded.length = 0;
  const colliding = new Set(collisions.map((i) => i.path));
  for (const issue of collisions) opts.onIssue(opts.allowUnportable && issue.kind === 'case-collision' ? { ...issue, severity: 'warning' } : issue);
  kept.sort((a, b) => compareBundlePaths(names[a]!, names[b]!));
  let previous: string | undefined;
  /** this folder's items since the last subfolder, in order */
  let batch: InventoryItem[] = [];
  for (const i of kept) {
    const name = names[i]!;
    const path = prefix ? `${prefix}/${name}` : name;
    // Two source names that are one NFC name cannot both be in the bundle: both were reported.
    if (name === previous || (colliding.has(path) && !opts.allowUnportable)) continue;
    previous = name;
    const src = srcOf(i);
    const isDir = kind[i] === DIR;
    const collection = col.id === '' ? (top && !isDir ? '' : path.split('/')[0]!) : col.id;
    if (isDir) {
      if (batch.length > 0) yield batch;
      batch = [];
      let any = false;
      for await (const inner of walkDir(src, path, col, source, opts, visiting, false)) {
        any = true;
        yield inner;
      }
      if (!any) batch.push({ path, src, type: 'dir', size: 0, mtime: mtimeOf(mtimeMs[i]!), collection });
    } else {
      const item: InventoryItem = { path, src, type: 'file', size: size[i]!, mtime: mtimeOf(mtimeMs[i]!), collection };
      const claimed = col.id === '' ? undefined : opts.claims?.get(col.id)?.lookup(col.path ? path.slice(col.path.length + 1) : path);
      if (claimed !== undefined) item.resource = claimed;
      else {
        const resource = derivedResource(path, col);
        if (resource) {
          item.resource = resource;
          item.derived = true;
        }
      }
      batch.push(item);
      // a folder of a million files is not held twice (its listing, and all its items)
      if (batch.length >= WALK_BATCH) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
  if (opts.followSymlinks) visiting.delete(real);
}

/** What a folder's entry is, after its lstat: SKIPPED (reported and left out), FILE or DIR. */
const SKIPPED = 0;
const FILE = 1;
const DIR = 2;

const STAT_PARALLEL = 32;
/** an lstat slower than this went to a slow disk: the rest of its folder is asked in parallel */
const SLOW_STAT_MS = 1;
/** the most items walkDir yields at once */
const WALK_BATCH = 1024;

export type StatResult = Stats | Error | 'symlink';

function statNow(src: string | Buffer, follow: boolean): StatResult {
  try {
    const st = lstatSync(src);
    if (!st.isSymbolicLink()) return st;
    return follow ? statSync(src) : 'symlink';
  } catch (e) {
    return e as Error;
  }
}

/**
 * lstat of paths 0…count−1 (`srcOf`), each handed to `each` with its index, in order; a symbolic
 * link is 'symlink' unless links are followed (then it is the target's stat); a failure is its Error.
 *
 * One at a time, on this thread, while they are fast: the scan has usually just listed the folder,
 * and the filesystem reads inodes ahead in blocks (ext4: 32 blocks, 512 inodes), so most lstats
 * answer from memory in microseconds, where each trip through libuv's thread pool cost the main
 * thread ~19 µs and a thread wake-up (docs/performance.md, "The scan's lstat"). When one lstat
 * takes longer than SLOW_STAT_MS, the disk is seeking for inodes (a cold spinning disk, a network
 * share): the rest of the folder is asked up to STAT_PARALLEL at a time, so the disk can answer
 * several per seek instead of one; their answers are still handed on in order.
 *
 * @internal exported for its test, which sets `slowMs` to take either way on purpose
 */
export async function statAll(
  count: number, srcOf: (i: number) => string | Buffer, follow: boolean, each: (i: number, result: StatResult) => void, slowMs = SLOW_STAT_MS,
): Promise<void> {
  let next = 0;
  while (next < count) {
    const t = performance.now();
    each(next, statNow(srcOf(next), follow));
    next++;
    if (performance.now() - t > slowMs) break;
  }
  if (next === count) return;
  const one = (src: string | Buffer): Promise<StatResult> => new Promise((resolve) => {
    lstatCb(src, (e, st) => {
      if (e) return resolve(e);
      if (!st.isSymbolicLink()) return resolve(st);
      if (!follow) return resolve('symlink');
      statCb(src, (e2, target) => resolve(e2 ?? target));
    });
  });
  // Answers that come early wait here until every one before them is handed on.
  const waiting = new Map<number, StatResult>();
  let handed = next;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      waiting.set(i, await one(srcOf(i)));
      for (let r = waiting.get(handed); r !== undefined; r = waiting.get(handed)) {
        waiting.delete(handed);
        each(handed++, r);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(STAT_PARALLEL, count - next) }, lane));
}

/**
 * The resource of a file no catalog record claims: one derived from the tree, the file or folder
 * directly inside the collection.
 */
function derivedResource(path: string, col: SourceCollection): string | undefined {
  if (col.id === '') {
    // Bare directory: collection = top folder, resource = the item directly inside it.
    const parts = path.split('/');
    return parts.length === 1 ? parts[0] : `${parts[0]}/${parts[1]}`;
  }
  const rel = col.path ? path.slice(col.path.length + 1) : path;
  return `${col.id}/${rel.split('/')[0]}`;
}
