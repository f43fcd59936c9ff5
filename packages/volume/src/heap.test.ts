import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const HEAP_JS = fileURLToPath(new URL('../dist/heap.js', import.meta.url));

/**
 * A workload shaped like pack's photo stretch: small objects that live a little while (so they
 * are promoted to the old space) and then become garbage. Run in a fresh node process, with and
 * without keepHeapSmall; prints the largest total heap seen.
 */
const WORKLOAD = `
import v8 from 'node:v8';
const { keepHeapSmall } = await import(${JSON.stringify(HEAP_JS)});
if (process.argv[1] === 'on') keepHeapSmall();
const rounds = [];
let peak = 0;
for (let r = 0; r < 80; r++) {
  const objs = [];
  for (let i = 0; i < 60000; i++) objs.push({ path: '老照片/' + r + '/' + i, size: i, mtime: r });
  rounds.push(objs);
  if (rounds.length > 3) rounds.shift();
  await new Promise((res) => setTimeout(res, 40));
  peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
}
console.log(peak);
`;

function peakHeap(mode: 'on' | 'off'): number {
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', WORKLOAD, mode], { encoding: 'utf8' }).trim());
}

describe('keepHeapSmall (the bound on a long command\'s heap)', () => {
  it('keeps a heap of promoted garbage near its live size, where V8 alone lets it grow', () => {
    const off = peakHeap('off');
    const on = peakHeap('on');
    expect(on).toBeLessThan(95e6);
    expect(off - on).toBeGreaterThan(20e6);
  }, 60_000);
});
