/**
 * Name policy (docs/format.md, "Names"). A bundle travels to old Windows PCs, exFAT and NTFS disks
 * and Linux servers; a name that one of them cannot hold must be found at pack time and reported,
 * never dropped silently. Pure functions: the packer feeds raw names (bytes) and sibling lists.
 */
export type NameIssueKind =
  | 'windows-reserved' // CON, PRN, AUX, NUL, COM1–9, LPT1–9, with or without extension
  | 'windows-char' // < > : " \ | ? * or a control character
  | 'trailing-dot-space' // Windows strips them, so two names can become one
  | 'too-long' // a component over 255 UTF-8 bytes (ext4, NTFS and exFAT limits)
  | 'long-path' // a whole path over 240 characters: past Windows' classic MAX_PATH once placed in a store
  | 'case-collision' // siblings equal when case is ignored (NTFS, exFAT, macOS)
  | 'unicode-collision' // siblings equal after NFC normalisation
  | 'nfd-name' // stored in NFD (as macOS writes); normalised to NFC in the bundle
  | 'non-utf8' // the name's bytes are not UTF-8
  | 'symlink' // not followed unless --follow-symlinks
  | 'special-file' // FIFO, socket, device: never packed
  | 'junk' // OS clutter (.DS_Store, Thumbs.db, desktop.ini …), left out by default
  | 'unreadable' // could not be read (permission): never silently skipped
  | 'catalog-unmatched' // a catalog record names a file or folder the source does not have
  | 'source-overlap'; // two collections of a recipe read the same folder, or one inside the other

export type Severity = 'error' | 'warning' | 'info';

export interface NameIssue {
  kind: NameIssueKind;
  severity: Severity;
  path: string; // bundle path (or the source-relative path for names that never made it in)
  detail: string;
}

const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
// eslint-disable-next-line no-control-regex
const WINDOWS_CHARS = /[<>:"\\|?*\x00-\x1f]/;

const JUNK = new Set([
  '.ds_store', 'thumbs.db', 'ehthumbs.db', 'desktop.ini', '.spotlight-v100', '.trashes', '.fseventsd',
  '.temporaryitems', '$recycle.bin', 'system volume information', '.localized', 'icon\r',
]);

export function isJunkName(name: string): boolean {
  return JUNK.has(name.toLowerCase()) || name.startsWith('._');
}

/** Problems of one path component on its own. `unportable` ones are errors unless allowed. */
export function componentIssues(name: string, path: string): NameIssue[] {
  const out: NameIssue[] = [];
  if (RESERVED.test(name)) out.push({ kind: 'windows-reserved', severity: 'error', path, detail: `"${name}" is a reserved device name on Windows` });
  if (WINDOWS_CHARS.test(name)) out.push({ kind: 'windows-char', severity: 'error', path, detail: `"${name}" contains a character Windows forbids (< > : " \\ | ? * or a control character)` });
  if (/[. ]$/.test(name)) out.push({ kind: 'trailing-dot-space', severity: 'error', path, detail: `"${name}" ends with a dot or a space, which Windows removes` });
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > 255) out.push({ kind: 'too-long', severity: 'error', path, detail: `"${name.slice(0, 40)}…" is ${bytes} bytes long; most filesystems hold at most 255` });
  return out;
}

export function pathLengthIssue(path: string): NameIssue | undefined {
  return path.length > 240
    ? { kind: 'long-path', severity: 'warning', path, detail: `the path is ${path.length} characters; old Windows programs stop at 260` }
    : undefined;
}

/**
 * Siblings that would land on one name on a normalising or case-insensitive filesystem. `names`
 * are one directory's decoded names as found on the source (not yet normalised). Returns one
 * issue per colliding name: `unicode-collision` when they are equal after NFC, `case-collision`
 * when they differ only in letter case.
 */
