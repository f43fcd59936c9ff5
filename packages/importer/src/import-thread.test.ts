import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatFingerprint, isBookcrateError, keyFingerprint, loadPublicKey, type BookcrateError } from '@bookcrate/format';
import { buildTree, tempDir, SAMPLE_TREE } from '../../../fixtures/tree.js';
import { run, snapshot } from '../../cli/src/testkit.js';
import { importVolume, type ImportProgress, type ImportReport } from './import.js';
import { importVolumeInThread } from './import-thread.js';

let work: string;
let volume: string;
let keyPem: string;

beforeAll(async () => {
  work = await tempDir('import-thread-');
  await buildTree(join(work, 'src'), SAMPLE_TREE);
  expect((await run(['keygen', '--out', join(work, 'center')])).code).toBe(0);
  keyPem = await readFile(join(work, 'center.pub'), 'utf8');
  const packed = await run(['pack', join(work, 'src'), '--key', join(work, 'center.key'), '--out', join(work, 'out'), '--no-verify']);
  expect(packed.code, packed.stderr).toBe(0);
  volume = join(work, 'out', readdirSync(join(work, 'out'))[0]!);
});

/** A report with what differs between two runs into two stores (their paths, the time taken) taken out. */
function comparable(r: ImportReport): unknown {
  return { ...r, store: '', seconds: 0, libraryDir: r.libraryDir?.slice(r.store.length) };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the import to fail');
}

describe('importVolumeInThread: importVolume on a thread of its own', () => {
  it('gives the same report and the same library as importVolume, and its progress in order', async () => {
    const trust = loadPublicKey(keyPem, 'test key');
    const here = await tempDir('import-thread-here-');
    const there = await tempDir('import-thread-there-');
    const expected = await importVolume({ volume, store: here, trust });
    const seen: ImportProgress[] = [];
    const report = await importVolumeInThread({ volume, store: there, trust, onProgress: (p) => seen.push(p) });
    expect(comparable(report)).toEqual(comparable(expected));
    expect(report.current).toBe(true);
    expect(report.imported.files).toBeGreaterThan(0);
    // a bare folder's top folders are its collections: library/<bundle>/<collection>/…
    const shown = await snapshot(join(there, 'library', 'src'));
    const shownHere = await snapshot(join(here, 'library', 'src'));
    expect([...shown.keys()].sort()).toEqual([...shownHere.keys()].sort());
    for (const [p, bytes] of shownHere) expect(shown.get(p)?.equals(bytes), p).toBe(true);
    // manifest, then import, then publish; the bytes read never go back
    const phases = seen.map((p) => p.phase).filter((ph, i, all) => ph !== all[i - 1]);
    expect(phases).toEqual(['manifest', 'import', 'publish']);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.bytesDone).toBeGreaterThanOrEqual(seen[i - 1]!.bytesDone);
    expect(seen.at(-1)!.bytesDone).toBe(report.bytesRead + report.bytesSkipped);
  });

  it('asks the calling thread to confirm the disk\'s key: "no" ends in the refusal importVolume gives, "yes" pins the key', async () => {
    const store = await tempDir('import-thread-ask-');
    const asked: string[] = [];
    const refused = await failure(importVolumeInThread({ volume, store, confirmKey: async (fp) => (asked.push(fp), false) }));
    const full = keyFingerprint(loadPublicKey(keyPem, 'test key'));
    const fingerprint = formatFingerprint(full);
    expect(asked).toEqual([fingerprint]);
    expect(isBookcrateError(refused, 'UNTRUSTED'), String(refused)).toBe(true);
    expect((refused as BookcrateError).say).toEqual({ id: 'key-not-confirmed', args: { fingerprint } });
    expect((refused as BookcrateError).hint).toMatch(/--yes/);
    // the thread let go of the store: the next import goes in, and pins the key it was shown
    const report = await importVolumeInThread({ volume, store, confirmKey: async (fp) => (asked.push(fp), true) });
    expect(asked).toEqual([fingerprint, fingerprint]);
    expect(report.key).toEqual({ fingerprint: full, pinnedNow: true });
    expect(report.current).toBe(true);
  });

  it('a confirmKey that fails (the terminal went away) is the outcome, and the store is left unlocked', async () => {
    const store = await tempDir('import-thread-gone-');
    const gone = new Error('stdin closed');
    expect(await failure(importVolumeInThread({ volume, store, confirmKey: () => Promise.reject(gone) }))).toBe(gone);
    const report = await importVolumeInThread({ volume, store, yes: true });
    expect(report.current).toBe(true);
  });

  it('an error crosses as the same BookcrateError: code, message, hint and the librarian\'s words', async () => {
    const trust = loadPublicKey(keyPem, 'test key');
    const opts = { volume, trust, only: ['没有这个栏目'] };
    const here = await failure(importVolume({ ...opts, store: await tempDir('import-thread-only-') })) as BookcrateError;
    const there = await failure(importVolumeInThread({ ...opts, store: await tempDir('import-thread-only-') })) as BookcrateError;
    expect(isBookcrateError(there, 'USAGE')).toBe(true);
    expect({ code: there.code, message: there.message, hint: there.hint, say: there.say })
      .toEqual({ code: here.code, message: here.message, hint: here.hint, say: here.say });
    expect(there.say?.id).toBe('unknown-collection');
  });
});
