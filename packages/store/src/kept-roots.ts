import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '@bookcrate/format';
import { writeDurablySync } from './durable.js';

/**
 * Copies, outside the catalog, of what a catalog cannot be rebuilt without (docs/store.md,
 * "Rebuilding the catalog"): the signed root of every version the store holds, and the center keys
 * it trusts. The manifest parts are kept in parts/ already and the bytes in objects/, so with these
 * a damaged catalog.sqlite is rebuilt from the store's own disk (`bookcrate check --rebuild-catalog`)
 * instead of from the disks again or 4 TB over a county's link.
 *
 *   roots/<sha256 of root.json>.json   the root's exact bytes (its name is their hash)
 *   roots/<sha256 of root.json>.sig    its root.sig
 *   roots/key-<16 hex>.pub             a trusted key (PEM), named by a hash of its fingerprint
 *   roots/shown-<16 hex>.json          the version of a bundle readers are shown (named by a hash
 *                                      of the bundle id): on exFAT the readers' folder cannot say
 *
 * Each is written to a temp name, fsynced and renamed, and the folder is fsynced (durable.ts): a
 * few small files per version, written before the version's row is committed.
 */
export const keptRootPaths = (storeDir: string) => {
  const folder = join(storeDir, 'roots');
  return {
    folder,
    root: (rootSha256: string) => join(folder, `${rootSha256}.json`),
    sig: (rootSha256: string) => join(folder, `${rootSha256}.sig`),
    key: (fingerprint: string) => join(folder, `key-${sha256Hex(fingerprint).slice(0, 16)}.pub`),
    shown: (bundleId: string) => join(folder, `shown-${sha256Hex(bundleId).slice(0, 16)}.json`),
  };
};

/** Which version of a bundle readers are shown: proof for a rebuild that it was complete. */
export interface ShownVersion {
  bundle: string;
  version: number;
  root: string;
}

/** Notes the version readers are now shown (after makeCurrent commits; no-op when noted already). */
export function keepShownSync(storeDir: string, shown: ShownVersion): void {
  const p = keptRootPaths(storeDir);
  const text = JSON.stringify(shown) + '\n';
  try {
    if (readFileSync(p.shown(shown.bundle), 'utf8') === text) return;
  } catch {
    // not noted yet
  }
  ensureFolder(p.folder);
  writeDurablySync(p.shown(shown.bundle), text);
}

/** The versions noted as shown, by bundle id. */
export function keptShown(storeDir: string): Map<string, ShownVersion> {
  const p = keptRootPaths(storeDir);
  const out = new Map<string, ShownVersion>();
  let names: string[];
  try {
    names = readdirSync(p.folder);
  } catch {
    return out;
  }
  for (const n of names.filter((x) => /^shown-[0-9a-f]{16}\.json$/.test(x))) {
    try {
      const v = JSON.parse(readFileSync(join(p.folder, n), 'utf8')) as ShownVersion;
      if (typeof v.bundle === 'string' && Number.isInteger(v.version) && typeof v.root === 'string') out.set(v.bundle, v);
    } catch {
      // damaged: no proof from it
    }
  }
  return out;
}

function ensureFolder(folder: string): void {
  try {
    mkdirSync(folder); // one level: the store's own folder exists
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

const sameSize = (path: string, size: number): boolean => statSync(path, { throwIfNoEntry: false })?.size === size;

/** Keeps a version's signed root (no-op when kept already: its name is its hash). */
export function keepRootSync(storeDir: string, rootSha256: string, rootBytes: Buffer, sigBytes: Buffer): void {
  const p = keptRootPaths(storeDir);
  if (sameSize(p.root(rootSha256), rootBytes.length) && sameSize(p.sig(rootSha256), sigBytes.length)) return;
  ensureFolder(p.folder);
  writeDurablySync(p.sig(rootSha256), sigBytes);
  writeDurablySync(p.root(rootSha256), rootBytes);
}

/** Keeps a trusted key (PEM). */
export function keepKeySync(storeDir: string, fingerprint: string, pem: string): void {
  const p = keptRootPaths(storeDir);
  const path = p.key(fingerprint);
  if (sameSize(path, Buffer.byteLength(pem))) return;
  ensureFolder(p.folder);
  writeDurablySync(path, pem);
}

/** Deletes the kept root of a version the catalog no longer holds (best effort: a leftover is only skipped by a rebuild). */
export function forgetRootSync(storeDir: string, rootSha256: string): void {
  const p = keptRootPaths(storeDir);
  for (const path of [p.root(rootSha256), p.sig(rootSha256)]) {
    try {
      unlinkSync(path);
    } catch {
      // not there
    }
  }
}

/** The kept roots' hashes (names of `<64 hex>.json` with a `.sig` beside them are checked by the reader). */
export function keptRootHashes(storeDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(keptRootPaths(storeDir).folder);
  } catch {
    return [];
  }
  return names.filter((n) => /^[0-9a-f]{64}\.json$/.test(n)).map((n) => n.slice(0, 64)).sort();
}

/** A kept root and its signature, or undefined if either is gone or the root's bytes are not its name. */
export function readKeptRoot(storeDir: string, rootSha256: string): { rootBytes: Buffer; sigBytes: Buffer } | undefined {
  const p = keptRootPaths(storeDir);
  try {
    const rootBytes = readFileSync(p.root(rootSha256));
    const sigBytes = readFileSync(p.sig(rootSha256));
    return sha256Hex(rootBytes) === rootSha256 ? { rootBytes, sigBytes } : undefined;
  } catch {
    return undefined;
  }
}

/** The kept trusted keys (PEM). */
export function keptKeys(storeDir: string): string[] {
  const p = keptRootPaths(storeDir);
  let names: string[];
  try {
    names = readdirSync(p.folder);
  } catch {
    return [];
  }
  return names.filter((n) => /^key-[0-9a-f]{16}\.pub$/.test(n)).sort().flatMap((n) => {
    try {
      return [readFileSync(join(p.folder, n), 'utf8')];
    } catch {
      return [];
    }
  });
}
