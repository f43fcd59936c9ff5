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

export class BookcrateError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; details?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BookcrateError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
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
export function writeError(e: unknown, path: string, words: { full: string; fullHint: string; ioHint: string }): Error {
  if (e instanceof BookcrateError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new BookcrateError('NO_SPACE', words.full, { hint: words.fullHint, cause: e });
  return new BookcrateError('IO', `cannot write ${path}: ${(e as Error).message}`, { hint: words.ioHint, cause: e });
}
