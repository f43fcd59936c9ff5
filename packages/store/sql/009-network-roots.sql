-- Schema 9: the network root of a version the store holds from disks (docs/repository.md section 7,
-- "Serving the tier below"). The two forms of one version have different roots for the same content
-- (the disk's has a layout, the network's its chunks); a mirror filled from disks keeps the network
-- root its upstream's pointer names, once it has checked the signature and that both name the same
-- files, resources and collections, so it serves the tier below on that pointer.
CREATE TABLE network_roots (
  version_id  INTEGER PRIMARY KEY,
  root_sha256 TEXT NOT NULL UNIQUE,
  root_json   BLOB NOT NULL,
  root_sig    BLOB NOT NULL
);
