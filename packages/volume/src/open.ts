import { close, closeSync, constants, fstat, open, openSync, readSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import {
  BookcrateError, FORMAT, decodeRoot, decodeVolumeDoc, encodeVolumeDoc, keyFingerprint, loadPublicKey,
  sha256Hex, verifyRootSignature, decodeFileEntry, decodeMemberEntry, decodeResourceEntry, compareBundlePaths, compareKeys, readTreeLineBatches,
  type FileEntry, type MemberEntry, type ResourceEntry, type Root, type TreeRef, type VolumeDoc, type PartRef, type CheckedPart,
} from '@bookcrate/format';
import { volumePaths } from './layout.js';
import { readAt } from './fsio.js';
import { CacheAwareReads } from './cache-aware.js';

/**
 * Reads a small file whose size is known: one open, one read of size + 1 bytes (so a longer file
 * shows as longer), one close. fs/promises' readFile adds an fstat, a FileHandle and a read loop
 * per file, which for the thousands of manifest parts of a volume cost more than the reading.
 * Never more than size + 1 bytes, whatever the file is (a hostile disk's link to /dev/zero).
 * While the page cache answers, on this thread with plain system calls; after a read the disk had
 * to answer, through libuv's pool for a stretch (CacheAwareReads): a million-file volume's 68,000
 * parts cost verify --fast 1.5 s of asynchronous opens alone (docs/performance.md, run BP).
 */
function readKnownSize(path: string, size: number): Promise<Buffer> {
  return partReads.read(() => readKnownSizeHere(path, size), () => readKnownSizePooled(path, size), () => size);
}

function readKnownSizePooled(path: string, size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    open(path, READ_FLAGS, (err, fd) => {
      if (err) return reject(err);
      const buf = Buffer.allocUnsafe(size + 1);
      readAt(fd, buf, buf.length, 0).then(
        (got) => close(fd, () => resolve(buf.subarray(0, got))),
        (e: unknown) => close(fd, () => reject(e)),
      );
    });
  });
}

const partReads = new CacheAwareReads();

function readKnownSizeHere(path: string, size: number): Buffer {
  const fd = openSync(path, READ_FLAGS);
  try {
    const buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

/**
 * O_NONBLOCK: opening a FIFO (which a hostile ext4 disk can hold) would otherwise wait for a writer
 * forever; it changes nothing for a regular file.
 */
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

/** Thrown by readSmallFile for what is not a regular file, or is too long to be the document (its size). */
class NotTheDocument extends Error {
  constructor(message: string, readonly tooLong?: { size: number; max: number }) {
    super(message);
  }
}

/**
 * Reads a volume's own small document (volume.json, root.json, root.sig, center.pub), which must be
 * a regular file of at most `max` bytes: a hostile disk's symlink to a device, a FIFO or a folder in
 * its place, or a file of gigabytes, is refused before it is read, not read into memory forever.
 */
function readSmallFile(path: string, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    open(path, READ_FLAGS, (err, fd) => {
      if (err) return reject(err);
      const fail = (e: unknown) => close(fd, () => reject(e));
      fstat(fd, (e, st) => {
        if (e) return fail(e);
        if (!st.isFile()) return fail(new NotTheDocument('it is not a file'));
        if (st.size > max) return fail(new NotTheDocument(`it is ${st.size} bytes, more than such a file can be (${max})`, { size: st.size, max }));
        // one byte more: a file grown since its fstat reads longer, and fails its checks as such
        const buf = Buffer.allocUnsafe(st.size + 1);
        readAt(fd, buf, buf.length, 0).then((got) => close(fd, () => resolve(buf.subarray(0, got))), fail);
      });
    });
  });
}

/** How long a volume's own documents can be (root.json lists every segment of the set: ~100 bytes each). */
const DOCUMENT_MAX_BYTES = 64 << 10;
const ROOT_MAX_BYTES = 64 << 20;

