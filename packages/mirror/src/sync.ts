import { createHash, type KeyObject } from 'node:crypto';
import { mkdir, open, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import {
  AlignedBufferPool, BookcrateError, CHUNKED_MIN_SIZE, ChunkListBuilder, POINTER_MAX_BYTES, TreeLookup, decodeChunkEntry, decodeFileEntry,
  decodeResourceEntry, decodeRoot, formatSize, isBookcrateError, keyFingerprint, loadPublicKey, publicKeyPem, readTreeLines, repoPaths, sameContent, sha256Hex,
  verifyPointerFile, verifyRootSignature, type ChunkEntry, type PartRef, type Pointer, type Root,
} from '@bookcrate/format';
import { DEFAULT_GC_AFTER_MS, Store, catalogWriteError, collectGarbage, publishTree, sha256OfFile, readStoredPart, renameFile, savePart, storeIoError, storeRoom, syncObjects, type VersionChanges, type VersionRow } from '@bookcrate/store';
import type { Upstream } from './http.js';

/**
 * One mirror round (docs/repository.md, "Mirroring"): pointer → root → the manifest parts the store
 * lacks → the objects it lacks (whole, or rebuilt from the old copy's chunks plus Range requests) →
 * one atomic switch. Every byte is checked against a hash chained to the center's signature before
 * it enters the store; a round that cannot finish leaves the previous version in place, and the
 * next round reuses everything already committed.
 */

export interface RoundOptions {
  upstream: Upstream;
  store: Store; // opened for writing and locked by the caller
  /** The key to pin when the store has none yet (--trust). */
  trust?: KeyObject;
  /** Objects fetched at the same time. Default 4. */
  concurrency?: number;
  /** How long an object no version uses is kept before it is deleted. Default 7 days. */
  gcAfterMs?: number;
  /** The clock for pointer expiry (tests move it). */
  now?: () => number;
  signal?: AbortSignal;
  log?: (event: Record<string, unknown>) => void;
  onProgress?: (p: RoundProgress) => void;
}

export interface RoundProgress {
  phase: 'pointer' | 'manifest' | 'content' | 'switch';
  objectsDone: number;
  objectsTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface RoundReport {
  outcome: 'up-to-date' | 'updated' | 'repaired';
  bundle: string;
  version: number;
  previous: number | null;
  pointerExpires: string;
  fetched: {
    bytes: number; // everything received from the upstream in this round
    metadataBytes: number; // pointer, root, manifest parts, as received (gzipped when the upstream zips them)
    objects: number; // objects admitted from the network
    chunkedFiles: number; // large files rebuilt from an older copy plus ranges
    reusedBytes: number; // bytes of those files taken from the local older copy
    adoptedObjects: number; // objects found complete on disk from an interrupted round
  };
  presentBefore: number; // files of the version already in the store when the round began (renames, earlier rounds, disks)
  /** what the version it made current brings readers against the one they had (as an import's report says) */
  brought?: VersionChanges;
  seconds: number;
}

export { DEFAULT_GC_AFTER_MS } from '@bookcrate/store';
/**
 * Objects fetched at once (`--concurrency`). A small object costs a round trip more than its bytes:
 * with 20 ms to the upstream, 2,000 photos took 16.5 s at 4 and 6.9 s at 16 (docs/performance.md,
 * "Run AU"). Of them, at most LARGE_AT_ONCE objects of LARGE_OBJECT bytes or more: those share the
 * link's bandwidth, and more of them at once would only spread it over more partial files.
 */
export const DEFAULT_CONCURRENCY = 16;
const LARGE_AT_ONCE = 4;
/**
 * Leaf parts of a manifest read at once while a new version goes into the catalog. Most are in the
 * store already (the previous version's): one after the other, a cold disk's read of each left the
 * round idle 11 of its 34 s for a million files (docs/performance.md, run BL). Never more than
 * `--concurrency`: the pool has that many connections and two more, and a request waiting for one
 * would count its wait as a stall.
 */
const PARTS_AHEAD = 8;
const LARGE_OBJECT = 1 << 20;
const COMMIT_EVERY_OBJECTS = 256;
const COMMIT_EVERY_BYTES = 256 * 1024 * 1024;
const COMMIT_EVERY_MS = 5_000;
/** A manifest part is small (docs/repository.md, "Layout"); a larger answer is not one. */
export const PART_MAX_BYTES = 8 * 1024 * 1024;
const SIG_MAX_BYTES = 4096;
/** Ranges are at most this long: what a kill can cost, and what one retry refetches. */
const RANGE_MAX_BYTES = 512 * 1024;
/** Tries before content that keeps arriving wrong is refused for this round. */
const WRONG_BYTES_TRIES = 3;
/** The pause before the objects that failed are asked for again, at the end of the round. */
const RETRY_PASS_PAUSE_MS = 1000;

/** The pointer moved on during the round and an object of the old version is gone: start over. */
class PointerMoved extends Error {}

/** The key that decides what this store accepts: the pinned one, or --trust on a store that has none. */
export function roundKey(store: Store, trust?: KeyObject): { key: KeyObject; pin?: string } {
  const pinned = store.trustedKeys();
  if (pinned.length > 0) {
    const key = loadPublicKey(pinned[0]!.pem, 'the store\'s pinned key');
    if (trust && keyFingerprint(trust) !== keyFingerprint(key)) {
      throw new BookcrateError('UNTRUSTED', 'the key given with --trust is not the key this store already trusts', {
        hint: 'a store trusts one center key, pinned at its first import or sync; drop --trust, or use a new store for another center',
      });
    }
    return { key };
  }
  if (!trust) {
    throw new BookcrateError('UNTRUSTED', 'this store trusts no center key yet, so nothing from the upstream can be checked', {
      hint: 'pass --trust center.pub (compare its fingerprint with the one the national center published)',
    });
  }
  return { key: trust, pin: publicKeyPem(trust) };
}

export async function syncRound(o: RoundOptions): Promise<RoundReport> {
  const started = Date.now();
  const bytesAtStart = o.upstream.stats.bytes;
  const meta = { bytes: 0 };
  const { key, pin } = roundKey(o.store, o.trust);
  for (let attempt = 1; ; attempt++) {
    o.onProgress?.({ phase: 'pointer', objectsDone: 0, objectsTotal: 0, bytesDone: 0, bytesTotal: 0 });
    const { pointerBytes, pointer } = await signedWithRetries(o, repoPaths.pointer, async () => {
      const bytes = await getMeta(o.upstream, meta, repoPaths.pointer, POINTER_MAX_BYTES, true);
      if (!bytes) {
        throw new BookcrateError('IO', `the upstream has no ${repoPaths.pointer}`, {
          hint: 'check --upstream: it must be the folder `bookcrate publish` writes (served by nginx or similar) or another mirror\'s --listen address',
        });
      }
      return { pointerBytes: bytes, pointer: verifyPointerFile(bytes, key, repoPaths.pointer) };
    });
    if (pin) o.store.pinKey(keyFingerprint(key), pin, 'mirror'); // only once something signed by it verified
    checkPointer(o.store, pointer, o.now?.() ?? Date.now());
    try {
      const r = await toVersion(o, key, pointer, pointerBytes, meta);
      return { ...r, pointerExpires: pointer.expires, seconds: (Date.now() - started) / 1000, fetched: { ...r.fetched, bytes: o.upstream.stats.bytes - bytesAtStart, metadataBytes: meta.bytes } };
    } catch (e) {
      if (e instanceof PointerMoved && attempt < 3) {
        o.log?.({ event: 'pointer-moved', version: pointer.version });
        continue;
      }
      if (e instanceof PointerMoved) throw new BookcrateError('IO', 'the upstream keeps changing during the round', { hint: 'the next round will try again' });
      // a full disk met by a catalog write is the admin's "free some space" case, not a bug
      throw catalogWriteError(e, o.store.paths.catalog);
    }
  }
}

/** Freeze and rollback protection (docs/repository.md, "The pointer"). */
function checkPointer(store: Store, p: Pointer, now: number): void {
  if (Date.parse(p.expires) <= now) {
    throw new BookcrateError('STALE', `the upstream's pointer to version ${p.version} expired at ${p.expires}`, {
      hint: 'the upstream is not being kept current (or something replays an old pointer); the store keeps its version. Tell the upstream\'s operator',
      details: { reason: 'expired', version: p.version, expires: p.expires },
    });
  }
  const newest = store.newestVersion(p.bundle);
  if (newest && p.version < newest.version) {
    throw new BookcrateError('STALE', `the upstream offers version ${p.version} of "${p.bundle}", older than version ${newest.version} which this store holds`, {
      hint: 'a rollback is refused; the upstream may be behind or replaying an old pointer. The store keeps its version',
      details: { reason: 'rollback', offered: p.version, held: newest.version },
    });
  }
}

/** Manifest documents, counted as they crossed the network (gzipped, usually). */
async function getMeta(up: Upstream, meta: { bytes: number }, path: string, max: number, noCache = false): Promise<Buffer | null> {
  return up.getSmall(path, max, { noCache, wire: meta });
}

type Fetched = RoundReport['fetched'];

async function toVersion(o: RoundOptions, key: KeyObject, pointer: Pointer, pointerBytes: Buffer, meta: { bytes: number }): Promise<Omit<RoundReport, 'seconds' | 'pointerExpires'>> {
  const { store } = o;
  const current = store.currentVersion(pointer.bundle);
  const fetched: Fetched = { bytes: 0, metadataBytes: 0, objects: 0, chunkedFiles: 0, reusedBytes: 0, adoptedObjects: 0 };
  let version = store.version(pointer.bundle, pointer.version);
  const base = { bundle: pointer.bundle, version: pointer.version, previous: current?.version ?? null };

  // A no-op round: the version is held, whole. One request, and the renewed pointer is kept (for a
  // version held from disks, once its network root is: two more, once).
  if (version?.is_current && store.missingCount(version.id) === 0) {
    const servable = version.root_sha256 === pointer.root.sha256 || (await networkRootOfDiskVersion(o, key, pointer, meta, version)) !== undefined;
    if (servable) store.savePointer(pointer, pointerBytes);
    return { ...base, outcome: 'up-to-date', fetched, presentBefore: version.files };
  }

  const loader = partLoader(o, meta);
  let root: Root | undefined;
  if (!version) {
    const fetchedRoot = await fetchRoot(o, key, pointer, meta);
    const { rootBytes, sigBytes } = fetchedRoot;
    root = fetchedRoot.root;
    o.onProgress?.({ phase: 'manifest', objectsDone: 0, objectsTotal: root.totals.files, bytesDone: 0, bytesTotal: 0 });
    const r = root;
    const ahead = Math.min(PARTS_AHEAD, o.concurrency ?? DEFAULT_CONCURRENCY);
    version = await store.addVersion(r, rootBytes, sigBytes, pointer.root.sha256,
      (async function* () {
        for await (const line of readTreeLines(r.files, loader, 'files', { ahead })) yield { entry: decodeFileEntry(line, 'files'), volume: 0 };
      })(),
      (async function* () {
        for await (const line of readTreeLines(r.resources, loader, 'resources', { ahead })) yield decodeResourceEntry(line, 'resources');
      })(),
      'network');
  } else if (version.root_sha256 === pointer.root.sha256) {
    root = decodeRoot(store.versionRootJson(version.id));
  } else {
    // The same version came on disks (another root, same signed files): only its missing files are
    // fetched, and its network root, once checked, is kept to serve the tier below on.
    root = await networkRootOfDiskVersion(o, key, pointer, meta, version);
  }
  const servable = root !== undefined;
  const vid = version.id;
  store.markPresentFromObjects(vid);
  const presentBefore = version.files - store.missingCount(vid);

  const failures = await fetchMissing(o, version, root, loader, current && current.id !== vid ? current : undefined, fetched);
  const missing = store.missingCount(vid);
  if (missing > 0) {
    const first = failures[0] as Error | undefined;
    // Wrong bytes outrank a flaky network in the report: the operator must hear about them.
    const damaged = failures.find((e) => isBookcrateError(e, 'DAMAGED')) as BookcrateError | undefined;
    throw new BookcrateError(damaged ? 'DAMAGED' : 'IO', `${missing} files of version ${pointer.version} could not be fetched this round${first ? ` (${(damaged ?? first).message})` : ''}`, {
      hint: 'nothing wrong was admitted; the store keeps its current version and the next round continues where this one stopped',
      details: { missing, failures: failures.length },
    });
  }

  o.onProgress?.({ phase: 'switch', objectsDone: 0, objectsTotal: 0, bytesDone: 0, bytesTotal: 0 });
  const wasCurrent = version.is_current === 1;
  await publishTree(store, vid);
  store.makeCurrent(vid);
  if (servable) store.savePointer(pointer, pointerBytes);
  await collectGarbage(store, pointer.bundle, o.gcAfterMs ?? DEFAULT_GC_AFTER_MS);
  const outcome = wasCurrent || current?.id === vid ? 'repaired' : 'updated';
  const brought = outcome === 'updated' ? store.brought(vid) : undefined;
  return { ...base, outcome, fetched, presentBefore, ...(brought ? { brought } : {}) };
}

/** The signed root the pointer names: fetched, checked against the pointer's hash and size and the center's signature. */
async function fetchRoot(o: RoundOptions, key: KeyObject, pointer: Pointer, meta: { bytes: number }): Promise<{ rootBytes: Buffer; sigBytes: Buffer; root: Root }> {
  const rootBytes = await fetchChecked(o, meta, repoPaths.root(pointer.root.sha256), pointer.root.size, pointer.root.sha256, pointer.root.size, `the root of version ${pointer.version}`);
  const sigBytes = await signedWithRetries(o, repoPaths.rootSig(pointer.root.sha256), async () => {
    const bytes = await getMeta(o.upstream, meta, repoPaths.rootSig(pointer.root.sha256), SIG_MAX_BYTES);
    if (!bytes) throw new PointerMoved();
    verifyRootSignature(rootBytes, bytes, key);
    return bytes;
  });
  const root = decodeRoot(rootBytes);
  if (root.bundle.id !== pointer.bundle || root.bundle.version !== pointer.version || root.layout) {
    throw new BookcrateError('FORMAT', `the upstream's root does not describe version ${pointer.version} of "${pointer.bundle}" in the network form`, { hint: 'the upstream is misconfigured; tell its operator' });
  }
  return { rootBytes, sigBytes, root };
}

/** Network roots found to name other content than the disks of their version (asked once per process). */
const differingNetworkRoots = new Set<string>();

/**
 * For a version the store holds from disks, named by the pointer with its network root: that root,
 * kept beside the version (schema 9) once its signature checks and it names the same files,
 * resources and collections as the disks' root (format's sameContent), so that this mirror serves
 * the tier below on the pointer (docs/repository.md section 7, "Serving the tier below"). Two small
 * requests, once per version. Undefined for a version that came over the network, for a root that
 * names other content, and when it cannot be had this round: the store then goes on as before (it
 * holds the version and fetches what it lacks by hash), without a pointer to serve. Only a moved
 * pointer ends the round.
 */
async function networkRootOfDiskVersion(o: RoundOptions, key: KeyObject, pointer: Pointer, meta: { bytes: number }, version: VersionRow): Promise<Root | undefined> {
  if (version.origin !== 'disk' || differingNetworkRoots.has(pointer.root.sha256)) return undefined;
  const kept = o.store.networkRootOf(version.id);
  if (kept?.root_sha256 === pointer.root.sha256) return decodeRoot(kept.root_json);
  let fetchedRoot: Awaited<ReturnType<typeof fetchRoot>>;
  try {
    fetchedRoot = await fetchRoot(o, key, pointer, meta);
  } catch (e) {
    if (e instanceof PointerMoved || o.signal?.aborted) throw e;
    o.log?.({ event: 'network-root-failed', version: pointer.version, root: pointer.root.sha256, error: (e as Error).message });
    return undefined;
  }
  if (!sameContent(decodeRoot(o.store.versionRootJson(version.id)), fetchedRoot.root)) {
    differingNetworkRoots.add(pointer.root.sha256);
    o.log?.({ event: 'network-root-differs', version: pointer.version, root: pointer.root.sha256 });
    return undefined;
  }
  o.store.keepNetworkRoot(version.id, pointer.root.sha256, fetchedRoot.rootBytes, fetchedRoot.sigBytes);
  o.log?.({ event: 'network-root-kept', version: pointer.version, root: pointer.root.sha256 });
  return fetchedRoot.root;
}

/**
 * A small document named by its hash: fetched again when the bytes do not match (a corrupting hop
 * is weather too) or the answer was one the HTTP client does not retry, refused after three tries.
 * A 404 means the pointer moved on.
 */
async function fetchChecked(o: RoundOptions, meta: { bytes: number }, path: string, max: number, sha256: string, size: number, what: string): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    let bytes: Buffer | null;
    try {
      bytes = await getMeta(o.upstream, meta, path, max);
    } catch (e) {
      // an answer the HTTP client does not retry (a 403, a redirect loop, a gzip bomb): asked again
      if (!(await askAgainAfter(o, e, attempt, path))) throw e;
      continue;
    }
    if (!bytes) throw new PointerMoved();
    if (bytes.length === size && sha256Hex(bytes) === sha256) return bytes;
    o.log?.({ event: 'wrong-bytes', path, expected: sha256, got: sha256Hex(bytes), attempt });
    if (attempt >= WRONG_BYTES_TRIES) {
      throw new BookcrateError('DAMAGED', `${what} from the upstream does not match its signed hash (${attempt} tries)`, {
        hint: 'the upstream or the network alters it; nothing was admitted. Tell the upstream\'s operator; the next round will try again',
      });
    }
  }
}

