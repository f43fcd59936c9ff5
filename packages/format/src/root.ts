import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { BookcrateError } from './errors.js';
import { assertTreeRef, type TreeRef } from './tree.js';

export const FORMAT = 'bookcrate/1';

/**
 * A segment's name, size and XXH64. No SHA-256: a segment's bytes are the signed headers plus the
 * files, whose SHA-256 are signed, so a segment-wide SHA-256 would add no protection and cost a
 * second cryptographic pass over every byte. XXH64 lets anyone check a segment with `xxhsum`.
 */
export interface SegmentInfo {
  name: string; // file name under segments/
  size: number;
  xxh64: string;
}

export interface VolumeInfo {
  index: number; // 1-based
  segments: SegmentInfo[];
}

export interface CollectionInfo {
  id: string;
  title: string;
  path: string; // top-level folder of the collection in the bundle
  files: number;
  bytes: number;
}

/** The signed root of a bundle version (docs/format.md, "The root"). */
export interface Root {
  format: typeof FORMAT;
  bundle: { id: string; version: number; title: string; created: string };
  totals: { files: number; dirs: number; bytes: number; resources: number };
  collections: CollectionInfo[];
  files: TreeRef;
  resources: TreeRef;
  /** The disk form only: where every member is. The network form has no layout. */
  layout?: {
    set: string;
    segmentSize: number;
    volumes: VolumeInfo[];
    members: TreeRef;
  };
  /** The network form only: chunk lists of large files (docs/repository.md, "Chunks"). */
  chunks?: TreeRef;
}

