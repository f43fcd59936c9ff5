import { link, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { hostname, uptime } from 'node:os';
import { BookcrateError } from '@bookcrate/format';

/**
 * Which boot of this machine the process runs in. On Linux the kernel's own boot id, exact. Elsewhere
 * (Windows) the time of the boot, from the clock and the uptime: not exact, so it is
 * only trusted with a margin (`bootedSince`).
 */
function currentBoot(): { id?: string; at: number } {
  let id: string | undefined;
  try {
    id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    // not Linux
  }
  return { ...(id ? { id } : {}), at: Date.now() - uptime() * 1000 };
}

/**
 * Whether the machine was restarted since a lock was taken: its writer cannot be alive then, even
 * if a process of its pid is (after a power cut, pids are handed out again from the start, and the
 * lock's pid is often some other program's by the time the librarian runs the command again).
 */
function bootedSince(owner: { boot?: string; since?: string }, now: { id?: string; at: number }): boolean {
  if (owner.boot && now.id) return owner.boot !== now.id;
  // Two minutes of margin: a clock set forward while the writer runs must not make its lock look stale.
  const taken = owner.since ? Date.parse(owner.since) : NaN;
  return Number.isFinite(taken) && taken < now.at - 120_000;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The holders that give the store up to another writer that asks (`bookcrate check`, which runs
 * for hours and can go on later from where it was): an import or a mirror round that finds one of
 * them holding the lock leaves `<lock>.wanted` and waits for it, instead of being refused for hours.
 */
export const YIELDING_HOLDERS: ReadonlySet<string> = new Set(['check']);
/**
 * How long a writer waits for a yielding holder to let go. A check does so at the end of its page
 * (1 GiB at most: seconds on a hard disk; a single 4 GB film on a slow USB disk, a minute or two).
 */
const YIELD_WAIT_MS = 120_000;

export const wantedPath = (lockPath: string): string => `${lockPath}.wanted`;

/**
 * One writer per store: an exclusive lock file holding the owner's pid, host and boot. A lock whose
 * process is gone (killed), or that was taken before the machine last started (power loss), is
 * taken over, so a crash never leaves a store locked.
 * A second writer waits (`wait`) or is refused with the owner named; one that finds a yielding
 * holder (YIELDING_HOLDERS) asks it to let go and waits for that first.
 */
export async function acquireLock(path: string, opts: { wait?: boolean; what: string; onYieldWait?: (holder: string) => void }): Promise<() => Promise<void>> {
  let askedSince: number | undefined;
  for (;;) {
    // The lock appears with its content already in it (written under a private name, then hard-
    // linked to `path`, which fails if `path` exists): another writer never reads a half-written
    // lock and mistakes it for a stale one. Where there are no hard links, it is created in place.
    const boot = currentBoot();
    const body = JSON.stringify({ pid: process.pid, host: hostname(), what: opts.what, since: new Date().toISOString(), ...(boot.id ? { boot: boot.id } : {}) });
    const mine = `${path}.${process.pid}`;
    try {
      // Synced before it is linked: after a power cut the lock is either absent or names its dead
      // writer. Unsynced, ext4 brought it back empty (its data not yet allocated when the link was
      // journaled), and an empty lock counts as a writer starting up: the librarian's rerun was
      // refused as busy (found by the power-cut tests, packages/cli/src/powercut.e2e.test.ts).
      await writeSynced(mine, body, 'w');
      try {
        await link(mine, path);
      } catch (e) {
        // Held: the owner is looked at below. Any other refusal is a filesystem without hard links
        // (EPERM, ENOTSUP, ENOSYS; exFAT on Windows answers EISDIR): the lock is created in place.
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw e;
        await writeSynced(path, body, 'wx');
      } finally {
        await unlink(mine).catch(() => undefined);
      }
      // Taken: what this writer asked a yielding holder for is had.
      if (askedSince !== undefined) await unlink(wantedPath(path)).catch(() => undefined);
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new BookcrateError('IO', `cannot create the store lock ${path}: ${(e as Error).message}`, {
          hint: 'check the --store path and its permissions', cause: e, say: { id: 'store-unusable', args: { path, reason: (e as Error).message } },
        });
      }
    }
    let owner: { pid?: number; host?: string; what?: string; since?: string; boot?: string } = {};
    try {
      owner = JSON.parse(await readFile(path, 'utf8')) as typeof owner;
    } catch {
      // Unreadable: written in place (no hard links) by a writer that may be filling it right
      // now. Stale only once it is old; until then it counts as held.
      const age = await stat(path).then((st) => Date.now() - st.mtimeMs, () => Infinity);
      if (age < 10_000) owner = { pid: -1, what: 'a writer starting up' };
    }
    const sameHost = !owner.host || owner.host === hostname();
    if (sameHost && owner.pid !== -1 && (!owner.pid || !alive(owner.pid) || bootedSince(owner, boot))) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (owner.what && YIELDING_HOLDERS.has(owner.what) && !YIELDING_HOLDERS.has(opts.what)) {
      if (askedSince === undefined) {
        askedSince = Date.now();
        opts.onYieldWait?.(owner.what); // said once: the command is waiting, not hung
      }
      if (Date.now() - askedSince < YIELD_WAIT_MS) {
        await writeFile(wantedPath(path), JSON.stringify({ pid: process.pid, what: opts.what, since: new Date(askedSince).toISOString() })).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
    }
    if (!opts.wait) {
      throw new BookcrateError('BUSY', `another bookcrate (${owner.what ?? 'process'}, pid ${owner.pid} on ${owner.host}, since ${owner.since}) is writing to this store`, {
        hint: 'wait for it to finish and run the command again, or add --wait to queue behind it',
        say: { id: 'store-busy', args: { what: owner.what ?? 'process', pid: owner.pid ?? '?', host: owner.host ?? '?', since: owner.since ?? '?' } },
      });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Writes a small file and fsyncs it before closing. */
async function writeSynced(path: string, body: string, flags: 'w' | 'wx'): Promise<void> {
  const h = await open(path, flags);
  try {
    await h.writeFile(body);
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Who holds the store's lock now, if a live process on this machine does (for `status`: "a check is running"). */
export function lockHolder(path: string): { what?: string; pid?: number; since?: string } | undefined {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as { what?: string; pid?: number; host?: string; since?: string; boot?: string };
    if (owner.host && owner.host !== hostname()) return owner; // another machine's: taken as live
    return owner.pid && alive(owner.pid) && !bootedSince(owner, currentBoot()) ? owner : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The lock of a writer that gives the store up when another asks (`bookcrate check`): between two
 * units of its work it calls `yieldIfWanted`, which, when an import or a mirror round has left
 * `<lock>.wanted`, lets go of the lock, waits until that writer has taken it (the marker is gone)
 * and finished (the lock is free again), and takes it back. So a check of 4 TB pauses for the
 * import of the disk that came in the morning instead of refusing it until the evening.
 */
export class YieldingLock {
  private release: (() => Promise<void>) | undefined;
  /** times it let another writer go first */
  yielded = 0;

  private constructor(private readonly path: string, private readonly what: string) {}

  static async acquire(path: string, what: string, wait: boolean): Promise<YieldingLock> {
    const l = new YieldingLock(path, what);
    l.release = await acquireLock(path, { what, wait });
    return l;
  }

  /** Whether another writer asked for the store (and is still there: a marker an asker stopped with Ctrl-C left is removed). */
  wanted(): boolean {
    const marker = wantedPath(this.path);
    if (!existsSync(marker)) return false;
    try {
      const asker = JSON.parse(readFileSync(marker, 'utf8')) as { pid?: number };
      if (asker.pid && asker.pid !== process.pid && !alive(asker.pid)) {
        unlinkSync(marker);
        return false;
      }
    } catch {
      // being written right now, or gone: taken as asked while it is there
    }
    return existsSync(marker);
  }

  async yieldIfWanted(): Promise<boolean> {
    if (!this.wanted()) return false;
    await this.release?.();
    this.release = undefined;
    this.yielded++;
    // The asker takes the lock within a moment and then removes the marker. One that went away
    // meanwhile (Ctrl-C) leaves it: after a while it is not waited for.
    const since = Date.now();
    while (this.wanted() && Date.now() - since < 2 * YIELD_WAIT_MS) await new Promise((r) => setTimeout(r, 100));
    await unlink(wantedPath(this.path)).catch(() => undefined);
    this.release = await acquireLock(this.path, { what: this.what, wait: true });
    return true;
  }

  async unlock(): Promise<void> {
    await this.release?.();
    this.release = undefined;
  }
}
