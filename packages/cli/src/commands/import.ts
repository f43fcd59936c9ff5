import { createInterface } from 'node:readline/promises';
import { formatSize, parseDuration } from '@bookcrate/format';
import type { ImportReport } from '@bookcrate/importer';
// only the thread's starter: the importer itself (the store, SQLite) is loaded by the importing thread
import { importVolumeInThread } from '@bookcrate/importer/thread';
import { findVolumes, readPublicKey } from '@bookcrate/volume';
import { EXIT } from '../exit-codes.js';
import { detectLang, messages } from '../i18n.js';
import { interrupted, isAbortedQuestion } from '../interrupt.js';
import { padColumns, printJson, reportTime, saveReport, saveReportWithError } from '../output.js';
import { ProgressView } from '../progress.js';

export interface ImportFlags {
  store: string;
  trust?: string;
  yes?: boolean;
  only?: string[];
  all?: boolean;
  wait?: boolean;
  /** false with --no-space-check */
  spaceCheck?: boolean;
  gcAfter?: string;
  json?: boolean;
  lang?: string;
  report?: string;
}

export async function importCommand(target: string, flags: ImportFlags): Promise<number> {
  const lang = detectLang(flags.lang);
  const m = messages(lang);
  const trust = flags.trust ? await readPublicKey(flags.trust) : undefined;
  const view = new ProgressView(ProgressView.modeFor(!!flags.json), lang);
  // Asked only on a first import, at a terminal: the librarian compares the fingerprint by eye.
  const confirmKey = process.stdin.isTTY && !flags.json
    ? async (fp: string): Promise<boolean> => {
        view.stop();
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        // Ctrl-C at the question is a stop like any other (at a terminal readline takes the ^C
        // itself, so no signal comes); Ctrl-D, the end of the input, is no answer: not confirmed.
        rl.on('SIGINT', () => interrupted('import', lang, false, 'SIGINT'));
        try {
          const answer = await rl.question(m.confirmKey(fp));
          return /^(y|yes|是|信任)$/i.test(answer.trim());
        } catch (e) {
          if (!isAbortedQuestion(e)) throw e;
          process.stderr.write('\n');
          return false;
        } finally {
          rl.close();
        }
      }
    : undefined;
  const gcAfterMs = flags.gcAfter !== undefined ? parseDuration(flags.gcAfter, '--gc-after') : undefined;
  let worst: number = EXIT.OK;
  const saved: string[] = [m.reportHead('import', target, reportTime()), ''];
  for (const dir of await findVolumes(target)) {
    const report = await importVolumeInThread({
      volume: dir, store: flags.store,
      ...(trust ? { trust } : {}), ...(confirmKey ? { confirmKey } : {}),
      yes: !!flags.yes, wait: !!flags.wait, spaceCheck: flags.spaceCheck !== false, ...(flags.only?.length ? { only: flags.only } : {}), all: !!flags.all,
      ...(gcAfterMs !== undefined ? { gcAfterMs } : {}),
      onProgress: (p) => view.update({ ...p }),
    }).finally(() => view.stop()).catch(async (e: unknown) => {
      if (flags.report) await saveReportWithError(flags.report, saved, e, lang, !!flags.json);
      throw e;
    });
    if (flags.json) printJson({ event: 'result', ...report });
    else printReport(report, m, !!flags.only?.length);
    if (flags.report) saved.push(...reportLines(report, m, !!flags.only?.length, Infinity), '');
    if (report.damaged.length > 0) worst = EXIT.DAMAGE;
  }
  if (flags.report) {
    await saveReport(flags.report, saved);
    if (!flags.json) process.stdout.write(m.reportSaved(flags.report) + '\n');
  }
  return worst;
}

/** The import's report in the librarian's words: at the end of an import, and again from `status --import <n>`. */
export function printReport(r: ImportReport, m: ReturnType<typeof messages>, onlyGiven: boolean): void {
  process.stdout.write(reportLines(r, m, onlyGiven, 500).join('\n') + '\n\n');
}

/** The report's lines, with the first `limit` damaged files (a report saved with --report lists them all). */
function reportLines(r: ImportReport, m: ReturnType<typeof messages>, onlyGiven: boolean, limit: number): string[] {
  const out: string[] = [m.importHead(r.volume.index, r.volume.of, r.bundle.title, r.bundle.version)];
  const secs = r.seconds.toFixed(1);
  out.push(m.importCounts(r.imported.files, formatSize(r.imported.bytes), r.alreadyPresent.files, formatSize(r.alreadyPresent.bytes), secs, formatSize(r.bytesRead / Math.max(r.seconds, 0.001))));
  // Every segment was journaled already (nothing read): the same disk again, not a resumed run.
  if (r.resumedSegments && r.bytesRead === 0 && r.imported.files === 0) out.push(m.importedBefore);
  else if (r.resumedSegments) out.push(m.resumed(r.resumedSegments));
  if (r.versionFromNetwork) out.push(m.versionFromNetwork);
  // Files left out by this run's --only, or by what the library carries since an earlier one.
  if (r.notSelected && onlyGiven) out.push(m.notSelected(r.notSelected));
  else if (r.carriesOnly) out.push(m.carriesOnly(r.carriesOnly, r.notSelected));
  if (r.bytesSkipped > 0) out.push(m.passedOver(formatSize(r.bytesSkipped)));
  if (r.headerProblems.length) out.push(m.headerWarn(r.headerProblems.length));
  if (r.damaged.length === 0) out.push(r.notSelected > 0 || r.carriesOnly ? m.importOkSelected : m.importOk);
  else {
    out.push(m.importDamaged(r.damaged.length));
    for (const d of r.damaged.slice(0, limit)) out.push(`  ${padColumns(m.problem(d.reason), 10)} ${d.path}${d.segment ? `  ${d.segment}@${d.offset}` : ''}${d.expected ? `  ${m.expectedActual(d.expected, d.actual ?? '')}` : ''}`);
    if (r.damaged.length > limit) out.push(`  ${m.more(r.damaged.length - limit)}`);
  }
  if (r.awaitingVolumes.length) out.push(m.awaiting(r.awaitingVolumes.join(', ')));
  if (r.current && r.libraryDir) out.push(r.damaged.length > 0 ? m.currentWithout(r.libraryDir, r.damaged.length) : m.current(r.libraryDir));
  if (r.current && r.brought) out.push(m.brought(r.brought.comparedWith, r.brought.newResources, r.brought.updatedResources));
  return out;
}
