import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { BookcrateError, parseRecipe } from '@bookcrate/format';

/** What to pack: a bundle identity and its collections, each a source folder with its catalog. */
export interface PackSource {
  bundle: { id: string; title: string; version: number };
  collections: SourceCollection[];
  /** the recipe file, or the bare directory, as given */
  origin: string;
}

export interface SourceCollection {
  id: string;
  title: string;
  path: string; // top-level folder in the bundle
  dir: string; // absolute source directory
  /**
   * Its catalog, read by the scan a piece at a time (catalog.ts), never held whole: `digest` (SHA-256
   * of its bytes) stands for it in a pack's arguments, so that a resume with a changed catalog is refused.
   */
  metadata?: { path: string; given: string; encoding?: string; digest: string };
  type?: string;
  language?: string;
}

async function readBytes(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new BookcrateError('USAGE', `cannot read ${what} ${path}: ${(e as Error).message}`, { hint: 'check the path in the recipe (paths are relative to the recipe file)' });
  }
}

async function assertDir(path: string, what: string): Promise<void> {
  let ok = false;
  try {
    ok = (await stat(path)).isDirectory();
  } catch {
    /* reported below */
  }
  if (!ok) throw new BookcrateError('USAGE', `${what} ${path} is not a directory`, { hint: 'check the path; recipe paths are relative to the recipe file' });
}

/** SHA-256 of a catalog file, read in pieces; a file that cannot be read is named (a usage error). */
async function catalogDigest(path: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for await (const piece of createReadStream(path)) h.update(piece as Buffer);
  } catch (e) {
    throw new BookcrateError('USAGE', `cannot read metadata file ${path}: ${(e as Error).message}`, { hint: 'check the path in the recipe (paths are relative to the recipe file)' });
  }
  return h.digest('hex');
}

/**
 * A bare folder's bundle id (a recipe names its own): the folder's name where that already is one
 * (ASCII letters, digits, . _ -), else the ASCII it has and 8 hex digits of the name's SHA-256. The
 * name with every other character made '_' gave 老照片 and 地方戏 the same id, "___": to a store
 * they were one bundle, and the second disk was refused as another content of the same version.
 */
export function folderBundleId(name: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(name)) return name;
  const ascii = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-._]+|[-._]+$/g, '').slice(0, 100);
  return `${ascii || 'folder'}-${createHash('sha256').update(name.normalize('NFC')).digest('hex').slice(0, 8)}`;
}

/**
 * A recipe file, or a bare directory whose top-level folders become collections (their names are
 * the titles) and whose resources are derived from the tree: each file or folder directly inside a
 * collection is one resource.
 */
export async function loadSource(input: string): Promise<PackSource> {
  const abs = resolve(input);
  let st;
  try {
    st = await stat(abs);
  } catch {
    throw new BookcrateError('USAGE', `${input} does not exist`, { hint: 'pass a recipe (.json) or a source directory' });
  }
  if (st.isDirectory()) {
    return {
      origin: abs,
      bundle: { id: folderBundleId(basename(abs)), title: basename(abs), version: 1 },
      collections: [{ id: '', title: '', path: '', dir: abs }],
    };
  }
  const bytes = await readBytes(abs, 'recipe');
  if (!isUtf8(bytes)) throw new BookcrateError('RECIPE', `${abs} is not UTF-8`, { hint: 'a recipe is JSON, which is UTF-8: save it so (in Notepad: "Save as", encoding UTF-8)' });
  const recipe = parseRecipe(bytes.toString('utf8').replace(/^\ufeff/, ''), abs);
  const base = dirname(abs);
  const collections: SourceCollection[] = [];
  for (const c of recipe.collections) {
    const dir = resolve(base, c.source);
    await assertDir(dir, `collection "${c.id}" source`);
    const col: SourceCollection = { id: c.id, title: c.title, path: c.path, dir };
    if (c.metadata) {
      const path = resolve(base, c.metadata);
      col.metadata = { path, given: c.metadata, digest: await catalogDigest(path) };
      if (c.metadataEncoding) col.metadata.encoding = c.metadataEncoding;
    }
    if (c.type) col.type = c.type;
    if (c.language) col.language = c.language;
    collections.push(col);
  }
  return { origin: abs, bundle: recipe.bundle, collections };
}
