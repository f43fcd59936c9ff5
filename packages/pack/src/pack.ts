import type { KeyObject } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, open, readFile, readdir, rm, stat, statfs, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  BookcrateError, FORMAT, VolumePlanner, encodeFileEntry, encodeMemberEntry,
  memberHeaderView, encodeResourceEntry, encodeRoot, encodeVolumeDoc, keyFingerprint, padTo512,
  publicKeyPem, sha256Hex, signRoot, volumeCapacity, DEFAULT_SEGMENT_SIZE, MEMBERS_TREE_SHAPE,
  type CollectionInfo, type Digests, type NameIssue, type NonUtf8Policy, type Placement, type Root,
  type SegmentInfo, type TreeRef, type VolumePlan,
} from '@bookcrate/format';
import {
  HashThread, SharedBufferPool, directReadWorks, dropCachedPages, segmentName, verifyVolume, volumeDirName, volumePaths, type VerifyReport,
} from '@bookcrate/volume';
import { asIoError, fsyncDir, writeFileAtomic } from './fsutil.js';
import { readInventory } from './inventory.js';
import { volumeReadme } from './readme.js';
import { SegmentWriter } from './segment-writer.js';
import { SourceReader } from './source-reader.js';
import { leadingPath } from './lines.js';
import { TreeThread } from './tree-thread.js';
import { loadSource, type PackSource } from './source.js';
import { createdTime, fileEntryOf, scanSource } from './scan.js';
import type { InventoryItem } from './walk.js';

export interface PackOptions {
  input: string; // recipe (.json) or source directory
  outs: string[]; // target directories (disks); every one gets the same volumes
  key?: KeyObject; // the center's Ed25519 private key (not needed for a dry run)
  diskSize?: number; // default 4 TB
  segmentSize?: number; // default fits FAT32
  dryRun?: boolean;
  verify?: boolean; // read every written volume back (default true)
  volumes?: number[]; // write only these volumes (the others are still hashed for the manifest)
  followSymlinks?: boolean;
  allowUnportable?: boolean;
  nonUtf8?: NonUtf8Policy;
  includeJunk?: boolean;
  restart?: boolean; // discard a previous unfinished pack instead of resuming it
  created?: string; // ISO time recorded in the root (default: SOURCE_DATE_EPOCH, else now)
  onProgress?: (p: PackProgress) => void;
}

export interface PackProgress {
  phase: 'scan' | 'plan' | 'write' | 'finalize' | 'verify';
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  volume?: number;
  target?: string;
}

export interface PackResult {
  dryRun: boolean;
  bundle: Root['bundle'];
  set: string;
  plan: VolumePlan;
  issues: { errors: number; counts: Record<string, number>; kept: NameIssue[] };
  written: { volume: number; dirs: string[] }[];
  resumedSegments: number;
  verify: VerifyReport[];
  verifyMethod?: 'direct' | 'dropped-cache' | 'cached';
  seconds: number;
  bytesRead: number;
}

interface State {
  args: string;
  created: string;
  scanned: boolean;
  collections?: CollectionInfo[];
  issues?: PackResult['issues'];
  totals?: { files: number; dirs: number; bytes: number; resources: number };
  spans?: [string, number][];
}

interface JournalLine {
  segment: number;
  volume: number;
  info: SegmentInfo;
  entriesBytes: number;
  membersBytes: number;
}

const STATE_DIR = '.bookcrate-pack';
/** inventory items planned (and their small files read) ahead of the writer */
const READ_AHEAD_FILES = 256;
/** pack's write buffers (shared with the hashing thread): 4 × 4 MiB */
const WRITE_BUFFERS = 4;
const WRITE_BUFFER_BYTES = 4 << 20;
export const DEFAULT_DISK_SIZE = 4e12;

