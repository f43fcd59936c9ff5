-- bookcrate local library store, schema 4: a collection's resources in the order readers expect
-- (docs/store.md, "Reading"). Byte order put 三国演义 第10册 before 第2册; `sort_key` is the title
-- with every run of digits written as its value in 12 digits (resourceSortKey in store.ts), so
-- numbers go by value. Rows from before keep their title as key (the next version replaces them).
ALTER TABLE resources ADD COLUMN sort_key TEXT;
UPDATE resources SET sort_key = title;
DROP INDEX resources_by_collection;
CREATE INDEX resources_by_collection ON resources (version_id, collection, sort_key, title);
