import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BookcrateError, loadPublicKey } from '@bookcrate/format';

/** The center's public key from a `.pub` file (`--pubkey`, `--trust`), with a usage error that names it. */
export async function readPublicKey(path: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    throw new BookcrateError('USAGE', `cannot read public key file ${path}: ${(e as Error).message}`, {
      hint: 'check the path', say: { id: 'key-file-unreadable', args: { path, reason: (e as Error).message } },
    });
  }
  return loadPublicKey(pem, path);
}
