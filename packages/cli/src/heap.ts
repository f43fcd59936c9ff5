import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/** total heap (new and old space) of the main thread above which a full collection is forced */
const HEAP_LIMIT = 56e6;
const CHECK_EVERY_MS = 250;

/**
 * Keeps the main thread's heap near its live size during long commands. pack, verify and import
 * keep only ~15 MB alive on the main thread, but through a photo folder they produce garbage
 * fast (lines, headers, promises) and V8, sizing its heap for a machine with plenty of RAM, let
 * that garbage grow the heap to ~90 MB before it collected it — half of the 200 MB budget the
 * brief sets for a county's old PC (docs/performance.md, "Peak memory"). A full collection of a
 * ~15 MB live set takes ~10 ms; with this check it runs a few times per run.
 *
 * The collector is reached the documented-but-unusual way (the --expose-gc flag set at run time,
 * the gc function taken from a fresh context); where that fails, nothing is forced.
 */
export function keepHeapSmall(): void {
  let gc: (() => void) | undefined;
  try {
    v8.setFlagsFromString('--expose-gc');
    const f = runInNewContext('gc') as unknown;
    if (typeof f === 'function') gc = f as () => void;
  } catch {
    gc = undefined;
  }
  if (!gc) return;
  const collect = gc;
  const timer = setInterval(() => {
    if (v8.getHeapStatistics().total_heap_size > HEAP_LIMIT) collect();
  }, CHECK_EVERY_MS);
  timer.unref();
}
