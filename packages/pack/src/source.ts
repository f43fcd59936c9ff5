import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import {
  BookcrateError, parseCsv, parseRecipe, resourceSpecFrom, ResourceIndex,
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

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
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

/** Catalog records from CSV (header row; `files` separated by ";") or JSON Lines. */
export async function loadMetadata(path: string): Promise<ResourceSpec[]> {
  const text = await readText(path, 'metadata file');
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
  const recipe = parseRecipe(await readText(abs, 'recipe'), abs);
  const base = dirname(abs);
  const collections: SourceCollection[] = [];
  for (const c of recipe.collections) {
    const dir = resolve(base, c.source);
    await assertDir(dir, `collection "${c.id}" source`);
    const resources = c.metadata ? await loadMetadata(resolve(base, c.metadata)) : [];
    const col: SourceCollection = { id: c.id, title: c.title, path: c.path, dir, resources, index: new ResourceIndex(resources, c.metadata ?? c.id) };
    if (c.type) col.type = c.type;
    if (c.language) col.language = c.language;
    collections.push(col);
  }
  return { origin: abs, bundle: recipe.bundle, collections };
}
