import type { KeyObject } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import {
  BookcrateError, assertBundlePath, decodeRoot, memberHeaderView, formatFingerprint, formatSize, initHashing, keyFingerprint,
  loadPublicKey, padTo512, publicKeyPem, sameContent, segmentTable, sha256Hex, treePartRefs, type FileEntry, type MemberEntry, type PartRef,
  type Root,
} from '@bookcrate/format';
import {
  ChunkPool, HashThread, Outstanding, SegmentReadError, SegmentStream, SharedBufferPool, diskAnswers, type ThreadLink, openVolume, placedEntryBatches, readAhead, volumeKeyPem, volumePaths, type OpenVolume, type PlacedEntry,
} from '@bookcrate/volume';
import {
  ImportStaging, ObjectQueue, ObjectWriter, Store, buildVersionTree, catalogWriteError, collectGarbage, discardVersionTree, durableObjects, hasSpare, linkIntoTree, publishTree, removeTree, savePart, sha256OfFile, showVersionTree, storeIoError, storeRoom, syncObjects, versionTreePlace,
  type BuiltTree, type QueuedObject, type VersionChanges, type VersionRow,
} from '@bookcrate/store';
import { catalogInThread, type ToAdmit } from './catalog-thread.js';
import { SmallWriter } from './small-writer.js';
import { importHelperThread, sharedMemory } from './import-helper.js';
import { WriteBehind, onSameDisk } from './write-behind.js';

/**
 * Reading and writing budget of an import (docs/store.md, "Import"): segments are read in chunks of
 * CHUNK bytes, READ_AHEAD of them read ahead of the parser, from a pool of POOL_CHUNKS buffers that
 * also holds the bytes of writes still in flight; at most QUEUE.maxObjects objects and
 * QUEUE.maxBytes bytes are being written behind the parser.
 */
// 16 MiB in all (6 × 4 MiB before): the pool was a tenth of the import's 200 MB budget, and 2 MiB
// reads keep the disk streaming as well (docs/performance.md, "Run AQ").
const CHUNK = 2 << 20;
const POOL_CHUNKS = 8;
const READ_AHEAD = 3;
/** manifest entries decoded ahead of the segment reading */
const MANIFEST_AHEAD = 8192;
// maxBytes: writes still in flight hold their chunks of the pool; 12 MiB of them leave 2 chunks to read
// into, enough with the kernel reading ahead. 6 file operations at once: with 2, the reading waited
// ~1.5 s of an 8 s import for room in the queue once its reads stopped waiting (run AW).
const QUEUE = { maxObjects: 256, maxBytes: 12 << 20, maxOps: 6, writeSize: 1 << 20 };
/** files linked into the readers' tree at a commit (a second file with the same content), at most, a commit */
const LINK_LATER_MAX = 4096;
/** objects up to this size go to the writer thread (SmallWriter) */
const SMALL_OBJECT = 64 << 10;
/**
 * Objects up to this size are hashed on the importing thread as their bytes are parsed, and are
 * admitted or reported damaged at once: for a file of a few hundred bytes, the hashing thread's
 * round trip (a hasher opened, its ranges batched, its digest awaited through a chain of promises)
 * cost more than the SHA-256 itself (docs/performance.md, "Run AT").
 */
const HASH_HERE_MAX = SMALL_OBJECT;

