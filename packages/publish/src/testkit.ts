import { createHash, type KeyObject } from 'node:crypto';
import { readFile, readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CHUNKED_MIN_SIZE, averageChunkSize, decodeChunkEntry, decodeFileEntry, decodeResourceEntry, decodeRoot, readTreeLines, repoPaths,
  treePartRefs, verifyPointerFile, verifyRootSignature,
  type ChunkEntry, type FileEntry, type PartRef, type Pointer, type ResourceEntry, type Root,
} from '@bookcrate/format';

/** Test-only: a repository checked file by file, and the versions its roots describe. */
export interface CheckedRepo {
  pointer: Pointer;
  roots: Map<string, Root>; // sha256 → root, for every root in roots/
  parts: Set<string>;
  objects: Set<string>;
}

export interface VersionContent {
  root: Root;
  files: FileEntry[];
  resources: ResourceEntry[];
  chunks: ChunkEntry[];
  /** Every part of the three trees, index parts included. */
  parts: Set<string>;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[]);
}

/**
 * Checks every file of a repository against its name: objects and parts hash to their names, roots
 * too and their signatures verify with `pub`, and the pointer verifies and names a root that exists.
 * Throws (with the file named) on the first problem.
 */
export async function checkRepoFiles(repo: string, pub: KeyObject): Promise<CheckedRepo> {
  const pointer = verifyPointerFile(await readFile(join(repo, repoPaths.pointer)), pub, 'latest.json');
  const roots = new Map<string, Root>();
  for (const n of await names(join(repo, 'roots'))) {
    const m = /^([0-9a-f]{64})\.json$/.exec(n);
    if (!m) {
      if (!/^[0-9a-f]{64}\.sig$/.test(n)) throw new Error(`unexpected file roots/${n}`);
      continue;
    }
    const bytes = await readFile(join(repo, 'roots', n));
    if (sha256(bytes) !== m[1]) throw new Error(`roots/${n} does not hash to its name`);
    verifyRootSignature(bytes, await readFile(join(repo, 'roots', `${m[1]}.sig`)), pub);
    roots.set(m[1]!, decodeRoot(bytes));
  }
  const pr = roots.get(pointer.root.sha256);
  if (!pr) throw new Error('latest.json names a root that is not in roots/');
  if (pr.bundle.version !== pointer.version || pr.bundle.id !== pointer.bundle) throw new Error('latest.json and its root disagree');
  const sets: Record<'parts' | 'objects', Set<string>> = { parts: new Set(), objects: new Set() };
  for (const top of ['parts', 'objects'] as const) {
    for (const shard of await names(join(repo, top))) {
      for (const n of await names(join(repo, top, shard))) {
        const sha = n.slice(0, 64);
        const bytes = await readFile(join(repo, top, shard, n));
        if (sha256(bytes) !== sha || shard !== sha.slice(0, 2) || n !== sha + (top === 'parts' ? '.jsonl' : '')) throw new Error(`${top}/${shard}/${n} does not hash to its name`);
        sets[top].add(sha);
      }
    }
  }
  return { pointer, roots, ...sets };
}

/** Reads a version's three trees from the repository (every part checked against its parent's hash). */
export async function readVersion(repo: string, root: Root): Promise<VersionContent> {
  const load = async (ref: PartRef): Promise<Buffer> => readFile(join(repo, repoPaths.part(ref.sha256)));
  const out: VersionContent = { root, files: [], resources: [], chunks: [], parts: new Set() };
  for await (const l of readTreeLines(root.files, load, 'files')) out.files.push(decodeFileEntry(l, 'files'));
  for await (const l of readTreeLines(root.resources, load, 'resources')) out.resources.push(decodeResourceEntry(l, 'resources'));
  if (!root.chunks) throw new Error('a network-form root needs a chunks tree');
  for await (const l of readTreeLines(root.chunks, load, 'chunks')) out.chunks.push(decodeChunkEntry(l, 'chunks'));
  for (const t of [root.files, root.resources, root.chunks]) for await (const ref of treePartRefs(t, load, 'tree')) out.parts.add(ref.sha256);
  return out;
}

/**
 * A version is complete when every file's object is there and every large file's chunk list
 * matches its object, chunk by chunk (so a mirror can rebuild it from chunks).
 */
export async function checkVersionComplete(repo: string, v: VersionContent): Promise<void> {
  const chunks = new Map(v.chunks.map((c) => [c.path, c]));
  for (const f of v.files) {
    if (f.type !== 'file') continue;
    const bytes = await readFile(join(repo, repoPaths.object(f.sha256!)));
    if (bytes.length !== f.size) throw new Error(`object of ${f.path} has ${bytes.length} bytes, not ${f.size}`);
    const c = chunks.get(f.path);
    if (f.size < CHUNKED_MIN_SIZE) {
      if (c) throw new Error(`${f.path} is small but has a chunk list`);
      continue;
    }
    if (!c || c.sha256 !== f.sha256 || c.size !== f.size || c.avg !== averageChunkSize(f.size)) throw new Error(`${f.path}: chunk list missing or not for this file`);
    for (const k of c.chunks) {
      if (sha256(bytes.subarray(k.offset, k.offset + k.length)).slice(0, 32) !== k.hash) throw new Error(`${f.path}: chunk at ${k.offset} does not match`);
    }
  }
  if (chunks.size !== v.files.filter((f) => f.type === 'file' && f.size >= CHUNKED_MIN_SIZE).length) throw new Error('chunks tree lists files that are not large files');
}

/** Sets the mtime of everything under `dir` (files and folders): a tree as it sits between publishes. */
export async function setMtimes(dir: string, when: Date): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await setMtimes(p, when);
    await utimes(p, when, when);
  }
}
