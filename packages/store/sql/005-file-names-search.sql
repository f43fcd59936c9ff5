-- bookcrate local library store, schema 5: search finds a resource by the names of its files
-- (docs/store.md, "Reading"). A folder of old photos is one resource titled by the folder; a
-- reader looking for 天安门 needs the photo named 天安门广场 1958.jpg, and a course's episodes are
-- named for what each one teaches.
--
-- `resource_names` holds, per resource, the words of its files' paths that its title lacks: each
-- path component below the collection's folder (a file's without its extension), each once, one a
-- line (bookcrate_search_names in db.ts). A resource whose files add nothing (a file that is its own
-- resource, named as titled) has no row. The table is what LIKE reads for the short words.
CREATE TABLE resource_names (
  rowid       INTEGER PRIMARY KEY,       -- resources.rowid
  names       TEXT NOT NULL
);

-- The index over titles, creators, descriptions and now those names: contentless (its text is in
-- resources and resource_names), with deletes by rowid, so one trigger keeps it and the names in
-- step with the resources; rows are added by Store.addVersion, a batch of resources at a time.
DROP TRIGGER resources_ai;
DROP TRIGGER resources_ad;
DROP TABLE resources_fts;
CREATE VIRTUAL TABLE resources_fts USING fts5 (
  title, creator, description, names,
  content = '', contentless_delete = 1, tokenize = 'trigram'
);
CREATE TRIGGER resources_ad AFTER DELETE ON resources BEGIN
  DELETE FROM resources_fts WHERE rowid = old.rowid;
  DELETE FROM resource_names WHERE rowid = old.rowid;
END;

-- The resources already in the store get their names now (the first import or mirror round after
-- the upgrade does this once: 2.7 s for a million files in 109,000 resources, docs/performance.md run BE).
-- (The index is named because SQLite would otherwise read all of a version's files for each
-- resource; MATERIALIZED because it would otherwise run the subquery again for the WHERE.)
WITH every AS MATERIALIZED (
  SELECT r.rowid AS rowid, (SELECT bookcrate_search_names(f.path, r.title) FROM files f INDEXED BY files_by_resource
                            WHERE f.version_id = r.version_id AND f.resource = r.id) AS names
  FROM resources r
)
INSERT INTO resource_names (rowid, names) SELECT rowid, names FROM every WHERE names IS NOT NULL;
INSERT INTO resources_fts (rowid, title, creator, description, names)
  SELECT r.rowid, r.title, r.creator, r.description, n.names
  FROM resources r LEFT JOIN resource_names n ON n.rowid = r.rowid;
