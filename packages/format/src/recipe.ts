import { BookcrateError } from './errors.js';
import { catalogEncoding, CATALOG_ENCODINGS } from './catalog-text.js';
import { bundlePathProblem } from './paths.js';

/** A shipment recipe (manifests/recipe.schema.json): what goes into a bundle, and its catalog. */
export interface Recipe {
  bundle: { id: string; title: string; version: number };
  collections: CollectionSpec[];
}

export interface CollectionSpec {
  id: string;
  title: string;
  source: string; // directory, relative to the recipe file
  path: string; // top-level folder in the bundle (defaults to the title)
  metadata?: string; // CSV or JSON Lines, relative to the recipe file
  metadataEncoding?: string; // of the metadata file: UTF-8 unless given (catalog-text.ts)
  type?: string;
  language?: string;
}

/** One catalog record: a resource and the files (or folders) of the collection that belong to it. */
export interface ResourceSpec {
  id: string;
  title: string;
  creator?: string;
  type?: string;
  language?: string;
  date?: string;
  description?: string;
  files: string[]; // paths relative to the collection's source; a folder means everything below it
}

function bad(where: string, what: string, hint = 'see manifests/recipe.schema.json and manifests/example.recipe.json'): never {
  throw new BookcrateError('RECIPE', `${where}: ${what}`, { hint });
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;

export function parseRecipe(text: string, where: string): Recipe {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    bad(where, `is not valid JSON (${(e as Error).message})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad(where, 'must be a JSON object with "bundle" and "collections"');
  const b = o.bundle as Record<string, unknown> | undefined;
  if (!b || typeof b !== 'object') bad(where, 'needs a "bundle" object with "id" and "title"');
  if (typeof b.id !== 'string' || !ID.test(b.id)) bad(where, `"bundle.id" must be letters, digits and . _ : / - (got ${JSON.stringify(b.id)})`);
  if (typeof b.title !== 'string' || !b.title) bad(where, '"bundle.title" must be a non-empty string');
  const version = b.version ?? 1;
  if (!Number.isSafeInteger(version) || (version as number) < 1) bad(where, '"bundle.version" must be a positive integer');
  if (!Array.isArray(o.collections) || o.collections.length === 0) bad(where, 'needs a non-empty "collections" array');
  const seenIds = new Set<string>();
  const seenPaths = new Set<string>();
  const collections = o.collections.map((c: Record<string, unknown>, i: number): CollectionSpec => {
    const at = `${where} collections[${i}]`;
    if (!c || typeof c !== 'object') bad(at, 'must be an object');
    if (typeof c.id !== 'string' || !ID.test(c.id)) bad(at, `"id" must be letters, digits and . _ : / - (got ${JSON.stringify(c.id)})`);
    if (typeof c.title !== 'string' || !c.title) bad(at, '"title" must be a non-empty string');
    if (typeof c.source !== 'string' || !c.source) bad(at, '"source" must name a directory');
    if (c.path !== undefined && (typeof c.path !== 'string' || !c.path)) bad(at, '"path" must be a non-empty string (one folder name)');
    const path = ((c.path as string | undefined) ?? c.title).normalize('NFC');
    const problem = bundlePathProblem(path);
    if (problem || path.includes('/')) bad(at, `"path" ${JSON.stringify(path)} must be one folder name (${problem ?? 'contains "/"'})`);
    if (seenIds.has(c.id)) bad(at, `collection id "${c.id}" is used twice`);
    if (seenPaths.has(path)) bad(at, `bundle folder "${path}" is used twice`);
    seenIds.add(c.id);
    seenPaths.add(path);
    for (const k of ['metadata', 'metadataEncoding', 'type', 'language'] as const) {
      if (c[k] !== undefined && typeof c[k] !== 'string') bad(at, `"${k}" must be a string`);
    }
    if (c.metadataEncoding !== undefined) {
      if (c.metadata === undefined) bad(at, '"metadataEncoding" is given but "metadata" is not');
      if (!catalogEncoding(c.metadataEncoding as string)) bad(at, `"metadataEncoding" must be one of ${CATALOG_ENCODINGS.join(', ')} (got ${JSON.stringify(c.metadataEncoding)})`);
    }
    const spec: CollectionSpec = { id: c.id, title: c.title, source: c.source, path };
    if (c.metadata !== undefined) spec.metadata = c.metadata as string;
    if (c.metadataEncoding !== undefined) spec.metadataEncoding = c.metadataEncoding as string;
    if (c.type !== undefined) spec.type = c.type as string;
    if (c.language !== undefined) spec.language = c.language as string;
    return spec;
  });
  return { bundle: { id: b.id, title: b.title, version: version as number }, collections };
}

const RESOURCE_KEYS = ['title', 'creator', 'type', 'language', 'date', 'description'] as const;

/** One metadata record (a CSV row or a JSON Lines object) into a ResourceSpec. */
export function resourceSpecFrom(record: Record<string, unknown>, where: string): ResourceSpec {
  // a JSON Lines line is any JSON value: `null`, an array or a string is no record
  if (typeof record !== 'object' || record === null || Array.isArray(record)) bad(where, 'must be a JSON object with id, title and files', 'every metadata record needs id, title and files');
  const id = record.id;
  if (typeof id !== 'string' || !id.trim()) bad(where, 'needs an "id" (the resource identifier, e.g. a CDOI)', 'every metadata record needs id, title and files');
  const title = record.title;
  if (typeof title !== 'string' || !title.trim()) bad(where, `resource "${id}" needs a "title"`, 'every metadata record needs id, title and files');
  let files = record.files;
  if (typeof files === 'string') files = files.split(';').map((f) => f.trim()).filter(Boolean);
  if (!Array.isArray(files) || files.length === 0 || files.some((f) => typeof f !== 'string')) {
    bad(where, `resource "${id}" needs "files": paths relative to the collection folder, separated by ";" in CSV`);
  }
  const spec: ResourceSpec = { id: id.trim(), title: title.trim(), files: (files as string[]).map(catalogFilePath) };
  for (const k of RESOURCE_KEYS) {
    const v = record[k];
    if (k !== 'title' && typeof v === 'string' && v.trim()) spec[k] = v.trim();
  }
  return spec;
}

/**
 * A catalog's file path as the bundle spells paths: NFC, "/" between folders (a sheet typed on
 * Windows may use "\\", which no bundle name can hold), no "./" before it and no "/" after it.
 */
export function catalogFilePath(f: string): string {
  return f.normalize('NFC').replace(/\\/g, '/').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
}
