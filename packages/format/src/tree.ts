import { createHash } from 'node:crypto';
import { BookcrateError } from './errors.js';
import { utf8Lines } from './lines.js';
import { compareKeys } from './paths.js';

/**
 * Manifest trees (docs/format.md, "Manifest parts"). A long sorted list (files, resources, tar
 * members) is cut into parts of JSON Lines; each part is stored under its SHA-256; a level of index
 * parts lists the parts below it; the signed root lists the top level. Cuts are content-defined: a
 * part ends after an entry whose key hashes to 0 modulo the average fan-out. Inserting or changing
 * k entries therefore changes about k leaf parts and their ancestors, and everything else keeps its
 * hash: a mirror fetches metadata in proportion to the change, and no reader or writer ever holds
 * more than one part per level in memory.
 */
export interface PartRef {
  sha256: string;
  size: number;
  count: number; // entries in this part (for an index part: entries in all leaves below it)
  first: string; // key of the first entry below this part
}

export interface TreeRef {
  depth: number; // levels of parts below the root (1: the root lists leaf parts)
  count: number; // leaf entries in the whole tree
  parts: PartRef[];
}

export interface TreeShape {
  leafAverage: number; // average entries per leaf part
  indexAverage: number; // average refs per index part
  maxPartBytes: number; // a part is cut before it grows past this
  rootMax: number; // at most this many refs stand in the root before another index level is added
}

export const DEFAULT_TREE_SHAPE: TreeShape = { leafAverage: 16, indexAverage: 64, maxPartBytes: 1 << 20, rootMax: 256 };

/**
 * The members tree (a volume set's layout) is never published to mirrors, and is rewritten whole
 * with every set of disks, so small leaves buy it nothing: larger ones (~28 KB) mean 16× fewer part
 * files for pack to write and for verify and import to open.
 */
export const MEMBERS_TREE_SHAPE: TreeShape = { leafAverage: 256, indexAverage: 64, maxPartBytes: 1 << 20, rootMax: 256 };

/** Receives each finished part; the caller stores it (on a volume, in a repository) under its hash. */
export type PartSink = (bytes: Buffer, sha256: string) => void | Promise<void>;

interface Level {
  lines: string[];
  bytes: number;
  count: number;
  first: string | undefined;
  emitted: number;
}

function isCut(key: string, average: number): boolean {
  const h = createHash('sha256').update(key).digest();
  return h.readUInt32BE(0) % average === 0;
}

export function encodePartRef(r: PartRef): string {
  return JSON.stringify({ sha256: r.sha256, size: r.size, count: r.count, first: r.first });
}

export class PartTreeWriter {
  private readonly levels: Level[] = [];
  private lastKey: string | undefined;
  private total = 0;

  /** `repeats`: keys may repeat (the members list names a split file once per part). */
  constructor(
    private readonly sink: PartSink,
    private readonly shape: TreeShape = DEFAULT_TREE_SHAPE,
    private readonly repeats = false,
  ) {}

  /** Adds one entry; keys must arrive in increasing canonical order. */
  async add(key: string, line: string): Promise<void> {
    const order = this.lastKey === undefined ? -1 : compareKeys(this.lastKey, key);
    if (order > 0 || (order === 0 && !this.repeats)) {
      throw new BookcrateError('INTERNAL', `manifest keys out of order: ${JSON.stringify(this.lastKey)} then ${JSON.stringify(key)}`);
    }
    this.lastKey = key;
    this.total++;
    await this.push(0, key, line, 1);
  }

  private level(i: number): Level {
    while (this.levels.length <= i) this.levels.push({ lines: [], bytes: 0, count: 0, first: undefined, emitted: 0 });
    return this.levels[i]!;
  }

  private async push(i: number, key: string, line: string, count: number): Promise<void> {
    const lv = this.level(i);
    const len = Buffer.byteLength(line) + 1;
    if (lv.lines.length > 0 && lv.bytes + len > this.shape.maxPartBytes) await this.cut(i);
    lv.first ??= key;
    lv.lines.push(line);
    lv.bytes += len;
    lv.count += count;
    const average = i === 0 ? this.shape.leafAverage : this.shape.indexAverage;
    // An index part is never cut by its key alone while it holds one ref: that ref's `first` would
    // go up as the single ref of the next level, be cut alone there too, and so on without end
    // (docs/format.md, 4.2).
    const byKey = (i === 0 || lv.lines.length > 1) && isCut(key, average);
    if (byKey || lv.lines.length >= average * 8) await this.cut(i);
  }

