import { BookcrateError } from './errors.js';

/**
 * RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines; a UTF-8 BOM (as Excel on
 * Chinese Windows writes) is ignored. Returns records as objects keyed by the header row.
 */
export function parseCsv(text: string, where: string): Record<string, string>[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  let line = 1;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field === '') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
      line++;
    } else field += c;
    i++;
  }
  if (quoted) throw new BookcrateError('RECIPE', `${where}: a quoted field is not closed (line ${line})`, { hint: 'close the field with a double quote' });
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  const header = rows.shift();
  if (!header) return [];
  const keys = header.map((h) => h.trim());
  return rows.map((r, n) => {
    if (r.length !== keys.length) {
      throw new BookcrateError('RECIPE', `${where}: record ${n + 1} has ${r.length} fields, the header has ${keys.length}`, {
        hint: 'quote fields that contain commas, e.g. "Zhang San, Li Si"',
      });
    }
    const o: Record<string, string> = {};
    keys.forEach((k, j) => (o[k] = r[j]!));
    return o;
  });
}
