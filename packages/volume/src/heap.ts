import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/** total heap (new and old space) below which nothing is forced, by default */
const HEAP_LIMIT = 56e6;
const CHECK_EVERY_MS = 250;

function oldSpace(): { size: number; used: number } {
  const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'old_space');
  return { size: s?.space_size ?? 0, used: s?.space_used_size ?? 0 };
}

/**
 * Keeps the calling thread's heap near its live size during long commands. pack and import keep only
 * ~10–15 MB alive on the thread they run on, but through a photo folder they promote garbage fast (lines,
 * headers, promises that outlive a scavenge), and V8, sizing its heap for a machine with plenty of
 * RAM, let the old space grow to ~55 MB of mostly garbage before it collected it: a quarter of the
 * 200 MB budget the brief sets for a county's old PC (docs/performance.md, "Peak memory").
 *
 * A full collection is forced when the heap has passed `limit` (a thread whose young generation is
 * bounded, such as import's, passes a lower one) and its old space has grown past
 * 1.5 times what was alive after the last forced one: a command whose live set is large by design
 * (verify and import decode tens of thousands of manifest entries ahead) is not collected over and
 * over for nothing.
 *
 * The collector is reached in the documented-but-unusual way (the --expose-gc flag set at run time,
 * the gc function taken from a fresh context); where that fails, nothing is forced.
 */
export function keepHeapSmall(opts: { limit?: number } = {}): void {
  const limit = opts.limit ?? HEAP_LIMIT;
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
  let liveAfterLast = 0;
  const timer = setInterval(() => {
    if (v8.getHeapStatistics().total_heap_size <= limit || oldSpace().size <= 1.5 * liveAfterLast) return;
    collect();
    liveAfterLast = oldSpace().used;
  }, CHECK_EVERY_MS);
  timer.unref();
}