export interface ImportOptions {
  volume: string; // a volume directory
  store: string;
  /** the center's key given with --trust */
  trust?: KeyObject;
  /** pin the key the disk carries without asking (scripts) */
  yes?: boolean;
  /** asks the librarian to confirm the disk key's fingerprint on a first import */
  confirmKey?: (fingerprint: string) => Promise<boolean>;
  /**
   * import only these collections (ids, titles or folder names) this time; the library carries
   * them from now on (docs/store.md, "Carried collections")
   */
  only?: string[];
  /** carry every collection of the bundle again (undoes `only`), and import them */
  all?: boolean;
  /** wait for another import into the same store instead of refusing */
  wait?: boolean;
  /**
   * Refuse at the start when the store's disk cannot hold what this volume still brings (default
   * true); false for a filesystem whose free space says little (compressing, deduplicating).
   */
  spaceCheck?: boolean;
  /** once a version is shown, objects no kept version uses are deleted after this long (collectGarbage; default 7 days) */
  gcAfterMs?: number;
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportProgress {
  /** waiting: for a `bookcrate check` that holds the store to pause (seconds) */
  phase: 'waiting' | 'manifest' | 'import' | 'publish';
  /** bytes of the segments gone through: read, or passed over unread (`bytesSkipped` of them) */
  bytesDone: number;
  bytesSkipped?: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
}

export interface DamagedFile {
  path: string;
  /** unreadable: the disk gave a read error there (a bad place on an old disk); the file is fetched later like a damaged one */
  reason: 'hash' | 'missing' | 'header' | 'unreadable';
  detail: string;
  segment?: string;
  offset?: number;
  expected?: string;
  actual?: string;
}

export interface ImportReport {
  store: string;
  volume: { dir: string; set: string; index: number; of: number };
  bundle: { id: string; version: number; title: string; created: string };
  key: { fingerprint: string; pinnedNow: boolean };
  imported: { files: number; bytes: number };
  alreadyPresent: { files: number; bytes: number };
  notSelected: number;
  /** the titles of the collections the library carries, where it carries only some (import --only) */
  carriesOnly?: string[];
  resumedSegments: number;
  damaged: DamagedFile[];
  /** tar headers that differ from the signed manifest (the files' content was checked on its own) */
  headerProblems: DamagedFile[];
  versionComplete: boolean;
  /** the store had this version from the network already (its own root): the disk brought only what it lacked */
  versionFromNetwork?: boolean;
  current: boolean;
  /**
   * What the version shown brought readers against the one they had (Store.newResources,
   * Store.updatedResources; the collections the library carries only): absent for a bundle's first
   * version here, or when the version was not shown.
   */
  brought?: VersionChanges;
  awaitingVolumes: number[];
  libraryDir?: string;
  seconds: number;
  /** bytes read from the disk */
  bytesRead: number;
  /** bytes of this run's segments passed over without reading: files it did not need (docs/store.md, "Import", step 5) */
  bytesSkipped: number;
}

/**
 * Whether `path` holds the whole object: `size` bytes whose SHA-256 is `sha256` (anything
 * missing or unreadable counts as not).
 */
async function isWholeObject(path: string, size: number, sha256: string): Promise<boolean> {
  try {
    return (await stat(path)).size === size && (await sha256OfFile(path)) === sha256;
  } catch {
    return false;
  }
}

/**
 * Imports one volume into a library store (docs/store.md, "Import"). The disk is read once,
 * sequentially, and only where the run needs its files (what the store holds already, or does not
 * carry, is passed over unread); every file is hashed while it is written to a temp file and
 * admitted only when its SHA-256 is the signed one. Damaged files are recorded and skipped;
 * everything else goes in. Work is committed segment by segment, so after a crash the same command
 * skips what was finished.
 */
export async function importVolume(opts: ImportOptions): Promise<ImportReport> {
  const started = Date.now();
  await initHashing();
  const store = await Store.open(opts.store, { create: true });
  // A check holding the store pauses for the import at the end of its page: the librarian is told it waits.
  const unlock = await store.lock('import', !!opts.wait, () => opts.onProgress?.({ phase: 'waiting', bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: 0 }));
  try {
    // Under the lock no other writer exists: temp files left by a killed run are garbage.
    for (const n of await readdir(store.paths.tmp).catch(() => [] as string[])) if (n.startsWith('obj-')) await rm(join(store.paths.tmp, n), { force: true });
    // One helper thread hashes the files over HASH_HERE_MAX and writes the small objects (each
    // thread is a V8 isolate of ~9 MiB: docs/performance.md, "Run AU"). It boots when either is
    // first needed: the hashing once the volume is open, or, for a bundle of small files, only when
    // the manifest, read ahead, names a larger file (run AT); the writing with the first small object.
    const buffers = new SharedBufferPool(POOL_CHUNKS, CHUNK);
    const helper = importHelperThread(buffers);
    const hashes = new HashThread(buffers, { lazy: true, link: helper.link('hash') });
    try {
      return await run(store, opts, started, buffers, hashes, helper.link('write'));
    } catch (e) {
      // a full disk met by a catalog write (a commit) is the librarian's case, not a bug
      throw catalogWriteError(e, store.paths.catalog);
    } finally {
      await hashes.close();
      await helper.close();
    }
  } finally {
    await unlock();
    store.close();
  }
}

async function establishTrust(store: Store, opts: ImportOptions): Promise<{ key: KeyObject; pin?: { pem: string; source: string } }> {
  const pinned = store.trustedKeys();
  if (pinned.length > 0) {
    const key = loadPublicKey(pinned[0]!.pem, 'the store\'s pinned key');
    if (opts.trust && keyFingerprint(opts.trust) !== pinned[0]!.fingerprint) {
      throw new BookcrateError('SIGNATURE', `this store already trusts the center key ${formatFingerprint(pinned[0]!.fingerprint)}; --trust names ${formatFingerprint(keyFingerprint(opts.trust))}`, {
        hint: 'a store trusts one center key; if the center really changed its key, ask it for instructions',
        say: { id: 'store-trusts-other-key', args: { pinned: formatFingerprint(pinned[0]!.fingerprint), given: formatFingerprint(keyFingerprint(opts.trust)) } },
      });
    }
    return { key };
  }
  if (opts.trust) return { key: opts.trust, pin: { pem: publicKeyPem(opts.trust), source: 'trust-flag' } };
  const pubPath = volumePaths(opts.volume).pubkey;
  const pem = await volumeKeyPem(opts.volume);
  if (pem === undefined) {
    throw new BookcrateError('UNTRUSTED', `no center key is trusted yet, and the volume has none at ${pubPath}`, {
      hint: 'pass the center\'s public key: --trust center.pub', say: { id: 'no-key-on-volume', args: { path: pubPath } },
    });
  }
  const key = loadPublicKey(pem, pubPath);
  const fp = formatFingerprint(keyFingerprint(key));
  if (opts.yes) return { key, pin: { pem, source: 'disk-yes' } };
  if (opts.confirmKey && (await opts.confirmKey(fp))) return { key, pin: { pem, source: 'disk-confirmed' } };
  throw new BookcrateError('UNTRUSTED', `this is the first import into this store, and the disk's center key ${fp} has not been confirmed`, {
    hint: 'compare the fingerprint with the one the national center published; if it matches, run again with --yes (or pass --trust center.pub)',
    say: { id: 'key-not-confirmed', args: { fingerprint: fp } },
  });
}

function checkVersion(store: Store, vol: OpenVolume): VersionRow | undefined {
  const b = vol.root.bundle;
  const newest = store.newestVersion(b.id);
  if (newest && newest.version > b.version) {
    throw new BookcrateError('STALE', `this disk holds version ${b.version} of "${b.title}", but the store already has the newer version ${newest.version}`, {
      hint: 'an older disk cannot replace newer content; use the newest disk, or let the mirror keep the store current',
      say: { id: 'older-version', args: { title: b.title, version: b.version, newest: newest.version } },
    });
  }
  const existing = store.version(b.id, b.version);
  // The network form of a version has its own root (no layout, its own `created`), and a county
  // the mirror reached first then gets the disk of that same version: the same files and resources
  // trees, so the same content, which the disk can only complete.
  if (existing && existing.root_sha256 !== sha256Hex(vol.rootBytes) && !(existing.origin === 'network' && sameStoredContent(store.versionRootJson(existing.id), vol.root))) {
    throw new BookcrateError('STALE', `version ${b.version} of "${b.title}" in the store was signed with different content than this disk's`, {
      hint: 'two different disks claim the same version; ask the national center which one is right',
      say: { id: 'version-conflict', args: { title: b.title, version: b.version } },
    });
  }
  return existing;
}

/** Whether a stored root (bytes) and a disk's root describe the same content (format's sameContent). */
function sameStoredContent(storedRoot: Buffer, root: Root): boolean {
  try {
    return sameContent(decodeRoot(storedRoot), root);
  } catch {
    return false;
  }
}

/** What the next commit records beside the staged rows (ImportStaging): both stay small. */
interface Pending {
  segments: number[];
  damaged: { path: string; sha256: string | null; reason: string; detail: string }[];
  /** Parts of split files written to tmp/parts (made durable by the commit's sync). */
  parts: string[];
  /**
   * Parts of split files assembled into objects since the last commit: deleted once the commit has
   * recorded those objects, not before. An import that fails or is killed before it (the object
   * unrecorded, removed or not adopted) finds them again and assembles the file once more.
   */
  assembled: string[];
}
const nothingPending = (): Pending => ({ segments: [], damaged: [], parts: [], assembled: [] });
const removeParts = async (paths: string[]): Promise<void> => {
  for (const p of paths) await rm(p, { force: true }).catch(() => undefined);
};

async function run(store: Store, opts: ImportOptions, started: number, buffers: SharedBufferPool, hashes: HashThread, writing: ThreadLink): Promise<ImportReport> {
  const progress = (p: ImportProgress): void => opts.onProgress?.(p);
  const trust = await establishTrust(store, opts);
  const vol = await openVolume(opts.volume, { trustedKey: trust.key });
  // A bundle of large files on average starts the hashing thread now, as before its first file
  // needs it; one of small files starts it only if the manifest names a larger file (startHashing
  // below), and otherwise never (docs/performance.md, "Run AT").
  const { files: bundleFiles, bytes: bundleBytes } = vol.root.totals;
  if (bundleBytes > bundleFiles * HASH_HERE_MAX) void hashes.start().catch(() => undefined);
  // A wrong --only is refused before the store is touched (no key pinned, no version recorded).
  const only = opts.only?.length ? collectionIds(vol, opts.only) : undefined;
  if (trust.pin) store.pinKey(keyFingerprint(trust.key), trust.pin.pem, trust.pin.source);
  const layout = vol.root.layout!;
  const table = segmentTable(vol.root);
  const me = vol.doc.volume;

  // ---- the version, what the library carries, and the manifest into the catalog ----
  progress({ phase: 'manifest', bytesDone: 0, bytesTotal: 0, filesDone: 0, filesTotal: vol.root.totals.files + vol.root.totals.dirs });
  const existing = checkVersion(store, vol);
  const fromNetwork = existing?.origin === 'network';
  // What the library carries (--only adds to it, --all carries everything again; widening it
  // clears the journal, so `done` below is read after), and what this run imports. Recorded before
  // a new version's manifest goes in, which then marks that version's collections itself.
  if (opts.all) store.carryCollections(vol.root.bundle.id, 'all');
  else if (only) store.carryCollections(vol.root.bundle.id, only);
  const carriedIds = store.carriedCollections(vol.root.bundle.id);
  const isCarried = inCollections(vol, carriedIds.length > 0 ? carriedIds : undefined);
  const wanted = only ? inCollections(vol, only) : isCarried;
  // A new version's manifest goes into the catalog on a thread of its own while this one reads the
  // segments (docs/store.md, "Import", step 4): nothing is committed until it is in. Each thread
  // decodes the manifest for itself (the parts are read from the disk once, then from the page
  // cache): handing entries across would tie the catalog to the reading's pace, or hold them all.
  // the folders of the collections this run takes (--only), for what the volume still brings (checkRoom)
  const onlyFolders = only ? vol.root.collections.filter((c) => only.includes(c.id)).map((c) => c.path) : undefined;
  const admitFolders = onlyFolders?.includes('') ? undefined : onlyFolders;
  const catalogThread = existing ? undefined : catalogInThread({
    store: opts.store, volume: opts.volume, keyPem: publicKeyPem(trust.key), rootSha256: sha256Hex(vol.rootBytes), ...(admitFolders ? { onlyFolders: admitFolders } : {}),
  });
  const cataloging = catalogThread?.versionId;
  // The catalog thread checks the whole manifest long before the reading reaches its end: an error
  // it meets (a hostile path, a damaged part) stops the import at once, not at the first commit.
  let catalogFailure: unknown;
  cataloging?.catch((e: unknown) => {
    catalogFailure = e;
  });
  let vid = existing?.id ?? 0;
  let importId = 0;
  /** Waits until the version is in the catalog (before any commit). */
  const catalogued = async (): Promise<void> => {
    if (cataloging) vid = await cataloging;
  };
  /**
   * Records this volume and this run in the catalog. A new version's run does so in its first
   * commit, after the objects' sync: a sync of its own beside the objects being written would wait
   * for them (docs/store.md, "Import", step 4).
   */
  const recordRun = (): void => {
    if (importId) return;
    store.startVolume(vid, me);
    importId = store.startImport(vid, me, opts.volume, new Date(started));
  };
  if (existing) recordRun();
  // The manifest's parts are kept in the store beside the data; the import waits for them before it
  // finishes the volume. A new version's are kept by the catalog thread, which reads and checks
  // every one of them anyway; a version already catalogued (another volume of its set, a resumed
  // run) has them copied here, each one the store lacks.
  const partsKept = cataloging ?? keepManifestParts(store, vol);
  partsKept.catch(() => undefined); // awaited below; an early failure must not go unhandled
  // Segments holding a carried file this run left out (--only): not journaled as done, so a later
  // import reads them again for it.
  const leftOut = new Set<number>();

  // ---- what to import ----
  const mine = new Set<number>();
  table.forEach((s, i) => s.volume === me && mine.add(i + 1));
  // A version with damaged files goes through this volume's segments again, though they are
  // journaled: the files the store has are passed over unread (docs/store.md, "Import", step 5),
  // the damaged ones read again, from a replacement disk the center sent, or from the same disk,
  // where the fault may have been passing. Otherwise such a disk could never repair them.
  const done = existing && !store.hasDamaged(existing.id) ? store.segmentsDone(existing.id) : new Set<number>();
  const report: ImportReport = {
    store: opts.store, volume: { dir: opts.volume, set: layout.set, index: me, of: layout.volumes.length }, bundle: vol.root.bundle,
    key: { fingerprint: keyFingerprint(trust.key), pinnedNow: !!trust.pin },
    imported: { files: 0, bytes: 0 }, alreadyPresent: { files: 0, bytes: 0 }, notSelected: 0,
    resumedSegments: [...mine].filter((s) => done.has(s)).length, damaged: [], headerProblems: [], versionComplete: false, current: false,
    awaitingVolumes: [], seconds: 0, bytesRead: 0, bytesSkipped: 0, ...(fromNetwork ? { versionFromNetwork: true } : {}),
    ...(carriedIds.length > 0 ? { carriesOnly: vol.root.collections.filter((c) => carriedIds.includes(c.id)).map((c) => c.title) } : {}),
  };
  const bytesTotal = [...mine].filter((s) => !done.has(s)).reduce((a, s) => a + table[s - 1]!.info.size, 0);
  /** The progress's bytes: the segments' bytes gone through, read or passed over (those are not in the rate). */
  const segmentBytes = (): Pick<ImportProgress, 'bytesDone' | 'bytesSkipped'> => ({ bytesDone: report.bytesRead + report.bytesSkipped, bytesSkipped: report.bytesSkipped });

  // ---- room: a store too small for this volume is said at the start, not hours into it ----
  /**
   * Stops the import (NO_SPACE) when the store's disk cannot hold what this volume still brings
   * (`need`, Store.bytesToAdmit): for a version already in the catalog, before anything is read; for
   * a new one, as soon as the catalog thread has put its manifest in and counted it, while the first
   * segment is being read. An estimate with room to spare, not a promise: a full disk later still
   * stops the import cleanly.
   */
  const checkRoom = async (need: ToAdmit, versionId: number): Promise<void> => {
    if (need.files === 0) return;
    // what this run has admitted is on the disk already (and no longer free), though not yet recorded
    const room = await storeRoom(store, { bytes: Math.max(0, need.bytes - report.imported.bytes), files: need.files }, versionId);
    if (!room || room.wanted <= room.free) return;
    const { free, wanted, copies } = room;
    const short = formatSize(wanted - free);
    const what = copies ? 'and a copy of every file in the readers\' tree: this disk makes no hard links' : 'and room for the catalog';
    throw new BookcrateError('NO_SPACE', `the store's disk has ${formatSize(free)} free; this volume still needs about ${formatSize(wanted)} there (${need.files} file(s) the store does not hold yet, ${what})`, {
      hint: `free at least ${short} on the library server's disk (or import into a store on a larger disk), then run the same command again: everything already imported is kept`,
      say: { id: copies ? 'store-too-small-copies' : 'store-too-small', args: { free: formatSize(free), need: formatSize(wanted), files: need.files, short } },
    });
  };
  // A version already in the catalog is checked before anything is read; a new one once its
  // manifest is in, and a failure then stops the reading at its next file (catalogFailure).
  const roomCheck: Promise<void> = opts.spaceCheck === false ? Promise.resolve()
    : catalogThread ? Promise.all([catalogThread.toAdmit, catalogThread.versionId]).then(([need, id]) => checkRoom(need, id))
    : checkRoom(store.bytesToAdmit(vid, me, admitFolders), vid);
  roomCheck.catch((e: unknown) => {
    catalogFailure ??= e;
  });
  if (!cataloging) await roomCheck;

  // ---- the readers' tree, built as the import goes (docs/store.md, "Import", step 7) ----
  // Only by a run that can complete the version (every other volume in) and that starts with none
  // of this volume's segments committed: then every present file passes through this run. Not
  // where the bundle has a spare (a disk of a third version or later): changing the spare at the
  // last commit costs the change's links and unlinks, where growing the tree costs a link per file
  // of the version, and the removal of the spare it replaces an unlink per file.
  const volumesIn = existing ? new Map(store.volumeStates(existing.id).map((v) => [v.volume, v.state])) : new Map<number, string>();
  const growTree = layout.volumes.every((v) => v.index === me || volumesIn.get(v.index) === 'done') && ![...mine].some((s) => done.has(s))
    && !(await hasSpare(store, vol.root.bundle.id, existing?.id));
  const tree = growTree ? { ...versionTreePlace(store, vol.root.bundle.id, vol.root.bundle.version, layout.set), links: 0, dirs: 0, broken: false, later: [] as [string, string][] } : undefined;
  if (tree) {
    // what a killed run linked may point at objects that never became durable
    await removeTree(tree.building).catch((e: unknown) => { throw storeIoError(e, tree.building); });
    await mkdir(tree.building, { recursive: true }).catch((e: unknown) => { throw storeIoError(e, tree.building); });
  }
  /** Where a file of the manifest goes in the tree being built (its path was checked when decoded, and is again). */
  const inTree = (path: string): string | undefined => {
    if (!tree || tree.broken) return undefined;
    assertBundlePath(path, 'manifest');
    // A checked bundle path has no empty, '.' or '..' component: path.join would only put the separator in.
    return tree.building + sep + (sep === '/' ? path : path.replaceAll('/', sep));
  };
  const linkNow = (objectPath: string, path: string): void => {
    const at = inTree(path);
    if (!at) return;
    if (linkIntoTree(objectPath, at)) tree!.links++;
    else tree!.broken = true;
  };
  /** A second file with the content of one admitted moment ago: linked once that one is in objects/ (at the commit). */
  const linkLater = (objectPath: string, path: string): void => {
    const at = inTree(path);
    if (!at) return;
    if (tree!.later.length < LINK_LATER_MAX) tree!.later.push([objectPath, at]);
    else tree!.broken = true;
  };
  const linkWaiting = (): void => {
    if (!tree) return;
    for (const [objectPath, at] of tree.later.splice(0)) {
      if (tree.broken) break;
      if (linkIntoTree(objectPath, at)) tree.links++;
      else tree.broken = true;
    }
  };
  /** The tree holds every present file and folder of the version (counted in the last commit's transaction). */
  const treeComplete = (): boolean => !!tree && !tree.broken && queue.linkFailures === 0 && tree.later.length === 0
    && tree.links + tree.dirs === store.presentCount(vid);
  let filesDone = 0;
  let lastProgress = 0;
  const tick = (force = false): void => {
    if (!force && Date.now() - lastProgress < 200) return;
    lastProgress = Date.now();
    progress({ phase: 'import', ...segmentBytes(), bytesTotal, filesDone, filesTotal: vol.root.totals.files + vol.root.totals.dirs });
  };

  // Objects are written behind the parser (ObjectQueue); a commit first waits for all of them.
  // Early write-back only where the store is on another disk than the volume: on one disk an early
  // `sync -f` every 256 MiB made it alternate between reading and writing (import 2 s slower,
  // docs/performance.md, run R); on two it keeps the store's disk busy (WriteBehind).
  const writeBehind = new WriteBehind(store.dir, !(await onSameDisk(opts.volume, store.dir).catch(() => true)));
  // The segment's bytes land in shared buffers; the hashing thread computes each object's SHA-256
  // there while this thread parses on and the writes go out behind.
  const pool = new ChunkPool(buffers);
  // Small objects are written by the helper thread, straight from those buffers.
  const small = new SmallWriter({ maxSize: SMALL_OBJECT, pool: sharedMemory(buffers), link: writing });
  const queue = await ObjectQueue.create(store.paths.tmp, store.paths.objects, { ...QUEUE, sink: small });
  // The hashing thread may still be booting: what it is sent waits for it, and the reading starts now.
  // Objects whose digest is still being computed: admitted or reported damaged once it is known.
  const checks = new Outstanding();
  const durableAmong = durableObjects(store);
  // Bumped each time a commit has recorded objects: a file whose presence was asked before then is
  // asked again, so an object this run wrote and a commit recorded is never written twice.
  let commitsRecorded = 0;
  let pending = nothingPending();
  // What the commits will record about each file goes to the staging table, not into memory
  // (docs/store.md, "Import", step 5): the objects this run put into objects/ that no commit
  // has recorded yet are asked of it (a second file with the same content is not written again),
  // and removed after a failure (not trusted: a later run writes them again).
  await mkdir(join(store.paths.tmp, 'parts'), { recursive: true });
  const staging = ImportStaging.open(store);
  // The commit of the segments before, waiting for its objects' sync while the next segment is read
  // (the disk would otherwise stop at every segment until the store's disk had written everything:
  // docs/performance.md, "Two hard disks"). At most one is in flight, and the next commit waits for
  // it, so the journal records segments in order. Its objects count as written by this run until it is in.
  let behind: { done: Promise<void> } | undefined;
  const catchUp = async (): Promise<void> => {
    const b = behind;
    behind = undefined;
    await b?.done;
  };
  /**
   * Commits the segments read since the last commit: their objects are made durable (one `sync -f`
   * in a child process), then the catalog records them, so a row is never ahead of its object.
   * A commit in the middle of the volume returns once the sync has started, and the import reads
   * on. The last one (`whileSyncing` given) is waited for: it runs `whileSyncing` in a transaction
   * beside the sync, which commits only once the sync has succeeded.
   */
  const commit = async (whileSyncing?: () => Promise<void>): Promise<boolean> => {
    if (pending.segments.length === 0) {
      await catchUp();
      return false;
    }
    await catalogued();
    await roomCheck;
    hashes.send();
    await queue.drain();
    await checks.settled();
    await catchUp();
    linkWaiting(); // every object admitted so far is in objects/ now
    const p = pending;
    const segments = p.segments.filter((s) => !leftOut.has(s));
    pending = nothingPending();
    const batch = staging.cut();
    // nothing written (every file already in the store): nothing to sync
    const synced = batch.written + p.parts.length === 0 ? Promise.resolve() : syncObjects(store.dir, chain(p.parts, staging.objectPaths(batch)));
    if (!whileSyncing) {
      const done = synced.then(() => {
        recordRun();
        store.commitSegments(vid, segments, importId, batch, p.damaged);
        staging.recorded(batch);
        commitsRecorded++;
      }).then(() => removeParts(p.assembled));
      done.catch(() => undefined); // awaited by the next commit, or at the end
      behind = { done };
      return true;
    }
    synced.catch(() => undefined); // awaited in the transaction; a failure there must not go unhandled
    await store.inTransaction(async () => {
      recordRun();
      store.commitSegments(vid, segments, importId, batch, p.damaged);
      await whileSyncing();
      await synced;
    });
    staging.recorded(batch);
    commitsRecorded++;
    await removeParts(p.assembled);
    return true;
  };
  /** Whether every volume of the set is in and no file waits, and whether this version is to be shown. */
  const completion = (): { awaiting: number[]; complete: boolean; show: boolean } => {
    const states = new Map(store.volumeStates(vid).map((v) => [v.volume, v.state]));
    // A version the network brought awaits no disk: the mirror fetches what it lacks.
    const awaiting = fromNetwork ? [] : layout.volumes.map((v) => v.index).filter((i) => states.get(i) !== 'done');
    const complete = awaiting.length === 0 && store.pendingCount(vid) === 0;
    const newest = store.newestVersion(vol.root.bundle.id);
    return { awaiting, complete, show: complete && (!newest || newest.id === vid) };
  };
  // The last commit marks the volume done (in its transaction) when there was a segment to commit.
  let lastCommitted = false;
  let built: BuiltTree | undefined;
  const damage = (entry: FileEntry, d: DamagedFile): void => {
    report.damaged.push(d);
    pending.damaged.push({ path: entry.path, sha256: entry.sha256 ?? null, reason: d.reason, detail: d.detail });
  };

  /**
   * The segment being read. `passedOver`: a member was left unread since the last one read, so the
   * next one read is sought (SegmentStream.seekTo) instead of having to start where that one ended.
   */
  let seg: { index: number; reader?: SegmentStream; short: boolean; passedOver: boolean } | undefined;
  const closeSegment = async (): Promise<void> => {
    if (!seg) return;
    if (seg.reader) {
      // to the end without reading files passed over there; then whatever follows the size seen at the start
      try {
        if (!seg.short && (await seg.reader.seekTo(Math.max(seg.reader.offset, seg.reader.size)))) await seg.reader.drain();
      } catch (e) {
        if (!(e instanceof SegmentReadError)) throw e; // past every file of the segment: nothing is lost
      }
      await seg.reader.close();
    }
    pending.segments.push(seg.index);
    seg = undefined;
  };
  const openSegment = async (index: number): Promise<NonNullable<typeof seg>> => {
    await closeSegment();
    const path = volumePaths(opts.volume).segment(table[index - 1]!.info.name);
    // Missing (a copy cut short): its files are damaged. Unreadable (a disk gone): a read error.
    const present = await stat(path).then((st) => st.isFile(), (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return false;
      throw unreadableDisk(path, e.message, -1);
    });
    seg = { index, short: false, passedOver: false };
    if (present) seg.reader = await streamOf(path, -1);
    return seg;
  };
  /**
   * The segment's bytes from the disk. `badAt`: where a read failed in it before (-1: none), so a
   * failure to open it again is a read error there too.
   */
  const streamOf = async (path: string, badAt: number, at = 0): Promise<SegmentStream> => {
    try {
      return await SegmentStream.open(path, pool, {
        ...(badAt >= 0 ? { at, readSize: READ_PAST_BAD_PLACE } : {}),
        depth: READ_AHEAD,
        // Through the page cache, whose read-ahead keeps the disk streaming: past it (O_DIRECT, 3 reads
        // of 2 MiB in flight) a virtual disk gave ~850 MB/s against ~1.8 GB/s, and the importing thread
        // waited 3.5–4 s of an 8 s import for its reads; on hard disks the two are alike
        // (docs/performance.md, "Run AW").
        direct: false,
        // every buffer is held: by the hashing thread, or by small objects gathered for the writer
        onStarve: () => {
          hashes.send();
          small.flush();
          obj?.writeGathered();
        },
        observe: (n) => {
          failing = undefined; // read: the disk answers again (readFailed)
          report.bytesRead += n;
          writeBehind.wrote(n); // what is read is written (but for files passed over within a buffer)
          tick();
        },
        passed: (n) => {
          report.bytesSkipped += n;
          tick();
        },
      });
    } catch (e) {
      throw unreadableDisk(path, (e as Error).message, badAt);
    }
  };
  /**
   * A read of the disk failed (EIO) where a file is: an old USB disk's bad place. That file is
   * recorded as damaged, 'unreadable' (fetched later like any damaged file), and reading goes on past
   * it, in the segment opened again: every readable file still goes in. A disk that is gone
   * (unplugged: its volume.json cannot be read past the page cache either, diskAnswers) stops the
   * import with a read error (exit 4), keeping what it committed, rather than record a whole disk's
   * files as damaged. Where the filesystem cannot be read past the cache, a disk that fails
   * READ_FAILURES_IN_A_ROW files, or over READ_FAILURES_SPAN bytes, with nothing read between, is
   * taken for gone.
   */
  let failing: { files: number; from: number; segment: number } | undefined;
  const readFailed = async (s: NonNullable<typeof seg>, e: SegmentReadError, goOnAt: number): Promise<void> => {
    if (!failing || failing.segment !== s.index) failing = { files: 0, from: e.offset, segment: s.index };
    failing.files++;
    await s.reader?.close().catch(() => undefined);
    s.reader = undefined;
    const answers = await diskAnswers(volumePaths(opts.volume).volume);
    if (answers === false || (answers === undefined && (failing.files > READ_FAILURES_IN_A_ROW || e.offset - failing.from > READ_FAILURES_SPAN))) {
      throw unreadableDisk(e.path, e.reason.message, e.offset);
    }
    // Again from where the next file to read starts, in small reads (a bad place takes no neighbour with it).
    s.reader = await streamOf(e.path, e.offset, goOnAt);
    s.passedOver = true; // the next member read is sought from there
  };

  /** Starts the hashing thread once the manifest, decoded ahead of the reading, names a file it will hash. */
  const startHashing = (batch: PlacedEntry[]): void => {
    if (!hashes.started && batch.some(({ entry }) => entry.type === 'file' && entry.size > HASH_HERE_MAX)) void hashes.start().catch(() => undefined);
  };
  let obj: QueuedObject | undefined;
  let failed = false;
  // After a killed run, the objects it may have left are checked ahead (LeftoverChecks).
  const leftovers = staging.afterKilledRun ? new LeftoverChecks((sha) => store.paths.object(sha), HASH_HERE_MAX) : undefined;
  try {
    const presence = readAhead(withPresence(vol, durableAmong, () => commitsRecorded, startHashing, leftovers && ((b, held) => leftovers.offer(b, held))), MANIFEST_AHEAD, (b) => b.batch.length);
    for await (const { batch, held: heldAmong, askedAt } of presence) {
      for (const { entry, members } of batch) {
        const held = entry.sha256 !== undefined && heldAmong.has(entry.sha256);
        if (catalogFailure) throw catalogFailure;
        const leftover = leftovers?.take(entry.sha256); // taken whatever comes of it: the checks are bounded by the read-ahead
        const here = members.filter((m) => mine.has(m.segment));
        if (here.length === 0) continue;
        filesDone++;
        // Committed by an earlier run (a segment of this volume that holds it is journaled): only its bytes are passed over.
        const committed = here.some((m) => done.has(m.segment));
        const selected = wanted(entry.path);
        if (!selected && !committed) {
          report.notSelected++;
          if (isCarried(entry.path)) for (const m of here) leftOut.add(m.segment);
        }
        const act = !committed && selected;
        const isFile = entry.type === 'file';
        // Already in the store, or admitted a moment ago from another file with the same content: not written again.
        const durable = act && isFile && (held || (askedAt !== commitsRecorded && durableAmong([entry.sha256!]).size > 0));
        const again = isFile && act && !durable && staging.hasWritten(entry.sha256!);
        const allHere = here.length === members.length;
        // After a killed run: the object it renamed into objects/ (only once its SHA-256 matched)
        // but no commit recorded is adopted after a hash of that copy, from the store's disk or
        // still from the page cache, instead of read from the volume again (docs/store.md, "Resume").
        // Small objects, written in place and maybe cut short there, are simply written again.
        const adopted = act && isFile && !durable && !again && allHere && leftover !== undefined && (await leftover);
        // hid: the hashing thread's hasher of this file, or none when it is hashed here (HASH_HERE_MAX)
        let hid: number | undefined;
        if (act && isFile && !durable && !again && !adopted && allHere) {
          const wait = queue.room(true);
          if (wait) {
            hashes.send(); // objects in the queue may be waiting for their digests
            await wait;
          }
          const hashHere = entry.size <= HASH_HERE_MAX;
          obj = queue.begin({ hashedElsewhere: !hashHere });
          if (!hashHere) hid = hashes.open('sha256');
        }
        const parts = act && isFile && !durable && !again && !allHere;
        // Whether this run reads the file's members at all: not when the store has its content
        // already, nor when it is not selected (or its segment is journaled); those bytes are passed
        // over, and a disk of files mostly in the store, or an --only of one collection, reads only
        // what it imports (docs/store.md, "Import", step 5).
        const needsBytes = act && !(isFile && (durable || again || adopted));
        let missing: DamagedFile | undefined;
        for (const m of here) {
          if (done.has(m.segment)) continue;
          const s = seg && seg.index === m.segment ? seg : await openSegment(m.segment);
          if (!needsBytes) {
            s.passedOver = true;
            continue;
          }
          const name = table[m.segment - 1]!.info.name;
          if (!s.reader || s.short) {
            missing ??= { path: entry.path, reason: 'missing', segment: name, offset: m.offset, detail: `segment ${name} is missing or cut short` };
            continue;
          }
          // The tar header must be exactly the one the signed manifest implies: a link, a device, an
          // absolute or `..` name, or a size that disagrees would all show up here — and none is ever used.
          // Valid until the next memberHeaderView call (the next member's): compared at once, slice by slice.
          const header = memberHeaderView({ path: entry.path, type: entry.type, length: m.length, mtime: entry.mtime, ...(m.at !== undefined ? { part: { offset: m.at, total: entry.size } } : {}) });
          const span = header.length + m.length + padTo512(m.length);
          // Read once more when the disk failed (readFailed, and the catch below).
          for (let retried = false; ; retried = true) {
            const r = s.reader!;
            let seeking = true;
            try {
              if (s.passedOver && r.offset < m.offset) {
                s.passedOver = false;
                if (!(await r.seekTo(m.offset))) {
                  s.short = true;
                  missing ??= { path: entry.path, reason: 'missing', segment: name, offset: m.offset, detail: `${name} ends before ${entry.path} (the segment is cut short)` };
                  break;
                }
              }
              seeking = false;
              if (r.offset !== m.offset) throw new BookcrateError('FORMAT', `members list: ${entry.path} should start at offset ${m.offset} of ${name}, the previous member ends at ${r.offset}`);
              const whole = parts ? undefined : r.peek(span);
              if (whole) {
                // The whole member is in the buffer at hand (most small files): no wait between its parts.
                const { bytes, chunk } = whole;
                if (act && header.compare(bytes, 0, header.length) !== 0) report.headerProblems.push({ path: entry.path, reason: 'header', segment: name, offset: m.offset, detail: `the tar header of ${entry.path} in ${name} differs from the signed manifest; the file's content is checked on its own` });
                const o = obj;
                if (o && m.length > 0) {
                  const data = bytes.subarray(header.length, header.length + m.length);
                  if (hid !== undefined) hashes.update(hid, chunk.index, data.byteOffset - chunk.buf.byteOffset, m.length);
                  o.update(data, chunk);
                }
                r.consume(span);
                const wait = o ? queue.room(false) : undefined;
                if (wait) {
                  hashes.send();
                  await wait;
                }
                break;
              }
              let hpos = 0;
              let headerOk = true;
              const hgot = await r.take(header.length, (b) => {
                if (headerOk && header.compare(b, 0, b.length, hpos, hpos + b.length) !== 0) headerOk = false;
                hpos += b.length;
              });
              if (!headerOk && act) report.headerProblems.push({ path: entry.path, reason: 'header', segment: name, offset: m.offset, detail: `the tar header of ${entry.path} in ${name} differs from the signed manifest; the file's content is checked on its own` });
              const partPath = parts ? join(store.paths.tmp, 'parts', `${entry.sha256}-${m.at ?? 0}`) : undefined;
              const part = partPath ? await open(partPath, 'w').catch((e) => { throw storeIoError(e, partPath); }) : undefined;
              let dgot = 0;
              try {
                if (hgot === header.length) {
                  const o = obj;
                  if (o) {
                    // hashed by the hashing thread (or here, by o), written behind: the chunk stays held until both are done
                    const id = hid;
                    dgot = await r.take(m.length, (b, chunk) => {
                      if (id !== undefined) hashes.update(id, chunk.index, b.byteOffset - chunk.buf.byteOffset, b.length);
                      o.update(b, chunk);
                      const wait = queue.room(false);
                      if (wait) hashes.send();
                      return wait;
                    });
                  } else if (part) {
                    dgot = await r.take(m.length, async (b) => {
                      await part.write(b).catch((e) => { throw storeIoError(e, partPath!); });
                    });
                  } else {
                    dgot = await r.skip(m.length);
                  }
                }
              } finally {
                await part?.close();
              }
              if (partPath) pending.parts.push(partPath);
              const pad = padTo512(m.length);
              const pgot = dgot === m.length ? await r.skip(pad) : 0;
              if (hgot < header.length || dgot < m.length || pgot < pad) {
                s.short = true;
                missing ??= { path: entry.path, reason: 'missing', segment: name, offset: m.offset, detail: `${name} ends inside ${entry.path} (the segment is cut short)` };
              }
              break;
            } catch (e) {
              if (!(e instanceof SegmentReadError)) throw e;
              // Once more, from the file's own start in small reads, where the failed read may have been a
              // large one that only touched it: the bad place may lie before it or past its end. Not for a
              // file whose earlier members fed its object already.
              const again = !retried && (seeking || here.length === 1);
              await readFailed(s, e, again ? m.offset : m.offset + span);
              if (again) {
                if (!seeking) {
                  // what the first try fed goes: the object and its hasher start again
                  if (obj) {
                    obj.discard();
                    obj = queue.begin({ hashedElsewhere: hid !== undefined });
                  }
                  if (hid !== undefined) {
                    void hashes.finish(hid).catch(() => undefined);
                    hid = hashes.open('sha256');
                  }
                }
                continue;
              }
              missing ??= { path: entry.path, reason: 'unreadable', segment: name, offset: m.offset, detail: `${entry.path} cannot be read from the disk: ${e.reason.code ?? e.reason.message} at byte ${e.offset} of ${name}` };
              break;
            }
          }
        }
        if (act) {
          if (!isFile) {
            if (missing) damage(entry, missing);
            else {
              staging.add(entry.path, null, 0, false);
              const at = inTree(entry.path);
              if (at) {
                try {
                  mkdirSync(at, { recursive: true });
                  tree!.dirs++;
                } catch {
                  tree!.broken = true;
                }
              }
            }
          } else if (missing) {
            obj?.discard();
            if (hid !== undefined) void hashes.finish(hid).catch(() => undefined);
            damage(entry, missing);
          } else if (durable) {
            linkNow(store.paths.object(entry.sha256!), entry.path);
            staging.add(entry.path, entry.sha256!, entry.size, false);
            report.alreadyPresent.files++;
            report.alreadyPresent.bytes += entry.size;
          } else if (adopted) {
            // this run's now: synced and recorded by the next commit (and removed if this run fails)
            linkNow(store.paths.object(entry.sha256!), entry.path);
            staging.add(entry.path, entry.sha256!, entry.size, true);
            report.imported.files++;
            report.imported.bytes += entry.size;
          } else if (again) {
            linkLater(store.paths.object(entry.sha256!), entry.path);
            staging.add(entry.path, entry.sha256!, entry.size, false);
            report.imported.files++;
            report.imported.bytes += entry.size;
          } else if (obj) {
            // Put into objects/ behind us (renamed there, or, a small one, written there) only if the
            // SHA-256 matches; synced and recorded at the commit, which waits for every write and check.
            const path = store.paths.object(entry.sha256!);
            const expected = entry.sha256!;
            const m0 = here[0]!;
            const linkAt = inTree(entry.path);
            const judge = (actual: string): void => {
              if (actual === expected) {
                // in objects/ (or on its way there), and linked at linkAt (a failed link counts in queue.linkFailures)
                if (linkAt) tree!.links++;
                staging.add(entry.path, expected, entry.size, true);
                report.imported.files++;
                report.imported.bytes += entry.size;
              } else if (actual) {
                damage(entry, { path: entry.path, reason: 'hash', segment: table[m0.segment - 1]!.info.name, offset: m0.offset, expected, actual, detail: `${entry.path} is damaged on the disk: SHA-256 ${actual}, expected ${expected}` });
              }
            };
            if (hid === undefined) judge(obj.finish(expected, path, linkAt));
            else checks.add(obj.finishWhenHashed(expected, path, hashes.finish(hid).then((d) => d.sha256), linkAt).then(judge));
          } else if (parts) {
            // A file split across volumes: its parts wait in tmp/parts until every volume holding one is in.
            const assembled = await assembleParts(store, entry, members);
            if (Array.isArray(assembled)) {
              pending.assembled.push(...assembled);
              linkNow(store.paths.object(entry.sha256!), entry.path);
              staging.add(entry.path, entry.sha256!, entry.size, true);
              report.imported.files++;
              report.imported.bytes += entry.size;
            } else if (assembled === 'damaged') {
              const volumes = [...new Set(members.map((m) => table[m.segment - 1]!.volume))].sort((a, b) => a - b);
              damage(entry, {
                path: entry.path, reason: 'hash', segment: table[members[0]!.segment - 1]!.info.name, offset: members[0]!.offset,
                detail: `${entry.path}, assembled from its parts on volumes ${volumes.join(', ')}, does not match its SHA-256: a good copy of the volume whose part is damaged (verify names it) completes it with the parts kept from the others`,
              });
            }
          }
        }
        obj = undefined;
        if (pending.segments.length > 0) await commit();
        tick();
      }
    }
    await closeSegment();
    await catalogued();
    await partsKept; // before the last commit, whose sync makes them durable too
    // The last commit also finishes the volume and, when that completes the version, builds the
    // readers' tree while the objects are synced (it is shown only after the commit).
    try {
      lastCommitted = await commit(async () => {
        store.finishVolume(vid, me);
        if (!completion().show) return;
        progress({ phase: 'publish', ...segmentBytes(), bytesTotal, filesDone, filesTotal: filesDone });
        if (tree && treeComplete()) {
          built = { bundleId: vol.root.bundle.id, target: tree.target, building: tree.building, name: tree.name, links: tree.links, copies: 0 };
        } else {
          built = await buildVersionTree(store, vid).catch(() => undefined); // publishTree below tries again and names the problem
        }
      });
    } catch (e) {
      // The transaction was rolled back: the tree built in it is not to be shown.
      if (built) await discardVersionTree(built).catch(() => undefined);
      throw e;
    }
  } catch (e) {
    failed = true;
    // Said in the store's list of imports (status, the status page), not left "running" for ever.
    // Best effort: a catalog that cannot be written (a full disk) keeps "running", which status
    // reads as running or interrupted.
    if (importId) {
      try {
        store.finishImport(importId, 'failed', { error: (e as Error).message, code: (e as BookcrateError).code ?? 'INTERNAL' });
      } catch {
        // as after a SIGKILL
      }
    }
    throw e;
  } finally {
    // On an error: the object being read is dropped, and writes still in flight finish (their temp
    // files removed) before the store is unlocked; nothing is committed.
    obj?.discard();
    hashes.send();
    await queue.settle();
    await checks.settled().catch(() => undefined);
    // A commit still syncing finishes: its objects are durable, and what it records is true.
    await catchUp().catch(() => undefined);
    await writeBehind.settle();
    await hashes.close();
    await small.close();
    await seg?.reader?.close();
    await leftovers?.settled();
    await partsKept.catch(() => undefined);
    // Nothing of this run goes on behind the caller (the store is closed next); after a failure the
    // catalog thread stops at its next transaction instead of finishing the manifest.
    if (failed) catalogThread?.stop();
    await cataloging?.catch(() => undefined);
    // After a failure the objects no commit recorded are removed: a refused disk (a hostile entry
    // late in its manifest) or a full one leaves none of them behind.
    if (failed) {
      try {
        for (const path of staging.unrecordedObjects()) await rm(path, { force: true }).catch(() => undefined);
      } catch {
        // the staging table itself unreadable: what it named stays, as after a SIGKILL (the next run rewrites it)
      }
    }
    // ...and the readers' tree it was building (nothing shows it)
    if (failed && tree) await removeTree(tree.building).catch(() => undefined);
    try {
      staging.close();
    } catch (e) {
      if (!failed) throw e;
    }
  }
  if (!lastCommitted) {
    recordRun();
    store.finishVolume(vid, me);
  }

  // ---- complete? then publish the version to readers in one step ----
  const outcome = completion();
  // A tree grown for a version that is not to be shown after all (still incomplete) is not kept.
  if (tree && !outcome.show) await removeTree(tree.building).catch(() => undefined);
  report.awaitingVolumes = outcome.awaiting;
  report.versionComplete = outcome.complete;
  if (outcome.show) {
    if (!built) progress({ phase: 'publish', ...segmentBytes(), bytesTotal, filesDone, filesTotal: filesDone });
    const tree = built ? await showVersionTree(store, built) : await publishTree(store, vid);
    store.makeCurrent(vid);
    report.current = true;
    report.libraryDir = tree.dir;
    const brought = store.brought(vid);
    if (brought) report.brought = brought;
    // What the versions before the previous one alone used goes, as after a mirror's switch
    // (collectGarbage): a library fed by disks alone must not keep every quarter's replaced content.
    // Housekeeping: the version is shown whatever it meets (the next switch tries again).
    await collectGarbage(store, vol.root.bundle.id, opts.gcAfterMs).catch(() => undefined);
  }
  report.seconds = (Date.now() - started) / 1000;
  store.finishImport(importId, 'done', report);
  // The final counts (a shown version ended on its 'publish' event, which carries them already).
  if (!outcome.show) tick(true);
  return report;
}

/**
 * placedEntries a files part at a time, each part with the objects among its files that the catalog
 * recorded as durable when it was read (one query a part, not one a file), and how many commits had
 * recorded objects by then. A part, not a file, is one step of the async generators and of
 * readAhead: stepping them per file allocated ~1 KB a file on the importing thread.
 */
async function* withPresence(
  vol: OpenVolume, durableAmong: (sha256s: readonly string[]) => Set<string>, commitsRecorded: () => number, decoded: (batch: PlacedEntry[]) => void,
  asked?: (batch: PlacedEntry[], held: Set<string>) => void,
): AsyncGenerator<{ batch: PlacedEntry[]; held: Set<string>; askedAt: number }> {
  for await (const batch of placedEntryBatches(vol)) {
    decoded(batch);
    const askedAt = commitsRecorded();
    const held = durableAmong(batch.flatMap((p) => (p.entry.sha256 ? [p.entry.sha256] : [])));
    asked?.(batch, held);
    yield { batch, held, askedAt };
  }
}

/**
 * After a killed run: whether the objects it may have left in objects/ are whole, checked one after
 * the other in the background as the manifest is decoded ahead of the reading (so the store's disk
 * is read while the volume's is), and taken by the importing thread when it reaches each file.
 * Holds at most the manifest's read-ahead of promises.
 */
class LeftoverChecks {
  private readonly pending = new Map<string, Promise<boolean>>();
  private tail: Promise<unknown> = Promise.resolve();
  constructor(private readonly objectPath: (sha256: string) => string, private readonly minSize: number) {}