function notTheDocument(e: NotTheDocument, what: string, path: string): BookcrateError {
  return new BookcrateError('FORMAT', `${what} at ${path} cannot be read: ${e.message}`, {
    hint: 'this volume is damaged or was tampered with: ask the center for a good copy of this disk',
    say: { id: 'volume-file-not-a-file', args: { what, path, ...(e.tooLong ? { size: e.tooLong.size, max: e.tooLong.max } : {}) } },
  });
}

/**
 * The center key a volume carries (`center.pub`, PEM), or undefined where it has none or it cannot
 * be read; a device, FIFO or folder in its place, or a file too long to be a key, is a format error.
 */
export async function volumeKeyPem(dir: string): Promise<string | undefined> {
  const path = volumePaths(dir).pubkey;
  try {
    return (await readSmallFile(path, DOCUMENT_MAX_BYTES)).toString('utf8');
  } catch (e) {
    if (e instanceof NotTheDocument) throw notTheDocument(e, 'the center\'s public key (center.pub)', path);
    return undefined;
  }
}

async function readOrThrow(path: string, what: string, size?: number, max = DOCUMENT_MAX_BYTES): Promise<Buffer> {
  try {
    return size === undefined ? await readSmallFile(path, max) : await readKnownSize(path, size);
  } catch (e) {
    if (e instanceof NotTheDocument) throw notTheDocument(e, what, path);
    const code = (e as NodeJS.ErrnoException).code;
    // a folder in a manifest part's place: the volume is damaged, the disk is not unreadable
    if (code === 'EISDIR') throw notTheDocument(new NotTheDocument('it is not a file'), what, path);
    // Past volume.json the folder is a volume: what is missing makes it an incomplete one (a copy cut
    // short, a file deleted), not a folder that is no volume.
    if (code === 'ENOENT' && what !== 'volume.json') {
      throw new BookcrateError('FORMAT', `${what} is missing: ${path}`, {
        hint: 'this volume is incomplete (a copy cut short, or a file deleted from it): ask the center for a good copy of this disk',
        say: { id: 'volume-incomplete', args: { what, path } },
      });
    }
    if (code === 'ENOENT') {
      throw new BookcrateError('FORMAT', `${what} is missing: ${path}`, {
        hint: 'is this a bookcrate volume? point the command at the folder that holds bookcrate/volume.json',
        say: { id: 'volume-file-missing', args: { what, path } },
      });
    }
    throw new BookcrateError('IO', `cannot read ${what} at ${path}: ${(e as Error).message}`, {
      hint: 'check that the disk is connected and readable', cause: e,
      say: { id: 'volume-file-unreadable', args: { what, path, reason: (e as Error).message } },
    });
  }
}

async function isVolumeDir(dir: string): Promise<boolean> {
  try {
    return (await stat(volumePaths(dir).volume)).isFile();
  } catch {
    return false;
  }
}

/**
 * The volume directories at `dir`: `dir` itself when it is a volume, else the volumes directly
 * inside it (a pack target or a disk's root), in name order.
 */
