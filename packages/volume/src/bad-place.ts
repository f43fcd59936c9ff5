/**
 * Reading on past a disk's bad place, for verify's reader threads (segment-ring.ts for the
 * member-by-member check, segment-hash-worker.ts for the first pass). An old USB disk that cannot
 * read a few sectors must not stop a verify: the librarian needs the list of every file it damages,
 * as import gives it (docs/format.md section 9, "A disk with a bad place"). A disk that is gone
 * (unplugged, powered off, dead) still stops the verify: a whole disk of files is not "damaged".
 *
 * Imports nothing heavy: the hashing thread boots from it (docs/performance.md, "Runs AA to AD").
 */
import { close, closeSync, constants, fstatSync, open, openSync, read, readSync } from 'node:fs';

/**
 * Past a failed read, the disk is asked for this much at a time: a large bad place costs a failing
 * request or two per 32 KiB, not one per sector (each can take the disk seconds of retries).
 */
export const BAD_PLACE_STEP = 32 << 10;

/** A step that fails is read again this much at a time from each side: a disk's sector (and O_DIRECT's alignment). */
const SECTOR = 4096;

/**
 * Where a disk cannot tell a bad place from a disk that is gone (no O_DIRECT: diskAnswersSync says
 * undefined), this much unreadable in a row is taken for a disk that is gone (import's
 * READ_FAILURES_SPAN).
 */
export const UNREADABLE_IN_A_ROW_MAX = 256 << 20;

/** A page of page-aligned memory, as O_DIRECT wants (a WebAssembly memory starts on a page). */
const alignedPage = (): Uint8Array => new Uint8Array(new WebAssembly.Memory({ initial: 1, maximum: 1 }).buffer, 0, 4096);

/** What a failed O_DIRECT open or read says: EINVAL, that the filesystem refuses the flag (nothing told); else, that the disk does not answer. */
const answerOf = (e: NodeJS.ErrnoException): false | undefined => (e.code === 'EINVAL' ? undefined : false);

/**
 * Whether the disk that holds `path` still answers: its first block read past the page cache. true:
 * it does; false: it gave an error (a disk gone: unplugged, powered off, or dead); undefined: this
 * filesystem cannot be read past the cache (tmpfs before Linux 6.6, some FUSE and network
 * filesystems; Windows and macOS have no such flag), so nothing can be told. After a read error,
 * this tells a bad place on a disk (it answers elsewhere) from a disk that is gone.
 */
export async function diskAnswers(path: string): Promise<boolean | undefined> {
  if (typeof constants.O_DIRECT !== 'number') return undefined;
  const page = alignedPage();
  return new Promise((resolve) => {
    open(path, constants.O_RDONLY | constants.O_DIRECT, (err, fd) => {
      if (err) return resolve(answerOf(err));
      read(fd, page, 0, page.length, 0, (e) => close(fd, () => resolve(e ? answerOf(e) : true)));
    });
  });
}

/** diskAnswers for the threads that read synchronously (the verify's readers). */
export function diskAnswersSync(path: string): boolean | undefined {
  if (typeof constants.O_DIRECT !== 'number') return undefined;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch (e) {
    return answerOf(e as NodeJS.ErrnoException);
  }
  try {
    readSync(fd, alignedPage(), 0, 4096, 0);
    return true;
  } catch (e) {
    return answerOf(e as NodeJS.ErrnoException);
  } finally {
    closeSync(fd);
  }
}

/** The disk is gone: the read that found it out, for the error the caller words (reader.ts segmentReadFailure). */
export class DiskGone extends Error {}

/**
 * One open segment, read with the bad places passed over. `read` answers the bytes of
 * [pos, pos + length) of the segment; where the disk gives a read error, the piece is read again
 * BAD_PLACE_STEP at a time, a step that fails sector by sector from its edges, and what the disk
 * still will not give is filled with zeros and handed to `onUnreadable` — unless the disk turns
 * out to be gone (probe), which throws DiskGone.
 */
export class BadPlaceReader {
  private size = -1;
  /** unreadable bytes since the last piece read, for a filesystem that cannot be probed */
  private inARow = 0;

  constructor(
    private readonly fd: number,
    private readonly path: string,
    /** a small file of the same disk (the volume's volume.json) read past the cache to tell a bad place from a disk gone */
    private readonly probe: string,
    private readonly onUnreadable: (pos: number, length: number) => void,
  ) {}

  /** Like readSync(fd, mem, at, length, pos): the count read, short only at the end of the segment. */
  read(mem: Uint8Array, at: number, length: number, pos: number): number {
    const n = this.tryRead(mem, at, length, pos);
    return n >= 0 ? n : this.readAround(mem, at, length, pos);
  }

  /** After a read of [pos, pos + length) failed on a bad place: that span, piece by piece. */
  private readAround(mem: Uint8Array, at: number, length: number, pos: number): number {
    if (this.size < 0) this.size = fstatSync(this.fd).size;
    const end = Math.min(pos + length, this.size);
    const place = (q: number): number => at + (q - pos); // where byte q of the segment goes in mem
    let p = pos;
    /** the step before p ended on a place the disk could not read */
    let badBefore = false;
    while (p < end) {
      // Asked for whole steps even at the end of the file (O_DIRECT wants aligned lengths): the read comes back short there.
      const k = Math.min(BAD_PLACE_STEP, pos + length - p);
      const n = this.tryRead(mem, place(p), k, p);
      if (n >= 0) {
        p += n;
        badBefore = false;
        if (n < k) break; // the end of the file
        continue;
      }
      // The step failed: its readable sectors are read one by one from each side, so that only the
      // bad place itself is lost (a file just before or after it stays whole, as import finds it).
      // (Steps and sectors start on multiples of SECTOR: pos is one, and O_DIRECT needs it.)
      const stepEnd = Math.min(p + k, end);
      const sector = (q: number): number => this.tryRead(mem, place(q), Math.min(SECTOR, pos + length - q), q);
      let from = p;
      if (!badBefore) while (from < stepEnd && sector(from) >= 0) from += SECTOR;
      from = Math.min(from, stepEnd);
      let to = stepEnd;
      for (let q = p + Math.floor((stepEnd - 1 - p) / SECTOR) * SECTOR; q > from && sector(q) >= 0; q -= SECTOR) to = q;
      if (to > from) {
        mem.fill(0, place(from), place(to));
        this.inARow += to - from;
        this.onUnreadable(from, to - from);
      }
      badBefore = to === stepEnd;
      p = stepEnd;
    }
    return p - pos;
  }

  /** readSync that answers -1 for a read error at a bad place (after making sure the disk is not gone). */
  private tryRead(mem: Uint8Array, at: number, length: number, pos: number): number {
    try {
      const n = readSync(this.fd, mem, at, length, pos);
      if (n > 0) this.inARow = 0;
      return n;
    } catch (e) {
      // EIO is what a disk answers for a sector it cannot read; any other failure is no bad place.
      if ((e as NodeJS.ErrnoException).code !== 'EIO') throw e;
      this.gone(e as NodeJS.ErrnoException, pos);
      return -1;
    }
  }

  /** Throws DiskGone when the failed read at `pos` is the disk gone rather than a bad place on it. */
  private gone(e: NodeJS.ErrnoException, pos: number): void {
    const answers = diskAnswersSync(this.probe);
    if (answers === false || (answers === undefined && this.inARow >= UNREADABLE_IN_A_ROW_MAX)) {
      throw new DiskGone(`cannot read ${this.path} at byte ${pos}: ${e.message}; the disk no longer answers`);
    }
  }
}
