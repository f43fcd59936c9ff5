import { open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { BookcrateError } from '@bookcrate/format';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One writer per store: an exclusive lock file holding the owner's pid and host. A lock whose
 * process is gone (killed, power loss) is taken over, so a crash never leaves a store locked.
 * A second writer waits (`wait`) or is refused with the owner named.
 */
export async function acquireLock(path: string, opts: { wait?: boolean; what: string }): Promise<() => Promise<void>> {
  for (;;) {
    try {
      const h = await open(path, 'wx');
      await h.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), what: opts.what, since: new Date().toISOString() }));
      await h.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new BookcrateError('IO', `cannot create the store lock ${path}: ${(e as Error).message}`, { hint: 'check the --store path and its permissions', cause: e });
      }
    }
    let owner: { pid?: number; host?: string; what?: string; since?: string } = {};
    try {
      owner = JSON.parse(await readFile(path, 'utf8')) as typeof owner;
    } catch {
      /* half-written by a process that died at that instant: treat as stale */
    }
    const sameHost = !owner.host || owner.host === hostname();
    if (sameHost && (!owner.pid || !alive(owner.pid))) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (!opts.wait) {
      throw new BookcrateError('BUSY', `another bookcrate (${owner.what ?? 'process'}, pid ${owner.pid} on ${owner.host}, since ${owner.since}) is writing to this store`, {
        hint: 'wait for it to finish and run the command again, or add --wait to queue behind it',
      });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
