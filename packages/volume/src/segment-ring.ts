import { closeSync, constants, openSync } from 'node:fs';
import { BadPlaceReader, DiskGone } from './bad-place.js';

/**
 * A ring of equal buffers in one shared memory, filled with a volume's segments, in order, by one
 * thread (the reader, segment-reader-worker.ts) and checked by another (segment-check.ts), with no
 * message per buffer: the two meet through counters in the same memory (Atomics). The reader stays
 * up to `slots` buffers ahead and does nothing but read, in the pieces `cat` uses, so the disk
 * streams whatever the checker is doing; both sides block (Atomics.wait) only when the ring is
 * full or empty.
 *
 * Layout of the memory: `slots` buffers of `slotBytes`, then the control words (Int32): written,
 * released, failed, stop, then per slot its segment number, byte count, end flag and the span of it
 * the disk could not read (bad-place.ts; -1 when none), then room for the reader's error message.
 */
export interface RingLayout {
  slots: number;
  slotBytes: number;
  /** where the control words begin (after the buffers and whatever the owner keeps there) */
  controlAt: number;
}

const WRITTEN = 0;
const RELEASED = 1;
const FAILED = 2;
const STOP = 3;
const META = 4;
const META_WORDS = 5;
const MESSAGE_BYTES = 2048;
/** how long a wait lasts before it looks at the stop flag again */
const WAIT_MS = 200;
/** bytes asked of the kernel at once when reading through the page cache (see `readSegments`) */
const READ_PIECE = 128 << 10;

export function ringControlBytes(slots: number): number {
  return (META + slots * META_WORDS) * 4 + MESSAGE_BYTES;
}

/** One filled buffer, as the consumer sees it. */
export interface RingSlot {
  /** where its bytes start in the memory */
  at: number;
  length: number;
  segment: number;
  /** the last buffer of its segment (the file ended within or right after it) */
  end: boolean;
  /**
   * Bytes [from, to) of the buffer, counted from its start, hold a place the disk could not read:
   * zeros stand there (some of the span may have been read; bad-place.ts). Absent when all was read.
   */
  unreadable?: { from: number; to: number };
}

export class SegmentRing {
  private readonly ctl: Int32Array;
  private readonly message: Uint8Array;
  private taken = 0;

  constructor(readonly memory: WebAssembly.Memory, readonly layout: RingLayout) {
    const words = META + layout.slots * META_WORDS;
    this.ctl = new Int32Array(memory.buffer, layout.controlAt, words);
    this.message = new Uint8Array(memory.buffer, layout.controlAt + words * 4, MESSAGE_BYTES);
  }

  // ---- the reader's side ----