  private async cut(i: number): Promise<void> {
    const lv = this.level(i);
    if (lv.lines.length === 0) return;
    const bytes = utf8Lines(lv.lines);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await this.sink(bytes, sha256);
    const ref: PartRef = { sha256, size: bytes.length, count: lv.count, first: lv.first! };
    lv.lines = [];
    lv.bytes = 0;
    lv.count = 0;
    lv.first = undefined;
    lv.emitted++;
    await this.push(i + 1, ref.first, encodePartRef(ref), ref.count);
  }

  async finish(): Promise<TreeRef> {
    for (let i = 0; ; i++) {
      const lv = this.level(i);
      // Level i's pending refs (i ≥ 1) become the root when nothing at this level was cut yet and
      // they are few enough; otherwise cut what is pending and go one level up.
      if (i >= 1 && lv.emitted === 0 && lv.lines.length <= this.shape.rootMax) {
        const parts = lv.lines.map((l) => JSON.parse(l) as PartRef);
        return { depth: i, count: this.total, parts };
      }
      await this.cut(i);
    }
  }
}

export type PartLoader = (ref: PartRef) => Promise<Buffer>;

/**
 * Called with every part of a tree once it has been checked against its parent's hash, index parts
 * and leaves alike; the reading waits for it. Lets a reader keep the parts it reads anyway (the
 * import's catalog thread keeps them in the store) without reading or hashing them a second time.
 */
export type CheckedPart = (ref: PartRef, bytes: Buffer) => void | Promise<void>;

function decodePartRef(line: string, where: string): PartRef {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new BookcrateError('FORMAT', `${where}: index entry is not JSON`);
  }
  if (
    typeof o !== 'object' || o === null ||
    typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.sha256) ||
    !Number.isSafeInteger(o.size) || (o.size as number) < 0 ||
    !Number.isSafeInteger(o.count) || (o.count as number) < 0 ||
    typeof o.first !== 'string'
  ) {
    throw new BookcrateError('FORMAT', `${where}: index entry is malformed`);
  }
  return { sha256: o.sha256, size: o.size as number, count: o.count as number, first: o.first };
}

export function assertTreeRef(v: unknown, where: string): TreeRef {
  const t = v as TreeRef;
  if (typeof t !== 'object' || t === null || !Number.isSafeInteger(t.depth) || t.depth < 1 || t.depth > 8 ||
      !Number.isSafeInteger(t.count) || !Array.isArray(t.parts)) {
    throw new BookcrateError('FORMAT', `${where}: tree reference is malformed`);
  }
  return { depth: t.depth, count: t.count, parts: t.parts.map((p) => decodePartRef(JSON.stringify(p), where)) };
}

/**
 * Loads one part and returns its lines, after checking it against the hash and size its parent
 * gives (before a byte of it is parsed) and that it ends with a newline.
 */
async function partLines(ref: PartRef, load: PartLoader, name: string, hint?: string, checked?: CheckedPart): Promise<string[]> {
  const bytes = await load(ref);
  if (bytes.length !== ref.size || createHash('sha256').update(bytes).digest('hex') !== ref.sha256) {
    throw new BookcrateError('DAMAGED', `manifest part ${ref.sha256} of the ${name} list is damaged (its hash does not match)`, {
      ...(hint ? { hint } : {}),
      details: { part: ref.sha256 },
      say: { id: 'part-damaged', args: { list: name, part: ref.sha256 } },
    });
  }
  const text = bytes.toString('utf8');
  if (!text.endsWith('\n') && text.length > 0) throw new BookcrateError('FORMAT', `manifest part ${ref.sha256} does not end with a newline`);
  await checked?.(ref, bytes);
  return text.length === 0 ? [] : text.slice(0, -1).split('\n');
}

const indexRefs = (lines: string[], ref: PartRef): PartRef[] => lines.map((l) => decodePartRef(l, `index part ${ref.sha256}`));

export interface TreeReadOptions {
  /** leaf parts read at once (default 1) */
  ahead?: number;
  /** every part (index and leaf) once checked, before its lines are used */
  checked?: CheckedPart;
}

