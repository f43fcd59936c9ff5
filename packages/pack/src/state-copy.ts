import { mkdir, open, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { asIoError, writeFileAtomic } from './fsutil.js';

/**
 * A second copy of an unfinished pack's state (its folder `.bookcrate-pack`: state.json, the
 * inventory, the resources list, the manifest logs and the journal) on another of the disks being
 * written, kept one journal line behind the first at most. The state lives on the first target;
 * when that disk fails (a bad new disk, a cable pulled), the same command without it resumes the
 * others from this copy, keeping every segment they finished, instead of starting them over
 * (docs/format.md section 11, "A pack to several disks").
 *
 * After each journal line of the state (a segment sealed on every disk), `follow` brings the copy
 * up to it: the first time every file whole (the inventory and the resources list are complete
 * by then), afterwards what the manifest logs grew by, the new journal line, and state.json. The
 * logs are written before the journal line, as in the state itself: a resume cuts the logs back to
 * the journal's lengths, so a crash between the two leaves a copy that resumes where its journal says.
 */
export class StateCopy {
  private started = false;
  /** bytes of each log already in the copy */
  private readonly copied = new Map<string, number>();

  constructor(
    /** the state folder */
    private readonly from: string,
    /** the copy's folder, on another target */
    readonly to: string,
  ) {}

  /** Whether the copy holds at least one journal line (a resume from it keeps finished segments). */
  get holdsWork(): boolean {
    return this.started;
  }

  /** Brings the copy up to the state as journaled: the logs to these lengths, the journal whole. */
  async follow(lengths: { entriesBytes: number; membersBytes: number; journalBytes: number }): Promise<void> {
    if (!this.started) {
      // Whatever an earlier run left there (a copy of another pack's state, or an older one of this) goes first.
      await rm(this.to, { recursive: true, force: true });
      await this.named(this.to, () => mkdir(this.to, { recursive: true }));
      for (const name of ['inventory.jsonl', 'resources.jsonl']) {
        const size = await this.named(join(this.from, name), async () => (await stat(join(this.from, name))).size);
        await this.append(name, size);
      }
    }
    await this.append('entries.jsonl', lengths.entriesBytes);
    await this.append('members.jsonl', lengths.membersBytes);
    await this.append('journal.jsonl', lengths.journalBytes);
    // state.json: small, and rewritten by the pack now and then (spans, targets): copied whole each time.
    const doc = await this.named(join(this.from, 'state.json'), () => readFile(join(this.from, 'state.json')));
    await this.named(join(this.to, 'state.json'), () => writeFileAtomic(join(this.to, 'state.json'), doc));
    this.started = true;
  }

  /** Removes the copy (the pack finished, or starts over). */
  async remove(): Promise<void> {
    await rm(this.to, { recursive: true, force: true });
  }

  /** Appends bytes [copied, upTo) of the state's file `name` to the copy's, and syncs them. */
  private async append(name: string, upTo: number): Promise<void> {
    const done = this.copied.get(name) ?? 0;
    if (upTo <= done && this.started) return;
    const from = join(this.from, name);
    const to = join(this.to, name);
    const src = await this.named(from, () => open(from, 'r'));
    let dst: FileHandle | undefined;
    try {
      dst = await this.named(to, () => open(to, done === 0 ? 'w' : 'r+'));
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let at = done; at < upTo;) {
        const { bytesRead } = await this.named(from, () => src.read(buf, 0, Math.min(buf.length, upTo - at), at));
        if (bytesRead === 0) throw new Error(`${from} ends at byte ${at}, before ${upTo}`);
        await this.named(to, () => dst!.write(buf, 0, bytesRead, at));
        at += bytesRead;
      }
      await this.named(to, async () => {
        await dst!.truncate(upTo);
        await dst!.sync();
      });
    } finally {
      await src.close().catch(() => undefined);
      await dst?.close().catch(() => undefined);
    }
    this.copied.set(name, upTo);
  }

  /**
   * A failure is named by the path it happened on, as any failure of a target: reading the state
   * (its disk failed) or writing the copy (the copy's disk failed), so that the way out the pack
   * gives names the right disk.
   */
  private async named<T>(path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw asIoError(e, path);
    }
  }
}