  /**
   * Reads every segment in order into the ring (the reader thread's whole job). `direct`: O_DIRECT,
   * one aligned read per buffer (no page cache, no kernel read-ahead to rely on). A bad place on the
   * disk is read past, with zeros in its stead, and marked in its buffer's slot; `probe` (a small file of
   * the same disk) tells one from a disk that is gone. A failure is recorded for the consumer, who names it.
   */
  readSegments(segments: { index: number; path: string }[], direct: boolean, probe: string): void {
    const { slots, slotBytes } = this.layout;
    const mem = new Uint8Array(this.memory.buffer);
    let written = 0;
    for (const seg of segments) {
      let fd: number;
      try {
        fd = openSync(seg.path, direct ? constants.O_RDONLY | constants.O_DIRECT : constants.O_RDONLY);
      } catch (e) {
        this.fail(`cannot read ${seg.path}: ${(e as Error).message}`);
        return;
      }
      let holeFrom = -1;
      let holeTo = -1;
      let slotAt = 0;
      const disk = new BadPlaceReader(fd, seg.path, probe, (pos, n) => {
        if (holeFrom < 0) holeFrom = pos - slotAt;
        holeTo = pos + n - slotAt;
      });
      try {
        let pos = 0;
        for (;;) {
          // Wait for a free buffer.
          for (;;) {
            if (Atomics.load(this.ctl, STOP)) return;
            const released = Atomics.load(this.ctl, RELEASED);
            if (written - released < slots) break;
            Atomics.wait(this.ctl, RELEASED, released, WAIT_MS);
          }
          const slot = written % slots;
          const at = slot * slotBytes;
          let n = 0;
          let end = false;
          slotAt = pos;
          holeFrom = holeTo = -1;
          if (direct) {
            // Aligned reads: a short one is the end of the file.
            n = disk.read(mem, at, slotBytes, pos);
            end = n < slotBytes;
          } else {
            while (n < slotBytes) {
              const k = disk.read(mem, at + n, Math.min(READ_PIECE, slotBytes - n), pos + n);
              if (k === 0) {
                end = true;
                break;
              }
              n += k;
            }
          }
          pos += n;
          const m = META + slot * META_WORDS;
          this.ctl[m] = seg.index;
          this.ctl[m + 1] = n;
          this.ctl[m + 2] = end ? 1 : 0;
          this.ctl[m + 3] = holeFrom;
          this.ctl[m + 4] = holeTo;
          written++;
          Atomics.store(this.ctl, WRITTEN, written);
          Atomics.notify(this.ctl, WRITTEN);
          if (end) break;
        }
      } catch (e) {
        this.fail(e instanceof DiskGone ? e.message : `cannot read ${seg.path}: ${(e as Error).message}`);
        return;
      } finally {
        closeSync(fd);
      }
    }
  }

  private fail(message: string): void {
    const bytes = Buffer.from(message, 'utf8').subarray(0, MESSAGE_BYTES - 4);
    new DataView(this.message.buffer, this.message.byteOffset).setUint32(0, bytes.length, true);
    this.message.set(bytes, 4);
    Atomics.store(this.ctl, FAILED, 1);
    Atomics.notify(this.ctl, WRITTEN);
  }

  // ---- the consumer's side ----

  /**
   * The next filled buffer (blocking until there is one); the previous one is released first. Throws
   * with the reader's message when it failed, and when the ring was stopped.
   */
  next(): RingSlot {
    if (this.taken > 0) this.releaseTaken();
    for (;;) {
      const written = Atomics.load(this.ctl, WRITTEN);
      if (written > this.taken) break;
      if (Atomics.load(this.ctl, FAILED)) throw new RingFailure(this.failureMessage());
      if (Atomics.load(this.ctl, STOP)) throw new RingFailure('stopped');
      Atomics.wait(this.ctl, WRITTEN, written, WAIT_MS);
    }
    const slot = this.taken % this.layout.slots;
    this.taken++;
    const m = META + slot * META_WORDS;
    const filled: RingSlot = { at: slot * this.layout.slotBytes, length: this.ctl[m + 1]!, segment: this.ctl[m]!, end: this.ctl[m + 2] === 1 };
    if (this.ctl[m + 3]! >= 0) filled.unreadable = { from: this.ctl[m + 3]!, to: this.ctl[m + 4]! };
    return filled;
  }

  /** Gives the buffer last returned by `next` back to the reader. */
  private releaseTaken(): void {
    Atomics.store(this.ctl, RELEASED, this.taken);
    Atomics.notify(this.ctl, RELEASED);
  }

  /** Tells the reader to stop (both sides' waits end within WAIT_MS). */
  stop(): void {
    Atomics.store(this.ctl, STOP, 1);
    Atomics.notify(this.ctl, RELEASED);
    Atomics.notify(this.ctl, WRITTEN);
  }

  private failureMessage(): string {
    const n = new DataView(this.message.buffer, this.message.byteOffset).getUint32(0, true);
    return Buffer.from(this.message.subarray(4, 4 + n)).toString('utf8');
  }
}

/** The reader could not read a segment (its message names it), or the ring was stopped. */
export class RingFailure extends Error {}
