import { realpath, stat } from 'node:fs/promises';
import { syncFilesystem } from '@bookcrate/volume';

/**
 * Whether two paths lie on the same disk: the same filesystem, or two filesystems (partitions) of
 * one whole disk, as Linux's /sys/dev/block tells. Where it cannot tell (no /sys, a device it does
 * not know), two filesystems count as one disk: the caller then keeps to what is safe for one.
 * A filesystem with no block device (tmpfs, a network share) is a disk of its own. So are two
 * btrfs subvolumes, which have such anonymous device numbers too, even on one disk: there the early
 * write-back runs on one disk, a little slower (run R), never less safe.
 */
export async function onSameDisk(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  if (sa.dev === sb.dev) return true;
  const [da, db] = await Promise.all([wholeDisk(sa.dev), wholeDisk(sb.dev)]);
  if (da === null || db === null) return true;
  if (da === 'none' || db === 'none') return false;
  return da === db;
}

/** The sysfs folder of the whole disk holding a device number; 'none' without a block device; null: unknown. */
async function wholeDisk(dev: number): Promise<string | 'none' | null> {
  if (process.platform !== 'linux') return null;
  // glibc's encoding of dev_t (gnu_dev_major, gnu_dev_minor), as node reports st_dev
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & 0xfffff000n));
  const minor = Number((d & 0xffn) | ((d >> 12n) & 0xffffff00n));
  if (major === 0) return 'none'; // anonymous devices: tmpfs, overlay, NFS, FUSE
  let sys: string;
  try {
    sys = await realpath(`/sys/dev/block/${major}:${minor}`);
  } catch {
    return null;
  }
  // a partition's folder sits inside its disk's and has a `partition` file
  const isPartition = await stat(`${sys}/partition`).then(() => true, () => false);
  return isPartition ? sys.slice(0, sys.lastIndexOf('/')) : sys;
}

/** Starts the write-back of a filesystem's dirty pages and waits until they are written. */
export type FlushRunner = (dir: string) => Promise<void>;

// Whatever it gives: where `sync -f` fails (Windows), the commit's own fsyncs remain.
const flushStore: FlushRunner = async (dir) => {
  await syncFilesystem(dir);
};

/**
 * Keeps the store's disk writing while the volume's disk is read, when they are two disks.
 *
 * Left alone, the kernel holds written data in memory until a tenth or so of the RAM is dirty, so
 * the store's disk idles while the first gigabytes are read, and every commit then waits while it
 * catches up: on two disks at 200 MB/s an import took 30.2 s where reading alone takes 16
 * (docs/performance.md, "Two hard disks"). Every `every` bytes this starts one `sync -f` of the
 * store in a child process, without waiting for it, at most MAX_RUNNING at a time. 64 MiB: the
 * import's tail (what is still unwritten when the last byte is read) is then small; 256 MiB took
 * 1.6 s longer on the two disks, 16 MiB was no faster. Two at a time, not one: each `sync -f` ends
 * waiting for the journal's commit and the disk's cache flush, with nothing of the data left to
 * write; the second one's writing fills those pauses (docs/performance.md, run AI). Nothing
 * depends on it for safety: the commits still make their objects durable themselves.
 *
 * On one disk it does nothing: there the early writes compete with the reads (run R).
 */
export class WriteBehind {
  /** flushes running at once, at most */
  static readonly MAX_RUNNING = 2;
  private unflushed = 0;
  private readonly running = new Set<Promise<void>>();
  flushes = 0;

  constructor(
    private readonly dir: string,
    private readonly on: boolean,
    private readonly every = 64 << 20,
    private readonly run: FlushRunner = flushStore,
  ) {}

  /** Counts bytes written to the store; past `every`, starts a flush unless MAX_RUNNING are running. */
  wrote(bytes: number): void {
    if (!this.on) return;
    this.unflushed += bytes;
    if (this.unflushed < this.every || this.running.size >= WriteBehind.MAX_RUNNING) return;
    this.unflushed = 0;
    this.flushes++;
    const flush: Promise<void> = this.run(this.dir).finally(() => this.running.delete(flush));
    this.running.add(flush);
  }

  /** Waits for the flushes still running (so no child process outlives the import). */
  async settle(): Promise<void> {
    await Promise.all([...this.running]);
  }
}
