/**
 * The catalog thread (see catalog-thread.ts): opens the volume again with the key the import
 * verified it with, checks that its root is the one the import verified, and streams the manifest
 * into the catalog through its own connection (Store.addVersion), keeping the files and resources
 * parts in the store as it goes. Answers once, then ends.
 */
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { BookcrateError, errorToData, loadPublicKey, segmentTable, sha256Hex } from '@bookcrate/format';
import { openVolume, placedEntries, resourceEntries, volumePaths, type ManifestSource } from '@bookcrate/volume';
import { Store, catalogWriteError, keepCheckedPartSync, storePaths } from '@bookcrate/store';
import { STOP, type CatalogAnswer, type CatalogJob, type ToAdmit } from './catalog-thread.js';

const job = workerData as CatalogJob;
// The import failed: stop after the transaction under way (its staged rows are left to the next
// import of the version, which clears them first).
let stopped = false;
parentPort!.on('message', (m: unknown) => {
  if (m === STOP) stopped = true;
});
parentPort!.unref(); // listening for STOP must not keep the thread alive once it has answered

async function catalog(): Promise<{ id: number; toAdmit: ToAdmit }> {
  const vol = await openVolume(job.volume, { trustedKey: loadPublicKey(job.keyPem, 'the trusted center key') });
  if (sha256Hex(vol.rootBytes) !== job.rootSha256) {
    throw new BookcrateError('FORMAT', `the manifest of ${job.volume} changed while it was being imported`, {
      hint: 'leave the disk as it is while it is imported, then run the same command again',
      say: { id: 'volume-changed', args: { path: job.volume } },
    });
  }
  const table = segmentTable(vol.root);
  const sig = await readFile(volumePaths(job.volume).sig);
  const store = await Store.open(job.store);
  // The files and resources parts go into the store as they are read and checked here, once: a
  // mirror round after this import then fetches only the parts that changed (docs/store.md,
  // "Import", step 4). The members list describes this disk's segments, not the network form.
  const source: ManifestSource = {
    root: vol.root, loadPart: vol.loadPart,
    checkedPart: (list, ref, bytes) => (list === 'members' ? undefined : keepCheckedPartSync(store, ref.sha256, bytes)),
  };
  try {
    const version = await store.addVersion(vol.root, vol.rootBytes, sig, job.rootSha256,
      (async function* () {
        for await (const { entry, members } of placedEntries(source)) yield { entry, volume: table[members[0]!.segment - 1]!.volume };
      })(),
      resourceEntries(source), 'disk', () => {
        if (stopped) throw new BookcrateError('INTERNAL', 'the catalog thread was stopped: the import failed');
      });
    return { id: version.id, toAdmit: store.bytesToAdmit(version.id, vol.doc.volume, job.onlyFolders) };
  } finally {
    store.close();
  }
}

let answer: CatalogAnswer;
try {
  answer = await catalog();
} catch (caught) {
  // The catalog's disk is the store's: full, it is the librarian's "free some space" case, not a crash.
  answer = { error: errorToData(catalogWriteError(caught, storePaths(job.store).catalog)) };
}
parentPort!.postMessage(answer);