export function siblingCollisions(names: string[], dir: string): NameIssue[] {
  const out: NameIssue[] = [];
  const at = (n: string): string => (dir ? `${dir}/${n.normalize('NFC')}` : n.normalize('NFC'));
  const others = (group: number[], list: string[], n: string): string => group.map((k) => list[k]!).filter((m) => m !== n).map((m) => JSON.stringify(m)).join(', ');
  const nfc = (n: string): string => n.normalize('NFC');
  const unicode = collidingGroups(names, nfc);
  const repeats = new Set<number>();
  for (const g of unicode) {
    for (const k of g) out.push({ kind: 'unicode-collision', severity: 'error', path: at(names[k]!), detail: `is the same name as ${others(g, names, names[k]!)} after Unicode (NFC) normalisation` });
    for (const k of g.slice(1)) repeats.add(k);
  }
  const distinctNfc = repeats.size === 0 ? names : names.filter((_, k) => !repeats.has(k));
  for (const g of collidingGroups(distinctNfc, (n) => nfc(n).toLowerCase())) {
    for (const k of g) out.push({ kind: 'case-collision', severity: 'error', path: at(distinctNfc[k]!), detail: `differs only in letter case from ${others(g, distinctNfc, distinctNfc[k]!)}` });
  }
  return out;
}

/**
 * The groups of two or more items of `list` with one key, as indexes in list order. Two different
 * items share a key only if the key changes at least one of them, so only those are grouped (and
 * the items that are their own key matched against them): a folder of a million names that
 * normalising leaves alone costs a Set of its names, not a Map of a million groups.
 */
function collidingGroups(list: string[], key: (s: string) => string): number[][] {
  const groups = new Map<string, number[]>();
  const add = (k: string, i: number): void => {
    const g = groups.get(k);
    if (g) g.push(i);
    else groups.set(k, [i]);
  };
  const seen = new Set<string>();
  const changed = new Uint8Array(list.length);
  list.forEach((s, i) => {
    const k = key(s);
    if (k !== s) {
      changed[i] = 1;
      add(k, i);
    } else if (seen.has(s)) {
      add(s, i); // the same name twice (two byte sequences that decode alike); its first joins below
    } else {
      seen.add(s);
    }
  });
  if (groups.size === 0) return [];
  list.forEach((s, i) => {
    if (changed[i]) return;
    const g = groups.get(s);
    if (g && !g.includes(i)) g.push(i);
  });
  const out: number[][] = [];
  for (const g of groups.values()) if (g.length > 1) out.push(g.sort((a, b) => a - b));
  return out;
}

export type NonUtf8Policy = 'gb18030' | 'error';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const gb18030 = new TextDecoder('gb18030', { fatal: true });

/**
 * Decodes a raw file name. UTF-8 is taken as is; other bytes are, under the default policy, read
 * as GB18030 (a superset of GBK, the legacy encoding of Chinese Windows) and reported as recoded;
 * bytes that are neither are an error naming the bytes in hex.
 */
export function decodeName(raw: Buffer, policy: NonUtf8Policy, parentPath: string): { name?: string; issue?: NameIssue } {
  try {
    return { name: utf8.decode(raw) };
  } catch {
    /* not UTF-8: fall through */
  }
  const hex = raw.toString('hex');
  const where = parentPath ? `${parentPath}/<${hex}>` : `<${hex}>`;
  if (policy === 'gb18030') {
    try {
      const name = gb18030.decode(raw);
      return { name, issue: { kind: 'non-utf8', severity: 'warning', path: parentPath ? `${parentPath}/${name}` : name, detail: `name bytes ${hex} are not UTF-8; read as GB18030/GBK and stored as UTF-8 "${name}"` } };
    } catch {
      /* not GB18030 either */
    }
  }
  return { issue: { kind: 'non-utf8', severity: 'error', path: where, detail: `name bytes ${hex} are not UTF-8${policy === 'gb18030' ? ' nor GB18030' : ''}; rename the file` } };
}
