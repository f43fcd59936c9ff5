import { BookcrateError, formatFingerprint, formatSize, publicKeyPem } from '@bookcrate/format';
import { checkStore, rebuildCatalog, Store, type CheckReport, type RebuildReport } from '@bookcrate/store';
import { readPublicKey } from '@bookcrate/volume';
import { EXIT } from '../exit-codes.js';
import { detectLang, messages } from '../i18n.js';
import { padColumns, printJson, reportTime, saveReport, saveReportWithError } from '../output.js';
import { ProgressView } from '../progress.js';

/** `bookcrate check`: the store's own files read back and hashed (store/check.ts); exit 1 when any was bad. */
export async function checkCommand(flags: {
  store: string; fast?: boolean; restart?: boolean; wait?: boolean; json?: boolean; lang?: string; report?: string;
  rebuildCatalog?: boolean; trust?: string; force?: boolean;
}): Promise<number> {
  const lang = detectLang(flags.lang);
  const m = messages(lang);
  if (flags.rebuildCatalog) return rebuildCommand(flags, lang);
  for (const [flag, given] of [['--trust', flags.trust], ['--force', flags.force]] as const) {
    if (given) throw new BookcrateError('USAGE', `${flag} goes with --rebuild-catalog`, { hint: 'bookcrate check --store <dir> --rebuild-catalog ' + flag + (flag === '--trust' ? ' <center.pub>' : '') });
  }
  const store = await Store.open(flags.store);
  try {
    // A yielding lock: an import or a mirror round that asks for the store goes first, between pages.
    const lock = await store.lockYielding('check', !!flags.wait);
    let report: CheckReport;
    const view = new ProgressView(ProgressView.modeFor(!!flags.json), lang);
    const head = [m.reportHead('check', flags.store, reportTime()), ''];
    try {
      report = await checkStore(store, { fast: !!flags.fast, restart: !!flags.restart, onProgress: (p) => view.update({ ...p }), between: () => lock.yieldIfWanted() });
    } catch (e) {
      if (flags.report) await saveReportWithError(flags.report, head, e, lang, !!flags.json);
      throw e;
    } finally {
      view.stop();
      await lock.unlock();
    }
    const lines = (limit: number) => [...reportLines(report, m, limit), ...(lock.yielded ? [m.checkYielded(lock.yielded)] : [])];
    if (flags.json) printJson({ event: 'result', ...report, yielded: lock.yielded });
    else process.stdout.write(lines(SHOWN).join('\n') + '\n');
    if (flags.report) {
      await saveReport(flags.report, [...head, ...lines(Infinity)]);
      if (!flags.json) process.stdout.write(m.reportSaved(flags.report) + '\n');
    }
    return report.badCount + (report.resumed?.bad ?? 0) > 0 || report.catalog?.problems.length ? EXIT.DAMAGE : EXIT.OK;
  } finally {
    store.close();
  }
}

/** `bookcrate check --rebuild-catalog`: a new catalog from what the store holds (store/rebuild.ts); exit 1 when anything is missing or bad. */
async function rebuildCommand(flags: Parameters<typeof checkCommand>[0], lang: ReturnType<typeof detectLang>): Promise<number> {
  const m = messages(lang);
  if (flags.restart) throw new BookcrateError('USAGE', '--restart does not go with --rebuild-catalog', { hint: 'a stopped rebuild goes on by itself when the same command is run again' });
  const trustPem = flags.trust ? publicKeyPem(await readPublicKey(flags.trust)) : undefined;
  const view = new ProgressView(ProgressView.modeFor(!!flags.json), lang);
  const head = [m.rebuildHead(flags.store), reportTime(), ''];
  let report: RebuildReport;
  try {
    report = await rebuildCatalog(flags.store, {
      fast: !!flags.fast, force: !!flags.force, wait: !!flags.wait, ...(trustPem ? { trustPem } : {}),
      onProgress: (p) => view.update({ ...p }),
    });
  } catch (e) {
    if (flags.report) await saveReportWithError(flags.report, head, e, lang, !!flags.json);
    throw e;
  } finally {
    view.stop();
  }
  const lines = (limit: number) => rebuildLines(report, m, limit);
  if (flags.json) printJson({ event: 'result', ...report });
  else process.stdout.write(lines(SHOWN).join('\n') + '\n');
  if (flags.report) {
    await saveReport(flags.report, [...head, ...lines(Infinity)]);
    if (!flags.json) process.stdout.write(m.reportSaved(flags.report) + '\n');
  }
  return report.ok ? EXIT.OK : EXIT.DAMAGE;
}

