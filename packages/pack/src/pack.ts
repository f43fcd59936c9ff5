import type { KeyObject } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, open, readFile, readdir, rm, rmdir, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import {
  BookcrateError, FORMAT, VolumePlanner, checkSegmentSize, formatSize, isBookcrateError, encodeFileEntry, encodeMemberEntry,
  memberHeaderView, encodeRoot, encodeVolumeDoc, keyFingerprint, padTo512, utf8Lines,
  publicKeyPem, sha256Hex, signRoot, volumeCapacity, metadataRoom, DEFAULT_SEGMENT_SIZE, MEMBERS_TREE_SHAPE,
  type CollectionInfo, type Digests, type LayoutOptions, type NameIssue, type NonUtf8Policy, type Placement, type Root,
  type SegmentInfo, type TreeRef, type VolumePlan,
} from '@bookcrate/format';
import {
  HashThread, SharedBufferPool, directReadWorks, dropCachedPages, syncFilesystem, segmentName, verifyVolume, volumeDirName, volumePaths, type VerifyReport,
} from '@bookcrate/volume';
import { asIoError, fsyncDir, readJson, writeFileAtomic } from './fsutil.js';
import { StateCopy } from './state-copy.js';
import { InventoryGrowth, followInventory, readInventory } from './inventory.js';
import { volumeReadme } from './readme.js';
import { SegmentWriter } from './segment-writer.js';
import { SourceReader } from './source-reader.js';
import { TreeThread } from './tree-thread.js';
import { loadSource, type PackSource } from './source.js';
import { createdTime, fileEntryOf, scanSource, type SourceScan } from './scan.js';
import type { InventoryItem } from './walk.js';
import { findOldVolumes, retireOldVolumes, type OldVolume } from './old-volumes.js';

export interface PackOptions {
  input: string; // recipe (.json) or source directory
  /**
   * Target directories (disks). `<dir>` gets every volume written (all, or `volumes`); `<n>:<dir>`
   * gets volume n alone, so the volumes of a set go to disks of their own in one run (parseTarget).
   */
  outs: string[];
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
  /** folders of earlier packs of this bundle removed from the targets (a dry run: that it would remove) */
  replaced: OldVolume[];
  verifyMethod?: 'direct' | 'dropped-cache' | 'cached';
  /** where targets of their own volume (`--out <n>:<dir>`) are given: each volume's targets (none for a volume left to another run) */
  targets?: { volume: number; dirs: string[] }[];
  seconds: number;
  bytesRead: number;
  /**
   * A fresh pack starts writing while its scan still walks (docs/format.md, section 11): whether
   * the finished scan's plan kept that work, and how many content bytes were written before it said so.
   */
  earlyStart?: { outcome: 'kept' | 'undone'; reason?: string; bytesBeforeVerdict: number };
}

interface State {
  args: string;
  created: string;
  /**
   * The targets the pack writes to. Not part of the args digest: a resume may leave out a disk
   * that failed (the others hold every finished segment), but not add one (it holds none of them).
   */
  outs?: string[];
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
/** The early start's guess while the scan goes on: one volume, as large as it needs (a multiple of 512). */
const EARLY_VOLUME_CAPACITY = 2 ** 52;

/** A target of the pack: a folder (a disk), and the volume it gets where it gets one alone. */
export interface PackTarget {
  dir: string;
  volume?: number;
  /** as given: `<dir>`, or `<n>:<dir>` */
  given: string;
}

/**
 * `--out <dir>`, or `--out <n>:<dir>` for a disk that gets volume n alone. A leading number and a
 * colon cannot be a Windows drive (a letter), and a folder whose name starts so is written `./1:x`.
 */
export function parseTarget(given: string): PackTarget {
  const m = /^(\d+):(.+)$/.exec(given);
  if (!m) return { dir: resolve(given), given };
  const volume = Number(m[1]);
  if (!Number.isSafeInteger(volume) || volume < 1) {
    throw new BookcrateError('USAGE', `--out ${given}: ${m[1]} is not a volume number`, { hint: 'volumes are numbered from 1 (see --dry-run): --out 1:/mnt/disk1 --out 2:/mnt/disk2' });
  }
  return { dir: resolve(m[2]!), volume, given };
}

/** How State.outs names a target: its folder, with the volume it gets alone. */
function targetKey(t: PackTarget): string {
  return t.volume === undefined ? t.dir : `${t.volume}:${t.dir}`;
}

/**
 * What makes two runs "the same pack": a resume is only allowed when all of it matches. The
 * targets are not in it (State.outs): every target of a volume receives the same bytes. Nor are
 * the volumes that targets of their own choose (`<n>:<dir>`): a resume may leave a target out.
 */
function argsDigest(source: PackSource, opts: PackOptions): string {
  return sha256Hex(JSON.stringify({
    format: FORMAT, origin: source.origin, bundle: source.bundle,
    collections: source.collections.map((c) => [c.id, c.title, c.path, c.dir, c.metadata ? [c.metadata.digest, c.metadata.encoding ?? null] : null]),
    diskSize: opts.diskSize ?? DEFAULT_DISK_SIZE, segmentSize: opts.segmentSize ?? DEFAULT_SEGMENT_SIZE,
    names: [!!opts.followSymlinks, !!opts.allowUnportable, opts.nonUtf8 ?? 'gb18030', !!opts.includeJunk],
    volumes: opts.volumes ?? null, key: opts.key ? keyFingerprint(opts.key) : null, created: opts.created ?? null,
  }));
}

async function readJournal(path: string): Promise<JournalLine[]> {
  return (await readJournalPrefix(path)).lines;
}

/** The journal's unbroken prefix of lines 1..k, and how many bytes of the file they take. */
async function readJournalPrefix(path: string): Promise<{ lines: JournalLine[]; bytes: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return { lines: [], bytes: 0 };
  }
  // Lines are written in segment order; keep the unbroken prefix 1..k (a line torn by a crash ends it).
  const lines: JournalLine[] = [];
  let bytes = 0;
  for (let at = 0; at < text.length;) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) break;
    let line: JournalLine;
    try {
      line = JSON.parse(text.slice(at, nl)) as JournalLine;
    } catch {
      break;
    }
    if (line.segment !== lines.length + 1) break;
    lines.push(line);
    bytes += Buffer.byteLength(text.slice(at, nl + 1));
    at = nl + 1;
  }
  return { lines, bytes };
}

