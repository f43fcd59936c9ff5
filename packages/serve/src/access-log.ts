import { open, type FileHandle } from 'node:fs/promises';
import { BookcrateError } from '@bookcrate/format';

/**
 * `serve --access-log <file>`: one line per request in the Combined Log Format that Apache and
 * nginx write, so the county's own tools read it (GoAccess, AWStats, a spreadsheet) and the
 * programme can be told what readers open. Off unless asked for: it holds readers' addresses,
 * which the library's rules may not let it keep.
 */

export interface AccessEntry {
  /** the reader's address (behind a trusted proxy, the one X-Forwarded-For names) */
  client: string;
  time: Date;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  /** bytes sent on the connection for this response, headers included (as nginx's $bytes_sent) */
  bytes: number;
  referer?: string | undefined;
  userAgent?: string | undefined;
}

/** What Node's HTTP server answers, on its own, to bytes that do not parse (its socketOnError). */
function parserAnswer(code: string | undefined): number | undefined {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return 413;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return code?.startsWith('HPE_') ? 400 : undefined;
}

/**
 * The status a line records for an answer that closed. Where nothing was sent, the reader left
 * before the answer began: 499, nginx's "client closed request". Where bytes after the request
 * did not parse, Node's HTTP server wrote its own answer (400, or 431, 413, 408) in place of the
 * handler's and closed the connection: that status, which is what the reader got (the handler's
 * went into a closed socket). Otherwise the handler's.
 */
export function loggedStatus(handlerStatus: number, bytesSent: number, socketErrorCode: string | undefined): number {
  if (bytesSent === 0) return 499;
  return parserAnswer(socketErrorCode) ?? handlerStatus;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** `10/Oct/2026:13:55:36 +0800`: the server's local time with its offset, as the format has it. */
export function logTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

/** A quoted field's text: `"`, `\` and control bytes as `\xHH`, as nginx writes them, so a line stays one line. */
function field(s: string | undefined): string {
  if (s === undefined || s === '') return '-';
  return s.replace(/["\\\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}

/** One line of the Combined Log Format (no newline). */
export function combinedLine(e: AccessEntry): string {
  return `${e.client} - - [${logTime(e.time)}] "${field(e.method)} ${field(e.url)} HTTP/${field(e.httpVersion)}" ${e.status} ${e.bytes} "${field(e.referer)}" "${field(e.userAgent)}"`;
}

export class AccessLog {
  private pending = '';
  private writing: Promise<void> = Promise.resolve();
  private failed = false;

  private constructor(private readonly fh: FileHandle, readonly path: string, private readonly onError: (line: string) => void) {}

  /** Opens (appending to) the log: a path that cannot be written to stops `serve` before it listens. */
  static async open(path: string, onError: (line: string) => void = () => undefined): Promise<AccessLog> {
    try {
      return new AccessLog(await open(path, 'a'), path, onError);
    } catch (e) {
      throw new BookcrateError('USAGE', `cannot write the access log ${path}: ${(e as Error).message}`, {
        hint: 'give --access-log a file in a folder that exists and that this user may write to', cause: e,
      });
    }
  }

  /**
   * Adds a line. Lines are appended in batches (one write for those that came while the last was
   * under way): a busy reading room's requests cost no write each. A failing disk is said once in
   * the server's log, and the readers are served on.
   */
  write(e: AccessEntry): void {
    if (this.failed) return;
    this.pending += combinedLine(e) + '\n';
    this.writing = this.writing.then(() => this.flush());
  }

  private async flush(): Promise<void> {
    if (!this.pending || this.failed) return;
    const text = this.pending;
    this.pending = '';
    try {
      await this.fh.appendFile(text, 'utf8');
    } catch (e) {
      this.failed = true;
      this.onError(`serve: the access log ${this.path} cannot be written (${(e as Error).message}); requests are no longer logged`);
    }
  }

  async close(): Promise<void> {
    await this.writing;
    await this.flush();
    await this.fh.close();
  }
}
