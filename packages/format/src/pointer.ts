import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { BookcrateError } from './errors.js';
import { formatFingerprint, keyFingerprint, FORMAT } from './root.js';

/**
 * The network form's entry point (docs/repository.md, "The pointer"): `latest.json`, one small
 * file that names the newest version of a bundle, the SHA-256 of its root, and how long the claim
 * holds. It is signed with the center's key; a mirror refuses a pointer that is not signed by the
 * pinned key, names a version older than the one it holds (rollback), or has expired (freeze).
 *
 * The signed bytes travel inside the file as a string, so the pointer and its signature are one
 * file replaced in one rename: a reader can never see a new pointer with an old signature.
 */
export const REPO_FORMAT = 'bookcrate-repo/1';
export const POINTER_FILE = 'latest.json';
/** A pointer file is small; anything bigger is refused before it is parsed. */
export const POINTER_MAX_BYTES = 64 * 1024;

export interface Pointer {
  format: typeof REPO_FORMAT;
  bundle: string;
  version: number;
  root: { sha256: string; size: number };
  issued: string; // ISO time the pointer was signed
  expires: string; // ISO time after which mirrors refuse it (freeze protection)
}

interface PointerFile {
  pointer: string; // the signed bytes, as UTF-8 JSON text
  sig: { alg: 'ed25519'; key: string; digest: string; signature: string };
}

function pointerMessage(digest: string): Buffer {
  return Buffer.from(`${FORMAT} pointer sha256:${digest}`, 'utf8');
}

export function encodePointerFile(p: Pointer, key: KeyObject): Buffer {
  const text = JSON.stringify({ format: REPO_FORMAT, bundle: p.bundle, version: p.version, root: { sha256: p.root.sha256, size: p.root.size }, issued: p.issued, expires: p.expires });
  const digest = createHash('sha256').update(text, 'utf8').digest('hex');
  const file: PointerFile = {
    pointer: text,
    sig: { alg: 'ed25519', key: keyFingerprint(key), digest, signature: sign(null, pointerMessage(digest), key).toString('base64') },
  };
  return Buffer.from(JSON.stringify(file, null, 1) + '\n', 'utf8');
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/**
 * Checks a pointer file against the trusted key and returns the pointer. Throws SIGNATURE for a
 * pointer that is not the center's (wrong key, changed, invalid), FORMAT for one that is malformed.
 * Expiry and rollback are the caller's decision (it knows the clock and what it holds).
 */
export function verifyPointerFile(bytes: Buffer, trusted: KeyObject, where: string): Pointer {
  const bad = (what: string): never => {
    throw new BookcrateError('FORMAT', `${where}: the pointer ${what}`, { hint: 'the upstream is damaged or is not a bookcrate repository; check --upstream' });
  };
  if (bytes.length > POINTER_MAX_BYTES) bad(`is ${bytes.length} bytes, more than a pointer can be`);
  let file: PointerFile;
  try {
    file = JSON.parse(bytes.toString('utf8')) as PointerFile;
  } catch {
    return bad('is not JSON');
  }
  if (typeof file?.pointer !== 'string' || typeof file.sig !== 'object' || file.sig === null) bad('is malformed');
  const s = file.sig;
  if (s.alg !== 'ed25519' || typeof s.key !== 'string' || typeof s.digest !== 'string' || typeof s.signature !== 'string') bad('signature is malformed');
  const fp = keyFingerprint(trusted);
  if (s.key !== fp) {
    throw new BookcrateError('SIGNATURE', `${where}: the pointer is signed by key ${formatFingerprint(s.key)}, which is not the trusted key ${formatFingerprint(fp)}`, {
      hint: 'this upstream does not publish for the center this store trusts; check --upstream and --trust',
    });
  }
  const digest = createHash('sha256').update(file.pointer, 'utf8').digest('hex');
  if (s.digest !== digest || !verify(null, pointerMessage(digest), trusted, Buffer.from(s.signature, 'base64'))) {
    throw new BookcrateError('SIGNATURE', `${where}: the pointer's signature is invalid (it was changed after signing)`, {
      hint: 'the upstream or the network altered it; nothing was taken from this round',
    });
  }
  let p: Pointer;
  try {
    p = JSON.parse(file.pointer) as Pointer;
  } catch {
    return bad('text is not JSON');
  }
  if (p?.format !== REPO_FORMAT) {
    throw new BookcrateError('FORMAT', `${where}: the repository is in format ${JSON.stringify(p?.format ?? null).slice(0, 100)}; this bookcrate reads ${REPO_FORMAT}`, { hint: 'install a newer bookcrate' });
  }
  if (typeof p.bundle !== 'string' || !Number.isSafeInteger(p.version) || p.version < 1 || typeof p.root !== 'object' || p.root === null ||
      typeof p.root.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.root.sha256) || !Number.isSafeInteger(p.root.size) || p.root.size <= 0 ||
      typeof p.issued !== 'string' || !ISO.test(p.issued) || typeof p.expires !== 'string' || !ISO.test(p.expires)) {
    bad('fields are malformed');
  }
  return { format: REPO_FORMAT, bundle: p.bundle, version: p.version, root: { sha256: p.root.sha256, size: p.root.size }, issued: p.issued, expires: p.expires };
}

// ---- repository paths (relative, '/'-separated; the same under nginx, a CDN, or a mirror) ----

const hex64 = (sha: string): string => {
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new BookcrateError('INTERNAL', `not a SHA-256: ${sha}`);
  return sha;
};

export const repoPaths = {
  pointer: POINTER_FILE,
  root: (sha: string) => `roots/${hex64(sha)}.json`,
  rootSig: (sha: string) => `roots/${hex64(sha)}.sig`,
  part: (sha: string) => `parts/${hex64(sha).slice(0, 2)}/${sha}.jsonl`,
  object: (sha: string) => `objects/${hex64(sha).slice(0, 2)}/${sha}`,
};