export async function findVolumes(dir: string): Promise<string[]> {
  if (await isVolumeDir(dir)) return [dir];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    // A folder or file inside a volume (its segments/, its README.txt): name the volume to give instead.
    const outer = await volumeAbove(dir);
    if (outer !== undefined) throw insideVolume(dir, outer);
    // A path that is not there (most often a disk not connected: an environment error, as an
    // unreadable disk) and a file given for a folder (a usage error): said plainly.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new BookcrateError('IO', `${dir} does not exist`, {
        hint: 'check the path; a disk that is not connected (or not mounted yet) has none: connect it and give the path it shows (on Windows its drive letter, e.g. E:\\)',
        say: { id: 'no-such-path', args: { dir } },
      });
    }
    if (code === 'ENOTDIR') {
      throw new BookcrateError('USAGE', `${dir} is a file, not a folder`, {
        hint: 'point the command at the disk or at the folder that holds bookcrate/volume.json', say: { id: 'not-a-folder', args: { dir } },
      });
    }
    throw new BookcrateError('IO', `cannot read ${dir}: ${(e as Error).message}`, {
      hint: 'check the path and that the disk is connected', cause: e, say: { id: 'folder-unreadable', args: { dir, reason: (e as Error).message } },
    });
  }
  const found: string[] = [];
  for (const n of names.sort()) if (await isVolumeDir(join(dir, n))) found.push(join(dir, n));
  if (found.length === 0) {
    const outer = await volumeAbove(dir);
    if (outer !== undefined) throw insideVolume(dir, outer);
    throw new BookcrateError('USAGE', `no bookcrate volume at ${dir}`, {
      hint: 'point the command at the disk or at the folder that holds bookcrate/volume.json', say: { id: 'no-volume', args: { dir } },
    });
  }
  return found;
}

/** The volume a path lies inside (up to three folders up), if any. */
async function volumeAbove(path: string): Promise<string | undefined> {
  let dir = resolve(path);
  for (let up = 0; up < 3; up++) {
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
    if (await isVolumeDir(dir)) return dir;
  }
  return undefined;
}

function insideVolume(path: string, volume: string): BookcrateError {
  return new BookcrateError('USAGE', `${path} is inside the bookcrate volume ${volume}, not a volume itself`, {
    hint: `give the volume's own folder: ${volume}`, say: { id: 'inside-volume', args: { path, volume } },
  });
}

export interface OpenVolume {
  dir: string;
  doc: VolumeDoc;
  root: Root;
  rootBytes: Buffer;
  /** Fingerprint of the key the root is signed by, and where trust in it came from. */
  key: { fingerprint: string; source: 'trusted' | 'volume' };
  loadPart: (ref: PartRef) => Promise<Buffer>;
}

/**
 * Opens a volume and establishes trust: the root's signature is checked against `trustedKey`
 * (the pinned or --pubkey key), or, when none is given, against the key the volume carries, which
 * proves integrity but not origin (the report says so). volume.json must be byte-identical to the
 * document the root implies, so a flipped byte there is caught too.
 */
export async function openVolume(dir: string, opts: { trustedKey?: KeyObject } = {}): Promise<OpenVolume> {
  const p = volumePaths(dir);
  const docBytes = await readOrThrow(p.volume, 'volume.json');
  const rootBytes = await readOrThrow(p.root, 'the manifest root (root.json)', undefined, ROOT_MAX_BYTES);
  const sigBytes = await readOrThrow(p.sig, 'the signature (root.sig)');
  let key = opts.trustedKey;
  let source: 'trusted' | 'volume' = 'trusted';
  if (!key) {
    key = loadPublicKey((await readOrThrow(p.pubkey, 'the center\'s public key (center.pub)')).toString('utf8'), p.pubkey);
    source = 'volume';
  }
  // Name an unknown format as such (not as a bad signature); the field is trusted only after the check.
  let declared: unknown;
  try {
    declared = (JSON.parse(rootBytes.toString('utf8')) as { format?: unknown }).format;
  } catch {
    declared = undefined;
  }
  if (typeof declared === 'string' && declared !== FORMAT && /^bookcrate\/\d+$/.test(declared)) {
    throw new BookcrateError('FORMAT', `this volume is in format ${declared}; this bookcrate reads ${FORMAT}`, {
      hint: 'install a newer bookcrate', say: { id: 'newer-format', args: { format: declared, reads: FORMAT } },
    });
  }
  verifyRootSignature(rootBytes, sigBytes, key);
  const root = decodeRoot(rootBytes);
  const doc = decodeVolumeDoc(docBytes);
  const volumes = root.layout?.volumes.length ?? 0;
  const expected = encodeVolumeDoc({ format: root.format, set: root.layout?.set ?? '', volume: doc.volume, volumes, root: sha256Hex(rootBytes) });
  if (!root.layout || doc.volume < 1 || doc.volume > volumes || !expected.equals(docBytes)) {
    throw new BookcrateError('DAMAGED', `volume.json does not match the signed manifest: ${p.volume}`, {
      hint: 'this volume\'s description is damaged or belongs to another set; ask for a new copy',
      say: { id: 'volume-doc-mismatch', args: { path: p.volume } },
    });
  }
  return {
    dir, doc, root, rootBytes,
    key: { fingerprint: keyFingerprint(key), source },
    loadPart: partLoader(dir),
  };
}

