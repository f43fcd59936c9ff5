-- bookcrate local library store, schema 7: what a version changed in the resources readers
-- already had (docs/store.md, "Reading"). A course gains an episode, a comic series a volume, a
-- photo folder its newly scanned pictures: the resource keeps its id, so schema 6 did not list it,
-- and its readers could not tell that there was anything new to watch.

-- The resources of a version that the version readers had when it arrived also had (by id), and
-- in which at least one file is new or changed: a path that version lacked, or the same path with
-- other content. `files` counts those files. A resource that only lost files is not listed: there is
-- nothing new in it to see. Found once by Store.addVersion, against the version in
-- versions.compared_with.
CREATE TABLE updated_resources (
  version_id  INTEGER NOT NULL,
  rowid       INTEGER NOT NULL,          -- resources.rowid
  files       INTEGER NOT NULL,
  PRIMARY KEY (version_id, rowid)
) WITHOUT ROWID;

-- Those files, by path, so that a resource's page can mark them (新); only for the resources above:
-- every file of a new resource is new, and marking each would say nothing.
CREATE TABLE updated_files (
  version_id  INTEGER NOT NULL,
  path        TEXT NOT NULL,             -- files.path
  PRIMARY KEY (version_id, path)
) WITHOUT ROWID;