/** What makes two runs "the same pack": a resume is only allowed when all of it matches. */
function argsDigest(source: PackSource, opts: PackOptions, outs: string[]): string {
  return sha256Hex(JSON.stringify({
    format: FORMAT, origin: source.origin, bundle: source.bundle,
    collections: source.collections.map((c) => [c.id, c.title, c.path, c.dir, c.resources.length]),
    diskSize: opts.diskSize ?? DEFAULT_DISK_SIZE, segmentSize: opts.segmentSize ?? DEFAULT_SEGMENT_SIZE,
    names: [!!opts.followSymlinks, !!opts.allowUnportable, opts.nonUtf8 ?? 'gb18030', !!opts.includeJunk],
    volumes: opts.volumes ?? null, outs, key: opts.key ? keyFingerprint(opts.key) : null,
  }));
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function readJournal(path: string): Promise<JournalLine[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const out: JournalLine[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as JournalLine);
    } catch {
      break; // a line torn by a crash: everything before it is good
    }
  }
  // Lines are written in segment order; keep the unbroken prefix 1..k.
  const good: JournalLine[] = [];
  for (const l of out) if (l.segment === good.length + 1) good.push(l);
  return good;
}

/** Appends lines in 1 MiB batches; `length` counts what `flush` wrote, `sync` makes it durable. */
class LineLog {
  private pending: string[] = [];
  private pendingBytes = 0;
  length: number;
  constructor(readonly path: string, length: number) {
    this.length = length;
  }
  async add(line: string): Promise<void> {
    this.pending.push(line);
    this.pendingBytes += Buffer.byteLength(line) + 1;
    if (this.pendingBytes > 1 << 20) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.pendingBytes = 0;
    await appendFile(this.path, text);
    this.length += Buffer.byteLength(text);
  }
  /** fsyncs the file: everything flushed before the call is durable after it. */
  async sync(): Promise<void> {
    const h = await open(this.path, 'a');
    await h.sync();
    await h.close();
  }
}

