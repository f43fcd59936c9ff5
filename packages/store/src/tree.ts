import { mkdir, readdir, rename, rm, symlink, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { assertBundlePath } from '@bookcrate/format';
import { linkOrCopy, storeIoError } from './objects.js';
import type { Store } from './store.js';

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * Builds the browsable tree of a complete version — readable paths hard-linked to the objects —
 * in a hidden folder, then switches `library/<bundle>` to it in one step (a symlink replaced by
 * rename, which is atomic), so a web server pointed at library/ only ever sees whole versions.
 * The previous version's tree is removed only after the switch.
 */
export async function publishTree(store: Store, versionId: number): Promise<{ dir: string; links: number; copies: number }> {
  const v = store.versionById(versionId)!;
  const bundleDir = join(store.paths.versions, safeName(v.bundle_id));
  const name = `v${v.version}-${v.set_id}`;
  const target = join(bundleDir, name);
  const building = `${target}.building`;
  await rm(building, { recursive: true, force: true });
  let links = 0;
  let copies = 0;
  try {
    await mkdir(building, { recursive: true });
    const made = new Set<string>();
    for (const f of store.presentFiles(versionId)) {
      assertBundlePath(f.path, 'catalog');
      const p = join(building, f.path);
      const parent = dirname(p);
      if (!made.has(parent)) {
        await mkdir(parent, { recursive: true });
        made.add(parent);
      }
      if (f.type === 'dir') {
        await mkdir(p, { recursive: true });
        continue;
      }
      if ((await linkOrCopy(store.paths.object(f.sha256!), p)) === 'link') links++;
      else {
        copies++;
        await utimes(p, f.mtime, f.mtime);
      }
    }
    await rm(target, { recursive: true, force: true });
    await rename(building, target);
  } catch (e) {
    throw storeIoError(e, building);
  }
  // Switch: a new symlink under a temp name, renamed over the old one.
  const visible = join(store.paths.library, safeName(v.bundle_id));
  const tmpLink = `${visible}.switch-${process.pid}`;
  await rm(tmpLink, { force: true });
  await symlink(join('.versions', safeName(v.bundle_id), name), tmpLink);
  await rename(tmpLink, visible);
  // Older trees of this bundle go once nobody is pointed at them any more.
  for (const d of await readdir(bundleDir)) {
    if (d !== name && !d.endsWith('.building')) await rm(join(bundleDir, d), { recursive: true, force: true });
  }
  return { dir: visible, links, copies };
}