/** Appends lines in batches of ~1 MiB; `length` counts what `flush` wrote, `sync` makes it durable. */
class LineLog {
  private pending: string[] = [];
  /** UTF-16 code units pending: a line of Chinese names takes more bytes, of ASCII as many */
  private pendingUnits = 0;
  length: number;
  constructor(readonly path: string, length: number) {
    this.length = length;
  }
  async add(line: string): Promise<void> {
    this.pending.push(line);
    this.pendingUnits += line.length + 1;
    if (this.pendingUnits > 1 << 20) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const data = utf8Lines(this.pending);
    this.pending = [];
    this.pendingUnits = 0;
    await appendFile(this.path, data);
    this.length += data.length;
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
  const targets = opts.outs.map(parseTarget);
  const outs = targets.map((t) => t.dir);
  // Targets of their own volume (`<n>:<dir>`): every target names one, and --volume is not given.
  const assigned = targets.some((t) => t.volume !== undefined);
  if (assigned && targets.some((t) => t.volume === undefined)) {
    const bare = targets.find((t) => t.volume === undefined)!;
    throw new BookcrateError('USAGE', `--out ${bare.given} names no volume, while another --out does`, {
      hint: 'give every --out its volume (--out 1:/mnt/disk1 --out 2:/mnt/disk2), or none (every disk then gets every volume)',
    });
  }
  if (assigned && opts.volumes) {
    throw new BookcrateError('USAGE', '--volume and --out <n>:<dir> both choose the volumes to write', { hint: 'leave out --volume: each --out <n>:<dir> writes volume n' });
  }
  /** the targets a volume's folders go to */
  const outsOf = (v: number): string[] => targets.filter((t) => t.volume === undefined || t.volume === v).map((t) => t.dir);
  if (!opts.dryRun && outs.length === 0) throw new BookcrateError('USAGE', 'no target given', { hint: 'add --out <dir> (once per disk)' });
  if (!opts.dryRun && !opts.key) throw new BookcrateError('USAGE', 'no signing key given', { hint: 'add --key center.key (create one with `bookcrate keygen --out center`)' });
  // before the pack's state is made: arguments that can only be refused leave nothing behind
  if (opts.segmentSize !== undefined) checkSegmentSize(opts.segmentSize);
  if (new Set(outs).size !== outs.length) throw new BookcrateError('USAGE', 'the same --out is given twice', { hint: 'give each target disk once' });
  for (const o of outs) if (o === source.origin || source.collections.some((c) => o.startsWith(c.dir + '/') || o === c.dir)) {
    throw new BookcrateError('USAGE', `--out ${o} is inside the source`, { hint: 'write the bundle to another disk or folder' });
  }
  const progress = (p: PackProgress): void => opts.onProgress?.(p);
  // Volumes written in runs of their own form one set only if every run records the same creation
  // time (it is in the signed root and makes the set id): "now" would differ from run to run, and
  // the county would be told that two disks claim the same version with different content.
  if (opts.volumes && !opts.dryRun && opts.created === undefined && !process.env.SOURCE_DATE_EPOCH) {
    const now = createdTime();
    throw new BookcrateError('USAGE', '--volume writes part of a set in a run of its own, and every run of the set must record the same creation time', {
      hint: `add --created ${now.replace(/\.000Z$/, 'Z')} to this command and to the command of every other volume of the set (or set SOURCE_DATE_EPOCH)`,
    });
  }

  // ---- state: resume or start ----
  // The state is in the first target of the run that began the pack, and a copy of it on another
  // (StateCopy); a resume finds it in any target given, so the disks may be given in another order,
  // or one that failed left out, even the first. Where there are two, the one further on is taken.
  let stateDir = opts.dryRun ? await mkdtemp(join(tmpdir(), 'bookcrate-plan-')) : join(outs[0]!, STATE_DIR);
  let state: State | undefined;
  if (!opts.dryRun) {
    let furthest = -1;
    for (const o of outs) {
      const found = await readJson<State>(join(o, STATE_DIR, 'state.json'));
      if (!found) continue;
      const lines = (await readJournal(join(o, STATE_DIR, 'journal.jsonl'))).length;
      if (lines > furthest) {
        furthest = lines;
        state = found;
        stateDir = join(o, STATE_DIR);
      }
    }
  }
  const digest = argsDigest(source, opts);
  if (state && state.args !== digest && !opts.restart) {
    throw new BookcrateError('RESUME_MISMATCH', `${dirname(stateDir)} holds an unfinished pack made with other arguments or another key`, {
      hint: 'run the earlier command again to finish it, or add --restart to discard it and start over',
    });
  }
  const keys = targets.map(targetKey);
  if (state && !opts.restart && state.outs) {
    // A target the unfinished pack did not write holds none of its finished segments; a target left
    // out is simply no longer written (a disk that failed: the others finish the set).
    const added = targets.filter((t) => !state!.outs!.includes(targetKey(t))).map((t) => t.given);
    if (added.length > 0 && (await readJournal(join(stateDir, 'journal.jsonl'))).length > 0) {
      throw new BookcrateError('RESUME_MISMATCH', `${added.join(', ')} ${added.length === 1 ? 'was' : 'were'} not a target of the unfinished pack in ${dirname(stateDir)}, and would miss the segments it has finished`, {
        hint: `finish the pack on its own targets first (${state.outs.join(', ')}, or fewer), then copy a finished volume folder to the new disk and check it with \`bookcrate verify\`; or add --restart to start over on every disk`,
      });
    }
  }
  if (opts.restart && state) {
    // its copy too, wherever it is: a later resume must not find it
    for (const o of outs) await rm(join(o, STATE_DIR), { recursive: true, force: true });
    state = undefined;
    stateDir = join(outs[0]!, STATE_DIR);
  }
  const statePath = join(stateDir, 'state.json');
  try {
    await mkdir(stateDir, { recursive: true });
  } catch (e) {
    throw asIoError(e, stateDir);
  }
  if (!state) {
    state = { args: digest, created: createdTime(opts.created), outs: keys, scanned: false };
    if (!opts.dryRun) {
      await rm(join(stateDir, 'journal.jsonl'), { force: true });
      await writeFileAtomic(statePath, JSON.stringify(state));
    }
  } else if (!sameList(state.outs, keys)) {
    state.outs = keys;
    await writeFileAtomic(statePath, JSON.stringify(state));
  }
  const inventoryPath = join(stateDir, 'inventory.jsonl');
  const resourcesPath = join(stateDir, 'resources.jsonl');
  const entriesPath = join(stateDir, 'entries.jsonl');
  const membersPath = join(stateDir, 'members.jsonl');
  const journalPath = join(stateDir, 'journal.jsonl');
  const stateCopy = opts.dryRun ? undefined : stateCopyFor(targets, dirname(stateDir));
  const stateHomes = () => new Map([[dirname(stateDir), stateDir], ...(stateCopy ? [[dirname(stateCopy.to), stateCopy.to] as const] : [])]);
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
    // On a fresh start the segments begin while the scan still walks (the early start): the writer
    // follows the inventory as it is written, placing members as if everything fits on one volume,
    // and nothing it does is journaled, named final or put in a manifest tree until the finished
    // scan's plan confirms it. A plan of one volume places every member exactly where the early
    // writer did (the volume's size only matters when a second volume begins), so the work stands;
    // a plan of several volumes, a names error or too small a disk undoes it, and the pack goes
    // on as a pack that scanned first. docs/format.md, section 11 ("Early start").
    const { lines: journal, bytes: journalGood } = opts.dryRun ? { lines: [], bytes: 0 } : await readJournalPrefix(journalPath);
    const set = sha256Hex(`${source.bundle.id}\n${source.bundle.version}\n${state.created}`).slice(0, 16);
    // Earlier packs of this bundle on the targets: found by a fresh start (a dry run lists them),
    // and removed before its first write (old-volumes.ts). A resume's first run removed them already.
    let oldVolumes: OldVolume[] = [];
    if (journal.length === 0) {
      try {
        oldVolumes = await findOldVolumes(outs, source.bundle, set, (out, v) => outsOf(v).includes(out) && (opts.volumes === undefined || opts.volumes.includes(v)));
      } catch (e) {
        if (!opts.dryRun) await rm(stateDir, { recursive: true, force: true }); // nothing written: the corrected command starts afresh
        throw e;
      }
    }
    const early = !opts.dryRun && !state.scanned && journal.length === 0 && opts.volumes === undefined && !assigned;
    const scanOpts = {
      followSymlinks: !!opts.followSymlinks, allowUnportable: !!opts.allowUnportable, nonUtf8: opts.nonUtf8 ?? 'gb18030',
      includeJunk: !!opts.includeJunk,
      onProgress: (p: { files: number; bytes: number; done: boolean }) =>
        progress({ phase: 'scan', filesDone: p.files, filesTotal: p.done ? p.files : 0, bytesDone: p.bytes, bytesTotal: p.done ? p.bytes : 0 }),
    };
    /** Writes down a finished scan; refuses (and removes the state) on a names error. */
    const recordScan = async (scan: SourceScan): Promise<void> => {
      // the resources list is written by the scan, beside the inventory: resourcesPath
      if (scan.resourcesPath !== resourcesPath) throw new BookcrateError('INTERNAL', `the scan wrote its resources list to ${scan.resourcesPath}, not ${resourcesPath}`);
      state!.collections = scan.collections;
      state!.totals = scan.totals;
      state!.spans = scan.spans;
      state!.issues = scan.issues;
      state!.scanned = true;
      if (scan.issues.errors > 0 && !opts.dryRun) {
        await rm(stateDir, { recursive: true, force: true });
        throw new BookcrateError('NAME_POLICY', `${scan.issues.errors} name problem(s) stop the pack; nothing was written`, {
          hint: 'rename the files listed, or pass --allow-unportable-names to keep names Windows cannot hold; run with --dry-run to list them again',
          details: state!.issues,
        });
      }
      if (!opts.dryRun) await writeFileAtomic(statePath, JSON.stringify(state));
    };
    /** The finished scan's plan: every volume, segment and member's place. */
    /**
     * After a plan refused for these arguments (USAGE: a --disk-size that holds no segment, a volume
     * the plan lacks, a volume left to another run without --created), or a catalog the scan refused
     * (RECIPE: not in its encoding, an id given twice), a fresh pack's state goes:
     * nothing was written under them, the same arguments can only be refused again, and the
     * corrected command then starts afresh instead of being told to --restart. A resume's stays.
     */
    const forgetRefusedPlan = async (e: unknown): Promise<void> => {
      if ((isBookcrateError(e, 'USAGE') || isBookcrateError(e, 'RECIPE')) && !opts.dryRun && journal.length === 0) await rm(stateDir, { recursive: true, force: true });
    };
    const makePlan = async (): Promise<{ plan: VolumePlan; layoutOpts: LayoutOptions }> => {
      const totals = state!.totals!;
      // A wrong path (an empty folder, a recipe whose collections hold nothing) would otherwise
      // "pack" a set of no volumes and say it succeeded.
      if (totals.files + totals.dirs === 0) {
        throw new BookcrateError('USAGE', `nothing to pack: ${opts.input} holds no files (after leaving out junk and what the name policy skips)`, {
          hint: 'check the path: a folder\'s top folders are its collections; a recipe names each collection\'s source folder',
        });
      }
      const layoutOpts = {
        segmentSize: opts.segmentSize ?? DEFAULT_SEGMENT_SIZE,
        volumeCapacity: volumeCapacity(opts.diskSize ?? DEFAULT_DISK_SIZE, totals.files + totals.dirs, totals.resources),
      };
      const planner = new VolumePlanner(layoutOpts, new Map(state!.spans!));
      let planned = 0;
      for await (const item of readInventory(inventoryPath)) {
        planner.add(item);
        if (++planned % 65536 === 0) progress({ phase: 'plan', filesDone: planned, filesTotal: totals.files + totals.dirs, bytesDone: 0, bytesTotal: 0 });
      }
      const plan = planner.finish();
      progress({ phase: 'plan', filesDone: planned, filesTotal: planned, bytesDone: 0, bytesTotal: 0 });
      return { plan, layoutOpts };
    };
    const growth = new InventoryGrowth();
    let scanning: Promise<SourceScan> | undefined;
    if (early) {
      scanning = scanSource(source, inventoryPath, { ...scanOpts, onWritten: (n) => growth.grew(n) }).finally(() => growth.end());
      scanning.catch(() => undefined); // awaited below, after the writer has started
    } else if (!state.scanned) {
      let scan: SourceScan;
      try {
        scan = await scanSource(source, inventoryPath, scanOpts);
      } catch (e) {
        await forgetRefusedPlan(e); // a catalog the scan refuses (RECIPE): corrected, it starts afresh
        throw e;
      }
      await recordScan(scan);
    }
    const bundle = { id: source.bundle.id, version: source.bundle.version, title: source.bundle.title, created: state.created };
    let earlyStart: PackResult['earlyStart'];
    // What the writer needs of the plan: the real one, or the early start's guess of one volume.
    let plan: VolumePlan | undefined;
    let layoutOpts: LayoutOptions;
    let selected: Set<number>;
    let volumeCount: number;
    let filesTotal = 0;
    let bytesTotal = 0;
    if (early) {
      layoutOpts = { segmentSize: opts.segmentSize ?? DEFAULT_SEGMENT_SIZE, volumeCapacity: EARLY_VOLUME_CAPACITY };
      selected = new Set([1]);
      volumeCount = 1;
    } else {
      try {
        ({ plan, layoutOpts } = await makePlan());
      } catch (e) {
        await forgetRefusedPlan(e);
        throw e;
      }
      selected = new Set(assigned ? targets.map((t) => t.volume!) : opts.volumes ?? plan.volumes.map((v) => v.index));
      for (const v of selected) {
        if (v < 1 || v > plan.volumes.length) {
          const e = new BookcrateError('USAGE', `${assigned ? `--out ${targets.find((t) => t.volume === v)!.given}` : `--volume ${v}`}: the plan has ${plan.volumes.length} volume(s)`, { hint: 'run with --dry-run to see the plan' });
          await forgetRefusedPlan(e);
          throw e;
        }
      }
      // Targets of their own volume that leave a volume of the set to another run: that run must
      // record the same creation time, as for --volume (a resume has its own already).
      const unwritten = plan.volumes.map((v) => v.index).filter((v) => !selected.has(v));
      if (assigned && unwritten.length > 0 && !opts.dryRun && journal.length === 0 && opts.created === undefined && !process.env.SOURCE_DATE_EPOCH) {
        const e = new BookcrateError('USAGE', `no --out is given for volume(s) ${unwritten.join(', ')} of the ${plan.volumes.length}; writing them in a run of their own needs every run of the set to record the same creation time`, {
          hint: `add an --out <n>:<dir> for each of them, or add --created ${state.created.replace(/\.000Z$/, 'Z')} to this command and to the command of the other volumes`,
        });
        await forgetRefusedPlan(e);
        throw e;
      }
      if (opts.dryRun) {
        return {
          dryRun: true, bundle, set, plan, issues: state.issues!, written: [], resumedSegments: 0, verify: [], replaced: oldVolumes,
          seconds: (Date.now() - started) / 1000, bytesRead: 0,
          ...(assigned ? { targets: plan.volumes.map((v) => ({ volume: v.index, dirs: selected.has(v.index) ? outsOf(v.index) : [] })) } : {}),
        };
      }
      volumeCount = plan.volumes.length;
      filesTotal = state.totals!.files + state.totals!.dirs;
      bytesTotal = plan.volumes.reduce((a, v) => a + v.segmentBytes, 0);
    }
    const volDir = (out: string, v: number): string => join(out, volumeDirName(source.bundle.id, v, volumeCount));

    // ---- write segments ----
    await checkFileSizeLimit(outs, layoutOpts.segmentSize);
    await retireOldVolumes(oldVolumes).catch((e: unknown) => {
      throw asIoError(e, oldVolumes[0]!.out);
    });
    const done = journal.length;
    const last = journal[done - 1];
    await truncateOrCreate(entriesPath, last?.entriesBytes ?? 0);
    await truncateOrCreate(membersPath, last?.membersBytes ?? 0);
    // A line torn by a power cut goes, so that the next ones are read after the good ones.
    await truncateOrCreate(journalPath, journalGood);
    let journalBytes = journalGood;
    if (plan) await checkSpace(targets, plan, selected, journal, undefined, await besideSegments(state.totals!, stateHomes(), inventoryPath, resourcesPath));
    const entries = new LineLog(entriesPath, last?.entriesBytes ?? 0);
    const members = new LineLog(membersPath, last?.membersBytes ?? 0);
    const FILES = 0;
    const MEMBERS = 1;
    const RESOURCES = 2;
    // The manifest trees are built by their own thread while the segments are written (see
    // TreeThread): their thousands of small part files are written behind the data, not in a
    // finalize step after it. All are written, and synced by flushTree, before the root that names
    // them. The thread starts once the plan is known (at once, or when the early start is
    // confirmed); the lines logged before it starts go into the trees first, as after a resume.
    let trees: TreeThread | undefined;
    const startTrees = async (): Promise<TreeThread> => {
      const metaDirs: string[] = [];
      for (const v of selected) for (const o of outsOf(v)) metaDirs.push(volDir(o, v));
      for (const d of metaDirs) {
        await mkdir(volumePaths(d).parts, { recursive: true }).catch((e: unknown) => {
          throw asIoError(e, volumePaths(d).parts);
        });
      }
      await entries.flush();
      await members.flush();
      const t = (treeThread = new TreeThread(
        [{ key: 'path', repeats: false }, { key: 'path', repeats: true, shape: MEMBERS_TREE_SHAPE }, { key: 'id', repeats: false }],
        metaDirs.map((d) => volumePaths(d).parts),
      ));
      t.replay(FILES, entriesPath, entries.length);
      t.replay(MEMBERS, membersPath, members.length);
      t.replay(RESOURCES, resourcesPath, (await stat(resourcesPath)).size); // complete since the scan
      return (trees = t);
    };
    if (!early) await startTrees();
    const addEntry = async (line: string): Promise<void> => {
      await entries.add(line);
      await trees?.add(FILES, line);
    };
    const addMember = async (line: string): Promise<void> => {
      await members.add(line);
      await trees?.add(MEMBERS, line);
    };
    // Settled when the early start is confirmed (or at once without one); rejected when it is undone.
    let confirm!: () => void;
    let undo!: (e: Error) => void;
    const confirmed = new Promise<void>((res, rej) => {
      confirm = res;
      undo = rej;
    });
    confirmed.catch(() => undefined);
    if (!early) confirm();
    const segInfos: SegmentInfo[] = journal.map((j) => j.info);
    let bytesDone = journal.reduce((a, j) => a + j.info.size, 0);
    let filesDone = 0;
    let writer: SegmentWriter | undefined;
    let writerSeg = 0;
    let writerVol = 0;
    // The segment before, being made durable and journaled while the next one is written. One at
    // a time, in order: a journal line is written only after every line before it. An early
    // segment waits for the confirmation before it takes its final name.
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
        try {
          await confirmed;
        } catch (e) {
          await w.abort();
          throw e;
        }
        await w.seal();
        await entries.sync();
        await members.sync();
        const text = JSON.stringify(line) + '\n';
        await appendFile(journalPath, text);
        const jh = await open(journalPath, 'a');
        await jh.sync();
        await jh.close();
        journalBytes += Buffer.byteLength(text);
        await stateCopy?.follow({ entriesBytes: line.entriesBytes, membersBytes: line.membersBytes, journalBytes });
      })();
      sealing.catch(() => undefined); // awaited by the next segment, or after the last
    };
    const writePlanner = new VolumePlanner(layoutOpts, new Map(state.spans ?? []));
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
    // The early start's verdict, given by the finished scan while the writer goes on.
    let undone: Error | undefined;
    let confirmedNow = false;
    const writing = (async () => {
      try {
        const items = early ? followInventory(inventoryPath, growth) : readInventory(inventoryPath);
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
          if (undone) throw undone;
          if (!trees && confirmedNow) await startTrees();
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
                const paths = selected.has(p.volume) ? outsOf(p.volume).map((o) => volumePaths(volDir(o, p.volume)).segment(name)) : [];
                writer = await SegmentWriter.create(name, paths, pool, hashes);
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
          if (trees && Date.now() - lastProgress > 200) { // no progress before the plan is known
            lastProgress = Date.now();
            progress({ phase: 'write', filesDone, filesTotal, bytesDone, bytesTotal, volume: writerVol });
          }
        }
        await closeSegment();
        await confirmed;
        if (!trees) await startTrees();
        await sealing;
      } catch (e) {
        for (const d of pendingEntries) d.catch(() => undefined); // never logged: the hashing thread closes under them
        await writer?.abort();
        await sealing.catch(() => undefined);
        throw e;
      }
    })();
    writing.catch(() => undefined); // awaited below
    let scanFirst = false;
    try {
      if (early) {
        /** Stops the early writer, removes what it made, and returns the reason to rethrow. */
        const undoEarly = async (why: Error): Promise<Error> => {
          undone = why;
          undo(why);
          await writing.catch(() => undefined);
          await removeEarlyOutput(outs.map((o) => volDir(o, 1)));
          return why;
        };
        let scan: SourceScan;
        try {
          scan = await scanning!;
        } catch (e) {
          const why = await undoEarly(e as Error);
          await forgetRefusedPlan(why); // a catalog the scan refuses (RECIPE): corrected, it starts afresh
          throw why;
        }
        if (scan.issues.errors > 0) await undoEarly(new EarlyStartUndone('a names error'));
        await recordScan(scan); // throws NAME_POLICY on a names error, having removed the state
        try {
          ({ plan, layoutOpts } = await makePlan());
        } catch (e) {
          // A plan refused (a --disk-size that holds no segment): the early writer is stopped and
          // what it made removed, as for any other refusal; left running, its digests were
          // rejected under it when the hashing thread closed, and the process died of that.
          const why = await undoEarly(e as Error);
          await forgetRefusedPlan(why);
          throw why;
        }
        if (plan.volumes.length !== 1) {
          earlyStart = { outcome: 'undone', reason: `the plan has ${plan.volumes.length} volumes`, bytesBeforeVerdict: bytesDone };
          await undoEarly(new EarlyStartUndone('several volumes'));
          scanFirst = true;
        } else {
          try {
            await checkSpace(targets, plan, selected, [], (o) => volDir(o, 1), await besideSegments(state.totals!, stateHomes(), inventoryPath, resourcesPath));
          } catch (e) {
            throw await undoEarly(e as Error);
          }
          earlyStart = { outcome: 'kept', bytesBeforeVerdict: bytesDone };
          filesTotal = state.totals!.files + state.totals!.dirs;
          bytesTotal = plan.volumes[0]!.segmentBytes;
          confirmedNow = true;
          confirm();
        }
      }
      if (!scanFirst) await writing;
    } finally {
      await reads.close();
      await hashes.close();
    }
    if (scanFirst) {
      // Several volumes: the scan is recorded, so the same pack run again writes as one that
      // scanned first (never --restart, which would scan and start early again).
      hashThread = undefined;
      const again = await pack({ ...opts, restart: false });
      again.seconds = (Date.now() - started) / 1000;
      again.earlyStart = earlyStart;
      again.replaced = [...oldVolumes, ...again.replaced]; // removed by this run, before its early start
      return again;
    }
    const finalPlan = plan!;
    const result: PackResult = {
      dryRun: false, bundle, set, plan: finalPlan, issues: state.issues!, written: [], resumedSegments: done, verify: [], replaced: oldVolumes,
      seconds: 0, bytesRead: reads.bytesRead, ...(earlyStart ? { earlyStart } : {}),
      ...(assigned ? { targets: finalPlan.volumes.map((v) => ({ volume: v.index, dirs: selected.has(v.index) ? outsOf(v.index) : [] })) } : {}),
    };
    progress({ phase: 'write', filesDone, filesTotal, bytesDone: bytesTotal, bytesTotal });

    // ---- finalize: the last parts of the manifest trees, root, signature, per-volume files ----
    const key = opts.key!;
    progress({ phase: 'finalize', filesDone, filesTotal, bytesDone: bytesTotal, bytesTotal });
    const totals = state.totals!;
    const [filesTree, membersTree, resourcesTree] = (await trees!.finish()) as [TreeRef, TreeRef, TreeRef];
    await trees!.close();
    const volumes = finalPlan.volumes.map((v) => ({ index: v.index, segments: [] as SegmentInfo[] }));
    segInfos.forEach((info, i) => {
      const vol = volumeOfSegment(i + 1, journal, finalPlan);
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
      for (const o of outsOf(v)) {
        const d = volDir(o, v);
        const p = volumePaths(d);
        await flushTree(p.parts);
        await writeFileAtomic(p.root, rootBytes);
        await writeFileAtomic(p.sig, sig);
        await writeFileAtomic(p.pubkey, publicKeyPem(key));
        await writeFileAtomic(p.readme, volumeReadme(root, v, fp, finalPlan.volumes[v - 1]!.collections));
        // volume.json last: its presence is what makes the folder a volume.
        await writeFileAtomic(p.volume, encodeVolumeDoc({ format: FORMAT, set, volume: v, volumes: finalPlan.volumes.length, root: sha256Hex(rootBytes) }));
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
    // The copy first: a copy left alone by a crash here would be taken for an unfinished pack.
    if (stateCopy) {
      await stateCopy.remove();
      await fsyncDir(dirname(stateCopy.to));
    }
    await rm(stateDir, { recursive: true, force: true });
    await fsyncDir(dirname(stateDir));
    result.seconds = (Date.now() - started) / 1000;
    return result;
  } catch (e) {
    throw withoutFailedTarget(e, targets, dirname(stateDir), stateCopy?.holdsWork ? dirname(stateCopy.to) : undefined);
  } finally {
    await hashThread?.hashes.close();
    await treeThread?.close();
    if (opts.dryRun) await rm(stateDir, { recursive: true, force: true });
  }
}

/**
 * A write to one of several targets failed (a full disk, or one that failed or was pulled): the
 * others need not wait for it. The hint adds how to go on without it (State.outs).
 */
function withoutFailedTarget(e: unknown, targets: PackTarget[], stateHome: string, copyHome: string | undefined): unknown {
  if (targets.length < 2 || !isBookcrateError(e) || (e.code !== 'NO_SPACE' && e.code !== 'IO') || e.hint?.includes('without --out')) return e;
  const failed = targets.filter((t) => e.message.includes(t.dir + sep)).sort((a, b) => b.dir.length - a.dir.length)[0];
  if (!failed) return e;
  // The state is on stateHome, and a copy of it on copyHome once a segment is journaled: only a
  // disk that held the one and lacks the other makes the others start over.
  const how = failed.dir === stateHome && (copyHome === undefined || copyHome === failed.dir)
    ? `to write the other disks without it, run the same command without --out ${failed.given} (it held the pack's journal, so they start over)`
    : `to finish the other disks without it, run the same command without --out ${failed.given}: they keep the segments they have finished`;
  return new BookcrateError(e.code, e.message, { hint: e.hint ? `${e.hint}; or, ${how}` : how, cause: e, details: e.details, ...(e.say ? { say: e.say } : {}) });
}

/**
 * Where the copy of the state goes (StateCopy): the next target that gets the same volumes as the
 * state's own, so that a resume from it finds the finished segments of those volumes there. None
 * for a single target, or where each volume goes to one disk only (`--out <n>:<dir>`, once each).
 */
function stateCopyFor(targets: PackTarget[], stateHome: string): StateCopy | undefined {
  const home = targets.find((t) => t.dir === stateHome);
  if (!home) return undefined;
  const other = targets.find((t) => t !== home && t.volume === home.volume);
  return other ? new StateCopy(join(stateHome, STATE_DIR), join(other.dir, STATE_DIR)) : undefined;
}

function sameList(a: string[] | undefined, b: string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Why an early start was undone (see "scan" in pack). */
class EarlyStartUndone extends Error {
  constructor(readonly reason: string) {
    super(`the early start was undone: ${reason}`);
  }
}

/** After an early start was undone: its segments' folders, now empty, go too (nothing else was in them for it). */
async function removeEarlyOutput(volumeDirs: string[]): Promise<void> {
  for (const d of volumeDirs) {
    for (const dir of [volumePaths(d).segments, d]) await rmdir(dir).catch(() => undefined);
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
  if (await syncFilesystem(dir)) return;
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    // Windows fsyncs only through a handle that may write (FSYNC_OPEN in @bookcrate/store)
    const h = await open(join(dir, n), process.platform === 'win32' ? 'r+' : 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  }
  await fsyncDir(dir);
}

/** Linux's f_type of a FAT filesystem (vfat: FAT12/16/32), whose files end at 4 GiB − 1 byte. */
const MSDOS_SUPER_MAGIC = 0x4d44;
const FAT_LARGEST_FILE = 2 ** 32 - 1;

/**
 * Refuses, before anything is written, a segment size a target's filesystem cannot hold: a FAT32
 * disk would take 4 GiB of the first segment and then fail (EFBIG), hours into a pack. (The
 * default segment size fits FAT32; only a larger --segment-size meets this.)
 */
async function checkFileSizeLimit(outs: string[], segmentSize: number): Promise<void> {
  if (segmentSize <= FAT_LARGEST_FILE || process.platform === 'win32') return;
  for (const o of outs) {
    // a target not made yet goes on the filesystem of the nearest folder above it that is there
    let fs: Awaited<ReturnType<typeof statfs>> | undefined;
    for (let d = resolve(o); !fs; d = dirname(d)) {
      fs = await statfs(d).catch(() => undefined);
      if (dirname(d) === d) break;
    }
    if (fs?.type !== MSDOS_SUPER_MAGIC) continue;
    throw new BookcrateError('USAGE', `--out ${o} is a FAT32 disk, which holds no file over 4 GiB − 1 byte, and --segment-size is ${formatSize(segmentSize)}`, {
      hint: 'leave --segment-size out (the default fits FAT32), or format the disk as exFAT or NTFS',
    });
  }
}

/**
 * Room a pack takes on its targets beside the segments: each volume's own files (the whole set's
 * manifest, sized as the plan reserves it), and on the target that holds the pack's state and the
 * one that holds its copy, the state itself, which is removed only after the manifests are
 * written. The state's inventory is on disk already; the manifest logs it grows by (entries,
 * members) are, line for line, shorter than the inventory (~200 against ~240 bytes a file, with
 * the same paths), so the state ends below twice the inventory.
 */
interface BesideSegments {
  metadataBytes: number;
  /** target folder → its state folder */
  stateDirs: Map<string, string>;
  stateBytesAtEnd: number;
}

async function besideSegments(totals: NonNullable<State['totals']>, stateDirs: Map<string, string>, inventoryPath: string, resourcesPath: string): Promise<BesideSegments> {
  const size = async (p: string) => (await stat(p).catch(() => undefined))?.size ?? 0;
  return {
    metadataBytes: metadataRoom(totals.files + totals.dirs, totals.resources),
    stateDirs,
    stateBytesAtEnd: 2 * (await size(inventoryPath)) + (await size(resourcesPath)),
  };
}

/** Bytes of the files in a folder and below it (0 for a folder that is not there). */
async function treeBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const name of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile()) sum += st.size;
  }
  return sum;
}

