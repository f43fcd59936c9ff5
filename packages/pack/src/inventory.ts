import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { createInterface } from 'node:readline';
import { memberSpan, type NameIssue } from '@bookcrate/format';
import type { InventoryItem } from './walk.js';

/**
 * The inventory is the walk written down (one JSON line per item, manifest order). Planning and
 * writing both read it, so they see exactly the same list even if the source is touched between
 * passes, and a resumed pack continues from the very list it started with.
 */
export function encodeInventoryItem(i: InventoryItem): string {
  const o: Record<string, unknown> = { path: i.path, type: i.type, size: i.size, mtime: i.mtime, collection: i.collection };
  if (typeof i.src === 'string') o.src = i.src;
  else o.srcHex = i.src.toString('hex');
  if (i.resource !== undefined) o.resource = i.resource;
  return JSON.stringify(o);
}

export function decodeInventoryItem(line: string): InventoryItem {
  const o = JSON.parse(line) as Record<string, unknown> & InventoryItem & { srcHex?: string };
  const item: InventoryItem = {
    path: o.path, type: o.type, size: o.size, mtime: o.mtime, collection: o.collection,
    src: o.srcHex !== undefined ? Buffer.from(o.srcHex, 'hex') : (o.src as string),
  };
  if (o.resource !== undefined) item.resource = o.resource;
  return item;
}

export async function* readInventory(path: string): AsyncGenerator<InventoryItem> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  for await (const line of rl) if (line) yield decodeInventoryItem(line);
}

export interface CollectionTally {
  id: string;
  files: number;
  dirs: number;
  bytes: number;
  span: number; // bytes its members take in segments
}

/** Issues kept for the report: every error, and up to `keep` of each other kind; all are counted. */
export class IssueLog {
  readonly counts: Record<string, number> = {};
  readonly kept: NameIssue[] = [];
  errors = 0;
  constructor(private readonly keep = 1000) {}
  add(issue: NameIssue): void {
    const n = (this.counts[issue.kind] = (this.counts[issue.kind] ?? 0) + 1);
    if (issue.severity === 'error') this.errors++;
    if (issue.severity === 'error' || n <= this.keep) this.kept.push(issue);
  }
}

export interface ScanTotals {
  files: number;
  dirs: number;
  bytes: number;
  collections: CollectionTally[];
  resources: number;
}

export function tallyItem(t: Map<string, CollectionTally>, item: InventoryItem): void {
  let c = t.get(item.collection);
  if (!c) t.set(item.collection, (c = { id: item.collection, files: 0, dirs: 0, bytes: 0, span: 0 }));
  if (item.type === 'dir') c.dirs++;
  else c.files++;
  c.bytes += item.size;
  c.span += memberSpan({ path: item.path, type: item.type, length: item.size, mtime: item.mtime });
}

/**
 * How much of the inventory the scan has written so far, for a reader that follows it while the
 * walk goes on (pack's early start). The scan writes whole lines only, so `length` always ends a line.
 */
export class InventoryGrowth {
  length = 0;
  ended = false;
  private waiters: (() => void)[] = [];
  grew(length: number): void {
    this.length = length;
    this.wake();
  }
  /** The walk is over (finished or failed): the file holds all it will hold. */
  end(): void {
    this.ended = true;
    this.wake();
  }
  /** Resolves once the inventory is longer than `pos` or has ended. */
  waitBeyond(pos: number): Promise<void> {
    if (this.length > pos || this.ended) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Reads the inventory while the scan is still writing it, up to where `growth` says, until it ends. */
export async function* followInventory(path: string, growth: InventoryGrowth): AsyncGenerator<InventoryItem> {
  await growth.waitBeyond(0);
  const h = await open(path, 'r');
  try {
    const decoder = new StringDecoder('utf8');
    const chunk = Buffer.allocUnsafe(1 << 20);
    let pos = 0;
    let rest = '';
    for (;;) {
      if (pos >= growth.length) {
        if (growth.ended) break;
        await growth.waitBeyond(pos);
        continue;
      }
      const { bytesRead } = await h.read(chunk, 0, Math.min(chunk.length, growth.length - pos), pos);
      if (bytesRead === 0) throw new Error(`the inventory ${path} is shorter than the scan wrote`);
      pos += bytesRead;
      const lines = (rest + decoder.write(chunk.subarray(0, bytesRead))).split('\n');
      rest = lines.pop()!;
      for (const line of lines) if (line) yield decodeInventoryItem(line);
    }
    rest += decoder.end();
    if (rest) yield decodeInventoryItem(rest);
  } finally {
    await h.close();
  }
}
