-- bookcrate local library store, schema 3: a library that carries only some collections
-- (`bookcrate import --only`, docs/store.md "Carried collections").

-- The collections a library carries, per bundle. No row for a bundle: it carries all of them.
-- `import --only` adds to the list, `import --all` empties it; the list holds for every version
-- of the bundle, from disks and from the network alike.
CREATE TABLE carried_collections (
  bundle_id   TEXT NOT NULL,
  collection  TEXT NOT NULL,
  PRIMARY KEY (bundle_id, collection)
) WITHOUT ROWID;

-- Whether a collection, and a file (by the folder of its collection), is carried. Only carried
-- files are awaited (a version is complete without the others), fetched by the mirror, counted
-- by `status`; only carried collections and their resources are shown by `serve`. A file that is
-- not carried stays 'pending'.
ALTER TABLE collections ADD COLUMN carried INTEGER NOT NULL DEFAULT 1;
ALTER TABLE files ADD COLUMN carried INTEGER NOT NULL DEFAULT 1;
