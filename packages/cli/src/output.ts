import { open, rename, rm } from 'node:fs/promises';
import { BookcrateError, isBookcrateError, localTime } from '@bookcrate/format';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { errorText, messages, type Lang } from './i18n.js';

/** Thrown by a command to end with a given exit code after it has printed its own result. */
export class ExitWith extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/**
 * Pads to `width` terminal columns: a Chinese character takes two (a console's East Asian wide
 * characters), so the columns of a damaged-files list line up in Chinese as in English.
 */
export function padColumns(text: string, width: number): string {
  let cols = 0;
  for (const ch of text) cols += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return text + ' '.repeat(Math.max(0, width - cols));
}

/**
 * A report saved for printing (`--report`): the lines the command shows, with every problem listed
 * where the screen shows the first 500. UTF-8 with a byte-order mark and CRLF line ends: Notepad on
 * Windows 7 needs both to show Chinese and the line breaks. Written under a temporary name and
 * renamed, so that a report file is always whole; a folder or disk that cannot take it is an IO
 * error naming the path.
 */
export async function saveReport(path: string, lines: string[]): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const h = await open(tmp, 'w');
    try {
      await h.writeFile('\ufeff' + lines.map((l) => l + '\r\n').join(''));
      await h.sync();
    } finally {
      await h.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new BookcrateError('IO', `cannot save the report to ${path}: ${(e as Error).message}`, {
      hint: 'give --report a file in a folder you can write to, on a disk with room', cause: e,
    });
  }
}

/**
 * `saveReport` for a command that stopped on an error (a disk whose signature is wrong, a key not
 * trusted): the report so far and the error, as the screen words it. A report that cannot be
 * saved then is left: the error is what the librarian needs to see.
 */
export async function saveReportWithError(path: string, lines: string[], e: unknown, lang: Lang, json: boolean): Promise<void> {
  if (!isBookcrateError(e)) return;
  const m = messages(lang);
  const t = errorText(lang, e);
  const saved = await saveReport(path, [...lines, `${m.errorPrefix}${t.message}`, ...t.hints.map((h, i) => `${i === 0 ? m.whatToDo : '    '}${h}`)]).then(() => true, () => false);
  if (saved && !json) process.stdout.write(m.reportSaved(path) + '\n');
}

/** Local time as a report's header shows it: 2026-12-04 13:20 (+08:00). */
export function reportTime(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const two = (n: number) => String(n).padStart(2, '0');
  return `${localTime(d.toISOString())} (${off >= 0 ? '+' : '-'}${two(Math.floor(Math.abs(off) / 60))}:${two(Math.abs(off) % 60)})`;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/**
 * SQLite's own words for a disk fault under the catalog (better-sqlite3's SqliteError codes): a
 * corrupt page, a file that is no database, a read or write the disk refused. Not a bug of
 * bookcrate's, and the librarian needs the way out, not a stack trace.
 */
export function catalogFault(e: unknown): BookcrateError | undefined {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_') || e instanceof BookcrateError) return undefined;
  const reason = (e as Error).message;
  const path = 'catalog.sqlite';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new BookcrateError('IO', `the store's catalog (${path}) is damaged: ${reason}`, {
      hint: 'the store\'s disk may be failing: copy the whole store folder somewhere safe first, then rebuild the catalog from what the store holds: bookcrate check --store <store> --rebuild-catalog (the damaged one is kept)',
      cause: e, say: { id: 'catalog-damaged', args: { path, reason } },
    });
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return new BookcrateError('IO', `cannot read or write the store's catalog (${path}): ${reason}`, {
      hint: 'the store\'s disk gave an error: check the disk and its cable, then run the same command again',
      cause: e, say: { id: 'catalog-io', args: { path, reason } },
    });
  }
  return undefined;
}

/** The one place that turns an error into text and an exit code, in the reader's language. */
export function reportError(e: unknown, json: boolean, lang: Lang = 'en'): number {
  if (e instanceof ExitWith) return e.code;
  const fault = catalogFault(e);
  if (fault) return reportError(fault, json, lang);
  if (isBookcrateError(e)) {
    const code = exitCodeFor(e.code);
    if (json) {
      // English words (scripts parse them), and the message's name and values for a program that words it itself
      printJson({ event: 'error', code: e.code, exitCode: code, message: e.message, hint: e.hint, ...(e.say ? { messageId: e.say.id, args: e.say.args ?? {} } : {}), details: e.details });
    } else {
      const m = messages(lang);
      const t = errorText(lang, e);
      process.stderr.write(`${m.errorPrefix}${t.message}\n`);
      t.hints.forEach((h, i) => process.stderr.write(`${i === 0 ? m.whatToDo : '    '}${h}\n`));
      printDetails(e);
    }
    return code;
  }
  const err = e as Error;
  if (json) printJson({ event: 'error', code: 'INTERNAL', exitCode: EXIT.INTERNAL, message: err?.message ?? String(e) });
  else process.stderr.write(`bookcrate: internal error: ${err?.stack ?? String(e)}\n  what to do: this is a bug; please report it with this output\n`);
  return EXIT.INTERNAL;
}

function printDetails(e: BookcrateError): void {
  const d = e.details as { kept?: { severity: string; kind: string; path: string; detail: string }[] } | undefined;
  if (d?.kept) {
    for (const i of d.kept.filter((x) => x.severity === 'error').slice(0, 200)) process.stderr.write(`  ${i.kind}: ${i.path}: ${i.detail}\n`);
  }
}