/**
 * Streams the leaf lines of a tree in order. Every part is checked against the hash and size its
 * parent gives before a byte of it is parsed, so a tree read this way is exactly the tree the root
 * was signed over. Index parts are loaded one at a time; leaf parts `ahead` at a time (default 1):
 * on a disk, a window of reads in flight hides the seek of each small part file, which read one
 * after the other would cost more than the bytes.
 */
export async function* readTreeLines(tree: TreeRef, load: PartLoader, name: string, opts: TreeReadOptions = {}): AsyncGenerator<string> {
  for await (const lines of readTreeLineBatches(tree, load, name, opts)) yield* lines;
}

/**
 * readTreeLines a leaf part at a time: the lines of each part as one array. For readers of millions
 * of entries, a step of an async generator per part instead of per line.
 */
export async function* readTreeLineBatches(tree: TreeRef, load: PartLoader, name: string, opts: TreeReadOptions = {}): AsyncGenerator<string[]> {
  const hint = 'the manifest on this volume is corrupt; verify the volume and ask for a new copy';
  async function* leafRefs(refs: PartRef[], depth: number): AsyncGenerator<PartRef> {
    for (const ref of refs) {
      if (depth === 1) yield ref;
      else yield* leafRefs(indexRefs(await partLines(ref, load, name, hint, opts.checked), ref), depth - 1);
    }
  }
  const ahead = Math.max(1, opts.ahead ?? 1);
  const refs = leafRefs(tree.parts, tree.depth);
  const window: Promise<string[]>[] = [];
  let more = true;
  try {
    for (;;) {
      while (more && window.length < ahead) {
        const r = await refs.next();
        if (r.done) more = false;
        else {
          const p = partLines(r.value, load, name, hint, opts.checked);
          p.catch(() => undefined); // surfaced when its turn comes
          window.push(p);
        }
      }
      const next = window.shift();
      if (!next) return;
      yield await next;
    }
  } finally {
    await Promise.allSettled(window);
  }
}

/**
 * Finds entries by key in a tree without reading the whole tree: from the root down, it loads only
 * the one part per level whose range can hold the key. Lookups in increasing key order reuse the
 * parts already loaded (one per level is kept), so walking a sorted list of k keys loads about the
 * parts those keys live in and nothing else. Every part is checked against its parent's hash.
 */
export class TreeLookup {
  /** levels[d]: the loaded part at depth d (0 = just below the root) and its decoded lines. */
  private readonly levels: { sha256: string; lines: string[]; refs?: PartRef[] }[] = [];

  constructor(
    private readonly tree: TreeRef,
    private readonly load: PartLoader,
    private readonly keyOf: (line: string) => string,
    private readonly name: string,
  ) {}

  async get(key: string): Promise<string | undefined> {
    let refs = this.tree.parts;
    for (let d = 0; d < this.tree.depth; d++) {
      const ref = lastAtOrBefore(refs, key);
      if (!ref) return undefined;
      let level = this.levels[d];
      if (level?.sha256 !== ref.sha256) {
        const lines = await partLines(ref, this.load, this.name);
        level = { sha256: ref.sha256, lines };
        if (d < this.tree.depth - 1) level.refs = indexRefs(lines, ref);
        this.levels[d] = level;
        this.levels.length = d + 1;
      }
      if (d === this.tree.depth - 1) {
        for (const line of level.lines) if (this.keyOf(line) === key) return line;
        return undefined;
      }
      refs = level.refs!;
    }
    return undefined;
  }
}

function lastAtOrBefore(refs: PartRef[], key: string): PartRef | undefined {
  let lo = 0;
  let hi = refs.length; // first index whose `first` is after key
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareKeys(refs[mid]!.first, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : refs[lo - 1];
}

/**
 * Every part of a tree (index parts and leaves), reading only the index parts: what a store keeps
 * or a collector must not delete. Index parts are checked against their parent's hash.
 */
export async function* treePartRefs(tree: TreeRef, load: PartLoader, name: string): AsyncGenerator<PartRef> {
  async function* walk(refs: PartRef[], depth: number): AsyncGenerator<PartRef> {
    for (const ref of refs) {
      yield ref;
      if (depth > 1) yield* walk(indexRefs(await partLines(ref, load, name), ref), depth - 1);
    }
  }
  yield* walk(tree.parts, tree.depth);
}