function fail(what: string): never {
  throw new BookcrateError('FORMAT', `root.json: ${what}`, { hint: 'the volume\'s manifest root is malformed; ask for a new copy' });
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Encoded once, signed as bytes: readers verify the stored bytes, so no canonical JSON is needed. */
export function encodeRoot(root: Root): Buffer {
  return Buffer.from(JSON.stringify(root, null, 1) + '\n', 'utf8');
}

/**
 * Whether two signed roots of one bundle version describe the same content: the same files and
 * resources trees (by their hashes), collections and totals. A version's disk form and network form
 * have different roots (the disk's has a `layout`, the network's its `chunks` and its own `created`)
 * for the same content; a store that holds one may stand in for the other.
 */
export function sameContent(a: Root, b: Root): boolean {
  const same = (x: unknown, y: unknown): boolean => JSON.stringify(x) === JSON.stringify(y);
  return a.bundle.id === b.bundle.id && a.bundle.version === b.bundle.version && a.bundle.title === b.bundle.title
    && same(a.files, b.files) && same(a.resources, b.resources) && same(a.collections, b.collections) && same(a.totals, b.totals);
}

export function decodeRoot(bytes: Buffer): Root {
  let o: Root;
  try {
    o = JSON.parse(bytes.toString('utf8')) as Root;
  } catch {
    fail('is not valid JSON');
  }
  if (typeof o !== 'object' || o === null) fail('is not an object');
  if (o.format !== FORMAT) {
    // unsigned yet (this only chooses the message): a hostile value is named, never called
    const format: unknown = o.format;
    if (typeof format !== 'string') fail('"format" is not a string');
    throw new BookcrateError('FORMAT', `root.json: format "${format.slice(0, 100)}" is not supported by this bookcrate (it reads ${FORMAT})`, {
      hint: 'install a newer bookcrate',
    });
  }
  const b = o.bundle;
  if (!b || typeof b.id !== 'string' || !isCount(b.version) || typeof b.title !== 'string' || typeof b.created !== 'string') fail('"bundle" is malformed');
  const t = o.totals;
  if (!t || !isCount(t.files) || !isCount(t.dirs) || !isCount(t.bytes) || !isCount(t.resources)) fail('"totals" is malformed');
  if (!Array.isArray(o.collections)) fail('"collections" is malformed');
  for (const c of o.collections) {
    if (!c || typeof c.id !== 'string' || typeof c.title !== 'string' || typeof c.path !== 'string' || !isCount(c.files) || !isCount(c.bytes)) fail('a collection is malformed');
  }
  const root: Root = {
    format: FORMAT,
    bundle: o.bundle,
    totals: o.totals,
    collections: o.collections,
    files: assertTreeRef(o.files, 'root.json files'),
    resources: assertTreeRef(o.resources, 'root.json resources'),
  };
  if (o.layout !== undefined) {
    const l = o.layout;
    if (typeof l !== 'object' || l === null || typeof l.set !== 'string' || !isCount(l.segmentSize) || !Array.isArray(l.volumes)) fail('"layout" is malformed');
    l.volumes.forEach((v, i) => {
      if (!v || v.index !== i + 1 || !Array.isArray(v.segments)) fail(`volume ${i + 1} of "layout" is malformed`);
      for (const s of v.segments) {
        if (!s || typeof s.name !== 'string' || !/^[a-z0-9-]+\.tar$/.test(s.name) || !isCount(s.size) ||
            typeof s.xxh64 !== 'string' || !/^[0-9a-f]{16}$/.test(s.xxh64)) {
          fail(`a segment of volume ${i + 1} is malformed`);
        }
      }
    });
    root.layout = { set: l.set, segmentSize: l.segmentSize, volumes: l.volumes, members: assertTreeRef(l.members, 'root.json layout.members') };
  }
  if ((o as { chunks?: unknown }).chunks !== undefined) root.chunks = assertTreeRef(o.chunks, 'root.json chunks');
  return root;
}

/** Global segment number (1-based, as members use it) → its volume and info. */
export function segmentTable(root: Root): { volume: number; info: SegmentInfo }[] {
  const out: { volume: number; info: SegmentInfo }[] = [];
  for (const v of root.layout?.volumes ?? []) for (const s of v.segments) out.push({ volume: v.index, info: s });
  return out;
}

// ---- volume.json: names the set and this volume's place in it ----

export interface VolumeDoc {
  format: typeof FORMAT;
  set: string;
  volume: number;
  volumes: number;
  root: string; // SHA-256 of root.json
}

/** Canonical bytes: a reader regenerates them from the root and compares, so any flipped byte shows. */
export function encodeVolumeDoc(v: VolumeDoc): Buffer {
  const o: VolumeDoc = { format: v.format, set: v.set, volume: v.volume, volumes: v.volumes, root: v.root };
  return Buffer.from(JSON.stringify(o, null, 1) + '\n', 'utf8');
}

export function decodeVolumeDoc(bytes: Buffer): VolumeDoc {
  let o: VolumeDoc;
  try {
    o = JSON.parse(bytes.toString('utf8')) as VolumeDoc;
  } catch {
    throw new BookcrateError('FORMAT', 'volume.json is not valid JSON', { hint: 'this volume is damaged; ask for a new copy' });
  }
  if (o?.format !== FORMAT || typeof o.set !== 'string' || !isCount(o.volume) || !isCount(o.volumes) || typeof o.root !== 'string') {
    throw new BookcrateError('FORMAT', 'volume.json is malformed', { hint: 'this volume is damaged; ask for a new copy' });
  }
  return o;
}

// ---- keys and signatures ----

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
}