export async function pack(opts: PackOptions): Promise<PackResult> {
  const started = Date.now();
  const source = await loadSource(opts.input);
  const outs = opts.outs.map((o) => resolve(o));
  if (!opts.dryRun && outs.length === 0) throw new BookcrateError('USAGE', 'no target given', { hint: 'add --out <dir> (once per disk)' });
  if (!opts.dryRun && !opts.key) throw new BookcrateError('USAGE', 'no signing key given', { hint: 'add --key center.key (create one with `bookcrate keygen --out center`)' });
  if (new Set(outs).size !== outs.length) throw new BookcrateError('USAGE', 'the same --out is given twice', { hint: 'give each target disk once' });
  for (const o of outs) if (o === source.origin || source.collections.some((c) => o.startsWith(c.dir + '/') || o === c.dir)) {
    throw new BookcrateError('USAGE', `--out ${o} is inside the source`, { hint: 'write the bundle to another disk or folder' });
  }
  const progress = (p: PackProgress): void => opts.onProgress?.(p);

  // ---- state: resume or start ----
  const stateDir = opts.dryRun ? await mkdtemp(join(tmpdir(), 'bookcrate-plan-')) : join(outs[0]!, STATE_DIR);
  const statePath = join(stateDir, 'state.json');
  const digest = argsDigest(source, opts, outs);
  let state = opts.dryRun ? undefined : await readJson<State>(statePath);
  if (state && state.args !== digest) {
    if (!opts.restart) {
      throw new BookcrateError('RESUME_MISMATCH', `${outs[0]} holds an unfinished pack made with other arguments or another key`, {
        hint: 'run the earlier command again to finish it, or add --restart to discard it and start over',
      });
    }
  }
  if (opts.restart && state) {
    await rm(stateDir, { recursive: true, force: true });
    state = undefined;
  }
  try {
    await mkdir(stateDir, { recursive: true });
  } catch (e) {
    throw asIoError(e, stateDir);
  }
  if (!state) {
    state = { args: digest, created: createdTime(opts.created), scanned: false };
    if (!opts.dryRun) {
      await rm(join(stateDir, 'journal.jsonl'), { force: true });
      await writeFileAtomic(statePath, JSON.stringify(state));
    }
  }
  const inventoryPath = join(stateDir, 'inventory.jsonl');
  const resourcesPath = join(stateDir, 'resources.jsonl');
  const entriesPath = join(stateDir, 'entries.jsonl');
  const membersPath = join(stateDir, 'members.jsonl');
  const journalPath = join(stateDir, 'journal.jsonl');
  let treeThread: TreeThread | undefined;
  // The segment's bytes are gathered in WRITE_BUFFERS shared buffers of WRITE_BUFFER_BYTES, hashed
  // there by the hashing thread while they are written to the disks. The thread boots now, beside
  // the scan, instead of after it while the source disk waits (docs/performance.md, "Runs AA to
  // AD"); its buffers take memory only once they are written to.
  let hashThread: { pool: SharedBufferPool; hashes: HashThread } | undefined;

  try {
    if (!opts.dryRun) {
      const pool = new SharedBufferPool(WRITE_BUFFERS, WRITE_BUFFER_BYTES);
      hashThread = { pool, hashes: new HashThread(pool) };
    }
    // ---- scan: walk, check names, write the inventory ----
    if (!state.scanned) {
      const scan = await scanSource(source, inventoryPath, {
        followSymlinks: !!opts.followSymlinks, allowUnportable: !!opts.allowUnportable, nonUtf8: opts.nonUtf8 ?? 'gb18030',
        includeJunk: !!opts.includeJunk,
        onProgress: (p) => progress({ phase: 'scan', filesDone: p.files, filesTotal: p.done ? p.files : 0, bytesDone: p.bytes, bytesTotal: p.done ? p.bytes : 0 }),
      });
      await writeFile(resourcesPath, scan.resources.map((r) => encodeResourceEntry(r) + '\n').join(''));
      state.collections = scan.collections;
      state.totals = scan.totals;
      state.spans = scan.spans;
      state.issues = scan.issues;
      state.scanned = true;
      if (scan.issues.errors > 0 && !opts.dryRun) {
        await rm(stateDir, { recursive: true, force: true });
        throw new BookcrateError('NAME_POLICY', `${scan.issues.errors} name problem(s) stop the pack; nothing was written`, {
          hint: 'rename the files listed, or pass --allow-unportable-names to keep names Windows cannot hold; run with --dry-run to list them again',
          details: state.issues,
        });
      }
      if (!opts.dryRun) await writeFileAtomic(statePath, JSON.stringify(state));
    }
    const totals = state.totals!;

    // ---- plan ----
    const layoutOpts = {
      segmentSize: opts.segmentSize ?? DEFAULT_SEGMENT_SIZE,
      volumeCapacity: volumeCapacity(opts.diskSize ?? DEFAULT_DISK_SIZE, totals.files + totals.dirs, totals.resources),
    };
    const spans = new Map(state.spans!);
    const planner = new VolumePlanner(layoutOpts, spans);
    let planned = 0;
    for await (const item of readInventory(inventoryPath)) {
      planner.add(item);
      if (++planned % 65536 === 0) progress({ phase: 'plan', filesDone: planned, filesTotal: totals.files + totals.dirs, bytesDone: 0, bytesTotal: 0 });
    }
    const plan = planner.finish();
    progress({ phase: 'plan', filesDone: planned, filesTotal: planned, bytesDone: 0, bytesTotal: 0 });
    const set = sha256Hex(`${source.bundle.id}\n${source.bundle.version}\n${state.created}`).slice(0, 16);
    const bundle = { id: source.bundle.id, version: source.bundle.version, title: source.bundle.title, created: state.created };
    const result: PackResult = {
      dryRun: !!opts.dryRun, bundle, set, plan, issues: state.issues!, written: [], resumedSegments: 0, verify: [],
      seconds: 0, bytesRead: 0,
    };
    if (opts.dryRun) {
      result.seconds = (Date.now() - started) / 1000;
      return result;
    }
    const selected = new Set(opts.volumes ?? plan.volumes.map((v) => v.index));
    for (const v of selected) {
      if (v < 1 || v > plan.volumes.length) throw new BookcrateError('USAGE', `--volume ${v}: the plan has ${plan.volumes.length} volume(s)`, { hint: 'run with --dry-run to see the plan' });
    }
    const volDir = (out: string, v: number): string => join(out, volumeDirName(source.bundle.id, v, plan.volumes.length));

    // ---- write segments ----
    const journal = await readJournal(journalPath);
    const done = journal.length;
    result.resumedSegments = done;
    const last = journal[done - 1];
    await truncateOrCreate(entriesPath, last?.entriesBytes ?? 0);
    await truncateOrCreate(membersPath, last?.membersBytes ?? 0);
    await checkSpace(outs, plan, selected, journal);
    const entries = new LineLog(entriesPath, last?.entriesBytes ?? 0);
    const members = new LineLog(membersPath, last?.membersBytes ?? 0);
    // The manifest trees are built by their own thread while the segments are written (see
    // TreeThread): their thousands of small part files are written behind the data, not in a
    // finalize step after it. All are written, and synced by flushTree, before the root that names them.
    const metaDirs: string[] = [];
    for (const v of selected) for (const o of outs) metaDirs.push(volDir(o, v));
    for (const d of metaDirs) {
      await mkdir(volumePaths(d).parts, { recursive: true }).catch((e: unknown) => {
        throw asIoError(e, volumePaths(d).parts);
      });
    }
    const FILES = 0;
    const MEMBERS = 1;
    const RESOURCES = 2;
    const trees = (treeThread = new TreeThread(
      [{ key: 'path', repeats: false }, { key: 'path', repeats: true, shape: MEMBERS_TREE_SHAPE }, { key: 'id', repeats: false }],
      metaDirs.map((d) => volumePaths(d).parts),
    ));
    // After a resume, the lines logged before the interruption go into the trees first.
    trees.replay(FILES, entriesPath, entries.length);
    trees.replay(MEMBERS, membersPath, members.length);
    trees.replay(RESOURCES, resourcesPath, (await stat(resourcesPath)).size); // complete since the scan
    const addEntry = async (line: string): Promise<void> => {
      await entries.add(line);
      await trees.add(FILES, line);
    };
    const addMember = async (line: string): Promise<void> => {
      await members.add(line);
      await trees.add(MEMBERS, line);
    };
    const segInfos: SegmentInfo[] = journal.map((j) => j.info);
    const bytesTotal = plan.volumes.reduce((a, v) => a + v.segmentBytes, 0);
    let bytesDone = journal.reduce((a, j) => a + j.info.size, 0);
    let filesDone = 0;
    const filesTotal = totals.files + totals.dirs;
    let writer: SegmentWriter | undefined;
    let writerSeg = 0;
    let writerVol = 0;
    // The segment before, being made durable and journaled while the next one is written. One at
    // a time, in order: a journal line is written only after every line before it.
    let sealing: Promise<void> = Promise.resolve();
    const closeSegment = async (): Promise<void> => {
      if (!writer) return;
      const w = writer;
      const info = await w.close();
      await drainEntries(true);
      segInfos.push(info);
      // the manifest logs as they stand now: a resume cuts them back to these lengths
      await entries.flush();
      await members.flush();
      const line: JournalLine = { segment: writerSeg, volume: writerVol, info, entriesBytes: entries.length, membersBytes: members.length };
      await sealing;
      writer = undefined; // from here on `sealing` owns it (until then an error aborts it)
      sealing = (async () => {
        await w.seal();
        await entries.sync();
        await members.sync();
        await appendFile(journalPath, JSON.stringify(line) + '\n');
        const jh = await open(journalPath, 'a');
        await jh.sync();
        await jh.close();
      })();
      sealing.catch(() => undefined); // awaited by the next segment, or after the last
    };
    const writePlanner = new VolumePlanner(layoutOpts, spans);
    const reads = new SourceReader();
    const { pool, hashes } = hashThread!;
    await hashes.start();
    // Entries wait for their digests from the hashing thread; they are logged in manifest order.
    let pendingEntries: Promise<string>[] = [];
    const drainEntries = async (all: boolean): Promise<void> => {
      while (pendingEntries.length > 0 && (all || pendingEntries.length > 1024)) {
        const batch = pendingEntries.splice(0, all ? pendingEntries.length : 512);
        hashes.send(); // digests arrive only for operations sent to the hashing thread
        for (const line of await Promise.all(batch)) await addEntry(line);
      }
    };
    let lastProgress = 0;
    try {
      const items = readInventory(inventoryPath);
      // Up to READ_AHEAD_FILES items are planned ahead of the writer, and their small files read
      // ahead into the reader's ring in the same order; a file the ring has no room for yet is
      // hinted again as soon as room comes back (never skipped, which would make it a slow read on
      // this thread).
      const queue: { item: InventoryItem; placements: Placement[]; hinted: boolean }[] = [];
      let unhinted = 0; // queue[0, unhinted) were hinted
      const hintQueued = (): void => {
        while (unhinted < queue.length) {
          const q = queue[unhinted]!;
          if (!q.hinted && !reads.hint(q.item)) return;
          q.hinted = true;
          unhinted++;
        }
      };
      const fillQueue = async (): Promise<boolean> => {
        const r = await items.next();
        if (r.done) return false;
        const placements = writePlanner.add(r.value);
        const needsBytes = placements.some((p) => p.segment > done);
        queue.push({ item: r.value, placements, hinted: !(needsBytes && r.value.type === 'file') });
        return true;
      };
      for (;;) {
        while (queue.length < READ_AHEAD_FILES && (await fillQueue()));
        hintQueued();
        const next = queue.shift();
        if (unhinted > 0) unhinted--;
        if (!next) break;
        const { item, placements } = next;
        filesDone++;
        if (placements.every((p) => p.segment <= done)) continue; // recorded before the interruption
        const fileId = item.type === 'file' ? hashes.open('dual') : undefined;
        const src = item.type === 'file' ? await reads.take(item) : undefined;
        let digest: Promise<Digests> | undefined;
        try {
          for (const p of placements) {
            if (p.segment <= done) {
              // A split file that began in a finished segment: re-hash its bytes, write nothing.
              await src!.read(p.length, (b) => hashes.updateBytes(fileId!, b));
              continue;
            }
            if (p.segment !== writerSeg) {
              await closeSegment();
              writerSeg = p.segment;
              writerVol = p.volume;
              const name = segmentName(p.volume, p.segment);
              const targets = selected.has(p.volume) ? outs.map((o) => volumePaths(volDir(o, p.volume)).segment(name)) : [];
              writer = await SegmentWriter.create(name, targets, pool, hashes);
            }
            if (writer!.size !== p.offset) throw new BookcrateError('INTERNAL', `layout out of step at ${item.path}`);
            const part = p.at !== undefined ? { part: { offset: p.at, total: item.size } } : {};
            // The header is copied into the segment's buffer at once (memberHeaderView is reused).
            await writer!.write(memberHeaderView({ path: item.path, type: item.type, length: p.length, mtime: item.mtime, ...part }));
            if (src) await writer!.writeFrom(p.length, fileId, (buf, n) => src.readInto(buf, n));
            if (fileId !== undefined && p === placements[placements.length - 1]) digest = writer!.endFile(fileId);
            await writer!.zeros(padTo512(p.length));
            await addMember(encodeMemberEntry({ path: item.path, segment: p.segment, offset: p.offset, length: p.length, ...(p.at !== undefined ? { at: p.at } : {}) }));
            bytesDone += p.length;
          }
          if (src) await src.finish();
        } finally {
          await src?.close();
        }
        pendingEntries.push(digest ? digest.then((d) => encodeFileEntry(fileEntryOf(item, d))) : Promise.resolve(encodeFileEntry(fileEntryOf(item))));
        await drainEntries(false);
        if (Date.now() - lastProgress > 200) {
          lastProgress = Date.now();
          progress({ phase: 'write', filesDone, filesTotal, bytesDone, bytesTotal, volume: writerVol });
        }
      }
      await closeSegment();
      await sealing;
    } catch (e) {
      await writer?.abort();
      await sealing.catch(() => undefined);
      throw e;
    } finally {
      await reads.close();
      await hashes.close();
    }
    result.bytesRead = reads.bytesRead;
    progress({ phase: 'write', filesDone, filesTotal, bytesDone: bytesTotal, bytesTotal });

    // ---- finalize: the last parts of the manifest trees, root, signature, per-volume files ----
    const key = opts.key!;
    progress({ phase: 'finalize', filesDone, filesTotal, bytesDone: bytesTotal, bytesTotal });
    const [filesTree, membersTree, resourcesTree] = (await trees.finish()) as [TreeRef, TreeRef, TreeRef];
    await trees.close();
    const volumes = plan.volumes.map((v) => ({ index: v.index, segments: [] as SegmentInfo[] }));
    segInfos.forEach((info, i) => {
      const vol = volumeOfSegment(i + 1, journal, plan);
      volumes[vol - 1]!.segments.push(info);
    });
    const root: Root = {
      format: FORMAT, bundle, totals, collections: state.collections!,
      files: filesTree, resources: resourcesTree,
      layout: { set, segmentSize: layoutOpts.segmentSize, volumes, members: membersTree },
    };
    const rootBytes = encodeRoot(root);
    const sig = signRoot(rootBytes, key);
    const fp = keyFingerprint(key);
    for (const v of selected) {
      for (const o of outs) {
        const d = volDir(o, v);
        const p = volumePaths(d);
        await flushTree(p.parts);
        await writeFileAtomic(p.root, rootBytes);
        await writeFileAtomic(p.sig, sig);
        await writeFileAtomic(p.pubkey, publicKeyPem(key));
        await writeFileAtomic(p.readme, volumeReadme(root, v, fp));
        // volume.json last: its presence is what makes the folder a volume.
        await writeFileAtomic(p.volume, encodeVolumeDoc({ format: FORMAT, set, volume: v, volumes: plan.volumes.length, root: sha256Hex(rootBytes) }));
        await fsyncDir(o);
        result.written.find((w) => w.volume === v)?.dirs.push(d) ?? result.written.push({ volume: v, dirs: [d] });
      }
    }

    // ---- read back every written volume, past the page cache ----
    if (opts.verify !== false) {
      const firstSeg = result.written[0] && volumes[result.written[0].volume - 1]!.segments[0];
      const probe = firstSeg ? volumePaths(result.written[0]!.dirs[0]!).segment(firstSeg.name) : undefined;
      const direct = probe ? await directReadWorks(probe) : false;
      result.verifyMethod = direct ? 'direct' : 'dropped-cache';
      for (const w of result.written) {
        for (const d of w.dirs) {
          if (!direct) {
            for (const s of volumes[w.volume - 1]!.segments) {
              if (!(await dropCachedPages(volumePaths(d).segment(s.name)))) result.verifyMethod = 'cached';
            }
          }
          const report = await verifyVolume(d, {
            mode: 'full', trustedKey: key, readMode: direct ? 'direct' : 'cached',
            onProgress: (p) => progress({ phase: 'verify', filesDone: p.filesDone, filesTotal: p.filesTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, volume: w.volume, target: d }),
          });
          result.verify.push(report);
        }
      }
    }
    await rm(stateDir, { recursive: true, force: true });
    await fsyncDir(outs[0]!);
    result.seconds = (Date.now() - started) / 1000;
    return result;
  } finally {
    await hashThread?.hashes.close();
    await treeThread?.close();
    if (opts.dryRun) await rm(stateDir, { recursive: true, force: true });
  }
}

