/**
 * Runs an async iterator ahead of its consumer, keeping up to `max` items ready, or items weighing
 * `max` in all where `weight` says what each weighs (a batch of entries: its length). Used for the
 * manifest: its parts are read and decoded while the consumer waits for segment bytes, instead of
 * in turn with them, so a stretch of many small files does not find the manifest work still to do.
 * Memory: items weighing at most `max`, plus the last one produced.
 */
export async function* readAhead<T>(source: AsyncIterable<T>, max: number, weight: (item: T) => number = () => 1): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  const ready: T[] = [];
  let head = 0;
  /** the weight of the items ready and not yet taken */
  let ahead = 0;
  let ended = false;
  let failure: { e: unknown } | undefined;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  let stopped = false;
  let sourceDone = false;
  const produce = async (): Promise<void> => {
    try {
      while (!stopped) {
        if (ahead >= max) {
          await new Promise<void>((r) => (wakeProducer = r));
          continue;
        }
        const r = await it.next();
        if (r.done) {
          sourceDone = true;
          break;
        }
        ready.push(r.value);
        ahead += weight(r.value);
        const w = wakeConsumer;
        wakeConsumer = undefined;
        w?.();
      }
    } catch (e) {
      failure = { e };
    } finally {
      ended = true;
      const w = wakeConsumer;
      wakeConsumer = undefined;
      w?.();
    }
  };
  const producing = produce();
  try {
    for (;;) {
      if (head < ready.length) {
        const v = ready[head]!;
        ready[head++] = undefined as T;
        ahead -= weight(v);
        if (head > 4096 && head * 2 > ready.length) {
          ready.splice(0, head);
          head = 0;
        }
        const w = wakeProducer;
        wakeProducer = undefined;
        w?.();
        yield v;
        continue;
      }
      if (failure) throw failure.e;
      if (ended) return;
      await new Promise<void>((r) => (wakeConsumer = r));
    }
  } finally {
    stopped = true;
    const w = wakeProducer;
    wakeProducer = undefined;
    w?.();
    await producing;
    if (!sourceDone && !failure) await it.return?.();
  }
}