/** Manifest parts: from the store when it holds them (and they check out), else from the upstream, then kept. */
function partLoader(o: RoundOptions, meta: { bytes: number }): (ref: PartRef) => Promise<Buffer> {
  return async (ref) => {
    const local = await readStoredPart(o.store, ref.sha256);
    if (local && local.length === ref.size && sha256Hex(local) === ref.sha256) return local;
    const bytes = await fetchChecked(o, meta, repoPaths.part(ref.sha256), Math.min(ref.size, PART_MAX_BYTES), ref.sha256, ref.size, `manifest part ${ref.sha256}`);
    await savePart(o.store, ref.sha256, bytes);
    return bytes;
  };
}

/**
 * Admits objects in batches: one syncfs, then one transaction. A killed round loses at most a
 * batch's bookkeeping, and the objects themselves are adopted by the next round after a local hash.
 */
class CommitBatch {
  private items: { sha256: string; size: number; path: string }[] = [];
  private bytes = 0;
  private last = Date.now();
  private flushing: Promise<void> = Promise.resolve();
  readonly inFlight = new Set<string>();

  constructor(private readonly store: Store, private readonly vid: number) {}

  add(item: { sha256: string; size: number; path: string }): Promise<void> {
    this.items.push(item);
    this.bytes += item.size;
    if (this.items.length >= COMMIT_EVERY_OBJECTS || this.bytes >= COMMIT_EVERY_BYTES || Date.now() - this.last >= COMMIT_EVERY_MS) return this.flush();
    return Promise.resolve();
  }

