-- bookcrate local library store, schema 6: what a version brings (docs/store.md, "Reading").
-- Libraries tell their readers what has newly arrived (新到资源); a county whose store the mirror
-- keeps current gets a new version every few weeks, and its readers cannot tell what it added.

-- The resources of a version that the version readers had when it arrived lacked (by resource id),
-- found once by Store.addVersion; `serve` lists them, a page at a time, in the resources' order.
CREATE TABLE new_resources (
  version_id  INTEGER NOT NULL,
  rowid       INTEGER NOT NULL,          -- resources.rowid
  PRIMARY KEY (version_id, rowid)
) WITHOUT ROWID;

-- The version number the new resources were found against; NULL: none (the bundle's first version
-- in this store, or one added before schema 6), and then nothing is listed as new.
ALTER TABLE versions ADD COLUMN compared_with INTEGER;
