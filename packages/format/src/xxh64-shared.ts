import './wasm-types.js';
import { XXH64_WASM_BASE64 } from './xxh64-wasm.js';
import { xxh64Hex } from './hash.js';

/** Bytes of one hasher's state in the memory (wasm/xxh64.wat: 80 used, spaced 96 apart). */
export const XXH64_STATE_BYTES = 96;

let compiled: Promise<WebAssembly.Module> | undefined;

/**
 * XXH64 over bytes that already sit in a shared WebAssembly memory (wasm/xxh64.wat): no copy of
 * the input. The memory is the caller's (a SharedBufferPool's), and so are the places of the
 * hashers' states in it. Digests are the same as `FastHasher`'s (XXH64, seed 0).
 */
export class SharedXxh64 {
  private constructor(
    private readonly fns: { init(s: number): void; update(s: number, p: number, n: number): void; digest(s: number): bigint },
  ) {}

  static async create(memory: WebAssembly.Memory): Promise<SharedXxh64> {
    compiled ??= WebAssembly.compile(Buffer.from(XXH64_WASM_BASE64, 'base64'));
    const instance = await WebAssembly.instantiate(await compiled, { env: { memory } });
    return new SharedXxh64(instance.exports as unknown as SharedXxh64['fns']);
  }

  /** Starts a hasher whose state lives at byte `state` of the memory. */
  init(state: number): void {
    this.fns.init(state);
  }

  /** Hashes memory bytes [at, at + length). */
  update(state: number, at: number, length: number): void {
    this.fns.update(state, at, length);
  }

  /** The digest as 16 hex digits; the state may then be reused by `init`. */
  digest(state: number): string {
    return xxh64Hex(BigInt.asUintN(64, this.fns.digest(state)));
  }
}
