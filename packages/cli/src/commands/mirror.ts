import { readFile } from 'node:fs/promises';
import { BookcrateError, formatSize, parseDuration, parseRate } from '@bookcrate/format';
import { runMirror, DEFAULT_GC_AFTER_MS } from '@bookcrate/mirror';
import { readPublicKey } from '@bookcrate/volume';
import { EXIT } from '../exit-codes.js';
import { printJson, reportError } from '../output.js';

export interface MirrorFlags {
  upstream: string;
  store: string;
  trust?: string;
  interval: string;
  bwlimit?: string;
  concurrency: string;
  once?: boolean;
  listen?: string;
  tokenFile?: string;
  ca?: string;
  gcAfter?: string;
  stallTimeout: string;
  json?: boolean;
}

async function readFlagFile(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new BookcrateError('USAGE', `${flag} ${path} cannot be read: ${(e as Error).message}`, { hint: `check the path given to ${flag}` });
  }
}

/**
 * The mirror daemon. Logs are JSON lines on stdout (one per event, for journald or a log
 * collector); SIGTERM or SIGINT ends the current round cleanly (committed objects stay, partial
 * downloads are resumed next time) and exits 0. With --once the exit code says how the round ended.
 */
export async function mirrorCommand(flags: MirrorFlags): Promise<number> {
  const concurrency = Number(flags.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new BookcrateError('USAGE', `--concurrency "${flags.concurrency}" is not a whole number from 1 to 64`, { hint: 'for example --concurrency 4' });
  }
  const intervalMs = parseDuration(flags.interval, '--interval');
  const gcAfterMs = flags.gcAfter ? parseDuration(flags.gcAfter, '--gc-after') : DEFAULT_GC_AFTER_MS;
  const bwlimit = flags.bwlimit ? parseRate(flags.bwlimit, '--bwlimit') : undefined;
  const stallMs = parseDuration(flags.stallTimeout, '--stall-timeout');
  // Tests shorten the retry backoff; operators have no reason to.
  const backoffMs = process.env.BOOKCRATE_BACKOFF_MS ? Number(process.env.BOOKCRATE_BACKOFF_MS) : undefined;
  const trust = flags.trust ? await readPublicKey(flags.trust) : undefined;
  const token = flags.tokenFile ? (await readFlagFile(flags.tokenFile, '--token-file')).toString('utf8').trim() : undefined;
  const ca = flags.ca ? await readFlagFile(flags.ca, '--ca') : undefined;

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const log = (e: Record<string, unknown>) => printJson({ time: new Date().toISOString(), ...e });
  try {
    const last = await runMirror({
      upstream: flags.upstream, store: flags.store, ...(trust ? { trust } : {}), intervalMs, once: !!flags.once,
      ...(flags.listen ? { listen: flags.listen } : {}), concurrency, gcAfterMs,
      http: { stallMs, ...(backoffMs ? { backoffMs } : {}), ...(token !== undefined ? { token } : {}), ...(ca ? { ca } : {}), ...(bwlimit ? { bwlimit } : {}) },
      signal: stop.signal, log,
    });
    if (stop.signal.aborted && !flags.once) return EXIT.OK;
    if (last.ok) {
      if (!flags.json) {
        const r = last.report;
        process.stderr.write(`${r.outcome}: "${r.bundle}" version ${r.version}${r.previous !== null && r.previous !== r.version ? ` (was ${r.previous})` : ''}; ` +
          `received ${formatSize(r.fetched.bytes)} (${formatSize(r.fetched.metadataBytes)} metadata), ${r.fetched.objects} objects, ` +
          `${r.fetched.chunkedFiles} rebuilt from older copies (${formatSize(r.fetched.reusedBytes)} reused), in ${r.seconds.toFixed(1)} s\n` +
          (r.brought ? `  against version ${r.brought.comparedWith}, readers find ${r.brought.newResources} new resource(s) and ${r.brought.updatedResources} with new or changed files\n` : ''));
      }
      return EXIT.OK;
    }
    if (last.outcome === 'aborted') return EXIT.ENVIRONMENT;
    return reportError(last.error, !!flags.json);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
