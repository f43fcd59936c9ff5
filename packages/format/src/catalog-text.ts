import { isUtf8 } from 'node:buffer';
import { BookcrateError } from './errors.js';

/**
 * The encodings a recipe's catalog file may be read in (`metadataEncoding`). UTF-8 is the default;
 * GB18030 is what Excel on a Chinese Windows writes when a sheet is saved as plain "CSV (逗号分隔)",
 * and it contains GBK and GB2312, so their names are accepted for it.
 */
const ENCODINGS: Record<string, 'utf-8' | 'gb18030'> = {
  'utf-8': 'utf-8', utf8: 'utf-8',
  gb18030: 'gb18030', gbk: 'gb18030', gb2312: 'gb18030', cp936: 'gb18030',
};

export const CATALOG_ENCODINGS = Object.keys(ENCODINGS);

/** The canonical name of a catalog encoding, or undefined for one bookcrate does not read. */
export function catalogEncoding(name: string): 'utf-8' | 'gb18030' | undefined {
  const key = name.toLowerCase();
  return Object.prototype.hasOwnProperty.call(ENCODINGS, key) ? ENCODINGS[key] : undefined; // not "constructor"
}

/**
 * A catalog file's bytes as text, refusing rather than guessing: a file that is not valid in its
 * encoding stops the pack with the line where it goes wrong. Decoding leniently would put U+FFFD
 * (or worse, the wrong characters) into titles that are signed and shipped to every county, where
 * no one can correct them. When a file said to be UTF-8 is not, the error shows that line read as
 * GB18030, so the center can see at once whether that is what the file is.
 */
export function decodeCatalogText(
  bytes: Uint8Array, where: string, encodingName = 'utf-8',
  /** where `bytes` start in the file, when they are a block of it (whole lines): errors name the file's line and offset */
  block: { line: number; offset: number } = { line: 1, offset: 0 },
): string {
  const encoding = catalogEncoding(encodingName);
  if (!encoding) {
    throw new BookcrateError('RECIPE', `${where}: the encoding "${encodingName}" is not one bookcrate reads`, {
      hint: `give "metadataEncoding" as one of ${CATALOG_ENCODINGS.join(', ')}`,
    });
  }
  if (encoding === 'utf-8') {
    if (isUtf8(bytes)) {
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
      return text.charCodeAt(0) === 0xfeff && block.offset === 0 ? text.slice(1) : text;
    }
    const at = firstInvalidUtf8(bytes);
    const { line, start, end } = lineAround(bytes, at);
    const asGb = tryDecode('gb18030', bytes.subarray(start, end));
    throw new BookcrateError('RECIPE', `${where} is not UTF-8: line ${line + block.line - 1} has the byte 0x${bytes[at]!.toString(16).padStart(2, '0')} at offset ${at + block.offset}`
      + (asGb !== undefined ? `; read as GB18030 (GBK) that line is: ${asGb.slice(0, 120)}` : ''), {
      hint: asGb !== undefined
        ? 'if that reads right, the file is GBK, as Excel saves "CSV (逗号分隔)": add "metadataEncoding": "gb18030" to this collection in the recipe, or save the sheet as "CSV UTF-8 (逗号分隔)"'
        : 'save the file as UTF-8 (in Excel: "CSV UTF-8 (逗号分隔)")',
    });
  }
  try {
    return new TextDecoder(encoding, { fatal: true }).decode(bytes);
  } catch {
    throw new BookcrateError('RECIPE', `${where} is not valid ${encoding.toUpperCase()}`, {
      hint: 'check "metadataEncoding" in the recipe: leave it out for UTF-8 files',
    });
  }
}

function tryDecode(encoding: string, bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder(encoding, { fatal: true }).decode(bytes).replace(/\r$/, '');
  } catch {
    return undefined;
  }
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // no overlong forms
      if (c === 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f; // nothing past U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** The 1-based line holding byte `at`, and that line's bounds (without its newline). */
function lineAround(b: Uint8Array, at: number): { line: number; start: number; end: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < at; i++) {
    if (b[i] === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  let end = b.indexOf(0x0a, at);
  if (end < 0) end = b.length;
  return { line, start, end };
}
