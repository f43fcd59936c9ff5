import { BookcrateError, formatFingerprint, formatSize, localTime } from '@bookcrate/format';
import type { ImportReport } from '@bookcrate/importer';
import { lockHolder, Store } from '@bookcrate/store';
import { detectLang, messages } from '../i18n.js';
import { padColumns, printJson } from '../output.js';
import { printReport } from './import.js';

/** How often a store's files should be read back (`bookcrate check`): a season, with some slack. */
const CHECK_EVERY_DAYS = 100;

/** What the store holds: versions, volumes in and awaited, damaged files, recent imports. */
export async function statusCommand(flags: { store: string; json?: boolean; lang?: string; import?: string }): Promise<number> {
  const store = await Store.open(flags.store, { readonly: true });
  try {
    if (flags.import !== undefined) return importRunReport(store, flags.import, flags);
    const versions = store.allVersions().map((v) => {
      return {
        bundle: v.bundle_id, version: v.version, title: v.title, set: v.set_id, origin: v.origin, state: v.state, current: v.is_current === 1,
        ...store.volumesOf(v),
        files: v.files, ...store.fileCounts(v.id), damagedFiles: store.damagedFiles(v.id),
        // 'all', or the collections this library carries (import --only)
        carried: store.carriedCollections(v.bundle_id).length > 0 ? store.collections(v.id).map((c) => ({ id: c.id, title: c.title })) : 'all' as const,
        // what it brings readers against the version they had when it arrived (the home page's new and updated resources)
        brought: store.brought(v.id),
      };
    });
    const keys = store.trustedKeys().map((k) => ({ fingerprint: k.fingerprint, source: k.source, pinnedAt: k.pinned_at }));
    const imports = store.imports(10).map((i) => ({ id: i.id, volume: i.volume, source: i.source, state: i.state, started: i.started_at, finished: i.finished_at }));
    // The newest unfinished check is running if a check holds the store now; else it was stopped.
    const checking = lockHolder(store.paths.lock)?.what === 'check';
    const checks = store.checks(5).map((c, i) => ({
      id: c.id, mode: c.mode, started: c.started_at, finished: c.finished_at, objects: c.objects, bytes: c.bytes, bad: c.bad,
      state: c.finished_at ? 'done' as const : i === 0 && checking ? 'running' as const : 'stopped' as const,
    }));
    const rounds = store.rounds(10).map((r) => ({ id: r.id, upstream: r.upstream, started: r.started_at, finished: r.finished_at, outcome: r.outcome, version: r.version, bytes: r.bytes, objects: r.objects }));
    // What a mirror of this store serves the tier below on (its --listen): the pointer of the current version.
    const pointer = store.servedPointer();
    const servedPointer = pointer ? { bundle: pointer.bundle_id, version: pointer.version, expires: pointer.expires } : null;
    if (flags.json) {
      printJson({ event: 'result', store: flags.store, keys, versions, imports, mirror: { rounds, servedPointer }, checks });
      return 0;
    }
    const m = messages(detectLang(flags.lang));
    const out: string[] = [];
    for (const k of keys) out.push(m.statusKey(formatFingerprint(k.fingerprint)));
    if (versions.length === 0) out.push(m.statusNone);
    for (const v of versions) {
      out.push(m.statusVersion(v.title, v.bundle, v.version, v.supersededBy ? 'superseded' : v.state, v.current, v.replacedBy));
      if (v.origin === 'network') out.push(m.statusFromNetwork);
      else if (v.supersededBy) out.push(m.statusSuperseded(v.supersededBy, v.volumesIn.join(', ')));
      else out.push(m.statusVolumes(v.volumesIn.join(', '), v.volumesAwaited.join(', ')));
      out.push(m.statusFiles(v.files, v.present, v.damaged, v.pending));
      if (v.carried !== 'all') out.push(m.statusCarried(v.carried.map((c) => c.title), v.notCarried));
      if (v.brought && v.state === 'complete' && v.replacedBy === undefined) out.push(m.brought(v.brought.comparedWith, v.brought.newResources, v.brought.updatedResources));
      const newer = v.supersededBy ?? v.replacedBy;
      if (newer !== undefined) {
        // A newer version is complete: what this one lacks is fetched for no one (Store.volumesOf).
        if (v.damagedFiles.length > 0) out.push(m.statusDamagedMoot(v.damagedFiles.length, newer));
        continue;
      }
      for (const d of v.damagedFiles.slice(0, 50)) out.push(`    ${padColumns(m.problem(d.reason), 10)} ${d.path}`);
      if (v.damagedFiles.length > 50) out.push(`    ${m.more(v.damagedFiles.length - 50)}`);
      if (v.damagedFiles.length > 0) out.push(m.statusDamagedNext);
    }
    if (imports.length) {
      out.push(m.statusImports);
      for (const i of imports) out.push(m.statusImport(i.id, localTime(i.started), i.state, i.volume, i.source));
    }
    if (rounds.length) {
      out.push(m.statusRounds);
      for (const r of rounds) out.push(m.statusRound(r.id, localTime(r.started), r.outcome, r.version, formatSize(r.bytes), r.upstream));
      out.push(servedPointer ? m.statusServes(servedPointer.version, localTime(servedPointer.expires)) : m.statusServesNone);
    }
    if (checks.length) {
      out.push(m.statusChecks);
      for (const c of checks) out.push(m.statusCheck(localTime(c.started), c.mode, c.state, c.objects, c.bad));
    }
    // A store that holds a version and has not been read back in a season is told so, with the command.
    const lastFull = store.lastFinishedCheck('full');
    const daysSince = lastFull ? Math.floor((Date.now() - Date.parse(lastFull.finished_at!)) / 86_400_000) : undefined;
    if (versions.some((v) => v.state === 'complete') && (daysSince === undefined || daysSince > CHECK_EVERY_DAYS)) {
      out.push(m.statusCheckDue(daysSince, flags.store));
    }
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  } finally {
    store.close();
  }
}

/**
 * One import's whole report, as saved in the store when it finished: the librarian prints or files
 * it later (the import itself printed it once, on a screen that may be long closed).
 */
function importRunReport(store: Store, n: string, flags: { json?: boolean; lang?: string }): number {
  const id = Number(n.replace(/^#/, ''));
  const run = Number.isSafeInteger(id) && id > 0 ? store.importRun(id) : undefined;
  if (!run) {
    throw new BookcrateError('USAGE', `no import #${n} in this store`, {
      hint: 'bookcrate status --store <dir> lists the recent imports with their numbers', say: { id: 'no-such-import', args: { n } },
    });
  }
  // a failed import keeps what stopped it ({ error, code }); a finished one its report
  const saved = run.report ? (JSON.parse(run.report) as Record<string, unknown>) : undefined;
  const failure = run.state === 'failed' && saved ? { error: String(saved.error), code: String(saved.code) } : undefined;
  const report = failure ? undefined : (saved as ImportReport | undefined);
  if (flags.json) {
    printJson({ event: 'result', id: run.id, source: run.source, state: run.state, started: run.started_at, finished: run.finished_at, report: report ?? null, ...(failure ? { failure } : {}) });
    return 0;
  }
  const m = messages(detectLang(flags.lang));
  process.stdout.write(m.importRunHead(run.id, localTime(run.started_at), run.state, run.source) + '\n');
  if (report) printReport(report, m, false);
  else if (failure) process.stdout.write(m.importRunFailed(failure.error) + '\n');
  else process.stdout.write(m.importRunNoReport + '\n');
  return 0;
}
