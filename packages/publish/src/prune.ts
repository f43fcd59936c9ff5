import { appendFile, mkdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readTreeLines, treePartRefs } from '@bookcrate/format';
import type { HistoryEntry } from './history.js';
import { repoIoError, type Repo } from './repo.js';

export interface SweepResult {
  roots: number;
  parts: number;
  objects: number;
  bytes: number;
}

/**
 * The SHA-256s a set of versions uses, spilled to disk in 256 buckets by their first two hex digits —
 * the same split as the repository's `<aa>/` folders. Sweeping a folder then loads only its bucket,
 * so memory is about (distinct objects of the kept versions) / 256 names at a time: ~4,000 for a
 * million files, whatever the bundle's size.
 */
class RefBuckets {
  private pending = new Map<string, string[]>();
  private count = 0;
  constructor(private readonly dir: string) {}

  async add(sha256: string): Promise<void> {
    const b = sha256.slice(0, 2);
    let list = this.pending.get(b);
    if (!list) this.pending.set(b, (list = []));
    list.push(sha256);
    if (++this.count >= 65536) await this.flush();
  }

  async flush(): Promise<void> {
    for (const [b, list] of this.pending) {
      const p = join(this.dir, b);
      try {
        await appendFile(p, list.join('\n') + '\n');
      } catch (e) {
        throw repoIoError(e, p);
      }
    }
    this.pending.clear();
    this.count = 0;
  }

  async load(bucket: string): Promise<Set<string>> {
    const text = await readFile(join(this.dir, bucket), 'utf8').catch(() => '');
    return new Set(text.split('\n').filter(Boolean));
  }
}

const SHARD = /^[0-9a-f]{2}$/;

/**
 * Deletes every root, manifest part and object that none of `kept` uses: the versions retention
 * dropped, and whatever a killed run left unreferenced. It reads the kept versions' trees as a
 * stream and never deletes a file it does not recognise by name. Safe to kill at any point: it only
 * deletes files no kept version names, and the next run sweeps again.
 */
export async function sweep(repo: Repo, kept: HistoryEntry[], onProgress: (walked: number) => void): Promise<SweepResult> {
  const dir = repo.tmpPath('refs');
  await mkdir(join(dir, 'parts'), { recursive: true });
  await mkdir(join(dir, 'objects'), { recursive: true });
  const parts = new RefBuckets(join(dir, 'parts'));
  const objects = new RefBuckets(join(dir, 'objects'));
  const roots = new Set(kept.map((v) => v.root));
  let walked = 0;
  for (const v of kept) {
    const { root } = await repo.readRoot(v.root);
    const trees = [['files', root.files], ['resources', root.resources], ...(root.chunks ? [['chunks', root.chunks] as const] : [])] as const;
    for (const [name, tree] of trees) for await (const ref of treePartRefs(tree, repo.loadPart, name)) await parts.add(ref.sha256);
    for await (const line of readTreeLines(root.files, repo.loadPart, 'files')) {
      const sha = (JSON.parse(line) as { sha256?: string }).sha256;
      if (sha) await objects.add(sha);
      if (++walked % 65536 === 0) onProgress(walked);
    }
  }
  await parts.flush();
  await objects.flush();
  onProgress(walked);

  const out: SweepResult = { roots: 0, parts: 0, objects: 0, bytes: 0 };
  const remove = async (p: string): Promise<void> => {
    try {
      const st = await stat(p);
      await unlink(p);
      out.bytes += st.size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw repoIoError(e, p);
    }
  };
  for (const name of await repo.list('roots')) {
    const m = /^([0-9a-f]{64})\.(json|sig)$/.exec(name);
    if (m && !roots.has(m[1]!)) {
      await remove(repo.path(`roots/${name}`));
      if (m[2] === 'json') out.roots++;
    }
  }
  for (const [top, buckets, suffix] of [['parts', parts, '.jsonl'], ['objects', objects, '']] as const) {
    for (const shard of (await repo.list(top)).filter((s) => SHARD.test(s))) {
      const used = await buckets.load(shard);
      for (const name of await repo.list(`${top}/${shard}`)) {
        if (name.length !== 64 + suffix.length || !name.endsWith(suffix)) continue;
        const sha = name.slice(0, 64);
        if (!/^[0-9a-f]{64}$/.test(sha) || sha.slice(0, 2) !== shard || used.has(sha)) continue;
        await remove(repo.path(`${top}/${shard}/${name}`));
        if (top === 'parts') out.parts++;
        else out.objects++;
      }
    }
  }
  return out;
}
