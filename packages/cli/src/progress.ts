import type cliProgressModule from 'cli-progress';
import { createRequire } from 'node:module';
import { formatSize } from '@bookcrate/format';
import { messages, type Lang } from './i18n.js';

export interface ProgressEvent {
  phase: string;
  bytesDone: number;
  /** of bytesDone, those passed over without reading (an import's files it does not need): not in the rate */
  bytesSkipped?: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  [k: string]: unknown;
}

export type OutputMode = 'tty' | 'plain' | 'json';

/**
 * cli-progress and its five modules are loaded when a bar is first drawn, on a terminal only: a
 * command in a log or with --json starts without them (each is a file read before the first byte
 * of a cold disk is, docs/performance.md, run W).
 */
const loadCliProgress = (): typeof cliProgressModule => createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;

/** A phase's rate and ETA are shown once it has run this long (before, they would be noise or 0). */
const RATE_AFTER_SECONDS = 1;

/** Every bar on the screen now: an interrupted command stops them so the terminal gets its cursor back. */
const drawn = new Set<ProgressView>();

/** Stops every progress bar (interrupt.ts, before the process exits on a signal). */
export function stopAllProgress(): void {
  for (const view of drawn) view.stop();
}

/**
 * Turns the libraries' progress events into what the person at the keyboard sees: bars with
 * throughput and ETA on a terminal, a plain line every few seconds in a log, JSON lines with --json.
 * The libraries never print; this is the only place that draws progress.
 */
export class ProgressView {
  private bar: cliProgressModule.SingleBar | undefined;
  private phase = '';
  private lastPlain = 0;
  private lastJson = 0;
  private started = Date.now();
  private phaseStart = Date.now();
  private phaseBytes = 0;
  private phaseSkipped = 0;

  private readonly m: ReturnType<typeof messages>;

  constructor(private readonly mode: OutputMode, lang: Lang = 'en') {
    this.m = messages(lang);
  }

  static modeFor(json: boolean): OutputMode {
    return json ? 'json' : process.stderr.isTTY ? 'tty' : 'plain';
  }

  update(e: ProgressEvent): void {
    const now = Date.now();
    const newPhase = e.phase !== this.phase;
    if (newPhase) {
      this.stop();
      this.phase = e.phase;
      this.phaseStart = now;
      this.phaseBytes = e.bytesDone;
      this.phaseSkipped = e.bytesSkipped ?? 0;
    }
    if (this.mode === 'json') {
      if (newPhase || now - this.lastJson >= 1000 || (e.bytesTotal > 0 && e.bytesDone === e.bytesTotal)) {
        this.lastJson = now;
        process.stdout.write(JSON.stringify({ event: 'progress', ...e }) + '\n');
      }
      return;
    }
    const seconds = Math.max(0.001, (now - this.phaseStart) / 1000);
    const skipped = (e.bytesSkipped ?? 0) - this.phaseSkipped;
    // The rate shown is the disk's (bytes read); the ETA goes by everything gone through, passed over too.
    // Neither is known in a phase's first second: its first line said "0 B/s" of a phase that had
    // not yet had time to move a byte (a log read later took that for a stalled disk).
    const measured = seconds >= RATE_AFTER_SECONDS;
    const rate = (e.bytesDone - this.phaseBytes - skipped) / seconds;
    const through = (e.bytesDone - this.phaseBytes) / seconds;
    const eta = measured && through > 0 && e.bytesTotal > 0 ? (e.bytesTotal - e.bytesDone) / through : NaN;
    const phase = this.m.progressPhase(e.phase);
    const payload = {
      phase: phase.padEnd(8),
      bytes: `${formatSize(e.bytesDone)}/${formatSize(e.bytesTotal)}`,
      files: this.m.progressFiles(e.filesDone, e.filesTotal),
      rate: measured ? `${formatSize(rate)}/s` : '--',
      etaText: Number.isFinite(eta) ? formatDuration(eta) : '--',
    };
    if (this.mode === 'tty') {
      if (!this.bar) {
        const cliProgress = loadCliProgress();
        this.bar = new cliProgress.SingleBar(
          { format: `{phase} [{bar}] {percentage}% | {bytes} | {files} | {rate} | ${this.m.progressEta} {etaText}`, stream: process.stderr, hideCursor: true, barsize: 30, fps: 5 },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(Math.max(1, e.bytesTotal || e.filesTotal), 0, payload);
        drawn.add(this);
      }
      this.bar.setTotal(Math.max(1, e.bytesTotal || e.filesTotal));
      this.bar.update(e.bytesTotal ? e.bytesDone : e.filesDone, payload);
      return;
    }
    if (newPhase || now - this.lastPlain >= 5000) {
      this.lastPlain = now;
      const pct = e.bytesTotal > 0 ? ` ${((100 * e.bytesDone) / e.bytesTotal).toFixed(1)}%` : '';
      // A phase without bytes (reading the manifest, planning) shows its files alone.
      const bytes = e.bytesTotal > 0 || e.bytesDone > 0 ? ` ${payload.bytes}` : '';
      const rate = bytes ? ` ${payload.rate} ${this.m.progressEta} ${payload.etaText}` : '';
      process.stderr.write(`[${formatDuration((now - this.started) / 1000)}] ${phase}${pct}${bytes} ${payload.files}${rate}\n`);
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    drawn.delete(this);
  }
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
