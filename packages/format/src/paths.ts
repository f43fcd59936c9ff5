import { BookcrateError } from './errors.js';

/**
 * Bundle paths are relative, '/'-separated, NFC-normalised Unicode, with no empty, '.' or '..'
 * component, no backslash and no control character. Everything a reader does with a path starts
 * by passing it through `assertBundlePath`, so a hostile manifest cannot name a place outside the
 * target directory.
 */
/**
 * Characters that need no closer look: printable ASCII but the backslash, CJK symbols and
 * punctuation, CJK unified ideographs, fullwidth ASCII forms. NFC maps none of them to anything else
 * (the CJK compatibility ideographs, which it does map, are not in these ranges).
 */
const COMMON_CHARS = /^[\x20-\x5b\x5d-\x7e\u3000-\u303f\u4e00-\u9fff\uff01-\uff5e]+$/;

export function bundlePathProblem(path: string): string | undefined {
  if (typeof path !== 'string' || path.length === 0) return 'is empty';
  if (path.length > 4096) return 'is longer than 4096 characters';
  if (path.startsWith('/')) return 'is absolute';
  if (/^[A-Za-z]:/.test(path)) return 'starts with a drive letter';
  // Most paths are printable ASCII and common CJK, which NFC leaves as they are: one regular
  // expression clears them of the character checks below (a manifest has millions of paths).
  if (!COMMON_CHARS.test(path)) {
    if (path.includes('\\')) return 'contains a backslash';
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f\x7f]/.test(path)) return 'contains a control character';
    if (path.normalize('NFC') !== path) return 'is not NFC-normalised';
    if (/[\uD800-\uDFFF]/.test(path.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) return 'contains a lone surrogate';
  }
  // Component by component, in place: a split would make a string of each, for every path checked.
  for (let start = 0; ; ) {
    const slash = path.indexOf('/', start);
    const end = slash < 0 ? path.length : slash;
    const len = end - start;
    if (len === 0) return 'has an empty component';
    if (len <= 2 && path.charCodeAt(start) === 0x2e && (len === 1 || path.charCodeAt(start + 1) === 0x2e)) return `has a "${path.slice(start, end)}" component`;
    if (slash < 0) return undefined;
    start = slash + 1;
  }
}

export function assertBundlePath(path: string, where: string): void {
  const problem = bundlePathProblem(path);
  if (problem) {
    throw new BookcrateError('FORMAT', `${where}: path ${JSON.stringify(path)} ${problem}`, {
      hint: 'the manifest is malformed or hostile; do not use this volume, ask the national center for a new one',
    });
  }
}

/**
 * The canonical order of bundle paths: component by component, each compared by Unicode code point.
 * It is the order of a depth-first walk that sorts each directory's names, so a packer can emit
 * files in manifest order while walking, without sorting the whole list in memory.
 */
export function compareBundlePaths(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeOrder(x) - codeOrder(y);
  }
  return a.length - b.length;
}

function codeOrder(u: number): number {
  if (u === 0x2f) return -1; // '/' ends a component: a component sorts before its extensions
  // Map UTF-16 units to code point order: surrogates (astral code points) sort after U+E000–U+FFFF.
  if (u >= 0xd800 && u <= 0xdfff) return u + 0x2000;
  if (u >= 0xe000) return u - 0x800;
  return u;
}

/** Compares two identifiers (resource ids) by code point. */
export function compareKeys(a: string, b: string): number {
  return compareBundlePaths(a, b);
}