/** Reads a volume's manifest parts (checked against their refs by the tree readers). */
export function partLoader(dir: string): OpenVolume['loadPart'] {
  const p = volumePaths(dir);
  return (ref) => readOrThrow(p.part(ref.sha256), `manifest part ${ref.sha256}`, ref.size);
}

/**
 * What the manifest walks need of an open volume: its verified root and a way to its parts; and,
 * optionally, a hook that sees every part of a list once it has been checked (the reading waits
 * for it), so a reader can keep what it reads anyway.
 */
export type ManifestSource = Pick<OpenVolume, 'root' | 'loadPart'> & {
  checkedPart?: (list: 'files' | 'members' | 'resources', ref: PartRef, bytes: Buffer) => void | Promise<void>;
};

/** manifest parts read at once from a volume (their files are small and scattered on the disk) */
const PARTS_AHEAD = 32;

/**
 * The entries of a tree, decoded and checked (shape, order, count), a leaf part at a time. The
 * per-entry generators below are this, flattened; placedEntryBatches uses it directly.
 */
async function* decodeTreeBatches<T>(tree: TreeRef, load: OpenVolume['loadPart'], name: string, decode: (line: string, where: string) => T, key: (t: T) => string, cmp: (a: string, b: string) => number, checked?: CheckedPart): AsyncGenerator<T[]> {
  let last: string | undefined;
  let n = 0;
  for await (const lines of readTreeLineBatches(tree, load, name, { ahead: PARTS_AHEAD, checked })) {
    const items = new Array<T>(lines.length);
    for (let i = 0; i < lines.length; i++) {
      n++;
      const item = decode(lines[i]!, `${name} entry ${n}`);
      const k = key(item);
      if (last !== undefined && cmp(last, k) > 0) throw new BookcrateError('FORMAT', `${name} list is out of order at ${JSON.stringify(k)}`);
      last = k;
      items[i] = item;
    }
    yield items;
  }
  if (n !== tree.count) throw new BookcrateError('FORMAT', `${name} list has ${n} entries, the root says ${tree.count}`);
}

async function* decodeTree<T>(tree: TreeRef, load: OpenVolume['loadPart'], name: string, decode: (line: string, where: string) => T, key: (t: T) => string, cmp: (a: string, b: string) => number, checked?: CheckedPart): AsyncGenerator<T> {
  for await (const batch of decodeTreeBatches(tree, load, name, decode, key, cmp, checked)) yield* batch;
}

const fileOrder = (a: string, b: string): number => (compareBundlePaths(a, b) === 0 ? 1 : compareBundlePaths(a, b));

export function fileEntries(v: OpenVolume): AsyncGenerator<FileEntry> {
  return decodeTree(v.root.files, v.loadPart, 'files', decodeFileEntry, (e) => e.path, fileOrder);
}

export function resourceEntries(v: ManifestSource): AsyncGenerator<ResourceEntry> {
  return decodeTree(v.root.resources, v.loadPart, 'resources', decodeResourceEntry, (e) => e.id, (a, b) => (compareKeys(a, b) === 0 ? 1 : compareKeys(a, b)), checkedIn(v, 'resources'));
}

/** The source's hook for one list, or none. */
function checkedIn(v: ManifestSource, list: 'files' | 'members' | 'resources'): CheckedPart | undefined {
  const hook = v.checkedPart;
  return hook ? (ref, bytes) => hook(list, ref, bytes) : undefined;
}

