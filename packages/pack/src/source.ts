import { isUtf8 } from 'node:buffer';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import {
  BookcrateError, decodeCatalogText, parseCsv, parseRecipe, resourceSpecFrom, ResourceIndex,
  type ResourceSpec,
} from '@bookcrate/format';

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
  resources: ResourceSpec[];
  index: ResourceIndex;
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

/**
 * Catalog records from CSV (header row; `files` separated by ";") or JSON Lines, in `encoding`
 * (UTF-8 unless the recipe says otherwise; a file that is not valid in it is refused, see catalog-text.ts).
 */
export async function loadMetadata(path: string, encoding?: string): Promise<ResourceSpec[]> {
  const text = decodeCatalogText(await readBytes(path, 'metadata file'), path, encoding);
  const records: Record<string, unknown>[] = path.toLowerCase().endsWith('.csv')
    ? parseCsv(text, path)
    : text.split(/\r?\n/).filter((l) => l.trim()).map((l, i) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new BookcrateError('RECIPE', `${path} line ${i + 1} is not valid JSON`, { hint: 'metadata is CSV (.csv) or JSON Lines (one object per line)' });
        }
      });
  return records.map((r, i) => resourceSpecFrom(r, `${path} record ${i + 1}`));
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
      bundle: { id: basename(abs).replace(/[^A-Za-z0-9._-]/g, '_') || 'bundle', title: basename(abs), version: 1 },
      collections: [{ id: '', title: '', path: '', dir: abs, resources: [], index: new ResourceIndex([], abs) }],
    };
  }
  const bytes = await readBytes(abs, 'recipe');
  if (!isUtf8(bytes)) throw new BookcrateError('RECIPE', `${abs} is not UTF-8`, { hint: 'a recipe is JSON, which is UTF-8: save it so (in Notepad: "Save as", encoding UTF-8)' });
  const recipe = parseRecipe(bytes.toString('utf8').replace(/^\ufeff/, ''), abs);
  const base = dirname(abs);
  const collections: SourceCollection[] = [];
  /** resource id → the collection whose catalog gives it: one id is one resource across the bundle */
  const owners = new Map<string, string>();
  for (const c of recipe.collections) {
    const dir = resolve(base, c.source);
    await assertDir(dir, `collection "${c.id}" source`);
    const resources = c.metadata ? await loadMetadata(resolve(base, c.metadata), c.metadataEncoding) : [];
    const index = new ResourceIndex(resources, c.metadata ?? c.id);
    for (const r of resources) {
      const other = owners.get(r.id);
      if (other !== undefined) {
        throw new BookcrateError('RECIPE', `the resource id "${r.id}" is in the catalogs of both collection "${other}" and collection "${c.id}"`, { hint: 'give every resource of the bundle its own id' });
      }
      owners.set(r.id, c.id);
    }
    const col: SourceCollection = { id: c.id, title: c.title, path: c.path, dir, resources, index };
    if (c.type) col.type = c.type;
    if (c.language) col.language = c.language;
    collections.push(col);
  }
  return { origin: abs, bundle: recipe.bundle, collections };
}