  /** Starts the checks of a batch's files that could have left an object (over minSize, not in the store). */
  offer(batch: PlacedEntry[], held: Set<string>): void {
    for (const { entry } of batch) {
      const sha = entry.sha256;
      if (entry.type !== 'file' || !sha || entry.size <= this.minSize || held.has(sha) || this.pending.has(sha)) continue;
      const check = this.tail.then(() => isWholeObject(this.objectPath(sha), entry.size, sha));
      this.tail = check;
      this.pending.set(sha, check);
    }
  }

  /** When every check started has ended (none reads on behind the import's end). */
  settled(): Promise<unknown> {
    return this.tail;
  }

  /** The check of this content, if one was started; each is taken once. */
  take(sha256: string | undefined): Promise<boolean> | undefined {
    if (!sha256) return undefined;
    const check = this.pending.get(sha256);
    this.pending.delete(sha256);
    return check;
  }
}

/** One sequence after the other, neither read ahead. */
function* chain<T>(...lists: Iterable<T>[]): Generator<T> {
  for (const l of lists) yield* l;
}

/**
 * Keeps the files and resources parts of the disk's manifest in the store: a mirror round after
 * this import then reads every unchanged part locally and fetches only the parts that changed
 * (the network form shares these parts, docs/repository.md). For a version already catalogued: a
 * new version's parts are kept by the catalog thread as it reads them. Cheap where the store holds
 * them already (a stat each).
 */
async function keepManifestParts(store: Store, vol: OpenVolume): Promise<void> {
  const keep = async (ref: PartRef): Promise<void> => {
    if (await stat(store.paths.part(ref.sha256)).then((st) => st.size === ref.size, () => false)) return;
    const bytes = await vol.loadPart(ref);
    // A damaged part is not kept (the import itself reports the damage when it reads the tree).
    if (bytes.length === ref.size && sha256Hex(bytes) === ref.sha256) await savePart(store, ref.sha256, bytes);
  };
  // Thousands of small files: PARTS_AT_ONCE of them in flight, not one after the other.
  for (const [tree, name] of [[vol.root.files, 'files'], [vol.root.resources, 'resources']] as const) {
    let batch: Promise<void>[] = [];
    for await (const ref of treePartRefs(tree, vol.loadPart, name)) {
      batch.push(keep(ref));
      if (batch.length >= PARTS_AT_ONCE) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);
  }
}
const PARTS_AT_ONCE = 32;

/** Where a disk cannot be read past the page cache: one that fails this many files in a row, or over this many bytes, with nothing read between, is taken for gone (readFailed in importVolume). */
const READ_FAILURES_IN_A_ROW = 64;
const READ_FAILURES_SPAN = 256 << 20;
/** Reads past a place the disk could not read: small, as `cat` reads, so the next bad block fails one file, not the neighbours in a large read. */
const READ_PAST_BAD_PLACE = 32 << 10;

/** The disk cannot be read (any more): a read error (exit 4), in the librarian's words. */
function unreadableDisk(path: string, reason: string, at: number): BookcrateError {
  return new BookcrateError('IO', `cannot read ${path}${at >= 0 ? ` at byte ${at}` : ''}: ${reason}; the disk no longer answers`, {
    hint: 'check that the disk is connected (a loose USB cable, a hub without power), then run the same command again: what was imported is kept. If it fails again at the same place, the disk is failing: ask the center for another copy',
    say: { id: 'volume-unreadable', args: { path, reason } },
  });
}

/**
 * Writes the object of a split file once all its parts are in tmp/parts, and returns the parts'
 * paths, which the caller deletes after the commit that records the object (deleted here, an import
 * that then failed or was killed lost the file: the unrecorded object went, and so had its parts);
 * 'waiting' while some parts are not there. A whole that does not match its SHA-256 is 'damaged',
 * and its parts stay: the manifest has no hash per part, so which volume's part is bad is not known
 * here, and the good copy of that volume (whose import writes its parts again) must find the
 * others' parts still there. Both were found by the fuzz tests. Parts no version lacks any more are
 * collected after each switch (collectGarbage).
 */
async function assembleParts(store: Store, entry: FileEntry, members: MemberEntry[]): Promise<string[] | 'damaged' | 'waiting'> {
  const paths = members.map((m) => join(store.paths.tmp, 'parts', `${entry.sha256}-${m.at ?? 0}`));
  for (const p of paths) if (!(await stat(p).then(() => true, () => false))) return 'waiting';
  const obj = await ObjectWriter.create(store.paths.tmp, true);
  for (const p of paths) await obj.write(await readFile(p));
  if (obj.digest().sha256 !== entry.sha256) {
    await obj.discard();
    return 'damaged';
  }
  const path = store.paths.object(entry.sha256!);
  await obj.commit(path);
  return paths; // the parts, for the caller to delete once the object is recorded
}

/** The ids of the collections `--only` names (by id, title or folder), or a usage error that lists them. */
function collectionIds(vol: OpenVolume, given: string[]): string[] {
  const cs = vol.root.collections;
  const known = (n: string): boolean => cs.some((c) => n === c.id || n === c.title || n === c.path);
  // As a librarian types them: a folder completed by the shell (国图公开课/, 国图公开课\), several at
  // once with commas (a title holding a comma is taken whole first).
  const names = given.flatMap((g) => {
    const n = g.normalize('NFC').trim().replace(/[/\\]+$/, '');
    return known(n) ? [n] : n.split(/[,，]/).map((x) => x.trim().replace(/[/\\]+$/, '')).filter(Boolean);
  });
  const ids = cs.filter((c) => names.includes(c.id) || names.includes(c.title) || names.includes(c.path)).map((c) => c.id);
  const unknown = names.filter((n) => !known(n));
  if (unknown.length > 0) {
    const collections = vol.root.collections.map((c) => `${c.id} (${c.title})`).join(', ');
    throw new BookcrateError('USAGE', `--only ${unknown.join(', ')}: no such collection in this bundle`, {
      hint: `collections: ${collections}`,
      say: { id: 'unknown-collection', args: { names: unknown.join(', '), collections } },
    });
  }
  return ids;
}

/** Whether a bundle path lies in one of these collections (by their folders); undefined: every path. */
function inCollections(vol: OpenVolume, ids: string[] | undefined): (path: string) => boolean {
  if (!ids) return () => true;
  const folders = vol.root.collections.filter((c) => ids.includes(c.id)).map((c) => c.path);
  if (folders.includes('')) return () => true;
  return (path) => folders.some((f) => path === f || path.startsWith(`${f}/`));
}