function rebuildLines(r: RebuildReport, m: ReturnType<typeof messages>, limit: number): string[] {
  const out = [m.rebuildHead(r.store)];
  if (r.resumed) out.push(m.rebuildResumed);
  out.push(m.rebuildOldCatalog(r.oldCatalogProblems, r.salvaged.versions));
  out.push(m.rebuildKey(r.key.fingerprints.map(formatFingerprint), r.key.from));
  out.push(m.rebuildObjects(r.objects.found, formatSize(r.objects.bytes)));
  if (r.objects.recovered) out.push(m.recoveredFromTree(r.objects.recovered));
  for (const v of r.versions) out.push(m.rebuildVersion(v.bundle, v.version, v.files, v.state, v.current, v.missing));
  for (const v of r.incompleteDiskVersions) out.push(m.rebuildIncomplete(v.bundle, v.version, v.volumes));
  for (const v of r.superseded) out.push(m.rebuildSuperseded(v.bundle, v.version));
  for (const sk of r.skipped) out.push(m.rebuildSkipped(sk.bundle ? `${sk.bundle} v${sk.version}` : sk.root, sk.reason));
  out.push('');
  // The check of the new catalog, as `bookcrate check` says it, without its own verdict line.
  out.push(...reportLines(r.check, m, limit, false), '');
  if (r.oldCatalog) out.push(m.rebuildOldKept(r.oldCatalog));
  out.push(r.ok ? m.rebuildDone : m.rebuildDoneDamaged);
  return out;
}

/** Bad objects listed on the screen (--report and --json have the first thousand; `status` lists every damaged file). */
const SHOWN = 200;

/** `verdict`: false leaves out the closing "Result: OK" (the rebuild says its own). */
function reportLines(r: CheckReport, m: ReturnType<typeof messages>, limit: number, verdict = true): string[] {
  const out = [m.checkHead(r.store)];
  if (r.resumed) out.push(m.checkResumed(r.resumed.objects, formatSize(r.resumed.bytes), r.resumed.bad));
  if (r.recovered) out.push(m.recoveredFromTree(r.recovered));
  const thisRun = r.checked.bytes - (r.resumed?.bytes ?? 0);
  out.push(m.checkCounts(r.mode === 'full', r.checked.objects, formatSize(r.checked.bytes), r.seconds.toFixed(1), formatSize(thisRun / Math.max(r.seconds, 0.001))));
  if (r.catalog?.problems.length) {
    out.push(m.checkCatalogBad(r.catalog.problems.length));
    for (const p of r.catalog.problems.slice(0, 10)) out.push(`    ${p}`);
  } else if (r.catalog) out.push(m.checkCatalogOk);
  for (const t of r.trees) {
    if (t.problemCount === 0) out.push(m.checkTree(t.bundle, t.version, t.files));
    else {
      out.push(m.checkTreeProblems(t.bundle, t.version, t.problemCount));
      for (const p of t.problems) out.push(`    ${padColumns(m.problem(p.reason), 10)} ${p.path}`);
      if (t.problemCount > t.problems.length) out.push(`    ${m.more(t.problemCount - t.problems.length)}`);
    }
    if (t.rebuilt) out.push(m.checkTreeRebuilt);
  }
  if (r.catalog?.problems.length) out.push(m.checkCatalogNext);
  if (r.badCount > 0) {
    out.push(m.checkBad(r.badCount, r.damagedFiles));
    for (const b of r.bad.slice(0, limit)) {
      const where = b.files.length > 0 ? b.files.map((f) => `${f.bundle} v${f.version} ${f.path}`).join('; ') : b.sha256;
      out.push(`  ${padColumns(m.problem(b.reason), 12)} ${where}`);
    }
    const listed = Math.min(r.bad.length, limit);
    if (r.badCount > listed) out.push(`  ${m.more(r.badCount - listed)}`);
    out.push(m.checkBadNext);
  } else if (r.resumed?.bad) {
    out.push(m.checkBadBefore(r.resumed.bad));
    out.push(m.checkBadNext);
  } else if (!verdict) return out;
  else if (r.trees.some((t) => t.problemCount > 0)) out.push(m.checkTreeFixed);
  else if (!r.catalog?.problems.length) out.push(r.mode === 'full' ? m.checkOk : m.checkOkFast);
  return out;
}
