import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BookcrateError, decodeRoot, writeError, repoPaths, sha256Hex, type PartLoader, type PartRef, type Root } from '@bookcrate/format';
import { fsyncDir } from '@bookcrate/pack';
import { syncObjects } from '@bookcrate/store';

/** The publisher's private folder inside the repository (not part of the served layout; nginx's usual `location ~ /\.` rule denies it). */
export const STATE_DIR = '.bookcrate-publish';

/** A full disk or a failing one becomes an error that says what to do next. */
export function repoIoError(e: unknown, path: string): Error {
  return writeError(e, path, {
    full: `the repository's disk is full (writing ${path})`,
    fullHint: 'free some space (or lower --keep), then run the same command again: everything already written is reused',
    ioHint: 'check the --repo folder, its disk and its permissions',
  });
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/**
 * Writing into a repository (docs/repository.md, section 2). Everything but `latest.json` is named
 * by its SHA-256 and never changes, so a write is idempotent: a file that exists under its final
 * name is complete (it was synced before the rename that gave it that name) and is not rewritten.
 * Temp files live in the private tmp/ folder on the same filesystem, so renames are atomic and no
 * half-written file ever appears at a served path.
 */
export class Repo {
  readonly state: string;
  readonly tmp: string;
  /** Folders that received a rename since the last `syncDirs` (fsynced once each, not once per file). */
  private readonly touched = new Set<string>();
  private readonly made = new Set<string>();
  private seq = 0;

  constructor(readonly dir: string) {
    this.state = join(dir, STATE_DIR);
    this.tmp = join(this.state, 'tmp');
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  tmpPath(kind: string): string {
    // Unique without randomness: tmp/ is emptied at the start of every run, and the lock makes runs exclusive.
    return join(this.tmp, `${kind}-${process.pid}-${++this.seq}`);
  }

  /** Empties tmp/: what a killed run left there is never needed (finished files were renamed out). */
  async resetTmp(): Promise<void> {
    try {
      await this.removeTmp();
      await this.ensureDir(this.tmp);
    } catch (e) {
      throw repoIoError(e, this.tmp);
    }
  }

  async removeTmp(): Promise<void> {
    this.made.delete(this.tmp);
    await rm(this.tmp, { recursive: true, force: true });
  }

  private async ensureDir(d: string): Promise<void> {
    if (this.made.has(d)) return;
    await mkdir(d, { recursive: true });
    this.made.add(d);
  }

  /** Moves a finished, fsynced temp file to its final name; the folder is fsynced by `syncDirs`. */
  async place(tmp: string, final: string): Promise<void> {
    const d = dirname(final);
    try {
      await this.ensureDir(d);
      await rename(tmp, final);
    } catch (e) {
      throw repoIoError(e, final);
    }
    this.touched.add(d);
  }

  /** Writes bytes to a temp file, fsyncs it and renames it to `final`; `syncDir` fsyncs the folder now. */
  async writeAtomic(final: string, bytes: Buffer, syncDir = false): Promise<void> {
    const tmp = this.tmpPath('w');
    try {
      await this.ensureDir(this.tmp);
      const h = await open(tmp, 'w');
      try {
        await h.writeFile(bytes);
        await h.sync();
      } finally {
        await h.close();
      }
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw repoIoError(e, final);
    }
    await this.place(tmp, final);
    if (syncDir) await this.syncDirs();
  }

  /**
   * Staged files: written to tmp/ but not yet synced nor named. `commit` makes a whole batch durable
   * with one syncfs (instead of an fsync per small file: a million-file bundle has a million objects)
   * and only then renames each to its final name, so a file under its final name is always complete.
   */
  private readonly staged = new Map<string, string>(); // final path → temp path
  private stagedBytes = 0;
  static readonly BATCH_FILES = 1024;
  static readonly BATCH_BYTES = 512 * 1024 * 1024;

  /** Present under its final name, or staged to be: either way, not to be written again. */
  async has(final: string): Promise<boolean> {
    return this.staged.has(final) || (await exists(final));
  }

  async stage(tmp: string, final: string, bytes: number): Promise<void> {
    this.staged.set(final, tmp);
    this.stagedBytes += bytes;
    if (this.staged.size >= Repo.BATCH_FILES || this.stagedBytes >= Repo.BATCH_BYTES) await this.commit();
  }

  async commit(): Promise<void> {
    if (this.staged.size === 0) return;
    await syncObjects(this.tmp, [...this.staged.values()], repoIoError);
    for (const [final, tmp] of this.staged) await this.place(tmp, final);
    this.staged.clear();
    this.stagedBytes = 0;
  }

  /** Stages a manifest part unless it is there already; true if it is new. */
  async putPart(sha256: string, bytes: Buffer): Promise<boolean> {
    const final = this.path(repoPaths.part(sha256));
    if (await this.has(final)) return false;
    const tmp = this.tmpPath('part');
    try {
      await writeFile(tmp, bytes);
    } catch (e) {
      throw repoIoError(e, tmp);
    }
    await this.stage(tmp, final, bytes.length);
    return true;
  }

  objectPath(sha256: string): string {
    return this.path(repoPaths.object(sha256));
  }

  hasObject(sha256: string): Promise<boolean> {
    return this.has(this.objectPath(sha256));
  }

  /** Makes every rename so far durable: after this, a power cut cannot lose a file a root will name. */
  async syncDirs(): Promise<void> {
    for (const d of this.touched) await fsyncDir(d);
    this.touched.clear();
  }

  /** Reads manifest parts from the repository; `readTreeLines` checks each against its parent's hash. */
  readonly loadPart: PartLoader = async (ref: PartRef) => {
    try {
      return await readFile(this.path(repoPaths.part(ref.sha256)));
    } catch (e) {
      throw new BookcrateError('DAMAGED', `manifest part ${ref.sha256} is missing from the repository ${this.dir}`, {
        hint: 'a file of a published version was deleted by hand; publish with --rehash into a new repository, or restore the file',
        cause: e,
      });
    }
  };

  /** A published root, checked against the SHA-256 it is stored under. */
  async readRoot(sha256: string): Promise<{ root: Root; bytes: Buffer }> {
    const p = this.path(repoPaths.root(sha256));
    let bytes: Buffer;
    try {
      bytes = await readFile(p);
    } catch (e) {
      throw new BookcrateError('DAMAGED', `the root of a published version (${p}) is missing`, {
        hint: 'a file of a published version was deleted by hand; restore it, or publish into a new repository',
        cause: e,
      });
    }
    if (sha256Hex(bytes) !== sha256) {
      throw new BookcrateError('DAMAGED', `the root ${p} does not match its name (it was changed after publishing)`, {
        hint: 'restore the file from a backup, or publish into a new repository',
      });
    }
    return { root: decodeRoot(bytes), bytes };
  }

  /** Names in a folder, or none if it does not exist. */
  async list(rel: string): Promise<string[]> {
    return readdir(this.path(rel)).catch(() => [] as string[]);
  }
}
