import type { ErrorCode } from '@bookcrate/format';

/** The one map from error codes to process exit codes. Documented in `bookcrate --help`. */
export const EXIT = {
  OK: 0,
  DAMAGE: 1, // verification found damaged, missing or malformed content
  USAGE: 2, // wrong flags or arguments, bad recipe, a resume that does not match
  SIGNATURE: 3, // signature invalid, or signed by a key that is not trusted
  ENVIRONMENT: 4, // unreadable or unwritable disk, permission, full target
  REFUSED: 5, // the source cannot be packed as it is: unportable names, files changing while read
  BUSY: 6, // another bookcrate is writing to the same store
  PIPE_CLOSED: 141, // stdout's reader went away (`bookcrate … | head`); 128 + SIGPIPE, as a shell shows a program SIGPIPE ended
  INTERNAL: 70,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'DAMAGED':
    case 'FORMAT':
      return EXIT.DAMAGE;
    case 'USAGE':
    case 'RECIPE':
    case 'RESUME_MISMATCH':
      return EXIT.USAGE;
    case 'SIGNATURE':
    case 'STALE':
    case 'UNTRUSTED':
      return EXIT.SIGNATURE;
    case 'BUSY':
      return EXIT.BUSY;
    case 'IO':
    case 'NO_SPACE':
      return EXIT.ENVIRONMENT;
    case 'NAME_POLICY':
    case 'SOURCE_CHANGED':
      return EXIT.REFUSED;
    default:
      return EXIT.INTERNAL;
  }
}

export const EXIT_HELP = `
Exit codes:
  0   all good
  1   damage found: a file, segment or manifest does not match what was signed
  2   usage error: a wrong flag or argument, a bad recipe, a resume with other arguments
  3   signature invalid, signed by a key that is not trusted, older than the version held,
      or an expired pointer (mirror)
  4   environment error: a disk that cannot be read or written, or a full target
  5   refused: names that cannot be packed portably, or a source file that changed while read
  6   busy: another bookcrate is writing to the same store (retry, or use --wait)
  141 the program reading the output stopped (e.g. '| head'), so the command stopped too (an
      interrupted pack or import continues when run again)
  70  internal error (a bug: please report it with the output)`;
