import { EXIT } from './exit-codes.js';
import { messages, type Lang } from './i18n.js';
import { stopAllProgress } from './progress.js';

/** The commands that stop at once on a signal, each saying what it leaves behind. */
export type InterruptedWork = 'pack' | 'pack-dry-run' | 'verify' | 'import' | 'publish' | 'check';

/**
 * The signals that mean "stop": Ctrl-C, a service manager's stop, Ctrl-Break. Not SIGHUP: a listener
 * would override the `nohup` a center's operator starts a long pack with, and a closed terminal
 * has nobody left to read the message.
 */
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', ...(process.platform === 'win32' ? (['SIGBREAK'] as const) : [])];

/** 128 + the signal's number, as a shell reports a program the signal ended (Ctrl-Break as Ctrl-C). */
export function exitCodeForSignal(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED;
}

/**
 * Until the returned function is called, a stop signal ends the command at once: the progress bar
 * gives the terminal its cursor back, one line says what was kept and what to do, and the process
 * exits with 128 + the signal's number.
 *
 * At once, not after a graceful wind-down through the worker threads: every command that writes is
 * crash-safe by construction (a kill at any point loses nothing finished, docs/store.md and
 * docs/format.md), so stopping here is a SIGKILL with manners. Without this, node's default ended
 * the process in silence and left a terminal whose cursor the bar had hidden.
 */
export function exitOnInterrupt(work: InterruptedWork, lang: Lang, json: boolean): () => void {
  const handler = (signal: NodeJS.Signals): void => interrupted(work, lang, json, signal);
  for (const s of SIGNALS) process.on(s, handler);
  return () => {
    for (const s of SIGNALS) process.off(s, handler);
  };
}

/** Says the command stopped, and ends the process (also for Ctrl-C at a question, which readline takes). */
export function interrupted(work: InterruptedWork, lang: Lang, json: boolean, signal: NodeJS.Signals): never {
  stopAllProgress();
  const code = exitCodeForSignal(signal);
  const m = messages(lang);
  if (json) process.stdout.write(JSON.stringify({ event: 'interrupted', signal, exitCode: code }) + '\n');
  process.stderr.write(`\n${m.errorPrefix}${m.interrupted(signal === 'SIGINT' || signal === 'SIGBREAK' ? 'Ctrl-C' : signal, work)}\n`);
  process.exit(code);
}

/** A readline question ended without an answer (the input closed: Ctrl-D) rejects with an AbortError. */
export function isAbortedQuestion(e: unknown): boolean {
  return (e as { name?: string; code?: string } | null)?.name === 'AbortError' || (e as { code?: string } | null)?.code === 'ABORT_ERR';
}
