import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BookcrateError, loadPublicKey, sha256Hex, treePartRefs, type TreeRef } from '@bookcrate/format';
import { Store } from '@bookcrate/store';
import { openVolume } from '@bookcrate/volume';
import { buildTree, tempDir, SAMPLE_TREE } from '../../../fixtures/tree.js';
import { run } from '../../cli/src/testkit.js';
import { catalogInThread } from './catalog-thread.js';

let volume: string;
let keyPem: string;

beforeAll(async () => {
  const work = await tempDir('catalog-thread-');
  await buildTree(join(work, 'src'), SAMPLE_TREE);
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  expect((await run(['pack', join(work, 'src'), '--key', join(work, 'center.key'), '--out', join(work, 'out'), '--no-verify'])).code).toBe(0);
  volume = join(work, 'out', (await readdir(join(work, 'out')))[0]!);
  keyPem = await readFile(join(work, 'center.pub'), 'utf8');
});

describe('catalogInThread (a new version\'s manifest into the catalog, beside the import)', () => {
  it('puts every file in as pending, the version row last, and answers with its id', async () => {
    const vol = await openVolume(volume, { trustedKey: loadPublicKey(keyPem, 'test key') });
    const store = await Store.open(await tempDir('catalog-thread-store-'), { create: true });
    try {
      const id = await catalogInThread({ store: store.dir, volume, keyPem, rootSha256: sha256Hex(vol.rootBytes) }).versionId;
      // read through this thread's own connection: what the other one committed is there
      const version = store.version(vol.root.bundle.id, vol.root.bundle.version);
      expect(version?.id).toBe(id);
      expect(version?.root_sha256).toBe(sha256Hex(vol.rootBytes));
      expect(store.fileCounts(id).pending).toBe(vol.root.totals.files + vol.root.totals.dirs);
      // and kept the files and resources parts it read, which a mirror round reuses, but not the
      // members parts (they describe this disk's segments)
      const refsOf = async (tree: TreeRef, name: string): Promise<string[]> => {
        const out: string[] = [];
        for await (const ref of treePartRefs(tree, vol.loadPart, name)) out.push(ref.sha256);
        return out;
      };
      const kept = [...await refsOf(vol.root.files, 'files'), ...await refsOf(vol.root.resources, 'resources')];
      const members = await refsOf(vol.root.layout!.members, 'members');
      expect(kept.length).toBeGreaterThan(1);
      const held = (await readdir(join(store.dir, 'parts'), { recursive: true })).filter((f) => f.endsWith('.jsonl')).map((f) => basename(f, '.jsonl'));
      expect(new Set(held)).toEqual(new Set(kept));
      for (const sha of kept) expect(sha256Hex(await readFile(store.paths.part(sha)))).toBe(sha);
      expect(members.filter((sha) => !kept.includes(sha)).some((sha) => held.includes(sha))).toBe(false);
    } finally {
      store.close();
    }
  });

  it('refuses a root other than the one the import verified, as a BookcrateError, and records nothing', async () => {
    const store = await Store.open(await tempDir('catalog-thread-store-'), { create: true });
    try {
      const answer = catalogInThread({ store: store.dir, volume, keyPem, rootSha256: '0'.repeat(64) }).versionId;
      await expect(answer).rejects.toBeInstanceOf(BookcrateError);
      await expect(answer).rejects.toMatchObject({ code: 'FORMAT', message: expect.stringMatching(/changed while it was being imported/), say: { id: 'volume-changed' } });
      expect(store.allVersions()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('a volume signed by another key is refused with the signature error, not a crash', async () => {
    const other = await tempDir('catalog-thread-key-');
    expect((await run(['keygen', '--out', join(other, 'other')])).code).toBe(0);
    const store = await Store.open(await tempDir('catalog-thread-store-'), { create: true });
    try {
      const answer = catalogInThread({ store: store.dir, volume, keyPem: await readFile(join(other, 'other.pub'), 'utf8'), rootSha256: '0'.repeat(64) }).versionId;
      await expect(answer).rejects.toMatchObject({ code: 'SIGNATURE' });
      expect(store.allVersions()).toEqual([]);
    } finally {
      store.close();
    }
  });
});
