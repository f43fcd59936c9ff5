import { formatFingerprint, formatSize } from '@bookcrate/format';
import { findVolumes, readPublicKey, verifyVolume, type VerifyReport } from '@bookcrate/volume';
import { EXIT } from '../exit-codes.js';
import { detectLang, messages } from '../i18n.js';
import { padColumns, printJson, reportTime, saveReport, saveReportWithError } from '../output.js';
import { ProgressView } from '../progress.js';

export interface VerifyFlags {
  fast?: boolean;
  strict?: boolean;
  pubkey?: string;
  json?: boolean;
  lang?: string;
  report?: string;
}

export async function verifyCommand(target: string, flags: VerifyFlags): Promise<number> {
  const trustedKey = flags.pubkey ? await readPublicKey(flags.pubkey) : undefined;
  const dirs = await findVolumes(target);
  const lang = detectLang(flags.lang);
  const view = new ProgressView(ProgressView.modeFor(!!flags.json), lang);
  const m = messages(lang);
  let worst: number = EXIT.OK;
  const saved: string[] = [m.reportHead('verify', target, reportTime()), ''];
  for (const dir of dirs) {
    let report: VerifyReport;
    try {
      report = await verifyVolume(dir, {
        mode: flags.fast ? 'fast' : 'full',
        strict: !!flags.strict,
        ...(trustedKey ? { trustedKey } : {}),
        onProgress: (p) => view.update({ ...p }),
      });
    } catch (e) {
      view.stop();
      if (flags.report) await saveReportWithError(flags.report, saved, e, lang, !!flags.json);
      throw e;
    }
    view.stop();
    if (flags.json) printJson({ event: 'result', ...report });
    else process.stdout.write(reportLines(report, m, SHOWN).join('\n') + '\n\n');
    if (flags.report) saved.push(...reportLines(report, m, Infinity), '');
    if (!report.ok) worst = EXIT.DAMAGE;
  }
  if (flags.report) {
    await saveReport(flags.report, saved);
    if (!flags.json) process.stdout.write(m.reportSaved(flags.report) + '\n');
  }
  return worst;
}

/** Problems listed on the screen; a report saved with --report lists them all. */
const SHOWN = 500;

function reportLines(r: VerifyReport, m: ReturnType<typeof messages>, limit: number): string[] {
  const out: string[] = [];
  out.push(m.volumeOf(r.volume, r.volumes, r.bundle.title, r.bundle.version, r.set));
  out.push(`  ${r.dir}`);
  const fp = formatFingerprint(r.key.fingerprint);
  out.push(r.key.source === 'trusted' ? m.keyTrusted(fp) : m.keyFromVolume(fp));
  const secs = r.seconds.toFixed(1);
  if (r.mode === 'full') out.push(m.checked(r.checked.segments, r.checked.files, formatSize(r.checked.bytes), secs, formatSize(r.checked.bytes / Math.max(r.seconds, 0.001))));
  else out.push(m.checkedFast(r.checked.segments, r.checked.files, secs));
  if (r.ok) out.push(r.mode === 'full' ? m.ok : m.okFast);
  else {
    out.push(m.damaged(r.problemCount, r.damagedFiles));
    // What is wrong with a segment (missing, cut short, a bad place on the disk) before the files it costs.
    const shown = r.problems.slice(0, limit).map((p, i) => ({ p, i, first: p.kind.startsWith('segment-') ? 0 : 1 }))
      .sort((a, b) => a.first - b.first || a.i - b.i).map((x) => x.p);
    for (const p of shown) {
      const span = p.length !== undefined ? ` (${formatSize(p.length)})` : '';
      const where = [p.path, p.segment && `${p.segment}${p.offset !== undefined ? `@${p.offset}` : ''}${span}`].filter(Boolean).join('  ');
      const hashes = p.expected ? `  ${m.expectedActual(p.expected, p.actual ?? '')}` : '';
      out.push(`  ${padColumns(m.problem(p.kind), 18)} ${where}${hashes}`);
    }
    if (r.problemCount > shown.length) out.push(`  ${m.more(r.problemCount - shown.length)}`);
    out.push(m.damagedNext);
  }
  return out;
}