  flush(): Promise<void> {
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    this.last = Date.now();
    this.flushing = this.flushing.then(async () => {
      if (items.length === 0) return;
      await syncObjects(this.store.dir, items.map((i) => i.path));
      this.store.commitObjects(this.vid, items);
      for (const i of items) this.inFlight.delete(i.sha256);
    });
    return this.flushing;
  }
}

/** In the store's tmp/ while a round fetches objects (fetchMissing). */
const ROUND_MARKER = 'mirror-fetching';

/** Fetches what the version lacks; returns the errors of objects that could not be had this round. */
async function fetchMissing(o: RoundOptions, version: VersionRow, root: Root | undefined, loader: (ref: PartRef) => Promise<Buffer>, previous: VersionRow | undefined, fetched: Fetched): Promise<unknown[]> {
  const { store } = o;
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
  const limit = pLimit(concurrency);
  // Large objects wait for one of a few slots of their own first, and only then take a general one:
  // they share the bandwidth anyway, and a queue of them never holds the small ones up.
  const largeLimit = pLimit(Math.min(LARGE_AT_ONCE, concurrency));
  const batch = new CommitBatch(store, version.id);
  // Objects a killed round renamed into objects/ but never recorded are adopted by the next round
  // (after a hash) instead of fetched again. Only a round after one that did not end looks for
  // them: the others save a stat of every object's path. The marker is durable before any object
  // of this round is renamed, and goes once every object it renamed is recorded.
  const marker = join(store.paths.tmp, ROUND_MARKER);
  const adopt = await stat(marker).then(() => true, () => false);
  const chunks = root?.chunks ? new TreeLookup(root.chunks, loader, (l) => (JSON.parse(l) as { path: string }).path, 'chunks') : undefined;
  let lookupChain: Promise<unknown> = Promise.resolve();
  // TreeLookup keeps one part per level, so lookups are serialised (they are cheap and mostly local).
  const chunkEntry = (path: string): Promise<ChunkEntry | undefined> => {
    const next = lookupChain.then(async () => {
      const line = await chunks!.get(path);
      return line === undefined ? undefined : decodeChunkEntry(line, 'chunks');
    });
    lookupChain = next.catch(() => undefined);
    return next;
  };

  const total = { objects: 0, bytes: 0 };
  const done = { objects: 0, bytes: 0 };
  const progress = () => o.onProgress?.({ phase: 'content', objectsDone: done.objects, objectsTotal: total.objects, bytesDone: done.bytes, bytesTotal: total.bytes });
  const failures: unknown[] = [];
  // An error that ends the round (the pointer moved, the disk is full): no new work starts after it.
  let fatal: unknown;
  let previousPage: Promise<void>[] = [];
  let tasks: Promise<void>[] = [];
  Object.assign(total, store.missingTotals(version.id));
  // A store too small for what the version still lacks is said now, before a byte is fetched, not
  // when the disk is full (and again at every round). After a killed round the objects it left are
  // counted as missing though on the disk: no check then, the writes will tell.
  if (!adopt && total.objects > 0) await checkRoom(store, total, version);
  if (!adopt && total.objects > 0) {
    // durable the way the batches' objects are: one `sync -f` (an fsync where that is missing)
    await writeFile(marker, '').catch((e: unknown) => {
      throw storeIoError(e, marker);
    });
    await syncObjects(store.dir, [marker]);
  }
  progress();
  // Two passes: an object that failed in the first (an error page, a body of the wrong size, a
  // redirect, a refusal: what a flaky proxy on a county's link produces once) is asked for once
  // more at the end of the round, instead of failing the round and waiting for the next one (ten
  // minutes, or a cron's day). Not one tried enough already (triedEnough): wrong bytes
  // WRONG_BYTES_TRIES times, or a network failure the HTTP client retried with backoff until it gave
  // up: an upstream that is down or keeps sending wrong bytes costs no more than before.
  const triedEnough = new Set<string>();
  for (let pass = 1; pass <= 2; pass++) {
    if (pass === 2) {
      const again = failures.length - triedEnough.size;
      if (again === 0 || fatal || o.signal?.aborted) break;
      o.log?.({ event: 'retry-failed', objects: again });
      const kept = failures.filter(wasTriedEnough);
      failures.length = 0;
      failures.push(...kept);
      previousPage = [];
      tasks = [];
      await pause(RETRY_PASS_PAUSE_MS);
      if (o.signal?.aborted) break;
    }
    // Pages of the missing list (keyset by path) so a first sync of a million files stays in flat memory.
    let after = '';
    for (;;) {
      const page = store.missingPage(version.id, after);
      if (page.length === 0) break;
      after = page[page.length - 1]!.path;
      for (const miss of page) {
        if (o.signal?.aborted || fatal) break;
        if (batch.inFlight.has(miss.sha256) || triedEnough.has(miss.sha256)) continue;
        batch.inFlight.add(miss.sha256);
        const fetchOne = async (): Promise<void> => {
          if (o.signal?.aborted || fatal) {
            batch.inFlight.delete(miss.sha256);
            return;
          }
          try {
            const how = await fetchObject(o, miss, chunks && miss.size >= CHUNKED_MIN_SIZE ? chunkEntry : undefined, previous, adopt);
            if (how.kind === 'chunked') {
              fetched.chunkedFiles++;
              fetched.reusedBytes += how.reused;
            }
            if (how.kind === 'adopted') fetched.adoptedObjects++;
            else fetched.objects++;
            await batch.add({ sha256: miss.sha256, size: miss.size, path: store.paths.object(miss.sha256) });
            done.objects++;
            done.bytes += miss.size;
            progress();
          } catch (e) {
            batch.inFlight.delete(miss.sha256);
            if (e instanceof PointerMoved || (isBookcrateError(e) && (e.code === 'NO_SPACE'))) {
              fatal ??= e;
              return;
            }
            if ((e as Error).name === 'AbortError') return;
            failures.push(e);
            if (wasTriedEnough(e)) triedEnough.add(miss.sha256);
            o.log?.({ event: 'object-failed', sha256: miss.sha256, path: miss.path, error: (e as Error).message });
          }
        };
        tasks.push(miss.size >= LARGE_OBJECT ? largeLimit(() => limit(fetchOne)) : limit(fetchOne));
      }
      // At most two pages are queued (the pool never idles at a page's end behind one large file),
      // so in-flight state stays bounded however many files are missing.
      await Promise.all(previousPage);
      previousPage = tasks;
      tasks = [];
      if (o.signal?.aborted || fatal) break;
    }
    await Promise.all([...previousPage, ...tasks]);
    await batch.flush();
  }
  // every object this round renamed into objects/ is recorded now (a failed flush threw above)
  await rm(marker, { force: true });
  if (fatal) throw fatal;
  if (o.signal?.aborted) {
    const e = new Error('the round was stopped');
    e.name = 'AbortError';
    throw e;
  }
  return failures;
}

