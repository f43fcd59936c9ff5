import { basename } from 'node:path';
import { BookcrateError, formatSize, parseSize, type NonUtf8Policy } from '@bookcrate/format';
import { pack, parseCreatedTime, readPrivateKey, type PackResult } from '@bookcrate/pack';
import { EXIT } from '../exit-codes.js';
import { printJson } from '../output.js';
import { ProgressView, formatDuration } from '../progress.js';

export interface PackFlags {
  out: string[];
  key?: string;
  diskSize: string;
  segmentSize?: string;
  dryRun?: boolean;
  verify: boolean;
  volume?: string[];
  followSymlinks?: boolean;
  allowUnportableNames?: boolean;
  nonUtf8: string;
  includeJunk?: boolean;
  restart?: boolean;
  created?: string;
  json?: boolean;
}

export async function packCommand(input: string, flags: PackFlags): Promise<number> {
  if (!flags.dryRun && (!flags.out || flags.out.length === 0)) {
    throw new BookcrateError('USAGE', 'pack needs at least one --out <dir>', { hint: 'add --out /mnt/disk1 (repeat for more disks), or use --dry-run to see the plan' });
  }
  if (!flags.dryRun && !flags.key) throw new BookcrateError('USAGE', 'pack needs --key <file.key>', { hint: 'create a key with `bookcrate keygen --out center`' });
  if (flags.nonUtf8 !== 'gb18030' && flags.nonUtf8 !== 'error') {
    throw new BookcrateError('USAGE', `--non-utf8 ${flags.nonUtf8}: expected gb18030 or error`, { hint: 'gb18030 recodes legacy Chinese (GBK) names to UTF-8; error refuses them' });
  }
  const volumes = flags.volume?.map((v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new BookcrateError('USAGE', `--volume ${v} is not a volume number`, { hint: 'volumes are numbered from 1; see --dry-run' });
    return n;
  });
  const view = new ProgressView(ProgressView.modeFor(!!flags.json));
  const result = await pack({
    input,
    outs: flags.out ?? [],
    ...(flags.key && !flags.dryRun ? { key: await readPrivateKey(flags.key) } : {}),
    diskSize: parseSize(flags.diskSize, '--disk-size'),
    ...(flags.segmentSize ? { segmentSize: parseSize(flags.segmentSize, '--segment-size') } : {}),
    dryRun: !!flags.dryRun,
    verify: flags.verify,
    ...(volumes ? { volumes } : {}),
    ...(flags.created !== undefined ? { created: parseCreatedTime(flags.created) } : {}),
    followSymlinks: !!flags.followSymlinks,
    allowUnportable: !!flags.allowUnportableNames,
    nonUtf8: flags.nonUtf8 as NonUtf8Policy,
    includeJunk: !!flags.includeJunk,
    restart: !!flags.restart,
    onProgress: (p) => view.update({ ...p }),
  }).finally(() => view.stop());
  if (flags.json) printJson({ event: 'result', ...result });
  else printResult(result);
  if (result.dryRun && result.issues.errors > 0) return EXIT.REFUSED;
  return result.verify.some((r) => !r.ok) ? EXIT.DAMAGE : EXIT.OK;
}

function printResult(r: PackResult): void {
  const out: string[] = [];
  const p = r.plan;
  out.push(`${r.dryRun ? 'Plan for' : 'Packed'} "${r.bundle.title}" (${r.bundle.id}, version ${r.bundle.version}, set ${r.set})`);
  out.push(`  ${p.totals.files} files, ${p.totals.dirs} empty folders, ${formatSize(p.totals.payloadBytes)} of content in ${p.totals.segments} segment(s) on ${p.volumes.length} volume(s)`);
  out.push(`  each volume holds up to ${formatSize(p.volumeCapacity)} of segments; segments are at most ${formatSize(p.segmentSize)}`);
  for (const v of p.volumes) {
    out.push(`  volume ${v.index}: ${v.files} files, ${formatSize(v.segmentBytes)} in ${v.segments} segment(s); ${v.collections.map((c) => c || '(top level)').join(', ')}`);
  }
  const counts = Object.entries(r.issues.counts);
  if (counts.length) {
    out.push(`  source checks: ${counts.map(([k, n]) => `${k} ${n}`).join(', ')}`);
    const shown = r.issues.kept.filter((i) => i.severity !== 'info' || r.dryRun).slice(0, 200);
    for (const i of shown) out.push(`    ${i.severity.padEnd(7)} ${i.kind}: ${i.path}: ${i.detail}`);
    if (r.issues.kept.length > shown.length) out.push(`    … ${r.issues.kept.length - shown.length} more (use --json for all)`);
  }
  for (const t of r.dryRun ? r.targets ?? [] : []) {
    out.push(`  volume ${t.volume} would go to: ${t.dirs.length ? t.dirs.join(', ') : 'no disk in this run (give it an --out ' + t.volume + ':<dir>)'}`);
  }
  for (const o of r.replaced) {
    const what = o.version !== undefined ? `version ${o.version} of this bundle (set ${o.set})` : 'what an unfinished pack left';
    out.push(`  ${r.dryRun ? 'would replace' : 'replaced'} on ${o.out}: ${basename(o.folder)}, ${what}`);
  }
  if (r.dryRun) {
    out.push(r.issues.errors > 0
      ? `  ${r.issues.errors} name error(s): pack would refuse. Rename them, or pass --allow-unportable-names.`
      : '  Nothing was written (--dry-run).');
  } else {
    if (r.resumedSegments) out.push(`  resumed: ${r.resumedSegments} finished segment(s) were kept`);
    for (const w of r.written) for (const d of w.dirs) out.push(`  wrote volume ${w.volume}: ${d}`);
    const others = r.plan.volumes.map((v) => v.index).filter((i) => !r.written.some((w) => w.volume === i));
    const created = r.bundle.created.replace(/\.000Z$/, 'Z');
    if (others.length) {
      out.push(r.targets
        ? `  the set's other volume(s) ${others.join(', ')}: the same command with --out <n>:<dir> for them instead, and the same --created ${created}`
        : `  the set's other volume(s) ${others.join(', ')}: the same command with --volume <n> instead, the same --created ${created}, and another --out`);
    }
    out.push(`  read ${formatSize(r.bytesRead)} in ${formatDuration(r.seconds)}`);
    if (r.verify.length) {
      const bad = r.verify.filter((v) => !v.ok);
      out.push(`  read-back (${r.verifyMethod === 'direct' ? 'O_DIRECT, past the page cache' : r.verifyMethod === 'dropped-cache' ? 'page cache dropped first' : 'from the page cache: this filesystem cannot bypass it'}): ` +
        (bad.length ? `${bad.length} volume copy(ies) DAMAGED` : `all ${r.verify.length} volume copy(ies) match, byte for byte`));
      for (const b of bad) for (const pr of b.problems.slice(0, 50)) out.push(`    ${b.dir}: ${pr.detail}`);
    } else out.push('  read-back skipped (--no-verify)');
  }
  process.stdout.write(out.join('\n') + '\n');
}
