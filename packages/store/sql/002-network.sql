-- bookcrate local library store, schema 2: what the mirror daemon needs (docs/repository.md, docs/store.md).

-- Where a version came from: 'disk' (bookcrate import) or 'network' (bookcrate mirror). A network
-- version has no volumes; its files' `volume` is 0.
ALTER TABLE versions ADD COLUMN origin TEXT NOT NULL DEFAULT 'disk' CHECK (origin IN ('disk', 'network'));

-- The newest verified pointer (latest.json bytes, exactly as signed) per bundle version. A mirror
-- serves the one of its current version to the tier below; renewed pointers replace older ones.
CREATE TABLE pointers (
  bundle_id   TEXT NOT NULL,
  version     INTEGER NOT NULL,
  issued      TEXT NOT NULL,
  expires     TEXT NOT NULL,
  bytes       BLOB NOT NULL,
  fetched_at  TEXT NOT NULL,
  PRIMARY KEY (bundle_id, version)
) WITHOUT ROWID;

-- One row per mirror round, for `status`, the status endpoint and the logs.
CREATE TABLE mirror_rounds (
  id          INTEGER PRIMARY KEY,
  upstream    TEXT NOT NULL,
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  outcome     TEXT,                      -- up-to-date | updated | repaired | refused | failed | aborted
  version     INTEGER,
  bytes       INTEGER NOT NULL DEFAULT 0, -- bytes received from the upstream
  objects     INTEGER NOT NULL DEFAULT 0, -- objects admitted
  report      TEXT                       -- the round's report, JSON
);

-- Objects no version uses any more, and since when: they are deleted once the retention period
-- has passed (a version switch back, or a slow reader, still finds them until then).
CREATE TABLE gc_candidates (
  sha256      TEXT PRIMARY KEY,
  since       TEXT NOT NULL
) WITHOUT ROWID;
