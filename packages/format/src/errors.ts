/**
 * One error class for every failure bookcrate reports on purpose. `code` is stable (scripts and the
 * CLI's exit-code map depend on it); `message` says what went wrong and where; `hint` says what to do.
 * Library code never prints and never exits: it throws these, and only the CLI turns them into text
 * and exit codes.
 */
export type ErrorCode =
  | 'USAGE' // a wrong flag, a bad size, an unreadable recipe
  | 'RECIPE' // a recipe or metadata file that does not match its schema
  | 'NAME_POLICY' // names that cannot be packed portably (listed in `details`)
  | 'SOURCE_CHANGED' // a source file changed while it was read
  | 'FORMAT' // a volume, manifest or segment that is not well-formed bookcrate format
  | 'DAMAGED' // content does not match its hash
  | 'SIGNATURE' // signature invalid, or signed by a key that is not trusted
  | 'RESUME_MISMATCH' // a resume journal written by different arguments or a different source
  | 'NO_SPACE' // the target filesystem is full
  | 'BUSY' // another process is writing to the same store
  | 'STALE' // a version older than the one held (rollback), or an expired pointer (freeze)
  | 'UNTRUSTED' // no key is pinned yet and none was confirmed
  | 'IO' // the environment failed us: unreadable disk, permission, missing path
  | 'INTERNAL';

/**
 * The errors a county librarian can meet in `verify`, `import` and `status`, by name: the CLI says
 * them in the librarian's language (its zh table must name every one; the compiler checks). The
 * English `message` and `hint` stay the library's own words, and what --json and scripts see.
 */
export type MessageId =
  | 'no-volume' // args: dir
  | 'inside-volume' // path, volume: a folder or file inside a volume was given
  | 'folder-unreadable' // dir, reason
  | 'no-such-path' // dir: the disk or folder given to verify or import is not there
  | 'not-a-folder' // dir: a file was given where a disk or volume folder is wanted
  | 'volume-file-missing' // what, path
  | 'volume-incomplete' // what, path: a file of a volume (past its volume.json) is missing
  | 'volume-file-unreadable' // what, path, reason
  | 'volume-file-not-a-file' // what, path, and size and max when it is too long: a folder, device or FIFO (or a file far too long) where a volume's file should be
  | 'segment-unreadable' // path, reason: verify cannot go on reading a segment (the disk no longer answers; a bad place is read past)
  | 'volume-unreadable' // path, reason: the disk no longer answers while importing (unplugged, or dead)
  | 'newer-format' // format, reads
  | 'volume-doc-mismatch' // path
  | 'volume-changed' // path: its manifest changed while it was imported
  | 'part-damaged' // list, part
  | 'signature-damaged'
  | 'signed-by-other-key' // key, trusted
  | 'root-changed'
  | 'signature-invalid'
  | 'key-file-unreadable' // path, reason
  | 'not-a-public-key' // where
  | 'private-key-given' // where: a private key where the public one is wanted
  | 'store-trusts-other-key' // pinned, given
  | 'no-key-on-volume' // path
  | 'key-not-confirmed' // fingerprint
  | 'older-version' // title, version, newest
  | 'version-conflict' // title, version
  | 'unknown-collection' // names, collections
  | 'store-busy' // what, pid, host, since
  | 'store-unusable' // path, reason: cannot create or open a folder, the lock or the catalog
  | 'not-a-store' // dir
  | 'no-such-store' // dir: --store names a folder that is not there (status, serve)
  | 'no-such-import' // n: status --import names no import run of the store
  | 'inside-store' // dir, store: a folder inside a store was given as --store
  | 'listen-not-host-port' // listen: serve's --listen is not host:port
  | 'listen-port-in-use' // address
  | 'listen-failed' // address, reason: not an address of this PC, or not allowed
  | 'bad-base-path' // path: serve's --base-path is not a path like /library
  | 'catalog-damaged' // path, reason: SQLite says the store's catalog is corrupt or not a database
  | 'catalog-io' // path, reason: SQLite could not read or write the catalog (a disk fault)
  | 'catalog-missing' // dir: a store's folders are there, its catalog.sqlite is not
  | 'catalog-sound' // path: check --rebuild-catalog of a catalog SQLite finds nothing wrong in
  | 'rebuild-no-key' // dir: check --rebuild-catalog has no trusted key to check the kept roots with
  | 'bad-trust-proxy' // address: serve's --trust-proxy is not an IP address
  | 'store-read-only' // path: the store's disk is mounted read-only
  | 'store-not-empty' // dir, names, suggestion: a new store asked for in a folder that holds other things
  | 'store-newer-schema' // schema, known
  | 'store-full' // path
  | 'store-too-small' // free, need, files, short
  | 'store-too-small-copies' // free, need, files, short: the same where the readers' tree holds copies
  | 'store-write-failed' // path, reason
  | 'file-too-large'; // path: EFBIG, a file past the filesystem's largest (FAT32)