/**
 * An error after which asking again in the same round is no use: wrong bytes WRONG_BYTES_TRIES
 * times (DAMAGED), or a failure the HTTP client already retried with backoff (`attempts`).
 */
function wasTriedEnough(e: unknown): boolean {
  return isBookcrateError(e, 'DAMAGED') || (isBookcrateError(e) && (e.details as { attempts?: number } | undefined)?.attempts !== undefined);
}

/**
 * A signed document of the round (the pointer, a root's signature) fetched and checked by `get`:
 * an answer that does not pass (an error page, a redirect loop, a gzip bomb, bytes that do not
 * verify) is asked for again after a second, WRONG_BYTES_TRIES times in all, so that a proxy's
 * one bad answer does not refuse the round as if the center's signature were wrong. What the last
 * try says stands; a failure the HTTP client already retried is not retried again.
 */
async function signedWithRetries<T>(o: RoundOptions, path: string, get: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await get();
    } catch (e) {
      if (!(await askAgainAfter(o, e, attempt, path))) throw e;
    }
  }
}

/**
 * After try `attempt` at `path` failed with `e`: whether to ask again, which is then logged
 * (`wrong-answer`) and waited for. Not past WRONG_BYTES_TRIES, not for an error that is not
 * bookcrate's own or was tried enough already, not when the round is stopping.
 */