/**
 * Refuses to start when a target cannot hold what is left to write (the check a full disk would
 * make hours later): the segments still to write, each volume's manifest and, where the pack's state
 * or its copy is, what that state still grows by.
 */
async function checkSpace(targets: PackTarget[], plan: VolumePlan, selected: Set<number>, journal: JournalLine[], earlyVolume: ((target: string) => string) | undefined, beside: BesideSegments): Promise<void> {
  const written = new Map<number, number>();
  for (const j of journal) written.set(j.volume, (written.get(j.volume) ?? 0) + j.info.size);
  for (const { dir: o, volume } of targets) {
    let segments = 0;
    let volumes = 0;
    for (const v of plan.volumes) {
      if (!selected.has(v.index) || (volume !== undefined && volume !== v.index)) continue;
      segments += v.segmentBytes - (written.get(v.index) ?? 0);
      volumes++;
    }
    const metadata = volumes * beside.metadataBytes;
    const stateDir = beside.stateDirs.get(o);
    const state = stateDir ? Math.max(0, beside.stateBytesAtEnd - (await treeBytes(stateDir))) : 0;
    const need = segments + metadata + state;
    await mkdir(o, { recursive: true }).catch((e) => {
      throw asIoError(e, o);
    });
    const fs = await statfs(o);
    // What the early start wrote of its one volume while the scan ran is removed if this refuses,
    // and the command run again writes it again: it counts as free, and the whole volume as needed.
    // (Read off the disk: bytes still in the writer's buffers are in neither figure.)
    const early = earlyVolume ? await treeBytes(earlyVolume(o)) : 0;
    const free = fs.bavail * fs.bsize + early;
    if (free < need) {
      const parts = [`${formatSize(segments)} of segments`, `${formatSize(metadata)} for the manifest`];
      if (state > 0) parts.push(`${formatSize(state)} for the pack's own state until it ends`);
      throw new BookcrateError('NO_SPACE', `${o} has ${free} bytes free, the volume(s) to write need ${need} bytes (${parts.join(', ')})`, {
        hint: 'use a larger disk or a smaller --disk-size, or give each volume disks of its own (--out 1:<disk> --out 2:<disk>)',
      });
    }
  }
}