/** Members may repeat a path (parts of one split file), so only a decrease is an error. */
export function memberEntries(v: OpenVolume): AsyncGenerator<MemberEntry> {
  if (!v.root.layout) throw new BookcrateError('FORMAT', 'this bundle has no disk layout');
  return decodeTree(v.root.layout.members, v.loadPart, 'members', decodeMemberEntry, (e) => e.path, compareBundlePaths);
}

/** A file of the manifest with its tar members (one, or one per part), zipped from the two trees. */
export interface PlacedEntry {
  entry: FileEntry;
  members: MemberEntry[];
}

/**
 * Walks the files and members trees together (both are in manifest order), checking that the
 * members of each file cover it exactly. Memory: one file's members at a time.
 */
export async function* placedEntries(v: ManifestSource): AsyncGenerator<PlacedEntry> {
  for await (const batch of placedEntryBatches(v)) yield* batch;
}

/**
 * placedEntries a files-tree part at a time (for verify and import, which walk millions of
 * entries: one step of an async generator per part, not per entry). Memory: one part of each tree.
 */
export async function* placedEntryBatches(v: ManifestSource): AsyncGenerator<PlacedEntry[]> {
  if (!v.root.layout) throw new BookcrateError('FORMAT', 'this bundle has no disk layout');
  const segments = v.root.layout.volumes.reduce((a, x) => a + x.segments.length, 0);
  const members = decodeTreeBatches(v.root.layout.members, v.loadPart, 'members', decodeMemberEntry, (e) => e.path, compareBundlePaths, checkedIn(v, 'members'));
  let pending: MemberEntry[] = [];
  let at = 0;
  let membersDone = false;
  // The next member, or undefined at the end of the members list.
  const peekMember = async (): Promise<MemberEntry | undefined> => {
    while (at >= pending.length) {
      if (membersDone) return undefined;
      const r = await members.next();
      if (r.done) {
        membersDone = true;
        return undefined;
      }
      pending = r.value;
      at = 0;
    }
    return pending[at];
  };
  try {
    for await (const files of decodeTreeBatches(v.root.files, v.loadPart, 'files', decodeFileEntry, (e) => e.path, fileOrder, checkedIn(v, 'files'))) {
      const out = new Array<PlacedEntry>(files.length);
      for (let i = 0; i < files.length; i++) {
        const entry = files[i]!;
        const parts: MemberEntry[] = [];
        for (;;) {
          // Most members are in the part at hand: no await for them.
          const m = at < pending.length ? pending[at] : await peekMember();
          if (m === undefined || m.path !== entry.path) break;
          parts.push(m);
          at++;
        }
        checkMembersAgreeWithEntry(entry, parts, segments);
        out[i] = { entry, members: parts };
      }
      yield out;
    }
    if ((await peekMember()) !== undefined) throw new BookcrateError('FORMAT', 'members list names a path that is not in the files list');
  } finally {
    // A walk stopped early leaves no part reads of the members tree behind.
    await members.return(undefined);
  }
}

/** The members of one file must cover it exactly, in order, in segments that exist. */
export function checkMembersAgreeWithEntry(entry: FileEntry, parts: MemberEntry[], segments: number): void {
  const bad = (what: string): never => {
    throw new BookcrateError('FORMAT', `members list: ${entry.path} ${what}`, { hint: 'the manifest is inconsistent; do not use this volume' });
  };
  if (parts.length === 0) bad('has no tar member');
  let at = 0;
  for (const m of parts) {
    if (m.segment > segments) bad(`names segment ${m.segment}, but the set has ${segments}`);
    if (parts.length === 1 ? m.at !== undefined : m.at !== at) bad('has parts that do not follow each other');
    at += m.length;
  }
  if (at !== entry.size) bad(`has members of ${at} bytes in all, but its size is ${entry.size}`);
}
