-- bookcrate local library store, schema 1 (docs/store.md).
-- One database per store. Objects live on disk under objects/<2 hex>/<sha256>; this catalog says
-- which versions, files and resources exist, which objects are durable, and what each import did.

-- The center's public keys this store trusts. The first import pins one; later volumes signed by
-- any other key are refused.
CREATE TABLE trusted_keys (
  fingerprint TEXT PRIMARY KEY,          -- SHA-256 of the raw Ed25519 key, hex
  pem         TEXT NOT NULL,
  source      TEXT NOT NULL,             -- 'trust-flag' | 'disk-confirmed' | 'disk-yes' | 'mirror'
  pinned_at   TEXT NOT NULL
);

-- One row per bundle version seen (from any volume of its set).
CREATE TABLE versions (
  id          INTEGER PRIMARY KEY,
  bundle_id   TEXT NOT NULL,
  version     INTEGER NOT NULL,
  set_id      TEXT NOT NULL,
  title       TEXT NOT NULL,
  created     TEXT NOT NULL,
  root_sha256 TEXT NOT NULL,
  root_json   BLOB NOT NULL,             -- the signed root bytes, kept so the version can be re-verified
  root_sig    BLOB NOT NULL,
  volumes     INTEGER NOT NULL,
  files       INTEGER NOT NULL,
  bytes       INTEGER NOT NULL,
  -- 'importing': some volumes are still awaited; 'complete': every file is present or recorded as
  -- damaged; only complete versions are ever shown to readers.
  state       TEXT NOT NULL CHECK (state IN ('importing', 'complete')),
  is_current  INTEGER NOT NULL DEFAULT 0, -- the version readers see (one per bundle)
  completed_at TEXT,
  UNIQUE (bundle_id, version)
);

CREATE TABLE volumes (
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  volume      INTEGER NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('importing', 'done')),
  imported_at TEXT,
  PRIMARY KEY (version_id, volume)
) WITHOUT ROWID;

CREATE TABLE collections (
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  id          TEXT NOT NULL,
  title       TEXT NOT NULL,
  path        TEXT NOT NULL,
  files       INTEGER NOT NULL,
  bytes       INTEGER NOT NULL,
  position    INTEGER NOT NULL,
  PRIMARY KEY (version_id, id)
) WITHOUT ROWID;

-- Resources keep a rowid so the full-text index can point at them.
CREATE TABLE resources (
  rowid       INTEGER PRIMARY KEY,
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  id          TEXT NOT NULL,
  collection  TEXT NOT NULL,
  title       TEXT NOT NULL,
  creator     TEXT,
  type        TEXT,
  language    TEXT,
  date        TEXT,
  description TEXT,
  UNIQUE (version_id, id)
);
CREATE INDEX resources_by_collection ON resources (version_id, collection, title);

-- Trigram tokens find any substring of three or more characters, which suits Chinese titles
-- (no word boundaries); shorter queries fall back to LIKE (see catalog.ts).
CREATE VIRTUAL TABLE resources_fts USING fts5 (
  title, creator, description,
  content = 'resources', content_rowid = 'rowid', tokenize = 'trigram'
);
CREATE TRIGGER resources_ai AFTER INSERT ON resources BEGIN
  INSERT INTO resources_fts (rowid, title, creator, description) VALUES (new.rowid, new.title, new.creator, new.description);
END;
CREATE TRIGGER resources_ad AFTER DELETE ON resources BEGIN
  INSERT INTO resources_fts (resources_fts, rowid, title, creator, description) VALUES ('delete', old.rowid, old.title, old.creator, old.description);
END;

-- Every file of every version. state: 'pending' (its volume is not imported yet), 'present'
-- (its object is durable in the store), 'damaged' (the disk copy was bad; see damaged).
CREATE TABLE files (
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  path        TEXT NOT NULL,
  type        TEXT NOT NULL CHECK (type IN ('file', 'dir')),
  size        INTEGER NOT NULL,
  mtime       INTEGER NOT NULL,
  sha256      TEXT,
  xxh64       TEXT,
  resource    TEXT,
  volume      INTEGER NOT NULL,          -- the volume that holds its first byte
  state       TEXT NOT NULL CHECK (state IN ('pending', 'present', 'damaged')),
  PRIMARY KEY (version_id, path)
) WITHOUT ROWID;
CREATE INDEX files_by_resource ON files (version_id, resource);
CREATE INDEX files_by_sha ON files (sha256);

-- Objects whose bytes are durable (written, synced, renamed, then recorded here in one transaction
-- with the segment that brought them). An object file without a row here is not trusted.
CREATE TABLE objects (
  sha256      TEXT PRIMARY KEY,
  size        INTEGER NOT NULL,
  added_at    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE imports (
  id          INTEGER PRIMARY KEY,
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  volume      INTEGER NOT NULL,
  source      TEXT NOT NULL,
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
  report      TEXT                       -- the final report, JSON
);

-- The import journal: a segment is recorded here in the same transaction as the files and objects
-- it brought in, so a resumed import skips exactly the finished segments.
CREATE TABLE import_segments (
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  segment     INTEGER NOT NULL,
  done_at     TEXT NOT NULL,
  PRIMARY KEY (version_id, segment)
) WITHOUT ROWID;

-- Files that could not be imported from disk, for the report, `status`, and the mirror to fetch.
CREATE TABLE damaged (
  version_id  INTEGER NOT NULL REFERENCES versions(id),
  path        TEXT NOT NULL,
  sha256      TEXT,
  reason      TEXT NOT NULL,             -- 'hash' | 'missing' | 'header'
  detail      TEXT NOT NULL,
  import_id   INTEGER,
  PRIMARY KEY (version_id, path)
) WITHOUT ROWID;