/** A MessageId with the values its words mention. */
export interface Say {
  id: MessageId;
  args?: Record<string, string | number>;
}

export class BookcrateError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: unknown;
  /** set where the librarian may meet this error: the CLI words it in their language */
  readonly say: Say | undefined;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; details?: unknown; say?: Say } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BookcrateError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
    this.say = opts.say;
  }
}

export function isBookcrateError(e: unknown, code?: ErrorCode): e is BookcrateError {
  return e instanceof BookcrateError && (code === undefined || e.code === code);
}

/**
 * A failed write becomes an error that says what to do next: a full disk (ENOSPC, EDQUOT) is
 * NO_SPACE, anything else IO. Each writer (pack's targets, the store, a repository, a mirror's
 * downloads) supplies its own words, because the way out differs.
 */
export function writeError(e: unknown, path: string, words: { full: string; fullHint: string; ioHint: string; say?: { full: MessageId; io: MessageId } }): Error {
  if (e instanceof BookcrateError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const reason = (e as Error).message;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new BookcrateError('NO_SPACE', words.full, { hint: words.fullHint, cause: e, ...(words.say ? { say: { id: words.say.full, args: { path } } } : {}) });
  // A file past what the disk's filesystem holds: FAT32's 4 GiB − 1 byte, a video on a USB disk
  // formatted as it came. Not a fault of the disk, and not a question of room.
  if (code === 'EFBIG') {
    return new BookcrateError('IO', `cannot write ${path}: the file is larger than this disk's filesystem allows (FAT32 holds no file over 4 GiB − 1 byte)`, {
      hint: 'use a disk formatted as NTFS, exFAT or ext4', cause: e, say: { id: 'file-too-large', args: { path } },
    });
  }
  return new BookcrateError('IO', `cannot write ${path}: ${reason}`, { hint: words.ioHint, cause: e, ...(words.say ? { say: { id: words.say.io, args: { path, reason } } } : {}) });
}

/**
 * An error as plain data, to cross from a worker thread to the thread that started it: structured
 * cloning would keep an Error's message but not its class, so the CLI could no longer tell a
 * damaged disk from a crash, nor word the error in the librarian's language.
 */
export interface ErrorData {
  /** absent for an error that is not a BookcrateError (a bug): it stays a plain Error */
  code?: ErrorCode;
  message: string;
  hint?: string;
  say?: Say;
  /** crosses where it is plain data (a list of names, of problems); anything else is left behind */
  details?: unknown;
  stack?: string;
}

export function errorToData(e: unknown): ErrorData {
  const err = e instanceof Error ? e : new Error(String(e));
  const data: ErrorData = { message: err.message };
  if (err.stack !== undefined) data.stack = err.stack;
  if (e instanceof BookcrateError) {
    data.code = e.code;
    if (e.hint !== undefined) data.hint = e.hint;
    if (e.say !== undefined) data.say = e.say;
    if (e.details !== undefined) {
      try {
        data.details = structuredClone(e.details);
      } catch {
        // not plain data: left behind, the message and hint still say what happened
      }
    }
  }
  return data;
}

/** The error errorToData described, as the same class with the same code, words and stack. */
export function errorFromData(d: ErrorData): Error {
  const e = d.code ? new BookcrateError(d.code, d.message, { hint: d.hint, say: d.say, details: d.details }) : new Error(d.message);
  if (d.stack) e.stack = d.stack;
  return e;
}
