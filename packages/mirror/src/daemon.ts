import { readdirSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { BookcrateError, isBookcrateError } from '@bookcrate/format';
import { Store } from '@bookcrate/store';
import { Upstream, type UpstreamOptions } from './http.js';
import { PARTS_AT_ONCE, startRepoServer, type RunningRepoServer } from './repo-server.js';
import { DEFAULT_CONCURRENCY, syncRound, type RoundProgress, type RoundReport } from './sync.js';

/**
 * `bookcrate mirror`: rounds against one upstream, forever (or `once`), with a status endpoint,
 * Prometheus metrics and the store served on to the tier below. Every round takes the store lock,
 * so an import and a round never write at the same time; a busy store skips a round.
 */
export interface MirrorOptions {
  upstream: string;
  store: string;
  trust?: KeyObject;
  intervalMs?: number; // default 10 minutes
  once?: boolean;
  listen?: string;
  concurrency?: number;
  gcAfterMs?: number;
  http?: Omit<UpstreamOptions, 'signal' | 'log'>;
  signal?: AbortSignal;
  log?: (event: Record<string, unknown>) => void;
  onProgress?: (p: RoundProgress) => void;
  /** How often a running round logs a `progress` event. Default 1 s. */
  progressEveryMs?: number;
  /** Called once the server listens (tests and the CLI print the address). */
  onListening?: (url: string) => void;
  now?: () => number;
}

export type RoundOutcome =
  | { ok: true; report: RoundReport }
  | { ok: false; outcome: 'refused' | 'failed' | 'busy' | 'aborted'; error: Error };

interface State {
  started: string;
  upstream: string;
  rounds: Record<string, number>;
  lastRound?: { at: string; outcome: string; version?: number; error?: string; seconds?: number };
  lastSuccess?: string;
  inRound: boolean;
  progress?: RoundProgress;
  receivedBytes: number;
  objectsFetched: number;
}

/** Refusals are the upstream's fault and must not be retried blindly; failures are weather. */
function classify(e: unknown): 'refused' | 'failed' | 'busy' | 'aborted' {
  if ((e as Error).name === 'AbortError') return 'aborted';
  if (isBookcrateError(e, 'BUSY')) return 'busy';
  if (isBookcrateError(e) && ['SIGNATURE', 'STALE', 'UNTRUSTED', 'FORMAT'].includes(e.code)) return 'refused';
  return 'failed';
}

export async function runMirror(o: MirrorOptions): Promise<RoundOutcome> {
  const log = o.log ?? (() => {});
  const store = await Store.open(o.store, { create: true });
  // A connection for every object fetched at once, two for the manifest parts beside them, and with
  // --listen those of the parts fetched for the tier below: a request of the round queued behind
  // them for a connection would count its wait as a stall.
  const maxSockets = (o.concurrency ?? DEFAULT_CONCURRENCY) + 2 + (o.listen ? PARTS_AT_ONCE : 0);
  const upstream = new Upstream(o.upstream, { maxSockets, ...o.http, signal: o.signal, log });
  const state: State = { started: new Date().toISOString(), upstream: o.upstream, rounds: {}, inRound: false, receivedBytes: 0, objectsFetched: 0 };
  let server: RunningRepoServer | undefined;
  try {
    if (o.listen) {
      server = await startRepoServer({
        store, listen: o.listen, upstream, log,
        status: () => statusDoc(store, state),
        metrics: () => metricsText(store, state, upstream, server),
      });
      log({ event: 'listening', url: server.url });
      o.onListening?.(server.url);
    }
    let last: RoundOutcome;
    for (;;) {
      last = await oneRound(o, store, upstream, state, log);
      if (o.once || o.signal?.aborted) return last;
      await sleep(jitter(o.intervalMs ?? 600_000), o.signal);
      if (o.signal?.aborted) return last;
    }
  } finally {
    await server?.close();
    upstream.close();
    store.close();
  }
}

async function oneRound(o: MirrorOptions, store: Store, upstream: Upstream, state: State, log: (e: Record<string, unknown>) => void): Promise<RoundOutcome> {
  const t0 = Date.now();
  let release: (() => Promise<void>) | undefined;
  let roundId: number | undefined;
  state.inRound = true;
  log({ event: 'round-start', upstream: o.upstream });
  // A heartbeat while a round runs: what it is doing and what it has received so far.
  const receivedAtStart = upstream.stats.bytes;
  const heartbeat = setInterval(() => {
    if (state.progress) log({ event: 'progress', ...state.progress, received: upstream.stats.bytes - receivedAtStart });
  }, o.progressEveryMs ?? 1000);
  heartbeat.unref();
  try {
    release = await store.lock('bookcrate mirror', false, (holder) => log({ event: 'waiting', for: holder }));
    // A catalog rebuilt since the last round (check --rebuild-catalog) is a new file: this round writes there.
    if (store.reopenIfReplaced()) log({ event: 'catalog-reopened', catalog: store.paths.catalog });
    roundId = store.startRound(o.upstream);
    const report = await syncRound({
      upstream, store, trust: o.trust, concurrency: o.concurrency, gcAfterMs: o.gcAfterMs, now: o.now, signal: o.signal, log,
      onProgress: (p) => {
        state.progress = p;
        o.onProgress?.(p);
      },
    });
    store.finishRound(roundId, { outcome: report.outcome, version: report.version, bytes: report.fetched.bytes, objects: report.fetched.objects, report });
    state.rounds[report.outcome] = (state.rounds[report.outcome] ?? 0) + 1;
    state.lastRound = { at: new Date().toISOString(), outcome: report.outcome, version: report.version, seconds: report.seconds };
    state.lastSuccess = state.lastRound.at;
    state.receivedBytes += report.fetched.bytes;
    state.objectsFetched += report.fetched.objects;
    log({ event: 'round-end', ...report });
    return { ok: true, report };
  } catch (e) {
    const outcome = classify(e);
    const err = e instanceof Error ? e : new Error(String(e));
    if (roundId !== undefined) store.finishRound(roundId, { outcome, version: null, bytes: 0, objects: 0, report: { error: err.message, code: (e as BookcrateError).code } });
    state.rounds[outcome] = (state.rounds[outcome] ?? 0) + 1;
    state.lastRound = { at: new Date().toISOString(), outcome, error: err.message, seconds: (Date.now() - t0) / 1000 };
    log({ event: 'round-end', outcome, error: err.message, code: (e as BookcrateError).code, hint: (e as BookcrateError).hint });
    return { ok: false, outcome, error: err };
  } finally {
    clearInterval(heartbeat);
    state.inRound = false;
    state.progress = undefined;
    await release?.();
  }
}

function jitter(ms: number): number {
  return Math.round(ms * (0.9 + Math.random() * 0.2));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function statusDoc(store: Store, state: State): unknown {
  const versions = store.currentVersions().map((v) => ({ bundle: v.bundle_id, version: v.version, title: v.title, origin: v.origin, files: v.files, bytes: v.bytes, completed: v.completed_at }));
  const pointer = store.servedPointer();
  return {
    upstream: state.upstream, started: state.started, inRound: state.inRound, progress: state.progress ?? null,
    lastRound: state.lastRound ?? null, lastSuccess: state.lastSuccess ?? null, rounds: state.rounds,
    current: versions, servedPointer: pointer ? { bundle: pointer.bundle_id, version: pointer.version, expires: pointer.expires } : null,
    received: { bytes: state.receivedBytes, objects: state.objectsFetched },
    // `bookcrate check` of this store, run beside the daemon (docs/store.md, "Checking the store")
    damagedFiles: store.currentVersions().reduce((n, v) => n + store.damagedCount(v.id), 0),
    checks: store.checks(3).map((c) => ({ mode: c.mode, started: c.started_at, finished: c.finished_at, objects: c.objects, bad: c.bad })),
  };
}

/** This process's open descriptors, where /proc tells (Linux). */
function openDescriptors(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // less the one readdir held
  } catch {
    return undefined;
  }
}

function metricsText(store: Store, state: State, upstream: Upstream, server: RunningRepoServer | undefined): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
  };
  metric('bookcrate_mirror_rounds_total', 'counter', 'Mirror rounds by outcome.',
    ['up-to-date', 'updated', 'repaired', 'refused', 'failed', 'busy', 'aborted'].map((k) => [`{outcome="${k}"}`, state.rounds[k] ?? 0]));
  metric('bookcrate_mirror_round_in_progress', 'gauge', '1 while a round runs.', [['', state.inRound ? 1 : 0]]);
  metric('bookcrate_mirror_received_bytes_total', 'counter', 'Bytes received from the upstream (all attempts).', [['', upstream.stats.bytes]]);
  metric('bookcrate_mirror_requests_total', 'counter', 'HTTP requests sent to the upstream.', [['', upstream.stats.requests]]);
  metric('bookcrate_mirror_retries_total', 'counter', 'Upstream requests retried.', [['', upstream.stats.retries]]);
  metric('bookcrate_mirror_objects_fetched_total', 'counter', 'Objects admitted from the network.', [['', state.objectsFetched]]);
  const cur = store.currentVersions();
  metric('bookcrate_mirror_current_version', 'gauge', 'The version readers see, per bundle.', cur.map((v) => [`{bundle="${v.bundle_id.replace(/["\\\n]/g, '_')}"}`, v.version]));
  const p = store.servedPointer();
  metric('bookcrate_mirror_pointer_expiry_timestamp_seconds', 'gauge', 'When the held pointer expires.', p ? [['', Math.floor(Date.parse(p.expires) / 1000)]] : []);
  metric('bookcrate_mirror_last_success_timestamp_seconds', 'gauge', 'End of the last round that ended on a verified version.', state.lastSuccess ? [['', Math.floor(Date.parse(state.lastSuccess) / 1000)]] : []);
  // What `bookcrate check`, run beside the daemon, found: alert on bad objects, or on a store not read back for a season.
  metric('bookcrate_store_damaged_files', 'gauge', 'Files of the versions readers see recorded as damaged (the next rounds fetch them).',
    [['', cur.reduce((n, v) => n + store.damagedCount(v.id), 0)]]);
  const lastChecks = (['full', 'fast'] as const).map((mode) => [mode, store.lastFinishedCheck(mode)] as const).filter(([, c]) => c);
  metric('bookcrate_store_check_finished_timestamp_seconds', 'gauge', 'When the last bookcrate check of each mode finished.',
    lastChecks.map(([mode, c]) => [`{mode="${mode}"}`, Math.floor(Date.parse(c!.finished_at!) / 1000)]));
  metric('bookcrate_store_check_bad_objects', 'gauge', 'Bad objects the last bookcrate check of each mode found.',
    lastChecks.map(([mode, c]) => [`{mode="${mode}"}`, c!.bad]));
  // The process itself, under the names Prometheus' own client libraries use: a daemon that runs for
  // months is watched for memory and descriptors creeping up (the soak test in mirror.e2e.test.ts).
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  metric('process_start_time_seconds', 'gauge', 'Start time of the process since the Unix epoch.', [['', Math.floor(Date.now() / 1000 - process.uptime())]]);
  metric('process_cpu_seconds_total', 'counter', 'User and system CPU time spent.', [['', (cpu.user + cpu.system) / 1e6]]);
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory size.', [['', mem.rss]]);
  metric('nodejs_heap_size_total_bytes', 'gauge', 'JavaScript heap the process has taken from the system.', [['', mem.heapTotal]]);
  metric('nodejs_heap_size_used_bytes', 'gauge', 'JavaScript heap in use.', [['', mem.heapUsed]]);
  metric('nodejs_external_memory_bytes', 'gauge', 'Memory outside the JavaScript heap held by its objects (buffers).', [['', mem.external]]);
  const fds = openDescriptors();
  metric('process_open_fds', 'gauge', 'Open file descriptors (Linux).', fds === undefined ? [] : [['', fds]]);
  if (server) {
    metric('bookcrate_mirror_served_requests_total', 'counter', 'Requests served to the tier below.', [['', server.served.requests]]);
    metric('bookcrate_mirror_served_bytes_total', 'counter', 'Bytes served to the tier below.', [['', server.served.bytes]]);
    const parts = server.partsOnDemand;
    if (parts) {
      metric('bookcrate_mirror_parts_on_demand_total', 'counter', 'Manifest parts the tier below asked for and this store lacked, by what came of it.',
        (['fetched', 'missing', 'failed', 'shared', 'rememberedMissing'] as const).map((k) => [`{result="${k.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())}"}`, parts[k]]));
    }
  }
  return lines.join('\n') + '\n';
}
