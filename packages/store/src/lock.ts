import { link, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
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
    // The lock appears with its content already in it (written under a private name, then hard-
    // linked to `path`, which fails if `path` exists): another writer never reads a half-written
    // lock and mistakes it for a stale one. Where there are no hard links, it is created in place.
    const body = JSON.stringify({ pid: process.pid, host: hostname(), what: opts.what, since: new Date().toISOString() });
    const mine = `${path}.${process.pid}`;
    try {
      await writeFile(mine, body);
      try {
        await link(mine, path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
        const h = await open(path, 'wx');
        await h.writeFile(body);
        await h.close();
      } finally {
        await unlink(mine).catch(() => undefined);
      }
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
    let owner: { pid?: number; host?: string; what?: string; since?: string } = {};
    try {
      owner = JSON.parse(await readFile(path, 'utf8')) as typeof owner;
    } catch {
      // Unreadable: written in place (no hard links) by a writer that may be filling it right
      // now. Stale only once it is old; until then it counts as held.
      const age = await stat(path).then((st) => Date.now() - st.mtimeMs, () => Infinity);
      if (age < 10_000) owner = { pid: -1, what: 'a writer starting up' };
    }
    const sameHost = !owner.host || owner.host === hostname();
    if (sameHost && owner.pid !== -1 && (!owner.pid || !alive(owner.pid))) {
      await unlink(path).catch(() => undefined);
      continue;
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
