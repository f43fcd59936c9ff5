/**
 * The thread of TreeThread: feeds each manifest tree's lines to a PartTreeWriter and writes every
 * finished part to each target's parts folder with plain system calls. Messages are handled one
 * after the other, in the order they were sent, so lines stay in key order.
 */
import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parentPort, workerData } from 'node:worker_threads';
import { BookcrateError, PartTreeWriter } from '@bookcrate/format';
import { asIoError } from './fsutil.js';
import { leadingPath } from './lines.js';
import type { TreeReply, TreeRequest, TreeSpec } from './tree-thread.js';

const { specs, partDirs } = workerData as { specs: TreeSpec[]; partDirs: string[] };

// `<parts dir>/<sha256>.jsonl`, as volumePaths(dir).part names it; the volume package itself is not
// loaded here, to keep this thread's isolate small.
const sink = (bytes: Buffer, sha256: string): void => {
  for (const d of partDirs) {
    const p = join(d, `${sha256}.jsonl`);
    try {
      writeFileSync(p, bytes);
    } catch (e) {
      throw asIoError(e, p);
    }
  }
};
const writers = specs.map((s) => new PartTreeWriter(sink, s.shape, s.repeats));
const keyOf = specs.map((s) => (s.key === 'path' ? leadingPath : (l: string) => (JSON.parse(l) as { id: string }).id));

async function handle(m: TreeRequest): Promise<TreeReply> {
  if (m.op === 'lines') {
    const w = writers[m.tree]!;
    const k = keyOf[m.tree]!;
    for (const l of m.lines) await w.add(k(l), l);
    return { op: 'ack', seq: m.seq };
  }
  if (m.op === 'replay') {
    const w = writers[m.tree]!;
    const k = keyOf[m.tree]!;
    const rl = createInterface({ input: createReadStream(m.path, { encoding: 'utf8', highWaterMark: 1 << 20, end: m.length - 1 }), crlfDelay: Infinity });
    for await (const l of rl) if (l) await w.add(k(l), l);
    return { op: 'ack', seq: m.seq };
  }
  const trees = [];
  for (const w of writers) trees.push(await w.finish());
  return { op: 'finished', seq: m.seq, trees };
}

let chain: Promise<void> = Promise.resolve();
let failed = false;
parentPort!.on('message', (m: TreeRequest) => {
  chain = chain.then(async () => {
    if (failed) return;
    try {
      parentPort!.postMessage(await handle(m));
    } catch (e) {
      failed = true;
      const err = e as Error;
      const reply: TreeReply = {
        op: 'error', seq: m.seq,
        error: e instanceof BookcrateError ? { code: e.code, message: e.message, ...(e.hint === undefined ? {} : { hint: e.hint }) } : { message: err.message ?? String(e) },
      };
      parentPort!.postMessage(reply);
    }
  });
});
