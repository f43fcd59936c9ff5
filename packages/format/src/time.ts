/**
 * A catalog time (UTC, ISO) as the librarian reads the PC's clock: local, to the minute; with
 * `zone`, followed by the offset (a web page may be read on another machine than the server). An
 * ISO time in the catalog is UTC, which is eight hours off on a Chinese PC. Not a time: as given.
 */
export function localTime(iso: string, opts: { zone?: boolean } = {}): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number): string => String(n).padStart(2, '0');
  const text = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
  if (!opts.zone) return text;
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'UTC' : `UTC${off > 0 ? '+' : '-'}${Math.floor(Math.abs(off) / 60)}${Math.abs(off) % 60 ? `:${two(Math.abs(off) % 60)}` : ''}`;
  return `${text} ${zone}`;
}
