import type { DB } from './db.js';

/**
 * Text of names one resource's row of `resource_names` may hold. A folder of 100,000 photos is one
 * derived resource; past this its later names are not searchable, and the row stays a size a page
 * of search results reads at once.
 */
export const SEARCH_NAMES_MAX = 256 * 1024;

/**
 * The words a resource's files add to its title, for the search (docs/store.md, "Reading"): each
 * component of each path below the collection's folder, a file's without its extension, once each,
 * in path order, one a line; those the title already holds (case aside) left out. `null` when
 * nothing is left: a file that is its own resource, named as it is titled.
 */
export class SearchNames {
  private readonly seen = new Set<string>();
  private length = 0;
  private readonly title: string;

  constructor(title: string) {
    this.title = title.toLowerCase();
  }

  add(path: string): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      let name = parts[i]!;
      if (i === parts.length - 1) {
        const dot = name.lastIndexOf('.');
        if (dot > 0) name = name.slice(0, dot);
      }
      name = name.trim();
      if (name === '' || this.seen.has(name) || this.title.includes(name.toLowerCase())) continue;
      if (this.length + name.length + 1 > SEARCH_NAMES_MAX) return;
      this.seen.add(name);
      this.length += name.length + 1;
    }
  }

  result(): string | null {
    return this.seen.size === 0 ? null : [...this.seen].join('\n');
  }
}

/**
 * `bookcrate_search_names(path, title)`: SearchNames as an SQL aggregate over a resource's files,
 * for Store.addVersion and the migration that brought the names in (sql/005-file-names-search.sql).
 */
export function registerSearchNames(db: DB): void {
  const step = (acc: SearchNames | null, path: unknown, title: unknown): SearchNames => {
    const names = acc ?? new SearchNames(typeof title === 'string' ? title : '');
    if (typeof path === 'string') names.add(path);
    return names;
  };
  db.aggregate('bookcrate_search_names', {
    start: () => null,
    // The typings know steps of one argument only; better-sqlite3 passes every SQL argument.
    step: step as unknown as (acc: unknown, next: unknown) => unknown,
    result: (acc: unknown) => (acc as SearchNames | null)?.result() ?? null,
  });
}
