import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../fixtures/tree.js';
import { FastHasher, initHashing } from './hash.js';
import { SharedXxh64, XXH64_STATE_BYTES } from './xxh64-shared.js';

describe('SharedXxh64 (wasm/xxh64.wat, in place in a shared memory)', () => {
  const memory = new WebAssembly.Memory({ initial: 32, maximum: 32, shared: true });
  const bytes = new Uint8Array(memory.buffer);
  let x: SharedXxh64;
  beforeAll(async () => {
    await initHashing();
    x = await SharedXxh64.create(memory);
  });

  const reference = (data: Uint8Array): string => {
    const h = new FastHasher();
    h.update(data);
    return h.digest();
  };

  it('gives the known XXH64 of the empty input and of "abc"', () => {
    x.init(0);
    expect(x.digest(0)).toBe('ef46db3751d8e999');
    bytes.set(Buffer.from('abc'), 1000);
    x.init(0);
    x.update(0, 1000, 3);
    expect(x.digest(0)).toBe('44bc2cf5ad770999');
  });

  it('matches xxhash-wasm for every length to 300 and random lengths, fed in random pieces', () => {
    const r = seededRandom(42);
    const state = 0;
    const dataAt = 4 * XXH64_STATE_BYTES;
    for (let t = 0; t < 700; t++) {
      const len = t <= 300 ? t : Math.floor(r() * 200_000);
      const data = randomBytes(len);
      bytes.set(data, dataAt);
      x.init(state);
      let p = 0;
      while (p < len) {
        const k = Math.min(len - p, t % 2 ? 1 + Math.floor(r() * 40) : 1 + Math.floor(r() * 70_000));
        x.update(state, dataAt + p, k);
        p += k;
      }
      expect(x.digest(state), `length ${len}`).toBe(reference(data));
    }
  });

  it('keeps several hashers apart', () => {
    const a = randomBytes(100_000);
    const b = randomBytes(77_777);
    bytes.set(a, 10_000);
    bytes.set(b, 200_000);
    x.init(0);
    x.init(XXH64_STATE_BYTES);
    for (let p = 0; p < 100_000; p += 1000) {
      x.update(0, 10_000 + p, 1000);
      if (p < 77_777) x.update(XXH64_STATE_BYTES, 200_000 + p, Math.min(1000, 77_777 - p));
    }
    expect(x.digest(0)).toBe(reference(a));
    expect(x.digest(XXH64_STATE_BYTES)).toBe(reference(b));
  });

  it('agrees with the xxhsum command line tool', () => {
    const data = randomBytes(123_457);
    bytes.set(data, 5000);
    x.init(0);
    x.update(0, 5000, data.length);
    let out: string;
    try {
      out = execFileSync('xxhsum', ['-H64', '-'], { input: data }).toString();
    } catch {
      return; // xxhsum is installed by .ci/run; without it the comparison with xxhash-wasm above stands
    }
    expect(out.split(/\s+/)[0]).toBe(x.digest(0));
  });

  it('is built from the checked-in wasm/xxh64.wat', () => {
    const build = fileURLToPath(new URL('../wasm/build.mjs', import.meta.url));
    expect(() => execFileSync(process.execPath, [build, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
