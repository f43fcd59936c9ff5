/**
 * The hashing thread of a full verify (segment-hasher.ts): reads each segment it is given, in
 * order, and computes its XXH64 in the same pass. Each piece is hashed right after the kernel copied
 * it in, while it is still in the CPU's cache, and the same page-aligned buffer is reused, the way
 * `cat` reads: through the page cache the kernel reads ahead on its own, so the disk keeps
 * streaming while a piece is hashed (docs/format.md, section 9).
 */
import { closeSync, constants, openSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
// Only the hasher, not the whole format package: the thread boots ~80 ms sooner from a cold disk,
// time the command would wait for it (docs/performance.md, "Runs AA to AD").
import { SharedXxh64, XXH64_STATE_BYTES } from '@bookcrate/format/xxh64';
import type { FromHashThread, ToHashThread } from './segment-hasher.js';
import { BadPlaceReader, DiskGone } from './bad-place.js';

const port = parentPort!;
const answer = (m: FromHashThread): void => port.postMessage(m);

/** Through the page cache: `cat`'s piece, small enough to stay in the CPU's cache while it is hashed. */
const CACHED_PIECE = 128 << 10;
/** With O_DIRECT nothing reads ahead: each request must be large (as the ring's RING_DIRECT). */
const DIRECT_PIECE = 4 << 20;

async function hashAll(m: Extract<ToHashThread, { t: 'hash' }>): Promise<void> {
  const piece = m.direct ? DIRECT_PIECE : CACHED_PIECE;
  // A WebAssembly memory starts on a page: the kernel's copy into it takes the fast path, and
  // O_DIRECT needs the alignment (docs/performance.md, "Where the kernel copies to").
  const pages = Math.ceil((piece + XXH64_STATE_BYTES) / 65536);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const xxh = await SharedXxh64.create(memory);
  const bytes = new Uint8Array(memory.buffer, 0, piece);
  const state = piece;
  let total = 0;
  let reported = 0;
  for (const seg of m.segments) {
    let fd: number;
    try {
      fd = openSync(seg.path, m.direct ? constants.O_RDONLY | constants.O_DIRECT : constants.O_RDONLY);
    } catch (e) {
      answer({ t: 'failed', index: seg.index, message: `cannot read ${seg.path}: ${(e as Error).message}` });
      return;
    }
    xxh.init(state);
    let pos = 0;
    // A bad place on the disk: this segment is left to the member-by-member check, which reads past
    // it and names the files there (verify.ts); this pass goes on with the next segment.
    let unreadableAt = -1;
    const disk = new BadPlaceReader(fd, seg.path, m.probe, (at) => {
      if (unreadableAt < 0) unreadableAt = at;
    });
    try {
      for (;;) {
        const n = disk.read(bytes, 0, piece, pos);
        if (n === 0 || unreadableAt >= 0) break;
        xxh.update(state, 0, n);
        pos += n;
        total += n;
        if (total - reported >= m.progressBytes) {
          reported = total;
          answer({ t: 'bytes', bytes: total });
        }
        // An O_DIRECT read comes back short only at the end of the file.
        if (m.direct && n < piece) break;
      }
    } catch (e) {
      answer({ t: 'failed', index: seg.index, message: e instanceof DiskGone ? e.message : `cannot read ${seg.path}: ${(e as Error).message}` });
      return;
    } finally {
      closeSync(fd);
    }
    if (unreadableAt >= 0) answer({ t: 'segment', index: seg.index, xxh64: '', size: pos, bytes: total, unreadableAt });
    else answer({ t: 'segment', index: seg.index, xxh64: xxh.digest(state), size: pos, bytes: total });
  }
  answer({ t: 'done', bytes: total });
}

port.on('message', (m: ToHashThread) => {
  hashAll(m).catch((e: unknown) => answer({ t: 'failed', index: -1, message: (e as Error).message }));
});
