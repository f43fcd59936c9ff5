import { readFile, stat } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { BookcrateError, generateSigningKey, keyFingerprint, loadPrivateKey } from '@bookcrate/format';
import { writeFileAtomic } from './fsutil.js';

/** Writes `<prefix>.key` (mode 0600) and `<prefix>.pub`; refuses to overwrite an existing key. */
export async function keygen(prefix: string, opts: { force?: boolean } = {}): Promise<{ keyPath: string; pubPath: string; fingerprint: string }> {
  const keyPath = `${prefix}.key`;
  const pubPath = `${prefix}.pub`;
  if (!opts.force) {
    for (const p of [keyPath, pubPath]) {
      if (await stat(p).then(() => true, () => false)) {
        throw new BookcrateError('USAGE', `${p} already exists`, { hint: 'choose another --out prefix, or pass --force to replace the key (disks signed with the old key will no longer verify against the new one)' });
      }
    }
  }
  const pair = generateSigningKey();
  await writeFileAtomic(keyPath, pair.privateKeyPem, 0o600); // created 0600: never readable by others, not even briefly
  await writeFileAtomic(pubPath, pair.publicKeyPem);
  return { keyPath, pubPath, fingerprint: keyFingerprint(loadPrivateKey(pair.privateKeyPem, keyPath)) };
}

async function readKeyFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new BookcrateError('USAGE', `cannot read ${what} ${path}: ${(e as Error).message}`, { hint: 'check the path' });
  }
}

export async function readPrivateKey(path: string): Promise<KeyObject> {
  return loadPrivateKey(await readKeyFile(path, 'key file'), path);
}
