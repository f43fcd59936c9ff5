-- Schema 8: checks of the store's own objects (`bookcrate check`, docs/store.md "Checking the store").
-- Objects are checked in SHA-256 order; `cursor` is the last one checked and committed, so a check
-- stopped after hours (a power cut, Ctrl-C) goes on from there. A bad object is dealt with in the
-- transaction that moves the cursor past it: its files become damaged, its objects row goes.
CREATE TABLE store_checks (
  id          INTEGER PRIMARY KEY,
  mode        TEXT NOT NULL CHECK (mode IN ('full', 'fast')),
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  cursor      TEXT NOT NULL DEFAULT '',
  objects     INTEGER NOT NULL DEFAULT 0,
  bytes       INTEGER NOT NULL DEFAULT 0,
  bad         INTEGER NOT NULL DEFAULT 0,
  report      TEXT                        -- the final report, JSON
);