export function generateSigningKey(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function loadPrivateKey(pem: string, where: string): KeyObject {
  try {
    const k = createPrivateKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${k.asymmetricKeyType} key`);
    return k;
  } catch (e) {
    throw new BookcrateError('USAGE', `${where} is not an Ed25519 private key (${(e as Error).message})`, {
      hint: 'create one with `bookcrate keygen --out center` and pass --key center.key',
    });
  }
}

export function loadPublicKey(pem: string, where: string): KeyObject {
  // node would derive the public key from a private one and go on; but the private key signs every
  // bundle and belongs offline at the center: where one is given for trust, it is refused and named.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) {
    throw new BookcrateError('SIGNATURE', `${where} is a private key, not the center's public key`, {
      hint: 'give the public key (center.pub, on every disk); the private key must stay at the center — if this file came with a disk, tell the center',
      say: { id: 'private-key-given', args: { where } },
    });
  }
  try {
    const k = createPublicKey(pem);
    if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${k.asymmetricKeyType} key`);
    return k;
  } catch (e) {
    throw new BookcrateError('SIGNATURE', `${where} is not an Ed25519 public key (${(e as Error).message})`, {
      hint: 'pass the center\'s public key file (center.pub) with --pubkey',
      say: { id: 'not-a-public-key', args: { where } },
    });
  }
}

/** SHA-256 of the raw 32-byte public key, hex: what a librarian compares by eye (first 16 digits). */
export function keyFingerprint(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const raw = Buffer.from(pub.export({ format: 'jwk' }).x as string, 'base64url');
  return createHash('sha256').update(raw).digest('hex');
}

export function publicKeyPem(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'pem' }).toString();
}

export function formatFingerprint(fp: string): string {
  return (fp.slice(0, 32).match(/.{4}/g) ?? []).join(' ');
}

export interface SignatureDoc {
  alg: 'ed25519';
  key: string; // fingerprint of the signing key
  digest: string; // SHA-256 of root.json
  signature: string; // base64
}

/** Domain-separated message: a signature over a bookcrate root can never be replayed as anything else. */
function signedMessage(rootDigest: string): Buffer {
  return Buffer.from(`${FORMAT} root sha256:${rootDigest}`, 'utf8');
}

export function signRoot(rootBytes: Buffer, key: KeyObject): Buffer {
  const digest = createHash('sha256').update(rootBytes).digest('hex');
  const signature = sign(null, signedMessage(digest), key).toString('base64');
  const doc: SignatureDoc = { alg: 'ed25519', key: keyFingerprint(key), digest, signature };
  return Buffer.from(JSON.stringify(doc, null, 1) + '\n', 'utf8');
}

/**
 * Checks root.sig against root.json and a trusted key. Throws SIGNATURE with a message that tells
 * a wrong key apart from a broken signature, because the librarian's next step differs.
 */
export function verifyRootSignature(rootBytes: Buffer, sigBytes: Buffer, trusted: KeyObject): SignatureDoc {
  let doc: SignatureDoc;
  try {
    doc = JSON.parse(sigBytes.toString('utf8')) as SignatureDoc;
  } catch {
    throw new BookcrateError('SIGNATURE', 'root.sig is not valid JSON: the signature is damaged', { hint: 'ask the national center for a new copy of this volume', say: { id: 'signature-damaged' } });
  }
  const digest = createHash('sha256').update(rootBytes).digest('hex');
  const fp = keyFingerprint(trusted);
  if (doc?.alg !== 'ed25519' || typeof doc.signature !== 'string' || typeof doc.key !== 'string') {
    throw new BookcrateError('SIGNATURE', 'root.sig is malformed: the signature is damaged', { hint: 'ask the national center for a new copy of this volume', say: { id: 'signature-damaged' } });
  }
  if (doc.key !== fp) {
    throw new BookcrateError('SIGNATURE', `the volume is signed by key ${formatFingerprint(doc.key)}, which is not the trusted key ${formatFingerprint(fp)}`, {
      hint: 'check that you were given the right center.pub; a volume signed by an unknown key must not be used',
      say: { id: 'signed-by-other-key', args: { key: formatFingerprint(doc.key), trusted: formatFingerprint(fp) } },
    });
  }
  if (doc.digest !== digest) {
    throw new BookcrateError('SIGNATURE', 'root.json does not match the digest that was signed: the manifest was changed after signing', {
      hint: 'this volume is damaged or was tampered with; do not use it, ask for a new copy',
      say: { id: 'root-changed' },
    });
  }
  const ok = verify(null, signedMessage(digest), trusted, Buffer.from(doc.signature, 'base64'));
  if (!ok) {
    throw new BookcrateError('SIGNATURE', 'the signature over root.json is invalid', {
      hint: 'this volume is damaged or was tampered with; do not use it, ask for a new copy',
      say: { id: 'signature-invalid' },
    });
  }
  return doc;
}
