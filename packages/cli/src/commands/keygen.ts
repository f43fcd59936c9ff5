import { formatFingerprint } from '@bookcrate/format';
import { keygen } from '@bookcrate/pack';
import { printJson } from '../output.js';

export async function keygenCommand(opts: { out: string; force?: boolean; json?: boolean }): Promise<number> {
  const r = await keygen(opts.out, { force: !!opts.force });
  if (opts.json) printJson({ event: 'result', ...r });
  else {
    process.stdout.write(`private key: ${r.keyPath} (mode 0600: keep it offline, it signs every bundle)\n`);
    process.stdout.write(`public key:  ${r.pubPath} (goes on every disk; counties pin it)\n`);
    process.stdout.write(`fingerprint: ${formatFingerprint(r.fingerprint)}\n`);
  }
  return 0;
}
