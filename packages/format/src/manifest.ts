import { BookcrateError } from './errors.js';
import { assertBundlePath } from './paths.js';

/** One line of the files tree: a regular file or an empty directory of the bundle. */
export interface FileEntry {
  path: string;
  type: 'file' | 'dir';
  size: number;
  mtime: number;
  sha256?: string; // files only
  xxh64?: string; // files only
  resource?: string; // the resource (CDOI or derived id) this file belongs to
}

/** Catalog metadata of one resource (a book, a course, a film, a photo album). */
export interface ResourceEntry {
  id: string;
  collection: string;
  title: string;
  creator?: string;
  type?: string;
  language?: string;
  date?: string;
  description?: string;
}

/**
 * Where a file's bytes sit on the disk form: one record per tar member, in manifest order. A file
 * larger than a segment has one record per part, `at` giving the part's offset in the file.
 */
export interface MemberEntry {
  path: string;
  segment: number; // 1-based, global across the set (see root.layout.volumes)
  offset: number; // offset of the member's first header byte in the segment
  length: number; // data bytes in this member
  at?: number; // present for parts of a split file
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX16 = /^[0-9a-f]{16}$/;

function fail(where: string, what: string): never {
  throw new BookcrateError('FORMAT', `${where}: ${what}`, {
    hint: 'the manifest is malformed; verify the volume, and if it is damaged ask for a new copy',
  });
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function optString(o: Record<string, unknown>, k: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > 65536) fail(where, `"${k}" must be a string`);
  return v;
}

function asObject(line: string, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    fail(where, 'is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'is not a JSON object');
  return v as Record<string, unknown>;
}

export function encodeFileEntry(e: FileEntry): string {
  // Fixed key order: the bytes of a part are a function of its entries, so unchanged parts keep their hash.
  const o: Record<string, unknown> = { path: e.path, type: e.type, size: e.size, mtime: e.mtime };
  if (e.type === 'file') {
    o.sha256 = e.sha256;
    o.xxh64 = e.xxh64;
  }
  if (e.resource !== undefined) o.resource = e.resource;
  return JSON.stringify(o);
}

export function decodeFileEntry(line: string, where: string): FileEntry {
  const o = asObject(line, where);
  const path = o.path as string;
  assertBundlePath(path, where);
  if (o.type !== 'file' && o.type !== 'dir') fail(where, `"type" must be "file" or "dir"`);
  if (!isCount(o.size)) fail(where, `"size" must be a non-negative integer`);
  if (!isCount(o.mtime)) fail(where, `"mtime" must be a non-negative integer`);
  const e: FileEntry = { path, type: o.type, size: o.size, mtime: o.mtime };
  if (o.type === 'file') {
    if (typeof o.sha256 !== 'string' || !HEX64.test(o.sha256)) fail(where, `"sha256" must be 64 hex digits`);
    if (typeof o.xxh64 !== 'string' || !HEX16.test(o.xxh64)) fail(where, `"xxh64" must be 16 hex digits`);
    e.sha256 = o.sha256;
    e.xxh64 = o.xxh64;
  } else if (o.size !== 0) fail(where, 'a directory must have size 0');
  const resource = optString(o, 'resource', where);
  if (resource !== undefined) e.resource = resource;
  return e;
}

const RESOURCE_FIELDS = ['creator', 'type', 'language', 'date', 'description'] as const;

export function encodeResourceEntry(r: ResourceEntry): string {
  const o: Record<string, unknown> = { id: r.id, collection: r.collection, title: r.title };
  for (const k of RESOURCE_FIELDS) if (r[k] !== undefined && r[k] !== '') o[k] = r[k];
  return JSON.stringify(o);
}

export function decodeResourceEntry(line: string, where: string): ResourceEntry {
  const o = asObject(line, where);
  const id = optString(o, 'id', where);
  const collection = optString(o, 'collection', where);
  const title = optString(o, 'title', where);
  if (!id || collection === undefined || title === undefined) fail(where, 'a resource needs "id", "collection" and "title"');
  const r: ResourceEntry = { id, collection, title };
  for (const k of RESOURCE_FIELDS) {
    const v = optString(o, k, where);
    if (v !== undefined) r[k] = v;
  }
  return r;
}

export function encodeMemberEntry(m: MemberEntry): string {
  const o: Record<string, unknown> = { path: m.path, segment: m.segment, offset: m.offset, length: m.length };
  if (m.at !== undefined) o.at = m.at;
  return JSON.stringify(o);
}

export function decodeMemberEntry(line: string, where: string): MemberEntry {
  const o = asObject(line, where);
  const path = o.path as string;
  assertBundlePath(path, where);
  if (!isCount(o.segment) || o.segment < 1) fail(where, `"segment" must be a positive integer`);
  if (!isCount(o.offset) || o.offset % 512 !== 0) fail(where, `"offset" must be a multiple of 512`);
  if (!isCount(o.length)) fail(where, `"length" must be a non-negative integer`);
  const m: MemberEntry = { path, segment: o.segment, offset: o.offset, length: o.length };
  if (o.at !== undefined) {
    if (!isCount(o.at)) fail(where, `"at" must be a non-negative integer`);
    m.at = o.at;
  }
  return m;
}