function volumeOfSegment(segment: number, journal: JournalLine[], plan: VolumePlan): number {
  const j = journal[segment - 1];
  if (j) return j.volume;
  let n = 0;
  for (const v of plan.volumes) {
    n += v.segments;
    if (segment <= n) return v.index;
  }
  throw new BookcrateError('INTERNAL', `segment ${segment} is beyond the plan`);
}

async function truncateOrCreate(path: string, length: number): Promise<void> {
  try {
    await truncate(path, length);
  } catch {
    await writeFile(path, '');
  }
}

/** Makes a folder of freshly written small files durable: syncfs through `sync -f`, else fsync each. */
async function flushTree(dir: string): Promise<void> {
  const r = spawnSync('sync', ['-f', dir], { stdio: 'ignore' });
  if (r.status === 0) return;
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    const h = await open(join(dir, n), 'r');
    await h.sync();
    await h.close();
  }
  await fsyncDir(dir);
}

/** Refuses to start when a target cannot hold what is left to write (the check a full disk would make hours later). */
async function checkSpace(outs: string[], plan: VolumePlan, selected: Set<number>, journal: JournalLine[]): Promise<void> {
  const written = new Map<number, number>();
  for (const j of journal) written.set(j.volume, (written.get(j.volume) ?? 0) + j.info.size);
  let need = 0;
  for (const v of plan.volumes) if (selected.has(v.index)) need += v.segmentBytes - (written.get(v.index) ?? 0);
  for (const o of outs) {
    await mkdir(o, { recursive: true }).catch((e) => {
      throw asIoError(e, o);
    });
    const fs = await statfs(o);
    const free = fs.bavail * fs.bsize;
    if (free < need) {
      throw new BookcrateError('NO_SPACE', `${o} has ${free} bytes free, the volume(s) to write need ${need}`, {
        hint: 'use a larger disk, a smaller --disk-size, or write one volume per disk with --volume N',
      });
    }
  }
}
