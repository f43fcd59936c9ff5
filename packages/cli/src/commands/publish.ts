import { BookcrateError, formatSize, parseDuration, type NonUtf8Policy } from '@bookcrate/format';
import { readPrivateKey } from '@bookcrate/pack';
import { publish, DEFAULT_KEEP, type PublishResult } from '@bookcrate/publish';
import { EXIT } from '../exit-codes.js';
import { printJson } from '../output.js';
import { ProgressView, formatDuration } from '../progress.js';

export interface PublishFlags {
  repo: string;
  key?: string;
  expires: string;
  keep?: string;
  renew?: boolean;
  rehash?: boolean;
  version?: string;
  followSymlinks?: boolean;
  allowUnportableNames?: boolean;
  nonUtf8: string;
  includeJunk?: boolean;
  json?: boolean;
}

function wholeNumber(text: string, flag: string, hint: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) throw new BookcrateError('USAGE', `${flag} "${text}" is not a whole number`, { hint });
  return n;
}

export async function publishCommand(input: string | undefined, flags: PublishFlags): Promise<number> {
  if (!flags.key) throw new BookcrateError('USAGE', 'publish needs --key <file.key>', { hint: 'the center\'s private key, from `bookcrate keygen --out center`' });
  if (!input && !flags.renew) {
    throw new BookcrateError('USAGE', 'publish needs a recipe (.json) or a source folder', { hint: 'or pass --renew to re-sign the current version\'s pointer' });
  }
  if (flags.nonUtf8 !== 'gb18030' && flags.nonUtf8 !== 'error') {
    throw new BookcrateError('USAGE', `--non-utf8 ${flags.nonUtf8}: expected gb18030 or error`, { hint: 'gb18030 recodes legacy Chinese (GBK) names to UTF-8; error refuses them' });
  }
  const keep = flags.keep !== undefined ? wholeNumber(flags.keep, '--keep', 'for example --keep 3 (at least 2)') : DEFAULT_KEEP;
  const version = flags.version !== undefined ? wholeNumber(flags.version, '--version', 'for example --version 7') : undefined;
  const expires = parseDuration(flags.expires, '--expires');
  const key = await readPrivateKey(flags.key);
  const view = new ProgressView(ProgressView.modeFor(!!flags.json));
  const result = await publish({
    ...(input ? { input } : {}),
    repo: flags.repo, key, expires, keep,
    renew: !!flags.renew, rehash: !!flags.rehash,
    ...(version !== undefined ? { version } : {}),
    followSymlinks: !!flags.followSymlinks,
    allowUnportable: !!flags.allowUnportableNames,
    nonUtf8: flags.nonUtf8 as NonUtf8Policy,
    includeJunk: !!flags.includeJunk,
    onProgress: (p) => view.update({ ...p }),
  }).finally(() => view.stop());
  if (flags.json) printJson({ event: 'result', ...result });
  else printResult(result);
  return EXIT.OK;
}

function printResult(r: PublishResult): void {
  const out: string[] = [];
  const b = r.bundle;
  if (r.outcome === 'renewed') {
    out.push(`Renewed the pointer of "${b.title}" (${b.id}) version ${b.version} in ${r.repo}`);
  } else if (r.outcome === 'unchanged') {
    out.push(`Nothing changed since version ${b.version} of "${b.title}" (${b.id}): no new version; its pointer was renewed`);
  } else {
    out.push(`Published "${b.title}" (${b.id}) version ${b.version}${r.previous !== null ? ` (previous: ${r.previous})` : ''} to ${r.repo}`);
  }
  if (r.outcome !== 'renewed') {
    out.push(`  ${r.totals.files} files, ${r.totals.dirs} empty folders, ${formatSize(r.totals.bytes)}, ${r.totals.resources} resources`);
    out.push(`  read ${r.read.files} files (${formatSize(r.read.bytes)}); reused ${r.reused.files} unchanged files (${formatSize(r.reused.bytes)}) without reading them`);
    out.push(`  new objects: ${r.newObjects.count} (${formatSize(r.newObjects.bytes)}); manifest parts written: ${r.parts.written} (${r.parts.existing} already there)`);
    const counts = Object.entries(r.issues.counts);
    if (counts.length) {
      out.push(`  source checks: ${counts.map(([k, n]) => `${k} ${n}`).join(', ')}`);
      const shown = r.issues.kept.filter((i) => i.severity !== 'info').slice(0, 200);
      for (const i of shown) out.push(`    ${i.severity.padEnd(7)} ${i.kind}: ${i.path}: ${i.detail}`);
    }
    if (r.pruned.versions.length || r.pruned.objects || r.pruned.parts || r.pruned.roots) {
      out.push(`  pruned: ${r.pruned.versions.length ? `version(s) ${r.pruned.versions.join(', ')}; ` : ''}${r.pruned.roots} root(s), ${r.pruned.parts} part(s), ${r.pruned.objects} object(s), ${formatSize(r.pruned.bytes)}`);
    } else out.push('  pruned: nothing');
  }
  out.push(`  root ${r.root.sha256}`);
  out.push(`  pointer: version ${r.pointer.version}, valid until ${r.pointer.expires} (renew before then: bookcrate publish --renew)`);
  out.push(`  done in ${formatDuration(r.seconds)}`);
  process.stdout.write(out.join('\n') + '\n');
}