async function askAgainAfter(o: RoundOptions, e: unknown, attempt: number, path: string): Promise<boolean> {
  if (attempt >= WRONG_BYTES_TRIES || !isBookcrateError(e) || wasTriedEnough(e) || o.signal?.aborted) return false;
  o.log?.({ event: 'wrong-answer', path, error: e.message, attempt });
  await pause(RETRY_PASS_PAUSE_MS);
  return true;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** NO_SPACE when the store's disk cannot hold the objects a version still lacks (storeRoom). */
async function checkRoom(store: Store, lacking: { objects: number; bytes: number }, version: VersionRow): Promise<void> {
  const room = await storeRoom(store, { bytes: lacking.bytes, files: lacking.objects }, version.id);
  if (!room || room.wanted <= room.free) return;
  const { free, wanted, copies } = room;
  const what = copies ? ', and a copy of every file in the readers\' tree: this disk makes no hard links' : '';
  throw new BookcrateError('NO_SPACE', `the store's disk has ${formatSize(free)} free; version ${version.version} still needs about ${formatSize(wanted)} there (${lacking.objects} file(s) the store does not hold yet${what})`, {
    hint: `free at least ${formatSize(wanted - free)} on the store's disk (a shorter --gc-after lets old versions' files go sooner), or carry fewer collections (import --only); the next round tries again`,
  });
}

type How = { kind: 'whole' } | { kind: 'adopted' } | { kind: 'chunked'; reused: number };

/**
 * Gets one object into objects/: adopted if a complete copy is already there from an interrupted
 * round (looked for only when `adopt`: the round before did not end), rebuilt from the previous version's file at the same path when a chunk list allows it, or
 * downloaded whole (resumable). Admitted only when its SHA-256 is the signed one.
 *
 * Nothing is fsynced here: the object becomes durable with the rest of its batch (CommitBatch: one
 * `sync -f` of the store, or an fsync of each object where that is missing) before the catalog
 * names it, and until then the catalog does not trust it (a later round adopts it only after
 * hashing it). An fsync of each object cost a journal commit per file: 20,000 photos took 47 s
 * (docs/performance.md, "Run AU").
 */
async function fetchObject(
  o: RoundOptions, miss: { sha256: string; size: number; path: string },
  chunkEntry: ((path: string) => Promise<ChunkEntry | undefined>) | undefined, previous: VersionRow | undefined,
  adopt: boolean,
): Promise<How> {
  const { store } = o;
  const final = store.paths.object(miss.sha256);
  if (adopt && (await stat(final).then((s) => s.size === miss.size, () => false))) {
    if ((await sha256OfFile(final)) === miss.sha256) return { kind: 'adopted' };
    await unlink(final).catch(() => undefined);
  }
  const tmp = join(store.paths.tmp, `net-${miss.sha256}`); // a fixed name: a later round resumes it with Range
  const rebuilt = join(store.paths.tmp, `net-${miss.sha256}.rebuild`);
  let how: How = { kind: 'whole' };
  let from = tmp;
  let sha: string | undefined;
  if (chunkEntry && previous) {
    const seed = store.presentFile(previous.id, miss.path);
    const entry = seed && seed.sha256 !== miss.sha256 ? await chunkEntry(miss.path) : undefined;
    if (seed && entry && entry.sha256 === miss.sha256) {
      const r = await rebuild(o, entry, store.paths.object(seed.sha256), rebuilt).catch((e: unknown) => {
        // The network or the disk failed: keep what was rebuilt for the next round. Only content
        // that does not match its hashes makes us give up on the chunks and fetch the file whole.
        if ((e as Error).name === 'AbortError' || e instanceof PointerMoved || (isBookcrateError(e) && (e.code === 'NO_SPACE' || e.code === 'IO'))) throw e;
        o.log?.({ event: 'rebuild-failed', path: miss.path, error: (e as Error).message });
        return undefined;
      });
      if (r?.sha256 === miss.sha256) {
        sha = r.sha256;
        how = { kind: 'chunked', reused: r.reused };
        from = rebuilt;
      } else {
        await rm(rebuilt, { force: true });
        if (r) o.log?.({ event: 'rebuild-mismatch', path: miss.path });
      }
    }
  }
  if (sha !== miss.sha256) sha = await downloadWhole(o, miss, tmp);
  try {
    // The shard folder is made only when it is missing: a recursive mkdir before every rename was
    // one more trip through libuv's thread pool for each object.
    await renameFile(from, final).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
      await mkdir(dirname(final), { recursive: true });
      await renameFile(from, final);
    });
  } catch (e) {
    throw storeIoError(e, final);
  }
  return how;
}

