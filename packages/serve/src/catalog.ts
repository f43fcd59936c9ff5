import { kindOf } from './files.js';

// How `serve` orders and names what the Store's methods give it (the catalog's queries are the Store's).

/**
 * The order a reader expects a resource's files in: numbers by their value (第2集 before 第10集,
 * which the catalog's byte order puts after it) and Chinese by pinyin, as a Chinese file manager
 * shows them. The resource page and its zip share it.
 */
const readerCollator = new Intl.Collator('zh-Hans-CN', { numeric: true });
export function inReadersOrder<T extends { path: string }>(files: T[]): T[] {
  return [...files].sort((a, b) => readerCollator.compare(a.path, b.path) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The order of a resource page's files, across all its pages: players first (what a reader came
 * for), then documents, images, text and the rest, each kind in the readers' order.
 */
export function inPageOrder<T extends { path: string }>(files: T[]): T[] {
  return inReadersOrder(files)
    .map((f, i) => ({ f, i, k: KIND_RANK[kindOf(f.path.slice(f.path.lastIndexOf('/') + 1))] ?? 5 }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((x) => x.f);
}

const KIND_RANK: Record<string, number> = { video: 0, audio: 1, pdf: 2, image: 3, text: 4, other: 5 };

/**
 * The names a resource's files take in its zip: their paths below the folder all of them share
 * (a course's episodes as 第1讲.mp4, not 国图公开课/敦煌壁画艺术/第1讲.mp4), in the order given.
 */
export function zipEntryNames(paths: string[]): string[] {
  if (paths.length === 0) return [];
  const dirs = paths.map((p) => p.split('/').slice(0, -1));
  let common = dirs[0]!.length;
  for (const d of dirs) {
    let i = 0;
    while (i < common && d[i] === dirs[0]![i]) i++;
    common = i;
  }
  return paths.map((p) => p.split('/').slice(common).join('/'));
}
