import type { KeyObject } from 'node:crypto';
import { mkdir, readFile, readdir, stat, unlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { join, resolve, sep } from 'node:path';
import {
  BookcrateError, CHUNKED_MIN_SIZE, CHUNKS_TREE_SHAPE, FORMAT, PartTreeWriter, REPO_FORMAT, compareBundlePaths, decodeFileEntry,
  encodeChunkEntry, encodeFileEntry, encodePointerFile, encodeRoot, initHashing, isBookcrateError, readTreeLines,
  repoPaths, sha256Hex, signRoot,
  type FileEntry, type NonUtf8Policy, type Root, type TreeRef,
} from '@bookcrate/format';
import { createdTime, fileEntryOf, loadSource, readInventory, scanSource, type InventoryItem, type ScanIssues } from '@bookcrate/pack';
import { acquireLock } from '@bookcrate/store';
import { currentVersion, loadHistory, newestNumber, saveHistory, type History, type HistoryEntry } from './history.js';
import { sweep } from './prune.js';
import { changed, readSourceFile, type TempCopy } from './read.js';
import { Repo, STATE_DIR, exists, repoIoError } from './repo.js';

export const DEFAULT_EXPIRES_MS = 14 * 86_400_000;
export const DEFAULT_KEEP = 3;
/** A mirror that read the previous pointer must be able to finish its round: that version stays. */
export const MIN_KEEP = 2;

export interface PublishOptions {
  /** A recipe (.json) or a source directory, as for `pack`. Not read with `renew`. */
  input?: string;
  /** The repository folder (created if missing). */
  repo: string;
  /** The center's Ed25519 private key: signs the root and the pointer. */
  key: KeyObject;
  /** How long the pointer is valid, in ms (default 14 days). */
  expires?: number;
  /** Versions to keep (default 3, at least 2). */
  keep?: number;
  /** Only re-sign the pointer of the current version with a new expiry. */
  renew?: boolean;
  /** Read every file, even those whose path, size and mtime match the previous version. */
  rehash?: boolean;
  /** bundle.created of a new version (default: SOURCE_DATE_EPOCH, else now). */
  created?: string;
  /** Number of the new version (default: the newest published + 1; 1 in an empty repository). */
  version?: number;
  followSymlinks?: boolean;
  allowUnportable?: boolean;
  nonUtf8?: NonUtf8Policy;
  includeJunk?: boolean;
  onProgress?: (p: PublishProgress) => void;
}

export interface PublishProgress {
  phase: 'scan' | 'hash' | 'write' | 'prune';
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface PublishResult {
  /** `published`: a new version; `unchanged`: the source equals the current version, only the pointer was renewed; `renewed`: --renew. */
  outcome: 'published' | 'unchanged' | 'renewed';
  repo: string;
  bundle: Root['bundle'];
  /** The version that was current before this run (null in an empty repository). */
  previous: number | null;
  root: { sha256: string; size: number };
  pointer: { version: number; issued: string; expires: string };
  totals: Root['totals'];
  /** Files read from the source (hashed, chunked, copied if new). */
  read: { files: number; bytes: number };
  /** Files whose path, size and mtime matched the previous version: hashes and chunk list taken from it, not read. */
  reused: { files: number; bytes: number };
  /** Objects this run added to objects/ (a renamed or duplicate file adds none). */
  newObjects: { count: number; bytes: number };
  /** Manifest parts of the three trees: written now, or already in the repository. */
  parts: { written: number; existing: number };
  pruned: { versions: number[]; roots: number; parts: number; objects: number; bytes: number };
  issues: ScanIssues;
  seconds: number;
}

/** Files read at the same time: overlaps the source disk's latency and the fsyncs of new objects. */
const CONCURRENCY = 8;

/**
 * Publishes a source as the next version of a repository in the network form
 * (docs/repository.md, section 6), or with `renew` re-signs the current version's pointer.
 *
 * The order of writes is what makes it crash-safe: objects and parts (synced in batches, then each
 * renamed to its content-addressed name), then the root and its signature, then `latest.json` (one rename),
 * then the private history, then retention. Until the pointer's rename, mirrors see the previous
 * version; a run killed anywhere leaves only unreferenced files, which the next run reuses (same
 * names) or collects (the `unfinished` marker makes it sweep).
 */
export async function publish(opts: PublishOptions): Promise<PublishResult> {
  const started = Date.now();
  checkOptions(opts);
  await initHashing();
  const repo = new Repo(resolve(opts.repo));
  const source = opts.renew ? undefined : await loadSource(opts.input!);
  if (source) {
    for (const c of source.collections) {
      if (repo.dir === c.dir || repo.dir.startsWith(c.dir + sep)) {
        throw new BookcrateError('USAGE', `--repo ${repo.dir} is inside the source ${c.dir}`, { hint: 'put the repository in another folder: it would otherwise publish itself' });
      }
    }
  }
  await prepareRepoDir(repo, !!opts.renew);
  const release = await lockRepo(repo);
  try {
    const { history } = await loadHistory(repo, opts.key);
    if (opts.renew || !source) return await renew(repo, history, opts, started);
    return await publishVersion(repo, history, source, opts, started);
  } finally {
    await release();
  }
}

function checkOptions(o: PublishOptions): void {
  if (!o.key || o.key.type !== 'private' || o.key.asymmetricKeyType !== 'ed25519') {
    throw new BookcrateError('USAGE', 'the signing key is not an Ed25519 private key', { hint: 'pass the center\'s private key (center.key from `bookcrate keygen`), not the .pub file' });
  }
  if (!o.repo) throw new BookcrateError('USAGE', 'no repository given', { hint: 'add --repo <dir>: the folder nginx serves to the mirrors' });
  if (!o.renew && !o.input) throw new BookcrateError('USAGE', 'nothing to publish: no recipe or source folder given', { hint: 'pass a recipe (.json) or a source folder, or --renew to re-sign the current version' });
  if (o.keep !== undefined && (!Number.isSafeInteger(o.keep) || o.keep < MIN_KEEP)) {
    throw new BookcrateError('USAGE', `--keep ${o.keep}: at least ${MIN_KEEP} versions must be kept`, { hint: 'a mirror that read the previous pointer must be able to finish its round; use --keep 2 or more' });
  }
  if (o.expires !== undefined && !(Number.isFinite(o.expires) && o.expires > 0)) {
    throw new BookcrateError('USAGE', `--expires must be a positive duration`, { hint: 'for example --expires 14d (several times the renewal period)' });
  }
  if (o.version !== undefined && (!Number.isSafeInteger(o.version) || o.version < 1)) {
    throw new BookcrateError('USAGE', `--version ${o.version} is not a version number`, { hint: 'versions are whole numbers from 1' });
  }
}

/** The repository folder must be ours or empty: publishing into a folder of other files is a slip of the --repo path. */
async function prepareRepoDir(repo: Repo, renew: boolean): Promise<void> {
  let names: string[] | undefined;
  try {
    const st = await stat(repo.dir);
    if (!st.isDirectory()) throw new BookcrateError('USAGE', `--repo ${repo.dir} is a file, not a folder`, { hint: 'give the repository folder' });
    names = await readdir(repo.dir);
  } catch (e) {
    if (isBookcrateError(e)) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw repoIoError(e, repo.dir);
  }
  if (renew && (!names || !names.includes(repoPaths.pointer))) {
    throw new BookcrateError('USAGE', `nothing has been published in ${repo.dir} yet, so there is no pointer to renew`, {
      hint: 'check --repo; publish a first version with `bookcrate publish <recipe.json|dir> --repo <dir> --key <file.key>`',
    });
  }
  if (names && names.length > 0 && !names.includes(STATE_DIR) && !names.includes(repoPaths.pointer)) {
    throw new BookcrateError('USAGE', `--repo ${repo.dir} is not a bookcrate repository and is not empty`, {
      hint: 'give an empty or new folder for a new repository (or the folder an earlier publish wrote)',
    });
  }
  try {
    await mkdir(repo.state, { recursive: true });
  } catch (e) {
    throw repoIoError(e, repo.state);
  }
}

async function lockRepo(repo: Repo): Promise<() => Promise<void>> {
  const path = join(repo.state, 'lock');
  try {
    return await acquireLock(path, { what: 'publish' });
  } catch (e) {
    if (!isBookcrateError(e, 'BUSY')) throw e;
    let owner: { pid?: number; host?: string; since?: string } = {};
    try {
      owner = JSON.parse(await readFile(path, 'utf8')) as typeof owner;
    } catch {
      /* it just finished */
    }
    throw new BookcrateError('BUSY', `another bookcrate publish (pid ${owner.pid} on ${owner.host}, since ${owner.since}) is writing to ${repo.dir}`, {
      hint: 'wait for it to finish, then run the command again',
    });
  }
}

function pointerTimes(expiresMs: number | undefined): { issued: string; expires: string } {
  const now = Date.now();
  return { issued: new Date(now).toISOString(), expires: new Date(now + (expiresMs ?? DEFAULT_EXPIRES_MS)).toISOString() };
}

/** Signs and writes `latest.json` for a version (temp, fsync, rename, fsync of the folder). */
async function writePointer(repo: Repo, key: KeyObject, bundle: string, v: { version: number; root: string; size: number }, expiresMs: number | undefined): Promise<PublishResult['pointer']> {
  const t = pointerTimes(expiresMs);
  const bytes = encodePointerFile({ format: REPO_FORMAT, bundle, version: v.version, root: { sha256: v.root, size: v.size }, ...t }, key);
  await repo.writeAtomic(repo.path(repoPaths.pointer), bytes, true);
  return { version: v.version, ...t };
}

const noPrune = (): PublishResult['pruned'] => ({ versions: [], roots: 0, parts: 0, objects: 0, bytes: 0 });

async function renew(repo: Repo, history: History, opts: PublishOptions, started: number): Promise<PublishResult> {
  const current = currentVersion(history);
  if (!current) {
    throw new BookcrateError('USAGE', `nothing has been published in ${repo.dir} yet, so there is no pointer to renew`, {
      hint: 'publish a first version with `bookcrate publish <recipe.json|dir> --repo <dir> --key <file.key>`',
    });
  }
  const { root } = await repo.readRoot(current.root);
  const pointer = await writePointer(repo, opts.key, root.bundle.id, current, opts.expires);
  await repo.removeTmp();
  return {
    outcome: 'renewed', repo: repo.dir, bundle: root.bundle, previous: current.version, root: { sha256: current.root, size: current.size }, pointer,
    totals: root.totals, read: { files: 0, bytes: 0 }, reused: { files: 0, bytes: 0 }, newObjects: { count: 0, bytes: 0 },
    parts: { written: 0, existing: 0 }, pruned: noPrune(), issues: { errors: 0, counts: {}, kept: [] }, seconds: (Date.now() - started) / 1000,
  };
}

/** Streams a tree in key order and answers "the entry at this path?" for increasing paths: a merge join. */
class TreeCursor {
  private head: { key: string; line: string } | undefined;
  private done = false;
  constructor(private readonly lines: AsyncGenerator<string>) {}

  async seek(key: string): Promise<string | undefined> {
    while (!this.done) {
      if (!this.head) {
        const r = await this.lines.next();
        if (r.done) {
          this.done = true;
          return undefined;
        }
        this.head = { key: (JSON.parse(r.value) as { path: string }).path, line: r.value };
      }
      const c = compareBundlePaths(this.head.key, key);
      if (c > 0) return undefined;
      const line = this.head.line;
      this.head = undefined;
      if (c === 0) return line;
    }
    return undefined;
  }

  async close(): Promise<void> {
    await this.lines.return(undefined);
  }
}

const sameTree = (a: TreeRef, b: TreeRef): boolean =>
  a.depth === b.depth && a.count === b.count && a.parts.length === b.parts.length && a.parts.every((p, i) => p.sha256 === b.parts[i]!.sha256);

/** One item, described: its files-tree line, its chunks-tree line if large, and a new object to place. */
interface Described {
  item: InventoryItem;
  fileLine: string;
  chunkLine?: string;
  copy?: TempCopy;
  sha256?: string;
  reused: boolean;
}

async function publishVersion(repo: Repo, history: History, source: Awaited<ReturnType<typeof loadSource>>, opts: PublishOptions, started: number): Promise<PublishResult> {
  const progress = (p: PublishProgress): void => opts.onProgress?.(p);
  const bundleId = source.bundle.id;
  if (history.bundle !== undefined && history.bundle !== bundleId) {
    throw new BookcrateError('USAGE', `the source is bundle "${bundleId}" but ${repo.dir} publishes bundle "${history.bundle}"`, {
      hint: 'one repository holds one bundle: check the recipe\'s bundle.id (a folder\'s name is its id) or use another --repo',
    });
  }
  const current = currentVersion(history);
  const newest = newestNumber(history);
  if (opts.version !== undefined && opts.version < newest) {
    throw new BookcrateError('USAGE', `--version ${opts.version} is older than version ${newest}, already published in ${repo.dir}`, {
      hint: `versions only go up; leave --version out to publish version ${newest + 1}`,
    });
  }
  const unfinished = join(repo.state, 'unfinished');
  const wasUnfinished = await exists(unfinished);
  await repo.resetTmp();
  if (!wasUnfinished) await repo.writeAtomic(unfinished, Buffer.from(JSON.stringify({ pid: process.pid, since: new Date().toISOString() }) + '\n'), true);

  // ---- scan: the walk pack does, written down ----
  const scanned = new Date().toISOString();
  const inventoryPath = join(repo.tmp, 'inventory.jsonl');
  const scan = await scanSource(source, inventoryPath, {
    followSymlinks: !!opts.followSymlinks, allowUnportable: !!opts.allowUnportable, nonUtf8: opts.nonUtf8 ?? 'gb18030', includeJunk: !!opts.includeJunk,
    onProgress: (p) => progress({ phase: 'scan', filesDone: p.files, filesTotal: p.done ? p.files : 0, bytesDone: p.bytes, bytesTotal: p.done ? p.bytes : 0 }),
  });
  if (scan.issues.errors > 0) {
    throw new BookcrateError('NAME_POLICY', `${scan.issues.errors} name problem(s) stop the publish; nothing was published`, {
      hint: 'rename the files listed, or pass --allow-unportable-names to keep names Windows cannot hold; `bookcrate pack --dry-run` lists them too',
      details: scan.issues,
    });
  }
  // A wrong path would otherwise publish an empty version, and every mirror would follow it: each
  // county library's readers would find nothing until the next publish (and the old objects be
  // collected after --gc-after).
  if (scan.totals.files + scan.totals.dirs === 0) {
    throw new BookcrateError('USAGE', `nothing to publish: ${opts.input} holds no files (after leaving out junk and what the name policy skips); nothing was published`, {
      hint: 'check the path: a folder\'s top folders are its collections; a recipe names each collection\'s source folder',
    });
  }
  const prev = current ? await repo.readRoot(current.root) : undefined;
  // Entries of the previous version are trusted only for files last modified before its run began.
  const reuseBefore = current?.scanned ? Math.floor(Date.parse(current.scanned) / 1000) : -Infinity;

  // ---- hash: reuse what the previous version says, read the rest once ----
  let partsWritten = 0;
  let partsExisting = 0;
  const sink = async (bytes: Buffer, sha: string): Promise<void> => {
    if (await repo.putPart(sha, bytes)) partsWritten++;
    else partsExisting++;
  };
  const filesW = new PartTreeWriter(sink);
  const chunksW = new PartTreeWriter(sink, CHUNKS_TREE_SHAPE);
  // Kept with --rehash too: a file that is probably unchanged is hashed without a copy, and copied only if it did change.
  const prevFiles = prev ? new TreeCursor(readTreeLines(prev.root.files, repo.loadPart, 'files')) : undefined;
  const prevChunks = prev?.root.chunks ? new TreeCursor(readTreeLines(prev.root.chunks, repo.loadPart, 'chunks')) : undefined;
  const filesTotal = scan.totals.files + scan.totals.dirs;
  const bytesTotal = scan.totals.bytes;
  const stats = { filesDone: 0, bytesDone: 0, read: { files: 0, bytes: 0 }, reused: { files: 0, bytes: 0 }, newObjects: { count: 0, bytes: 0 } };
  let lastProgress = 0;
  const tick = (force = false): void => {
    if (!force && Date.now() - lastProgress < 200) return;
    lastProgress = Date.now();
    progress({ phase: 'hash', filesDone: stats.filesDone, filesTotal, bytesDone: Math.min(stats.bytesDone, bytesTotal), bytesTotal });
  };
  const onBytes = (n: number): void => {
    stats.bytesDone += n;
    stats.read.bytes += n;
    tick();
  };

  const describe = async (item: InventoryItem, prevEntry: FileEntry | undefined, prevChunk: string | undefined): Promise<Described> => {
    if (item.type === 'dir') return { item, fileLine: encodeFileEntry(fileEntryOf(item)), reused: false };
    const large = item.size >= CHUNKED_MIN_SIZE;
    const sameSize = prevEntry?.type === 'file' && prevEntry.size === item.size ? prevEntry : undefined;
    if (sameSize && !opts.rehash && sameSize.mtime === item.mtime && item.mtime < reuseBefore) {
      const chunksOk = !large || (prevChunk !== undefined && (JSON.parse(prevChunk) as { sha256: string }).sha256 === sameSize.sha256);
      // The object is checked too: the pointer must never name an object the repository lacks.
      if (chunksOk && (await repo.hasObject(sameSize.sha256!))) {
        const d = { sha256: sameSize.sha256!, xxh64: sameSize.xxh64! };
        return { item, fileLine: encodeFileEntry(fileEntryOf(item, d)), ...(large ? { chunkLine: prevChunk! } : {}), sha256: d.sha256, reused: true };
      }
    }
    // Same path and size as an object the repository holds (mtime touched, or --rehash): most likely
    // the same bytes, so hash first and copy only if they differ — a rehash of 4 TB writes nothing.
    const probable = sameSize !== undefined && (await repo.hasObject(sameSize.sha256!));
    let r = await readSourceFile(item, probable ? undefined : repo.tmpPath('obj'), onBytes);
    if (probable && r.digests.sha256 !== sameSize.sha256 && !(await repo.hasObject(r.digests.sha256))) {
      const again = await readSourceFile(item, repo.tmpPath('obj'), onBytes);
      if (again.digests.sha256 !== r.digests.sha256) {
        await again.copy?.drop();
        throw changed(item, 'two reads gave different bytes');
      }
      r = again;
    }
    const sha = r.digests.sha256;
    await r.copy?.close();
    const out: Described = { item, fileLine: encodeFileEntry(fileEntryOf(item, r.digests)), sha256: sha, reused: false };
    if (r.chunks) out.chunkLine = encodeChunkEntry({ path: item.path, sha256: sha, size: item.size, avg: r.chunks.avg, chunks: r.chunks.list });
    if (r.copy) out.copy = r.copy;
    return out;
  };

  // Entries go into the trees in manifest order; the objects are placed here, one at a time, so two
  // files with the same content in flight together make one object.
  const take = async (d: Described): Promise<void> => {
    if (d.copy) {
      const final = repo.objectPath(d.sha256!);
      if (await repo.has(final)) await unlink(d.copy.path).catch(() => undefined); // a renamed or duplicate file
      else {
        await repo.stage(d.copy.path, final, d.item.size);
        stats.newObjects.count++;
        stats.newObjects.bytes += d.item.size;
      }
    }
    await filesW.add(d.item.path, d.fileLine);
    if (d.chunkLine !== undefined) await chunksW.add(d.item.path, d.chunkLine);
    stats.filesDone++;
    if (d.item.type === 'file') {
      if (d.reused) {
        stats.reused.files++;
        stats.reused.bytes += d.item.size;
        stats.bytesDone += d.item.size;
      } else stats.read.files++;
    }
    tick();
  };

  const inflight: Promise<Described>[] = [];
  try {
    for await (const item of readInventory(inventoryPath)) {
      const prevLine = prevFiles ? await prevFiles.seek(item.path) : undefined;
      const prevEntry = prevLine ? decodeFileEntry(prevLine, `files of version ${current!.version}`) : undefined;
      const prevChunk = prevChunks && item.type === 'file' && item.size >= CHUNKED_MIN_SIZE ? await prevChunks.seek(item.path) : undefined;
      const task = describe(item, prevEntry, prevChunk);
      task.catch(() => undefined); // awaited in order below; a failure is thrown from there
      inflight.push(task);
      if (inflight.length >= CONCURRENCY) await take(await inflight.shift()!);
    }
    while (inflight.length > 0) await take(await inflight.shift()!);
  } catch (e) {
    await Promise.allSettled(inflight);
    throw e;
  } finally {
    await prevFiles?.close();
    await prevChunks?.close();
  }
  tick(true);

  // ---- write: trees, root, signature, pointer ----
  progress({ phase: 'write', filesDone: filesTotal, filesTotal, bytesDone: bytesTotal, bytesTotal });
  const files = await filesW.finish();
  const chunks = await chunksW.finish();
  const resW = new PartTreeWriter(sink);
  // the scan's resources list, in id order, one line each, beside the inventory
  for await (const line of createInterface({ input: createReadStream(scan.resourcesPath), crlfDelay: Infinity })) {
    if (line) await resW.add((JSON.parse(line) as { id: string }).id, line);
  }
  const resources = await resW.finish();
  await repo.commit();
  await repo.syncDirs(); // every object and part a root will name is durable, under its name, before the root exists

  let outcome: PublishResult['outcome'];
  let entry: HistoryEntry;
  let bundle: Root['bundle'];
  let totals: Root['totals'];
  if (prev && current && sameTree(files, prev.root.files) && sameTree(resources, prev.root.resources) && (opts.version === undefined || opts.version === current.version)) {
    // Nothing changed: no version is added, the current one's pointer is renewed.
    outcome = 'unchanged';
    entry = current;
    bundle = prev.root.bundle;
    totals = prev.root.totals;
  } else {
    if (opts.version !== undefined && opts.version <= newest) {
      throw new BookcrateError('USAGE', `--version ${opts.version} is already published in ${repo.dir} with other content`, {
        hint: `leave --version out to publish version ${newest + 1}`,
      });
    }
    const version = opts.version ?? newest + 1;
    outcome = 'published';
    bundle = { id: bundleId, version, title: source.bundle.title, created: createdTime(opts.created) };
    totals = scan.totals;
    const root: Root = { format: FORMAT, bundle, totals, collections: scan.collections, files, resources, chunks };
    const rootBytes = encodeRoot(root);
    const sha = sha256Hex(rootBytes);
    await repo.writeAtomic(repo.path(repoPaths.root(sha)), rootBytes);
    await repo.writeAtomic(repo.path(repoPaths.rootSig(sha)), signRoot(rootBytes, opts.key), true);
    entry = { version, root: sha, size: rootBytes.length, created: bundle.created, published: '', scanned };
  }
  const pointer = await writePointer(repo, opts.key, bundleId, entry, opts.expires);
  if (outcome === 'published') {
    entry.published = pointer.issued;
    history.bundle = bundleId;
    history.versions.push(entry);
  } else {
    entry.scanned = scanned; // every entry was just confirmed: reused ones before the old bound, the rest read now
  }
  await saveHistory(repo, history);

  // ---- prune: keep the newest versions, delete what only older ones (or killed runs) used ----
  const keep = opts.keep ?? DEFAULT_KEEP;
  const live = history.versions.filter((v) => !v.pruned).sort((a, b) => b.version - a.version);
  const kept = live.slice(0, keep);
  const dropped = live.slice(keep);
  const pruned = noPrune();
  if (dropped.length > 0 || wasUnfinished) {
    for (const v of dropped) v.pruned = true;
    pruned.versions = dropped.map((v) => v.version).sort((a, b) => a - b);
    if (dropped.length > 0) await saveHistory(repo, history); // before deleting: the history never names a version whose files are going
    progress({ phase: 'prune', filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0 });
    const s = await sweep(repo, kept, (walked) => progress({ phase: 'prune', filesDone: walked, filesTotal: 0, bytesDone: 0, bytesTotal: 0 }));
    Object.assign(pruned, s);
  }
  await repo.removeTmp();
  await unlink(unfinished).catch(() => undefined);

  return {
    outcome, repo: repo.dir, bundle, previous: current?.version ?? null, root: { sha256: entry.root, size: entry.size }, pointer, totals,
    read: stats.read, reused: stats.reused, newObjects: stats.newObjects, parts: { written: partsWritten, existing: partsExisting },
    pruned, issues: scan.issues, seconds: (Date.now() - started) / 1000,
  };
}