async function downloadWhole(o: RoundOptions, miss: { sha256: string; size: number; path: string }, tmp: string): Promise<string> {
  for (let attempt = 1; attempt <= WRONG_BYTES_TRIES; attempt++) {
    let r;
    try {
      r = await o.upstream.download(repoPaths.object(miss.sha256), tmp, miss.size);
    } catch (e) {
      if (isBookcrateError(e) && (e.details as { status?: number } | undefined)?.status === 404) throw new PointerMoved();
      throw e;
    }
    if (r.sha256 === miss.sha256) return r.sha256;
    // Wrong bytes (a corrupting proxy, a bad disk upstream): never admitted; one clean retry.
    o.log?.({ event: 'wrong-bytes', path: miss.path, expected: miss.sha256, got: r.sha256, attempt });
    await rm(tmp, { force: true });
  }
  throw new BookcrateError('DAMAGED', `the upstream's copy of ${miss.path} does not match its signed SHA-256`, {
    hint: 'nothing was admitted; the upstream may be damaged. The next round will try again',
  });
}

/** Page-aligned read buffers (the kernel copies into them ~4× faster; format's aligned.ts). */
const readBuffers = new AlignedBufferPool(4 << 20);

/** Feeds a whole file, in order, to `fn` (which must not keep the bytes) through one reused buffer. */
async function readThrough(fh: FileHandle, fn: (b: Buffer) => void): Promise<void> {
  const buf = readBuffers.take();
  try {
    for (let pos = 0; ;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return;
      fn(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    readBuffers.give(buf);
  }
}

/**
 * Rebuilds a large file from the older copy's chunks plus Range requests for the chunks it lacks
 * (adjacent ones in one request), writing the new file in order while hashing it. Every fetched
 * chunk is checked against its hash in the signed list; the caller checks the whole SHA-256.
 */
async function rebuild(o: RoundOptions, entry: ChunkEntry, seedPath: string, tmp: string): Promise<{ sha256: string; reused: number }> {
  // Chunk the old copy with the new list's parameters: unchanged regions cut at the same places.
  const seed = new Map<string, { offset: number; length: number }>();
  const builder = new ChunkListBuilder(entry.size);
  const seedFile = await open(seedPath, 'r');
  try {
    await readThrough(seedFile, (b) => builder.update(b));
    for (const c of builder.finish()) if (!seed.has(c.hash)) seed.set(c.hash, { offset: c.offset, length: c.length });

    // A rebuild interrupted by a kill resumes after the last whole chunk that still checks out.
    const out = await open(tmp, 'r+').catch(() => open(tmp, 'w+')).catch((e: unknown) => {
      throw storeIoError(e, tmp);
    });
    const whole = createHash('sha256');
    let reused = 0;
    try {
      const list = entry.chunks;
      let i = 0;
      let written = 0;
      const have = (await out.stat()).size;
      while (i < list.length && written + list[i]!.length <= have) {
        const b = Buffer.allocUnsafe(list[i]!.length);
        await out.read(b, 0, b.length, written);
        if (chunkHash(b) !== list[i]!.hash) break;
        whole.update(b);
        written += b.length;
        i++;
      }
      await out.truncate(written);
      const write = async (b: Buffer) => {
        whole.update(b);
        let off = 0;
        while (off < b.length) off += (await out.write(b, off, b.length - off, written + off)).bytesWritten;
        written += b.length;
      };
      while (i < list.length) {
        if (o.signal?.aborted) {
          const e = new Error('stopped');
          e.name = 'AbortError';
          throw e;
        }
        const c = list[i]!;
        const local = seed.get(c.hash);
        if (local) {
          // Hashed moments ago while chunking the old copy (an immutable object); the whole-file
          // SHA-256 below still decides.
          const b = Buffer.allocUnsafe(local.length);
          await seedFile.read(b, 0, local.length, local.offset);
          await write(b);
          reused += b.length;
          i++;
          continue;
        }
        // A run of chunks the old copy lacks: one Range request (bounded in size).
        let j = i;
        let bytes = 0;
        while (j < list.length && !seed.has(list[j]!.hash) && bytes + list[j]!.length <= RANGE_MAX_BYTES) bytes += list[j++]!.length;
        if (j === i) {
          j = i + 1;
          bytes = c.length;
        }
        let got: Buffer | undefined;
        for (let attempt = 1; !got; attempt++) {
          const candidate = await o.upstream.getRange(repoPaths.object(entry.sha256), c.offset, c.offset + bytes).catch((e: unknown) => {
            if (isBookcrateError(e) && (e.details as { status?: number } | undefined)?.status === 404) throw new PointerMoved();
            throw e;
          });
          let at = 0;
          let ok = true;
          for (let k = i; k < j && ok; k++) {
            ok = chunkHash(candidate.subarray(at, at + list[k]!.length)) === list[k]!.hash;
            at += list[k]!.length;
          }
          if (ok) got = candidate;
          else {
            o.log?.({ event: 'wrong-bytes', path: entry.path, range: [c.offset, c.offset + bytes], attempt });
            if (attempt >= WRONG_BYTES_TRIES) throw new BookcrateError('DAMAGED', `a range of ${entry.path} from the upstream does not match its chunk hashes (${attempt} tries)`);
          }
        }
        await write(got);
        i = j;
      }
      // not fsynced: CommitBatch makes it durable with the other objects of its batch (fetchObject)
    } finally {
      await out.close();
    }
    return { sha256: whole.digest('hex'), reused };
  } finally {
    await seedFile.close();
  }
}

const chunkHash = (b: Buffer): string => createHash('sha256').update(b).digest().subarray(0, 16).toString('hex');


