import type { DB } from '@bookcrate/store';

/**
 * The few read-only queries `serve` needs beyond the Store's methods. They take the catalog
 * connection (opened read-only) and never write.
 */

export interface DamagedRow {
  version_id: number;
  path: string;
  sha256: string | null;
  reason: string;
  detail: string;
}

/** Damaged or missing files of every version, the first `limit`, and how many there are in all. */
export function damagedPage(db: DB, limit: number): { rows: DamagedRow[]; total: number } {
  const rows = db.prepare(`SELECT version_id, path, sha256, reason, detail FROM damaged WHERE ${STILL_NEEDED} ORDER BY version_id DESC, path LIMIT ?`).all(limit) as DamagedRow[];
  const total = (db.prepare(`SELECT count(*) AS n FROM damaged WHERE ${STILL_NEEDED}`).get() as { n: number }).n;
  return { rows, total };
}

/** A damaged file of a version no newer complete version replaces (Store.volumesOf): one still to fetch. */
const STILL_NEEDED = `NOT EXISTS (SELECT 1 FROM versions v JOIN versions n ON n.bundle_id = v.bundle_id AND n.version > v.version AND n.state = 'complete' WHERE v.id = damaged.version_id)`;
