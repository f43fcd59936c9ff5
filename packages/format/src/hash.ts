import { createHash, type Hash } from 'node:crypto';
import xxhash, { type XXHashAPI } from 'xxhash-wasm';

let api: XXHashAPI | undefined;

/** xxhash-wasm compiles its module asynchronously; call once before any hasher is created. */
export async function initHashing(): Promise<void> {
  api ??= await xxhash();
}

function xx(): XXHashAPI {
  if (!api) throw new Error('initHashing() was not awaited before hashing');
  return api;
}

export interface Digests {
  sha256: string;
  xxh64: string;
}

/** XXH64 as 16 lowercase hex digits (the canonical big-endian form `xxhsum` prints). */
export function xxh64Hex(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

/**
 * SHA-256 (identity, collision-resistant) and XXH64 (fast integrity) of one byte stream, computed in
 * the same pass that moves the bytes, so no second read is ever needed to hash.
 */
export class DualHasher {
  private readonly sha: Hash = createHash('sha256');
  private readonly x = xx().create64();
  bytes = 0;
  update(chunk: Uint8Array): void {
    this.sha.update(chunk);
    this.x.update(chunk);
    this.bytes += chunk.length;
  }
  digest(): Digests {
    return { sha256: this.sha.digest('hex'), xxh64: xxh64Hex(this.x.digest()) };
  }
}

/** Only XXH64: used by full verification to localise damage inside a segment whose SHA-256 is checked whole. */
export class FastHasher {
  private readonly x = xx().create64();
  update(chunk: Uint8Array): void {
    this.x.update(chunk);
  }
  digest(): string {
    return xxh64Hex(this.x.digest());
  }
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
